/**
 * Benchmark: scheduled teleports never turn a converging run into a diverging one (issue "Teleports
 * that never hurt", §2). 8-16-16-4 MLPs on a fixed synthetic regression task (MSE, minibatches of
 * 32), the five optimizers × rescale / gl / gl-data × every ∈ {10, 50, 200}, three arms each: the
 * bare optimizer, the teleporting one with the default growth budget (maxTotalGrowth 4) and with no
 * budget (maxTotalGrowth: Infinity, every teleport may use the full maxGrowth, the old behaviour);
 * plus the issue's stress cases.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tp from '../src/index.js';
import { disposeOptimizer } from '../src/optimizers/inner_state.js';
import { collectWarnings, fmt, fmtRatio, seededUniform, table, type BenchContext, type TargetResult } from './common.js';
import type { BenchOutput } from './types.js';

const INPUTS = 8;
const HIDDEN = 16;
const OUTPUTS = 4;
const ROWS = 256;
const BATCH = 32;
/** Rows of a gl-data teleport batch: at most inputs + 1 = 9 keeps the data-dependent action exact. */
const TELEPORT_ROWS = 8;
const DATA_SEED = 7;
const MODEL_SEED = 3;
const FRACTIONS = [0.5, 0.1] as const;
/** A run diverges when its loss is not finite or exceeds this multiple of the initial loss. */
const DIVERGE_FACTOR = 10;

export type GroupKey = 'rescale' | 'gl' | 'gl-data';
type Activation = 'relu' | 'linear' | 'leaky';
const ACTIVATION: Record<GroupKey, Activation> = { rescale: 'relu', gl: 'linear', 'gl-data': 'leaky' };
const MODEL_TEXT: Record<Activation, string> = { relu: 'relu', linear: 'linear (no activation)', leaky: 'LeakyReLU(0.1) layers after linear Dense' };

export type OptName = 'sgd' | 'momentum' | 'adagrad' | 'rmsprop' | 'adam';
export interface OptSpec {
  name: OptName;
  lr: number;
  label: string;
}
const OPTS: OptSpec[] = [
  { name: 'sgd', lr: 0.01, label: 'SGD 0.01' },
  { name: 'sgd', lr: 0.001, label: 'SGD 0.001' },
  { name: 'momentum', lr: 0.01, label: 'momentum(0.9) 0.01' },
  { name: 'momentum', lr: 0.001, label: 'momentum(0.9) 0.001' },
  { name: 'adagrad', lr: 0.05, label: 'AdaGrad 0.05' },
  { name: 'rmsprop', lr: 0.001, label: 'RMSProp 0.001' },
  { name: 'adam', lr: 0.001, label: 'Adam 0.001' },
];
const QUICK_OPTS = ['SGD 0.01', 'momentum(0.9) 0.01', 'Adam 0.001'];

export type Arm = 'bare' | 'default' | 'no-budget';
const ARMS: Arm[] = ['bare', 'default', 'no-budget'];

export interface RunSpec {
  group: GroupKey;
  opt: OptSpec;
  arm: Arm;
  /** Teleport every this many steps (null for the bare optimizer). */
  every: number | null;
  steps: number;
  /** Teleport ascent step size (library default 0.1). */
  teleportLr?: number;
  /** Model initialization seed. */
  seed?: number;
  tag?: string;
}

export interface RunResult {
  spec: Omit<RunSpec, 'opt'> & { opt: string };
  initialLoss: number;
  finalLoss: number;
  /** Non-finite, or above DIVERGE_FACTOR × the initial loss, at some evaluation (the run stops there). */
  diverged: boolean;
  divergedAt: number | null;
  /** Why it stopped early (e.g. the library's not-finite error), if it did. */
  error: string | null;
  /** First evaluated step with loss ≤ fraction × initial, per FRACTIONS (null: not reached). */
  reach: Array<number | null>;
  /** Seconds of optimizer steps (teleports included, loss evaluations excluded) until then. */
  reachSeconds: Array<number | null>;
  /** Teleports the schedule holds within the run, and the reports received (gl-data skips, without a report, a teleport whose cap has shrunk to 1). */
  scheduled: number;
  teleports: number;
  accepted: number;
  /** Product over accepted teleports of ‖∇L‖² after ÷ before (as each measured it), and the largest single ratio. */
  growthProduct: number;
  maxGrowth: number;
  /** The smallest and largest growth caps the schedule handed out. */
  caps: [number, number] | null;
  initialGradNormSq: number;
  finalGradNormSq: number;
  initialMaxKernelNorm: number;
  finalMaxKernelNorm: number;
  seconds: number;
  teleportMs: number;
  /** Full-data loss every `evalEvery` steps (for plots / re-analysis). */
  curve: number[];
}

interface Dataset {
  x: tf.Tensor;
  y: tf.Tensor;
  batches: Array<{ x: tf.Tensor; y: tf.Tensor }>;
  teleportBatches: Array<{ x: tf.Tensor; y: tf.Tensor }>;
  dispose(): void;
}

/** A fixed regression task: y = a seeded relu teacher 8-16-4 of x ∈ U(-1, 1)⁸, plus a linear part and noise. */
export function makeDataset(): Dataset {
  const parts = tf.tidy(() => {
    const x = seededUniform([ROWS, INPUTS], DATA_SEED, -1, 1);
    const w1 = seededUniform([INPUTS, HIDDEN], DATA_SEED + 1, -1, 1);
    const w2 = seededUniform([HIDDEN, OUTPUTS], DATA_SEED + 2, -0.5, 0.5);
    const a = seededUniform([INPUTS, OUTPUTS], DATA_SEED + 3, -0.5, 0.5);
    const noise = seededUniform([ROWS, OUTPUTS], DATA_SEED + 4, -0.05, 0.05);
    const y = tf.add(tf.add(tf.matMul(tf.relu(tf.matMul(x, w1)), w2), tf.matMul(x, a)), noise);
    const batches = Array.from({ length: ROWS / BATCH }, (_, i) => ({
      x: tf.slice(x, [i * BATCH, 0], [BATCH, INPUTS]),
      y: tf.slice(y, [i * BATCH, 0], [BATCH, OUTPUTS]),
    }));
    const teleportBatches = Array.from({ length: ROWS / TELEPORT_ROWS }, (_, i) => ({
      x: tf.slice(x, [i * TELEPORT_ROWS, 0], [TELEPORT_ROWS, INPUTS]),
      y: tf.slice(y, [i * TELEPORT_ROWS, 0], [TELEPORT_ROWS, OUTPUTS]),
    }));
    return { x, y, batches, teleportBatches };
  });
  return {
    ...parts,
    dispose: () => tf.dispose([parts.x, parts.y, ...parts.batches.flatMap(b => [b.x, b.y]), ...parts.teleportBatches.flatMap(b => [b.x, b.y])]),
  };
}

/** 8-16-16-4 MLP, Glorot-uniform kernels seeded by `seed`, zero biases, linear output. */
export function buildModel(activation: Activation, seed = MODEL_SEED): LayersModel {
  const model = tfl.sequential();
  let s = seed * 101;
  const init = () => tfl.initializers.glorotUniform({ seed: s++ });
  for (let i = 0; i < 2; i++) {
    model.add(
      tfl.layers.dense({
        units: HIDDEN,
        inputShape: i === 0 ? [INPUTS] : undefined,
        activation: activation === 'relu' ? 'relu' : 'linear',
        kernelInitializer: init(),
      }),
    );
    if (activation === 'leaky') model.add(tfl.layers.leakyReLU({ alpha: 0.1 }));
  }
  model.add(tfl.layers.dense({ units: OUTPUTS, activation: 'linear', kernelInitializer: init() }));
  return model;
}

function variablesOf(model: LayersModel): tf.Variable[] {
  return model.trainableWeights.map(w => w.read() as tf.Variable);
}

function mse(model: LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar;
}

function bareOptimizer(o: OptSpec): tf.Optimizer {
  switch (o.name) {
    case 'sgd':
      return tf.train.sgd(o.lr);
    case 'momentum':
      return tf.train.momentum(o.lr, 0.9);
    case 'adagrad':
      return tf.train.adagrad(o.lr);
    case 'rmsprop':
      return tf.train.rmsprop(o.lr);
    case 'adam':
      return tf.train.adam(o.lr);
  }
}

function teleportOptimizer(o: OptSpec, options: tp.TeleportOptimizerOptions): tp.TeleportOptimizer {
  switch (o.name) {
    case 'sgd':
      return tp.sgd(o.lr, options);
    case 'momentum':
      return tp.momentum(o.lr, 0.9, options);
    case 'adagrad':
      return tp.adagrad(o.lr, options);
    case 'rmsprop':
      return tp.rmsprop(o.lr, options);
    case 'adam':
      return tp.adam(o.lr, options);
  }
}

/** Full-data loss, ‖∇L‖² over every trainable weight, and the largest kernel Frobenius norm. */
function measure(model: LayersModel, data: Dataset): { loss: number; gradNormSq: number; maxKernelNorm: number } {
  return tf.tidy(() => {
    const vars = variablesOf(model);
    const { value, grads } = tf.variableGrads(() => mse(model, data.x, data.y), vars);
    const gradNormSq = tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g)))).dataSync()[0];
    const kernels = vars.filter(v => v.shape.length === 2);
    const maxKernelNorm = Math.max(...kernels.map(k => tf.norm(k).dataSync()[0]));
    return { loss: value.dataSync()[0], gradNormSq, maxKernelNorm };
  });
}

/** Trains one arm: `steps` minibatch steps cycling through the fixed batches, loss on all rows every `evalEvery` steps. */
export function trainRun(spec: RunSpec, data: Dataset, evalEvery: number): RunResult {
  const t0 = performance.now();
  const model = buildModel(ACTIVATION[spec.group], spec.seed ?? MODEL_SEED);
  const vars = variablesOf(model);
  const reports: tp.TeleportReport[] = [];
  let optimizer: tf.Optimizer;
  if (spec.arm === 'bare' || spec.every == null) optimizer = bareOptimizer(spec.opt);
  else {
    const options: tp.TeleportOptimizerOptions = {
      model,
      group: spec.group,
      schedule: { every: spec.every },
      loss: 'meanSquaredError',
      onTeleport: r => reports.push(r),
    };
    if (spec.teleportLr != null) options.lr = spec.teleportLr;
    if (spec.arm === 'no-budget') options.maxTotalGrowth = Infinity;
    if (spec.group === 'gl-data') {
      const every = spec.every;
      options.data = (step: number) => data.teleportBatches[Math.floor(step / every) % data.teleportBatches.length];
    }
    optimizer = teleportOptimizer(spec.opt, options);
  }
  const start = measure(model, data);
  const curve = [start.loss];
  const reach: Array<number | null> = FRACTIONS.map(() => null);
  const reachSeconds: Array<number | null> = FRACTIONS.map(() => null);
  let stepMs = 0;
  let diverged = false;
  let divergedAt: number | null = null;
  let error: string | null = null;
  let last = start;
  const check = (step: number, loss: number) => {
    FRACTIONS.forEach((f, i) => {
      if (reach[i] == null && loss <= f * start.loss) {
        reach[i] = step;
        reachSeconds[i] = stepMs / 1000;
      }
    });
    if (!Number.isFinite(loss) || loss > DIVERGE_FACTOR * start.loss) {
      diverged = true;
      divergedAt = step;
    }
  };
  for (let step = 0; step < spec.steps && !diverged; step++) {
    const b = data.batches[step % data.batches.length];
    const s0 = performance.now();
    try {
      const cost = optimizer.minimize(() => mse(model, b.x, b.y), true, vars)!;
      cost.dataSync();
      cost.dispose();
      stepMs += performance.now() - s0;
    } catch (err) {
      // The library refuses to teleport from a non-finite gradient (TeleportError 'not-finite').
      error = err instanceof Error ? err.message : String(err);
      diverged = true;
      divergedAt = step;
      break;
    }
    if ((step + 1) % evalEvery === 0 || step + 1 === spec.steps) {
      const loss = tf.tidy(() => mse(model, data.x, data.y).dataSync()[0]);
      curve.push(loss);
      check(step + 1, loss);
    }
  }
  last = measure(model, data);
  if (!Number.isFinite(last.loss) || last.loss > DIVERGE_FACTOR * start.loss) {
    if (!diverged) divergedAt = spec.steps;
    diverged = true;
  }
  const accepted = reports.filter(r => r.accepted);
  const ratios = accepted.map(r => (r.gradNormSqBefore > 0 ? r.gradNormSqAfter / r.gradNormSqBefore : 1));
  const caps = reports.map(r => r.growthCap);
  const result: RunResult = {
    spec: { ...spec, opt: spec.opt.label },
    initialLoss: start.loss,
    finalLoss: last.loss,
    diverged,
    divergedAt,
    error,
    reach,
    reachSeconds,
    scheduled:
      spec.every == null || spec.arm === 'bare' ? 0 : Math.max(0, Math.ceil((Math.min(spec.steps, divergedAt ?? spec.steps) - spec.every) / spec.every)),
    teleports: reports.length,
    accepted: accepted.length,
    growthProduct: ratios.reduce((a, b) => a * b, 1),
    maxGrowth: ratios.length ? Math.max(...ratios) : 1,
    caps: caps.length ? [Math.min(...caps), Math.max(...caps)] : null,
    initialGradNormSq: start.gradNormSq,
    finalGradNormSq: last.gradNormSq,
    initialMaxKernelNorm: start.maxKernelNorm,
    finalMaxKernelNorm: last.maxKernelNorm,
    seconds: (performance.now() - t0) / 1000,
    teleportMs: reports.reduce((a, r) => a + r.ms, 0),
    curve: curve.map(v => Number(v.toPrecision(5))),
  };
  disposeOptimizer(optimizer);
  model.dispose();
  return result;
}

/** A bare run converges when it neither diverges nor ends above its initial loss. */
const converges = (r: RunResult) => !r.diverged && Number.isFinite(r.finalLoss) && r.finalLoss < r.initialLoss;

/** One grid cell: a group, an optimizer, a schedule and a model seed, with its three arms. */
interface Cell {
  group: GroupKey;
  opt: string;
  every: number;
  seed: number;
  bare: RunResult;
  default: RunResult;
  noBudget: RunResult;
}
type TeleArm = 'default' | 'noBudget';

interface Stress {
  name: string;
  runs: RunResult[];
}

interface Config {
  steps: number;
  evalEvery: number;
  everies: number[];
  seeds: number[];
  opts: string[];
  quick: boolean;
}

export async function runDivergence(ctx: BenchContext): Promise<BenchOutput> {
  const cfg: Config = {
    steps: ctx.quick ? 300 : 1000,
    evalEvery: 5,
    everies: ctx.quick ? [10, 50] : [10, 50, 200],
    seeds: ctx.quick ? [MODEL_SEED] : [MODEL_SEED, MODEL_SEED + 1, MODEL_SEED + 2],
    opts: (ctx.quick ? OPTS.filter(o => QUICK_OPTS.includes(o.label)) : OPTS).map(o => o.label),
    quick: ctx.quick,
  };
  const opts = OPTS.filter(o => cfg.opts.includes(o.label));
  const groups: GroupKey[] = ['rescale', 'gl', 'gl-data'];
  const { steps, evalEvery } = cfg;
  const { value, warnings } = await collectWarnings(async () => {
    const data = makeDataset();
    try {
      // Warm-up: first-use costs (kernels, JIT) out of every run's clock.
      for (const g of groups) trainRun({ group: g, opt: OPTS[0], arm: 'default', every: 5, steps: 20 }, data, evalEvery);
      const cells: Cell[] = [];
      for (const group of groups) {
        for (const opt of opts) {
          for (const seed of cfg.seeds) {
            const bare = trainRun({ group, opt, arm: 'bare', every: null, steps, seed }, data, evalEvery);
            for (const every of cfg.everies) {
              const def = trainRun({ group, opt, arm: 'default', every, steps, seed }, data, evalEvery);
              const nob = trainRun({ group, opt, arm: 'no-budget', every, steps, seed }, data, evalEvery);
              cells.push({ group, opt: opt.label, every, seed, bare, default: def, noBudget: nob });
            }
          }
          const mine = cells.filter(c => c.group === group && c.opt === opt.label);
          const text = (r: RunResult) => (r.diverged ? `DIVERGED@${r.divergedAt}` : fmt(r.finalLoss));
          ctx.log(
            `divergence: ${group} ${opt.label}: ${mine.map(c => `seed ${c.seed} every ${c.every}: bare ${text(c.bare)}, default ${text(c.default)}, no-budget ${text(c.noBudget)}`).join('; ')}`,
          );
        }
      }
      // The issue's stress cases (first seed).
      const sgd = OPTS[0];
      const stress: Stress[] = [];
      stress.push({
        name: 'rescale every 10, teleport lr 0.5, SGD 0.01',
        runs: ARMS.map(arm =>
          trainRun({ group: 'rescale', opt: sgd, arm, every: arm === 'bare' ? null : 10, steps, teleportLr: 0.5, tag: 'stress-lr0.5' }, data, evalEvery),
        ),
      });
      const still: OptSpec = { name: 'sgd', lr: 0, label: 'SGD 0' };
      stress.push({
        name: 'rescale every 10, teleport lr 0.5, SGD lr 0 (only teleports move the weights)',
        runs: (['default', 'no-budget'] as Arm[]).map(arm =>
          trainRun({ group: 'rescale', opt: still, arm, every: 10, steps, teleportLr: 0.5, tag: 'stress-lr0' }, data, evalEvery),
        ),
      });
      if (!ctx.quick) {
        for (const opt of OPTS.filter(o => o.name === 'sgd' || o.name === 'momentum')) {
          stress.push({
            name: `gl every 20, ${opt.label} (the issue's linear case)`,
            runs: ARMS.map(arm => trainRun({ group: 'gl', opt, arm, every: arm === 'bare' ? null : 20, steps, tag: 'stress-gl20' }, data, evalEvery)),
          });
        }
      }
      for (const s of stress)
        ctx.log(
          `divergence: stress ${s.name}: ${s.runs.map(r => `${r.spec.arm} ${r.diverged ? `diverged@${r.divergedAt}` : fmt(r.finalLoss)} ‖∇L‖² ${fmt(r.finalGradNormSq)}`).join('; ')}`,
        );
      return { cells, stress };
    } finally {
      data.dispose();
    }
  });
  return report(value.cells, value.stress, warnings, cfg);
}

const geomean = (xs: number[]) => (xs.length ? Math.exp(xs.reduce((a, b) => a + Math.log(b), 0) / xs.length) : NaN);
const median = (xs: number[]) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Steps (or seconds) for bare to reach a fraction ÷ the arm's; null unless both reach it and the arm did not diverge. */
function speedup(c: Cell, arm: TeleArm, i: number, key: 'reach' | 'reachSeconds' = 'reach'): number | null {
  const b = c.bare[key][i];
  const a = c[arm][key][i];
  if (c[arm].diverged || b == null || a == null) return null;
  return key === 'reach' ? b / Math.max(a, 1) : b / Math.max(a, 1e-6);
}

/** Runs diverging where bare converges. */
const hurtBy = (c: Cell, arm: TeleArm) => converges(c.bare) && c[arm].diverged;
/** Runs not diverging but ending above twice bare's final loss. */
const worseBy = (c: Cell, arm: TeleArm) => converges(c.bare) && !c[arm].diverged && c[arm].finalLoss > 2 * c.bare.finalLoss;

function lossCell(rs: RunResult[]): string {
  const ok = rs.filter(r => !r.diverged);
  const div = rs.filter(r => r.diverged);
  const parts: string[] = [];
  if (ok.length) parts.push(fmt(median(ok.map(r => r.finalLoss))));
  if (div.length) parts.push(`**${rs.length > 1 ? `${div.length}/${rs.length} ` : ''}diverged @${div.map(r => r.divergedAt).join(', ')}**`);
  return parts.join('; ');
}

function speedCell(cs: Cell[], arm: TeleArm, i: number): string {
  const vals = cs.map(c => speedup(c, arm, i)).filter((v): v is number => v != null);
  const diverged = cs.filter(c => c[arm].diverged).length;
  const lost = cs.filter(c => c.bare.reach[i] != null && c[arm].reach[i] == null && !c[arm].diverged).length;
  const gained = cs.filter(c => c.bare.reach[i] == null && c[arm].reach[i] != null && !c[arm].diverged).length;
  const parts: string[] = [];
  if (vals.length) parts.push(`${fmtRatio(geomean(vals))}${cs.length > 1 && vals.length < cs.length ? ` (${vals.length}/${cs.length})` : ''}`);
  if (diverged) parts.push(`${cs.length > 1 ? `${diverged}× ` : ''}diverged`);
  if (lost) parts.push(`${cs.length > 1 ? `${lost}× ` : ''}not reached`);
  if (gained) parts.push(`${cs.length > 1 ? `${gained}× ` : ''}reached, bare not`);
  return parts.length ? parts.join('; ') : 'neither';
}

/** The result page from the runs (exported so a saved JSON can be re-rendered). */
export function report(cells: Cell[], stress: Stress[], warnings: string[], cfg: Config): BenchOutput {
  const nSeeds = cfg.seeds.length;
  const converging = cells.filter(c => converges(c.bare));
  const hurt = (arm: TeleArm) => cells.filter(c => hurtBy(c, arm));
  const worse = (arm: TeleArm) => cells.filter(c => worseBy(c, arm));
  const stressHurt = (armName: Arm) =>
    stress
      .filter(s => {
        const bare = s.runs.find(r => r.spec.arm === 'bare');
        return s.runs.some(r => r.spec.arm === armName && r.diverged) && (bare == null || converges(bare));
      })
      .map(s => s.name);
  const hurtDefault = hurt('default');
  const hurtNoBudget = hurt('noBudget');
  const stressDefault = stressHurt('default');
  const stressNoBudget = stressHurt('no-budget');
  const where = (c: Cell, arm: TeleArm) =>
    `${c.group} ${c.opt} every ${c.every}${nSeeds > 1 ? ` seed ${c.seed}` : ''} (step ${c[arm].divergedAt}${c[arm].error ? `: ${c[arm].error!.slice(0, 100)}` : ''})`;
  const bareBad = cells.filter(c => c.every === cfg.everies[0] && !converges(c.bare));

  const stats = (arm: TeleArm, i: number, group?: GroupKey, key: 'reach' | 'reachSeconds' = 'reach') => {
    const cs = cells.filter(c => group == null || c.group === group);
    const sp = cs.map(c => speedup(c, arm, i, key)).filter((v): v is number => v != null);
    return {
      n: sp.length,
      geomean: geomean(sp),
      faster: sp.filter(v => v > 1.05).length,
      slower: sp.filter(v => v < 1 / 1.05).length,
      best: sp.length ? Math.max(...sp) : NaN,
      worst: sp.length ? Math.min(...sp) : NaN,
      lost: cs.filter(c => c.bare.reach[i] != null && (c[arm].reach[i] == null || c[arm].diverged)).length,
    };
  };
  const lossRatio = (arm: TeleArm, group?: GroupKey) => {
    const cs = cells.filter(c => (group == null || c.group === group) && converges(c.bare) && !c[arm].diverged);
    const rs = cs.map(c => c[arm].finalLoss / c.bare.finalLoss);
    const w = rs.length ? rs.indexOf(Math.max(...rs)) : -1;
    return {
      n: rs.length,
      geomean: geomean(rs),
      better: rs.filter(r => r < 0.95).length,
      worse: rs.filter(r => r > 1.05).length,
      worst: w >= 0 ? rs[w] : NaN,
      worstCell: w >= 0 ? `${cs[w].group} ${cs[w].opt} every ${cs[w].every}${nSeeds > 1 ? ` seed ${cs[w].seed}` : ''}` : '',
    };
  };
  const maxProduct = Math.max(...cells.map(c => c.default.growthProduct));
  // The budget recovers (growthRecoverySteps, default 500): over a run of `steps` steps the accepted
  // teleports may grow ‖∇L‖² by maxTotalGrowth^(1 + steps/500) in all.
  const allowedProduct = 4 ** (1 + cfg.steps / tp.DEFAULTS.growthRecoverySteps);
  const budgetRespected = maxProduct <= allowedProduct * (1 + 1e-3);
  const maxProductNoBudget = Math.max(...cells.map(c => c.noBudget.growthProduct).filter(Number.isFinite));

  const headline: string[] = [];
  const grid = `${cells.length} grid runs per arm (${cfg.opts.length} optimizer settings × 3 groups × every ∈ {${cfg.everies.join(', ')}} × ${nSeeds} model seed${nSeeds > 1 ? 's' : ''}, ${cfg.steps} steps; bare converges in ${converging.length})`;
  headline.push(
    `Runs that diverge where the bare optimizer converges: **default ${hurtDefault.length}**, no budget (maxTotalGrowth: Infinity) **${hurtNoBudget.length}**, of ${grid}; issue stress cases: default ${stressDefault.length}, no budget ${stressNoBudget.length} of ${stress.length}.`,
  );
  if (hurtDefault.length)
    headline.push(
      `**With the default budget, ${hurtDefault.length} run(s) still diverge where bare converges**: ${hurtDefault.map(c => where(c, 'default')).join('; ')}.`,
    );
  if (stressDefault.length) headline.push(`**Stress cases diverging with the default budget**: ${stressDefault.join('; ')}.`);
  if (hurtNoBudget.length) headline.push(`Without the budget, diverged: ${summarize(hurtNoBudget)}.`);
  headline.push(
    `Runs that do not diverge but end above 2× bare's final loss: default ${worse('default').length}, no budget ${worse('noBudget').length}${
      worse('default').length
        ? ` (default: ${worse('default')
            .map(c => `${c.group} ${c.opt} every ${c.every}${nSeeds > 1 ? ` seed ${c.seed}` : ''}`)
            .join('; ')})`
        : ''
    }.`,
  );
  FRACTIONS.forEach((f, i) => {
    const d = stats('default', i);
    const n = stats('noBudget', i);
    const dt = stats('default', i, undefined, 'reachSeconds');
    headline.push(
      `Steps to ${f * 100} % of the initial loss, bare ÷ teleport, geometric mean over the runs where both reach it: default ${fmtRatio(d.geomean)} over ${d.n} (faster by > 5 % in ${d.faster}, slower in ${d.slower}; best ${fmtRatio(d.best)}, worst ${fmtRatio(d.worst)}${d.lost ? `; ${d.lost} run(s) reach it bare but not with teleports` : ''}), in wall time ${fmtRatio(dt.geomean)}; no budget ${fmtRatio(n.geomean)} over ${n.n} (faster ${n.faster}, slower ${n.slower}${n.lost ? `; ${n.lost} lose it` : ''}).`,
    );
  });
  const lr = lossRatio('default');
  const lrN = lossRatio('noBudget');
  headline.push(
    `Final loss ÷ bare, geometric mean over runs where bare converges and the arm does not diverge: default ${fmt(lr.geomean)} over ${lr.n} (lower by > 5 % in ${lr.better}, higher in ${lr.worse}; worst ${fmt(lr.worst)}×, ${lr.worstCell}); no budget ${fmt(lrN.geomean)} over ${lrN.n} (worst ${fmt(lrN.worst)}×).`,
  );
  headline.push(
    `Budget: the product of the ‖∇L‖² growth ratios of a run's accepted teleports is at most ${fmt(maxProduct)} with the default (maxTotalGrowth 4, recovering over ${tp.DEFAULTS.growthRecoverySteps} steps: at most ${fmt(allowedProduct)} in ${cfg.steps} steps${budgetRespected ? ', respected in every run' : ', EXCEEDED'}), up to ${fmt(maxProductNoBudget)} without it.`,
  );

  const targets: TargetResult[] = [
    {
      name: 'no run diverges with teleports (default budget) where the bare optimizer converges',
      target: '0 runs',
      measured: `${hurtDefault.length + stressDefault.length} (grid ${hurtDefault.length} of ${converging.length}; stress ${stressDefault.length} of ${stress.length})`,
      met: hurtDefault.length + stressDefault.length === 0,
      note:
        hurtDefault.length + stressDefault.length === 0
          ? `without the budget ${hurtNoBudget.length + stressNoBudget.length} do (grid ${hurtNoBudget.length}, stress ${stressNoBudget.length})`
          : [...hurtDefault.map(c => where(c, 'default')), ...stressDefault].join('; '),
    },
    {
      name: "the growth budget holds: Π ‖∇L‖² ratios of a run's accepted teleports ≤ maxTotalGrowth^(1 + steps/growthRecoverySteps)",
      target: `≤ ${fmt(allowedProduct)} in every default run`,
      measured: `max ${fmt(maxProduct)}`,
      met: budgetRespected,
      note: "each ratio as the teleport measured it (on the step's minibatch gradient for exact groups, on its teleport batch for gl-data); it bounds the jumps, not how ‖∇L‖² evolves under training in between",
    },
  ];

  const sections: string[] = [];
  sections.push('## Method');
  sections.push('');
  sections.push(
    `Data (fixed): ${ROWS} rows, x ∈ U(-1, 1)^${INPUTS} (seeded), y ∈ ℝ^${OUTPUTS} from a seeded relu teacher 8-16-4 plus a linear term and ±0.05 uniform noise; MSE loss. Models: ${INPUTS}-${HIDDEN}-${HIDDEN}-${OUTPUTS} MLPs, Glorot-uniform kernels seeded by the model seed (${cfg.seeds.join(', ')}; the same start for every arm of a seed), zero biases, linear output; hidden activation relu for rescale, none (linear) for gl, LeakyReLU(0.1) layers after linear Dense for gl-data. Training: ${cfg.steps} steps of \`optimizer.minimize\` on ${ROWS / BATCH} fixed minibatches of ${BATCH} rows, cycled in order; the loss on all ${ROWS} rows every ${cfg.evalEvery} steps (steps-to-target have a resolution of ${cfg.evalEvery}).`,
  );
  sections.push('');
  sections.push(
    `Arms: **bare** = tf.train.<optimizer>; **default** = tp.<optimizer>(…, { model, group, schedule: { every }, loss: 'meanSquaredError' }) with every other option at its default (normalized ascent within a distance of 10 × 0.1, \`stepRule\` 'auto', maxGrowth 2, maxTotalGrowth 4, optimizer state transported), so teleport k may grow ‖∇L‖² by at most min(2, 4^(2^-(k+1))); **no budget** = the same with \`maxTotalGrowth: Infinity\` (every teleport may double ‖∇L‖², the behaviour before the budget). gl-data teleports on one ${TELEPORT_ROWS}-row batch of the training rows (≤ inputs + 1), a different one each time. Optimizers: ${cfg.opts.join(', ')} (momentum 0.9; AdaGrad, RMSProp and Adam with tfjs defaults otherwise).`,
    '',
    'No arm picks its settings by a search: bare and both teleporting arms use the library defaults (no budget changes only `maxTotalGrowth`), the optimizer settings and schedules are fixed in advance, and the stress cases use the settings named in the issue. The grid is the set of configurations reported, not a tuning grid, so there are no tuning seeds to hold out.',
  );
  sections.push('');
  sections.push(
    `**Diverged** = the full-data loss is not finite or above ${DIVERGE_FACTOR}× its initial value at an evaluation, or the library refused a teleport on a non-finite gradient (the run stops there; "@n" = that step). **Converges** (bare) = not diverged and the final loss below the initial. **Speed-up** = steps for bare to reach 50 % (10 %) of the initial loss ÷ steps for the arm (geometric mean over seeds where both reach it; "(k/n)" = on k of n seeds); "not reached" = bare reaches it within ${cfg.steps} steps and the arm does not. Wall-time speed-ups (headline) count optimizer steps with their teleports, not the loss evaluations; they are noisy (shared machine). Cells with several seeds show the median final loss of the non-diverged runs, accepted/scheduled teleports summed over seeds, the largest Π growth and median norms.`,
  );
  sections.push('');
  for (const group of ['rescale', 'gl', 'gl-data'] as GroupKey[]) {
    const gcs = cells.filter(c => c.group === group);
    if (!gcs.length) continue;
    sections.push(`## ${group} (${MODEL_TEXT[ACTIVATION[group]]} MLP; initial loss ${[...new Set(gcs.map(c => fmt(c.bare.initialLoss)))].join(', ')})`);
    sections.push('');
    const header = [
      'optimizer',
      'every',
      'final loss: bare',
      'default',
      'no budget',
      'speed-up to 50 %: default',
      'no budget',
      'to 10 %: default',
      'no budget',
      'accepted / scheduled: default',
      'no budget',
      'Π growth: default',
      'no budget',
      'final ‖∇L‖²: bare / default / no budget',
      'max ‖kernel‖: bare / default / no budget',
    ];
    const rows: string[][] = [];
    for (const opt of cfg.opts)
      for (const every of cfg.everies) {
        const cs = gcs.filter(c => c.opt === opt && c.every === every);
        if (!cs.length) continue;
        const med = (f: (c: Cell) => number) => fmt(median(cs.map(f).filter(Number.isFinite)));
        rows.push([
          opt,
          String(every),
          lossCell(cs.map(c => c.bare)),
          lossCell(cs.map(c => c.default)),
          lossCell(cs.map(c => c.noBudget)),
          speedCell(cs, 'default', 0),
          speedCell(cs, 'noBudget', 0),
          speedCell(cs, 'default', 1),
          speedCell(cs, 'noBudget', 1),
          `${cs.reduce((a, c) => a + c.default.accepted, 0)}/${cs.reduce((a, c) => a + c.default.scheduled, 0)}`,
          `${cs.reduce((a, c) => a + c.noBudget.accepted, 0)}/${cs.reduce((a, c) => a + c.noBudget.scheduled, 0)}`,
          fmt(Math.max(...cs.map(c => c.default.growthProduct))),
          fmt(Math.max(...cs.map(c => c.noBudget.growthProduct))),
          `${med(c => c.bare.finalGradNormSq)} / ${med(c => c.default.finalGradNormSq)} / ${med(c => c.noBudget.finalGradNormSq)}`,
          `${med(c => c.bare.finalMaxKernelNorm)} / ${med(c => c.default.finalMaxKernelNorm)} / ${med(c => c.noBudget.finalMaxKernelNorm)}`,
        ]);
      }
    sections.push(table(header, rows, 2));
    sections.push('');
    const d50 = stats('default', 0, group);
    const d10 = stats('default', 1, group);
    const lrG = lossRatio('default', group);
    sections.push(
      `Default vs bare on ${group}: steps to 50 % ${fmtRatio(d50.geomean)} (geometric mean of ${d50.n}; faster ${d50.faster}, slower ${d50.slower}${d50.lost ? `, ${d50.lost} lose the target` : ''}), to 10 % ${fmtRatio(d10.geomean)} (of ${d10.n}; faster ${d10.faster}, slower ${d10.slower}${d10.lost ? `, ${d10.lost} lose the target` : ''}); final loss ÷ bare ${fmt(lrG.geomean)} (lower in ${lrG.better}, higher in ${lrG.worse} of ${lrG.n}). Diverging where bare converges: default ${hurtDefault.filter(c => c.group === group).length}, no budget ${hurtNoBudget.filter(c => c.group === group).length}; ending above 2× bare without diverging: default ${worse('default').filter(c => c.group === group).length}, no budget ${worse('noBudget').filter(c => c.group === group).length}.`,
    );
    sections.push('');
  }
  if (stress.length) {
    sections.push(`## Stress cases from the issue (model seed ${cfg.seeds[0]}, ${cfg.steps} steps)`);
    sections.push('');
    sections.push(
      table(
        [
          'case',
          'arm',
          'final loss',
          'accepted / scheduled',
          'growth caps (min–max)',
          'Π growth',
          '‖∇L‖²: start → end',
          'max ‖kernel‖: start → end',
          'seconds',
        ],
        stress.flatMap(s =>
          s.runs.map(r => [
            s.name,
            r.spec.arm,
            lossCell([r]),
            `${r.accepted}/${r.scheduled}`,
            r.caps ? `${fmt(r.caps[0])}–${fmt(r.caps[1])}` : '—',
            fmt(r.growthProduct),
            `${fmt(r.initialGradNormSq)} → ${fmt(r.finalGradNormSq)}`,
            `${fmt(r.initialMaxKernelNorm)} → ${fmt(r.finalMaxKernelNorm)}`,
            fmt(r.seconds),
          ]),
        ),
        2,
      ),
    );
    sections.push('');
  }
  sections.push('## What it means');
  sections.push('');
  sections.push(
    meaning(
      cells,
      stress,
      { hurtDefault, hurtNoBudget, stressDefault, stressNoBudget, bareBad, worseDefault: worse('default'), worseNoBudget: worse('noBudget') },
      cfg,
    ),
  );
  sections.push('');
  if (warnings.length) {
    sections.push(`Library warnings: ${warnings.join('; ')}`);
    sections.push('');
  }
  return {
    title: 'Divergence: scheduled teleports with and without the growth budget (maxTotalGrowth)',
    headline,
    targets,
    data: {
      config: { ...cfg, rows: ROWS, batch: BATCH, teleportRows: TELEPORT_ROWS, dataSeed: DATA_SEED, fractions: FRACTIONS, divergeFactor: DIVERGE_FACTOR },
      cells,
      stress,
      warnings,
    },
    body: sections.join('\n'),
  };
}

/** "gl: SGD 0.01 every 10 (3), …": diverged runs grouped by configuration, with the seed count. */
function summarize(cs: Cell[]): string {
  const m = new Map<string, number>();
  for (const c of cs) m.set(`${c.group} ${c.opt} every ${c.every}`, (m.get(`${c.group} ${c.opt} every ${c.every}`) ?? 0) + 1);
  return [...m.entries()].map(([k, n]) => `${k}${n > 1 ? ` (${n} seeds)` : ''}`).join('; ');
}

function meaning(
  cells: Cell[],
  stress: Stress[],
  r: {
    hurtDefault: Cell[];
    hurtNoBudget: Cell[];
    stressDefault: string[];
    stressNoBudget: string[];
    bareBad: Cell[];
    worseDefault: Cell[];
    worseNoBudget: Cell[];
  },
  cfg: Config,
): string {
  const out: string[] = [];
  const byEvery = (cs: Cell[]) => cfg.everies.map(e => `${cs.filter(c => c.every === e).length} at every ${e}`).join(', ');
  if (r.hurtDefault.length + r.stressDefault.length === 0) {
    out.push(
      `With the default budget no run of the grid or of the stress cases diverges where the bare optimizer converges; without it ${r.hurtNoBudget.length} grid run(s) (${byEvery(r.hurtNoBudget)}) and ${r.stressNoBudget.length} stress case(s) do, and ${r.worseNoBudget.length} more end above twice bare's loss (default: ${r.worseDefault.length}). The budget is what makes the difference: each teleport may still grow ‖∇L‖² (the first by up to 2×), but a run's teleports together at most 4×, so a schedule cannot compound the gradient norm past what the learning rate tolerated at the start.`,
    );
  } else {
    out.push(
      `**The default budget does not prevent every divergence here**: ${r.hurtDefault
        .map(c => `${c.group} ${c.opt} every ${c.every}${cfg.seeds.length > 1 ? ` seed ${c.seed}` : ''} (at step ${c.default.divergedAt})`)
        .concat(r.stressDefault)
        .join(
          '; ',
        )} diverge(s) where the bare optimizer converges (without the budget: ${r.hurtNoBudget.length} grid runs, ${r.stressNoBudget.length} stress cases). The budget bounds the product of the growth ratios each teleport measures on its own minibatch (or teleport batch); it does not bound how the teleported weights change the full-data gradient later in training.`,
    );
  }
  if (r.bareBad.length)
    out.push(
      `Bare runs that do not converge (diverge, or end above the initial loss) are left out of the counts: ${[...new Set(r.bareBad.map(c => `${c.group} ${c.opt}${cfg.seeds.length > 1 ? ` seed ${c.seed}` : ''}`))].join('; ')}.`,
    );
  const rescaleStress = stress.find(s => s.name === 'rescale every 10, teleport lr 0.5, SGD 0.01');
  const rsBare = rescaleStress?.runs.find(x => x.spec.arm === 'bare');
  const rsNone = rescaleStress?.runs.find(x => x.spec.arm === 'no-budget');
  const rsDef = rescaleStress?.runs.find(x => x.spec.arm === 'default');
  if (rsBare && rsNone && rsDef) {
    out.push(
      `The issue's rescale case (every 10, ascent lr 0.5, SGD 0.01) ${rsNone.diverged ? `diverges without the budget here (step ${rsNone.divergedAt})` : `does not diverge by the loss criterion on this data set without the budget, but stalls: final loss ${fmt(rsNone.finalLoss)} against bare SGD's ${fmt(rsBare.finalLoss)}, largest kernel norm ${fmt(rsNone.finalMaxKernelNorm)}`}; with the budget it ends at ${fmt(rsDef.finalLoss)}.`,
    );
  }
  const lr0 = stress.find(s => s.name.includes('SGD lr 0'));
  const d = lr0?.runs.find(x => x.spec.arm === 'default');
  const n = lr0?.runs.find(x => x.spec.arm === 'no-budget');
  if (d && n)
    out.push(
      `With SGD at learning rate 0 only teleports move the weights: over ${n.scheduled} scheduled rescale teleports (ascent lr 0.5) the full-data ‖∇L‖² goes from ${fmt(n.initialGradNormSq)} to ${fmt(n.finalGradNormSq)} and the largest kernel norm from ${fmt(n.initialMaxKernelNorm)} to ${fmt(n.finalMaxKernelNorm)} without the budget${n.diverged ? ` (stopped at step ${n.divergedAt}${n.error ? `: ${n.error.slice(0, 100)}` : ''})` : ''}; with it to ${fmt(d.finalGradNormSq)} and ${fmt(d.finalMaxKernelNorm)} (Π growth ${fmt(d.growthProduct)} ≤ 4; ${d.accepted} of ${d.scheduled} teleports accepted).`,
    );
  const groupSpeed = (['rescale', 'gl', 'gl-data'] as GroupKey[]).map(g => {
    const cs = cells.filter(c => c.group === g);
    const at = (i: number) => cs.map(c => speedup(c, 'default', i)).filter((v): v is number => v != null);
    const s10 = at(1);
    const lossUp = cs.filter(c => !c.default.diverged && c.default.finalLoss > 1.05 * c.bare.finalLoss).length;
    return { g, s50: geomean(at(0)), s10: geomean(s10), slower10: s10.filter(v => v < 1 / 1.05).length, n10: s10.length, lossUp, n: cs.length };
  });
  out.push(
    `Speed, default vs bare in steps (geometric means): to 50 % of the initial loss ${groupSpeed.map(x => `${x.g} ${fmtRatio(x.s50)}`).join(', ')}; to 10 % ${groupSpeed.map(x => `${x.g} ${fmtRatio(x.s10)} (slower in ${x.slower10} of ${x.n10})`).join(', ')}. Teleports help the early phase a little and almost never hurt it; later, ${
      groupSpeed
        .filter(x => x.s10 < 1)
        .map(x => `${x.g} is slower (final loss more than 5 % above bare's in ${x.lossUp} of ${x.n} runs)`)
        .join('; ') || 'no group is slower on average'
    }${groupSpeed.some(x => x.g === 'gl-data' && x.s10 < 1) ? ': its teleports change the function off the teleport batch (data-dependent, exact only on those ≤ 9 rows), the optimizer state (momentum, accumulators) is kept rather than carried across them, and they leave larger kernels (see the kernel-norm column)' : ''}.`,
  );
  const last = Math.max(...cfg.everies);
  const late = cells.filter(c => c.every === last);
  const close = late.filter(c => !c.noBudget.diverged && !c.default.diverged && Math.abs(c.default.finalLoss / c.noBudget.finalLoss - 1) < 0.05).length;
  out.push(
    `The price: each cap is the square root of the one before (2, 1.41, 1.19, 1.09, 1.04, …), so a long every-10 schedule does almost nothing after its first five or six teleports (the accepted/scheduled columns), and the speed-ups above are those of the first few teleports. At every ${last} (${Math.ceil((cfg.steps - last) / last)} teleports) default and no budget end within 5 % of each other in ${close} of ${late.length} runs.`,
  );
  const perTeleport = (g: GroupKey) => median(cells.filter(c => c.group === g).map(c => c.default.teleportMs / Math.max(1, c.default.teleports)));
  const stepMs = median(cells.map(c => (1000 * c.bare.seconds) / cfg.steps));
  const wall = cfg.everies.map(e => {
    const sp = cells
      .filter(c => c.every === e)
      .map(c => speedup(c, 'default', 0, 'reachSeconds'))
      .filter((v): v is number => v != null);
    return `${fmtRatio(geomean(sp))} at every ${e}`;
  });
  out.push(
    `Cost: on these tiny models a training step takes ≈ ${fmt(stepMs)} ms (with the loss evaluations) while a teleport takes ${fmt(perTeleport('rescale'))} ms (rescale), ${fmt(perTeleport('gl'))} ms (gl), ${fmt(perTeleport('gl-data'))} ms (gl-data) (medians per reported teleport, default arm), so in wall time the default arm reaches 50 % of the initial loss ${wall.join(', ')} relative to bare (geometric means; < 1× = slower): the step savings do not pay for the teleports here. A scheduled exact (rescale, gl) teleport whose cap has shrunk to ≈ 1 still runs its ascent and is then rejected ("no group element improved the objective"); gl-data skips it without a report.`,
  );
  return out.join(' ');
}
