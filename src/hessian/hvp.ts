/**
 * Hessian-vector products H·v of a {@link HessianTarget}: by nested autodiff (the gradient of ∇L·v)
 * or by a central difference of two gradients. Both leave the weights exactly as they were.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import { badOption } from '../core/errors.js';
import { checkFinite } from '../core/finite.js';
import { withSecondOrderGradients } from '../structure/second_order_scope.js';
import { type HessianTarget, type ResolvedTarget, resolveTarget, toFlat, toTensors } from './target.js';

/** How H·v is computed. */
export type HvpMethod = 'autodiff' | 'finite-difference';

/** Options of {@link hvp}. */
export interface HvpOptions {
  /**
   * 'autodiff' (default): ∇_w (∇L(w)·v) by nested `tf.variableGrads`, exact up to float32 rounding;
   * 'finite-difference': (∇L(w + h·v) − ∇L(w − h·v)) / 2h, for losses whose ops have no second derivative.
   */
  method?: HvpMethod;
  /**
   * Finite differences only: the length of the step, ‖h·v‖ = epsilon, so h = epsilon/‖v‖. Default 1e-3
   * (float32 gradients: a smaller step loses digits to rounding, a larger one to the third derivative).
   */
  epsilon?: number;
}

const METHODS: readonly HvpMethod[] = ['autodiff', 'finite-difference'];

/** Checks the method and epsilon options; returns them with defaults. */
export function resolveHvpOptions(opts: HvpOptions, what: string): { method: HvpMethod; epsilon: number } {
  const method = opts.method ?? 'autodiff';
  if (!METHODS.includes(method)) throw badOption(`${what}: method must be 'autodiff' or 'finite-difference', got ${JSON.stringify(method)}`);
  const epsilon = opts.epsilon ?? 1e-3;
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw badOption(`${what}: epsilon must be a positive finite number, got ${epsilon}`);
  return { method, epsilon };
}

/** The gradient Σ weight·∇loss over the target's terms, one tensor per parameter (zeros where unconnected). */
function gradient(t: ResolvedTarget): Tensor[] {
  return tf.tidy(() => {
    let sum: Tensor[] | null = null;
    for (const term of t.terms) {
      const { grads } = tf.variableGrads(() => connected(t.params, term.loss()), t.params);
      const g = t.params.map(p => tf.mul(term.weight, grads[p.name]));
      sum = sum == null ? g : sum.map((s, i) => tf.add(s, g[i]));
    }
    return sum!;
  });
}

/** y + 0·Σ p: the same value, with every parameter on the tape (so no gradient is missing). */
function connected(params: readonly Variable[], y: Scalar): Scalar {
  return tf.addN([y, ...params.map(p => tf.mul(0, tf.sum(p)))]) as Scalar;
}

function autodiff(t: ResolvedTarget, v: readonly Tensor[]): Tensor[] {
  return tf.tidy(() => {
    let sum: Tensor[] | null = null;
    for (const term of t.terms) {
      const { grads } = tf.variableGrads(() => {
        const inner = tf.variableGrads(() => connected(t.params, term.loss()), t.params).grads;
        const dot = tf.addN(t.params.map((p, i) => tf.sum(tf.mul(inner[p.name], v[i]))));
        return connected(t.params, dot as Scalar);
      }, t.params);
      const hv = t.params.map(p => tf.mul(term.weight, grads[p.name]));
      sum = sum == null ? hv : sum.map((s, i) => tf.add(s, hv[i]));
    }
    return sum!;
  });
}

function finiteDifference(t: ResolvedTarget, v: readonly Tensor[], epsilon: number): Tensor[] {
  const norm = Math.sqrt(v.reduce((s, x) => s + tf.tidy(() => tf.sum(tf.square(x)).dataSync()[0]), 0));
  if (norm === 0) return t.params.map(p => tf.zerosLike(p));
  const h = epsilon / norm;
  const saved = t.params.map(p => tf.clone(p));
  const at = (sign: number): Tensor[] => {
    t.params.forEach((p, i) => {
      const moved = tf.tidy(() => tf.add(saved[i], tf.mul(sign * h, v[i])));
      p.assign(moved); // assign shares moved's data and keeps it alive: moved itself can go
      moved.dispose();
    });
    return gradient(t);
  };
  let plus: Tensor[] = [];
  let minus: Tensor[] = [];
  try {
    plus = at(1);
    minus = at(-1);
  } finally {
    t.params.forEach((p, i) => p.assign(saved[i]));
    saved.forEach(s => s.dispose());
  }
  const out = tf.tidy(() => plus.map((g, i) => tf.div(tf.sub(g, minus[i]), 2 * h)));
  tf.dispose([...plus, ...minus]);
  return out;
}

/** Checks that v matches the parameters in number and shapes. */
export function checkVectors(t: ResolvedTarget, v: readonly Tensor[], what: string): void {
  if (!Array.isArray(v) || v.length !== t.params.length)
    throw badOption(
      `${what}: v must be an array of ${t.params.length} tensors, one per parameter (shapes ${JSON.stringify(t.shapes)}), got ${Array.isArray(v) ? v.length : typeof v}`,
    );
  v.forEach((x, i) => {
    if (x == null || !Array.isArray(x.shape) || x.shape.length !== t.shapes[i].length || x.shape.some((d: number, j: number) => d !== t.shapes[i][j]))
      throw badOption(
        `${what}: v[${i}] has shape ${JSON.stringify(x?.shape)} but parameter ${i} (${t.params[i].name}) has shape ${JSON.stringify(t.shapes[i])}`,
      );
  });
  checkFinite(
    what,
    v.map((x, i) => [`v[${i}]`, x] as const),
    'give a finite direction',
  );
}

/** H·v on a resolved target, tensors in and out (caller disposes the result). */
export function hvpResolved(t: ResolvedTarget, v: readonly Tensor[], method: HvpMethod, epsilon: number): Tensor[] {
  // The user's loss may use tf.leakyRelu, tf.maximum, …: their second derivatives need the comparisons' zero gradients.
  return withSecondOrderGradients(() => (method === 'autodiff' ? autodiff(t, v) : finiteDifference(t, v, epsilon)));
}

/** H·v on a resolved target for a flat float64 vector, returned flat in float64 (the HVP itself is float32). */
export function hvpFlat(t: ResolvedTarget, v: Float64Array, method: HvpMethod, epsilon: number): Float64Array {
  const parts = toTensors(t, v);
  try {
    const hv = hvpResolved(t, parts, method, epsilon);
    try {
      return toFlat(t, hv);
    } finally {
      tf.dispose(hv);
    }
  } finally {
    tf.dispose(parts);
  }
}

/**
 * The Hessian-vector product H·v of the target's loss at the current weights, one tensor per
 * parameter (the caller disposes them). `v` has one tensor per parameter, shaped like it (for a model:
 * like `model.trainableWeights`). The weights are unchanged afterwards (finite differences move them
 * and put back the very same values) and every intermediate tensor is disposed.
 *
 * ```ts
 * const v = model.trainableWeights.map(w => tf.randomNormal(w.shape));
 * const hv = hessian.hvp({ model, data: { x, y } }, v);                       // nested autodiff
 * const fd = hessian.hvp({ model, data: { x, y } }, v, { method: 'finite-difference' });
 * ```
 */
export function hvp(target: HessianTarget, v: Tensor[], options: HvpOptions = {}): Tensor[] {
  const what = 'hessian.hvp';
  const t = resolveTarget(target, what);
  checkVectors(t, v, what);
  const { method, epsilon } = resolveHvpOptions(options, what);
  return hvpResolved(t, v, method, epsilon);
}
