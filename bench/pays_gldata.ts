/**
 * The gl-data teleport event of dissertation Fig. 4.6 against an epoch of training: MLP 784-512-512-10
 * leakyRelu on the embedded digits, SGD 2e-3, batch 20; one event = gl-data teleports on 4 batches of
 * 20, 10 plain ascent steps of 1e-3 each. Times the event and the training step interleaved (same
 * process, same load) and reports the event as a share of one epoch (steps per epoch × median step).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tp from '../src/index.js';
import { loadMnist } from '../examples/data/mnist.js';
import { toTensors } from '../examples/data/dataset.js';
import { buildMlp } from '../examples/train/models.js';
import { crossEntropy, median, snapshotOf, trainStepOn } from './pays_common.js';

/** The Fig. 4.6 event's settings (issue 21). */
export const FIG46 = { widths: [512, 512], lr: 2e-3, batchSize: 20, teleportBatches: 4, teleportBatchSize: 20, ascentSteps: 10, ascentLr: 1e-3 } as const;

export interface GlDataCost {
  /** Median time of one teleport event (all its batches), ms. */
  eventMs: number;
  /** Median time of one SGD training step, ms. */
  stepMs: number;
  stepsPerEpoch: number;
  /** eventMs / (stepsPerEpoch × stepMs). */
  shareOfEpoch: number;
  /** Per-teleport reports of the last event (accepted, growth). */
  accepted: number;
  growth: number[];
  /** Relative loss drift on each teleport's batch (last event), as the guard measured it. */
  drift: (number | null)[];
  /** Why each teleport of the last event was rejected (null: accepted). */
  rejections: (string | null)[];
  reps: number;
}

/** Measures the event; `reps` interleaved rounds of (event, `stepsPerRound` training steps). */
export async function measureGlDataEvent(opts: {
  reps: number;
  trainCount?: number;
  seed?: number;
  stepsPerRound?: number;
  /** The gl-data element's rank (option `glDataRank`); unset: the library's default. */
  glDataRank?: number | 'dense';
  /** Ascent steps per teleport (default Fig. 4.6's 10): to see what fewer steps cost and reach. */
  ascentSteps?: number;
  /** Ascent step size (default Fig. 4.6's 1e-3). */
  ascentLr?: number;
}): Promise<GlDataCost> {
  const ds = await loadMnist({ limit: opts.trainCount, testLimit: 1 });
  const train = toTensors(ds.train, { flatten: true, oneHot: true });
  const n = train.x.shape[0];
  const stepsPerEpoch = Math.ceil(n / FIG46.batchSize);
  const model = buildMlp({ inputSize: 784, widths: [...FIG46.widths], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed: opts.seed ?? 1 });
  const opt = tf.train.sgd(FIG46.lr);
  const batches = Array.from({ length: FIG46.teleportBatches }, (_, i) => ({
    x: tf.slice(train.x, 1000 + i * FIG46.teleportBatchSize, FIG46.teleportBatchSize),
    y: tf.slice(train.y, 1000 + i * FIG46.teleportBatchSize, FIG46.teleportBatchSize),
  }));
  const bx = tf.slice(train.x, 0, FIG46.batchSize);
  const by = tf.slice(train.y, 0, FIG46.batchSize);
  const snap = snapshotOf(model);
  const eventMs: number[] = [];
  const stepMs: number[] = [];
  let growth: number[] = [];
  let accepted = 0;
  let rejections: (string | null)[] = [];
  let drift: (number | null)[] = [];
  try {
    // A few training steps first so the teleport starts from trained weights, not the initialization.
    for (let i = 0; i < 20; i++) trainStepOn(opt, model, bx, by);
    snap.save();
    for (let r = 0; r < opts.reps + 1; r++) {
      snap.restore();
      // Each round is the same event from the same weights: without this the one-off budget spent by
      // the earlier rounds would skip the later rounds' teleports (timing skips, not teleports).
      tp.teleport.resetBudget(model);
      const t0 = performance.now();
      const reports: tp.TeleportReport[] = [];
      for (const b of batches)
        reports.push(
          await tp.teleport(model, b, {
            group: 'gl-data',
            steps: opts.ascentSteps ?? FIG46.ascentSteps,
            lr: opts.ascentLr ?? FIG46.ascentLr,
            normalize: false,
            loss: crossEntropy,
            ...(opts.glDataRank != null ? { glDataRank: opts.glDataRank } : {}),
          }),
        );
      const t1 = performance.now();
      for (let s = 0; s < (opts.stepsPerRound ?? 5); s++) {
        const s0 = performance.now();
        trainStepOn(opt, model, bx, by);
        if (r > 0) stepMs.push(performance.now() - s0);
      }
      if (r > 0) eventMs.push(t1 - t0); // round 0 is warm-up
      growth = reports.map(rep => rep.gradNormSqAfter / rep.gradNormSqBefore);
      accepted = reports.filter(rep => rep.accepted).length;
      drift = reports.map(rep => rep.relativeLossDrift);
      rejections = reports.map(rep => (rep.accepted ? null : (rep.rejection ?? 'rejected')));
    }
  } finally {
    snap.dispose();
    opt.dispose();
    model.dispose();
    tf.dispose([train.x, train.y, bx, by, ...batches.flatMap(b => [b.x, b.y])]);
  }
  const e = median(eventMs);
  const s = median(stepMs);
  return { eventMs: e, stepMs: s, stepsPerEpoch, shareOfEpoch: e / (stepsPerEpoch * s), accepted, growth, drift, rejections, reps: opts.reps };
}
