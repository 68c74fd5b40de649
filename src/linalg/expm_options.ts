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

/** Checks and fills in {@link ExpmOptions}, shared by the tensor and the float64 exponentials. */
export function checkExpmOptions(opts: ExpmOptions): { degree: number; maxNorm: number } {
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
export function squarings(norm: number, maxNorm: number): number {
  if (!Number.isFinite(norm) || norm <= maxNorm) return 0;
  return Math.max(0, Math.ceil(Math.log2(norm / maxNorm)));
}

/**
 * The smallest Taylor degree d whose truncation error bound ‖T‖^(d+1)/(d+1)! (relative, for ‖T‖ ≤ 1)
 * is at most `tolerance`, capped at the default degree: a small step's exp(T), exp(−T) needs fewer
 * products (‖T‖ = 0.1 → 6 instead of 10). Also bounds ‖exp(T)·exp(−T) − I‖, the inverse relation.
 *
 * ```ts
 * taylorDegreeFor(0.1); // 6
 * ```
 */
export function taylorDegreeFor(normBound: number, tolerance = 1e-10): number {
  if (!(normBound >= 0 && normBound <= 1)) return DEFAULT_DEGREE;
  let term = normBound;
  for (let d = 1; d < DEFAULT_DEGREE; d++) {
    term *= normBound / (d + 1); // ‖T‖^(d+1)/(d+1)!
    if (term <= tolerance) return d;
  }
  return DEFAULT_DEGREE;
}
