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
 * on the scaled matrix is below 0.5^11/11! ≈ 1e-11 relative, far under float32 round-off. The
 * polynomial is summed as its even and odd parts in A² (see {@link expmPair}): ⌈d/2⌉ + 1 products
 * instead of d.
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
    const { even, odd, s } = scaledSeries(t, opts, 'expm');
    let sum = tf.add(even, odd) as Tensor2D;
    for (let i = 0; i < s; i++) sum = tf.matMul(sum, sum);
    return sum;
  });
}

/**
 * The scaled Taylor polynomial split by parity, E = Σ_{k even} A^k/k! and O = Σ_{k odd} A^k/k! with
 * A = T/2^s (k ≤ degree), and the squaring count s, for {@link expm} and {@link expmPair} (one place
 * for the checks, the scaling and the powers). Both parts are polynomials in A² (O = A·Σ A^{2j}/(2j+1)!),
 * so the powers needed are A², A⁴, … only: about half the products of term-by-term summation. Since
 * A ↦ −A leaves A² and E unchanged and negates O exactly, exp(−T) = E − O bit for bit. Call inside a tidy.
 */
function scaledSeries(t: Tensor2D, opts: ExpmOptions, what: string): { even: Tensor2D; odd: Tensor2D; s: number } {
  const { degree, maxNorm } = checkExpmOptions(opts);
  if (t.rank !== 2 || t.shape[0] !== t.shape[1]) {
    throw new Error(`tfjs-teleport: ${what} needs a square matrix, got shape [${t.shape.join(', ')}]`);
  }
  const s = squarings(tf.norm(t).dataSync()[0], maxNorm);
  const a = s > 0 ? (tf.div(t, 2 ** s) as Tensor2D) : t;
  const eye = tf.eye(t.shape[0]) as Tensor2D;
  // powers[j] = A^{2j}, j = 0 … ⌊degree/2⌋: one product each.
  const powers: Tensor2D[] = [eye];
  const a2 = tf.matMul(a, a) as Tensor2D;
  for (let j = 1; 2 * j <= degree; j++) powers.push(j === 1 ? a2 : (tf.matMul(powers[j - 1], a2) as Tensor2D));
  let even: Tensor2D = eye;
  let oddInner: Tensor2D = eye; // Σ_j A^{2j}/(2j+1)!, then O = A·(that)
  let factorial = 1; // k!
  for (let k = 1; k <= degree; k++) {
    factorial *= k;
    const j = Math.floor(k / 2);
    if (k % 2 === 0) even = tf.add(even, tf.div(powers[j], factorial)) as Tensor2D;
    else if (k > 1) oddInner = tf.add(oddInner, tf.div(powers[j], factorial)) as Tensor2D;
  }
  return { even, odd: tf.matMul(a, oddInner) as Tensor2D, s };
}

/**
 * exp(T) and exp(−T) together, for the price of one series: the even part E and the odd part O of the
 * scaled polynomial give exp(T) = (E + O)^(2^s) and exp(−T) = (E − O)^(2^s). Negation is exact in
 * floating point, so both results are bit for bit what two calls of {@link expm} give (same degree,
 * same squarings); differentiable in T the same way. A group element and its exact inverse.
 *
 * ```ts
 * const { pos: g, neg: gInv } = expmPair(tf.tensor2d([[0, 1], [0, 0]])); // g·gInv = I
 * ```
 */
export function expmPair(t: Tensor2D, opts: ExpmOptions = {}): { pos: Tensor2D; neg: Tensor2D } {
  return tf.tidy(() => {
    const { even, odd, s } = scaledSeries(t, opts, 'expmPair');
    let pos = tf.add(even, odd) as Tensor2D;
    let neg = tf.sub(even, odd) as Tensor2D;
    for (let i = 0; i < s; i++) {
      pos = tf.matMul(pos, pos);
      neg = tf.matMul(neg, neg);
    }
    return { pos, neg };
  });
}
