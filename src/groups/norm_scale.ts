import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Site } from '../structure/sites.js';
import { onlyTouched, replaced, scaleOutputs } from './site_axes.js';
import type { SiteAction, SlotKind } from './types.js';

/**
 * The scale symmetry of a layer that feeds a normalization layer: W ← W·diag(λ), b ← b∘λ with
 * λ = exp(θ) > 0, per channel before BatchNormalization (θ: [h]) and one scalar before
 * LayerNormalization (θ: [1]). The normalization subtracts a mean that scales with λ and divides by
 * a standard deviation that scales with λ, so its output is unchanged; for BatchNormalization the
 * moving mean (× λ) and moving variance (× λ²) move too, so inference mode keeps its output as well.
 *
 * Exact up to the normalization's ε: the layer computes (z − μ)/√(σ² + ε), which after the move is
 * (z − μ)/√(σ² + ε/λ²). The relative change of a channel's output is |√((σ² + ε)/(σ² + ε/λ²)) − 1|,
 * below ε·|1 − λ⁻²|/(2σ²): negligible for σ² ≫ ε, and what the drift guard measures on a batch.
 *
 * Nothing after the normalization moves, so the gradient of the moved layer scales by 1/λ: this
 * symmetry sets the layer's effective learning rate.
 */
export function normScaleAction(site: Site): SiteAction {
  const norm = site.normalization;
  if (site.kind !== 'norm' || norm == null) throw new Error(`tfjs-teleport: ${site.where} does not feed a normalization layer`);
  const touches = [site.inKernel, ...(site.inBias != null ? [site.inBias] : [])];
  const perChannel = norm.kind === 'batch';

  const apply = <T extends Tensor | null>(list: readonly T[], f: Tensor): T[] => {
    const changes: Array<[number, T]> = [];
    for (const i of touches) if (list[i] != null) changes.push([i, scaleOutputs(list[i]!, f) as T]);
    return replaced(list, changes);
  };
  const power = (theta: Tensor, k: number) => tf.exp(tf.mul(theta, k));

  return {
    group: 'rescale',
    where: site.where,
    exactness: 'everywhere',
    touches,
    // Per channel, the closed-form rescale objective applies (columns of the kernel, no rows).
    ...(perChannel ? { diagonal: site } : {}),
    init: () => tf.zeros([site.width]),
    act: (params, theta) => apply(params, power(theta, 1)),
    // ∂L/∂(Wλ) = (∂L/∂W)/λ.
    transportGradient: (grads, theta) => apply(grads, power(theta, -1)),
    algebra: (v, m) => onlyTouched(touches, v, apply(v, m)),
    transportSlots: (kind: SlotKind, slots, theta) => apply(slots, power(theta, kind === 'squared' ? -2 : kind === 'gradient' ? -1 : 1)),
    // Inference mode computes (z − m)/√(v + ε/λ²) where it computed (z − m)/√(v + ε): the relative
    // change per channel is |√((v + ε)/(v + ε·λ⁻²)) − 1|, known from the moving variance v alone.
    ...(norm.movingVariance != null
      ? {
          inexactness: (theta: Tensor) => {
            const v = norm.movingVariance!.dataSync();
            const t = theta.dataSync();
            const eps = norm.epsilon;
            let worst = 0;
            for (let c = 0; c < v.length; c++) {
              const vc = Math.max(v[c], 0);
              worst = Math.max(worst, Math.abs(Math.sqrt((vc + eps) / (vc + eps * Math.exp(-2 * t[c]))) - 1));
            }
            return worst;
          },
        }
      : {}),
    moveBuffers: theta => {
      if (norm.movingMean == null || norm.movingVariance == null) return;
      tf.tidy(() => {
        norm.movingMean!.assign(tf.mul(norm.movingMean!, power(theta, 1)));
        norm.movingVariance!.assign(tf.mul(norm.movingVariance!, power(theta, 2)));
      });
    },
  };
}
