/**
 * The run loop of the pays matrix: for one cell (model × data × optimizer × learning rate) and one
 * seed, every arm starts from the same weights, sees the same minibatches, and is stepped in
 * lockstep, one step of each arm per round in a rotating order, so load drifts on the shared
 * machine hit every arm alike. Each arm's clock counts its own steps (teleports included, synced);
 * evaluations run outside the clocks.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tp from '../src/index.js';
import { disposeOptimizer } from '../src/optimizers/inner_state.js';
import { seededPermutation } from '../examples/data/dataset.js';
import { plainOptimizer, type OptimizerName } from '../examples/train/runner.js';
import { crossEntropy, variablesOf } from './pays_common.js';

/** The arms, in table order. */
export const ARMS = ['baseline', 'reset', 'default', 'lookahead', 'auto'] as const;
export type ArmName = (typeof ARMS)[number];

/** What each arm is, in the words of the results page. */
export const ARM_TEXT: Record<ArmName, string> = {
  baseline: 'plain tf.train optimizer',
  reset: "reset-only control: the wrapper with no teleports, optimizer.resetState() at the default arm's teleport steps",
  default: "today's default teleports: tp.<optimizer>(lr, { model, loss, data, schedule: { every } }), every other option at its default",
  lookahead: "the same with objective: 'lookahead'",
  auto: "schedule: 'auto' (the optimizer decides when a teleport pays; objective 'lookahead' by default)",
};

export interface Split {
  x: tf.Tensor;
  y: tf.Tensor;
}

export interface CellSpec {
  build: (seed: number) => LayersModel;
  optimizer: OptimizerName;
  lr: number;
  arms: readonly ArmName[];
  train: Split;
  /** First rows of the training set on which the train loss is evaluated. */
  evalTrain: Split;
  test: Split;
  batchSize: number;
  steps: number;
  evalEvery: number;
  /** Teleport cadence of the 'default' and 'lookahead' arms (and the reset control's steps). */
  teleportEvery: number;
  /** Rows of the one teleport batch handed to the teleporting arms as `data`. */
  teleportBatchSize: number;
  /** Extra options of every teleporting arm (PAYS_TELEPORT_OPTIONS, for experiments; the page names them). */
  teleportOptions?: Record<string, unknown>;
}

export interface EvalPoint {
  step: number;
  seconds: number;
  loss: number;
}

export interface ArmRun {
  arm: ArmName;
  seed: number;
  /** Set when the arm could not be built (e.g. an option this build does not know yet). */
  unavailable?: string;
  curve: EvalPoint[];
  finalTrain: number;
  finalTest: number;
  seconds: number;
  diverged: boolean;
  teleports: number;
  accepted: number;
  /** Seconds the teleports took inside the arm's clock (from their reports). */
  teleportSeconds: number;
}

/**
 * The teleporting wrapper around a plain optimizer built here, so that options a build rejects
 * (construction throws) leave nothing behind: `tp.wrap` does not own the inner optimizer, so it is
 * disposed here.
 */
function wrapped(name: OptimizerName, lr: number, options: tp.TeleportOptimizerOptions): tp.TeleportOptimizer {
  const inner = plainOptimizer(name, lr);
  try {
    return tp.wrap(inner, options);
  } catch (err) {
    disposeOptimizer(inner);
    throw err;
  }
}

interface LiveArm {
  run: ArmRun;
  model: LayersModel;
  optimizer: tf.Optimizer;
  resetAt: ((step: number) => boolean) | null;
}

/**
 * Builds an arm's optimizer. 'lookahead' and 'auto' are wired by name: on a build whose option
 * checks do not know them yet, construction throws and the arm is reported unavailable.
 */
function buildArm(arm: ArmName, spec: CellSpec, model: LayersModel, data: tp.Batch[], onReport: (r: tp.TeleportReport) => void): LiveArm['optimizer'] {
  const every = { every: spec.teleportEvery };
  const base = { ...spec.teleportOptions, model, loss: 'categoricalCrossentropy', data, onTeleport: onReport } as tp.TeleportOptimizerOptions;
  switch (arm) {
    case 'baseline':
      return plainOptimizer(spec.optimizer, spec.lr);
    case 'reset':
      return wrapped(spec.optimizer, spec.lr, {});
    case 'default':
      return wrapped(spec.optimizer, spec.lr, { ...base, schedule: every });
    case 'lookahead':
      return wrapped(spec.optimizer, spec.lr, { ...base, schedule: every, objective: 'lookahead' } as tp.TeleportOptimizerOptions);
    case 'auto':
      return wrapped(spec.optimizer, spec.lr, { ...base, schedule: 'auto' } as unknown as tp.TeleportOptimizerOptions);
  }
}

/** Mean cross-entropy of a model on a split, in chunks. */
export function lossOn(model: LayersModel, split: Split): number {
  const n = split.x.shape[0];
  const chunk = 500;
  let sum = 0;
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    sum += tf.tidy(() => crossEntropy(tf.slice(split.y, start, size), model.predict(tf.slice(split.x, start, size)) as tf.Tensor).dataSync()[0]) * size;
  }
  return sum / n;
}

/**
 * Runs every arm of a cell on one seed, interleaved step by step. `log` receives one line per arm
 * that cannot be built ("arm unavailable: …").
 */
export function runCellSeed(spec: CellSpec, seed: number, log: (m: string) => void = () => {}): ArmRun[] {
  const n = spec.train.x.shape[0];
  const stepsPerEpoch = Math.ceil(n / spec.batchSize);
  // The teleport batch: drawn once per seed, the same for every teleporting arm ('lookahead' and
  // 'auto' hold part of it out to measure a teleport's gain, so it is larger than a training batch).
  const perm = seededPermutation(n, seed * 7907 + 11);
  const teleportData: tp.Batch[] = [0].map(k => {
    const idx = tf.tensor1d(perm.slice(k * spec.teleportBatchSize, (k + 1) * spec.teleportBatchSize), 'int32');
    const b = { x: tf.gather(spec.train.x, idx), y: tf.gather(spec.train.y, idx) };
    idx.dispose();
    return b;
  });
  const live: LiveArm[] = [];
  for (const arm of spec.arms) {
    const run: ArmRun = {
      arm,
      seed,
      curve: [],
      finalTrain: NaN,
      finalTest: NaN,
      seconds: 0,
      diverged: false,
      teleports: 0,
      accepted: 0,
      teleportSeconds: 0,
    };
    const model = spec.build(seed);
    try {
      const optimizer = buildArm(arm, spec, model, teleportData, r => {
        run.teleports++;
        if (r.accepted) run.accepted++;
        run.teleportSeconds += (r.ms ?? 0) / 1000;
      });
      const resetAt = arm === 'reset' ? (s: number) => s > 0 && s % spec.teleportEvery === 0 : null;
      live.push({ run, model, optimizer, resetAt });
    } catch (err) {
      run.unavailable = err instanceof Error ? err.message : String(err);
      log(`arm unavailable: ${arm}: ${run.unavailable}`);
      model.dispose();
      live.push({ run, model, optimizer: null as unknown as tf.Optimizer, resetAt: null });
    }
  }
  const active = live.filter(a => a.run.unavailable == null);
  const evaluate = (step: number) => {
    for (const a of active) if (!a.run.diverged) a.run.curve.push({ step, seconds: a.run.seconds, loss: lossOn(a.model, spec.evalTrain) });
  };
  try {
    evaluate(0);
    let order: number[] = [];
    for (let step = 0; step < spec.steps; step++) {
      const inEpoch = step % stepsPerEpoch;
      if (inEpoch === 0) order = seededPermutation(n, seed * 104729 + Math.floor(step / stepsPerEpoch));
      const size = Math.min(spec.batchSize, n - inEpoch * spec.batchSize);
      const idx = tf.tensor1d(order.slice(inEpoch * spec.batchSize, inEpoch * spec.batchSize + size), 'int32');
      const x = tf.gather(spec.train.x, idx);
      const y = tf.gather(spec.train.y, idx);
      // Rotate which arm goes first so none always runs right after the same neighbour.
      for (let k = 0; k < active.length; k++) {
        const a = active[(k + step) % active.length];
        if (a.run.diverged) continue;
        const vars = variablesOf(a.model);
        const t0 = performance.now();
        if (a.resetAt?.(step)) (a.optimizer as tp.TeleportOptimizer).resetState();
        const cost = a.optimizer.minimize(() => crossEntropy(y, a.model.apply(x, { training: true }) as tf.Tensor), true, vars);
        const value = cost!.dataSync()[0];
        a.run.seconds += (performance.now() - t0) / 1000;
        cost!.dispose();
        if (!Number.isFinite(value)) a.run.diverged = true;
      }
      tf.dispose([idx, x, y]);
      if ((step + 1) % spec.evalEvery === 0 || step + 1 === spec.steps) evaluate(step + 1);
    }
    for (const a of active) {
      a.run.finalTrain = a.run.diverged ? Infinity : lossOn(a.model, spec.evalTrain);
      a.run.finalTest = a.run.diverged ? Infinity : lossOn(a.model, spec.test);
      if (!Number.isFinite(a.run.finalTrain)) a.run.diverged = true;
    }
  } finally {
    for (const a of active) {
      disposeOptimizer(a.optimizer);
      a.model.dispose();
    }
    tf.dispose(teleportData.flatMap(b => [b.x, b.y]));
  }
  return live.map(a => a.run);
}

/**
 * Steps and seconds at which a curve first reaches `target`, interpolated linearly in log-loss
 * between the evaluations around the crossing; null when it never does.
 */
export function reachAt(curve: readonly EvalPoint[], target: number): { steps: number; seconds: number } | null {
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i];
    if (!(p.loss <= target)) continue;
    if (i === 0) return { steps: p.step, seconds: p.seconds };
    const q = curve[i - 1];
    const a = Math.log(q.loss);
    const b = Math.log(p.loss);
    const t = Number.isFinite(a) && a > b ? (a - Math.log(target)) / (a - b) : 1;
    return { steps: q.step + t * (p.step - q.step), seconds: q.seconds + t * (p.seconds - q.seconds) };
  }
  return null;
}
