/**
 * Pure statistics for the `correlation` command: Pearson's r and a seeded percentile bootstrap
 * interval for it. No tensors; plain arrays of numbers.
 */
import { SeededRandom } from '../../src/core/random.js';

/**
 * Pearson's correlation coefficient of paired samples `xs`, `ys`. NaN when fewer than two pairs, when
 * the lengths differ, or when either sample is constant (r is undefined there).
 */
export function pearson(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n !== ys.length || n < 2) return Number.NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += xs[i];
    my += ys[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i] - mx;
    const dy = ys[i] - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return Number.NaN;
  // Clamp rounding just outside [-1, 1].
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** A bootstrap interval for Pearson's r. */
export interface BootstrapInterval {
  /** r of the sample itself. */
  r: number;
  /** Lower and upper percentile bounds (NaN when no resample had a defined r). */
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  /** Resamples drawn, and how many of them had a defined r (a resample with a constant side has none). */
  resamples: number;
  valid: number;
}

/** The q-quantile (0 ≤ q ≤ 1) of an ascending array, linear interpolation between order statistics. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Percentile bootstrap interval for Pearson's r: resample the pairs with replacement `resamples` times
 * (seeded, so the same inputs and seed give the same interval), compute r of each resample, skip the
 * ones where r is undefined, and take the (1 − level)/2 and (1 + level)/2 quantiles.
 */
export function bootstrapPearson(
  xs: readonly number[],
  ys: readonly number[],
  opts: { resamples?: number; level?: number; seed?: number } = {},
): BootstrapInterval {
  const resamples = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  const random = new SeededRandom(opts.seed ?? 0);
  const n = xs.length;
  const r = pearson(xs, ys);
  const rs: number[] = [];
  if (n === ys.length && n >= 2) {
    const bx = new Array<number>(n);
    const by = new Array<number>(n);
    for (let b = 0; b < resamples; b++) {
      for (let i = 0; i < n; i++) {
        const j = random.int(n);
        bx[i] = xs[j];
        by[i] = ys[j];
      }
      const rb = pearson(bx, by);
      if (Number.isFinite(rb)) rs.push(rb);
    }
  }
  rs.sort((a, b) => a - b);
  return { r, lo: quantileSorted(rs, (1 - level) / 2), hi: quantileSorted(rs, (1 + level) / 2), level, resamples, valid: rs.length };
}
