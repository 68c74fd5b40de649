import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';

/** Options of {@link expm} and {@link expmNumbers}. */
export interface ExpmOptions {
  /** Degree of the Taylor polynomial used on the scaled matrix (an integer ≥ 1; default 10). */
  degree?: number;
  /**
   * The matrix is scaled by 2^−s so that its Frobenius norm is at most this (default 0.5), then the
   * Taylor polynomial is squared s times. Must be in (0, 1].
   */
  maxNorm?: number;
}

const DEFAULT_DEGREE = 10;
const DEFAULT_MAX_NORM = 0.5;

function checkOptions(opts: ExpmOptions): { degree: number; maxNorm: number } {
  const degree = opts.degree ?? DEFAULT_DEGREE;
  const maxNorm = opts.maxNorm ?? DEFAULT_MAX_NORM;
  if (!Number.isInteger(degree) || degree < 1) {
    throw new Error(`tfjs-teleport: expm: degree must be an integer ≥ 1 (got ${degree}); 10 or more keeps the truncation error below float32 round-off`);
  }
  if (!(maxNorm > 0 && maxNorm <= 1)) {
    throw new Error(`tfjs-teleport: expm: maxNorm must be in (0, 1] (got ${maxNorm})`);
  }
  return { degree, maxNorm };
}

/**
 * Number of squarings s so that ‖T‖_F / 2^s ≤ maxNorm. A non-finite norm gives 0 (the result is then
 * non-finite anyway, and the solver's finiteness checks reject it) rather than an endless loop.
 */
function squarings(norm: number, maxNorm: number): number {
  if (!Number.isFinite(norm) || norm <= maxNorm) return 0;
  return Math.max(0, Math.ceil(Math.log2(norm / maxNorm)));
}

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
  const { degree, maxNorm } = checkOptions(opts);
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

function matMulNumbers(a: number[][], b: number[][]): number[][] {
  const n = a.length;
  const m = b[0].length;
  const inner = b.length;
  const out: number[][] = Array.from({ length: n }, () => new Array<number>(m).fill(0));
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < inner; k++) {
      const aik = a[i][k];
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i][j] += aik * b[k][j];
    }
  }
  return out;
}

/**
 * The same scaling-and-squaring exponential as {@link expm}, in float64 on plain arrays: a reference
 * for tests and for constants computed outside tfjs.
 *
 * ```ts
 * const q = expmNumbers([[0, -Math.PI / 2], [Math.PI / 2, 0]]); // ≈ [[0, -1], [1, 0]]
 * ```
 */
export function expmNumbers(t: number[][], opts: ExpmOptions = {}): number[][] {
  const { degree, maxNorm } = checkOptions(opts);
  const n = t.length;
  if (t.some(row => row.length !== n)) throw new Error(`tfjs-teleport: expmNumbers needs a square matrix (got ${n} rows of lengths ${t.map(r => r.length).join(', ')})`);
  let normSq = 0;
  for (const row of t) for (const v of row) normSq += v * v;
  const s = squarings(Math.sqrt(normSq), maxNorm);
  const scale = 2 ** -s;
  const a = t.map(row => row.map(v => v * scale));
  let term: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
  let sum = term.map(row => row.slice());
  for (let k = 1; k <= degree; k++) {
    term = matMulNumbers(term, a).map(row => row.map(v => v / k));
    sum = sum.map((row, i) => row.map((v, j) => v + term[i][j]));
  }
  for (let i = 0; i < s; i++) sum = matMulNumbers(sum, sum);
  return sum;
}
