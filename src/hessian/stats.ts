/** Statistics of a Hessian spectrum: rank, pseudo-determinant, condition number, AM/GM ratio ω. */
import { symmetricEigenNumbers } from '../linalg/float64.js';
import { badOption } from '../core/errors.js';
import type { FullHessian } from './full.js';

/** Options of {@link stats}. */
export interface StatsOptions {
  /**
   * Eigenvalues with |λ| ≤ tolerance count as zero. Default max|λ| · n · 2⁻²³: the float32 machine
   * epsilon (the Hessian-vector products are float32) times the matrix size times the spectral radius,
   * NumPy's matrix_rank rule with float32's epsilon. Pass 0 for exact (float64) spectra.
   */
  tolerance?: number;
}

/** What {@link stats} returns. */
export interface SpectrumStats {
  /** Number of eigenvalues, and the tolerance used. */
  n: number;
  tolerance: number;
  /** Eigenvalues with |λ| > tolerance. */
  rank: number;
  /** Product of the nonzero eigenvalues (sign included); ±Infinity or 0 when it over/underflows: use logPdet. */
  pdet: number;
  /** Σ log|λ| over the nonzero eigenvalues: log|pdet|, which does not overflow. */
  logPdet: number;
  /** λmax/λmin⁺ over the positive eigenvalues; NaN when there are none. */
  conditionNumber: number;
  /** ω = (Σλ/p)/(Πλ)^{1/p} over the p positive eigenvalues (Sareen et al. eq. 8), ≥ 1; NaN when p = 0. */
  amgm: number;
  /** Number of eigenvalues below −tolerance (a saddle or a maximum direction). */
  negative: number;
  /** The positive eigenvalues, largest first. */
  positive: number[];
}

function isMatrix(x: unknown): x is FullHessian {
  return x != null && typeof x === 'object' && 'matrix' in x && 'n' in x;
}

/**
 * Rank, pseudo-determinant, condition number λmax/λmin⁺ and the AM/GM ratio ω (Sareen et al. eq. 8:
 * the arithmetic over the geometric mean of the positive eigenvalues, 1 when they are all equal) of a
 * spectrum. Give the eigenvalues (e.g. of a diagonal Hessian) or the result of {@link full}, whose
 * eigenvalues are computed in float64. Products are taken as sums of logs, so pdet of a large model
 * does not overflow in `logPdet`. Zero eigenvalues (|λ| ≤ tolerance, see {@link StatsOptions}) are
 * left out of pdet, κ and ω; negative ones are counted in pdet and `negative` but not in κ and ω.
 *
 * ```ts
 * hessian.stats([4, 1, 0, 0]);        // rank 2, pdet 4, conditionNumber 4, amgm 1.25
 * hessian.stats(hessian.full({ model, data }));
 * ```
 */
export function stats(eigenvaluesOrMatrix: readonly number[] | Float64Array | FullHessian, options: StatsOptions = {}): SpectrumStats {
  const what = 'hessian.stats';
  let values: number[];
  if (isMatrix(eigenvaluesOrMatrix)) {
    const { n, matrix } = eigenvaluesOrMatrix;
    if (!Number.isInteger(n) || n < 1 || matrix?.length !== n * n)
      throw badOption(`${what}: a matrix must be { n, matrix } with n·n entries (n = ${n}, got ${matrix?.length})`);
    values = symmetricEigenNumbers(Array.from({ length: n }, (_, i) => Array.from(matrix.subarray(i * n, (i + 1) * n)))).values;
  } else if (Array.isArray(eigenvaluesOrMatrix) || eigenvaluesOrMatrix instanceof Float64Array) {
    values = Array.from(eigenvaluesOrMatrix);
  } else {
    throw badOption(`${what}: give an array of eigenvalues or the { n, matrix } of hessian.full`);
  }
  if (values.length === 0 || !values.every(Number.isFinite)) throw badOption(`${what}: eigenvalues must be a non-empty list of finite numbers`);
  const n = values.length;
  const radius = Math.max(...values.map(Math.abs));
  const tolerance = options.tolerance ?? radius * n * 2 ** -23;
  if (!(tolerance >= 0)) throw badOption(`${what}: tolerance must be ≥ 0, got ${tolerance}`);
  const nonzero = values.filter(v => Math.abs(v) > tolerance);
  const positive = nonzero.filter(v => v > 0).sort((a, b) => b - a);
  const negative = nonzero.length - positive.length;
  const logPdet = nonzero.reduce((s, v) => s + Math.log(Math.abs(v)), 0);
  const pdet = (negative % 2 === 1 ? -1 : 1) * Math.exp(logPdet);
  const p = positive.length;
  const conditionNumber = p === 0 ? Number.NaN : positive[0] / positive[p - 1];
  const logGeo = positive.reduce((s, v) => s + Math.log(v), 0) / p;
  const arith = positive.reduce((s, v) => s + v, 0) / p;
  const amgm = p === 0 ? Number.NaN : Math.exp(Math.log(arith) - logGeo);
  return { n, tolerance, rank: nonzero.length, pdet, logPdet, conditionNumber, amgm, negative, positive };
}
