/**
 * The largest eigenvalues of the Hessian by the Lanczos iteration with full reorthogonalization:
 * Hessian-vector products in tfjs (float32), the Krylov basis and the tridiagonal eigenproblem in
 * float64 on the JS side.
 */
import { symmetricEigenNumbers } from '../linalg/float64.js';
import { badOption } from '../core/errors.js';
import { gaussian, SeededRandom } from '../core/random.js';
import { type HvpOptions, hvpFlat, resolveHvpOptions } from './hvp.js';
import { type HessianTarget, resolveTarget } from './target.js';

/** Options of {@link topEigenvalues}. */
export interface TopEigenvaluesOptions extends HvpOptions {
  /**
   * Lanczos steps m (one Hessian-vector product each), k ≤ m ≤ n. Default min(n, max(2k + 10, 20)).
   * With m = n the result is exact up to rounding.
   */
  iterations?: number;
  /** Seed of the Gaussian start vector (SeededRandom). Default 0. */
  seed?: number;
  /** Also return the Ritz vectors. Default false. */
  vectors?: boolean;
}

/** What {@link topEigenvalues} returns. */
export interface TopEigenvaluesResult {
  /** The k largest Ritz values (largest algebraic first). */
  values: number[];
  /**
   * Per value, the Lanczos residual bound ‖H·y − λ·y‖ = β_m·|s_m| of its Ritz vector y (0 when the
   * Krylov space became invariant): a value is accurate to about this much.
   */
  residuals: number[];
  /** With `vectors: true`: the unit Ritz vectors, flat in parameter order (row-major per parameter). */
  vectors?: Float64Array[];
  /** Lanczos steps taken (= Hessian-vector products). */
  iterations: number;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** w ← w − Σ (q·w) q over the basis, twice ("twice is enough", Kahan–Parlett). */
function orthogonalize(w: Float64Array, basis: readonly Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) {
    for (const q of basis) {
      const c = dot(q, w);
      for (let i = 0; i < w.length; i++) w[i] -= c * q[i];
    }
  }
}

/** A unit vector orthogonal to the basis, or null when the basis already spans everything. */
function freshDirection(n: number, basis: readonly Float64Array[], random: () => number): Float64Array | null {
  for (let attempt = 0; attempt < 3; attempt++) {
    const w = Float64Array.from({ length: n }, () => gaussian(random));
    const before = Math.sqrt(dot(w, w));
    orthogonalize(w, basis);
    const norm = Math.sqrt(dot(w, w));
    if (norm > 1e-8 * before) return w.map(x => x / norm);
  }
  return null;
}

/**
 * The k largest (algebraic) eigenvalues of the target's Hessian at the current weights, by m Lanczos
 * steps with full reorthogonalization (each new vector is orthogonalized twice against all earlier
 * ones in float64, so no ghost copies appear), from a seeded Gaussian start vector. When the Krylov
 * space becomes invariant early (β ≤ 1e-10·max|T|; a β at float32 noise level is kept: its normalized
 * vector, orthogonalized twice, is still a valid new direction), it continues from a fresh random
 * direction orthogonal to it. Costs m
 * Hessian-vector products and O(m²n) float64 work; the weights are unchanged and tensors disposed.
 *
 * ```ts
 * const { values, residuals } = hessian.topEigenvalues({ model, data: { x, y } }, 5, { iterations: 40 });
 * ```
 */
export function topEigenvalues(target: HessianTarget, k: number, options: TopEigenvaluesOptions = {}): TopEigenvaluesResult {
  const what = 'hessian.topEigenvalues';
  const t = resolveTarget(target, what);
  const { method, epsilon } = resolveHvpOptions(options, what);
  const n = t.n;
  if (!Number.isInteger(k) || k < 1 || k > n) throw badOption(`${what}: k must be an integer from 1 to the number of parameters (${n}), got ${k}`);
  const m = options.iterations ?? Math.min(n, Math.max(2 * k + 10, 20));
  if (!Number.isInteger(m) || m < k || m > n)
    throw badOption(`${what}: iterations must be an integer from k = ${k} to the number of parameters (${n}), got ${m}`);
  const random = new SeededRandom(options.seed ?? 0).source;

  const basis: Float64Array[] = [freshDirection(n, [], random)!];
  const alpha: number[] = [];
  const beta: number[] = [];
  let last = 0;
  for (let j = 0; j < m; j++) {
    const q = basis[j];
    const w = hvpFlat(t, q, method, epsilon);
    const a = dot(q, w);
    alpha.push(a);
    for (let i = 0; i < n; i++) w[i] -= a * q[i] + (j > 0 ? beta[j - 1] * basis[j - 1][i] : 0);
    orthogonalize(w, basis);
    const b = Math.sqrt(dot(w, w));
    if (j === m - 1) {
      last = b;
      break;
    }
    const scale = Math.max(...alpha.map(Math.abs), ...beta.map(Math.abs), 1e-300);
    if (b > 1e-10 * scale) {
      beta.push(b);
      basis.push(w.map(x => x / b));
    } else {
      // Invariant subspace: its eigenvalues are exact; go on in a fresh direction (T becomes block diagonal).
      const fresh = freshDirection(n, basis, random);
      if (fresh == null) break;
      beta.push(0);
      basis.push(fresh);
    }
  }
  const size = alpha.length;
  const T = Array.from({ length: size }, (_, i) =>
    Array.from({ length: size }, (__, j) => (i === j ? alpha[i] : Math.abs(i - j) === 1 ? beta[Math.min(i, j)] : 0)),
  );
  const eig = symmetricEigenNumbers(T);
  const order = eig.values
    .map((_, i) => i)
    .reverse()
    .slice(0, k);
  const values = order.map(i => eig.values[i]);
  const residuals = order.map(i => Math.abs(last * eig.vectors[size - 1][i]));
  const result: TopEigenvaluesResult = { values, residuals, iterations: size };
  if (options.vectors) {
    result.vectors = order.map(c => {
      const y = new Float64Array(n);
      for (let j = 0; j < size; j++) {
        const s = eig.vectors[j][c];
        const q = basis[j];
        for (let i = 0; i < n; i++) y[i] += s * q[i];
      }
      return y;
    });
  }
  return result;
}
