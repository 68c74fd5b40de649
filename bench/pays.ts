/**
 * `npm run bench -- --only pays`: where do teleports pay? A matrix of models × data × optimizers ×
 * learning rates (η* from a search on tuning seeds, and η* ÷ 4), each cell on held-out seeds, with the
 * arms baseline, reset-only control, today's default teleports, 'lookahead' teleports and
 * schedule 'auto', interleaved step by step (bench/pays_matrix.ts). Writes the table to
 * bench/results/pays.md and a heatmap of the speedup in seconds to bench/results/pays_speedup.png.
 *
 * Env overrides pick a subset (the page states what ran): PAYS_MODELS=mlp16,mlp512,cnn,
 * PAYS_DATASETS=mnist,fashion, PAYS_OPTIMIZERS=sgd,adam, PAYS_STEPS=400 PAYS_GLDATA=0|1, PAYS_SEEDS=5 or 6-10,
 * PAYS_TELEPORT_OPTIONS='{"growthRecoverySteps":2000}' (extra options of every teleporting arm).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadFashionMnist, loadMnist } from '../examples/data/mnist.js';
import { toTensors, type Dataset } from '../examples/data/dataset.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../examples/train/runner.js';
import { buildMlp } from '../examples/train/models.js';
import { cnnSpec, mlpSpec, type ModelSpec } from './models.js';
import { collectWarnings, fmt, RESULTS_DIR, resultHeader, type BenchContext, type BenchResult, type TargetResult } from './common.js';
import { ARMS, lossOn, runCellSeed, type ArmName, type CellSpec, type Split } from './pays_matrix.js';
import { cellStats, endsWorse, type CellResult } from './pays_stats.js';
import { paysBody, paysTargets, writePaysChart } from './pays_report.js';
import { measureGlDataEvent } from './pays_gldata.js';
import type { BenchOutput } from './types.js';
import { DATASET_KEYS, MODEL_KEYS, type DatasetKey, type ModelKey, type PaysPlan, type PaysResult } from './pays_types.js';

export { DATASET_KEYS, MODEL_KEYS, type DatasetKey, type ModelKey, type PaysPlan, type PaysResult } from './pays_types.js';

/** The 784-16-10-10 MLP of dissertation §5.4.2, the 784-512-512-10 MLP of Fig. 4.6 (both leakyRelu 0.1), the bench CNN. */
export const MODELS: Record<ModelKey, () => ModelSpec> = {
  mlp16: () => {
    const spec = mlpSpec(16, 'leakyRelu');
    return { ...spec, label: 'MLP 784-16-10-10 leakyRelu', build: seed => buildNarrow(seed) };
  },
  mlp512: () => mlpSpec(512, 'leakyRelu'),
  cnn: () => cnnSpec(),
};

const buildNarrow = (seed: number) => buildMlp({ inputSize: 784, widths: [16, 10], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed });

/** Learning-rate grids: half-decades around the usual rates of each optimizer (fixed before any run). */
export const LR_GRID: Record<OptimizerName, number[]> = {
  sgd: [0.01, 0.03, 0.1, 0.3],
  momentum: [0.003, 0.01, 0.03, 0.1],
  adagrad: [0.01, 0.03, 0.1, 0.3],
  rmsprop: [0.0003, 0.001, 0.003, 0.01],
  adam: [0.0003, 0.001, 0.003, 0.01],
};

const list = <T extends string>(env: string | undefined, allowed: readonly T[], fallback: T[]): T[] => {
  if (env == null || env.trim() === '') return fallback;
  const xs = env.split(',').map(s => s.trim()) as T[];
  const bad = xs.filter(x => !allowed.includes(x));
  if (bad.length) throw new Error(`pays: unknown ${bad.join(', ')}; choose from ${allowed.join(', ')}`);
  return xs;
};

/**
 * Held-out seeds: PAYS_SEEDS=n for 1…n (default 3), or a range `a-b` (e.g. 6-10, seeds a fresh run
 * has never seen). Never the tuning seed 101.
 */
function seedsOf(env: string | undefined): number[] {
  if (env == null || env.trim() === '') return [1, 2, 3];
  const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(env);
  const [from, to] = range ? [Number(range[1]), Number(range[2])] : [1, Number(env)];
  if (!Number.isInteger(to) || to - from < 1 || to - from > 99 || from < 1)
    throw new Error(`pays: PAYS_SEEDS=${env}: give a whole number of seeds from 2 to 100, or a range such as 6-10 (an interval needs 2)`);
  const seeds = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  if (seeds.includes(101)) throw new Error(`pays: PAYS_SEEDS=${env} includes the tuning seed 101: pick held-out seeds`);
  return seeds;
}

/** The full plan (about an hour on 2 free cores), the quick one (a minute or two), with env overrides. */
export function paysPlan(quick: boolean, env: Record<string, string | undefined> = process.env): PaysPlan {
  const stepsOverride = env.PAYS_STEPS != null ? Number(env.PAYS_STEPS) : null;
  const steps = (n: number) => (stepsOverride != null && stepsOverride > 0 ? stepsOverride : n);
  const grid = quick ? (Object.fromEntries(OPTIMIZER_NAMES.map(o => [o, LR_GRID[o].slice(1, 4)])) as Record<OptimizerName, number[]>) : LR_GRID;
  return {
    models: list(env.PAYS_MODELS, MODEL_KEYS, quick ? ['mlp16'] : [...MODEL_KEYS]),
    datasets: list(env.PAYS_DATASETS, DATASET_KEYS, [...DATASET_KEYS]),
    optimizers: list(env.PAYS_OPTIMIZERS, OPTIMIZER_NAMES, quick ? ['sgd', 'adam'] : [...OPTIMIZER_NAMES]),
    arms: ARMS,
    seeds: seedsOf(env.PAYS_SEEDS),
    ...(env.PAYS_TELEPORT_OPTIONS ? { teleportOptions: JSON.parse(env.PAYS_TELEPORT_OPTIONS) as Record<string, unknown> } : {}),
    tuneSeeds: [101],
    lrGrid: grid,
    trainCount: quick ? 2000 : 8000,
    testCount: quick ? 500 : 1000,
    evalCount: quick ? 500 : 1000,
    batchSize: 20,
    steps: quick ? { mlp16: steps(300), mlp512: steps(150), cnn: steps(150) } : { mlp16: steps(800), mlp512: steps(300), cnn: steps(300) },
    evalEvery: quick ? 25 : 20,
    teleportEvery: 50,
    teleportBatchSize: 40,
    glDataReps: env.PAYS_GLDATA != null ? (env.PAYS_GLDATA === '0' ? 0 : Number(env.PAYS_GLDATA)) : quick ? 0 : 3,
  };
}

interface LoadedData {
  key: DatasetKey;
  name: string;
  flat: { train: Split; test: Split };
  image: { train: Split; test: Split };
}

async function loadData(key: DatasetKey, plan: PaysPlan): Promise<LoadedData> {
  const limits = { trainLimit: plan.trainCount, testLimit: plan.testCount };
  // The embedded digits as the examples load them (seed 0 split), or Debian's Fashion-MNIST files.
  const ds: Dataset = key === 'mnist' ? await loadMnist(limits) : await loadFashionMnist(limits);
  return {
    key,
    name: ds.name,
    flat: { train: toTensors(ds.train, { flatten: true }), test: toTensors(ds.test, { flatten: true }) },
    image: { train: toTensors(ds.train), test: toTensors(ds.test) },
  };
}

const disposeData = (d: LoadedData) =>
  tf.dispose([d.flat.train.x, d.flat.train.y, d.flat.test.x, d.flat.test.y, d.image.train.x, d.image.train.y, d.image.test.x, d.image.test.y]);

function cellSpec(plan: PaysPlan, model: ModelSpec, key: ModelKey, data: LoadedData, optimizer: OptimizerName, lr: number, arms: readonly ArmName[]): CellSpec {
  const split = model.kind === 'mlp' ? data.flat : data.image;
  const evalTrain = {
    x: tf.slice(split.train.x, 0, Math.min(plan.evalCount, split.train.x.shape[0])),
    y: tf.slice(split.train.y, 0, Math.min(plan.evalCount, split.train.y.shape[0])),
  };
  return {
    build: seed => model.build(seed),
    optimizer,
    lr,
    arms,
    train: split.train,
    evalTrain,
    test: split.test,
    batchSize: plan.batchSize,
    steps: plan.steps[key],
    evalEvery: plan.evalEvery,
    teleportEvery: plan.teleportEvery,
    teleportBatchSize: plan.teleportBatchSize,
    teleportOptions: plan.teleportOptions,
  };
}

/** Extensions of the grid past an edge before η* is reported as "edge of the grid". */
export const GRID_EXTENSIONS = 2;

/**
 * The next learning rate past an edge of a grid, continuing its spacing (the grids alternate ×3.3
 * and ×3: 0.3 → 1, 0.01 → 0.003).
 */
export function beyondEdge(grid: readonly number[], side: 'up' | 'down'): number {
  const ratio = side === 'up' ? grid[grid.length - 2] / grid[grid.length - 3] : grid[2] / grid[1];
  const lr = side === 'up' ? grid[grid.length - 1] * ratio : grid[0] / ratio;
  return Number(lr.toPrecision(2));
}

/**
 * η*: the grid's learning rate with the lowest mean final train loss of the baseline on the tuning
 * seeds. When the best rate sits at an edge the grid is extended past it (up to
 * {@link GRID_EXTENSIONS} times, same spacing), so η* is an interior optimum where the budget allows;
 * `edge` says when it is still at an edge.
 */
function tune(
  plan: PaysPlan,
  model: ModelSpec,
  key: ModelKey,
  data: LoadedData,
  optimizer: OptimizerName,
): { scores: Array<{ lr: number; loss: number }>; best: number; edge: boolean } {
  const score = (lr: number) => {
    const spec = cellSpec(plan, model, key, data, optimizer, lr, ['baseline']);
    try {
      const losses = plan.tuneSeeds.map(seed => runCellSeed(spec, seed)[0].finalTrain);
      const loss = losses.reduce((a, b) => a + (Number.isFinite(b) ? b : Infinity), 0) / losses.length;
      return { lr, loss };
    } finally {
      tf.dispose([spec.evalTrain.x, spec.evalTrain.y]);
    }
  };
  const scores = plan.lrGrid[optimizer].map(score);
  const bestOf = () => scores.reduce((a, b) => (b.loss < a.loss ? b : a)).lr;
  const grid = () => scores.map(s => s.lr).sort((a, b) => a - b);
  for (let i = 0; i < GRID_EXTENSIONS && grid().length >= 3; i++) {
    const g = grid();
    const best = bestOf();
    if (best === g[g.length - 1]) scores.push(score(beyondEdge(g, 'up')));
    else if (best === g[0]) scores.push(score(beyondEdge(g, 'down')));
    else break;
  }
  scores.sort((a, b) => a.lr - b.lr);
  const best = bestOf();
  const g = grid();
  return { scores, best, edge: best === g[0] || best === g[g.length - 1] };
}

/** Runs the whole matrix of a plan. */
export async function runPaysMatrix(plan: PaysPlan, log: (m: string) => void): Promise<PaysResult> {
  const result: PaysResult = { plan, cells: [], tuning: [], skipped: [], glData: null };
  for (const dkey of plan.datasets) {
    let data: LoadedData;
    try {
      data = await loadData(dkey, plan);
    } catch (err) {
      const msg = `${dkey}: skipped: ${err instanceof Error ? err.message : String(err)}`;
      result.skipped.push(msg);
      log(`pays: ${msg}`);
      continue;
    }
    try {
      for (const mkey of plan.models) {
        const model = MODELS[mkey]();
        for (const optimizer of plan.optimizers) {
          const t = tune(plan, model, mkey, data, optimizer);
          result.tuning.push({ model: mkey, dataset: dkey, optimizer, ...t });
          log(
            `pays: ${mkey} ${dkey} ${optimizer}: η* = ${t.best}${t.edge ? ' (edge of the grid)' : ''} (${t.scores.map(s => `${s.lr}: ${fmt(s.loss)}`).join(', ')})`,
          );
          for (const [lrLevel, lr] of [
            ['η*', t.best],
            ['η*/4', t.best / 4],
          ] as const) {
            const spec = cellSpec(plan, model, mkey, data, optimizer, lr, plan.arms);
            // Unavailable arms are said once per cell, not once per seed.
            const runs = plan.seeds.flatMap((seed, i) =>
              runCellSeed(spec, seed, m => (i === 0 ? log(`pays: ${mkey} ${dkey} ${optimizer} ${lrLevel}: ${m}`) : undefined)),
            );
            tf.dispose([spec.evalTrain.x, spec.evalTrain.y]);
            const cellName = `${mkey} ${dkey} ${optimizer} ${lrLevel}`;
            const { l0, stats } = cellStats(runs, plan.arms);
            const cell: CellResult = { modelKey: mkey, datasetKey: dkey, model: model.label, dataset: data.name, optimizer, lrLevel, lr, l0, runs, stats };
            result.cells.push(cell);
            log(
              `pays: ${cellName} (lr ${fmt(lr)}): ${stats
                .map(s => (s.unavailable ? `${s.arm} unavailable` : `${s.arm} ${fmt(s.finalTrain.mean)}${endsWorse(runs, s.arm).worse ? ' (worse)' : ''}`))
                .join(', ')}`,
            );
          }
        }
      }
    } finally {
      disposeData(data);
    }
  }
  if (plan.glDataReps > 0) {
    log('pays: timing the gl-data event of Fig. 4.6');
    result.glData = await measureGlDataEvent({ reps: plan.glDataReps });
    log(`pays: gl-data event ${fmt(result.glData.eventMs)} ms = ${fmt(100 * result.glData.shareOfEpoch)} % of an epoch`);
  }
  return result;
}

/** The bench entry: runs the plan, writes the heatmap next to the results page. */
export async function runPays(ctx: BenchContext): Promise<BenchOutput> {
  const plan = paysPlan(ctx.quick);
  const { value: result, warnings } = await collectWarnings(() => runPaysMatrix(plan, ctx.log));
  const chart = await writePaysChart(result, join(RESULTS_DIR, 'pays_speedup'));
  const targets: TargetResult[] = paysTargets(result);
  return {
    title: 'Where teleports pay: models × data × optimizers × learning rates, five arms, held-out seeds',
    headline: headlineOf(result, targets),
    targets,
    data: { ...result, env: paysEnv() },
    body: paysBody(result, { chart: chart ? 'pays_speedup.png' : null, warnings, backend: ctx.backend.note, env: paysEnv() }),
  };
}

/** The PAYS_ variables that chose this run's subset. */
function paysEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('PAYS_') && e[1] != null));
}

function headlineOf(r: PaysResult, targets: TargetResult[]): string[] {
  const lines = [
    `${r.cells.length} cells ran (${r.plan.models.join(', ')} × ${r.plan.datasets.join(', ')} × ${r.plan.optimizers.join(', ')} × η*, η*/4) on seeds ${r.plan.seeds.join(', ')}.`,
  ];
  for (const s of r.skipped) lines.push(`Skipped: ${s}`);
  for (const t of targets) lines.push(`${t.met ? 'Met' : 'Missed'}: ${t.name}: ${t.measured}.`);
  return lines;
}

/**
 * Rewrites bench/results/pays.md (and the heatmap) from bench/results/pays.json after a change to the
 * page: `npx tsx bench/pays.ts --rewrite [dir]`. Nothing is rerun: the saved runs are re-tabulated.
 */
export async function rewritePaysPage(dir = RESULTS_DIR): Promise<string> {
  // writeResult stores non-finite numbers as strings.
  const revive = (_k: string, v: unknown) => (v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === 'NaN' ? NaN : v);
  const saved = JSON.parse(readFileSync(join(dir, 'pays.json'), 'utf8'), revive) as BenchResult;
  const result = saved.data as PaysResult & { env?: Record<string, string> };
  for (const c of result.cells) Object.assign(c, cellStats(c.runs, result.plan.arms));
  const chart = await writePaysChart(result, join(dir, 'pays_speedup'));
  const targets = paysTargets(result);
  const page: BenchResult = { ...saved, targets, headline: headlineOf(result, targets) };
  const body = paysBody(result, { chart: chart ? 'pays_speedup.png' : null, warnings: [], backend: saved.backend.note, env: result.env ?? {} });
  writeFileSync(join(dir, 'pays.json'), `${JSON.stringify(page, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2)}\n`);
  const md = join(dir, 'pays.md');
  writeFileSync(md, `${resultHeader(page)}\n${body}\n`);
  return md;
}

if (process.argv[1]?.endsWith('pays.ts') && process.argv.includes('--rewrite')) {
  const dir = process.argv[process.argv.indexOf('--rewrite') + 1];
  rewritePaysPage(dir ?? RESULTS_DIR).then(p => console.log(`rewrote ${p}`));
}

export { lossOn };
