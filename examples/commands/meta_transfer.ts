/**
 * `meta-transfer`: trains one coordinate-wise meta-teleporter on the two-layer regression family at one
 * width and runs it, without retraining, at other widths, on other seeds and on the three-layer family,
 * beside GD at each setting's own largest stable step size.
 */
import type { Argv } from 'yargs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tpMeta from '../../src/meta.js';
import { createProgress } from '../train/progress.js';
import { trainWithProgress } from '../meta/train_progress.js';
import { writeChart } from '../report/charts.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';
import { backendOption, defaultOut, intAtLeast, parseChoiceList, parseList, useBackend, UsageError } from './common.js';
import { checkMetaTrainingFlags } from './meta.js';
import { gdRun, largestStableLr, type ArmRun } from '../meta/arms.js';
import { saveMetaTeleporter } from '../meta/files.js';
import { lossChart } from '../meta/report.js';
import { transferSummary, type TransferSetting } from '../meta/transfer_report.js';

/** Test tasks: seeds far from training (seed·10⁶ + i), validation (0x5a11d + …) and the GD searches (seed·10⁶ + 500 000 + i). */
const TEST_SEED = 910_000_000;
const LEARN: readonly tpMeta.MetaLearn[] = ['update', 'lr+teleport', 'update+teleport'];

export interface MetaTransferArgs {
  learn: string;
  hidden: number;
  trajectories: number;
  steps: number;
  unroll: number;
  lr: number;
  teleportLr?: number;
  validation: number;
  patience: number;
  trainWidth: number;
  widths: string;
  depths: string;
  tasks: number;
  testSteps: number;
  baseLr?: number;
  seed: number;
  out?: string;
  quiet: boolean;
  backend?: string;
}

function intList(flag: string, spec: string, min: number): number[] {
  const items = parseList(spec).map(Number);
  if (items.length === 0 || items.some(v => !Number.isInteger(v) || v < min)) throw new UsageError(`${flag}: a comma list of integers ≥ ${min}, got '${spec}'`);
  return items;
}

export async function runMetaTransfer(args: MetaTransferArgs): Promise<void> {
  const [learn] = parseChoiceList('--learn', args.learn, LEARN);
  checkMetaTrainingFlags(args);
  for (const [flag, v] of [
    ['--train-width', args.trainWidth],
    ['--tasks', args.tasks],
    ['--test-steps', args.testSteps],
  ] as const)
    intAtLeast(flag, v);
  const widths = intList('--widths', args.widths, 1);
  const depths = intList('--depths', args.depths, 2);
  const outDir = args.out ?? defaultOut('meta-transfer');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  const backend = await useBackend(args.backend, m => progress.log(m));
  const t0 = performance.now();

  const trainFamily = tpMeta.regressionFamily({ width: args.trainWidth, depth: 2 });
  const searchLr = (family: tpMeta.MetaFamily) => {
    const tasks = Array.from({ length: 5 }, (_, i) => family.sample(args.seed * 1_000_000 + 500_000 + i));
    try {
      return largestStableLr(tasks, args.testSteps).lr;
    } finally {
      for (const t of tasks) t.dispose();
    }
  };
  const trainGdLr = searchLr(trainFamily);
  const baseLr = args.baseLr ?? Number((trainGdLr / 2).toPrecision(3));
  progress.log(
    `GD's largest stable step size at training width ${args.trainWidth}: ${trainGdLr}; the teleporter starts as GD with η₀ = ${baseLr} (half of it unless --base-lr)`,
  );
  const mt = new tpMeta.MetaTeleporter({ hidden: args.hidden, learn, baseLr, seed: args.seed, architecture: 'coordinatewise' });
  try {
    const { report, seconds: trainSeconds } = await trainWithProgress(progress, 'meta-train', mt, trainFamily, {
      trajectories: args.trajectories,
      steps: args.steps,
      unroll: args.unroll,
      lr: args.lr,
      teleportLr: args.teleportLr,
      validation: args.validation,
      patience: args.patience,
      seed: args.seed,
    });
    progress.log(
      `trained: validation ${report.initialValidation.toFixed(3)} → ${report.bestValidation.toFixed(3)} (mean log L/L₀), ${report.trajectoriesUsed} trajectories, ${report.divergedTrajectories} cut, ${trainSeconds.toFixed(0)} s`,
    );

    // Settings: every width with depth 2 (the training width too: other seeds), then every other depth at the training width.
    const plan = [...widths.map(w => ({ width: w, depth: 2 })), ...depths.filter(d => d !== 2).map(d => ({ width: args.trainWidth, depth: d }))];
    const settings: TransferSetting[] = [];
    progress.start(plan.length * args.tasks, 'transfer'.padEnd(20));
    let done = 0;
    for (const { width, depth } of plan) {
      const family = tpMeta.regressionFamily({ width, depth });
      const gdLr = searchLr(family);
      const name = `${depth === 2 ? 'twoLayerRegression' : depth === 3 ? 'multiLayerRegression' : `regression depth ${depth}`}, width ${width}${width === args.trainWidth && depth === 2 ? ' (trained here; unseen seeds)' : ''}`;
      const runs: ArmRun[] = [];
      for (let i = 0; i < args.tasks; i++) {
        const task = family.sample(TEST_SEED + args.seed * 1000 + i);
        try {
          runs.push({ arm: `GD (${gdLr})`, task: i, ...gdRun(task, gdLr, args.testSteps) });
          runs.push({ arm: `GD at η₀ (${baseLr})`, task: i, ...gdRun(task, baseLr, args.testSteps) });
          const r = mt.run(task, { steps: args.testSteps });
          runs.push({
            arm: 'coordinate-wise teleporter',
            task: i,
            losses: r.losses,
            ms: r.ms,
            maxTeleportDrift: mt.teleports ? r.maxTeleportDrift : undefined,
          });
          if (mt.teleports) {
            const off = mt.run(task, { steps: args.testSteps, teleport: false });
            runs.push({ arm: 'coordinate-wise teleporter (tele off)', task: i, losses: off.losses, ms: off.ms });
          }
        } finally {
          task.dispose();
        }
        progress.update(++done, { epoch: done });
      }
      settings.push({ name, width, depth, gdLr, runs });
    }
    progress.stop();
    const info = {
      trainedOn: `twoLayerRegression width ${args.trainWidth}`,
      trajectories: report.trajectoriesUsed,
      hidden: args.hidden,
      baseLr,
      tasks: args.tasks,
      steps: args.testSteps,
      backend,
      learn,
      keptStart: !(report.bestValidation < report.initialValidation),
    };
    const files = await writeAllOrNothing(outDir, async dir => {
      const written = await saveMetaTeleporter(mt, join(dir, 'teleporter-coordinatewise'));
      const csv = [
        'setting,width,depth,arm,task,step,loss,ms',
        ...settings.flatMap(s =>
          s.runs.flatMap(r => r.losses.map((l, k) => `"${s.name}",${s.width},${s.depth},${r.arm},${r.task},${k},${l},${r.ms[k].toFixed(2)}`)),
        ),
      ].join('\n');
      writeFileSync(join(dir, 'runs.csv'), `${csv}\n`);
      writeFileSync(join(dir, 'transfer.json'), JSON.stringify({ info, training: report, trainSeconds, trainGdLr, settings }, null, 1));
      writeFileSync(join(dir, 'summary.md'), transferSummary(settings, info));
      written.push(join(dir, 'runs.csv'), join(dir, 'transfer.json'), join(dir, 'summary.md'));
      for (const s of settings) {
        const base = join(dir, `loss_w${s.width}_d${s.depth}`);
        await writeChart(base, await lossChart(s.runs, 'step', `${s.name}; trained at width ${args.trainWidth}, no retraining; dashed: teleports off`));
        written.push(`${base}.png`, `${base}.svg`);
      }
      return written;
    });
    progress.log(`wrote ${files.length} files to ${outDir} (summary: ${join(outDir, 'summary.md')}); ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    mt.dispose();
  }
}

export function registerMetaTransfer(y: Argv) {
  return y.command(
    'meta-transfer',
    'Beyond the paper: train a coordinate-wise meta-teleporter at one width and run it, without retraining, at other widths, seeds and depths beside tuned GD',
    yy =>
      yy
        .option('learn', { type: 'string', default: 'update+teleport', describe: `what to learn: one of ${LEARN.join(', ')}` })
        .option('hidden', { type: 'number', default: 16, describe: 'hidden size of the shared LSTMs' })
        .option('trajectories', { type: 'number', default: 12, describe: 'training trajectories' })
        .option('steps', { type: 'number', default: 30, describe: 'steps per training trajectory' })
        .option('unroll', { type: 'number', default: 10, describe: 'truncated BPTT: update every this many steps' })
        .option('lr', { type: 'number', default: 1e-3, describe: 'Adam learning rate of m1' })
        .option('teleport-lr', { type: 'number', default: 1e-4, describe: 'Adam learning rate of m2' })
        .option('validation', { type: 'number', default: 2, describe: 'validation trajectories (early stopping keeps the best weights)' })
        .option('patience', { type: 'number', default: 5, describe: 'validations without improvement before stopping' })
        .option('train-width', { type: 'number', default: 20, describe: 'width n of the training tasks (twoLayerRegression: the paper’s 20)' })
        .option('widths', { type: 'string', default: '10,20,40', describe: 'comma list of test widths (two layers)' })
        .option('depths', { type: 'string', default: '3', describe: 'comma list of other depths tested at the training width (3: multiLayerRegression)' })
        .option('tasks', { type: 'number', default: 3, describe: 'unseen test tasks per setting' })
        .option('test-steps', { type: 'number', default: 30, describe: 'steps per test task (and of the GD searches)' })
        .option('base-lr', {
          type: 'number',
          describe: "η₀ (default: half of GD's largest stable step size at the training width; at the edge itself every training trajectory diverged)",
        })
        .option('seed', { type: 'number', default: 1, describe: 'seed of tasks and weights' })
        .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/meta-transfer-<time>)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
        .option('backend', backendOption),
    async argv => {
      await runMetaTransfer(argv as unknown as MetaTransferArgs);
    },
  );
}
