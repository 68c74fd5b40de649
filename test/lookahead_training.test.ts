/**
 * 'lookahead' teleports and `schedule: 'auto'` where gradient-norm teleports hurt (issue 21): each
 * claim is measured here independently of what the teleport reports, by plain tf.train loops.
 */
import test from 'ava';
import { tf, type tfl, useCpu, mlp, seededUniform } from './helpers.js';
import * as tp from '../src/index.js';
import { taskModel } from '../examples/meta/diagnose.js';

test.before(useCpu);

/** A fixed regression task: a seeded relu teacher 8-16-4 plus noise, 256 rows. */
function task(): { x: tf.Tensor; y: tf.Tensor } {
  return tf.tidy(() => {
    const x = seededUniform([256, 8], 1);
    const teacher = mlp({ input: 8, widths: [16], activation: 'relu', output: 4, seed: 99 });
    const y = tf.add(teacher.predict(x) as tf.Tensor, seededUniform([256, 4], 5, -0.05, 0.05));
    teacher.dispose();
    return { x, y };
  });
}

const mseOn = (model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))).dataSync()[0]);

/** Loss on (x, y) after k steps of a plain tf.train optimizer from the model's weights (restored afterwards). */
function afterSteps(model: tfl.LayersModel, make: () => tf.Optimizer, x: tf.Tensor, y: tf.Tensor, k: number): number {
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const saved = vars.map(v => v.clone());
  const opt = make();
  for (let i = 0; i < k; i++) opt.minimize(() => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar, false, vars);
  const out = mseOn(model, x, y);
  vars.forEach((v, i) => v.assign(saved[i]));
  tf.dispose(saved);
  opt.dispose();
  return out;
}

test("one-off 'lookahead': an accepted teleport's k-step decrease on the held-out rows beats not teleporting, recomputed with tf.train.sgd", async t => {
  const { x, y } = task();
  const tb = { x: tf.slice(x, [0, 0], [128, 8]), y: tf.slice(y, [0, 0], [128, 4]) };
  // The teleporter holds out the last half of the batch.
  const held = { x: tf.slice(x, [64, 0], [64, 8]), y: tf.slice(y, [64, 0], [64, 4]) };
  let accepted = 0;
  for (const seed of [1, 2, 3, 4]) {
    for (const k of [1, 5]) {
      const model = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed });
      model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
      const sgd = () => tf.train.sgd(0.05);
      const l0 = mseOn(model, held.x, held.y);
      const fromW = l0 - afterSteps(model, sgd, held.x, held.y, k);
      const report = await tp.teleport(model, tb, { group: 'rescale', objective: 'lookahead', lookaheadSteps: k, optimizer: sgd() });
      t.true(Number.isFinite(report.heldOutBefore!) && Number.isFinite(report.heldOutAfter!));
      if (report.accepted) {
        accepted++;
        const fromG = l0 - afterSteps(model, sgd, held.x, held.y, k);
        t.true(fromG > fromW, `seed ${seed}, k ${k}: decrease ${fromW} → ${fromG}`);
        // The report's numbers are these measurements (its per-row mean of the same losses).
        t.true(Math.abs(report.heldOutBefore! - fromW) <= 1e-4 * Math.abs(fromW) + 1e-7, `before ${report.heldOutBefore} vs ${fromW}`);
        t.true(Math.abs(report.heldOutAfter! - fromG) <= 1e-4 * Math.abs(fromG) + 1e-7, `after ${report.heldOutAfter} vs ${fromG}`);
      } else {
        t.is(report.rejection, 'no-improvement');
      }
      model.dispose();
    }
  }
  t.log(`accepted ${accepted} of 8`);
  t.true(accepted >= 2, `accepted ${accepted} of 8`);
  tf.dispose([x, y, tb.x, tb.y, held.x, held.y]);
});
