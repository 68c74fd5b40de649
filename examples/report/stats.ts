/**
 * Small statistics helpers shared by the chart and summary modules:
 * mean / standard deviation, linear interpolation onto a grid, the
 * "time to reach a loss target" measurement and seed-aggregated curves.
 */
import type { CurvePoint, RunRecord } from './types.js';

export type XKey = 'epoch' | 'seconds' | 'step';
export type YKey = 'trainLoss' | 'valLoss' | 'gradNormSq' | 'valAccuracy';
export type Variant = RunRecord['variant'];

/** Display order of the variants. */
export const VARIANTS: readonly Variant[] = ['baseline', 'teleport', 'reset'];

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/**
 * Sample standard deviation (n − 1 in the denominator); 0 for a single value,
 * NaN for an empty list.
 */
export function std(xs: readonly number[]): number {
  const n = xs.length;
  if (n === 0) return NaN;
  if (n === 1) return 0;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) * (x - m);
  return Math.sqrt(s / (n - 1));
}

export interface MeanStd {
  mean: number;
  std: number;
  n: number;
}

/** Mean and sample std of the finite values of `xs`. */
export function meanStd(xs: readonly number[]): MeanStd {
  const v = xs.filter(x => Number.isFinite(x));
  return { mean: mean(v), std: std(v), n: v.length };
}

export interface GeoMeanStd {
  /** exp(mean(log v)); NaN when no value is positive. */
  gmean: number;
  /** exp(sample std of log v): the band is gmean ×/÷ gstd; 1 for a single value. */
  gstd: number;
  /** Number of positive finite values used. */
  n: number;
}

/**
 * Geometric mean and geometric (sample, n − 1) standard deviation of the
 * positive finite values of `xs` (the others have no logarithm).
 */
export function geoMeanStd(xs: readonly number[]): GeoMeanStd {
  const logs = xs.filter(x => x > 0 && Number.isFinite(x)).map(x => Math.log(x));
  return { gmean: Math.exp(mean(logs)), gstd: Math.exp(std(logs)), n: logs.length };
}

/** `n` evenly spaced values from `a` to `b` inclusive. */
export function linspace(a: number, b: number, n: number): number[] {
  if (n <= 1) return [a];
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(a + ((b - a) * i) / (n - 1));
  return out;
}

/** `n` log-spaced values from `a` to `b` inclusive (both must be > 0). */
export function logspace(a: number, b: number, n: number): number[] {
  return linspace(Math.log(a), Math.log(b), n).map(v => Math.exp(v));
}

/**
 * Linear interpolation of the curve (xs, ys) at `x`. `xs` must be sorted
 * ascending. Returns NaN outside [xs[0], xs[last]] (no extrapolation).
 * Repeated x values are allowed; the later sample wins at the tie.
 */
export function interpolateAt(xs: readonly number[], ys: readonly number[], x: number): number {
  const n = xs.length;
  if (n === 0 || !(x >= xs[0]) || !(x <= xs[n - 1])) return NaN;
  if (n === 1) return ys[0];
  // Largest index i with xs[i] <= x.
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  if (lo === n - 1 || xs[lo] === x) return ys[lo];
  const x0 = xs[lo];
  const x1 = xs[lo + 1];
  const t = (x - x0) / (x1 - x0);
  return ys[lo] + t * (ys[lo + 1] - ys[lo]);
}

/** Interpolates the curve (xs, ys) onto every point of `grid`. */
export function interpolateOnto(xs: readonly number[], ys: readonly number[], grid: readonly number[]): number[] {
  return grid.map(g => interpolateAt(xs, ys, g));
}

/**
 * The `axis` value ('epoch' or 'seconds', or 'step') of the first point whose
 * metric (train loss by default) is at or below `target`; null when the
 * target is never reached (or `points` is empty). Points with a non-finite
 * metric are skipped. No interpolation between points: the answer is always
 * the x of a logged point, so coarser logging gives a later (conservative)
 * time.
 */
export function timeToTarget(points: readonly CurvePoint[], target: number, axis: XKey, metric: 'trainLoss' | 'valLoss' = 'trainLoss'): number | null {
  for (const p of points) {
    const v = p[metric];
    if (v === undefined || !Number.isFinite(v)) continue;
    if (v <= target) return p[axis];
  }
  return null;
}

/** One x position of a seed-aggregated curve. */
export interface AggregatedPoint {
  x: number;
  mean: number;
  std: number;
  /** Number of seeds contributing at this x. */
  n: number;
  /** Geometric mean and std over the seeds with a positive value here (for log axes). */
  geo: GeoMeanStd;
}

/** The curve of one (optimizer, variant) pair aggregated over seeds. */
export interface AggregatedSeries {
  optimizer: string;
  variant: Variant;
  runs: RunRecord[];
  points: AggregatedPoint[];
}

export interface AggregateOptions {
  /**
   * Interpolate each seed onto a common grid instead of grouping equal x
   * values. Default: true for x = 'seconds', false otherwise.
   */
  interpolate?: boolean;
  /** Grid size when interpolating (default 200). */
  gridSize?: number;
  /**
   * Grid range when interpolating: 'common' (default) spans only the x range
   * covered by every seed, 'union' spans all seeds (with fewer seeds
   * contributing near the ends).
   */
  support?: 'common' | 'union';
}

/**
 * Groups runs by (optimizer, variant), keeping the order in which
 * optimizers first appear and the variant order baseline, teleport, reset.
 */
export function groupRuns(runs: readonly RunRecord[]): Array<{ optimizer: string; variant: Variant; runs: RunRecord[] }> {
  const optimizers: string[] = [];
  for (const r of runs) if (!optimizers.includes(r.optimizer)) optimizers.push(r.optimizer);
  const out: Array<{ optimizer: string; variant: Variant; runs: RunRecord[] }> = [];
  for (const optimizer of optimizers) {
    for (const variant of VARIANTS) {
      const rs = runs.filter(r => r.optimizer === optimizer && r.variant === variant);
      if (rs.length > 0) out.push({ optimizer, variant, runs: rs });
    }
  }
  return out;
}

/** The (x, y) samples of one run, sorted by x, skipping missing / non-finite y. */
export function runSamples(run: RunRecord, x: XKey, y: YKey): { xs: number[]; ys: number[] } {
  const pts = run.points
    .map(p => [p[x], p[y]] as const)
    .filter((p): p is readonly [number, number] => p[1] !== undefined && Number.isFinite(p[0]) && Number.isFinite(p[1]))
    .map(([a, b]) => [a, b] as [number, number]);
  pts.sort((a, b) => a[0] - b[0]);
  return { xs: pts.map(p => p[0]), ys: pts.map(p => p[1]) };
}

/**
 * Mean ± std (and geometric mean ×/÷ geometric std) over seeds of metric `y` against `x`, for every
 * (optimizer, variant) pair. Without interpolation, points of the seeds are
 * grouped by equal x (several points of one seed at the same x are averaged
 * first). With interpolation, every seed is linearly interpolated onto a
 * common grid.
 */
export function aggregateCurves(runs: readonly RunRecord[], x: XKey, y: YKey, opts: AggregateOptions = {}): AggregatedSeries[] {
  const interpolate = opts.interpolate ?? x === 'seconds';
  const gridSize = opts.gridSize ?? 200;
  const support = opts.support ?? 'common';
  return groupRuns(runs).map(({ optimizer, variant, runs: rs }) => {
    const samples = rs.map(r => runSamples(r, x, y)).filter(s => s.xs.length > 0);
    let points: AggregatedPoint[] = [];
    if (samples.length > 0 && interpolate) {
      const starts = samples.map(s => s.xs[0]);
      const ends = samples.map(s => s.xs[s.xs.length - 1]);
      const a = support === 'common' ? Math.max(...starts) : Math.min(...starts);
      const b = support === 'common' ? Math.min(...ends) : Math.max(...ends);
      if (b >= a) {
        const grid = b > a ? linspace(a, b, gridSize) : [a];
        const cols = samples.map(s => interpolateOnto(s.xs, s.ys, grid));
        points = grid.map((g, i) => {
          const vals = cols.map(c => c[i]);
          const { mean: m, std: sd, n } = meanStd(vals);
          return { x: g, mean: m, std: sd, n, geo: geoMeanStd(vals) };
        });
      }
    } else if (samples.length > 0) {
      const byX = new Map<number, number[]>();
      for (const s of samples) {
        // Average repeated x within one seed first.
        const perSeed = new Map<number, number[]>();
        s.xs.forEach((xv, i) => {
          const list = perSeed.get(xv) ?? [];
          list.push(s.ys[i]);
          perSeed.set(xv, list);
        });
        for (const [xv, list] of perSeed) {
          const all = byX.get(xv) ?? [];
          all.push(mean(list));
          byX.set(xv, all);
        }
      }
      points = [...byX.entries()]
        .sort((p, q) => p[0] - q[0])
        .map(([xv, vals]) => {
          const { mean: m, std: sd, n } = meanStd(vals);
          return { x: xv, mean: m, std: sd, n, geo: geoMeanStd(vals) };
        });
    }
    points = points.filter(p => p.n > 0);
    return { optimizer, variant, runs: rs, points };
  });
}
