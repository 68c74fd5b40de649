import test from 'ava';
import { tf, tfl, useCpu, mlp, smallCnn, seededUniform, oneHotBatch, relDiff, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpProblems from '../../src/problems.js';
import * as tpGroups from '../../src/groups.js';

test.before(useCpu);

function snapshot(model: tfl.LayersModel): tf.Tensor[] {
  return model.getWeights().map(w => w.clone());
}
function unchanged(model: tfl.LayersModel, before: tf.Tensor[]): boolean {
  return model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0);
}

test('teleport() with rescale raises the gradient norm and keeps the loss (MLP)', async t => {
  const model = mlp({ input: 6, widths: [8, 8], activation: 'relu', output: 3, softmax: true });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([16, 6], 1);
  const y = oneHotBatch(16, 3, 2);
  const outBefore = model.predict(x) as tf.Tensor;
  const fresh = seededUniform([5, 6], 9);
  const freshBefore = model.predict(fresh) as tf.Tensor;
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 10, lr: 0.2 });
  t.true(report.accepted, report.reason);
  t.true(report.gradNormSqAfter > report.gradNormSqBefore * 1.05, `${report.gradNormSqBefore} → ${report.gradNormSqAfter}`);
  t.true(report.relativeLossDrift! <= 1e-4);
  t.is(report.route, 'transport');
  t.true(maxAbsDiff(outBefore, model.predict(x) as tf.Tensor) < 1e-5);
  // Fresh inputs too: rescale is exact everywhere (before vs after, on inputs the teleport never saw).
  t.is(report.group, 'rescale');
  t.true(Number.isFinite(report.ms));
  t.true(maxAbsDiff(freshBefore, model.predict(fresh) as tf.Tensor) < 1e-5);
});

test('teleport() with rescale on a CNN through pooling and flatten', async t => {
  const model = smallCnn();
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([6, 8, 8, 2], 5);
  const y = oneHotBatch(6, 2, 6);
  const fresh = seededUniform([4, 8, 8, 2], 55);
  const before = model.predict(fresh) as tf.Tensor;
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 8, lr: 0.2 });
  t.true(report.accepted, report.reason);
  t.is(report.sites.length, 3);
  t.true(report.gradNormSqAfter > report.gradNormSqBefore);
  t.true(maxAbsDiff(before, model.predict(fresh) as tf.Tensor) < 1e-5);
});

test('teleport() with data-dependent GL keeps the batch loss and raises the gradient norm', async t => {
  const model = mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, output: 3, softmax: true });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([8, 10], 1);
  const y = oneHotBatch(8, 3, 2);
  const report = await tp.teleport(model, { x, y }, { group: 'gl-data', steps: 5, lr: 0.05 });
  t.true(report.accepted, report.reason);
  t.is(report.route, 'evaluate');
  t.true(report.relativeLossDrift! <= 1e-4, `drift ${report.relativeLossDrift}`);
  t.true(report.gradNormSqAfter > report.gradNormSqBefore, `${report.gradNormSqBefore} → ${report.gradNormSqAfter}`);
});

test('teleport() on a plain parameter vector with SO(2) (Booth)', async t => {
  const { booth } = tpProblems;
  const x = tf.variable(tf.tensor1d([5, -5]));
  const lossBefore = booth.loss(x as tf.Tensor1D).dataSync()[0];
  const report = await tp.teleport([x], ([p]) => booth.loss(p as tf.Tensor1D), {
    group: tpGroups.so2(booth.bijection),
    steps: 10,
    lr: 0.1,
    seed: 3,
    lineSearch: true,
    maxGrowth: 1e6,
  });
  t.true(report.accepted, report.reason);
  t.is(report.route, 'evaluate');
  t.true(relDiff(lossBefore, booth.loss(x as tf.Tensor1D).dataSync()[0]) < 1e-4);
  // The ascent starts from a random angle (as in the dissertation) and never goes down with line search.
  t.true(report.objectiveAfter >= report.objectiveBefore);
  t.true(report.ascentSteps > 0);
  // SO(n) through a quadratic's bijection: exact, and it can raise the gradient norm.
  const q = tpProblems.quadratic(
    [
      [3, 1, 0],
      [1, 2, 0],
      [0, 0, 1],
    ],
    [1, 0, -1],
  );
  const v = tf.variable(tf.tensor1d([2, 1, 0.5]));
  const before = q.loss(v as tf.Tensor1D).dataSync()[0];
  const r2 = await tp.teleport([v], ([p]) => q.loss(p as tf.Tensor1D), { group: tpGroups.orthogonal(q.bijection, 3), steps: 10, lr: 0.3, maxGrowth: 1e6 });
  t.true(r2.accepted, r2.reason);
  t.true(relDiff(before, q.loss(v as tf.Tensor1D).dataSync()[0]) < 1e-4);
  t.true(r2.gradNormSqAfter > r2.gradNormSqBefore, `${r2.gradNormSqBefore} → ${r2.gradNormSqAfter}`);
});

test('unsupported layer: a clear error naming the layer and what applies; weights untouched', async t => {
  const model = mlp({ activation: 'tanh' });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const before = snapshot(model);
  const err = await t.throwsAsync(tp.teleport(model, { x: seededUniform([4, 6], 1), y: seededUniform([4, 3], 2) }, { group: 'rescale' }));
  t.regex(err!.message, /dense_Dense\d+ → dense_Dense\d+/);
  t.regex(err!.message, /onUnsupported: 'skip'|no implemented group applies/);
  t.true(unchanged(model, before));
  // A layer class the reader cannot run (Conv1D) is named in the error.
  const c1 = tfl.sequential({
    layers: [tfl.layers.conv1d({ filters: 4, kernelSize: 2, inputShape: [5, 3] }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })],
  });
  const e2 = t.throws(() => tpAdvanced.readModel(c1));
  t.regex(e2!.message, /conv1d.*Conv1D is not supported/);
});

test('shape mismatch and NaN loss give clear errors and leave the weights untouched', async t => {
  const model = mlp();
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const before = snapshot(model);
  const e1 = await t.throwsAsync(tp.teleport(model, { x: seededUniform([4, 5], 1), y: seededUniform([4, 3], 2) }, { group: 'rescale' }));
  t.regex(e1!.message, /x has shape \[4, 5\].*expects \[batch, 6\]/);
  const e2 = await t.throwsAsync(tp.teleport(model, { x: seededUniform([4, 6], 1), y: seededUniform([5, 3], 2) }, { group: 'rescale' }));
  t.regex(e2!.message, /same first dimension/);
  const nanX = tf.fill([4, 6], NaN);
  const e3 = await t.throwsAsync(tp.teleport(model, { x: nanX, y: seededUniform([4, 3], 2) }, { group: 'rescale' }));
  t.true(e3 instanceof tp.TeleportError);
  t.regex(e3!.message, /NaN/);
  t.true(unchanged(model, before));
  await t.throwsAsync(tp.teleport(model, { x: seededUniform([4, 6], 1), y: seededUniform([4, 3], 2) }, { group: 'rescale', steps: -1 }), {
    message: /steps must be a non-negative integer/,
  });
  await t.throwsAsync(tp.teleport(model, { x: seededUniform([4, 6], 1), y: seededUniform([4, 3], 2) }, { group: 'nope' as 'gl' }), {
    message: /unknown group 'nope'.*auto, rescale, gl/,
  });
  t.true(unchanged(model, before));
});

test('the drift guard rejects a teleport it cannot make exact, and restores the weights', async t => {
  // gl-data with a batch larger than the layer's inputs is a least-squares fit: not exact.
  const model = mlp({ input: 3, widths: [6, 6], leakyLayer: true, alpha: 0.1, output: 2 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const before = snapshot(model);
  const report = await tp.teleport(
    model,
    { x: seededUniform([32, 3], 1), y: seededUniform([32, 2], 2) },
    { group: 'gl-data', steps: 3, lr: 0.5, maxLossDrift: 1e-6 },
  );
  t.false(report.accepted);
  t.regex(report.reason!, /drift/);
  t.true(unchanged(model, before));
});

test('seeded: the same seed reproduces the same SO(2) teleport; another seed starts elsewhere', async t => {
  const { rosenbrock } = tpProblems;
  const run = async (seed: number) => {
    const x = tf.variable(tf.tensor1d([-1, -1]));
    const r = await tp.teleport([x], ([p]) => rosenbrock.loss(p as tf.Tensor1D), {
      group: tpGroups.so2(rosenbrock.bijection),
      steps: 5,
      lr: 0.05,
      normalize: false,
      maxGrowth: 1e6,
      seed,
    });
    return { r, v: Array.from(x.dataSync()) };
  };
  const a = await run(11);
  const b = await run(11);
  const c = await run(12);
  t.deepEqual(a.v, b.v);
  t.is(a.r.objectiveAfter, b.r.objectiveAfter);
  t.notDeepEqual(a.v, c.v);
});

test("onUnsupported: 'skip' teleports the pairs it can and reports the rest", async t => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 6, inputShape: [4], activation: 'relu' }),
      tfl.layers.dense({ units: 5, activation: 'tanh' }),
      tfl.layers.dense({ units: 2 }),
    ],
  });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const batch = { x: seededUniform([8, 4], 1), y: seededUniform([8, 2], 2) };
  await t.throwsAsync(tp.teleport(model, batch, { group: 'rescale' }), {
    // Only the data-dependent null-space group acts through tanh: the error names it.
    message: /dense_Dense\d+ → dense_Dense\d+ .*tanh.*groups that apply: nullspace/,
  });
  const report = await tp.teleport(model, batch, { group: 'rescale', onUnsupported: 'skip' });
  t.true(report.accepted);
  t.is(report.sites.length, 1);
});
