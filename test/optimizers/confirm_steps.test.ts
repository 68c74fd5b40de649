import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, oneHotBatch } from '../helpers.js';
import * as tp from '../../src/index.js';

test.before(useCpu);

const LR = 1.5; // large enough that some gradient-norm teleports would slow the next step (both branches are exercised)
const N = 16; // teleport rows: the first 8 search, the last 8 are held out (8 parts of one row)

function task(seed: number) {
  const x = seededUniform([32, 6], seed);
  const y = oneHotBatch(32, 3, seed + 1);
  const tx = seededUniform([N, 6], seed + 2);
  const ty = oneHotBatch(N, 3, seed + 3);
  return { x, y, tx, ty };
}

/** Mean categorical cross-entropy of probabilities, as tfjs-layers computes it (the model ends in softmax). */
const ce = (y: tf.Tensor, p: tf.Tensor) => tf.mean(tfl.metrics.categoricalCrossentropy(y, p)) as tf.Scalar;

/** Mean cross-entropy of `model` on rows (recomputed with the layers API, not the library's loss). */
function lossOf(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => ce(y, model.predict(x) as tf.Tensor).dataSync()[0]);
}

/** The loss decrease of one plain SGD step (rate LR) on (x, y), from the model's current weights; the weights are restored. */
function oneStepDecrease(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  const saved = model.getWeights().map(w => w.clone());
  const before = lossOf(model, x, y);
  const sgd = tf.train.sgd(LR);
  sgd.minimize(() => ce(y, model.apply(x) as tf.Tensor));
  const after = lossOf(model, x, y);
  sgd.dispose();
  model.setWeights(saved);
  tf.dispose(saved);
  return before - after;
}

for (const route of ['data', 'step'] as const) {
  test(`confirmSteps (${route} route): a gradient-norm teleport is kept only if one real step on the held-out rows decreases the loss at least as much (recomputed with a plain tf.train.sgd twin)`, t => {
    let refused = 0;
    let refusedByConfirm = 0;
    for (const seed of [1, 2, 3, 4]) {
      const { x, y, tx, ty } = task(seed * 10);
      const hx = tf.slice(tx, N / 2, N / 2);
      const hy = tf.slice(ty, N / 2, N / 2);
      const make = () => mlp({ input: 6, widths: [12, 12], output: 3, seed, activation: 'relu', softmax: true });
      // The twin takes the same steps with plain SGD: its weights are the teleport's starting point w.
      const twin = make();
      const model = make();
      const opt = tp.sgd(LR, {
        model,
        loss: 'categoricalCrossentropy',
        data: { x: tx, y: ty },
        schedule: { every: 3 },
        group: 'rescale',
        gradientSource: route,
        confirmSteps: 1,
      });
      const plain = tf.train.sgd(LR);
      const trainStep = (m: tfl.LayersModel, o: tf.Optimizer) => o.minimize(() => ce(y, m.apply(x) as tf.Tensor));
      // Steps count from 0: the teleport belongs to step 3 (the fourth update): on the 'data' route it
      // runs after that update, on the in-step route before it (then the update follows).
      for (let step = 0; step < 4; step++) trainStep(model, opt);
      for (let step = 0; step < (route === 'data' ? 4 : 3); step++) trainStep(twin, plain);
      const report = opt.teleportReports.at(-1)!;
      t.is(report?.step, 3, 'a teleport ran at step 3');
      t.true(Number.isFinite(report.heldOutBefore!) && Number.isFinite(report.heldOutAfter!), `seed ${seed}: both decreases reported`);
      const fromW = oneStepDecrease(twin, hx, hy);
      t.true(
        Math.abs(report.heldOutBefore! - fromW) <= 1e-4 * Math.max(1, Math.abs(fromW)),
        `seed ${seed}: from w ${report.heldOutBefore} vs recomputed ${fromW}`,
      );
      t.true(!report.accepted || report.heldOutAfter! >= report.heldOutBefore!, `seed ${seed}: an accepted teleport does not slow the next step`);
      if (!report.accepted) refused++;
      if (!report.accepted && /confirmSteps/.test(report.reason ?? '')) refusedByConfirm++;
      if (route === 'data') {
        if (report.accepted) {
          const fromG = oneStepDecrease(model, hx, hy);
          t.true(
            Math.abs(report.heldOutAfter! - fromG) <= 1e-4 * Math.max(1, Math.abs(fromG)),
            `seed ${seed}: from g·w ${report.heldOutAfter} vs recomputed ${fromG}`,
          );
        } else {
          // Refused: the weights are the twin's, bit for bit.
          model.getWeights().forEach((w, i) => t.deepEqual(Array.from(w.dataSync()), Array.from(twin.getWeights()[i].dataSync())));
        }
      }
      opt.dispose();
      plain.dispose();
      tf.dispose([x, y, tx, ty, hx, hy]);
    }
    t.log(`refused: ${refused} of 4 (${refusedByConfirm} by the confirmation)`);
    t.true(refusedByConfirm >= 1 && refused < 4, 'both outcomes occur: confirmed teleports and one the next step refutes');
  });
}

test('confirmSteps: 0 (the default) turns the check off (the search uses the whole batch, no held-out numbers)', t => {
  const { x, y, tx, ty } = task(7);
  const model = mlp({ input: 6, widths: [12, 12], output: 3, seed: 7, softmax: true });
  const opt = tp.sgd(0.1, { model, loss: 'categoricalCrossentropy', data: { x: tx, y: ty }, schedule: { every: 2 } });
  for (let i = 0; i < 3; i++) opt.minimize(() => ce(y, model.apply(x) as tf.Tensor));
  const r = opt.teleportReports.at(-1)!;
  t.is(r.heldOutBefore, undefined);
  t.is(r.heldOutAfter, undefined);
  opt.dispose();
  tf.dispose([x, y, tx, ty]);
});

test('confirmSteps: bad values are refused by name; tensors stay flat across confirmed teleports', t => {
  for (const bad of [-1, 1.5, Number.NaN, '2']) {
    t.throws(() => tp.sgd(0.1, { confirmSteps: bad as number }), { instanceOf: tp.TeleportError, message: /confirmSteps/ });
  }
  const { x, y, tx, ty } = task(9);
  const model = mlp({ input: 6, widths: [12, 12], output: 3, seed: 9, softmax: true });
  const opt = tp.momentum(0.1, 0.9, { model, loss: 'categoricalCrossentropy', data: { x: tx, y: ty }, schedule: { every: 2 }, confirmSteps: 2 });
  const step = () => opt.minimize(() => ce(y, model.apply(x) as tf.Tensor));
  for (let i = 0; i < 4; i++) step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 10; i++) step();
  t.is(tf.memory().numTensors, before);
  t.true(
    opt.teleportReports.some(r => Number.isFinite(r.heldOutBefore!)),
    'momentum teleports are confirmed with 2 real steps',
  );
  opt.dispose();
  tf.dispose([x, y, tx, ty]);
});
