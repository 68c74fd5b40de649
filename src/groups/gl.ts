import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import type { Site } from '../structure/read_model.js';
import type { SiteAction } from './types.js';
import { expmPair } from './linalg.js';
import { onlyTouched, replaced } from './site_axes.js';

/** exp(±θ) = Q·diag(pos or neg)·Qᵀ, Q row-major h×h. */
export interface FactoredElement {
  q: Float32Array;
  pos: Float32Array;
  neg: Float32Array;
}

const REMEMBERED = new WeakMap<Tensor, FactoredElement>();

/**
 * Records exp(±θ) for one symmetric θ = Q·diag(μ)·Qᵀ in factored form (from an eigendecomposition
 * elsewhere, e.g. the Gram solver's): {@link glElement} then forms Q·diag(e^{±μ})·Qᵀ with two products
 * instead of running the series. Only for θ that are not differentiated (a solver's result): the
 * element is then a constant in θ.
 *
 * ```ts
 * rememberGlElement(theta, { q, pos: eMu, neg: eMinusMu }); // q row-major h×h
 * ```
 */
export function rememberGlElement(theta: Tensor, element: FactoredElement): void {
  REMEMBERED.set(theta, element);
}

/**
 * g = exp(T) and its exact inverse exp(−T): every T gives an invertible element, T = 0 the identity.
 * Both come from one series ({@link expmPair}): the same numbers as two exponentials, half the products.
 */
export function glElement(theta: Tensor): { g: Tensor2D; gInv: Tensor2D } {
  const known = REMEMBERED.get(theta);
  if (known != null) {
    const h = theta.shape[0];
    return tf.tidy(() => {
      const q = tf.tensor2d(known.q, [h, h]);
      const side = (d: Float32Array) => tf.matMul(tf.mul(q, tf.tensor1d(d)), q, false, true) as Tensor2D;
      return { g: side(known.pos), gInv: side(known.neg) };
    });
  }
  const { pos, neg } = expmPair(theta as Tensor2D);
  return { g: pos, gInv: neg };
}

/**
 * Multiplies a [h] bias by g on the right, as a [1, h] row. The result is made by a reduction, not a
 * reshape: on wasm a reshaped tensor keeps its data's old rank, which fused bias kernels reject.
 */
export function biasTimes(b: Tensor, g: Tensor2D): Tensor {
  return tf.sum(tf.matMul(tf.reshape(b, [1, -1]), g), 0);
}

/**
 * GL(h) between two Dense layers with nothing nonlinear between them:
 * W₁ ← W₁·g, b₁ ← b₁·g, W₂ ← g⁻¹·W₂ with g = exp(T). Exact for every input (up to float32
 * round-off in exp(T)·exp(−T)). Gradients move as ∂L/∂W₁ ← ∂L/∂W₁·g⁻ᵀ, ∂L/∂W₂ ← gᵀ·∂L/∂W₂.
 */
export function glAction(site: Site): SiteAction {
  if (site.kind !== 'dense-dense' || !site.linear) {
    throw new Error(
      `tfjs-teleport: gl does not apply at ${site.where}: GL(h) is exact only between Dense layers with a linear activation between them. ` +
        "Use 'rescale' (relu, leakyRelu, conv layers) or 'gl-data' (bijective activations such as leakyRelu, exact on the teleport batch).",
    );
  }
  const touches = [site.inKernel, ...(site.inBias != null ? [site.inBias] : []), site.outKernel];
  const onIn = (t: Tensor, m: Tensor2D, transposeM: boolean) => tf.matMul(t as Tensor2D, m, false, transposeM);
  const onOut = (t: Tensor, m: Tensor2D, transposeM: boolean) => tf.matMul(m, t as Tensor2D, transposeM, false);
  const biasOn = (b: Tensor, m: Tensor2D, transposeM: boolean) => biasTimes(b, transposeM ? (tf.transpose(m) as Tensor2D) : m);

  // Generic: first layer's side times `a` (optionally transposed), second layer's side by `b` on the left.
  const apply = <T extends Tensor | null>(list: readonly T[], a: Tensor2D, aT: boolean, b: Tensor2D, bT: boolean): T[] => {
    const changes: Array<[number, T]> = [];
    if (list[site.inKernel] != null) changes.push([site.inKernel, onIn(list[site.inKernel]!, a, aT) as T]);
    if (site.inBias != null && list[site.inBias] != null) changes.push([site.inBias, biasOn(list[site.inBias]!, a, aT) as T]);
    if (list[site.outKernel] != null) changes.push([site.outKernel, onOut(list[site.outKernel]!, b, bT) as T]);
    return replaced(list, changes);
  };

  return {
    group: 'gl',
    where: site.where,
    exactness: 'everywhere',
    touches,
    linearPair: site,
    init: () => tf.zeros([site.width, site.width]),
    act: (params, theta) => {
      const { g, gInv } = glElement(theta);
      return apply(params, g, false, gInv, false);
    },
    // d/dt of W₁·e^{tM}, b₁·e^{tM}, e^{−tM}·W₂ at t = 0.
    algebra: (v, m) => onlyTouched(touches, v, apply(v, m as Tensor2D, false, tf.neg(m) as Tensor2D, false)),
    transportGradient: (grads, theta) => {
      const { g, gInv } = glElement(theta);
      return apply(grads, gInv, true, g, true);
    },
    transportSlots: (kind, slots, theta) => {
      const { g, gInv } = glElement(theta);
      if (kind === 'gradient') return apply(slots, gInv, true, g, true);
      if (kind === 'update') return apply(slots, g, false, gInv, false);
      return undefined; // squared moments are not carried exactly by a non-diagonal g
    },
  };
}
