import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunRecord } from './types.js';
import { bandLabel, convergenceChart, writeChart } from './charts.js';
import { summaryMarkdown } from './summary.js';
import { writeAllOrNothing } from './out_dir.js';
import { runCsv, runFineCsv, runsJson, runSlug, type ComparisonMeta } from './csv.js';

export { runCsv, runFineCsv, runSlug } from './csv.js';

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
    const fine = runFineCsv(run);
    if (fine) write(join(outDir, 'runs', `${runSlug(run)}-steps.csv`), fine);
    write(join(outDir, 'runs', `${runSlug(run)}.json`), JSON.stringify(run, null, 1));
  }
  write(join(outDir, 'runs.json'), runsJson(runs, meta));
  const hasVal = runs.some(r => r.points.some(p => p.valLoss != null));
  const hasAcc = runs.some(r => r.points.some(p => p.valAccuracy != null));
  // The training loss at step resolution where the runs have it (runs/*-steps.csv), else per epoch.
  const fine = runs.some(r => r.fine && r.fine.length > 0);
  const windows = [...new Set(runs.map(r => r.fineWindow ?? 1))];
  const fineNote =
    windows.length === 1 && windows[0] === 1
      ? 'train loss: the batch loss of every step'
      : `train loss: mean batch loss over windows of ${windows.join('/')} steps, plotted at the window's last step`;
  const charts: Array<[string, Parameters<typeof convergenceChart>[1]]> = [
    ['train_loss_vs_epoch', { x: 'epoch', y: 'trainLoss', logY: true, fine, title: `${meta.title}: training loss ${fine ? 'vs epoch' : 'per epoch'}` }],
    ...(fine
      ? [
          ['train_loss_vs_step', { x: 'step', y: 'trainLoss', logY: true, fine, title: `${meta.title}: training loss vs optimizer step` }] as [
            string,
            Parameters<typeof convergenceChart>[1],
          ],
        ]
      : []),
    ['train_loss_vs_time', { x: 'seconds', y: 'trainLoss', logY: true, fine, title: `${meta.title}: training loss vs wall time` }],
    ['grad_norm_vs_epoch', { x: 'epoch', y: 'gradNormSq', logY: true, title: `${meta.title}: squared gradient norm` }],
  ];
  if (hasVal) charts.push(['val_loss_vs_epoch', { x: 'epoch', y: 'valLoss', logY: true, title: `${meta.title}: validation loss per epoch` }]);
  if (hasAcc) charts.push(['val_accuracy_vs_epoch', { x: 'epoch', y: 'valAccuracy', title: `${meta.title}: validation accuracy` }]);
  for (const [name, opts] of charts) {
    const subtitle = `${bandLabel(opts.logY ?? false)} over seeds; solid = baseline, dashed = teleport, dotted = reset-only control; ▼ = teleport`;
    const chart = await convergenceChart(runs, { ...opts, subtitle: opts.fine ? [subtitle, fineNote] : subtitle });
    await writeChart(join(outDir, name), chart);
    written.push(join(outDir, `${name}.png`), join(outDir, `${name}.svg`));
  }
  const md = summaryMarkdown(runs, { title: meta.title, lossTargets: meta.lossTargets });
  const configBlock = '\n\n## Configuration\n\n```json\n' + JSON.stringify(meta.config, null, 2) + '\n```\n';
  write(join(outDir, 'summary.md'), md + configBlock);
  return written;
}
