/**
 * `meta-train` and `meta-test`: learning to teleport (dissertation §5.5, Fig. 5.12). meta-train finds
 * GD's largest stable step size and meta-trains one teleporter per --learn mode; meta-test runs GD and
 * every teleporter (and each teleporting one with its teleports switched off) on unseen tasks.
 */
import type { Argv } from 'yargs';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tpMeta from '../../src/meta.js';
import { createProgress } from '../train/progress.js';
import { trainWithProgress } from '../meta/train_progress.js';
import { writeChart } from '../report/charts.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';
import { backendOption, defaultOut, intAtLeast, parseChoiceList, positiveNumber, useBackend, UsageError } from './common.js';
import { ARM_NAMES, gdRun, largestStableLr, type ArmRun } from '../meta/arms.js';
import { loadMetaTeleporter, saveMetaTeleporter } from '../meta/files.js';
import { lossChart, metaSummary } from '../meta/report.js';
import { registerMetaDiagnose } from './meta_diagnose.js';
import { gdWithTeleports } from '../meta/diagnose.js';

const FAMILIES = ['twoLayerRegression', 'multiLayerRegression'] as const;
type FamilyName = (typeof FAMILIES)[number];
const LEARN: readonly tpMeta.MetaLearn[] = ['update', 'lr+teleport', 'update+teleport', 'teleport'];
/** Seeds of test tasks: far from training (seed·10⁶ + i) and validation (0x5a11d + …) seeds. */
const TEST_SEED = 900_000_000;
/** meta-test's hand-made arm beside GD + LSTM(tele): the core's teleport with its defaults (10 normalized ascent steps of 0.1, growth cap 2). */
const HAND_TELEPORT = { steps: 10, lr: 0.1, maxGrowth: 2 };
export const HAND_ARM = 'GD + ascent teleport (core, step 0)';

export interface MetaTrainArgs {
  family: FamilyName;
  learn: string;
  hidden: number;
  trajectories: number;
  steps: number;
  unroll: number;
  lr: number;
  teleportLr?: number;
  clip: number;
  validation: number;
  validationSteps?: number;
  patience: number;
  baseLr?: number;
  teleFraction: number;
  teleHidden: number;
  teleLr: number;
  teleTrajectories: number;
  teleBudget: number;
  seed: number;
  out?: string;
  quiet: boolean;
  backend?: string;
}

/** The meta-training flags `meta-train` and `meta-transfer` share, checked before any work (UsageError naming the flag). */
export function checkMetaTrainingFlags(args: {
  hidden: number;
  trajectories: number;
  steps: number;
  unroll: number;
  validation: number;
  patience: number;
  lr?: number;
  teleportLr?: number;
  baseLr?: number;
}): void {
  for (const [flag, v] of [
    ['--hidden', args.hidden],
    ['--trajectories', args.trajectories],
    ['--steps', args.steps],
    ['--unroll', args.unroll],
    ['--validation', args.validation],
    ['--patience', args.patience],
  ] as const)
    intAtLeast(flag, v);
  if (args.steps % args.unroll !== 0) throw new UsageError(`--steps (${args.steps}) must be a multiple of --unroll (${args.unroll})`);
  if (args.lr != null) positiveNumber('--lr', args.lr);
  if (args.teleportLr != null) positiveNumber('--teleport-lr', args.teleportLr);
  if (args.baseLr != null) positiveNumber('--base-lr', args.baseLr);
}

export async function runMetaTrain(args: MetaTrainArgs): Promise<void> {
  const learns = parseChoiceList('--learn', args.learn, LEARN);
  checkMetaTrainingFlags(args);
  if (args.clip != null) positiveNumber('--clip', args.clip);
  if (args.validationSteps != null) intAtLeast('--validation-steps', args.validationSteps);
  if (!(args.teleFraction > 0 && args.teleFraction <= 1))
    throw new UsageError(`--tele-fraction must be in (0, 1] (a fraction of GD's largest stable step size), got ${args.teleFraction}`);
  intAtLeast('--tele-hidden', args.teleHidden);
  intAtLeast('--tele-trajectories', args.teleTrajectories);
  positiveNumber('--tele-lr', args.teleLr);
  if (!(args.teleBudget > 0)) throw new UsageError(`--tele-budget must be a positive number or Infinity (Σ‖θ_t‖ over a trajectory), got ${args.teleBudget}`);
  const outDir = args.out ?? defaultOut('meta-train');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  const backend = await useBackend(args.backend, m => progress.log(m));
  const family = tpMeta.resolveFamily(args.family);
  const t0 = performance.now();

  const searchTasks = Array.from({ length: 5 }, (_, i) => family.sample(args.seed * 1_000_000 + 500_000 + i));
  const search = largestStableLr(searchTasks, args.steps);
  for (const t of searchTasks) t.dispose();
  progress.log(`GD: largest stable step size over ${args.steps} steps on 5 training tasks: ${search.lr}`);
  const baseLr = args.baseLr ?? search.lr;

  const trained: Array<{ learn: tpMeta.MetaLearn; mt: tpMeta.MetaTeleporter; report: tpMeta.MetaTrainReport; seconds: number; baseLr: number }> = [];
  try {
    for (const learn of learns) {
      // 'teleport' (GD + learned teleports) runs GD below the edge of stability, where a teleport can help
      // (meta-diagnose: at the edge the gradient-norm teleport diverges), with a coordinate-wise m2 that reads
      // the teleport objective's derivative; only m2 trains, at its own meta learning rate.
      const tele = learn === 'teleport';
      const armLr = tele ? Number((search.lr * args.teleFraction).toPrecision(3)) : baseLr;
      const mt = tele
        ? new tpMeta.MetaTeleporter({
            architecture: 'coordinatewise',
            hidden: args.teleHidden,
            learn,
            baseLr: armLr,
            teleportBudget: args.teleBudget,
            seed: args.seed,
          })
        : new tpMeta.MetaTeleporter({ hidden: args.hidden, learn, baseLr, seed: args.seed });
      const { report, seconds } = await trainWithProgress(progress, ARM_NAMES[learn], mt, family, {
        trajectories: tele ? args.teleTrajectories : args.trajectories,
        steps: args.steps,
        unroll: args.unroll,
        lr: tele ? args.teleLr : args.lr,
        teleportLr: tele ? args.teleLr : args.teleportLr,
        clip: args.clip,
        validation: args.validation,
        validationSteps: args.validationSteps,
        patience: args.patience,
        seed: args.seed,
      });
      progress.log(
        `${ARM_NAMES[learn]}: validation ${report.initialValidation.toFixed(3)} → ${report.bestValidation.toFixed(3)} (mean log L/L₀), ${report.trajectoriesUsed} trajectories${report.stoppedEarly ? ' (early stop)' : ''}, ${report.skippedUpdates} skipped updates, ${report.divergedTrajectories} cut trajectories (rollbacks; meta lr now ×${report.finalLrScale}), ${seconds.toFixed(0)} s`,
      );
      trained.push({ learn, mt, report, seconds, baseLr: armLr });
    }
    const config = {
      family: args.family,
      steps: args.steps,
      validationSteps: args.validationSteps ?? 2 * args.steps,
      unroll: args.unroll,
      hidden: args.hidden,
      lr: args.lr,
      teleportLr: args.teleportLr ?? args.lr,
      clip: args.clip,
      teleFraction: args.teleFraction,
      teleHidden: args.teleHidden,
      teleLr: args.teleLr,
      teleBudget: args.teleBudget,
      seed: args.seed,
      backend,
    };
    const files = await writeAllOrNothing(outDir, async dir => {
      const written: string[] = [];
      for (const { learn, mt } of trained) written.push(...(await saveMetaTeleporter(mt, join(dir, `teleporter-${learn.replace('+', '-')}`))));
      const record = {
        config,
        gd: search,
        baseLr,
        teleporters: trained.map(({ learn, report, seconds, baseLr: lr, mt }) => ({
          learn,
          file: `teleporter-${learn.replace('+', '-')}.json`,
          seconds,
          report,
          baseLr: lr,
          architecture: mt.architecture,
          hidden: mt.hidden,
        })),
      };
      writeFileSync(join(dir, 'training.json'), JSON.stringify(record, null, 1));
      writeFileSync(join(dir, 'summary.md'), trainSummary(record));
      written.push(join(dir, 'training.json'), join(dir, 'summary.md'));
      return written;
    });
    progress.log(`wrote ${files.length} files to ${outDir} (next: meta-test --models ${outDir}); ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    for (const t of trained) t.mt.dispose();
  }
}

function trainSummary(r: {
  config: {
    family: string;
    steps: number;
    validationSteps: number;
    unroll: number;
    hidden: number;
    lr: number;
    teleportLr: number;
    clip: number;
    teleFraction: number;
    teleLr: number;
    teleBudget: number;
    backend: string;
  };
  gd: { lr: number };
  baseLr: number;
  teleporters: Array<{ learn: tpMeta.MetaLearn; seconds: number; report: tpMeta.MetaTrainReport; baseLr: number; architecture: string; hidden: number }>;
}): string {
  const c = r.config;
  const lines = [
    '# Meta-training (dissertation §5.5, Algorithm 3)',
    '',
    `${c.family}, ${c.steps} steps per trajectory, truncated BPTT every ${c.unroll} steps, hidden ${c.hidden}, Adam ${c.lr} (m1) / ${c.teleportLr} (m2), meta-gradient clipped to norm ${c.clip}, backend ${c.backend}. ` +
      `GD's largest stable step size (grid ×10^¼): ${r.gd.lr}; the teleporters start as GD with η₀ = ${r.baseLr}. GD + LSTM(tele) runs GD at ${c.teleFraction} of it (below the edge of stability, where a teleport can help: meta-diagnose) with a coordinate-wise m2, Adam ${c.teleLr}, a teleport budget Σ‖θ_t‖_F ≤ ${c.teleBudget} per trajectory; only its m2 trains. ` +
      `Validation score: mean over validation tasks and ${c.validationSteps} steps of log(L_t / L₀), lower is better; the weights kept are the best validation’s (the untrained, GD-equivalent weights are the first candidate).`,
    '',
    '| teleporter | architecture, hidden, η₀ | trajectories used | early stop | validation before → best | skipped updates | cut trajectories (rolled back) | final meta lr (× --lr) | seconds |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.teleporters.map(
      t =>
        `| ${ARM_NAMES[t.learn]} | ${t.architecture}, ${t.hidden}, ${t.baseLr} | ${t.report.trajectoriesUsed} | ${t.report.stoppedEarly ? 'yes' : 'no'} | ${t.report.initialValidation.toFixed(3)} → ${t.report.bestValidation.toFixed(3)} | ${t.report.skippedUpdates} | ${t.report.divergedTrajectories} | ${t.report.finalLrScale} | ${t.seconds.toFixed(0)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

export interface MetaTestArgs {
  models: string;
  tasks: number;
  steps: number;
  gdLr?: number;
  seed: number;
  out?: string;
  quiet: boolean;
  backend?: string;
}

export async function runMetaTest(args: MetaTestArgs): Promise<void> {
  intAtLeast('--tasks', args.tasks);
  intAtLeast('--steps', args.steps);
  if (args.gdLr != null) positiveNumber('--gd-lr', args.gdLr);
  const recordPath = join(args.models, 'training.json');
  if (!existsSync(recordPath)) throw new UsageError(`--models ${args.models}: no training.json there; pass the output folder of meta-train`);
  const record = JSON.parse(readFileSync(recordPath, 'utf8')) as {
    config: { family: FamilyName };
    gd: { lr: number };
    teleporters: Array<{ learn: tpMeta.MetaLearn; file: string; baseLr?: number; hidden?: number; architecture?: string }>;
  };
  const outDir = args.out ?? defaultOut('meta-test');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  const backend = await useBackend(args.backend, m => progress.log(m));
  const family = tpMeta.resolveFamily(record.config.family);
  const gdLr = args.gdLr ?? record.gd.lr;
  const teleporters = [];
  for (const t of record.teleporters) teleporters.push({ learn: t.learn, mt: await loadMetaTeleporter(join(args.models, t.file)) });
  const runs: ArmRun[] = [];
  try {
    const arms = 1 + teleporters.reduce((s, t) => s + (t.mt.teleports ? 2 : 1) + (t.learn === 'teleport' ? 1 : 0), 0);
    progress.start(args.tasks * arms, 'meta-test'.padEnd(20));
    for (let i = 0; i < args.tasks; i++) {
      const task = family.sample(TEST_SEED + args.seed * 1000 + i);
      try {
        runs.push({ arm: 'GD', task: i, ...gdRun(task, gdLr, args.steps) });
        progress.update(runs.length, { epoch: i + 1 });
        for (const { learn, mt } of teleporters) {
          const r = mt.run(task, { steps: args.steps });
          runs.push({ arm: ARM_NAMES[learn], task: i, losses: r.losses, ms: r.ms, maxTeleportDrift: mt.teleports ? r.maxTeleportDrift : undefined });
          progress.update(runs.length, { epoch: i + 1 });
          if (mt.teleports) {
            const off = mt.run(task, { steps: args.steps, teleport: false });
            runs.push({ arm: `${ARM_NAMES[learn]} (tele off)`, task: i, losses: off.losses, ms: off.ms });
            progress.update(runs.length, { epoch: i + 1 });
          }
          if (learn === 'teleport') {
            // The hand-made teleport at the same step size: the core's gl-data gradient-norm ascent before step 0.
            const hand = await gdWithTeleports(task, mt.baseLr, args.steps, [0], HAND_TELEPORT);
            runs.push({ arm: HAND_ARM, task: i, losses: hand.losses, ms: hand.ms, maxTeleportDrift: Math.max(0, ...hand.drift) });
            progress.update(runs.length, { epoch: i + 1 });
          }
        }
      } finally {
        task.dispose();
      }
    }
    progress.stop();
  } finally {
    for (const t of teleporters) t.mt.dispose();
  }
  const trainingInfo = JSON.parse(readFileSync(recordPath, 'utf8')) as {
    baseLr: number;
    config: { hidden: number };
    teleporters: Array<{ learn: string; report: tpMeta.MetaTrainReport; baseLr?: number; hidden?: number; architecture?: string }>;
  };
  const setting = {
    family: record.config.family,
    tasks: args.tasks,
    steps: args.steps,
    gdLr,
    backend,
    teleporters: trainingInfo.teleporters.map(t => ({
      learn: t.learn,
      trajectories: t.report.trajectoriesUsed,
      hidden: t.hidden ?? trainingInfo.config.hidden,
      baseLr: t.baseLr ?? trainingInfo.baseLr,
      architecture: t.architecture ?? 'full',
      keptStart: !(t.report.bestValidation < t.report.initialValidation),
    })),
  };
  // Arms that run GD at their own fixed step (GD + LSTM(tele) and its hand-made twin) say so: they are not at GD's.
  const ownSteps = [...new Set(setting.teleporters.filter(t => t.learn === 'teleport').map(t => t.baseLr))];
  const teleNote = ownSteps.length ? `; GD + … arms at ${ownSteps.join(', ')}` : '';
  const subtitle = `${args.tasks} unseen tasks, ${record.config.family}; GD at ${gdLr}${teleNote}; dashed: teleports switched off`;
  const files = await writeAllOrNothing(outDir, async dir => {
    const csv = ['arm,task,step,loss,ms', ...runs.flatMap(r => r.losses.map((l, s) => `${r.arm},${r.task},${s},${l},${r.ms[s].toFixed(2)}`))].join('\n');
    writeFileSync(join(dir, 'runs.csv'), `${csv}\n`);
    writeFileSync(join(dir, 'runs.json'), JSON.stringify({ setting, runs }, null, 1));
    writeFileSync(join(dir, 'summary.md'), metaSummary(runs, setting));
    await writeChart(join(dir, 'loss_vs_step'), await lossChart(runs, 'step', subtitle));
    await writeChart(join(dir, 'loss_vs_time'), await lossChart(runs, 'seconds', subtitle));
    return ['runs.csv', 'runs.json', 'summary.md', 'loss_vs_step.png', 'loss_vs_step.svg', 'loss_vs_time.png', 'loss_vs_time.svg'].map(f => join(dir, f));
  });
  progress.log(`wrote ${files.length} files to ${outDir} (summary: ${join(outDir, 'summary.md')})`);
}

export function registerMeta(y: Argv) {
  return registerMetaDiagnose(y)
    .command(
      'meta-train',
      "Learning to teleport (§5.5, Algorithm 3): meta-train LSTM teleporters (update; lr + teleport; update + teleport) on the dissertation's 20×20 two-layer regression tasks",
      yy =>
        yy
          .option('family', {
            choices: FAMILIES,
            default: 'twoLayerRegression' as FamilyName,
            describe: 'task family (multiLayerRegression: three 20×20 layers)',
          })
          .option('learn', {
            type: 'string',
            default: LEARN.join(','),
            describe: `comma list of what to learn: ${LEARN.join(', ')} (teleport: GD at a fixed step size + learned teleports, the clean ablation)`,
          })
          .option('hidden', { type: 'number', default: 32, describe: 'LSTM hidden size (the paper: 300)' })
          .option('trajectories', { type: 'number', default: 40, describe: 'training trajectories per teleporter (the paper: 700 / 600 / 30)' })
          .option('steps', { type: 'number', default: 30, describe: 'steps per trajectory (the paper: 100)' })
          .option('unroll', { type: 'number', default: 10, describe: 'truncated BPTT: update every this many steps (the paper: 10)' })
          .option('lr', { type: 'number', default: 1e-2, describe: 'Adam learning rate of m1 (the paper: 1e-4); halved at every rollback' })
          .option('teleport-lr', { type: 'number', describe: 'Adam learning rate of m2 (default --lr; the paper: 1e-3)' })
          .option('clip', { type: 'number', default: 1, describe: 'clip the meta-gradient to this global norm' })
          .option('validation', { type: 'number', default: 5, describe: 'validation trajectories (early stopping keeps the best weights)' })
          .option('validation-steps', { type: 'number', describe: 'steps of each validation run (default 2 × --steps: past the training horizon)' })
          .option('patience', { type: 'number', default: 10, describe: 'validations without improvement before stopping' })
          .option('base-lr', { type: 'number', describe: "η₀, the teleporters' starting step size (default: GD's largest stable one, searched)" })
          .option('tele-fraction', {
            type: 'number',
            default: 0.5,
            describe: "learn teleport: GD's fixed step size as a fraction of its largest stable one (at the edge no teleport helps: see meta-diagnose)",
          })
          .option('tele-hidden', { type: 'number', default: 16, describe: 'learn teleport: hidden size of its coordinate-wise m2' })
          .option('tele-lr', { type: 'number', default: 3e-4, describe: 'learn teleport: Adam learning rate of its m2' })
          .option('tele-budget', {
            type: 'number',
            default: 0.3,
            describe:
              'learn teleport: budget Σ‖θ_t‖_F over a trajectory (Infinity: none; without one its teleports compound and run off the edge past the horizon)',
          })
          .option('tele-trajectories', { type: 'number', default: 12, describe: 'learn teleport: training trajectories (it learns within a few)' })
          .option('seed', { type: 'number', default: 1, describe: 'seed of tasks and weights' })
          .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/meta-train-<time>)' })
          .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
          .option('backend', backendOption),
      async argv => {
        await runMetaTrain(argv as unknown as MetaTrainArgs);
      },
    )
    .command(
      'meta-test',
      'Fig. 5.12: GD at its largest stable step size and the trained teleporters (with and without teleports) on unseen tasks: loss vs step and time, steps to 10 % / 1 % of L₀',
      yy =>
        yy
          .option('models', { type: 'string', demandOption: true, describe: 'the output folder of meta-train' })
          .option('tasks', { type: 'number', default: 5, describe: 'unseen test tasks (the paper: 5)' })
          .option('steps', { type: 'number', default: 30, describe: 'steps per task' })
          .option('gd-lr', { type: 'number', describe: 'GD step size (default: the one meta-train found)' })
          .option('seed', { type: 'number', default: 1, describe: 'seed of the test tasks' })
          .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/meta-test-<time>)' })
          .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
          .option('backend', backendOption),
      async argv => {
        await runMetaTest(argv as unknown as MetaTestArgs);
      },
    );
}
