/**
 * Per-cell statistics of the pays matrix: steps and seconds to fractions of L₀, final losses, and
 * the paired speedups of every arm against the baseline of the same seed, each with a 95 %
 * t-interval over the seeds.
 */
import { reachAt, type ArmName, type ArmRun } from './pays_matrix.js';
import { tInterval, type Interval } from './pays_common.js';

/** Fractions of the initial train loss L₀ the matrix times. */
export const FRACTIONS = [0.5, 0.2, 0.1] as const;

export interface ArmStats {
  arm: ArmName;
  unavailable?: string;
  /** Per fraction: steps and seconds to reach it (over the seeds that did). */
  reach: Array<{ fraction: number; steps: Interval; seconds: Interval }>;
  /** Per fraction: baseline ÷ arm per seed (>1: the arm is faster), over seeds where both reached it. */
  speedup: Array<{ fraction: number; steps: Interval; seconds: Interval }>;
  finalTrain: Interval;
  finalTest: Interval;
  diverged: number;
  seeds: number;
  teleports: number;
  accepted: number;
  teleportShare: Interval;
}

export interface CellKey {
  /** Short keys (mlp16, mnist, …) and the long labels. */
  modelKey: string;
  datasetKey: string;
  model: string;
  dataset: string;
  optimizer: string;
  lrLevel: 'η*' | 'η*/4';
  lr: number;
}

export interface CellResult extends CellKey {
  /** L₀ per seed (the same for every arm of a seed: same initial weights). */
  l0: number[];
  runs: ArmRun[];
  stats: ArmStats[];
}

const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** The statistics of every arm of a cell from its runs (all seeds). */
export function cellStats(runs: readonly ArmRun[], arms: readonly ArmName[]): { l0: number[]; stats: ArmStats[] } {
  const seeds = [...new Set(runs.map(r => r.seed))];
  const baseOf = (seed: number) => runs.find(r => r.arm === 'baseline' && r.seed === seed);
  const l0 = seeds.map(s => baseOf(s)?.curve[0]?.loss ?? NaN);
  const stats = arms.map((arm): ArmStats => {
    const mine = seeds.map(s => runs.find(r => r.arm === arm && r.seed === s)).filter((r): r is ArmRun => r != null);
    const unavailable = mine.find(r => r.unavailable != null)?.unavailable;
    const ok = mine.filter(r => r.unavailable == null);
    const reach = FRACTIONS.map(f => {
      const hits = ok.map((r, i) => reachAt(r.curve, f * l0[i]));
      return { fraction: f, steps: tInterval(hits.map(h => h?.steps ?? null)), seconds: tInterval(hits.map(h => h?.seconds ?? null)) };
    });
    const speedup = FRACTIONS.map(f => {
      const pairs = ok.map((r, i) => {
        const b = baseOf(r.seed);
        const mineHit = reachAt(r.curve, f * l0[i]);
        const baseHit = b ? reachAt(b.curve, f * l0[i]) : null;
        return mineHit && baseHit && mineHit.steps > 0 && mineHit.seconds > 0
          ? { steps: baseHit.steps / mineHit.steps, seconds: baseHit.seconds / mineHit.seconds }
          : null;
      });
      return { fraction: f, steps: tInterval(pairs.map(p => p?.steps ?? null)), seconds: tInterval(pairs.map(p => p?.seconds ?? null)) };
    });
    return {
      arm,
      ...(unavailable != null ? { unavailable } : {}),
      reach,
      speedup,
      finalTrain: tInterval(ok.map(r => (r.diverged ? null : r.finalTrain))),
      finalTest: tInterval(ok.map(r => (r.diverged ? null : r.finalTest))),
      diverged: ok.filter(r => r.diverged).length,
      seeds: ok.length,
      teleports: avg(ok.map(r => r.teleports)),
      accepted: avg(ok.map(r => r.accepted)),
      teleportShare: tInterval(ok.map(r => (r.seconds > 0 ? r.teleportSeconds / r.seconds : null))),
    };
  });
  return { l0, stats };
}

/** Sample standard deviation of the finite values (0 for fewer than two). */
function sd(values: readonly number[]): number {
  const xs = values.filter(Number.isFinite);
  if (xs.length < 2) return 0;
  const m = avg(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/**
 * Whether an arm ends worse than the baseline beyond the seed spread: its mean final train loss
 * exceeds the baseline's by more than the larger of the two seed standard deviations (a diverged
 * seed counts as infinitely worse).
 */
export function endsWorse(runs: readonly ArmRun[], arm: ArmName): { worse: boolean; ratio: number } {
  const ok = (a: ArmName) => runs.filter(r => r.arm === a && r.unavailable == null);
  const mine = ok(arm);
  const base = ok('baseline');
  if (mine.length === 0 || base.length === 0) return { worse: false, ratio: NaN };
  if (mine.some(r => r.diverged) && !base.some(r => r.diverged)) return { worse: true, ratio: Infinity };
  const a = mine.map(r => r.finalTrain);
  const b = base.map(r => r.finalTrain);
  const margin = Math.max(sd(a), sd(b));
  return { worse: avg(a) - avg(b) > margin, ratio: avg(a) / avg(b) };
}

/** The deepest fraction every seed's baseline reached (the heatmap's target); null when none. */
export function deepestReached(stats: readonly ArmStats[]): number | null {
  const base = stats.find(s => s.arm === 'baseline');
  if (!base) return null;
  const reached = base.reach.filter(r => r.steps.n === r.steps.of && r.steps.of > 0).map(r => r.fraction);
  return reached.length ? Math.min(...reached) : null;
}
