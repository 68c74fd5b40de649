import test from 'ava';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpSurgery from '../../src/surgery.js';
import { duplicatedUnits, splitAction } from '../../src/groups/split.js';
import { readModel } from '../../src/structure/read_model.js';
import { hessianByDifferences, toFloat64 } from '../float64_mlp.js';
import { maxAbsDiff, mlp, seededUniform, tf, type tfl, useCpu } from '../helpers.js';

test.before(useCpu);

const x = () => seededUniform([48, 4], 51);
const y = () => seededUniform([48, 2], 52);

/** A briefly trained 4-6-3-2 network, its hidden units 1 and 4 split 3 ways unevenly. */
function splitNet(activation: string, seed = 61): { base: tfl.LayersModel; model: tfl.LayersModel } {
  const base = mlp({ input: 4, widths: [6, 3], activation, output: 2, seed });
  const [xs, ys] = [x(), y()];
  const sgd = tf.train.sgd(0.05);
  for (let i = 0; i < 20; i++) sgd.minimize(() => tf.losses.meanSquaredError(ys, base.apply(xs) as tf.Tensor) as tf.Scalar);
  sgd.dispose();
  tf.dispose([xs, ys]);
  const model = tpSurgery.split(base, { layer: 0, neurons: [1, 4], ways: 3, coefficients: [0.6, 0.3, 0.1] });
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
  return { base, model };
}

/** ‖∇L‖² over every trainable weight, measured with tfjs autodiff (not through the teleport). */
function gradNormSq(model: tfl.LayersModel, xs: tf.Tensor, ys: tf.Tensor, only?: number[]): number {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable).filter((_, i) => only == null || only.includes(i));
    const { grads } = tf.variableGrads(() => tf.losses.meanSquaredError(ys, model.apply(xs) as tf.Tensor) as tf.Scalar, vars);
    return tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g)))).dataSync()[0];
  });
}

test.serial('duplicatedUnits finds the copies tp.split made, and only them', t => {
  const { model, base } = splitNet('tanh');
  const [k, b] = model.layers[0].getWeights();
  t.deepEqual(duplicatedUnits(k, b), [
    [1, 6, 7],
    [4, 8, 9],
  ]);
  const [k0, b0] = base.layers[0].getWeights();
  t.deepEqual(duplicatedUnits(k0, b0), []);
});

for (const activation of ['tanh', 'relu']) {
  test.serial(`group 'split' raises ‖∇L‖ (measured independently), keeps the function and the loss within the guard (${activation})`, async t => {
    const { model, base } = splitNet(activation);
    const [xs, ys] = [x(), y()];
    const before = gradNormSq(model, xs, ys);
    const touchedBefore = gradNormSq(model, xs, ys, [0, 1, 2]); // the split layer's kernel and bias, the next kernel
    const lossBefore = tf.tidy(() => (model.evaluate(xs, ys) as tf.Scalar).dataSync()[0]);
    const outBefore = model.predict(seededUniform([64, 4], 77, -2, 2)) as tf.Tensor;
    const rowsBefore = model.layers[1].getWeights()[0].arraySync() as number[][];
    const incomingBefore = model.layers[0].getWeights().map(w => w.arraySync());
    const tensors = tf.memory().numTensors;
    const report = await tp.teleport(model, { x: xs, y: ys }, { group: 'split', steps: 10, lr: 1, maxGrowth: 3 });
    t.is(tf.memory().numTensors, tensors, 'the teleport leaves no tensors behind');
    t.true(report.accepted, report.reason);
    t.is(report.group, 'split');
    const after = gradNormSq(model, xs, ys);
    const touchedAfter = gradNormSq(model, xs, ys, [0, 1, 2]);
    t.log(`‖∇L‖² over the moved layers ${touchedBefore} → ${touchedAfter}, over all ${before} → ${after}; drift ${report.relativeLossDrift}`);
    t.true(touchedAfter > 1.2 * touchedBefore, `touched ‖∇L‖²: ${touchedBefore} → ${touchedAfter}`);
    t.true(Math.abs(touchedAfter - report.gradNormSqAfter) <= 1e-4 * touchedAfter, `report ${report.gradNormSqAfter} vs measured ${touchedAfter}`);
    t.true(after > before, `‖∇L‖²: ${before} → ${after}`);
    t.true(Math.abs(after - report.fullGradNormSqAfter) <= 1e-4 * after, `report ${report.fullGradNormSqAfter} vs measured ${after}`);
    t.true(touchedAfter <= 3 * touchedBefore * 1.001, 'within the growth cap');
    const lossAfter = tf.tidy(() => (model.evaluate(xs, ys) as tf.Scalar).dataSync()[0]);
    t.true(Math.abs(lossAfter - lossBefore) <= 1e-4 * lossBefore);
    const outAfter = model.predict(seededUniform([64, 4], 77, -2, 2)) as tf.Tensor;
    t.true(maxAbsDiff(outBefore, outAfter) < 1e-5, 'same function on fresh inputs');
    // Incoming weights untouched; outgoing rows moved within each group of copies, sums kept.
    t.deepEqual(
      model.layers[0].getWeights().map(w => w.arraySync()),
      incomingBefore,
    );
    const rows = model.layers[1].getWeights()[0].arraySync() as number[][];
    let moved = 0;
    for (const g of [
      [1, 6, 7],
      [4, 8, 9],
    ]) {
      for (let c = 0; c < 3; c++) {
        const sum = (r: number[][]) => g.reduce((s, i) => s + r[i][c], 0);
        t.true(Math.abs(sum(rows) - sum(rowsBefore)) < 1e-5);
        moved += g.reduce((s, i) => s + Math.abs(rows[i][c] - rowsBefore[i][c]), 0);
      }
    }
    t.true(moved > 1e-3, 'the copies really moved');
    [0, 2, 3, 5].forEach(i => t.deepEqual(rows[i], rowsBefore[i], `unit ${i} is not a copy: its row stays`));
    tf.dispose([xs, ys, outBefore, outAfter]);
    base.dispose();
  });
}

test.serial('the closed-form gradient transport equals autodiff at the moved point', t => {
  const { model } = splitNet('tanh', 62);
  const structure = readModel(model);
  const site = structure.sites[0];
  const params = structure.variables as tf.Tensor[];
  const [k, b] = [params[site.inKernel], params[site.inBias!]];
  const action = splitAction(site, duplicatedUnits(k, b));
  const [xs, ys] = [x(), y()];
  const loss = (p: readonly tf.Tensor[]) => tf.losses.meanSquaredError(ys, structure.forward(p, xs).output) as tf.Scalar;
  tf.tidy(() => {
    const theta = seededUniform([site.width, site.width], 5, -0.5, 0.5);
    const grads = tf.grads((...p: tf.Tensor[]) => loss(p))(params);
    const moved = action.act(params, theta);
    const direct = tf.grads((...p: tf.Tensor[]) => loss(p))(moved);
    const transported = action.transportGradient!(grads, theta);
    const scale = Math.max(...direct.map(g => tf.max(tf.abs(g)).dataSync()[0]));
    direct.forEach((g, i) => t.true(maxAbsDiff(g, transported[i]) <= 1e-5 * scale, `param ${i}`));
    // The element really moved the weights, and the loss is the same.
    t.true(maxAbsDiff(moved[site.outKernel!], params[site.outKernel!]) > 1e-2);
    t.true(Math.abs(loss(moved).dataSync()[0] - loss(params).dataSync()[0]) < 1e-6);
  });
  tf.dispose([xs, ys]);
});

test.serial("group 'split' on a model without copies is a clear error", async t => {
  const model = mlp({ input: 4, widths: [5], activation: 'relu', output: 2, seed: 3 });
  const [xs, ys] = [x(), y()];
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  await t.throwsAsync(tp.teleport(model, { x: xs, y: ys }, { group: 'split' }), {
    message: /found no duplicated units.*split\(model, \{ layer, neurons \}\) from .tfjs-teleport\/surgery./,
  });
  tf.dispose([xs, ys]);
});

test.serial('a scheduled split teleport inside fit (even split: SGD keeps copies identical until then): accepted, no tensor leaks', async t => {
  const base = mlp({ input: 4, widths: [6, 3], activation: 'relu', output: 2, seed: 63 });
  const model = tpSurgery.split(base, { layer: 0, neurons: [1, 4], ways: 2 });
  const optimizer = tp.sgd(0.02, { model, group: 'split', schedule: { atSteps: [6] }, steps: 5, lr: 0.5 });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const [xs, ys] = [x(), y()];
  await model.fit(xs, ys, { epochs: 1, batchSize: 12 }); // warm up tfjs's own lazily created tensors (4 steps)
  const before = tf.memory().numTensors;
  await model.fit(xs, ys, { epochs: 3, batchSize: 12 });
  t.is(tf.memory().numTensors, before);
  t.is(optimizer.teleportReports.length, 1);
  const [r] = optimizer.teleportReports;
  t.true(r.accepted, r.reason);
  t.true(r.gradNormSqAfter > r.gradNormSqBefore);
  tf.dispose([xs, ys]);
  base.dispose();
});

test.serial("a scheduled split teleport after the copies drifted apart is skipped with rejection 'no-orbit': fit goes on, weights as plain SGD's", async t => {
  const base = mlp({ input: 4, widths: [6, 3], activation: 'relu', output: 2, seed: 64 });
  // An uneven split: the copies' outgoing weights differ, so their gradients differ and the first step
  // already moves their incoming weights apart.
  const split = () => tpSurgery.split(base, { layer: 0, neurons: [1, 4], ways: 2, coefficients: [0.7, 0.3] });
  const [model, twin] = [split(), split()];
  const optimizer = tp.sgd(0.05, { model, group: 'split', schedule: { atSteps: [3] } });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  twin.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
  const [xs, ys] = [x(), y()];
  await model.fit(xs, ys, { epochs: 2, batchSize: 12, shuffle: false });
  await twin.fit(xs, ys, { epochs: 2, batchSize: 12, shuffle: false });
  t.is(optimizer.teleportReports.length, 1);
  const [r] = optimizer.teleportReports;
  t.false(r.accepted);
  t.is(r.rejection, 'no-orbit');
  t.regex(r.reason ?? '', /found no duplicated units.*split\(model/);
  // The skipped teleport changed nothing: the weights are plain SGD's, step for step.
  model.getWeights().forEach((w, i) => t.true(maxAbsDiff(w, twin.getWeights()[i]) === 0, `weight ${i}`));
  // A one-off teleport on the same weights still throws, with the kind that says why.
  const error = await t.throwsAsync(tp.teleport(model, { x: xs, y: ys }, { group: 'split' }));
  t.is((error as tp.TeleportError).kind, 'no-orbit');
  tf.dispose([xs, ys]);
  base.dispose();
});

// ── objective 'hessianTrace' ────────────────────────────────────────────────────────────────────────

/** A 3-4-2 network trained briefly, unit 1 split 3 ways unevenly; data to measure the trace on. */
function tinySplit(activation: string): { model: tfl.LayersModel; xs: tf.Tensor; ys: tf.Tensor } {
  const base = mlp({ input: 3, widths: [4], activation, output: 2, seed: 71 });
  const xs = seededUniform([24, 3], 72, -2, 2);
  const ys = seededUniform([24, 2], 73);
  const sgd = tf.train.sgd(0.05);
  for (let i = 0; i < 20; i++) sgd.minimize(() => tf.losses.meanSquaredError(ys, base.apply(xs) as tf.Tensor) as tf.Scalar);
  sgd.dispose();
  const model = tpSurgery.split(base, { layer: 0, neurons: [1], ways: 3, coefficients: [0.8, 0.15, 0.05] });
  model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
  base.dispose();
  return { model, xs, ys };
}

/** Tr H by float64 central differences of the float64 gradient (test/float64_mlp.ts). */
function traceByDifferences(model: tfl.LayersModel, xs: tf.Tensor, ys: tf.Tensor): number {
  const H = hessianByDifferences(toFloat64(model), xs.arraySync() as number[][], ys.arraySync() as number[][]);
  return H.reduce((s, row, i) => s + row[i], 0);
}

for (const activation of ['relu', 'tanh']) {
  test.serial(`hessianTraceOf equals the trace of a float64 finite-difference Hessian (${activation})`, t => {
    const { model, xs, ys } = tinySplit(activation);
    const structure = readModel(model);
    const loss = (p: readonly tf.Tensor[]) => tf.losses.meanSquaredError(ys, structure.forward(p, xs).output) as tf.Scalar;
    const tr = tpAdvanced.hessianTraceOf(loss, structure.variables);
    const want = traceByDifferences(model, xs, ys);
    t.log(`Tr H: autodiff ${tr.dataSync()[0]}, float64 differences ${want}`);
    t.true(Math.abs(tr.dataSync()[0] - want) <= 1e-4 * Math.abs(want));
    tr.dispose();
    t.throws(() => tpAdvanced.hessianTraceOf(loss, structure.variables, 10), {
      message: /one Hessian-vector product per parameter; this model has 38 \(> 10\)/,
    });
    tf.dispose([xs, ys]);
    model.dispose();
  });
}

// The split group moves only the next layer's kernel, which feeds a linear output here: the third
// derivatives the θ-gradient needs are taped even through the tanh hidden layer.
for (const activation of ['relu', 'tanh']) {
  test.serial(`hessianTrace's θ-gradient on the split group equals central differences of its value (${activation} hidden layer, linear output)`, t => {
    const { model, xs, ys } = tinySplit(activation);
    const structure = readModel(model);
    const params = structure.variables as tf.Tensor[];
    const site = structure.sites[0];
    const action = splitAction(site, duplicatedUnits(params[site.inKernel], params[site.inBias!]));
    const loss = (p: readonly tf.Tensor[]) => tf.losses.meanSquaredError(ys, structure.forward(p, xs).output) as tf.Scalar;
    const value = (theta: tf.Tensor) => tpAdvanced.hessianTraceOf(loss, action.act(params, theta));
    tf.tidy(() => {
      const theta = seededUniform([site.width, site.width], 81, -0.3, 0.3);
      const dir = seededUniform([site.width, site.width], 82);
      const analytic = tf.sum(tf.mul(tf.grad(value)(theta), dir)).dataSync()[0];
      const eps = 1e-2;
      const numeric = (value(tf.add(theta, tf.mul(eps, dir))).dataSync()[0] - value(tf.sub(theta, tf.mul(eps, dir))).dataSync()[0]) / (2 * eps);
      t.log(`directional derivative: autodiff ${analytic}, central difference ${numeric}`);
      t.true(Math.abs(analytic) > 1e-3, 'the trace does depend on θ');
      t.true(Math.abs(analytic - numeric) <= 2e-3 * Math.abs(numeric), `${analytic} vs ${numeric}`);
    });
    tf.dispose([xs, ys]);
    model.dispose();
  });
}

test.serial(
  "group 'split' with objective 'hessianTrace', minimize: a smaller trace (measured in float64), same function, copies nearer the even split",
  async t => {
    const { model, xs, ys } = tinySplit('relu');
    const before = traceByDifferences(model, xs, ys);
    const rows = () => (model.layers[1].getWeights()[0].arraySync() as number[][]).filter((_, i) => [1, 4, 5].includes(i));
    const spread = (r: number[][]) => r.reduce((s, row) => s + row.reduce((q, v, c) => q + (v - (r[0][c] + r[1][c] + r[2][c]) / 3) ** 2, 0), 0);
    const spreadBefore = spread(rows());
    const probe = seededUniform([32, 3], 91, -2, 2);
    const outBefore = model.predict(probe) as tf.Tensor;
    const tensors = tf.memory().numTensors;
    const report = await tp.teleport(model, { x: xs, y: ys }, { group: 'split', objective: 'hessianTrace', direction: 'minimize', steps: 8, lr: 0.3 });
    t.is(tf.memory().numTensors, tensors, 'the teleport leaves no tensors behind');
    t.true(report.accepted, report.reason);
    const after = traceByDifferences(model, xs, ys);
    t.log(
      `Tr H ${before} → ${after} (report ${report.objectiveBefore} → ${report.objectiveAfter}); spread of the copies' rows ${spreadBefore} → ${spread(rows())}`,
    );
    t.true(after < before - 1e-3 * before);
    t.true(Math.abs(after - report.objectiveAfter) <= 1e-3 * after, 'the report agrees with the independent measurement');
    t.true(spread(rows()) < spreadBefore);
    const outAfter = model.predict(probe) as tf.Tensor;
    t.true(maxAbsDiff(outBefore, outAfter) < 1e-5);
    tf.dispose([xs, ys, probe, outBefore, outAfter]);
    model.dispose();
  },
);

// Issue 20 §4: from α = (0.3, 0.7) a 50-step hessianTrace teleport stopped short of the even split.
// Measured cause: the curvature objectives take 'fixed' normalized steps of length lr, and one step of
// length lr moves copy 0's share by about lr·√((α₀² + α₁²)/2) (≈ 0.16 at lr 0.3), so the iterates
// straddle the minimum and the best one kept is up to half a step from it, whatever the number of
// steps (46…50 steps all end at 0.441 at lr 0.3). `lineSearch: true` halves the overshooting steps.
test.serial('split + hessianTrace from (0.3, 0.7): fixed steps of length lr stop half a step short; lineSearch reaches the even split', async t => {
  const share = async (options: Partial<tp.TeleportOptions>): Promise<number> => {
    const base = mlp({ input: 3, widths: [4], activation: 'relu', output: 2, seed: 71 });
    const xs = seededUniform([24, 3], 72, -2, 2);
    const ys = seededUniform([24, 2], 73);
    const sgd = tf.train.sgd(0.05);
    for (let i = 0; i < 20; i++) sgd.minimize(() => tf.losses.meanSquaredError(ys, base.apply(xs) as tf.Tensor) as tf.Scalar);
    sgd.dispose();
    const model = tpSurgery.split(base, { layer: 0, neurons: [1], coefficients: [0.3, 0.7] });
    model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
    base.dispose();
    const report = await tp.teleport(model, { x: xs, y: ys }, { group: 'split', objective: 'hessianTrace', direction: 'minimize', steps: 50, ...options });
    t.true(report.accepted, report.reason);
    // Copy 0 stays at unit 1, copy 1 is appended as unit 4: the share of copy 0 in each outgoing column.
    const w = model.layers[1].getWeights()[0].arraySync() as number[][];
    const s = w[1].map((v, c) => v / (v + w[4][c]));
    t.true(Math.max(...s) - Math.min(...s) < 1e-4, 'one share for every outgoing column');
    tf.dispose([xs, ys]);
    model.dispose();
    return s[0];
  };
  const fixed = await share({ lr: 0.3 });
  const searched = await share({ lr: 0.3, lineSearch: true });
  t.log(`share of copy 0 after 50 steps at lr 0.3: fixed ${fixed.toFixed(3)}, lineSearch ${searched.toFixed(3)}`);
  t.true(Math.abs(fixed - 0.5) > 0.03, 'the fixed steps overshoot (the documented limitation)');
  t.true(Math.abs(fixed - 0.5) < (0.3 * Math.sqrt((0.3 ** 2 + 0.7 ** 2) / 2)) / 2 + 0.01, 'within half a step of the even split');
  t.true(Math.abs(searched - 0.5) < 0.01, 'lineSearch reaches the even split');
});
