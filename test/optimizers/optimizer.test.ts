import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, oneHotBatch, maxAbsDiff, savedArtifacts } from '../helpers.js';
import * as tp from '../../src/index.js';

test.before(useCpu);

type Factory = (opts: tp.TeleportOptimizerOptions) => tp.TeleportOptimizer;
const WRAPPED: Array<[string, () => tf.Optimizer, Factory]> = [
  ['sgd', () => tf.train.sgd(0.05), o => tp.sgd(0.05, o)],
  ['momentum', () => tf.train.momentum(0.05, 0.9), o => tp.momentum(0.05, 0.9, o)],
  ['adagrad', () => tf.train.adagrad(0.05), o => tp.adagrad(0.05, o)],
  ['rmsprop', () => tf.train.rmsprop(0.01), o => tp.rmsprop(0.01, o)],
  ['adam', () => tf.train.adam(0.01), o => tp.adam(0.01, o)],
];

const data = () => ({ x: seededUniform([24, 6], 1), y: oneHotBatch(24, 3, 2) });

function lossOf(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar;
}

for (const [name, bare, wrapped] of WRAPPED) {
  test(`${name}: with teleports off, the wrapper's trajectory equals the bare optimizer's (minimize)`, t => {
    const { x, y } = data();
    const a = mlp({ widths: [8, 8] });
    const b = mlp({ widths: [8, 8] });
    const oa = bare();
    const ob = wrapped({ model: b });
    for (let i = 0; i < 15; i++) {
      oa.minimize(() => lossOf(a, x, y));
      ob.minimize(() => lossOf(b, x, y));
    }
    a.getWeights().forEach((w, i) => t.is(maxAbsDiff(w, b.getWeights()[i]), 0));
  });

  test(`${name}: trains through compile/fit and minimize with teleports on`, async t => {
    const { x, y } = data();
    const reports: tp.TeleportReport[] = [];
    const model = mlp({ widths: [8, 8], softmax: true });
    const optimizer = wrapped({ model, group: 'rescale', schedule: { every: 5 }, steps: 5, lr: 0.1, data: { x, y }, onTeleport: r => reports.push(r) });
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    const h = await model.fit(x, y, { epochs: 4, batchSize: 6, shuffle: false, verbose: 0 });
    const losses = h.history.loss as number[];
    t.true(losses[losses.length - 1] < losses[0], `fit loss ${losses}`);
    t.is(reports.length, 3); // steps 5, 10, 15 of 16
    t.true(
      reports.every(r => r.accepted && r.relativeLossDrift! <= 1e-4),
      JSON.stringify(reports.map(r => [r.accepted, r.reason, r.relativeLossDrift])),
    );
    const model2 = mlp({ widths: [8, 8] });
    const opt2 = wrapped({ model: model2, group: 'rescale', schedule: { every: 5 }, steps: 5 });
    let first = 0;
    let last = 0;
    for (let i = 0; i < 20; i++) {
      const l = opt2.minimize(() => lossOf(model2, x, y), true)!;
      if (i === 0) first = l.dataSync()[0];
      last = l.dataSync()[0];
      l.dispose();
    }
    t.true(last < first);
    t.is(opt2.teleportReports.length, 3);
  });
}

test('Algorithm 1 inside the step: weights at g·w and the inner step uses ∇L(g·w)', t => {
  const { x, y } = data();
  const model = mlp({ widths: [8, 8] });
  const reference = mlp({ widths: [8, 8] });
  const optimizer = tp.sgd(0.1, { model, group: 'rescale', schedule: { atSteps: [0] }, steps: 5, lr: 0.3 });
  optimizer.minimize(() => lossOf(model, x, y));
  t.true(optimizer.teleportReports[0].accepted);
  // Loss after the step equals: teleport (loss unchanged), then one SGD step at g·w. Compare with
  // a manual SGD step from the teleported weights of a reference model.
  t.true(optimizer.teleportReports[0].gradNormSqAfter > optimizer.teleportReports[0].gradNormSqBefore);
  const lossAfterStep = lossOf(model, x, y).dataSync()[0];
  const plain = tf.train.sgd(0.1);
  plain.minimize(() => lossOf(reference, x, y));
  const plainLoss = lossOf(reference, x, y).dataSync()[0];
  // With a larger gradient at the same loss, the first step decreases the loss more (small lr).
  t.true(lossAfterStep < plainLoss, `${lossAfterStep} vs ${plainLoss}`);
});

// Serial: other async tests in this file would allocate tensors while this one awaits fit().
test.serial('tensor count is flat across 200 steps with teleports every 20 (fit and data-dependent GL)', async t => {
  const { x, y } = data();
  const model = mlp({ widths: [8, 8], softmax: true });
  const optimizer = tp.adam(0.01, { model, group: 'rescale', schedule: { every: 20 }, steps: 3, data: { x, y }, objective: 'preconditionedGradNorm' });
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 }); // creates slots
  const before = tf.memory().numTensors;
  await model.fit(x, y, { epochs: 33, batchSize: 4, verbose: 0, shuffle: false }); // 198 steps
  t.is(tf.memory().numTensors, before);
  t.true(optimizer.teleportReports.length >= 9);

  const m2 = mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, softmax: true });
  const xb = seededUniform([8, 10], 3);
  const yb = oneHotBatch(8, 3, 4);
  const o2 = tp.momentum(0.05, 0.9, {
    model: m2,
    group: 'gl-data',
    schedule: { every: 20 },
    steps: 2,
    lr: 0.02,
    data: [{ x: xb, y: yb }],
    loss: 'categoricalCrossentropy',
  });
  const step = () => o2.minimize(() => lossOf(m2, xb, yb));
  step();
  const n0 = tf.memory().numTensors;
  for (let i = 0; i < 200; i++) step();
  t.is(tf.memory().numTensors, n0);
  t.true(
    o2.teleportReports.length === 10 && o2.teleportReports.every(r => r.relativeLossDrift! <= 1e-4),
    JSON.stringify(o2.teleportReports.map(r => [r.accepted, r.relativeLossDrift, r.reason])),
  );
});

test('serialization round trip (getConfig/fromConfig, getWeights/setWeights) resumes identically', async t => {
  const { x, y } = data();
  const opts = { group: 'rescale' as const, schedule: { every: 4 }, steps: 3, seed: 7 };
  const a = mlp({ widths: [8, 8] });
  const oa = tp.adam(0.01, { ...opts, model: a });
  for (let i = 0; i < 6; i++) oa.minimize(() => lossOf(a, x, y));
  // Checkpoint: model weights, optimizer config and weights.
  const cfg = oa.getConfig();
  const cls = tf.serialization.SerializationMap.getMap().classNameMap.TeleportOptimizer;
  t.truthy(cls, 'registered with tf.serialization');
  const saved = await oa.getWeights();
  // Exactly the inner Adam's weights: iter, then m and v of each variable; no entries of the wrapper's own.
  t.deepEqual(
    saved.map(w => w.name),
    ['iter', ...a.trainableWeights.map(w => `${(w.read() as tf.Variable).name}/m`), ...a.trainableWeights.map(w => `${(w.read() as tf.Variable).name}/v`)],
  );
  const b = mlp({ widths: [8, 8] });
  b.setWeights(a.getWeights());
  const ob = tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, JSON.parse(JSON.stringify(cfg))) as tp.TeleportOptimizer;
  ob.setModel(b);
  // Slots exist only after a first step; create them with a zero-lr-free trick: setWeights creates them.
  await ob.setWeights(saved);
  t.is(ob.step, 6);
  for (let i = 0; i < 6; i++) {
    oa.minimize(() => lossOf(a, x, y));
    ob.minimize(() => lossOf(b, x, y));
  }
  a.getWeights().forEach((w, i) => t.true(maxAbsDiff(w, b.getWeights()[i]) < 1e-6));
  t.is(oa.teleportReports.length, 2); // steps 4 and 8
  t.is(ob.teleportReports.length, 1); // step 8, after resuming at 6
});

test('state after teleport: transform carries momentum like a gradient; reset starts afresh', t => {
  const { x, y } = data();
  for (const policy of ['transform', 'reset', 'keep'] as const) {
    const model = mlp({ widths: [8, 8] });
    const optimizer = tp.momentum(0.05, 0.9, { model, group: 'rescale', schedule: { atSteps: [3] }, steps: 4, stateAfterTeleport: policy });
    for (let i = 0; i < 3; i++) optimizer.minimize(() => lossOf(model, x, y));
    const slots = (optimizer.inner as unknown as { accumulations: Array<{ variable: tf.Variable }> }).accumulations.map(s => s.variable.clone());
    optimizer.minimize(() => lossOf(model, x, y));
    const report = optimizer.teleportReports[0];
    t.true(report.accepted);
    t.is(report.state, policy);
    // A reset starts the state afresh but keeps the clock (the inner iterations the schedule and checkpoints use).
    if (policy === 'reset')
      t.true(
        slots.every(
          (s, i) => maxAbsDiff(s, (optimizer.inner as unknown as { accumulations: Array<{ variable: tf.Variable }> }).accumulations[i].variable) > 1e-6,
        ),
      );
    t.is(optimizer.inner.iterations, 4);
    t.is(optimizer.step, 4);
    slots.forEach(s => s.dispose());
  }
});

test('bad schedules and options give errors that name the fix', t => {
  const model = mlp();
  t.throws(() => tp.sgd(0.1, { model, schedule: { every: 0 } }), { message: /every must be a positive integer/ });
  t.throws(() => tp.sgd(0.1, { model, schedule: { atSteps: [-1] } }), { message: /atSteps must be an array of non-negative integers/ });
  t.throws(() => tp.sgd(0.1, { model, schedule: { every: 5, start: 10, stop: 3 } }), { message: /stop must be an integer step greater than start/ });
  t.throws(() => tp.sgd(0.1, { model, schedule: { each: 3 } as unknown as tp.Schedule }), { message: /use \{ atSteps/ });
  t.throws(() => tp.sgd(0.1, { model, stateAfterTeleport: 'drop' as 'keep' }), { message: /transform, keep, reset/ });
  t.throws(() => tp.sgd(0.1, { model, objective: 'hessian' as 'gradNorm' }), { message: /gradNorm, preconditionedGradNorm/ });
  const noModel = tp.sgd(0.1, { schedule: { atSteps: [0] } });
  const w = tf.variable(tf.ones([2]));
  t.throws(() => noModel.minimize(() => tf.sum(tf.square(w)) as tf.Scalar), { message: /pass \{ model \}/ });
  t.throws(() => tp.sgd(0.1, { model: mlp({ leakyLayer: true, alpha: 0.1 }), group: 'gl-data', schedule: { atSteps: [0] } }), {
    message: /needs teleport batches/,
  });
});

test('NaN gradients at a scheduled teleport: a clear error and untouched weights', t => {
  const model = mlp();
  const optimizer = tp.sgd(0.1, { model, group: 'rescale', schedule: { atSteps: [0] } });
  const before = model.getWeights().map(w => w.clone());
  const x = tf.fill([4, 6], NaN);
  t.throws(() => optimizer.minimize(() => tf.sum(model.apply(x) as tf.Tensor) as tf.Scalar), { message: /not finite.*weights are untouched/ });
  model.getWeights().forEach((w, i) => t.is(maxAbsDiff(w, before[i]), 0));
});

test("state 'transform' carries Adam's moments exactly along a rescale: w∘m and w²∘v are invariant", t => {
  const { x, y } = data();
  const model = mlp({ widths: [8, 8] });
  type Slots = { accumulatedFirstMoment: Array<{ variable: tf.Variable }>; accumulatedSecondMoment: Array<{ variable: tf.Variable }> };
  let before: { m: tf.Tensor[]; v: tf.Tensor[]; w: tf.Tensor[] } | null = null;
  let checked = false;
  const optimizer = tp.adam(0.01, {
    model,
    group: 'rescale',
    schedule: { atSteps: [3] },
    steps: 5,
    lr: 0.5,
    maxGrowth: 100,
    onTeleport: r => {
      t.true(r.accepted);
      t.is(r.state, 'transform');
      const inner = optimizer.inner as unknown as Slots;
      const w = model.getWeights();
      inner.accumulatedFirstMoment.forEach((s, i) => {
        // First moments move like gradients (J⁻ᵀ), second like squared gradients: w∘m and w²∘v stay.
        t.true(maxAbsDiff(tf.mul(w[i], s.variable), tf.mul(before!.w[i], before!.m[i])) < 1e-6);
        t.true(maxAbsDiff(tf.mul(tf.square(w[i]), inner.accumulatedSecondMoment[i].variable), tf.mul(tf.square(before!.w[i]), before!.v[i])) < 1e-8);
      });
      // And the weights did move.
      t.true(maxAbsDiff(w[0], before!.w[0]) > 1e-3);
      checked = true;
    },
  });
  for (let i = 0; i < 4; i++) {
    if (i === 3) {
      const inner = optimizer.inner as unknown as Slots;
      before = {
        m: inner.accumulatedFirstMoment.map(s => s.variable.clone()),
        v: inner.accumulatedSecondMoment.map(s => s.variable.clone()),
        w: model.getWeights().map(w => w.clone()),
      };
    }
    optimizer.minimize(() => lossOf(model, x, y));
  }
  t.true(checked);
});

test.serial('model.save with includeOptimizer and loadLayersModel restore the teleporting optimizer; training resumes identically', async t => {
  const x = seededUniform([12, 6], 1);
  const y = oneHotBatch(12, 3, 2);
  const model = mlp({ widths: [8, 8], softmax: true });
  const optimizer = tp.adam(0.01, { model, group: 'rescale', schedule: { every: 3 }, steps: 3 });
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
  const artifacts = await savedArtifacts(h => model.save(h, { includeOptimizer: true }));
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
  const restored = loaded.optimizer as tp.TeleportOptimizer;
  // Saved under the inner class's name (plain tfjs loads it as Adam); with tfjs-teleport loaded, the wrapper comes back.
  t.is(restored.getClassName(), 'Adam');
  t.true(Array.isArray(restored.teleportReports) && restored.inner !== restored, 'restored as the teleporting wrapper');
  t.is(restored.step, 6);
  restored.setModel(loaded);
  await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
  await loaded.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
  model.getWeights().forEach((w, i) => t.true(maxAbsDiff(w, loaded.getWeights()[i]) < 1e-6));
  t.is(optimizer.teleportReports.length, 3); // steps 3, 6, 9
  t.is(restored.teleportReports.length, 2); // steps 6, 9 after resuming at 6
});
