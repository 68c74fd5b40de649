import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { pairSite, type Site } from '../structure/sites.js';
import type { SiteAction, SlotKind } from './types.js';
import { onlyTouched, replaced, scaleInputs, scaleOutputs } from './site_axes.js';

/** θ whose values a solver found on the CPU (the closed form): their factors are computed there too. */
const KNOWN_THETA = new WeakMap<Tensor, Float32Array>();

/**
 * Records that `theta` (a solver's result, not differentiated) holds `values`: the rescale action then
 * computes λ^{±k} = exp(±k·θ) in JavaScript and uploads them, instead of running exponential and
 * reciprocal kernels on every apply, transport and slot move (a handful of small kernels per site
 * and call, which is most of what a cheap teleport costs). A halved θ is a new tensor and goes back to
 * the kernels.
 *
 * ```ts
 * rememberRescaleTheta(theta, Float32Array.from(theta64)); // theta = tf.tensor1d(same values)
 * ```
 */
export function rememberRescaleTheta(theta: Tensor, values: Float32Array): void {
  KNOWN_THETA.set(theta, values);
}

/**
 * λ^k = exp(k·θ) and its reciprocal (k = 1 or 2): one exponential per call (λ² = λ·λ, not a second
 * exponential), so applying, transporting and moving slots cost two or three small kernels each; none
 * for a θ recorded by {@link rememberRescaleTheta}.
 */
function factors(theta: Tensor, k: 1 | 2): [Tensor, Tensor] {
  const known = KNOWN_THETA.get(theta);
  if (known != null) {
    return [tf.tensor1d(Float32Array.from(known, v => Math.exp(k * v))), tf.tensor1d(Float32Array.from(known, v => Math.exp(-k * v)))];
  }
  const lambda = tf.exp(theta);
  const power = k === 2 ? tf.square(lambda) : lambda;
  return [power, tf.reciprocal(power)];
}

/**
 * Positive per-unit rescaling between two layers with positively homogeneous activations in between
 * (linear, relu, leakyRelu; max/avg pooling and flatten commute with it):
 * W₁ ← W₁·diag(λ), b₁ ← b₁∘λ, W₂ ← diag(λ)⁻¹·W₂, with λ = exp(θ) so every θ is a valid element and
 * θ = 0 is the identity. Exact for every input.
 */
export function rescaleAction(anySite: Site): SiteAction {
  const site = pairSite(anySite, 'rescale between two layers');
  if (!site.positivelyHomogeneous) {
    throw new Error(
      `tfjs-teleport: rescale does not apply at ${site.where}: the activations between are not positively homogeneous (use linear, relu or leakyRelu)`,
    );
  }
  const touches = [site.inKernel, ...(site.inBias != null ? [site.inBias] : []), site.outKernel];

  // Applies per-unit factors `inF` to the first layer's outputs and `outF` to the second's inputs.
  const apply = <T extends Tensor | null>(list: readonly T[], inF: Tensor, outF: Tensor): T[] => {
    const changes: Array<[number, T]> = [];
    const k = list[site.inKernel];
    if (k != null) changes.push([site.inKernel, scaleOutputs(k, inF) as T]);
    if (site.inBias != null && list[site.inBias] != null) changes.push([site.inBias, scaleOutputs(list[site.inBias]!, inF) as T]);
    const o = list[site.outKernel];
    if (o != null) changes.push([site.outKernel, scaleInputs(site, o, outF) as T]);
    return replaced(list, changes);
  };

  return {
    group: 'rescale',
    where: site.where,
    exactness: 'everywhere',
    touches,
    diagonal: site,
    init: () => tf.zeros([site.width]),
    act: (params, theta) => {
      const [lambda, inverse] = factors(theta, 1);
      return apply(params, lambda, inverse);
    },
    // Gradients move contragrediently: ∂L/∂(W₁λ) = (∂L/∂W₁)/λ, ∂L/∂(W₂/λ) = λ·∂L/∂W₂.
    transportGradient: (grads, theta) => {
      const [lambda, inverse] = factors(theta, 1);
      return apply(grads, inverse, lambda);
    },
    // d/dt of W₁·diag(e^{tm}), b₁∘e^{tm}, diag(e^{−tm})·W₂ at t = 0.
    algebra: (v, m) => onlyTouched(touches, v, apply(v, m, tf.neg(m))),
    transportSlots: (kind: SlotKind, slots, theta) => {
      // λ^c on the first layer's side, λ^−c on the second's.
      const [up, down] = factors(theta, kind === 'squared' ? 2 : 1);
      return kind === 'update' ? apply(slots, up, down) : apply(slots, down, up);
    },
  };
}
