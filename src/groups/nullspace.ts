import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';
import { NoOrbitError } from '../core/errors.js';
import { warn } from '../core/warn.js';
import { symEig64 } from '../linalg/dense64.js';
import { svdNumbers } from '../linalg/float64.js';
import type { ModelStructure } from '../structure/read_model.js';
import { pairSite, type Site } from '../structure/sites.js';
import { convPatches } from './conv_patches.js';
import { replaced } from './site_axes.js';
import type { SiteAction } from './types.js';

/**
 * Singular values of the layer input H = [X, 1] below this fraction of the largest count as zero:
 * the batch activations are float32, so directions below ~1e-6 relative are round-off, and moving
 * along them would change the batch outputs by that much times the step.
 */
export const NULLSPACE_RCOND = 1e-6;

/** Right singular vectors of H (as columns of a row-major [d, d] array) and the singular values, largest first. */
function rightSingular(h: Tensor2D): { v: (i: number, k: number) => number; s: number[] } {
  const [n, d] = h.shape;
  if (n <= d) {
    const svd = svdNumbers(h.arraySync() as number[][]);
    return { v: (i, k) => svd.v[i][k], s: svd.s };
  }
  // Tall H (conv patches: many positions): the eigenvectors of HᵀH in float64. Its eigenvalues are
  // s², so rcond 1e-6 on s is 1e-12 on them, well above float64 round-off (products of float32
  // numbers are exact in float64).
  const a = h.dataSync();
  const gram = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    const row = r * d;
    for (let i = 0; i < d; i++) {
      const x = a[row + i];
      if (x === 0) continue;
      for (let j = i; j < d; j++) gram[i * d + j] += x * a[row + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) gram[i * d + j] = gram[j * d + i];
  const { values, q } = symEig64(gram, d);
  const order = Array.from(values.keys()).sort((i, j) => values[j] - values[i]);
  return { v: (i, k) => q[i * d + order[k]], s: order.map(k => Math.sqrt(Math.max(0, values[k]))) };
}

/**
 * The projector P = I − V_r·V_rᵀ onto the null space of H (H·P = 0), from a float64 SVD (or the
 * eigenvectors of HᵀH when H is tall), with the rank r (singular values above `rcond`·s_max).
 */
export function nullSpaceProjector(h: Tensor2D, rcond = NULLSPACE_RCOND): { projector: Tensor2D; rank: number } {
  const d = h.shape[1];
  const { v, s } = rightSingular(h);
  const cutoff = rcond * (s[0] ?? 0);
  const kept = s.map((x, k) => (x > cutoff && x > 0 ? k : -1)).filter(k => k >= 0);
  const p = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let acc = i === j ? 1 : 0;
      for (const k of kept) acc -= v(i, k) * v(j, k);
      p[i * d + j] = acc;
    }
  }
  return { projector: tf.tensor2d(p, [d, d]), rank: kept.length };
}

/** A moved layer: its kernel (flattened to [d, units] for the move) and what it reads on the batch. */
interface Moved {
  site: ReturnType<typeof pairSite>;
  name: string;
  conv: boolean;
  kernel: number;
  kernelShape: number[];
  bias: number | null;
  units: number;
}

/** H = [X, 1] for a Dense layer, the im2col patches [P, 1] for a Conv2D layer (one row per position and example). */
function batchInput(m: Moved, structure: ModelStructure, input: Tensor): Tensor2D {
  const layer = structure.layers[m.site.outLayer];
  const rows = m.conv
    ? convPatches(input as Tensor4D, {
        kernelSize: [m.kernelShape[0], m.kernelShape[1]],
        strides: layer.strides!,
        padding: layer.padding!,
        dilation: layer.dilation!,
      })
    : (input as Tensor2D);
  return (m.bias != null ? tf.concat([rows, tf.ones([rows.shape[0], 1])], 1) : tf.clone(rows)) as Tensor2D;
}

/** Why a layer's null space is empty on the batch, and what would give it one. */
function emptyWhy(conv: boolean, rows: number, cols: number, examples: number): string {
  if (!conv) return `the batch has ${rows} rows against ${cols} inputs + bias; use a teleport batch of fewer than ${cols} rows`;
  const positions = rows / Math.max(1, examples);
  const fix =
    positions >= cols
      ? `even one example gives ${positions} positions: only a later layer with fewer positions (or a larger kernel × input channels) has one`
      : `use a teleport batch of fewer than ${Math.ceil(cols / positions)} examples`;
  return `the batch gives ${rows} patch rows (${examples} examples × ${positions} positions) against ${cols} kernel entries + bias; ${fix}`;
}

/**
 * Null-space teleports (Wu, Dong, Aloui, Tarokh 2025), whatever the activations: for the second
 * layer of each site (a Dense or Conv2D layer fed by another one through element-wise layers),
 * [W; b] ← [W; b] + P·θ with P the projector onto the null space of the layer's input H on the
 * teleport batch: H = [A, 1] for Dense, the im2col patches [P, 1] for Conv2D (one row per spatial
 * position of every example, kh·kw·cin + 1 columns). Then H·[W'; b'] = H·[W; b]: the layer's
 * pre-activations on the batch, and so every output and the loss on the batch, are kept exactly;
 * gradients in θ are the objective's gradient projected onto that space (Pᵀ = P). Exact on the
 * batch only (like gl-data): off the batch the outputs change.
 *
 * Why the second layer: the gradient of every parameter at or above the moved layer depends on W
 * only through H·W, so it is unchanged; only the layers below see W (through the backward pass
 * δ·Wᵀ). Moving a layer fed by the model's input leaves ‖∇L‖² on the batch exactly as it was.
 *
 * The null space is non-trivial when H has fewer independent rows than columns: for Dense, a batch
 * of fewer rows than inputs + 1; for Conv2D, fewer positions × examples than kh·kw·cin + 1, which
 * in practice means a late layer with a small spatial size and a small batch. Sites whose null space
 * is empty are left out; when every one is, a {@link NoOrbitError} says why and what to change.
 * θ = 0 is the identity. Call `dispose()` on each action when done.
 */
export function nullspaceActions(
  structure: ModelStructure,
  sites: readonly Site[],
  params: readonly Tensor[],
  x: Tensor | Tensor[],
  rcond = NULLSPACE_RCOND,
): SiteAction[] {
  const moved: Moved[] = sites.map(s => {
    const site = pairSite(s, 'nullspace');
    const layer = structure.layers[site.outLayer];
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d')
      throw new Error(`tfjs-teleport: nullspace acts on Dense and Conv2D layers; ${layer.name} is ${layer.className}`);
    const kernelShape = params[site.outKernel].shape;
    return { site, name: layer.name, conv: layer.kind === 'conv2d', kernel: site.outKernel, kernelShape, bias: layer.bias ?? null, units: layer.units! };
  });
  const examples = (Array.isArray(x) ? x[0] : x).shape[0];
  const inputs = tf.tidy(() => {
    const run = structure.forward(params, x, { collect: true });
    return moved.map(m => batchInput(m, structure, run.inputs![m.site.outLayer]));
  });
  const actions: SiteAction[] = [];
  const empty: string[] = [];
  moved.forEach((m, i) => {
    const { projector, rank } = nullSpaceProjector(inputs[i], rcond);
    const [n, d] = inputs[i].shape;
    inputs[i].dispose();
    const free = d - rank;
    const what = m.conv ? 'im2col patches' : 'input';
    const where = `${m.name} (after ${m.site.where.split(' → ')[0]}): kernel in the null space of its batch ${what} (${n}×${d}, rank ${rank} at rcond ${rcond.toExponential(0)}: ${free} free directions)`;
    if (free === 0) {
      projector.dispose();
      empty.push(`${where}: empty, ${emptyWhy(m.conv, n, d, examples)}`);
      return;
    }
    const { kernel, bias, units, kernelShape } = m;
    const inputsDim = bias != null ? d - 1 : d;
    actions.push({
      group: 'nullspace',
      where,
      exactness: 'batch' as const,
      touches: [kernel, ...(bias != null ? [bias] : [])],
      // The moved layer's own gradient is invariant; the layer below it sees the move (through δ·Wᵀ).
      measured: [m.site.inKernel, ...(m.site.inBias != null ? [m.site.inBias] : [])],
      init: () => tf.zeros([d, units]),
      act: (p, theta) => {
        const delta = tf.matMul(projector, theta as Tensor2D);
        const dk = tf.reshape(tf.slice(delta, [0, 0], [inputsDim, units]), kernelShape);
        const changes: Array<[number, Tensor]> = [[kernel, tf.add(p[kernel], dk)]];
        if (bias != null) changes.push([bias, tf.add(p[bias], tf.reshape(tf.slice(delta, [inputsDim, 0], [1, units]), [units]))]);
        return replaced(p, changes);
      },
      dispose: () => projector.dispose(),
    });
  });
  if (actions.length === 0) {
    throw new NoOrbitError(`group 'nullspace' has no free direction on this teleport batch: ${empty.join('; ')}`);
  }
  for (const e of empty) warn(`tfjs-teleport: nullspace leaves out ${e}`);
  return actions;
}
