import type { RunRecord } from './types.js';

// The CLI's file formats as pure functions (no Node built-ins): the web playground bundles them too.

const CSV_COLUMNS = ['epoch', 'step', 'seconds', 'trainLoss', 'valLoss', 'valAccuracy', 'gradNormSq'] as const;

/** One run's curve as CSV (one row per logged point). */
export function runCsv(run: RunRecord): string {
  const rows = run.points.map(p => CSV_COLUMNS.map(c => (p[c] == null ? '' : String(p[c]))).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

const FINE_COLUMNS = ['epoch', 'step', 'seconds', 'trainLoss'] as const;

/** One run's step-resolution train loss as CSV (one row per point of `run.fine`); null without one. */
export function runFineCsv(run: RunRecord): string | null {
  if (!run.fine || run.fine.length === 0) return null;
  const rows = run.fine.map(p => FINE_COLUMNS.map(c => String(p[c])).join(','));
  return [FINE_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** A file-name-safe slug of a run label, e.g. "sgd-teleport-seed1". */
export function runSlug(run: RunRecord): string {
  return `${run.optimizer}-${run.variant}-seed${run.seed}`;
}

/** What runs.json holds: the comparison's title and configuration, and every run. */
export type ComparisonMeta = { title: string; config: Record<string, unknown>; lossTargets?: number[] };

/** The text of runs.json, as `writeComparison` writes it. */
export function runsJson(runs: RunRecord[], meta: ComparisonMeta): string {
  return JSON.stringify({ ...meta, runs }, null, 1);
}
