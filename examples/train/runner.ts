import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import { SeededRandom } from '../../src/core/random.js';
import type { CurvePoint, RunRecord, TeleportEvent } from '../report/types.js';

/** Optimizers the examples compare, by the names the CLI accepts. */
export const OPTIMIZER_NAMES = ['sgd', 'momentum', 'adagrad', 'rmsprop', 'adam'] as const;
export type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

/** The three arms of every comparison: plain, teleporting, and resetting the optimizer state only. */
export const VARIANTS = ['baseline', 'teleport', 'reset'] as const;
export type Variant = (typeof VARIANTS)[number];

/** The plain tfjs optimizer by name (what the teleporting one wraps); momentum 0.9 as in dissertation §5.4.2. */
export function plainOptimizer(name: OptimizerName, lr: number): tf.Optimizer {
  switch (name) {
    case 'sgd':
      return tf.train.sgd(lr);
    case 'momentum':
      return tf.train.momentum(lr, 0.9);
    case 'adagrad':
      return tf.train.adagrad(lr);
    case 'rmsprop':
      return tf.train.rmsprop(lr);
    case 'adam':
      return tf.train.adam(lr);
  }
}

/** A teleporting optimizer by name; momentum uses 0.9 as in dissertation §5.4.2. */
export function makeOptimizer(name: OptimizerName, lr: number, options: tp.TeleportOptimizerOptions): tp.TeleportOptimizer {
  switch (name) {
    case 'sgd':
      return tp.sgd(lr, options);
    case 'momentum':
      return tp.momentum(lr, 0.9, options);
    case 'adagrad':
      return tp.adagrad(lr, options);
    case 'rmsprop':
      return tp.rmsprop(lr, options);
    case 'adam':
      return tp.adam(lr, options);
  }
}

export interface Split {
  x: tf.Tensor;
  y: tf.Tensor;
}

/** How and when the 'teleport' arm teleports (the 'reset' arm resets at the same steps). */
export interface TeleportSpec {
  /** Optimizer steps at which to teleport (before that step's update). */
  atSteps: number[];
  /**
   * A schedule instead of `atSteps`: `{ every, start?, stop? }` or `'auto'` (the optimizer decides).
   * The reset arm resets at the same steps; with 'auto', at `resetSteps` (e.g. where the teleport arm
   * of the same seed teleported), or never.
   */
  schedule?: tp.Schedule;
  /** Steps at which the reset arm resets when `schedule` is 'auto'. */
  resetSteps?: number[];
  group: tp.GroupOption;
  objective: tp.ObjectiveName;
  steps: number;
  lr: number;
  normalize?: boolean;
  maxGrowth?: number;
  maxLossDrift?: number;
  /** Teleport batches (sampled once from the training set); with gradientSource 'data' each is used in turn. */
  batchCount: number;
  batchSize: number;
  gradientSource?: 'step' | 'data';
  stateAfterTeleport?: tp.StatePolicy;
}

export interface RunSpec {
  optimizer: OptimizerName;
  lr: number;
  variant: Variant;
  seed: number;
  epochs: number;
  /** Batch size; use the training set size for full-batch gradient descent. */
  batchSize: number;
  /** Builds the model with weights fixed by the seed (same seed → same start for every arm). */
  buildModel: (seed: number) => LayersModel;
  loss: string | tpAdvanced.LossFunction;
  train: Split;
  val?: Split;
  /** Train loss is evaluated on at most this many training examples (outside the clock). */
  trainEvalSize?: number;
  /** Classification: report validation accuracy. */
  classification?: boolean;
  teleport?: TeleportSpec;
  /**
   * Points per epoch of the step-resolution train-loss series (`RunRecord.fine`, default 20): each is
   * the mean of the training-batch losses of the steps since the previous point (at most
   * ⌈steps per epoch / this⌉ of them), at no extra evaluation.
   */
  finePointsPerEpoch?: number;
  /** Stop early when the train loss is not finite or exceeds this multiple of its start. */
  divergeFactor?: number;
  /** Called after every optimizer step (for progress bars). */
  onStep?: (info: { step: number; totalSteps: number; epoch: number; loss: number | null }) => void;
}

/** Mean loss (and accuracy) of a model on a split, in chunks, outside the training clock. */
function evaluate(
  model: LayersModel,
  lossFn: (y: tf.Tensor, p: tf.Tensor) => tf.Scalar,
  split: Split,
  limit: number,
  classification: boolean,
): { loss: number; accuracy?: number } {
  const n = Math.min(split.x.shape[0], limit);
  const chunk = 1000;
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += chunk) {
    const size = Math.min(chunk, n - start);
    tf.tidy(() => {
      const x = tf.slice(split.x, start, size);
      const y = tf.slice(split.y, start, size);
      const p = model.predict(x) as tf.Tensor;
      lossSum += lossFn(y, p).dataSync()[0] * size;
      if (classification) correct += tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(y, -1)), 'float32')).dataSync()[0];
    });
  }
  return classification ? { loss: lossSum / n, accuracy: correct / n } : { loss: lossSum / n };
}

/** The training loss on predictions: the package's own resolver (probabilities, not fused logits). */
function lossFunctionOf(loss: string | tpAdvanced.LossFunction): (y: tf.Tensor, p: tf.Tensor) => tf.Scalar {
  return tpAdvanced.resolveLoss(loss, false).compute;
}

/** ‖∇L‖² on a probe batch at the current weights (outside the clock). */
function gradNormSqOn(model: LayersModel, lossFn: (y: tf.Tensor, p: tf.Tensor) => tf.Scalar, probe: Split): number {
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(
      () => lossFn(probe.y, model.apply(probe.x, { training: false }) as tf.Tensor),
      model.trainableWeights.map(w => w.read() as tf.Variable),
    );
    return tpAdvanced.gradNormSq(Object.values(grads)).dataSync()[0];
  });
}

/**
 * Trains one arm of a comparison with a custom `optimizer.minimize` loop and records its curves.
 * The clock (`seconds`) counts optimizer steps and teleports only; evaluation runs outside it.
 */
export function runTraining(spec: RunSpec): RunRecord {
  const model = spec.buildModel(spec.seed);
  const lossFn = lossFunctionOf(spec.loss);
  const n = spec.train.x.shape[0];
  const stepsPerEpoch = Math.ceil(n / spec.batchSize);
  const totalSteps = stepsPerEpoch * spec.epochs;
  const random = new SeededRandom(spec.seed * 7919 + 17);
  // Teleport batches come from their own stream so every arm sees the same minibatch order.
  const teleportRandom = new SeededRandom(spec.seed * 104729 + 3);
  const keep: tf.Tensor[] = [];

  // Teleport batches: sampled once, the same for the teleport and reset arms.
  let teleportBatches: tp.Batch[] = [];
  if (spec.teleport && spec.variant !== 'baseline') {
    teleportBatches = Array.from({ length: spec.teleport.batchCount }, () => {
      // Without replacement: repeated rows would make data-dependent actions rank deficient.
      const size = Math.min(spec.teleport!.batchSize, n);
      const idx = tf.tensor1d(shuffled(n, teleportRandom).slice(0, size), 'int32');
      const b = { x: tf.gather(spec.train.x, idx), y: tf.gather(spec.train.y, idx) };
      idx.dispose();
      keep.push(b.x, b.y);
      return b;
    });
  }
  const teleports: TeleportEvent[] = [];
  let clock = 0;
  let stepNow = 0;
  const teleporting = spec.variant === 'teleport' && spec.teleport != null;
  const optimizer = makeOptimizer(
    spec.optimizer,
    spec.lr,
    teleporting
      ? {
          model,
          loss: spec.loss,
          group: spec.teleport!.group,
          objective: spec.teleport!.objective,
          steps: spec.teleport!.steps,
          lr: spec.teleport!.lr,
          normalize: spec.teleport!.normalize,
          maxGrowth: spec.teleport!.maxGrowth,
          maxLossDrift: spec.teleport!.maxLossDrift,
          schedule: spec.teleport!.schedule ?? { atSteps: spec.teleport!.atSteps },
          data: teleportBatches,
          gradientSource: spec.teleport!.gradientSource,
          stateAfterTeleport: spec.teleport!.stateAfterTeleport,
          seed: spec.seed,
          onTeleport: r =>
            teleports.push({
              epoch: stepNow / stepsPerEpoch,
              step: stepNow,
              seconds: clock,
              ms: r.ms,
              gradNormSqBefore: r.gradNormSqBefore,
              gradNormSqAfter: r.gradNormSqAfter,
              relativeLossDrift: r.relativeLossDrift,
              accepted: r.accepted,
            }),
        }
      : {},
  );
  const planned = spec.teleport ? plannedSteps(spec.teleport, totalSteps) : [];
  const resetSteps = new Set(spec.variant === 'reset' ? planned : []);

  const probeSize = Math.min(n, 500);
  const probe = { x: tf.slice(spec.train.x, 0, probeSize), y: tf.slice(spec.train.y, 0, probeSize) };
  keep.push(probe.x, probe.y);
  const points: CurvePoint[] = [];
  const record = (epoch: number) => {
    const tr = evaluate(model, lossFn, spec.train, spec.trainEvalSize ?? 5000, false);
    const point: CurvePoint = { epoch, step: stepNow, seconds: clock, trainLoss: tr.loss, gradNormSq: gradNormSqOn(model, lossFn, probe) };
    if (spec.val) {
      const v = evaluate(model, lossFn, spec.val, spec.trainEvalSize ?? 5000, spec.classification ?? false);
      point.valLoss = v.loss;
      if (v.accuracy != null) point.valAccuracy = v.accuracy;
    }
    points.push(point);
    return point;
  };
  const initial = record(0);
  let diverged = false;
  let teleportSeconds = 0;

  // Step resolution: the training-batch losses the steps compute anyway, averaged over a window of
  // `window` steps (non-overlapping; a window also closes at the end of every epoch and right before
  // a scheduled teleport/reset step, so every arm has a point exactly where the teleport happens).
  // A point sits at the step count reached when its window closes (the mean covers the `window`
  // steps before it). The first point is the evaluated initial train loss at step 0.
  const window = Math.max(1, Math.ceil(stepsPerEpoch / (spec.finePointsPerEpoch ?? 20)));
  const fine: CurvePoint[] = [{ epoch: 0, step: 0, seconds: 0, trainLoss: initial.trainLoss }];
  const marks = new Set(planned);
  let windowSum = 0;
  let windowCount = 0;
  const flush = () => {
    if (windowCount === 0) return;
    fine.push({ epoch: stepNow / stepsPerEpoch, step: stepNow, seconds: clock, trainLoss: windowSum / windowCount });
    windowSum = 0;
    windowCount = 0;
  };

  for (let epoch = 0; epoch < spec.epochs && !diverged; epoch++) {
    const order = tf.tensor1d(shuffled(n, random), 'int32');
    for (let b = 0; b < stepsPerEpoch; b++) {
      const size = Math.min(spec.batchSize, n - b * spec.batchSize);
      const idx = stepsPerEpoch === 1 ? null : tf.slice(order, b * spec.batchSize, size);
      const x = idx ? tf.gather(spec.train.x, idx) : spec.train.x;
      const y = idx ? tf.gather(spec.train.y, idx) : spec.train.y;
      if (marks.has(stepNow)) flush();
      const before = teleports.length;
      const t0 = performance.now();
      if (resetSteps.has(stepNow)) optimizer.resetState();
      const cost = optimizer.minimize(() => lossFn(y, model.apply(x, { training: true }) as tf.Tensor), true);
      const lossValue = cost!.dataSync()[0]; // syncs, so the clock sees the real work
      clock += (performance.now() - t0) / 1000;
      for (let k = before; k < teleports.length; k++) teleportSeconds += teleports[k].ms / 1000;
      cost!.dispose();
      if (idx) tf.dispose([idx, x, y]);
      stepNow++;
      windowSum += lossValue;
      windowCount++;
      if (windowCount >= window || b === stepsPerEpoch - 1) flush();
      spec.onStep?.({ step: stepNow, totalSteps, epoch, loss: lossValue });
      if (!Number.isFinite(lossValue)) {
        flush();
        diverged = true;
        break;
      }
    }
    order.dispose();
    const p = record(epoch + 1);
    if (!Number.isFinite(p.trainLoss) || p.trainLoss > (spec.divergeFactor ?? 1e4) * initial.trainLoss) diverged = true;
  }
  tpAdvanced.disposeOptimizer(optimizer);
  model.dispose();
  tf.dispose(keep);
  const label = `${spec.optimizer}${spec.variant === 'baseline' ? '' : spec.variant === 'teleport' ? ' + teleport' : ' + reset'}`;
  return {
    optimizer: spec.optimizer,
    variant: spec.variant,
    seed: spec.seed,
    label,
    points,
    fine,
    fineWindow: window,
    teleports,
    totalSeconds: clock,
    teleportSeconds,
    diverged,
  };
}

/** The steps a spec teleports at (the reset arm's steps): atSteps, an `every` schedule's steps, or resetSteps for 'auto'. */
export function plannedSteps(t: TeleportSpec, totalSteps: number): number[] {
  const s = t.schedule;
  if (s == null) return t.atSteps;
  if (s === 'auto') return t.resetSteps ?? [];
  if ('atSteps' in s) return s.atSteps;
  const out: number[] = [];
  for (let k = s.start ?? s.every; k < Math.min(totalSteps, s.stop ?? Number.POSITIVE_INFINITY); k += s.every) out.push(k);
  return out;
}

function shuffled(n: number, random: SeededRandom): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
