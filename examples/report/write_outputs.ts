import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord } from './types.js';
import { convergenceChart, writeChart } from './charts.js';
import { summaryMarkdown } from './summary.js';
import { writeAllOrNothing } from './out_dir.js';

const CSV_COLUMNS = ['epoch', 'step', 'seconds', 'trainLoss', 'valLoss', 'valAccuracy', 'gradNormSq'] as const;

/** One run's curve as CSV (one row per logged point). */
export function runCsv(run: RunRecord): string {
  const rows = run.points.map(p => CSV_COLUMNS.map(c => (p[c] == null ? '' : String(p[c]))).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** A file-name-safe slug of a run label, e.g. "sgd-teleport-seed1". */
export function runSlug(run: RunRecord): string {
  return `${run.optimizer}-${run.variant}-seed${run.seed}`;
}

type ComparisonMeta = { title: string; config: Record<string, unknown>; lossTargets?: number[] };

/**
 * Writes a comparison: per run a CSV and a JSON, all runs in runs.json, the convergence plots (PNG
 * and SVG) and summary.md. All or nothing: a failure part way leaves no `outDir` (see
 * {@link writeAllOrNothing}). Returns the paths written.
 */
export async function writeComparison(outDir: string, runs: RunRecord[], meta: ComparisonMeta): Promise<string[]> {
  return writeAllOrNothing(outDir, dir => writeComparisonFiles(dir, runs, meta));
}

async function writeComparisonFiles(outDir: string, runs: RunRecord[], meta: ComparisonMeta): Promise<string[]> {
  mkdirSync(join(outDir, 'runs'), { recursive: true });
  const written: string[] = [];
  const write = (path: string, content: string) => {
    writeFileSync(path, content);
    written.push(path);
  };
  for (const run of runs) {
    write(join(outDir, 'runs', `${runSlug(run)}.csv`), runCsv(run));
    write(join(outDir, 'runs', `${runSlug(run)}.json`), JSON.stringify(run, null, 1));
  }
  write(join(outDir, 'runs.json'), JSON.stringify({ ...meta, runs }, null, 1));
  const hasVal = runs.some(r => r.points.some(p => p.valLoss != null));
  const hasAcc = runs.some(r => r.points.some(p => p.valAccuracy != null));
  const charts: Array<[string, Parameters<typeof convergenceChart>[1]]> = [
    ['train_loss_vs_epoch', { x: 'epoch', y: 'trainLoss', logY: true, title: `${meta.title}: training loss per epoch` }],
    ['train_loss_vs_time', { x: 'seconds', y: 'trainLoss', logY: true, title: `${meta.title}: training loss vs wall time` }],
    ['grad_norm_vs_epoch', { x: 'epoch', y: 'gradNormSq', logY: true, title: `${meta.title}: squared gradient norm` }],
  ];
  if (hasVal) charts.push(['val_loss_vs_epoch', { x: 'epoch', y: 'valLoss', logY: true, title: `${meta.title}: validation loss per epoch` }]);
  if (hasAcc) charts.push(['val_accuracy_vs_epoch', { x: 'epoch', y: 'valAccuracy', title: `${meta.title}: validation accuracy` }]);
  for (const [name, opts] of charts) {
    const chart = await convergenceChart(runs, { ...opts, subtitle: 'mean ± 1 std over seeds; solid = baseline, dashed = teleport, dotted = reset-only control; ▼ = teleport' });
    await writeChart(join(outDir, name), chart);
    written.push(join(outDir, `${name}.png`), join(outDir, `${name}.svg`));
  }
  const md = summaryMarkdown(runs, { title: meta.title, lossTargets: meta.lossTargets });
  const configBlock = '\n\n## Configuration\n\n```json\n' + JSON.stringify(meta.config, null, 2) + '\n```\n';
  write(join(outDir, 'summary.md'), md + configBlock);
  return written;
}
