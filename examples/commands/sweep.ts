import type { Argv } from 'yargs';
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTask } from '../train/datasets.js';
import { runTraining, type OptimizerName } from '../train/runner.js';
import { timeToTarget } from '../report/stats.js';
import { heatmapChart, writeChart } from '../report/charts.js';
import { createProgress } from '../train/progress.js';
import { backendOption, defaultOut, parseNumberList, useBackend, UsageError } from './common.js';
import { DEFAULT_LR } from './compare.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';

/** One cell of the grid: teleport steps × teleport lr, run on every seed with its own baselines. */
interface CellSpec {
  steps: number;
  lr: number;
  seeds: number[];
  optimizer: OptimizerName;
  epochs: number;
  teleportEpoch: number;
  normalize: boolean;
  target: number;
  backend?: string;
}

interface CellResult {
  steps: number;
  lr: number;
  perSeed: Array<{
    seed: number;
    baselineSeconds: number | null;
    teleportSeconds: number | null;
    baselineEpochs: number | null;
    teleportEpochs: number | null;
    accepted: boolean;
    diverged: boolean;
  }>;
}

/** Runs one cell in this process (the worker side); baseline and teleport arms interleaved per seed. */
export async function runCell(spec: CellSpec): Promise<CellResult> {
  await useBackend(spec.backend, () => {});
  const task = await loadTask({ dataset: 'regression', widths: [], activation: 'leakyRelu', alpha: 0.1 });
  const perSeed: CellResult['perSeed'] = [];
  const lr = DEFAULT_LR.regression[spec.optimizer];
  // Warm-up (discarded) so the first timed arm does not pay JIT compilation.
  runTraining({
    optimizer: spec.optimizer,
    lr,
    seed: 0,
    epochs: Math.min(spec.epochs, 50),
    batchSize: 4,
    buildModel: task.buildModel,
    loss: task.loss,
    train: task.train,
    variant: 'baseline',
  });
  for (const seed of spec.seeds) {
    const common = { optimizer: spec.optimizer, lr, seed, epochs: spec.epochs, batchSize: 4, buildModel: task.buildModel, loss: task.loss, train: task.train };
    const teleport = {
      atSteps: [spec.teleportEpoch],
      group: 'rescale' as const,
      objective: 'gradNorm' as const,
      steps: spec.steps,
      lr: spec.lr,
      normalize: spec.normalize,
      maxGrowth: 1e6,
      batchCount: 1,
      batchSize: 4,
      gradientSource: 'data' as const,
    };
    const base = runTraining({ ...common, variant: 'baseline' });
    const tele = runTraining({ ...common, variant: 'teleport', teleport });
    const targetOf = (r: typeof base) => r.points[0].trainLoss * spec.target;
    perSeed.push({
      seed,
      baselineSeconds: timeToTarget(base.points, targetOf(base), 'seconds'),
      teleportSeconds: tele.diverged ? null : timeToTarget(tele.points, targetOf(tele), 'seconds'),
      baselineEpochs: timeToTarget(base.points, targetOf(base), 'epoch'),
      teleportEpochs: tele.diverged ? null : timeToTarget(tele.points, targetOf(tele), 'epoch'),
      accepted: tele.teleports.every(t => t.accepted),
      diverged: tele.diverged ?? false,
    });
  }
  task.dispose();
  return { steps: spec.steps, lr: spec.lr, perSeed };
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a cell in a child process of this CLI and parses its JSON answer. */
function runCellInChild(spec: CellSpec): Promise<CellResult> {
  const cli = fileURLToPath(new URL('../cli' + (import.meta.url.endsWith('.ts') ? '.ts' : '.js'), import.meta.url));
  const nodeArgs = cli.endsWith('.ts') ? ['--import', 'tsx'] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, cli, 'sweep-cell', '--spec', JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (err += d));
    child.on('close', code => {
      if (code !== 0)
        return reject(
          new Error(`sweep cell ${JSON.stringify({ steps: spec.steps, lr: spec.lr })} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' ')}`),
        );
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`sweep cell gave no JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

/** The numeric flags of `sweep`, checked here: a bad one would otherwise fail in every worker, or give empty cells. */
function checkSweepCounts(args: SweepArgs): void {
  for (const [flag, value] of [
    ['--seeds', args.seeds],
    ['--epochs', args.epochs],
    ['--workers', args.workers ?? 1],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`${flag} must be a positive integer, got ${value}`);
  }
  if (!Number.isInteger(args.teleportEpoch) || args.teleportEpoch < 0)
    throw new UsageError(`--teleport-epoch must be a step ≥ 0 (an integer), got ${args.teleportEpoch}`);
  if (!(args.target > 0 && args.target < 1)) throw new UsageError(`--target must be a fraction of the initial loss between 0 and 1, got ${args.target}`);
}

type SweepArgs = {
  steps: string;
  lrs: string;
  seeds: number;
  optimizer: OptimizerName;
  epochs: number;
  teleportEpoch: number;
  normalize: boolean;
  target: number;
  workers?: number;
  out?: string;
  backend?: string;
  quiet: boolean;
};

export async function runSweep(args: SweepArgs): Promise<string[]> {
  const stepsList = parseNumberList('--steps', args.steps);
  const lrs = parseNumberList('--lrs', args.lrs);
  if (stepsList.some(s => !Number.isInteger(s) || s < 1)) throw new UsageError(`--steps must be positive integers, got ${args.steps}`);
  if (lrs.some(l => !(l > 0))) throw new UsageError(`--lrs must be positive numbers, got ${args.lrs}`);
  checkSweepCounts(args);
  const workers = args.workers ?? Math.max(1, cpus().length);
  const progress = createProgress(args.quiet);
  const outDir = args.out ?? defaultOut('sweep');
  checkOutDir(outDir);
  const seeds = Array.from({ length: args.seeds }, (_, i) => i + 1);
  const cells: CellSpec[] = stepsList.flatMap(steps =>
    lrs.map(lr => ({
      steps,
      lr,
      seeds,
      optimizer: args.optimizer,
      epochs: args.epochs,
      teleportEpoch: args.teleportEpoch,
      normalize: args.normalize,
      target: args.target,
      backend: args.backend,
    })),
  );
  progress.log(`sweep: ${cells.length} cells (${stepsList.length} step counts × ${lrs.length} lrs) × ${seeds.length} seeds on ${workers} worker processes`);
  progress.start(cells.length, 'sweep');
  const results: CellResult[] = new Array(cells.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < cells.length) {
      const i = next++;
      results[i] = await runCellInChild(cells[i]);
      progress.update(++done, {});
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, cells.length) }, worker));
  progress.stop();
  const files = await writeAllOrNothing(outDir, dir => writeSweepOutputs(dir, args, stepsList, lrs, seeds, results));
  progress.log(`wrote ${files.length} files to ${outDir}`);
  return files;
}

/** The speedup heatmaps, sweep.json and summary.md of a finished sweep, written into `outDir`. */
async function writeSweepOutputs(
  outDir: string,
  args: SweepArgs,
  stepsList: number[],
  lrs: number[],
  seeds: number[],
  results: CellResult[],
): Promise<string[]> {
  const speedup = (r: CellResult, key: 'Seconds' | 'Epochs') =>
    median(
      r.perSeed.flatMap(p => {
        const b = p[`baseline${key}`];
        const t = p[`teleport${key}`];
        return b != null && t != null && t > 0 ? [b / t] : [];
      }),
    );
  const grid = (key: 'Seconds' | 'Epochs') => stepsList.map((_, si) => lrs.map((__, li) => speedup(results[si * lrs.length + li], key)));
  const files: string[] = [];
  for (const key of ['Seconds', 'Epochs'] as const) {
    const chart = await heatmapChart({
      rows: stepsList.map(String),
      cols: lrs.map(l => l.toExponential(0)),
      values: grid(key),
      rowTitle: 'teleport ascent steps',
      colTitle: `teleport lr${args.normalize ? ' (normalized steps)' : ''}`,
      title: `Regression (§4.6.1), ${args.optimizer}: speedup in ${key === 'Seconds' ? 'wall-clock time' : 'epochs'} to ${args.target * 100}% of the initial loss`,
      subtitle: `median over ${seeds.length} seeds of baseline / teleport; n/a = not reached or diverged; one teleport at step ${args.teleportEpoch}`,
      valueFormat: '.2f',
      scheme: 'redblue',
      domainMid: 1,
      valueTitle: 'speedup',
    });
    const base = join(outDir, `speedup_${key === 'Seconds' ? 'time' : 'epochs'}`);
    await writeChart(base, chart);
    files.push(base + '.png', base + '.svg');
  }
  writeFileSync(join(outDir, 'sweep.json'), JSON.stringify({ args, cells: results }, null, 1));
  files.push(join(outDir, 'sweep.json'));
  const md = [
    '# Teleport hyperparameter sweep (regression)',
    '',
    `Median wall-clock speedup to ${args.target * 100}% of the initial loss (baseline / teleport), ${seeds.length} seeds:`,
    '',
    `| steps \\ lr | ${lrs.map(l => l.toExponential(0)).join(' | ')} |`,
    `|---|${lrs.map(() => '---').join('|')}|`,
    ...grid('Seconds').map((row, i) => `| ${stepsList[i]} | ${row.map(v => (v == null ? 'n/a' : v.toFixed(2))).join(' | ')} |`),
    '',
  ];
  writeFileSync(join(outDir, 'summary.md'), md.join('\n'));
  files.push(join(outDir, 'summary.md'));
  return files;
}

export function registerSweep(y: Argv) {
  return y
    .command(
      'sweep',
      'teleport hyperparameter grid (ascent steps × ascent lr) on the regression task (§4.6.2); wall-clock speedup heatmap; cells run in parallel processes',
      yy =>
        yy
          .option('steps', { type: 'string', default: '1,2,4,8,16,32', describe: 'ascent step counts' })
          .option('lrs', { type: 'string', default: '0.01,0.03,0.1,0.3,1', describe: 'ascent step sizes' })
          .option('seeds', { type: 'number', default: 3 })
          .option('optimizer', { choices: ['sgd', 'adagrad'] as const, default: 'sgd' as const })
          .option('epochs', { type: 'number', default: 300 })
          .option('teleport-epoch', { type: 'number', default: 5 })
          .option('normalize', { type: 'boolean', default: true })
          .option('target', { type: 'number', default: 0.01, describe: 'convergence: loss below this fraction of the initial loss' })
          .option('workers', { type: 'number', describe: 'parallel worker processes (default: number of cores)' })
          .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/sweep-<time>)' })
          .option('quiet', { type: 'boolean', default: false })
          .option('backend', backendOption),
      async argv => {
        await runSweep(argv as never);
      },
    )
    .command(
      'sweep-cell',
      false,
      yy => yy.option('spec', { type: 'string', demandOption: true }),
      async argv => {
        const result = await runCell(JSON.parse(String(argv.spec)));
        process.stdout.write(JSON.stringify(result) + '\n');
      },
    );
}
