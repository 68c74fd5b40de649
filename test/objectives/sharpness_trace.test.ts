import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, relDiff, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpHessian from '../../src/hessian.js';
import * as tpMetrics from '../../src/metrics.js';
import { SeededRandom } from '../../src/core/random.js';
import type { ObjectiveContext } from '../../src/objectives/types.js';

test.before(useCpu);

/** A context like the engine's (evaluate route: the sharpness objective needs the batch loss). */
function contextFor(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, group: string, seed: number, options = {}): ObjectiveContext {
  const structure = tpAdvanced.readModel(model);
  const resolved = tpAdvanced.resolveLoss('meanSquaredError', structure.finalSoftmax);
  const actions = tpAdvanced.planTeleport(structure, group).build(structure.variables);
  return {
    actions,
    params: structure.variables,
    touched: [...new Set(actions.flatMap(a => a.touches))],
    route: 'evaluate',
    gradient: null,
    loss: p => resolved.compute(y, structure.forward(p, x).output) as tf.Scalar,
    preconditioner: null,
    random: new SeededRandom(seed).source,
    options,
    gradientAt: () => {
      throw new Error('not used');
    },
  };
}

/** A relu MLP fitted (Adam, full batch) until its gradient is small: a minimum, where φ is meant to be read. */
async function nearMinimum(seed: number): Promise<{ model: tfl.Sequential; x: tf.Tensor; y: tf.Tensor }> {
  const model = mlp({ input: 6, widths: [8, 6], activation: 'relu', output: 3, seed });
  const x = seededUniform([16, 6], seed + 1);
  const y = seededUniform([16, 3], seed + 2);
  model.compile({ optimizer: tf.train.adam(0.02), loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs: 300, batchSize: 16, verbose: 0 });
  return { model, x, y };
}

test('rademacherProbe: entries ±1, seeded, E[z zᵀ] ≈ I', t => {
  const sizes = [3, 2];
  const a = tpAdvanced.rademacherProbe(4, 0, sizes);
  t.deepEqual(a, tpAdvanced.rademacherProbe(4, 0, sizes));
  t.notDeepEqual(a, tpAdvanced.rademacherProbe(4, 1, sizes));
  const m = [0, 0, 0, 0];
  for (let j = 0; j < 2000; j++) {
    const z = tpAdvanced.rademacherProbe(9, j, sizes).flatMap(v => Array.from(v));
    if (!z.every(v => v === 1 || v === -1)) t.fail(`probe ${j}: ${z}`);
    m[0] += z[0] * z[0];
    m[1] += z[0] * z[1];
    m[2] += z[2] * z[4];
    m[3] += z[3] / 2000;
  }
  t.is(m[0], 2000);
  t.true(Math.abs(m[1] / 2000) < 0.06 && Math.abs(m[2] / 2000) < 0.06 && Math.abs(m[3]) < 0.06, JSON.stringify(m));
});

test('hessianVectorProducts of a quadratic loss (one Dense layer, MSE) equals H·z computed in float64', t => {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  model.setWeights([seededUniform([3, 2], 1), seededUniform([2], 2)]);
  const x = seededUniform([5, 3], 3);
  const y = seededUniform([5, 2], 4);
  const structure = tpAdvanced.readModel(model);
  const loss = (p: readonly tf.Tensor[]) => tf.mean(tf.square(tf.sub(structure.forward(p, x).output, y))) as tf.Scalar;
  const z = [Float32Array.from([1, -1, 0.5, 2, -0.3, 1]), Float32Array.from([0.7, -2])];
  const [hz] = tpAdvanced.hessianVectorProducts(loss, structure.variables, [z], 1e-2);
  // L = (1/NO) Σ_{n,o} (x_n·W[:,o] + b_o − y)²: ∂²L/∂W[a,o]∂W[c,o] = (2/NO) Σ_n x_na x_nc, with the bias as x = 1.
  const X = (x.arraySync() as number[][]).map(r => [...r, 1]);
  const N = 5;
  const O = 2;
  const Z = [0, 1, 2, 3].map(a => [0, 1].map(o => (a < 3 ? z[0][a * 2 + o] : z[1][o])));
  const H = (a: number, c: number) => (2 / (N * O)) * X.reduce((s, r) => s + r[a] * r[c], 0);
  const ref = [0, 1, 2, 3].map(a => [0, 1].map(o => [0, 1, 2, 3].reduce((s, c) => s + H(a, c) * Z[c][o], 0)));
  const got = [0, 1, 2, 3].map(a => [0, 1].map(o => (a < 3 ? hz[0][a * 2 + o] : hz[1][o])));
  got.flat().forEach((v, i) => t.true(Math.abs(v - ref.flat()[i]) < 2e-4 * Math.max(1, Math.abs(ref.flat()[i])), `${i}: ${v} vs ${ref.flat()[i]}`));
  t.throws(() => tpAdvanced.hessianVectorProducts(loss, structure.variables, [z], 0), { message: /step must be a positive/ });
});

test("the 'trace' value at θ equals L + mean(t²)/(2n)·(1/K)Σ⟨J⁻ᵀz, J⁻ᵀHz⟩ with J⁻ᵀ written out for rescale", t => {
  const model = mlp({ input: 4, widths: [3], activation: 'relu', output: 2, seed: 5 });
  const structure = tpAdvanced.readModel(model);
  const params = structure.variables;
  const actions = tpAdvanced.planTeleport(structure, 'rescale').build(params);
  const sizes = params.map(p => p.size);
  const n = sizes.reduce((a, b) => a + b, 0);
  const probes = [0, 1].map(j => tpAdvanced.rademacherProbe(3, j, sizes));
  const hvps = [0, 1].map(j => sizes.map((s, i) => Float32Array.from({ length: s }, (_, k) => Math.sin(1 + j + 3 * i + k))));
  const theta = [0.3, -0.5, 0.8];
  const value = tf.tidy(() => tpAdvanced.traceSharpnessAt(actions, [tf.tensor1d(theta)], params, probes, hvps, 1.5, 0.02, n).dataSync()[0]);
  // Kernel 1 [4, 3] and bias 1 [3] feed unit u: gradients scale by e^{−θ_u}; kernel 2 [3, 2] reads it: e^{+θ_u}; bias 2 stays.
  const factor = (i: number, k: number) =>
    i === 0 ? Math.exp(-theta[k % 3]) : i === 1 ? Math.exp(-theta[k]) : i === 2 ? Math.exp(theta[Math.floor(k / 2)]) : 1;
  let sum = 0;
  for (let j = 0; j < 2; j++) for (let i = 0; i < 4; i++) for (let k = 0; k < sizes[i]; k++) sum += probes[j][i][k] * hvps[j][i][k] * factor(i, k) ** 2;
  const ref = 1.5 + (0.02 / (2 * n)) * (sum / 2);
  t.true(relDiff(value, ref) < 1e-6, `${value} vs ${ref}`);
  t.true(Math.abs(value - 1.5) > 1e-5); // the trace part is not negligible here, so the check can fail
});

test("the 'trace' objective: closed form (rescale) equals the tensor form, and its gradient matches finite differences", async t => {
  const { model, x, y } = await nearMinimum(11);
  const ctx = contextFor(model, x, y, 'rescale', 2);
  const objective = tpAdvanced.sharpnessObjective({ estimator: 'trace', probes: 3 });
  const closed = objective.closedForm!(ctx)!;
  t.truthy(closed);
  const f = objective.value(ctx);
  const thetas = ctx.actions.map((a, i) => tf.tidy(() => tf.mul(0.4, seededUniform(a.init(() => 0).shape, 80 + i))));
  const tensorValue = tf.tidy(() => f(thetas).dataSync()[0]);
  const cf = closed.evaluate(thetas.map(th => Float64Array.from(th.dataSync())));
  t.true(relDiff(cf.value, tensorValue) < 1e-5, `${cf.value} vs ${tensorValue}`);
  const grads = tf.grads((...th: tf.Tensor[]) => f(th))(thetas);
  for (let k = 0; k < 3; k++) {
    const dirs = thetas.map((th, i) => seededUniform(th.shape, 90 + 10 * k + i));
    const analytic = tf.tidy(() => tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, dirs[i])))).dataSync()[0]);
    const closedDir = cf.grads.reduce((s, g, i) => s + g.reduce((a, v, j) => a + v * dirs[i].dataSync()[j], 0), 0);
    // Central differences in float64 on the closed form (float32 would lose the small trace term).
    const h = 1e-4;
    const at = (s: number) => closed.evaluate(thetas.map((th, i) => Float64Array.from(th.dataSync(), (v, j) => v + s * dirs[i].dataSync()[j]))).value;
    const numeric = (at(h) - at(-h)) / (2 * h);
    t.true(Math.abs(closedDir - numeric) < 1e-4 * Math.abs(numeric) + 1e-12, `closed form, direction ${k}: ${closedDir} vs ${numeric}`);
    t.true(Math.abs(analytic - numeric) < 2e-2 * Math.abs(numeric) + 1e-9, `tensor form, direction ${k}: ${analytic} vs ${numeric}`);
    tf.dispose(dirs);
  }
  tf.dispose([thetas, grads]);
});

test("over rescale elements the 'trace' objective ranks like the full eq. 5.1 (|D| = 100, same seed) near a minimum, and is near it", async t => {
  const { model, x, y } = await nearMinimum(13);
  const ctx = contextFor(model, x, y, 'rescale', 4);
  const cheap = tpAdvanced.sharpnessObjective({ estimator: 'trace' }).value(ctx);
  const params = ctx.params as tf.Variable[];
  const saved = params.map(p => p.clone());
  const full: number[] = [];
  const est: number[] = [];
  for (let e = 0; e < 7; e++) {
    const thetas = ctx.actions.map((a, i) => tf.tidy(() => tf.mul(e === 0 ? 0 : 0.25 * (1 + (e % 3)), seededUniform(a.init(() => 0).shape, 100 + 7 * e + i))));
    est.push(tf.tidy(() => cheap(thetas).dataSync()[0]));
    const moved = tf.tidy(() => tpAdvanced.applyActions(ctx.actions, params, thetas));
    params.forEach((p, i) => p.assign(moved[i]));
    tf.dispose(moved.filter((m, i) => m !== params[i]));
    full.push(tpMetrics.sharpness(model, { x, y }, { seed: 4, directions: 100, loss: 'meanSquaredError' }));
    params.forEach((p, i) => p.assign(saved[i]));
    tf.dispose(thetas);
  }
  const rank = (v: number[]) => v.map(a => v.filter(b => b < a).length);
  const rf = rank(full);
  const re = rank(est);
  const m = (rf.length - 1) / 2;
  const rho = rf.reduce((s, r, i) => s + (r - m) * (re[i] - m), 0) / rf.reduce((s, r) => s + (r - m) ** 2, 0);
  t.log(`Spearman ρ = ${rho.toFixed(3)}; full φ ${full.map(v => v.toPrecision(5)).join(', ')}; trace ${est.map(v => v.toPrecision(5)).join(', ')}`);
  t.true(rho >= 0.7, `Spearman ${rho}`);
  est.forEach((v, i) => t.true(relDiff(v, full[i]) < 0.1, `element ${i}: ${v} vs ${full[i]}`));
  tf.dispose(saved);
});

for (const direction of ['minimize', 'maximize'] as const) {
  test(`a 'trace' sharpness teleport (rescale, ${direction}) moves the full tp.metrics.sharpness (same seed) that way, or is rejected with a reason`, async t => {
    const { model, x, y } = await nearMinimum(17);
    const fresh = seededUniform([5, 6], 18);
    const outBefore = model.predict(fresh) as tf.Tensor;
    const before = tpMetrics.sharpness(model, { x, y }, { seed: 6 });
    const report = await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'sharpness', direction, seed: 6, steps: 10, lr: 0.2 });
    const after = tpMetrics.sharpness(model, { x, y }, { seed: 6 });
    t.log(`φ ${before} → ${after}; objective ${report.objectiveBefore} → ${report.objectiveAfter}; ${report.accepted ? 'accepted' : report.reason}`);
    if (!report.accepted) {
      t.truthy(report.reason);
      t.truthy(report.rejection);
      return;
    }
    t.true(direction === 'minimize' ? after < before : after > before, `${before} → ${after}`);
    t.true(direction === 'minimize' ? report.objectiveAfter < report.objectiveBefore : report.objectiveAfter > report.objectiveBefore);
    t.true(report.relativeLossDrift! <= 1e-4);
    t.true(maxAbsDiff(outBefore, model.predict(fresh) as tf.Tensor) < 1e-4);
  });
}

test("options: sharpnessEstimator and sharpnessProbes are validated, saved by getConfig, and 'trace' on a data-dependent group names the fix", async t => {
  const model = mlp({ input: 6, widths: [5], activation: 'linear', leakyLayer: true, output: 3, seed: 3 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const data = { x: seededUniform([4, 6], 1), y: seededUniform([4, 3], 2) };
  t.throws(() => tp.sgd(0.1, { model, objective: 'sharpness', data, sharpnessEstimator: 'cheap' as 'trace' }), {
    message: /sharpnessEstimator must be one of auto, trace, directions/,
  });
  t.throws(() => tp.sgd(0.1, { model, objective: 'sharpness', data, sharpnessProbes: 0 }), { message: /sharpnessProbes must be .*integer ≥ 1, got 0/ });
  const opt = tp.sgd(0.1, { model, objective: 'sharpness', data, sharpnessEstimator: 'directions', sharpnessProbes: 7 });
  // The teleport options sit under the config's `teleport` key (the inner optimizer's config is the top level).
  const config = opt.getConfig().teleport as Record<string, unknown>;
  t.is(config.sharpnessEstimator, 'directions');
  t.is(config.sharpnessProbes, 7);
  t.is((tp.sgd(0.1, { model }).getConfig().teleport as Record<string, unknown>).sharpnessEstimator, 'auto');
  await t.throwsAsync(tp.teleport(model, data, { group: 'gl-data', objective: 'sharpness', sharpnessEstimator: 'trace' }), {
    message: /exact linear group .*sharpnessEstimator: 'directions'/,
  });
  // 'auto' on a data-dependent group falls back to eq. 5.1 itself (its value is the metric's).
  const small = { directions: 3, displacements: [0.05, 0.1] };
  tp.registerObjective(tpAdvanced.sharpnessObjective({ name: 'sharpness-small-auto', ...small, estimator: 'auto' }));
  const r = await tp.teleport(model, data, { group: 'gl-data', objective: 'sharpness-small-auto', steps: 0 });
  t.true(relDiff(r.objectiveBefore, tpMetrics.sharpness(model, data, { ...small, seed: 0 })) < 1e-5);
});

test.serial("'trace' sharpness teleports leak no tensors", async t => {
  const model = mlp({ input: 6, widths: [8, 6], activation: 'relu', output: 3, seed: 23 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([12, 6], 24);
  const y = seededUniform([12, 3], 25);
  let n0 = 0;
  for (let i = 0; i < 3; i++) {
    if (i === 1) n0 = tf.memory().numTensors;
    await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'sharpness', seed: i, steps: 3 });
    await tp.teleport(model, { x, y }, { group: 'gl', objective: 'sharpness', seed: i, steps: 2, onUnsupported: 'skip' }).catch(() => undefined);
  }
  t.is(tf.memory().numTensors, n0);
});

test("GL: the 'trace' form with basis probes equals tr H(g·w) from the full Hessian at the moved weights, and its θ-gradient matches central differences", t => {
  // A linear 3-4-2 network: GL acts on its pair exactly, and H(g·w) = J⁻ᵀH(w)J⁻¹ is what the transported
  // probes assume. Probes √n·e_i (every basis vector) make the estimate the exact trace, so it can be
  // compared with tp.hessian.full at g·w, computed with no transport at all.
  const model = mlp({ input: 3, widths: [4], activation: 'linear', output: 2, seed: 31 });
  const x = seededUniform([20, 3], 32, -1, 1);
  const y = seededUniform([20, 2], 33);
  const structure = tpAdvanced.readModel(model);
  const params = structure.variables;
  const lossOf = (p: readonly tf.Tensor[]) => tf.losses.meanSquaredError(y, structure.forward(p, x).output) as tf.Scalar;
  const actions = tpAdvanced.planTeleport(structure, 'gl').build(params);
  const sizes = params.map(p => p.size);
  const n = sizes.reduce((a, b) => a + b, 0);
  const h0 = tpHessian.full({ params, loss: () => lossOf(params) });
  const split = (flat: (j: number) => number): Float32Array[] => {
    let offset = 0;
    return sizes.map(s => {
      const part = Float32Array.from({ length: s }, (_, j) => flat(offset + j));
      offset += s;
      return part;
    });
  };
  const probes = Array.from({ length: n }, (_, i) => split(j => (j === i ? Math.sqrt(n) : 0)));
  const hvps = Array.from({ length: n }, (_, i) => split(j => Math.sqrt(n) * h0.matrix[j * n + i]));
  const thetas = actions.map((a, i) => tf.tidy(() => tf.mul(0.3, seededUniform(a.init(() => 0).shape, 40 + i, -1, 1))));
  // lossAtW 0 and mean t² = 2n make the value the trace part alone.
  const value = (th: readonly tf.Tensor[]) => tpAdvanced.traceSharpnessAt(actions, th, params, probes, hvps, 0, 2 * n, n);
  const estimate = tf.tidy(() => value(thetas).dataSync()[0]);
  const moved = tf.tidy(() => tpAdvanced.applyActions(actions, params, thetas).map(m => tf.keep(m.clone())));
  const movedVars = moved.map(m => tf.variable(m));
  const h1 = tpHessian.full({ params: movedVars, loss: () => lossOf(movedVars) });
  let trace1 = 0;
  let trace0 = 0;
  for (let i = 0; i < n; i++) {
    trace1 += h1.matrix[i * n + i];
    trace0 += h0.matrix[i * n + i];
  }
  t.true(relDiff(estimate, trace1) < 2e-3, `estimate ${estimate} vs tr H(g·w) ${trace1}`);
  t.true(relDiff(trace0, trace1) > 2e-2, `the element must change the trace for the check to mean something (${trace0} → ${trace1})`);
  const grads = tf.grads((...th: tf.Tensor[]) => value(th))(thetas);
  for (let k = 0; k < 2; k++) {
    const dirs = thetas.map((th, i) => seededUniform(th.shape, 60 + 10 * k + i, -1, 1));
    const analytic = tf.tidy(() => tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, dirs[i])))).dataSync()[0]);
    const h = 1e-2;
    const at = (s: number) => tf.tidy(() => value(thetas.map((th, i) => tf.add(th, tf.mul(s, dirs[i])))).dataSync()[0]);
    const numeric = (at(h) - at(-h)) / (2 * h);
    t.true(Math.abs(analytic - numeric) < 2e-2 * Math.abs(numeric) + 1e-6, `direction ${k}: ${analytic} vs ${numeric}`);
    tf.dispose(dirs);
  }
  tf.dispose([thetas, grads, moved, movedVars, x, y]);
  actions.forEach(a => a.dispose?.());
});
