/** The full Hessian of a small model, column by column from Hessian-vector products. */
import { badOption } from '../core/errors.js';
import { type HvpOptions, hvpFlat, resolveHvpOptions } from './hvp.js';
import { type HessianTarget, resolveTarget } from './target.js';

/** Options of {@link full}. */
export interface FullOptions extends HvpOptions {
  /**
   * Refuse targets with more parameters than this. Default 5000: n Hessian-vector products and an n×n
   * float64 matrix (8·n² bytes: 200 MB at 5000).
   */
  maxParams?: number;
}

/** What {@link full} returns. */
export interface FullHessian {
  /** Number of parameters, in parameter order (for a model: `model.trainableWeights`, each row-major). */
  n: number;
  /** Row-major n×n, symmetrized: (H + Hᵀ)/2 of the columns H·e_j. */
  matrix: Float64Array;
}

/**
 * The full Hessian at the current weights: column j is H·e_j (n Hessian-vector products), then the
 * matrix is symmetrized, (H + Hᵀ)/2, which removes the float32 asymmetry of the products. For small
 * targets only: above `maxParams` it throws and says how many parameters there are. Weights unchanged,
 * tensors disposed. Feed it to {@link stats} for the spectrum's rank, pdet, condition number and ω.
 *
 * ```ts
 * const { n, matrix } = hessian.full({ model, data: { x, y } });   // matrix[i * n + j] = ∂²L/∂w_i∂w_j
 * ```
 */
export function full(target: HessianTarget, options: FullOptions = {}): FullHessian {
  const what = 'hessian.full';
  const maxParams = options.maxParams ?? 5000;
  if (!(maxParams >= 1)) throw badOption(`${what}: maxParams must be a positive number, got ${maxParams}`);
  const t = resolveTarget(target, what);
  const n = t.n;
  if (n > maxParams) {
    const mb = Math.ceil((8 * n * n) / 1e6);
    throw badOption(
      `${what}: the target has ${n} parameters, more than maxParams = ${maxParams}; pass { maxParams: ${n} } to compute it anyway ` +
        `(${n} Hessian-vector products and ${mb} MB for the matrix), or use topEigenvalues/trace, which need no matrix`,
    );
  }
  const { method, epsilon } = resolveHvpOptions(options, what);
  const matrix = new Float64Array(n * n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e[j] = 1;
    const col = hvpFlat(t, e, method, epsilon);
    e[j] = 0;
    for (let i = 0; i < n; i++) matrix[i * n + j] = col[i];
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = (matrix[i * n + j] + matrix[j * n + i]) / 2;
      matrix[i * n + j] = s;
      matrix[j * n + i] = s;
    }
  }
  return { n, matrix };
}
