import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { pairSite, type Site } from '../structure/sites.js';
import type { SiteAction } from './types.js';
import { expmPair } from './linalg.js';
import { onlyTouched, replaced } from './site_axes.js';

/** exp(±θ) = Q·diag(pos or neg)·Qᵀ, Q row-major h×h. */
export interface FactoredElement {
  q: Float32Array;
  pos: Float32Array;
  neg: Float32Array;
}

/** A group element and its inverse as row-major h×h matrices (float32). */
export interface ExplicitElement {
  g: Float32Array;
  gInv: Float32Array;
}

/** A chart at a base element G: the parameter T stands for G·(I + T), with inverse (I − T)·G⁻¹ to first order. */
interface ChartBase {
  g: Tensor2D;
  gInv: Tensor2D;
}

const REMEMBERED = new WeakMap<Tensor, FactoredElement>();
const EXPLICIT = new WeakMap<Tensor, ExplicitElement>();
const CHARTS = new WeakMap<Tensor, ChartBase>();

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
 * Records the element a solver reached for θ as g and g⁻¹ themselves (e.g. a product of exact steps,
 * whose logarithm θ only approximates): {@link glElement} returns exactly these for this θ. As with
 * `rememberGlElement`, only for θ that are not differentiated; θ·c (a halved element) is a new
 * tensor and gets exp(θ·c) by the series, a valid element of its own.
 *
 * ```ts
 * rememberExplicitGlElement(theta, { g, gInv }); // row-major h×h Float32Arrays
 * ```
 */
export function rememberExplicitGlElement(theta: Tensor, element: ExplicitElement): void {
  EXPLICIT.set(theta, element);
}

/**
 * Makes `t` (a zero h×h tensor the caller differentiates) the coordinate of the chart T ↦ G·exp(T) at
 * the base element G: {@link glElement} gives G·(I + T) and (I − T)·G⁻¹, which have G·exp(T)'s and its
 * inverse's value and first derivative at T = 0 (all a gradient at T = 0 needs) without a series. The
 * base tensors stay owned by the caller and must outlive every use of `t`.
 *
 * ```ts
 * const t = tf.zeros([h, h]);
 * useGlChart(t, { g: G, gInv: GInv }); // tf.grads(f)([t]) is the gradient at G in the chart G·exp(T)
 * ```
 */
export function useGlChart(t: Tensor, base: { g: Tensor2D; gInv: Tensor2D }): void {
  CHARTS.set(t, base);
}

/**
 * g = exp(T) and its exact inverse exp(−T): every T gives an invertible element, T = 0 the identity.
 * Both come from one series ({@link expmPair}): the same numbers as two exponentials, half the products.
 * A θ registered by `rememberGlElement` or {@link rememberExplicitGlElement} gives its recorded
 * element (no series); a chart coordinate registered by {@link useGlChart} gives G·(I + T), (I − T)·G⁻¹.
 */
export function glElement(theta: Tensor): { g: Tensor2D; gInv: Tensor2D } {
  const h = theta.shape[0];
  const chart = CHARTS.get(theta);
  if (chart != null) {
    return tf.tidy(() => ({
      g: tf.add(chart.g, tf.matMul(chart.g, theta as Tensor2D)) as Tensor2D,
      gInv: tf.sub(chart.gInv, tf.matMul(theta as Tensor2D, chart.gInv)) as Tensor2D,
    }));
  }
  const explicit = EXPLICIT.get(theta);
  if (explicit != null) return { g: tf.tensor2d(explicit.g, [h, h]), gInv: tf.tensor2d(explicit.gInv, [h, h]) };
  const known = REMEMBERED.get(theta);
  if (known != null) {
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
export function glAction(anySite: Site): SiteAction {
  const site = pairSite(anySite, 'gl');
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
    glChart: true,
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
