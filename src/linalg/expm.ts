import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { checkExpmOptions, squarings, type ExpmOptions } from './expm_options.js';

export type { ExpmOptions };

// Tensor-level, not ml-matrix: this exponential must stay a composition of tfjs ops so that the
// group parameters get gradients (to second order) through it. Its float64 twin is expmNumbers in
// float64.ts.

/**
 * Matrix exponential exp(T) by scaling and squaring: with s chosen from the Frobenius norm so that
 * ‖T/2^s‖_F ≤ 0.5, exp(T) = (Σ_{k≤d} (T/2^s)^k / k!)^(2^s), d = 10 by default. The truncation error
 * on the scaled matrix is below 0.5^11/11! ≈ 1e-11 relative, far under float32 round-off.
 *
 * Built only from matMul, div and add, so it is differentiable (to any order) in T; the squaring
 * count s is read from T's value (one small sync) and is a constant for autodiff, which is exact
 * because the result does not depend on s beyond round-off. Every T gives an invertible element,
 * exp(T)⁻¹ = exp(−T), and exp(S) is orthogonal (in SO(n)) for a skew-symmetric S.
 *
 * ```ts
 * const g = expm(tf.tensor2d([[0, -1], [1, 0]])); // rotation by 1 radian
 * ```
 */
export function expm(t: Tensor2D, opts: ExpmOptions = {}): Tensor2D {
  const { degree, maxNorm } = checkExpmOptions(opts);
  if (t.rank !== 2 || t.shape[0] !== t.shape[1]) {
    throw new Error(`tfjs-teleport: expm needs a square matrix, got shape [${t.shape.join(', ')}]`);
  }
  const n = t.shape[0];
  return tf.tidy(() => {
    const norm = tf.norm(t).dataSync()[0];
    const s = squarings(norm, maxNorm);
    const a = s > 0 ? tf.div(t, 2 ** s) : t;
    let term: Tensor2D = tf.eye(n);
    let sum: Tensor2D = term;
    for (let k = 1; k <= degree; k++) {
      term = tf.div(tf.matMul(term, a), k) as Tensor2D;
      sum = tf.add(sum, term) as Tensor2D;
    }
    for (let i = 0; i < s; i++) sum = tf.matMul(sum, sum);
    return sum;
  });
}

/**
 * exp(T) and exp(−T) together, for the price of one series: the powers (T/2^s)^k/k! are formed once
 * and enter exp(−T) with the sign (−1)^k. Negation is exact in floating point, so both results are
 * bit for bit what two calls of {@link expm} give (same degree, same squarings), in about half the
 * matrix products; differentiable in T the same way. A group element and its exact inverse.
 *
 * ```ts
 * const { pos: g, neg: gInv } = expmPair(tf.tensor2d([[0, 1], [0, 0]])); // g·gInv = I
 * ```
 */
export function expmPair(t: Tensor2D, opts: ExpmOptions = {}): { pos: Tensor2D; neg: Tensor2D } {
  const { degree, maxNorm } = checkExpmOptions(opts);
  if (t.rank !== 2 || t.shape[0] !== t.shape[1]) {
    throw new Error(`tfjs-teleport: expmPair needs a square matrix, got shape [${t.shape.join(', ')}]`);
  }
  const n = t.shape[0];
  return tf.tidy(() => {
    const norm = tf.norm(t).dataSync()[0];
    const s = squarings(norm, maxNorm);
    const a = s > 0 ? tf.div(t, 2 ** s) : t;
    let term: Tensor2D = tf.eye(n);
    let pos: Tensor2D = term;
    let neg: Tensor2D = term;
    for (let k = 1; k <= degree; k++) {
      term = tf.div(tf.matMul(term, a), k) as Tensor2D;
      pos = tf.add(pos, term) as Tensor2D;
      neg = (k % 2 === 1 ? tf.sub(neg, term) : tf.add(neg, term)) as Tensor2D;
    }
    for (let i = 0; i < s; i++) {
      pos = tf.matMul(pos, pos);
      neg = tf.matMul(neg, neg);
    }
    return { pos, neg };
  });
}
