/**
 * Null-space teleports against gl-data on a model both support (issue 18 §3): MLP 784-32-32-10 with
 * LeakyReLU(0.1) on the embedded digits (and the same MLP with tanh, where only nullspace applies).
 * Per seed: 50 SGD steps (lr 0.05, batch 32) from the initialization, then from the same weights one
 * teleport per arm on a 24-row teleport batch with the library defaults (gradNorm, 10 steps, lr 0.1):
 *   - gl-data (eq. 4.13; the whole batch; leakyRelu only)
 *   - nullspace, unguarded (maxHeldOutChange: Infinity; its last quarter held out, as by default)
 *   - nullspace with the default held-out guard
 * Measured: the cost of one ascent step in training steps (teleport time / ascent steps taken /
 * median SGD step on a batch of 32, interleaved in one process), ‖∇L‖² recomputed here by autodiff
 * over every weight on the teleport batch and on 256 fresh digits, and the relative change of the
 * outputs on 500 test digits (with the change one SGD step makes there, for scale).
 *
 *   npm run bench -- --only nullspace            # seeds 1–3
 *   NULLSPACE_SEEDS=101,102,103 npx tsx bench/run.ts --only nullspace   # the tuning seeds
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tp from '../src/index.js';
import { loadMnist } from '../examples/data/mnist.js';
import { toTensors } from '../examples/data/dataset.js';
import { buildMlp } from '../examples/train/models.js';
import { fmt, table, type BenchContext } from './common.js';
import { crossEntropy, median, snapshotOf, trainStepOn, variablesOf } from './pays_common.js';
import type { BenchOutput } from './types.js';

const SETTINGS = { hidden: 32, trainSteps: 50, lr: 0.05, batch: 32, teleportRows: 24, freshRows: 256, testRows: 500, timingReps: 3 } as const;

type Arm = string;
/** The arms; NULLSPACE_BOUNDS=0.01,0.1 adds nullspace arms at those maxHeldOutChange (how the default was picked). */
function armsOf(): Record<Arm, Partial<tp.TeleportOptions>> {
  const extra = (process.env.NULLSPACE_BOUNDS ?? '').split(',').filter(Boolean).map(Number);
  return {
    'gl-data': { group: 'gl-data' },
    'nullspace (unguarded)': { group: 'nullspace', maxHeldOutChange: Infinity },
    ...Object.fromEntries(extra.map(b => [`nullspace (maxHeldOutChange ${b})`, { group: 'nullspace', maxHeldOutChange: b }])),
    [`nullspace (default, maxHeldOutChange ${tp.DEFAULTS.maxHeldOutChange})`]: { group: 'nullspace' },
  };
}

interface Row {
  activation: 'leakyRelu' | 'tanh';
  arm: Arm;
  seed: number;
  accepted: boolean;
  reason?: string;
  ascentSteps: number;
  /** One ascent step in SGD training steps. */
  costInSteps: number;
  teleportMs: number;
  stepMs: number;
  /** ‖∇L‖² after / before, recomputed, on the teleport batch and on fresh rows. */
  gainBatch: number;
  gainFresh: number;
  /** Relative change of the outputs on test rows, of the teleport and of one SGD step. */
  offBatchChange: number;
  stepChange: number;
  /** The report's held-out change (nullspace). */
  heldOutReported: number | null;
  lossDriftBatch: number;
  /** Test-set loss after / before the teleport. */
  testLossRatio: number;
}

const gradNormSq = (model: LayersModel, x: tf.Tensor, y: tf.Tensor) =>
  tf.tidy(() => {
    const { grads } = tf.variableGrads(() => crossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), variablesOf(model));
    return tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g)))).dataSync()[0];
  });
const lossOn = (model: LayersModel, x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => crossEntropy(y, model.apply(x) as tf.Tensor).dataSync()[0]);
const outputsOn = (model: LayersModel, x: tf.Tensor) => tf.tidy(() => model.predict(x) as tf.Tensor);
const relChange = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.norm(tf.sub(b, a)).dataSync()[0] / tf.norm(a).dataSync()[0]);

function seedsFrom(ctx: BenchContext): number[] {
  const env = process.env.NULLSPACE_SEEDS;
  if (env) return env.split(',').map(Number);
  return ctx.quick ? [1] : [1, 2, 3];
}

export async function runNullspace(ctx: BenchContext): Promise<BenchOutput> {
  const seeds = seedsFrom(ctx);
  const ds = await loadMnist({ limit: 3000, testLimit: SETTINGS.testRows });
  const train = toTensors(ds.train, { flatten: true, oneHot: true });
  const test = toTensors(ds.test, { flatten: true, oneHot: true });
  const rows: Row[] = [];
  const rowsOf = (t: tf.Tensor, from: number, n: number) => tf.slice(t, [from, 0], [n, -1]);
  try {
    for (const activation of ['leakyRelu', 'tanh'] as const) {
      for (const seed of seeds) {
        const model = buildMlp({ inputSize: 784, widths: [SETTINGS.hidden, SETTINGS.hidden], classes: 10, activation, alpha: 0.1, seed });
        const opt = tf.train.sgd(SETTINGS.lr);
        const snap = snapshotOf(model);
        // Batches drawn by seed: training, teleport, fresh rows (disjoint ranges of the 3,000 digits).
        const at = (k: number) => (seed * 97 + k * SETTINGS.batch) % 1500;
        const tele = { x: rowsOf(train.x, 1500 + (seed % 20) * 24, SETTINGS.teleportRows), y: rowsOf(train.y, 1500 + (seed % 20) * 24, SETTINGS.teleportRows) };
        const fresh = { x: rowsOf(train.x, 2700 - SETTINGS.freshRows, SETTINGS.freshRows), y: rowsOf(train.y, 2700 - SETTINGS.freshRows, SETTINGS.freshRows) };
        const bx = rowsOf(train.x, at(0), SETTINGS.batch);
        const by = rowsOf(train.y, at(0), SETTINGS.batch);
        try {
          for (let s = 0; s < SETTINGS.trainSteps; s++) {
            const x = rowsOf(train.x, at(s), SETTINGS.batch);
            const y = rowsOf(train.y, at(s), SETTINGS.batch);
            trainStepOn(opt, model, x, y);
            tf.dispose([x, y]);
          }
          snap.save();
          const ref = outputsOn(model, test.x);
          // One SGD step's change of the test outputs, and its time (the unit of cost).
          const stepTimes: number[] = [];
          let stepChange = NaN;
          for (let r = 0; r < 6; r++) {
            snap.restore();
            const t0 = performance.now();
            trainStepOn(opt, model, bx, by);
            if (r > 0) stepTimes.push(performance.now() - t0);
            if (r === 0) {
              const out = outputsOn(model, test.x);
              stepChange = relChange(ref, out);
              out.dispose();
            }
          }
          const stepMs = median(stepTimes);
          snap.restore();
          const gnBatch0 = gradNormSq(model, tele.x, tele.y);
          const gnFresh0 = gradNormSq(model, fresh.x, fresh.y);
          const loss0 = lossOn(model, tele.x, tele.y);
          const testLoss0 = lossOn(model, test.x, test.y);
          const arms = armsOf();
          for (const arm of Object.keys(arms)) {
            if (arm === 'gl-data' && activation !== 'leakyRelu') continue;
            const options: tp.TeleportOptions = { ...arms[arm], loss: crossEntropy };
            let report: tp.TeleportReport | null = null;
            const times: number[] = [];
            for (let r = 0; r <= SETTINGS.timingReps; r++) {
              snap.restore();
              tp.teleport.resetBudget(model);
              const t0 = performance.now();
              report = await tp.teleport(model, tele, options);
              if (r > 0) times.push(performance.now() - t0); // rep 0 warms the kernels
            }
            const rep = report!;
            const teleportMs = median(times);
            const out = outputsOn(model, test.x);
            const row: Row = {
              activation,
              arm,
              seed,
              accepted: rep.accepted,
              ...(rep.accepted ? {} : { reason: rep.reason }),
              ascentSteps: rep.ascentSteps,
              teleportMs,
              stepMs,
              costInSteps: teleportMs / Math.max(1, rep.ascentSteps) / stepMs,
              gainBatch: gradNormSq(model, tele.x, tele.y) / gnBatch0,
              gainFresh: gradNormSq(model, fresh.x, fresh.y) / gnFresh0,
              offBatchChange: relChange(ref, out),
              stepChange,
              heldOutReported: rep.heldOutOutputChange ?? null,
              lossDriftBatch: Math.abs(lossOn(model, tele.x, tele.y) - loss0) / loss0,
              testLossRatio: lossOn(model, test.x, test.y) / testLoss0,
            };
            out.dispose();
            rows.push(row);
            ctx.log(
              `${activation} seed ${seed} ${arm}: ${row.accepted ? 'accepted' : `refused (${row.reason})`}; ascent step ${fmt(row.costInSteps)} training steps; ‖∇L‖² ×${fmt(row.gainBatch)} on the batch, ×${fmt(row.gainFresh)} fresh; test outputs ${fmt(row.offBatchChange)} (one SGD step ${fmt(stepChange)}); held-out reported ${fmt(row.heldOutReported)}; test loss ×${row.testLossRatio.toFixed(4)}`,
            );
          }
          ref.dispose();
        } finally {
          snap.dispose();
          opt.dispose();
          model.dispose();
          tf.dispose([tele.x, tele.y, fresh.x, fresh.y, bx, by]);
        }
      }
    }
  } finally {
    tf.dispose([train.x, train.y, test.x, test.y]);
  }
  return summarize(rows, seeds);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pm = (xs: number[]) => (xs.length ? `${fmt(mean(xs))} ± ${fmt(sd(xs))}` : '—');

function summarize(rows: Row[], seeds: number[]): BenchOutput {
  const groups = [...new Set(rows.map(r => `${r.activation}|${r.arm}`))];
  const body = [
    '## Method',
    '',
    `MLP 784-${SETTINGS.hidden}-${SETTINGS.hidden}-10 (LeakyReLU 0.1, or tanh) on the embedded digits; per seed ${SETTINGS.trainSteps} SGD steps (lr ${SETTINGS.lr}, batch ${SETTINGS.batch}), then one teleport per arm from the same weights on a ${SETTINGS.teleportRows}-row teleport batch, library defaults (gradNorm, 10 ascent steps, lr 0.1, maxGrowth 2). Seeds ${seeds.join(', ')}; mean ± sd over seeds.`,
    'Cost: teleport time / ascent steps taken / one SGD training step (batch 32), medians of interleaved repetitions. Gains: ‖∇L‖² over every weight after / before, recomputed by autodiff, on the teleport batch and on 256 fresh digits. Off-batch: ‖f(w′) − f(w)‖ / ‖f(w)‖ on 500 test digits, beside the same measure for one SGD step.',
    '',
    table(
      [
        'activation',
        'arm',
        'accepted',
        'ascent step (training steps)',
        '‖∇L‖² gain, batch',
        '‖∇L‖² gain, fresh rows',
        'test-output change',
        'one SGD step',
        'held-out change reported',
        'loss drift, batch',
        'test loss after / before',
      ],
      groups.map(g => {
        const rs = rows.filter(r => `${r.activation}|${r.arm}` === g);
        const ok = rs.filter(r => r.accepted);
        return [
          rs[0].activation,
          rs[0].arm,
          `${ok.length}/${rs.length}`,
          pm(rs.map(r => r.costInSteps)),
          pm(rs.map(r => r.gainBatch)),
          pm(rs.map(r => r.gainFresh)),
          pm(rs.map(r => r.offBatchChange)),
          pm(rs.map(r => r.stepChange)),
          pm(rs.filter(r => r.heldOutReported != null).map(r => r.heldOutReported!)),
          pm(rs.map(r => r.lossDriftBatch)),
          rs.map(r => r.testLossRatio).length ? `${mean(rs.map(r => r.testLossRatio)).toFixed(4)} ± ${sd(rs.map(r => r.testLossRatio)).toFixed(4)}` : '—',
        ];
      }),
      2,
    ),
    '',
    'Refusals:',
    ...rows.filter(r => !r.accepted).map(r => `- ${r.activation} seed ${r.seed} ${r.arm}: ${r.reason}`),
    ...(rows.some(r => !r.accepted) ? [] : ['- none']),
    '',
  ].join('\n');
  const lk = (arm: Arm) => rows.filter(r => r.activation === 'leakyRelu' && r.arm === arm);
  const defaultArm = rows.map(r => r.arm).find(a => a.startsWith('nullspace (default')) ?? 'nullspace';
  const headline = ['gl-data', 'nullspace (unguarded)', defaultArm].map(
    arm =>
      `leakyRelu ${arm}: ascent step ${fmt(mean(lk(arm).map(r => r.costInSteps)))} training steps, ‖∇L‖² ×${fmt(mean(lk(arm).map(r => r.gainBatch)))} on the batch / ×${fmt(mean(lk(arm).map(r => r.gainFresh)))} fresh, test outputs changed ${fmt(mean(lk(arm).map(r => r.offBatchChange)))}`,
  );
  return { title: 'Null-space teleports against gl-data (issue 18 §3)', headline, targets: [], data: { settings: SETTINGS, seeds, rows }, body };
}
