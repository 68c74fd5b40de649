import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import type { ModelStructure } from '../structure/read_model.js';
import { type PairSite, pairSite, type Site } from '../structure/sites.js';
import { applyActivation, invertActivation } from '../structure/activations.js';
import type { GlDataBatchSpace, SiteAction } from './types.js';
import { glElement, biasTimes } from './gl.js';
import { SketchedLowRank } from './gl_data_sketch.js';
import { pinv, pinvConstant } from './pinv.js';
import { TeleportError } from '../core/errors.js';
import { replaced } from './site_axes.js';
import { warn } from '../core/warn.js';

/** Which data-dependent GL action to build (dissertation eq. 4.13 or its pseudo-inverse variant eq. 4.16). */
export type GlDataVariant = 'gl-data' | 'gl-pinv';

/**
 * The element gl-data moves with: 'dense' (all of GL(h), θ h×h, g = exp(θ)), or a rank r: the
 * subgroup g = I + U·Vᵀ for a fixed orthonormal h×r basis V per site (θ h×r, see `lowRankGlElement`),
 * whose ascent steps cost O(h·r·(n + h)) instead of O(h³). A rank ≥ the layer's width is the dense element.
 */
export type GlDataRank = number | 'dense';

/** The default `glDataRank` (chosen by bench/gldata_event.ts: see docs/pays.md, "gl-data event"). */
export const DEFAULT_GL_DATA_RANK: GlDataRank = 16;

/**
 * Data-dependent GL(h) actions for every dense → dense site with one bijective activation, built from
 * the teleport batch `x` at the current parameters. Row-major, with H = [x, 1] the first layer's input
 * and Z = H·[W₁; b₁] its pre-activation. Both act on the change only, so θ = 0 (g = I) returns the
 * parameters exactly, whatever the batch size:
 * - 'gl-data' (eq. 4.13): [W₁'; b₁'] = [W₁; b₁] + H⁺·(σ⁻¹(σ(Z)·g) − Z), W₂' = g⁻¹·W₂. The new
 *   pre-activation on the batch is σ⁻¹(σ(Z)·g) when H has full row rank (batch ≤ inputs + 1). H⁺ is a
 *   constant, computed once in float64. (The dissertation's H⁺·σ⁻¹(σ(Z)·g) is equally exact on the
 *   batch, but at g = I it gives H⁺H·[W₁; b₁], a projection, whenever the batch is small.)
 * - 'gl-pinv' (eq. 4.16): [W₁'; b₁'] = [W₁; b₁]·g, W₂' = W₂ + σ(Z·g)⁺·(σ(Z) − σ(Z·g))·W₂. Exact on the
 *   batch when σ(Z·g) has full row rank (batch ≤ h).
 * All constants are taken at the starting parameters, so applying every site's action (top site
 * first, as the plan does) keeps each layer's pre-activation on the batch as the construction says.
 * Call `dispose()` on each action when done.
 */
export function glDataActions(
  structure: ModelStructure,
  anySites: readonly Site[],
  params: readonly Tensor[],
  x: Tensor | Tensor[],
  variant: GlDataVariant,
  opts: { rank?: GlDataRank } = {},
): SiteAction[] {
  const rank = opts.rank ?? (variant === 'gl-data' ? DEFAULT_GL_DATA_RANK : 'dense');
  if (rank !== 'dense' && variant !== 'gl-data') throw new Error(`tfjs-teleport: a low-rank element is implemented for gl-data only, not ${variant}`);
  const sites: PairSite[] = anySites.map(s => pairSite(s, variant));
  for (const site of sites) {
    if (site.kind !== 'dense-dense' || site.bijective == null) {
      throw new Error(
        `tfjs-teleport: ${variant} does not apply at ${site.where}: it needs two Dense layers with one bijective activation (linear or leakyRelu) between them. Use 'rescale' there.`,
      );
    }
  }
  const collected = tf.tidy(() => {
    const run = structure.forward(params, x, { collect: true });
    return sites.map(site => {
      const input = run.inputs![site.inLayer] as Tensor2D;
      const z = run.preActivations![site.inLayer] as Tensor2D;
      // Copy, never alias: the first layer's input is the caller's batch, and these constants get disposed.
      const h = site.inBias != null ? tf.concat([input, tf.ones([input.shape[0], 1])], 1) : tf.clone(input);
      // A copy: for a linear activation σ(Z) is Z itself, and Z is disposed below while σ(Z) is kept.
      return { h: h as Tensor2D, z, sigmaZ: tf.clone(applyActivation(site.bijective!, z)) as Tensor2D };
    });
  });
  const built: SiteAction[] = [];
  try {
    sites.forEach((site, i) => built.push(siteAction(site, collected[i], variant, rank)));
  } catch (e) {
    // A failed build leaves nothing behind: the earlier sites' actions and the later sites' constants.
    built.forEach(a => a.dispose?.());
    collected.slice(built.length).forEach(c => tf.dispose([c.h, c.z, c.sigmaZ]));
    throw e;
  }
  return built;
}

/** H⁺ for gl-data, or a TeleportError naming the fix when the batch makes H rank deficient. */
function batchPinv(h: Tensor2D, where: string): Tensor2D {
  try {
    return pinvConstant(h);
  } catch (e) {
    if (!(e instanceof Error) || !/rank deficient/.test(e.message)) throw e;
    const [n, k] = h.shape;
    throw new TeleportError(
      `gl-data at ${where}: on this teleport batch the layer input H = [inputs, 1] (${n}×${k}) is rank deficient at these weights ` +
        `(its ${n <= k ? 'rows' : 'columns'} are linearly dependent), so the data-dependent action has no pseudo-inverse. ` +
        `Give a smaller teleport batch of distinct inputs (fewer rows than H's rank, at most ${k}), or use group 'rescale' (exact for any batch)`,
      'bad-option',
    );
  }
}

/** One site's action from its constants (taken over: the action's dispose frees them). */
function siteAction(site: PairSite, constants: { h: Tensor2D; z: Tensor2D; sigmaZ: Tensor2D }, variant: GlDataVariant, rank: GlDataRank): SiteAction {
  const { h, z, sigmaZ } = constants;
  const n = h.shape[0];
  const lowRank = rank !== 'dense' && rank < site.width;
  const base = lowRank
    ? // θ is h×r and g is built from it directly (no exp of an h×h matrix): the plain θ-ascent, not the chart.
      { group: variant, where: site.where, exactness: 'batch' as const, init: () => tf.zeros([site.width, rank]) }
    : { group: variant, where: site.where, exactness: 'batch' as const, glChart: true, init: () => tf.zeros([site.width, site.width]) };
  const touches = [site.inKernel, ...(site.inBias != null ? [site.inBias] : []), site.outKernel];
  if (variant === 'gl-data') {
    if (n > h.shape[1]) {
      // Least squares instead of an exact solve: the drift guard will judge the result.
      warn(
        `tfjs-teleport: gl-data at ${site.where}: teleport batch of ${n} rows exceeds the layer's ${h.shape[1]} inputs (bias included); the action is exact only for batches up to that size (use smaller teleport batches)`,
      );
    }
    const hPinv = batchPinv(h, site.where);
    // σ⁻¹(σ(Z)) rather than Z: then the correction is exactly zero at g = I (no round-off from σ⁻¹∘σ).
    const zRound = tf.tidy(() => invertActivation(site.bijective!, sigmaZ));
    // H is kept (n×(d+1)) for the batch-space objective; Z is not needed after the pseudo-inverse.
    tf.dispose(z);
    const d = hPinv.shape[0] - (site.inBias != null ? 1 : 0);
    // Kept as (H⁺)ᵀ: the backward product of H⁺·X is then (H⁺)ᵀᵀ·dY = plain, where H⁺ itself would make
    // it a transposed product over the layer's inputs (wasm's slow path: ~9 ms of a ~110 ms evaluation).
    const hPinvT = tf.transpose(hPinv) as Tensor2D;
    hPinv.dispose();
    // The low-rank element's random start basis is derived from the site's place and size (reproducible).
    const low = lowRank ? new SketchedLowRank(site.width, rank, [site.inLayer, site.outLayer]) : null;
    // σ(Z)·g and g⁻¹·W₂: dense products (O(h³) with g), or O(h·r·(n + h)) with a rank-r element.
    const element = (theta: Tensor) => {
      if (low != null) return low.products(theta);
      const { g, gInv } = glElement(theta);
      return { right: (m: Tensor2D) => tf.matMul(m, g), invLeft: (m: Tensor2D) => tf.matMul(gInv, m) };
    };
    const batchSpace: GlDataBatchSpace = {
      inLayer: site.inLayer,
      outLayer: site.outLayer,
      inKernel: site.inKernel,
      inBias: site.inBias,
      outKernel: site.outKernel,
      activation: site.bijective!,
      sigmaZ,
      zRound,
      hPinvT,
      input: h,
      exact: n <= d + (site.inBias != null ? 1 : 0),
      products: theta => element(theta) as ReturnType<GlDataBatchSpace['products']>,
    };
    return {
      ...base,
      batchSpace,
      ...(low != null ? { sketch: { probe: () => low.probe(), choose: (grad: Tensor) => low.choose(grad) } } : {}),
      touches,
      act: (p, theta) => {
        const { right, invLeft } = element(theta);
        const delta = tf.matMul(hPinvT, tf.sub(invertActivation(site.bijective!, right(sigmaZ)), zRound), true, false);
        const changes: Array<[number, Tensor]> = [[site.outKernel, invLeft(p[site.outKernel] as Tensor2D)]];
        if (site.inBias != null) {
          changes.push([site.inKernel, tf.add(p[site.inKernel], tf.slice(delta, [0, 0], [d, -1]))]);
          changes.push([site.inBias, tf.add(p[site.inBias], tf.sum(tf.slice(delta, [d, 0], [1, -1]), 0))]); // a reduction, not a reshape (see biasTimes)
        } else {
          changes.push([site.inKernel, tf.add(p[site.inKernel], delta)]);
        }
        return replaced(p, changes);
      },
      dispose: () => {
        tf.dispose([hPinvT, sigmaZ, zRound, h]);
        low?.dispose();
      },
    };
  }
  tf.dispose(h);
  return {
    ...base,
    touches,
    act: (p, theta) => {
      const { g } = glElement(theta);
      const newSigma = applyActivation(site.bijective!, tf.matMul(z, g)) as Tensor2D;
      const w2 = p[site.outKernel] as Tensor2D;
      const correction = tf.matMul(tf.matMul(pinv(newSigma), tf.sub(sigmaZ, newSigma)), w2);
      const changes: Array<[number, Tensor]> = [
        [site.inKernel, tf.matMul(p[site.inKernel] as Tensor2D, g)],
        [site.outKernel, tf.add(w2, correction)],
      ];
      if (site.inBias != null) changes.push([site.inBias, biasTimes(p[site.inBias], g)]);
      return replaced(p, changes);
    },
    dispose: () => tf.dispose([z, sigmaZ]),
  };
}
