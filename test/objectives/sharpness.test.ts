import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, relDiff, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpMetrics from '../../src/metrics.js';
import { SeededRandom } from '../../src/core/random.js';
import type { ObjectiveContext } from '../../src/objectives/types.js';

test.before(useCpu);

const SMALL = { directions: 6, displacements: [0.05, 0.1, 0.2] };
tp.registerObjective(tpAdvanced.sharpnessObjective({ name: 'sharpness-test', ...SMALL }));

/** The seed the directions are keyed by, as the metric draws it from `seed`. */
const keyOf = (seed: number) => Math.floor(new SeededRandom(seed).next() * 4294967296) >>> 0;

test("the defaults are the dissertation's: T = 0.001, 0.011, …, 0.191, |D| = 200, k = 1", t => {
  t.is(tpMetrics.DEFAULT_DISPLACEMENTS.length, 20);
  tpMetrics.DEFAULT_DISPLACEMENTS.forEach((v, i) => t.true(Math.abs(v - (0.001 + 0.01 * i)) < 1e-12, `${i}: ${v}`));
  t.is(tpMetrics.DEFAULT_DIRECTIONS, 200);
  t.is(tpMetrics.DEFAULT_CURVES, 1);
});

test('directions are unit vectors over all parameters, isotropic on average (uniform on the sphere)', t => {
  const sizes = [6, 2];
  const n = 8;
  const count = 4000;
  const mean = new Float64Array(n);
  const second = new Float64Array(n);
  for (let j = 0; j < count; j++) {
    const d = tpAdvanced.unitDirection(123, j, sizes).flatMap(a => Array.from(a));
    t.is(d.length, n);
    const norm = Math.sqrt(d.reduce((s, v) => s + v * v, 0));
    if (Math.abs(norm - 1) > 1e-6) t.fail(`direction ${j} has norm ${norm}`);
    d.forEach((v, i) => {
      mean[i] += v / count;
      second[i] += (v * v) / count;
    });
  }
  // E[d] = 0 and E[d_i²] = 1/n on the unit sphere.
  mean.forEach(m => t.true(Math.abs(m) < 0.02, `mean ${m}`));
  second.forEach(s => t.true(Math.abs(s - 1 / n) < 0.015, `E[d_i²] ${s} vs ${1 / n}`));
  // The same (seed, index) gives the same direction; another index another one.
  t.deepEqual(tpAdvanced.unitDirection(5, 3, sizes), tpAdvanced.unitDirection(5, 3, sizes));
  t.notDeepEqual(tpAdvanced.unitDirection(5, 3, sizes), tpAdvanced.unitDirection(5, 4, sizes));
});

function linearModel(seed: number): tfl.Sequential {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  model.setWeights([seededUniform([3, 2], seed), seededUniform([2], seed + 1)]);
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}

test('φ of a quadratic loss (linear model, MSE) equals its closed form L + mean(t)·mean(d·∇L) + mean(t²)·mean(dᵀAd/2)', t => {
  const model = linearModel(1);
  const x = seededUniform([7, 3], 3);
  const y = seededUniform([7, 2], 4);
  const spec = { directions: 9, displacements: [0.01, 0.2, 0.5, 1.3] };
  const phi = tpMetrics.sharpness(model, { x, y }, { ...spec, seed: 8 });
  // float64: L(w + t d) = L + t·lin_d + t²·quad_d, with r = xW + b − y, e_d = x·dW + db,
  // lin_d = (2/(N·O)) Σ r∘e_d, quad_d = (1/(N·O)) Σ e_d².
  const X = x.arraySync() as number[][];
  const Y = y.arraySync() as number[][];
  const W = model.getWeights()[0].arraySync() as number[][];
  const b = Array.from(model.getWeights()[1].dataSync());
  const N = 7;
  const O = 2;
  const lin = (M: number[][], c: number[], n: number, o: number) => X[n].reduce((s, v, k) => s + v * M[k][o], 0) + c[o];
  let L = 0;
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) L += (lin(W, b, n, o) - Y[n][o]) ** 2 / (N * O);
  let linMean = 0;
  let quadMean = 0;
  for (let j = 0; j < spec.directions; j++) {
    const [dw, db] = tpAdvanced.unitDirection(keyOf(8), j, [6, 2]);
    const dW = [0, 1, 2].map(k => [dw[2 * k], dw[2 * k + 1]]);
    const dB = Array.from(db);
    for (let n = 0; n < N; n++) {
      for (let o = 0; o < O; o++) {
        const r = lin(W, b, n, o) - Y[n][o];
        const e = lin(dW, dB, n, o);
        linMean += (2 * r * e) / (N * O) / spec.directions;
        quadMean += (e * e) / (N * O) / spec.directions;
      }
    }
  }
  const T = spec.displacements;
  const meanT = T.reduce((s, v) => s + v, 0) / T.length;
  const meanT2 = T.reduce((s, v) => s + v * v, 0) / T.length;
  const closed = L + meanT * linMean + meanT2 * quadMean;
  t.true(relDiff(phi, closed) < 1e-5, `${phi} vs closed form ${closed}`);
  // Not just L: the displacements matter (the test can fail).
  t.true(relDiff(phi, L) > 1e-3);
});

test('data as an array of batches gives the value on the concatenated batch (rows-weighted)', t => {
  const model = mlp({ input: 6, widths: [5], activation: 'relu', output: 3, seed: 5 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([10, 6], 6);
  const y = seededUniform([10, 3], 7);
  const [x1, x2] = tf.split(x, [3, 7]);
  const [y1, y2] = tf.split(y, [3, 7]);
  const whole = tpMetrics.sharpness(model, { x, y }, { ...SMALL, seed: 2 });
  const parts = tpMetrics.sharpness(
    model,
    [
      { x: x1, y: y1 },
      { x: x2, y: y2 },
    ],
    { ...SMALL, seed: 2 },
  );
  t.true(relDiff(whole, parts) < 1e-5, `${whole} vs ${parts}`);
  t.true(relDiff(whole, tpMetrics.sharpness(model, { x: x1, y: y1 }, { ...SMALL, seed: 2 })) > 1e-3);
});

function lossOf(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor) {
  const structure = tpAdvanced.readModel(model);
  const loss = tpAdvanced.resolveLoss('meanSquaredError', structure.finalSoftmax);
  return { structure, loss: (p: readonly tf.Tensor[]) => loss.compute(y, structure.forward(p, x).output) as tf.Scalar };
}

test("the sharpness objective's gradient in θ (rescale) matches central finite differences", t => {
  const model = mlp({ input: 6, widths: [5, 4], activation: 'relu', output: 3, seed: 9 });
  const x = seededUniform([8, 6], 10);
  const y = seededUniform([8, 3], 11);
  const { structure, loss } = lossOf(model, x, y);
  const actions = tpAdvanced.planTeleport(structure, 'rescale').build(structure.variables);
  const ctx: ObjectiveContext = {
    actions,
    params: structure.variables,
    touched: [...new Set(actions.flatMap(a => a.touches))],
    route: 'evaluate',
    gradient: null,
    loss,
    preconditioner: null,
    random: new SeededRandom(4).source,
    gradientAt: () => {
      throw new Error('not used');
    },
  };
  const f = tpAdvanced.sharpnessObjective({ directions: 3, displacements: [0.05, 0.15] }).value(ctx);
  const thetas = actions.map((a, i) => tf.tidy(() => tf.mul(0.3, seededUniform(a.init(() => 0).shape, 20 + i))));
  const grads = tf.grads((...th: tf.Tensor[]) => f(th))(thetas);
  for (let k = 0; k < 3; k++) {
    const dirs = thetas.map((th, i) => seededUniform(th.shape, 30 + 10 * k + i));
    const analytic = tf.tidy(() => tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, dirs[i])))).dataSync()[0]);
    const h = 1e-2;
    const at = (s: number) => tf.tidy(() => f(thetas.map((th, i) => tf.add(th, tf.mul(s, dirs[i])))).dataSync()[0]);
    const numeric = (at(h) - at(-h)) / (2 * h);
    t.true(Math.abs(analytic - numeric) < 3e-3 * Math.max(0.1, Math.abs(numeric)), `direction ${k}: ${analytic} vs ${numeric}`);
    tf.dispose(dirs);
  }
  tf.dispose([thetas, grads]);
});

function compiled(seed: number, leaky = false): tfl.Sequential {
  const model = leaky
    ? mlp({ input: 6, widths: [5], activation: 'linear', leakyLayer: true, output: 3, seed })
    : mlp({ input: 6, widths: [8, 6], activation: 'relu', output: 3, seed });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}

for (const direction of ['maximize', 'minimize'] as const) {
  test(`a sharpness teleport (rescale, ${direction}) moves tp.metrics.sharpness that way, within the drift guard`, async t => {
    const model = compiled(12);
    const x = seededUniform([12, 6], 13);
    const y = seededUniform([12, 3], 14);
    const fresh = seededUniform([5, 6], 15);
    const outBefore = model.predict(fresh) as tf.Tensor;
    const before = tpMetrics.sharpness(model, { x, y }, { ...SMALL, seed: 3 });
    const report = await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'sharpness-test', direction, seed: 3, steps: 10, lr: 0.1 });
    const after = tpMetrics.sharpness(model, { x, y }, { ...SMALL, seed: 3 });
    t.true(report.accepted, report.reason);
    t.is(report.route, 'evaluate');
    t.true(direction === 'maximize' ? after > before * 1.001 : after < before * 0.999, `${before} → ${after}`);
    t.true(relDiff(report.objectiveBefore, before) < 1e-5, `${report.objectiveBefore} vs ${before}`);
    t.true(relDiff(report.objectiveAfter, after) < 1e-4, `${report.objectiveAfter} vs ${after}`);
    t.true(report.relativeLossDrift! <= 1e-4);
    t.true(maxAbsDiff(outBefore, model.predict(fresh) as tf.Tensor) < 1e-4);
  });
}

test('the drift guard applies to sharpness teleports (gl-data): inexact batches are rejected, exact ones accepted', async t => {
  // 12 rows > 6 inputs + 1: the data-dependent action is least squares, not exact, and the loss moves.
  const big = { x: seededUniform([12, 6], 16), y: seededUniform([12, 3], 17) };
  const model = compiled(18, true);
  const before = model.getWeights().map(w => w.clone());
  const rejected = await tp.teleport(model, big, { group: 'gl-data', objective: 'sharpness-test', seed: 1 });
  t.false(rejected.accepted);
  t.is(rejected.rejection, 'drift', rejected.reason);
  t.true(rejected.relativeLossDrift! > 1e-4);
  t.true(model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0));
  // 4 rows: exact on the batch; accepted, drift within the bound, φ moves the asked way.
  const small = { x: seededUniform([4, 6], 19), y: seededUniform([4, 3], 20) };
  const phi0 = tpMetrics.sharpness(model, small, { ...SMALL, seed: 1 });
  const accepted = await tp.teleport(model, small, { group: 'gl-data', objective: 'sharpness-test', direction: 'minimize', seed: 1 });
  t.true(accepted.accepted, accepted.reason);
  t.true(accepted.relativeLossDrift! <= 1e-4);
  t.true(tpMetrics.sharpness(model, small, { ...SMALL, seed: 1 }) < phi0);
});

test('the sharpness objective in a scheduled optimizer teleports at its step and lowers φ on its batch', async t => {
  const model = compiled(21);
  const x = seededUniform([12, 6], 22);
  const y = seededUniform([12, 3], 23);
  const reports: tp.TeleportReport[] = [];
  const optimizer = tp.sgd(0.01, {
    model,
    group: 'rescale',
    objective: 'sharpness-test',
    direction: 'minimize',
    schedule: { atSteps: [1] },
    data: { x, y },
    onTeleport: r => reports.push(r),
  });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs: 2, batchSize: 12, verbose: 0 });
  t.is(reports.length, 1);
  t.true(reports[0].accepted, reports[0].reason);
  t.true(reports[0].objectiveAfter < reports[0].objectiveBefore);
  t.true(reports[0].relativeLossDrift! <= 1e-4);
});

test('a sharpness teleport that cannot improve says so: rejected, weights untouched', async t => {
  const model = compiled(31);
  const x = seededUniform([12, 6], 32);
  const y = seededUniform([12, 3], 33);
  const before = model.getWeights().map(w => w.clone());
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'sharpness-test', steps: 0 });
  t.false(report.accepted);
  t.is(report.rejection, 'no-improvement');
  t.regex(report.reason!, /no group element improved/);
  t.true(model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0));
});

test('the sharpness objective without data is an error that says to pass data', t => {
  const model = compiled(24);
  t.throws(() => tp.sgd(0.1, { model, objective: 'sharpness', schedule: { every: 5 } }), { message: /data/ });
  t.throws(() => tpMetrics.sharpness(model, [] as tp.Batch[]), { message: /at least one batch/ });
});

test.serial('sharpness measurements and teleports leak no tensors', async t => {
  const model = compiled(25);
  const leaky = compiled(26, true);
  const x = seededUniform([12, 6], 27);
  const y = seededUniform([12, 3], 28);
  const small = { x: seededUniform([4, 6], 29), y: seededUniform([4, 3], 30) };
  let n0 = 0;
  for (let i = 0; i < 3; i++) {
    if (i === 1) n0 = tf.memory().numTensors;
    tpMetrics.sharpness(model, [{ x, y }, small as tp.Batch].slice(0, 1 + (i % 2)), { ...SMALL, seed: i });
    await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'sharpness-test', seed: i, steps: 2 });
    await tp.teleport(leaky, small, { group: 'gl-data', objective: 'sharpness-test', direction: 'minimize', seed: i, steps: 2 });
  }
  t.is(tf.memory().numTensors, n0);
});
