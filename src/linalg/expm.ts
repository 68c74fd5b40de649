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
  return tf.tidy(() => {
    const { terms, s } = scaledSeries(t, opts, 'expm');
    let sum = terms[0];
    for (let k = 1; k < terms.length; k++) sum = tf.add(sum, terms[k]) as Tensor2D;
    for (let i = 0; i < s; i++) sum = tf.matMul(sum, sum);
    return sum;
  });
}

/**
 * The terms (T/2^s)^k / k!, k = 0…degree, of the scaled Taylor series and the squaring count s, for
 * {@link expm} and {@link expmPair} (one place for the checks, the scaling and the powers). Call
 * inside a tidy.
 */
function scaledSeries(t: Tensor2D, opts: ExpmOptions, what: string): { terms: Tensor2D[]; s: number } {
  const { degree, maxNorm } = checkExpmOptions(opts);
  if (t.rank !== 2 || t.shape[0] !== t.shape[1]) {
    throw new Error(`tfjs-teleport: ${what} needs a square matrix, got shape [${t.shape.join(', ')}]`);
  }
  const s = squarings(tf.norm(t).dataSync()[0], maxNorm);
  const a = s > 0 ? tf.div(t, 2 ** s) : t;
  const terms: Tensor2D[] = [tf.eye(t.shape[0])];
  for (let k = 1; k <= degree; k++) terms.push(tf.div(tf.matMul(terms[k - 1], a), k) as Tensor2D);
  return { terms, s };
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
  return tf.tidy(() => {
    const { terms, s } = scaledSeries(t, opts, 'expmPair');
    let pos = terms[0];
    let neg = terms[0];
    for (let k = 1; k < terms.length; k++) {
      pos = tf.add(pos, terms[k]) as Tensor2D;
      neg = (k % 2 === 1 ? tf.sub(neg, terms[k]) : tf.add(neg, terms[k])) as Tensor2D;
    }
    for (let i = 0; i < s; i++) {
      pos = tf.matMul(pos, pos);
      neg = tf.matMul(neg, neg);
    }
    return { pos, neg };
  });
}
