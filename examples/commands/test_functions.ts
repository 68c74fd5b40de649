import type { Argv } from 'yargs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import { rosenbrock, booth, type TestFunction } from '../../src/problems/test_functions.js';
import { so2 } from '../../src/groups/so2.js';
import { renderChart, trajectoryChart, writeChart, convergenceChart } from '../report/charts.js';
import type { RunRecord } from '../report/types.js';
import { backendOption, defaultOut, parseChoiceList, useBackend } from './common.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';

interface Setting {
  fn: TestFunction;
  start: [number, number];
  lr: number;
  steps: number;
  teleportAt: number[];
  ascentSteps: number;
  ascentLr: number;
  xRange: [number, number];
  yRange: [number, number];
}

/** Dissertation §4.6.1: Rosenbrock and Booth with plain gradient descent and SO(2) teleports. */
const SETTINGS: Record<string, Setting> = {
  rosenbrock: {
    fn: rosenbrock,
    start: [-1, -1],
    lr: 1e-3,
    steps: 1000,
    teleportAt: [100, 200, 300, 400, 500, 600, 700, 800, 900],
    ascentSteps: 10,
    ascentLr: 0.1,
    xRange: [-1.6, 1.6],
    yRange: [-1.5, 2.6],
  },
  booth: { fn: booth, start: [5, -5], lr: 0.08, steps: 10, teleportAt: [4], ascentSteps: 10, ascentLr: 0.001, xRange: [-6, 8], yRange: [-6, 8] },
};

interface Trace {
  points: Array<[number, number]>;
  teleportIndices: number[];
  losses: number[];
  gradNormSq: number[];
  teleports: tp.TeleportReport[];
}

/** Gradient descent from `start`; with `teleport`, an SO(2) teleport before each scheduled step (Algorithm 1). */
async function descend(s: Setting, teleport: boolean, seed: number, maxGrowth: number): Promise<Trace> {
  const x = tf.variable(tf.tensor1d(s.start));
  const trace: Trace = { points: [[s.start[0], s.start[1]]], teleportIndices: [], losses: [], gradNormSq: [], teleports: [] };
  const optimizer = tf.train.sgd(s.lr);
  const loss = ([p]: tf.Tensor[]) => s.fn.loss(p as tf.Tensor1D);
  const lossAndGrad = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => s.fn.loss(x as tf.Tensor1D), [x]);
      return [value.dataSync()[0], tpAdvanced.gradNormSq(Object.values(grads)).dataSync()[0]];
    });
  const teleportSteps = new Set(teleport ? s.teleportAt : []);
  for (let step = 0; step < s.steps; step++) {
    if (teleportSteps.has(step)) {
      // Plain ascent on θ from a random angle in [0, π), as in the dissertation; the growth cap guards it.
      const report = await tp.teleport([x], loss, {
        group: so2(s.fn.bijection),
        steps: s.ascentSteps,
        lr: s.ascentLr,
        normalize: false,
        maxGrowth,
        seed: seed * 1000 + step,
      });
      trace.teleports.push({ ...report, step });
      if (report.accepted) {
        const v = x.dataSync();
        trace.points.push([v[0], v[1]]);
        trace.teleportIndices.push(trace.points.length - 1);
      }
    }
    const [l, g] = lossAndGrad();
    trace.losses.push(l);
    trace.gradNormSq.push(g);
    optimizer.minimize(() => s.fn.loss(x as tf.Tensor1D));
    const now = x.dataSync();
    trace.points.push([now[0], now[1]]);
  }
  const [l, g] = lossAndGrad();
  trace.losses.push(l);
  trace.gradNormSq.push(g);
  optimizer.dispose();
  x.dispose();
  return trace;
}

function asRun(name: string, variant: 'baseline' | 'teleport', t: Trace): RunRecord {
  return {
    optimizer: name,
    variant,
    seed: 0,
    label: `${name} GD${variant === 'teleport' ? ' + teleport' : ''}`,
    points: t.losses.map((l, i) => ({ epoch: i, step: i, seconds: i, trainLoss: l, gradNormSq: t.gradNormSq[i] })),
    teleports: t.teleports.map(r => ({
      epoch: r.step ?? 0,
      step: r.step ?? 0,
      seconds: r.step ?? 0,
      ms: r.ms,
      gradNormSqBefore: r.gradNormSqBefore,
      gradNormSqAfter: r.gradNormSqAfter,
      relativeLossDrift: r.relativeLossDrift,
      accepted: r.accepted,
    })),
    totalSeconds: t.losses.length,
    teleportSeconds: t.teleports.reduce((a, r) => a + r.ms / 1000, 0),
  };
}

type TestFunctionArgs = { functions: string; out?: string; seed: number; maxGrowth: number; backend?: string; quiet: boolean };

export async function runTestFunctions(args: TestFunctionArgs): Promise<string[]> {
  const log = (m: string) => !args.quiet && process.stderr.write(m + '\n');
  // All input checks first: a bad name or --out must not leave the outputs of the functions before it.
  const names = parseChoiceList('--functions', args.functions, Object.keys(SETTINGS));
  const outDir = args.out ?? defaultOut('test-functions');
  checkOutDir(outDir);
  await useBackend(args.backend, log);
  const files = await writeAllOrNothing(outDir, dir => writeTestFunctions(dir, names, args, log));
  log(`wrote ${files.length} files to ${outDir}`);
  return files;
}

/** Runs each function with and without teleports and writes its charts, JSON and summary into `outDir`. */
async function writeTestFunctions(outDir: string, names: string[], args: TestFunctionArgs, log: (m: string) => void): Promise<string[]> {
  const files: string[] = [];
  const summary: string[] = ['# Test functions: gradient descent with and without SO(2) teleports', ''];
  for (const name of names) {
    const s = SETTINGS[name];
    const plain = await descend(s, false, args.seed, args.maxGrowth);
    const tele = await descend(s, true, args.seed, args.maxGrowth);
    const traj = await trajectoryChart({
      loss: (a, b) => s.fn.lossAt([a, b]),
      xRange: s.xRange,
      yRange: s.yRange,
      paths: [
        { label: 'gradient descent', points: plain.points },
        { label: 'GD + teleport', points: tele.points, teleportIndices: tele.teleportIndices },
      ],
      target: s.fn.minimum as [number, number],
      title: `${name}: trajectories over loss level sets`,
      subtitle: `start (${s.start.join(', ')}), lr ${s.lr}, ${s.steps} steps; teleports at steps ${s.teleportAt.join(', ')}`,
      xTitle: 'x₁',
      yTitle: 'x₂',
    });
    await writeChart(join(outDir, `${name}_trajectory`), traj);
    const runs = [asRun(name, 'baseline', plain), asRun(name, 'teleport', tele)];
    for (const [y, title] of [
      ['trainLoss', 'loss'],
      ['gradNormSq', 'squared gradient norm'],
    ] as const) {
      const c = await convergenceChart(runs, { x: 'step', y, logY: true, title: `${name}: ${title} per step` });
      await writeChart(join(outDir, `${name}_${y === 'trainLoss' ? 'loss' : 'grad_norm'}`), c);
    }
    // Dissertation Fig. 4.4: gradient at equal loss values.
    const rows = [...runs.flatMap(r => r.points.map(p => ({ run: r.label, loss: p.trainLoss, gradNormSq: p.gradNormSq })))].filter(
      p => p.loss > 0 && p.gradNormSq! > 0,
    );
    const vsLoss = await renderChart({
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: { text: `${name}: squared gradient norm at equal loss`, subtitle: 'higher is better: a faster descent at the same loss' },
      width: 420,
      height: 300,
      background: 'white',
      data: { values: rows },
      mark: { type: 'line', point: rows.length < 120 },
      encoding: {
        x: { field: 'loss', type: 'quantitative', scale: { type: 'log', reverse: true }, title: 'loss (decreasing →)' },
        y: { field: 'gradNormSq', type: 'quantitative', scale: { type: 'log' }, title: '‖∇L‖²' },
        color: { field: 'run', type: 'nominal', title: null },
        order: { field: 'loss', sort: 'descending' },
      },
    } as never);
    await writeChart(join(outDir, `${name}_grad_vs_loss`), vsLoss);
    for (const f of ['trajectory', 'loss', 'grad_norm', 'grad_vs_loss']) files.push(join(outDir, `${name}_${f}.png`), join(outDir, `${name}_${f}.svg`));
    writeFileSync(join(outDir, `${name}.json`), JSON.stringify({ setting: { ...s, fn: name }, plain, teleport: tele }, null, 1));
    files.push(join(outDir, `${name}.json`));
    const fin = (t: Trace) => t.losses[t.losses.length - 1];
    // Rejections by kind: 'drift' (the guard), 'no-improvement' (no angle beat the current point), ...
    const counts = new Map<string, number>();
    for (const r of tele.teleports) if (!r.accepted) counts.set(r.rejection ?? 'other', (counts.get(r.rejection ?? 'other') ?? 0) + 1);
    const rejected = [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
    summary.push(
      `## ${name}`,
      '',
      `| run | final loss | teleports accepted | rejected (why) | max relative drift of accepted teleports |`,
      `|---|---|---|---|---|`,
      `| gradient descent | ${fin(plain).toPrecision(4)} | — | — | — |`,
      `| GD + SO(2) teleport | ${fin(tele).toPrecision(4)} | ${tele.teleports.filter(r => r.accepted).length}/${tele.teleports.length} | ${rejected || '—'} | ${Math.max(0, ...tele.teleports.filter(r => r.accepted).map(r => Math.abs(r.relativeLossDrift ?? 0))).toExponential(1)} |`,
      '',
    );
    log(`${name}: final loss GD ${fin(plain).toPrecision(4)}, GD + teleport ${fin(tele).toPrecision(4)}`);
  }
  writeFileSync(join(outDir, 'summary.md'), summary.join('\n'));
  files.push(join(outDir, 'summary.md'));
  return files;
}

export function registerTestFunctions(y: Argv) {
  return y.command(
    'test-functions',
    'Rosenbrock and Booth with gradient descent and SO(2) teleports: trajectories over level sets, loss and gradient curves (dissertation Fig. 4.3–4.4)',
    yy =>
      yy
        .option('functions', { type: 'string', default: 'rosenbrock,booth', describe: 'comma list of rosenbrock, booth' })
        .option('seed', { type: 'number', default: 1, describe: 'seed of the random initial angles' })
        .option('max-growth', { type: 'number', default: 1e6, describe: 'cap on the gradient-norm growth of one teleport' })
        .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/test-functions-<time>)' })
        .option('quiet', { type: 'boolean', default: false })
        .option('backend', backendOption),
    async argv => {
      await runTestFunctions(argv as never);
    },
  );
}
