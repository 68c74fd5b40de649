/** Hutchinson's estimate of the Hessian trace with Rademacher probes. */
import { badOption } from '../core/errors.js';
import { SeededRandom } from '../core/random.js';
import { type HvpOptions, hvpFlat, resolveHvpOptions } from './hvp.js';
import { type HessianTarget, resolveTarget } from './target.js';

/** Options of {@link trace}. */
export interface TraceOptions extends HvpOptions {
  /** Number of probes z (one Hessian-vector product each), at least 2. Default 100. */
  samples?: number;
  /** Seed of the probes (SeededRandom). Default 0. */
  seed?: number;
}

/** What {@link trace} returns. */
export interface TraceResult {
  /** The mean of zᵀHz over the probes: an unbiased estimate of tr(H). */
  estimate: number;
  /** The standard error of that mean: the sample standard deviation of zᵀHz over √samples. */
  standardError: number;
  samples: number;
}

/**
 * tr(H) by Hutchinson's estimator: the mean of zᵀHz over probes z with independent entries ±1
 * (Rademacher, E[zzᵀ] = I, so E[zᵀHz] = tr H; its variance 2Σ_{i≠j}H_ij² is the smallest among
 * probes with that property), with the standard error of the mean. The probes come from
 * SeededRandom(seed). Costs `samples` Hessian-vector products; weights unchanged, tensors disposed.
 *
 * ```ts
 * const { estimate, standardError } = hessian.trace({ model, data: { x, y } }, { samples: 200, seed: 1 });
 * ```
 */
export function trace(target: HessianTarget, options: TraceOptions = {}): TraceResult {
  const what = 'hessian.trace';
  const t = resolveTarget(target, what);
  const { method, epsilon } = resolveHvpOptions(options, what);
  const samples = options.samples ?? 100;
  if (!Number.isInteger(samples) || samples < 2) throw badOption(`${what}: samples must be an integer ≥ 2 (for a standard error), got ${samples}`);
  const random = new SeededRandom(options.seed ?? 0);
  const values: number[] = [];
  for (let s = 0; s < samples; s++) {
    const z = Float64Array.from({ length: t.n }, () => (random.next() < 0.5 ? -1 : 1));
    const hz = hvpFlat(t, z, method, epsilon);
    let q = 0;
    for (let i = 0; i < t.n; i++) q += z[i] * hz[i];
    values.push(q);
  }
  const estimate = values.reduce((a, b) => a + b, 0) / samples;
  const variance = values.reduce((a, b) => a + (b - estimate) ** 2, 0) / (samples - 1);
  return { estimate, standardError: Math.sqrt(variance / samples), samples };
}
