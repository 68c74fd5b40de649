import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { svdNumbers } from '../linalg/float64.js';
import type { ModelStructure } from '../structure/read_model.js';
import { pairSite, type Site } from '../structure/sites.js';
import { replaced } from './site_axes.js';
import type { SiteAction } from './types.js';

/**
 * Singular values of the layer input H = [X, 1] below this fraction of the largest count as zero:
 * the batch activations are float32, so directions below ~1e-6 relative are round-off, and moving
 * along them would change the batch outputs by that much times the step.
 */
export const NULLSPACE_RCOND = 1e-6;

/**
 * The projector P = I − V_r·V_rᵀ onto the null space of H (H·P = 0), from a float64 SVD, with the
 * rank r (singular values above `rcond`·s_max).
 */
export function nullSpaceProjector(h: Tensor2D, rcond = NULLSPACE_RCOND): { projector: Tensor2D; rank: number } {
  const [n, d] = h.shape;
  const v = h.arraySync() as number[][];
  const svd = svdNumbers(v);
  const cutoff = rcond * (svd.s[0] ?? 0);
  const kept = svd.s.map((s, k) => (s > cutoff && s > 0 ? k : -1)).filter(k => k >= 0);
  const p = new Float32Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) {
      let s = i === j ? 1 : 0;
      for (const k of kept) s -= svd.v[i][k] * svd.v[j][k];
      p[i * d + j] = s;
    }
  }
  void n;
  return { projector: tf.tensor2d(p, [d, d]), rank: kept.length };
}

/**
 * Null-space teleports (Wu, Dong, Aloui, Tarokh 2025), whatever the activations: for the second
 * Dense layer of each site (a Dense layer fed by another one through element-wise layers),
 * [W; b] ← [W; b] + P·θ with P the projector onto the null space of the layer's input H = [A, 1] on
 * the teleport batch. Then H·[W'; b'] = H·[W; b]: the layer's pre-activations on the batch, and so
 * every output and the loss on the batch, are kept exactly; gradients in θ are the objective's
 * gradient projected onto that space (Pᵀ = P). Exact on the batch only (like gl-data): off the batch
 * the outputs change.
 *
 * Why the second layer: the gradient of every parameter at or above the moved layer depends on W
 * only through H·W, so it is unchanged; only the layers below see W (through the backward pass
 * δ·Wᵀ). Moving a layer fed by the model's input leaves ‖∇L‖² on the batch exactly as it was.
 * The null space is non-trivial when the batch has fewer rows than the layer has inputs + 1 (or its
 * inputs are correlated). θ = 0 is the identity. Call `dispose()` on each action when done.
 */
export function nullspaceActions(
  structure: ModelStructure,
  sites: readonly Site[],
  params: readonly Tensor[],
  x: Tensor | Tensor[],
  rcond = NULLSPACE_RCOND,
): SiteAction[] {
  const moved = sites.map(s => {
    const site = pairSite(s, 'nullspace');
    const layer = structure.layers[site.outLayer];
    if (layer.kind !== 'dense') throw new Error(`tfjs-teleport: nullspace acts on Dense layers; ${layer.name} is ${layer.className}`);
    return { site, layer, kernel: site.outKernel, bias: layer.bias ?? null, units: layer.units! };
  });
  const inputs = tf.tidy(() => {
    const run = structure.forward(params, x, { collect: true });
    return moved.map(({ site, bias }) => {
      const input = run.inputs![site.outLayer] as Tensor2D;
      return (bias != null ? tf.concat([input, tf.ones([input.shape[0], 1])], 1) : tf.clone(input)) as Tensor2D;
    });
  });
  return moved.map(({ site, layer, kernel, bias, units }, i) => {
    const { projector, rank } = nullSpaceProjector(inputs[i], rcond);
    const [n, d] = inputs[i].shape;
    inputs[i].dispose();
    const inputsDim = bias != null ? d - 1 : d;
    return {
      group: 'nullspace',
      where: `${layer.name} (after ${site.where.split(' → ')[0]}): kernel in the null space of its batch input (${n}×${d}, rank ${rank} at rcond ${rcond.toExponential(0)}: ${d - rank} free directions)`,
      exactness: 'batch' as const,
      touches: [kernel, ...(bias != null ? [bias] : [])],
      // The moved layer's own gradient is invariant; the layer below it sees the move (through δ·Wᵀ).
      measured: [site.inKernel, ...(site.inBias != null ? [site.inBias] : [])],
      init: () => tf.zeros([d, units]),
      act: (p, theta) => {
        const delta = tf.matMul(projector, theta as Tensor2D);
        const changes: Array<[number, Tensor]> = [[kernel, tf.add(p[kernel], tf.slice(delta, [0, 0], [inputsDim, units]))]];
        if (bias != null) changes.push([bias, tf.add(p[bias], tf.reshape(tf.slice(delta, [inputsDim, 0], [1, units]), [units]))]);
        return replaced(p, changes);
      },
      dispose: () => projector.dispose(),
    };
  });
}
