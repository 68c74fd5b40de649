/**
 * `meta-diagnose`: before learning to teleport, does teleporting help gradient descent on the meta
 * family at all, and at which step sizes? GD with and without the core's data-dependent GL teleports
 * (tp.teleport, group 'gl-data', gradNorm ascent) at fractions of GD's largest stable step size; the
 * loss after 1 and 10 steps from g·w along the ascent direction; the best group element for the next
 * steps (Adam on θ); and a curvature-aware hand-made teleport (k-step lookahead direction).
 */
import type { Argv } from 'yargs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tpMeta from '../../src/meta.js';
import { createProgress } from '../train/progress.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';
import { meanStd } from '../report/stats.js';
import { backendOption, defaultOut, intAtLeast, parseNumberList, positiveNumber, useBackend, UsageError } from './common.js';
import { largestStableLr } from '../meta/arms.js';
import { bestTeleport, gdWithLookahead, gdWithTeleports, scanAscentDirection } from '../meta/diagnose.js';

/** Unseen tasks: the same seeds as meta-test's (TEST_SEED + seed·1000 + i). */
const TEST_SEED = 900_000_000;
const SCALES = [-0.2, -0.1, 0.05, 0.1, 0.2, 0.3, 0.5];

export interface MetaDiagnoseArgs {
  tasks: number;
  steps: number;
  fractions: string;
  maxGrowth: number;
  teleportAt: string;
  bestIterations: number;
  seed: number;
  out?: string;
  quiet: boolean;
  backend?: string;
}

const fmt = (v: number) => (!Number.isFinite(v) ? 'diverged' : Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(2));
const ms = (xs: number[]) => {
  if (!xs.every(Number.isFinite)) return `diverged on ${xs.filter(x => !Number.isFinite(x)).length}/${xs.length}`;
  const m = meanStd(xs);
  return `${fmt(m.mean)} ± ${fmt(m.std)}`;
};

export async function runMetaDiagnose(args: MetaDiagnoseArgs): Promise<void> {
  intAtLeast('--tasks', args.tasks, 2);
  intAtLeast('--steps', args.steps, 10);
  intAtLeast('--best-iterations', args.bestIterations);
  positiveNumber('--max-growth', args.maxGrowth);
  if (!(args.maxGrowth > 1)) throw new UsageError(`--max-growth must be above 1 (a cap on ‖∇L(g·w)‖² / ‖∇L(w)‖²), got ${args.maxGrowth}`);
  const fractions = parseNumberList('--fractions', args.fractions);
  if (fractions.length === 0 || fractions.some(f => !(f > 0 && f <= 1))) throw new UsageError(`--fractions: numbers in (0, 1], got '${args.fractions}'`);
  const teleportAt = parseNumberList('--teleport-at', args.teleportAt);
  if (teleportAt.length === 0 || teleportAt.some(s => !Number.isInteger(s) || s < 0 || s >= args.steps))
    throw new UsageError(`--teleport-at: steps in 0..${args.steps - 1}, got '${args.teleportAt}'`);
  const outDir = args.out ?? defaultOut('meta-diagnose');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  const backend = await useBackend(args.backend, m => progress.log(m));
  const family = tpMeta.resolveFamily('twoLayerRegression');
  const t0 = performance.now();

  const searchTasks = Array.from({ length: 5 }, (_, i) => family.sample(args.seed * 1_000_000 + 500_000 + i));
  const { lr: edge } = largestStableLr(searchTasks, args.steps);
  for (const t of searchTasks) t.dispose();
  progress.log(`GD: largest stable step size over ${args.steps} steps on 5 training tasks: ${edge}`);

  const tasks = Array.from({ length: args.tasks }, (_, i) => family.sample(TEST_SEED + args.seed * 1000 + i));
  const tele = { steps: 10, lr: 0.1, maxGrowth: args.maxGrowth };
  const schedules: number[][] = [[teleportAt[0]], teleportAt].filter((s, i) => i === 0 || s.length > 1);
  const record: Record<string, unknown> = { edge, backend, args };
  const lines: string[] = [
    '# Does teleporting help gradient descent on the meta family?',
    '',
    `twoLayerRegression (W₁, W₂, X, Y ∈ R^{20×20}, LeakyReLU 0.1), ${args.tasks} unseen tasks (meta-test's seeds), ${args.steps} GD steps, backend ${backend}. ` +
      `GD's largest stable step size η* = ${edge} (grid ×10^¼ on 5 training tasks over ${args.steps} steps). ` +
      `Hand-made teleport: the core's \`tp.teleport(model, {x, y}, { group: 'gl-data', steps: 10, lr: 0.1, maxGrowth: ${args.maxGrowth} })\` (gradient-norm ascent, exact on X) on the task as a tfjs-layers model.`,
    '',
    '## 1. GD with and without hand-made (gradient-norm ascent) teleports',
    '',
    `Final loss after ${args.steps} steps, mean ± std over tasks; "ratio" is the per-task final loss with teleports over without (below 1: the teleports helped), wins = tasks where it is below 1.`,
    '',
    '| step size | teleports before steps | final loss | ratio to no teleport (mean ± std) | wins | growth of ‖∇L‖² per teleport |',
    '|---|---|---|---|---|---|',
  ];
  const gdTable: unknown[] = [];
  const total = fractions.length * (1 + schedules.length) * args.tasks;
  progress.start(total, 'GD ± teleports'.padEnd(20));
  let done = 0;
  for (const frac of fractions) {
    const lr = Number((edge * frac).toPrecision(3));
    const none: number[] = [];
    for (const task of tasks) {
      none.push((await gdWithTeleports(task, lr, args.steps, [], tele)).losses.at(-1) ?? Number.NaN);
      progress.update(++done, {});
    }
    const steps = (l: number[]) => (l.length === args.steps + 1 ? (l.at(-1) as number) : Number.POSITIVE_INFINITY);
    lines.push(`| ${frac} η* = ${lr} | none | ${ms(none)} | 1 | — | — |`);
    gdTable.push({ lr, fraction: frac, teleportAt: [], finals: none });
    for (const at of schedules) {
      const finals: number[] = [];
      const growth: number[] = [];
      for (const task of tasks) {
        const r = await gdWithTeleports(task, lr, args.steps, at, tele);
        finals.push(steps(r.losses));
        growth.push(...r.growth);
        progress.update(++done, {});
      }
      const ratios = finals.map((f, i) => f / none[i]);
      const g = meanStd(growth);
      lines.push(
        `| ${frac} η* | ${at.join(', ')} | ${ms(finals)} | ${ms(ratios)} | ${ratios.filter(r => r < 1).length}/${tasks.length} | ${g.mean.toFixed(2)} |`,
      );
      gdTable.push({ lr, fraction: frac, teleportAt: at, finals, growth });
    }
  }
  progress.stop();
  record.gd = gdTable;

  lines.push(
    '',
    '## 2. One teleport at the start, along the ascent direction',
    '',
    'D = ∂‖∇L(exp(θ)·w₀)‖²/∂θ at θ = 0 (the direction the gradient-norm ascent starts in); g = exp(s·D/‖D‖), s = ‖θ‖_F (s < 0: descending ‖∇L‖²). ' +
      'Columns: growth ‖∇L(g·w₀)‖²/‖∇L(w₀)‖², and the loss after 1 and after 10 GD steps from g·w₀ over the same from w₀ (mean over tasks; below 1: the teleport helped).',
    '',
    `| step size | ${SCALES.map(s => `s = ${s}`).join(' | ')} |`,
    `|---|${SCALES.map(() => '---').join('|')}|`,
  );
  const scanTable: unknown[] = [];
  for (const frac of fractions) {
    const lr = Number((edge * frac).toPrecision(3));
    const per = tasks.map(task => scanAscentDirection(task, task.params, lr, SCALES, [1, 10]));
    const cell = (j: number) => {
      const growth = meanStd(per.map(p => p[j].growth)).mean;
      const r1 = per.map(p => p[j].ratio[0]);
      const r10 = per.map(p => p[j].ratio[1]);
      const show = (xs: number[]) => (xs.every(Number.isFinite) ? meanStd(xs).mean.toFixed(2) : 'div.');
      return `×${growth.toFixed(2)}: ${show(r1)} / ${show(r10)}`;
    };
    lines.push(`| ${frac} η* | ${SCALES.map((_, j) => cell(j)).join(' | ')} |`);
    scanTable.push({ lr, fraction: frac, scan: per });
  }
  record.scan = scanTable;

  lines.push(
    '',
    '## 3. The best group element for the next steps, and a curvature-aware hand-made teleport',
    '',
    `Best: ${args.bestIterations} Adam steps on θ (‖θ‖_F < 0.5, the meta-teleporter's magnitude normalization) minimizing the loss after k GD steps from exp(θ)·w₀, as a ratio to k steps from w₀: ` +
      `what a learned m2 trained on a k-step window could at most get from one teleport. Lookahead: teleports before steps ${teleportAt.join(', ')} along −∂ log L(10 GD steps from exp(θ)·w)/∂θ, ` +
      `s = ‖θ‖ from {0.05, 0.1, 0.2, 0.3, 0.5} (or none) by the same 10-step lookahead; final loss after ${args.steps} steps over GD's.`,
    '',
    `| step size | best θ, k = 1 | best θ, k = 10 | lookahead teleports: final loss ratio | wins |`,
    '|---|---|---|---|---|',
  );
  const bestTable: unknown[] = [];
  for (const frac of fractions) {
    const lr = Number((edge * frac).toPrecision(3));
    const b1 = tasks.map(task => bestTeleport(task, task.params, lr, 1, 0.5, args.bestIterations).ratio);
    const b10 = tasks.map(task => bestTeleport(task, task.params, lr, 10, 0.5, args.bestIterations).ratio);
    const look: number[] = [];
    for (const task of tasks) {
      const base = (await gdWithTeleports(task, lr, args.steps, [], tele)).losses.at(-1) as number;
      const l = gdWithLookahead(task, lr, args.steps, teleportAt, 10, [0.05, 0.1, 0.2, 0.3, 0.5]).losses;
      look.push(l.length === args.steps + 1 ? (l.at(-1) as number) / base : Number.POSITIVE_INFINITY);
    }
    lines.push(`| ${frac} η* | ${ms(b1)} | ${ms(b10)} | ${ms(look)} | ${look.filter(r => r < 1).length}/${tasks.length} |`);
    bestTable.push({ lr, fraction: frac, best1: b1, best10: b10, lookahead: look });
  }
  record.best = bestTable;
  for (const t of tasks) t.dispose();
  lines.push('', `Took ${((performance.now() - t0) / 1000).toFixed(0)} s.`, '');

  const files = await writeAllOrNothing(outDir, async dir => {
    writeFileSync(join(dir, 'diagnosis.json'), JSON.stringify(record, null, 1));
    writeFileSync(join(dir, 'summary.md'), lines.join('\n'));
    return [join(dir, 'diagnosis.json'), join(dir, 'summary.md')];
  });
  progress.log(`wrote ${files.length} files to ${outDir} (summary: ${join(outDir, 'summary.md')})`);
}

export function registerMetaDiagnose(y: Argv) {
  return y.command(
    'meta-diagnose',
    "Before learning to teleport: does the core's gradient-norm teleport help GD on the meta family, at which step sizes, and what is the best a group element can do for the next steps?",
    yy =>
      yy
        .option('tasks', { type: 'number', default: 5, describe: 'unseen tasks (the seeds meta-test uses)' })
        .option('steps', { type: 'number', default: 40, describe: 'GD steps per run' })
        .option('fractions', { type: 'string', default: '1,0.5,0.25', describe: "step sizes, as fractions of GD's largest stable one" })
        .option('max-growth', { type: 'number', default: 2, describe: "the hand-made teleport's cap on ‖∇L(g·w)‖² / ‖∇L(w)‖²" })
        .option('teleport-at', { type: 'string', default: '0,5', describe: 'teleport before these steps (the first alone, then all)' })
        .option('best-iterations', { type: 'number', default: 60, describe: 'Adam steps on θ for the best group element' })
        .option('seed', { type: 'number', default: 1, describe: 'seed of the tasks' })
        .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/meta-diagnose-<time>)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
        .option('backend', backendOption),
    async argv => {
      await runMetaDiagnose(argv as unknown as MetaDiagnoseArgs);
    },
  );
}
