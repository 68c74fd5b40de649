/**
 * Markdown summary of baseline / teleport / reset runs: final metrics, time to
 * reach loss targets, speedups over the baseline and the cost of teleporting.
 */
import { groupRuns, meanStd, timeToTarget, type MeanStd, type Variant } from './stats.js';
import type { CurvePoint, RunRecord } from './types.js';

export { aggregateCurves, timeToTarget } from './stats.js';

export interface SummaryOptions {
  /** Loss targets as fractions of each run's initial train loss (default [0.5, 0.2, 0.1]). */
  lossTargets?: number[];
  title?: string;
}

/**
 * Time to one loss target, over the seeds of one (optimizer, variant) group: the optimizer steps and
 * seconds of the first point of the run's step-resolution train-loss series (`fine`; the per-epoch
 * points for records without one) at or below the target. First crossing, no interpolation: the
 * answer is a logged point, so it is late by less than one window of steps.
 */
export interface TargetStats {
  /** Fraction of the initial train loss. */
  fraction: number;
  /** Over the seeds that reached the target (n = how many did). */
  steps: MeanStd;
  /** The same crossing in epochs (fractional: step / steps per epoch). */
  epochs: MeanStd;
  seconds: MeanStd;
  /** Number of seeds in the group. */
  total: number;
}

export interface Speedup {
  fraction: number;
  /** Baseline mean steps / variant mean steps; null when either never reached it. */
  steps: number | null;
  seconds: number | null;
  /** True when not every seed of either group reached the target. */
  partial: boolean;
}

export interface GroupSummary {
  optimizer: string;
  variant: Variant;
  seeds: number;
  /** Diverged runs; they are left out of the final-metric means. */
  diverged: number;
  finalTrainLoss: MeanStd;
  finalValLoss: MeanStd;
  finalValAccuracy: MeanStd;
  totalSeconds: MeanStd;
  targets: TargetStats[];
  /** Relative to the same optimizer's baseline; empty for the baseline itself or without one. */
  speedups: Speedup[];
  /** Teleport events per run (including rejected ones). */
  teleportsPerRun: MeanStd;
  acceptedPerRun: MeanStd;
  teleportSeconds: MeanStd;
  /** teleportSeconds / totalSeconds, per run. */
  teleportShare: MeanStd;
  /** Largest |relativeLossDrift| over all events of all seeds; null if none measured. */
  maxAbsDrift: number | null;
}

/** The first finite train loss of a run (the reference of the loss targets). */
export function initialTrainLoss(points: readonly CurvePoint[]): number | null {
  for (const p of points) if (Number.isFinite(p.trainLoss)) return p.trainLoss;
  return null;
}

/** The last logged value of `key` (points without it are skipped); NaN if none. */
function lastDefined(points: readonly CurvePoint[], key: 'trainLoss' | 'valLoss' | 'valAccuracy'): number {
  for (let i = points.length - 1; i >= 0; i--) {
    const v = points[i][key];
    if (v !== undefined) return v;
  }
  return NaN;
}

/** The curve the loss targets are read from: the step-resolution series when the run has one. */
export function targetCurve(run: RunRecord): readonly CurvePoint[] {
  return run.fine && run.fine.length > 0 ? run.fine : run.points;
}

/** Marked as diverged, or ends with a non-finite train loss. */
export function isDiverged(run: RunRecord): boolean {
  return run.diverged === true || !Number.isFinite(lastDefined(run.points, 'trainLoss'));
}

/** Numbers behind summaryMarkdown, one entry per (optimizer, variant). */
export function summarize(runs: RunRecord[], opts: SummaryOptions = {}): GroupSummary[] {
  const fractions = opts.lossTargets ?? [0.5, 0.2, 0.1];
  const groups = groupRuns(runs).map(({ optimizer, variant, runs: rs }): GroupSummary => {
    const targets = fractions.map((fraction): TargetStats => {
      const steps: number[] = [];
      const epochs: number[] = [];
      const seconds: number[] = [];
      for (const r of rs) {
        const l0 = initialTrainLoss(r.points);
        if (l0 === null) continue;
        const curve = targetCurve(r);
        const k = timeToTarget(curve, fraction * l0, 'step');
        const e = timeToTarget(curve, fraction * l0, 'epoch');
        const s = timeToTarget(curve, fraction * l0, 'seconds');
        if (k !== null) steps.push(k);
        if (e !== null) epochs.push(e);
        if (s !== null) seconds.push(s);
      }
      return { fraction, steps: meanStd(steps), epochs: meanStd(epochs), seconds: meanStd(seconds), total: rs.length };
    });
    const ok = rs.filter(r => !isDiverged(r));
    const drifts = rs.flatMap(r => r.teleports.map(t => t.relativeLossDrift)).filter((d): d is number => d !== null && Number.isFinite(d));
    return {
      optimizer,
      variant,
      seeds: rs.length,
      diverged: rs.length - ok.length,
      finalTrainLoss: meanStd(ok.map(r => lastDefined(r.points, 'trainLoss'))),
      finalValLoss: meanStd(ok.map(r => lastDefined(r.points, 'valLoss'))),
      finalValAccuracy: meanStd(ok.map(r => lastDefined(r.points, 'valAccuracy'))),
      totalSeconds: meanStd(rs.map(r => r.totalSeconds)),
      targets,
      speedups: [],
      teleportsPerRun: meanStd(rs.map(r => r.teleports.length)),
      acceptedPerRun: meanStd(rs.map(r => r.teleports.filter(t => t.accepted).length)),
      teleportSeconds: meanStd(rs.map(r => r.teleportSeconds)),
      teleportShare: meanStd(rs.map(r => (r.totalSeconds > 0 ? r.teleportSeconds / r.totalSeconds : NaN))),
      maxAbsDrift: drifts.length ? Math.max(...drifts.map(Math.abs)) : null,
    };
  });
  for (const g of groups) {
    if (g.variant === 'baseline') continue;
    const base = groups.find(b => b.optimizer === g.optimizer && b.variant === 'baseline');
    if (!base) continue;
    g.speedups = g.targets.map((t, i): Speedup => {
      const b = base.targets[i];
      const ratio = (num: MeanStd, den: MeanStd) => (num.n > 0 && den.n > 0 && den.mean > 0 ? num.mean / den.mean : null);
      return {
        fraction: t.fraction,
        steps: ratio(b.steps, t.steps),
        seconds: ratio(b.seconds, t.seconds),
        partial: t.steps.n < t.total || b.steps.n < b.total || t.seconds.n < t.total || b.seconds.n < b.total,
      };
    });
  }
  return groups;
}

/** Compact number formatting: 3 significant digits, exponent for very large / small. */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(3)));
}

/** "mean ± std" ("mean" for a single value, "—" for none). */
export function fmtMeanStd(s: MeanStd, format: (x: number) => string = fmtNum): string {
  if (s.n === 0) return '—';
  if (s.n === 1) return format(s.mean);
  return `${format(s.mean)} ± ${format(s.std)}`;
}

function fmtTarget(s: MeanStd, total: number): string {
  if (s.n === 0) return `— (0/${total})`;
  const body = fmtMeanStd(s);
  return s.n < total ? `${body} (${s.n}/${total})` : body;
}

function fmtSpeedup(x: number | null, partial: boolean): string {
  if (x === null) return '—';
  return `${x.toFixed(2)}×${partial ? '†' : ''}`;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function table(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const lines = [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map(r => `| ${r.map(esc).join(' | ')} |`),
  ];
  return lines.join('\n');
}

function targetName(f: number): string {
  return `${String(Number(f.toPrecision(3)))}×L₀`;
}

/**
 * Markdown report of the runs, one row per (optimizer, variant) in each
 * table: final metrics, time to the loss targets (fractions of the initial
 * train loss L₀ of each run), speedups over the same optimizer's baseline and
 * the teleport cost.
 */
export function summaryMarkdown(runs: RunRecord[], opts: SummaryOptions = {}): string {
  const groups = summarize(runs, opts);
  const fractions = opts.lossTargets ?? [0.5, 0.2, 0.1];
  const out: string[] = [];
  out.push(`# ${opts.title ?? 'Teleport vs baseline'}`);
  out.push('');
  if (groups.length === 0) {
    out.push('_No runs._');
    return out.join('\n') + '\n';
  }
  const windows = [...new Set(runs.filter(r => r.fine && r.fine.length > 0).map(r => r.fineWindow ?? 1))].sort((a, b) => a - b);
  const over =
    windows.length === 1 && windows[0] === 1
      ? 'the training-batch loss of every step'
      : `the mean training-batch loss over windows of ${windows.join('/')} steps`;
  const resolution =
    windows.length > 0
      ? ` Steps and seconds to a target are those of the first point of the step-resolution train loss at or below the target (first crossing, no interpolation): ${over} (a window also closes at the end of an epoch and before a teleport), logged when its window closes, after L₀ at step 0; so a crossing is reported late by at most one window.`
      : ' Steps and seconds to a target are those of the first per-epoch point at or below the target.';
  out.push(
    `${runs.length} runs. Values are mean ± std over seeds. L₀ is each run's initial train loss; ` +
      'times to a target are averaged over the seeds that reached it, with (reached/seeds) when some did not.' +
      resolution,
  );
  out.push('');

  // Final metrics.
  const hasVal = groups.some(g => g.finalValLoss.n > 0);
  const hasAcc = groups.some(g => g.finalValAccuracy.n > 0);
  const anyDiverged = groups.some(g => g.diverged > 0);
  const fHeader = ['optimizer', 'variant', 'seeds', 'final train loss'];
  if (hasVal) fHeader.push('final val loss');
  if (hasAcc) fHeader.push('final val accuracy');
  fHeader.push('total s');
  if (anyDiverged) fHeader.push('diverged');
  out.push('## Final metrics');
  out.push('');
  out.push(
    table(
      fHeader,
      groups.map(g => {
        const row = [g.optimizer, g.variant, String(g.seeds), fmtMeanStd(g.finalTrainLoss)];
        if (hasVal) row.push(fmtMeanStd(g.finalValLoss));
        if (hasAcc) row.push(fmtMeanStd(g.finalValAccuracy));
        row.push(fmtMeanStd(g.totalSeconds));
        if (anyDiverged) row.push(String(g.diverged));
        return row;
      }),
    ),
  );
  out.push('');

  // Time to target.
  out.push('## Time to reach the train-loss targets');
  out.push('');
  const tHeader = ['optimizer', 'variant'];
  for (const f of fractions) tHeader.push(`steps to ${targetName(f)}`, `s to ${targetName(f)}`);
  out.push(
    table(
      tHeader,
      groups.map(g => [g.optimizer, g.variant, ...g.targets.flatMap(t => [fmtTarget(t.steps, t.total), fmtTarget(t.seconds, t.total)])]),
    ),
  );
  out.push('');

  // Speedups.
  const withSpeedup = groups.filter(g => g.speedups.length > 0);
  if (withSpeedup.length > 0) {
    out.push('## Speedup over the baseline');
    out.push('');
    out.push('Baseline mean time to target ÷ variant mean time to target (> 1 = faster). Seconds include the time spent teleporting.');
    out.push('');
    const sHeader = ['optimizer', 'variant'];
    for (const f of fractions) sHeader.push(`steps, ${targetName(f)}`, `seconds, ${targetName(f)}`);
    out.push(
      table(
        sHeader,
        withSpeedup.map(g => [
          g.optimizer,
          `${g.variant} vs baseline`,
          ...g.speedups.flatMap(s => [fmtSpeedup(s.steps, s.partial), fmtSpeedup(s.seconds, s.partial)]),
        ]),
      ),
    );
    if (withSpeedup.some(g => g.speedups.some(s => s.partial && (s.steps !== null || s.seconds !== null)))) {
      out.push('');
      out.push('† not every seed reached the target; the ratio uses the seeds that did.');
    }
    out.push('');
  }

  // Teleport cost.
  const costGroups = groups.filter(g => g.variant !== 'baseline' || g.teleportsPerRun.mean > 0);
  if (costGroups.length > 0) {
    out.push('## Teleport cost');
    out.push('');
    out.push(
      table(
        ['optimizer', 'variant', 'teleports / run', 'accepted / run', 'teleport s / run', 'share of run time', 'max |relative loss drift|'],
        costGroups.map(g => [
          g.optimizer,
          g.variant,
          fmtMeanStd(g.teleportsPerRun),
          fmtMeanStd(g.acceptedPerRun),
          fmtMeanStd(g.teleportSeconds),
          fmtMeanStd(g.teleportShare, pct),
          g.maxAbsDrift === null ? '—' : g.maxAbsDrift.toExponential(2),
        ]),
      ),
    );
    out.push('');
  }
  return out.join('\n');
}
