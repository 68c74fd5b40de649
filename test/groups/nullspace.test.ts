import test from 'ava';
import { tf, useCpu, seededUniform, maxAbsDiff, mlp, relChange, autodiffGradNormSq } from '../helpers.js';
import * as tp from '../../src/index.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions } from '../../src/teleport/engine.js';
import { nullSpaceProjector } from '../../src/groups/nullspace.js';

test.before(useCpu);

test('the projector annihilates the batch input and keeps its null space: H·P = 0, P² = P, rank as the SVD says', t => {
  const h = tf.concat([seededUniform([4, 6], 1), tf.ones([4, 1])], 1) as tf.Tensor2D;
  const { projector, rank } = nullSpaceProjector(h);
  t.is(rank, 4);
  t.true(tf.max(tf.abs(tf.matMul(h, projector))).dataSync()[0] < 1e-5);
  t.true(maxAbsDiff(tf.matMul(projector, projector), projector) < 1e-5);
  // Trace of a projector is its rank: 7 − 4 free directions.
  t.true(Math.abs(tf.sum(tf.mul(projector, tf.eye(7))).dataSync()[0] - 3) < 1e-4);
});

for (const activation of ['tanh', 'sigmoid'] as const) {
  test(`${activation} MLP: an arbitrary null-space element keeps the batch outputs exactly and changes held-out outputs`, t => {
    const model = mlp({ widths: [8, 8], activation, softmax: true });
    const s = readModel(model);
    const x = seededUniform([4, 6], 2);
    const xHeld = seededUniform([16, 6], 3);
    const plan = planTeleport(s, 'nullspace');
    t.is(plan.sites.length, 2);
    const actions = plan.build(s.variables, x);
    // The second layer of each pair moves; both read 8 units (+ bias) on a batch of 4 rows.
    t.regex(
      actions[0].where,
      /^dense_Dense\d+ \(after dense_Dense\d+\): kernel in the null space of its batch input \(4×9, rank 4 at rcond 1e-6: 5 free directions\)/,
    );
    t.regex(actions[1].where, /\(4×9, rank 4 at rcond 1e-6: 5 free directions\)/);
    const thetas = actions.map((a, k) => seededUniform(a.init(() => 0).shape as number[], 10 + k, -0.5, 0.5));
    const moved = applyActions(actions, s.variables, thetas);
    const onBatch = relChange(s.forward(s.variables, x).output, s.forward(moved, x).output);
    const offBatch = relChange(s.forward(s.variables, xHeld).output, s.forward(moved, xHeld).output);
    t.log(`${activation}: batch change ${onBatch.toExponential(1)}, held-out change ${offBatch.toExponential(1)}`);
    t.true(onBatch < 1e-5);
    t.true(offBatch > 1e-3);
    actions.forEach(a => a.dispose?.());
  });
}

test('moving the first layer in its null space leaves every gradient on the batch unchanged (why the second layer of a pair moves)', t => {
  const model = mlp({ widths: [8], activation: 'tanh', softmax: true });
  const s = readModel(model);
  const x = seededUniform([4, 6], 5);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
  const loss = (p: readonly tf.Tensor[]) => tf.losses.softmaxCrossEntropy(y, s.forward(p, x, { logits: true }).output) as tf.Scalar;
  const grads = (p: tf.Tensor[]) => tf.grads((...q: tf.Tensor[]) => loss(q))(p);
  // The first layer's own null-space move, built by hand with the same projector.
  const h = tf.concat([x, tf.ones([4, 1])], 1) as tf.Tensor2D;
  const { projector } = nullSpaceProjector(h);
  const delta = tf.matMul(projector, seededUniform([7, 8], 6) as tf.Tensor2D);
  const moved = s.variables.map(v => v as tf.Tensor);
  moved[0] = tf.add(moved[0], tf.slice(delta, [0, 0], [6, 8]));
  moved[1] = tf.add(moved[1], tf.reshape(tf.slice(delta, [6, 0], [1, 8]), [8]));
  const g0 = grads(s.variables);
  const g1 = grads(moved);
  g0.forEach((g, i) => t.true(maxAbsDiff(g, g1[i]) < 1e-5, `param ${i}`));
  t.true(maxAbsDiff(moved[0], s.variables[0]) > 0.1);
});

test('a null-space teleport on a tanh MLP raises ‖∇L‖² on the batch (recomputed here), keeps the loss, leaves no tensors behind', async t => {
  const model = mlp({ widths: [8, 8], activation: 'tanh', softmax: true });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([4, 6], 4);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
  const s = readModel(model);
  const lossAt = (p: readonly tf.Tensor[]) => tf.losses.softmaxCrossEntropy(y, s.forward(p, x, { logits: true }).output) as tf.Scalar;
  const gradNormSq = () => autodiffGradNormSq(lossAt, s.variables);
  const before = gradNormSq();
  const loss0 = tf.tidy(() => lossAt(s.variables).dataSync()[0]);
  // The whole batch builds the null space (no held-out rows): the loss on all of it is kept.
  await tp.teleport(model, { x, y }, { group: 'nullspace', heldOutFraction: 0, steps: 1 }); // warm kernels
  const n0 = tf.memory().numTensors;
  const r = await tp.teleport(model, { x, y }, { group: 'nullspace', heldOutFraction: 0, steps: 8, lr: 0.5 });
  t.is(tf.memory().numTensors, n0);
  t.true(r.accepted, r.reason);
  const after = gradNormSq();
  t.log(`‖∇L‖² ${before.toPrecision(4)} → ${after.toPrecision(4)} (growth cap ${tp.DEFAULTS.maxGrowth})`);
  t.true(after > before * 1.01, `${before} → ${after}`);
  t.true(Math.abs(tf.tidy(() => lossAt(s.variables).dataSync()[0]) - loss0) < 1e-4 * loss0);
  t.true(Math.abs(after - r.fullGradNormSqAfter) < 1e-3 * after, `report ${r.fullGradNormSqAfter} vs measured ${after}`);
});

test("group 'nullspace' needs data, and names itself where 'auto' cannot act", t => {
  const model = mlp({ widths: [8], activation: 'tanh' });
  t.throws(() => tp.sgd(0.1, { model, group: 'nullspace', schedule: { every: 5 } }), { message: /data-dependent and needs teleport batches/ });
  const s = readModel(model);
  t.throws(() => planTeleport(s, 'auto'), { message: /groups that apply: nullspace/ });
});
