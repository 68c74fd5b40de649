/**
 * Full-batch training of the dissertation's regression (§4.6.1) for the regression benchmark:
 * several arms advanced in lockstep (one step of every arm per epoch, in rotating order), so load
 * from other processes falls on all arms alike and their clocks compare.
 *
 * Not examples/train/runner.ts: that runner samples the teleport batch with replacement, and a batch
 * with a repeated row makes the data-dependent GL action's H rank-deficient; here the teleport batch
 * is the whole data set, as in the paper.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as tp from '../src/index.js';
import { SeededRandom } from '../src/core/random.js';
import { regressionData, regressionLossOf, regressionModel, type RegressionLossName } from '../src/problems/regression.js';
import { variablesOf } from './models.js';

export type RegOptimizer = 'sgd' | 'adagrad';
export type RegVariant = 'baseline' | 'teleport' | 'reset';

/** Teleport settings of one arm. */
export interface RegTeleport {
  group: 'rescale' | 'gl-data';
  objective: tp.ObjectiveName;
  steps: number;
  lr: number;
  normalize: boolean;
  maxGrowth: number;
  /** Steps (= epochs, full batch) before whose update the teleport happens. */
  atSteps: number[];
}

export interface RegArmSpec {
  optimizer: RegOptimizer;
  lr: number;
  variant: RegVariant;
  seed: number;
  teleport?: RegTeleport;
  label?: string;
  /**
   * Build the same network behind a Flatten of a [4, 5, 1] input. Numerically identical; works
   * around the library bug that makes gl-data dispose the caller's batch x when the first layer
   * has no bias (see the regression benchmark notes).
   */
  flattenInput?: boolean;
  /**
   * 'sse' (default) trains on ‖Y − Ŷ‖², the dissertation's text; 'half-sse' on ½‖Y − Ŷ‖², the
   * reference code's loss, so the same learning rate takes the reference's (half) step.
   */
  loss?: RegressionLossName;
}

export interface RegRun {
  spec: RegArmSpec;
  /** losses[e] = L(w_e), the loss after e updates (e = 0 … epochs), in the arm's own loss (spec.loss). */
  losses: number[];
  /** seconds[e] = wall time of the first e steps (teleports included). */
  seconds: number[];
  teleports: Array<{ step: number; ms: number; accepted: boolean; growth: number; drift: number | null; reason?: string }>;
  diverged: boolean;
}

/** regressionModel leaks the tensors it passes to setWeights; building inside tidy frees them. */
export function buildRegressionModel(seed: number): LayersModel {
  let model: LayersModel | null = null;
  tf.tidy(() => {
    model = regressionModel(seed);
  });
  return model!;
}

/** The same network and weights, fed through a Flatten of a [n, 5, 1] input (see RegArmSpec.flattenInput). */
export function buildFlattenedRegressionModel(seed: number): LayersModel {
  const base = buildRegressionModel(seed);
  const model = tfl.sequential();
  model.add(tfl.layers.flatten({ inputShape: [5, 1] }));
  for (const layer of base.layers) {
    const config = layer.getConfig();
    if (layer.getClassName() === 'Dense') model.add(tfl.layers.dense({ units: config.units as number, useBias: false }));
    else model.add(tfl.layers.leakyReLU({ alpha: config.alpha as number }));
  }
  model.setWeights(base.getWeights());
  base.dispose();
  return model;
}

interface Arm {
  spec: RegArmSpec;
  model: LayersModel;
  vars: tf.Variable[];
  x: tf.Tensor;
  y: tf.Tensor;
  optimizer: tp.TeleportOptimizer;
  run: RegRun;
  clock: number;
  done: boolean;
  loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;
}

function makeArm(spec: RegArmSpec): Arm {
  const data = regressionData(spec.seed);
  const x = spec.flattenInput ? tf.reshape(data.x, [4, 5, 1]) : data.x;
  if (spec.flattenInput) data.x.dispose();
  const y = data.y;
  const model = spec.flattenInput ? buildFlattenedRegressionModel(spec.seed) : buildRegressionModel(spec.seed);
  const inner = spec.optimizer === 'sgd' ? tf.train.sgd(spec.lr) : tf.train.adagrad(spec.lr);
  const run: RegRun = { spec, losses: [], seconds: [], teleports: [], diverged: false };
  const t = spec.teleport;
  const loss = regressionLossOf(spec.loss ?? 'sse');
  const optimizer =
    spec.variant === 'teleport' && t
      ? tp.wrap(inner, {
          model,
          loss,
          group: t.group,
          objective: t.objective,
          steps: t.steps,
          lr: t.lr,
          normalize: t.normalize,
          maxGrowth: t.maxGrowth,
          // Each teleport gets its full maxGrowth, as the settings say: the library's default run-wide
          // budget (maxTotalGrowth = maxGrowth²) gives the first teleport its full cap but later ones of
          // a multi-teleport schedule less.
          maxTotalGrowth: Number.POSITIVE_INFINITY,
          schedule: { atSteps: t.atSteps },
          data: { x, y },
          onTeleport: r =>
            run.teleports.push({
              step: r.step ?? -1,
              ms: r.ms,
              accepted: r.accepted,
              growth: r.gradNormSqAfter / r.gradNormSqBefore,
              drift: r.relativeLossDrift,
              reason: r.reason,
            }),
        })
      : tp.wrap(inner);
  return { spec, model, vars: variablesOf(model), x, y, optimizer, run, clock: 0, done: false, loss };
}

/** Trains all arms for `epochs` full-batch steps, interleaved; returns one run per arm. */
export function trainRegressionArms(
  specs: RegArmSpec[],
  epochs: number,
  opts: { divergeFactor?: number; stopAtFraction?: number; orderSeed?: number } = {},
): RegRun[] {
  const divergeFactor = opts.divergeFactor ?? 1e4;
  // The order of the arms within an epoch is shuffled (seeded) every epoch: garbage collection
  // follows the allocation pattern, so with a fixed order its pauses would land on the same arm's
  // steps in every repetition, and medians over repetitions would not remove them.
  const order = new SeededRandom(opts.orderSeed ?? 1);
  const gc = collector();
  const arms = specs.map(makeArm);
  try {
    for (let e = 0; e < epochs; e++) {
      if (gc && e % 10 === 0) gc(); // a full collection outside the clocks now and then
      const perm = arms.map((_, i) => i);
      for (let i = perm.length - 1; i > 0; i--) {
        const j = order.int(i + 1);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      for (const k of perm) {
        const arm = arms[k];
        if (arm.done) continue;
        const resetNow = arm.spec.variant === 'reset' && (arm.spec.teleport?.atSteps ?? []).includes(e);
        const t0 = performance.now();
        if (resetNow) arm.optimizer.resetState();
        const cost = arm.optimizer.minimize(() => arm.loss(arm.y, arm.model.apply(arm.x) as tf.Tensor), true, arm.vars);
        const v = cost!.dataSync()[0];
        const dt = performance.now() - t0;
        cost!.dispose();
        // The step's loss is L(w_e), measured before its update; the clock then has e steps.
        arm.run.losses.push(v);
        arm.run.seconds.push(arm.clock / 1000);
        arm.clock += dt;
        if (!Number.isFinite(v) || v > divergeFactor * arm.run.losses[0]) {
          arm.run.diverged = true;
          arm.done = true;
        } else if (opts.stopAtFraction != null && v <= opts.stopAtFraction * arm.run.losses[0]) {
          arm.done = true;
        }
      }
    }
    for (const arm of arms) {
      if (arm.done) continue;
      arm.done = true;
      const v = tf.tidy(() => arm.loss(arm.y, arm.model.apply(arm.x) as tf.Tensor).dataSync()[0]);
      arm.run.losses.push(v);
      arm.run.seconds.push(arm.clock / 1000);
      if (!Number.isFinite(v)) arm.run.diverged = true;
    }
  } finally {
    for (const arm of arms) {
      arm.optimizer.dispose();
      arm.model.dispose();
      tf.dispose([arm.x, arm.y]);
    }
  }
  return arms.map(a => a.run);
}

let gcFn: (() => void) | null | undefined;

/** Node's gc(), exposed at run time (no command-line flag needed); null if unavailable. */
function collector(): (() => void) | null {
  if (gcFn !== undefined) return gcFn;
  try {
    v8.setFlagsFromString('--expose_gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/** Epoch and seconds at which the loss first falls below `fraction` of its initial value. */
export function reach(run: RegRun, fraction: number): { epoch: number; seconds: number } | null {
  const target = fraction * run.losses[0];
  for (let e = 0; e < run.losses.length; e++) {
    if (run.losses[e] <= target) return { epoch: e, seconds: run.seconds[e] };
  }
  return null;
}
