import test from 'ava';
import { tf, type tfl, useCpu, mlp, smallCnn, seededUniform, relDiff, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpMetrics from '../../src/metrics.js';
import { SeededRandom } from '../../src/core/random.js';
import type { ObjectiveContext } from '../../src/objectives/types.js';

test.before(useCpu);

const vec = (xs: number[]) => tf.tensor1d(xs);
const kappaOf = (d1: tf.Tensor[], d2: tf.Tensor[]) => tf.tidy(() => tpAdvanced.curveCurvature(d1, d2).dataSync()[0]);

// ---- κ of known curves ------------------------------------------------------------------------------

test('κ of a circle of radius r is 1/r, also split across two tensors (a product space)', t => {
  for (const r of [0.5, 2, 7]) {
    // γ(θ) = (r cos θ, r sin θ) at θ = 0: γ' = (0, r), γ'' = (−r, 0).
    t.true(relDiff(kappaOf([vec([0, r])], [vec([-r, 0])]), 1 / r) < 1e-6);
    t.true(relDiff(kappaOf([vec([0]), vec([r])], [vec([-r]), vec([0])]), 1 / r) < 1e-6);
    // At θ = 0.7 the derivatives are rotated; κ stays 1/r.
    const c = Math.cos(0.7);
    const s = Math.sin(0.7);
    t.true(relDiff(kappaOf([vec([-r * s, r * c])], [vec([-r * c, -r * s])]), 1 / r) < 1e-6);
  }
});

test('κ of the parabola (t, k t²) is 2k at 0 and 2k/(1+4k²t²)^{3/2} at t', t => {
  for (const k of [0.1, 1, 3]) {
    t.true(relDiff(kappaOf([vec([1, 0])], [vec([0, 2 * k])]), 2 * k) < 1e-6);
    const s = 0.4;
    t.true(relDiff(kappaOf([vec([1, 2 * k * s])], [vec([0, 2 * k])]), (2 * k) / (1 + 4 * k * k * s * s) ** 1.5) < 1e-5);
  }
});

test('κ is invariant under reparameterization: t → ct and t → t + a t²', t => {
  const d1 = [1.3, -0.4, 2.2];
  const d2 = [0.5, 1.7, -0.8];
  const base = kappaOf([vec(d1)], [vec(d2)]);
  for (const c of [0.01, 0.3, 5, -2]) {
    t.true(relDiff(kappaOf([vec(d1.map(v => c * v))], [vec(d2.map(v => c * c * v))]), base) < 1e-5, `c=${c}`);
  }
  // t → t + a t²: γ' unchanged at 0, γ'' gains 2a·γ' (a tangential part), κ unchanged.
  t.true(relDiff(kappaOf([vec(d1)], [vec(d2.map((v, i) => v + 2 * 0.9 * d1[i]))]), base) < 1e-5);
  // Not invariant to a normal change of γ'' (the test can fail).
  t.true(relDiff(kappaOf([vec(d1)], [vec(d2.map(v => 2 * v))]), base) > 0.4);
});

// ---- γ', γ'' of orbit curves against float64 finite differences --------------------------------------

type Mat = number[][];
const matmul = (a: Mat, b: Mat): Mat => a.map(row => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const eye = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
const scale = (a: Mat, c: number): Mat => a.map(r => r.map(v => v * c));
const add = (a: Mat, b: Mat): Mat => a.map((r, i) => r.map((v, j) => v + b[i][j]));
/** exp(A) by its Taylor series (the test uses ‖A‖ ≤ 1e-3·‖M‖). */
function expm64(a: Mat): Mat {
  let term = eye(a.length);
  let sum = eye(a.length);
  for (let k = 1; k < 20; k++) {
    term = scale(matmul(term, a), 1 / k);
    sum = add(sum, term);
  }
  return sum;
}
const asMat = (t: tf.Tensor): Mat => (t.arraySync() as number[][]).map(r => r.slice());
const asRow = (t: tf.Tensor): Mat => [Array.from(t.dataSync())];
const flat = (ms: Mat[]) => ms.flatMap(m => m.flat());

/**
 * A 3-layer Dense net's parameters [W1, b1, W2, b2, W3, b3] moved by exp(t·M) on both hidden layers
 * in float64: W1·e^{tM1}, b1·e^{tM1}, e^{−tM1}·W2·e^{tM2}, b2·e^{tM2}, e^{−tM2}·W3, b3. A diagonal M is
 * rescale, a full one GL. Written from the action's definition, not from the library.
 */
function curve64(w: Mat[], m1: Mat, m2: Mat, t: number, dropCross = false): Mat[] {
  const [W1, b1, W2, b2, W3, b3] = w;
  const g1 = expm64(scale(m1, t));
  const g1i = expm64(scale(m1, -t));
  const g2 = expm64(scale(m2, t));
  const g2i = expm64(scale(m2, -t));
  const w2 = dropCross ? add(add(matmul(g1i, W2), matmul(W2, g2)), scale(W2, -1)) : matmul(matmul(g1i, W2), g2);
  return [matmul(W1, g1), matmul(b1, g1), w2, matmul(b2, g2), matmul(g2i, W3), b3];
}

function kappa64(d1: number[], d2: number[]): number {
  let a = 0;
  let b = 0;
  let c = 0;
  d1.forEach((v, i) => {
    a += v * v;
    b += d2[i] * d2[i];
    c += v * d2[i];
  });
  return Math.sqrt(a * b - c * c) / a ** 1.5;
}

/** γ'(0), γ''(0) by central differences in float64. */
function fd64(f: (t: number) => number[], h = 1e-4): { d1: number[]; d2: number[] } {
  const p = f(h);
  const z = f(0);
  const m = f(-h);
  return { d1: p.map((v, i) => (v - m[i]) / (2 * h)), d2: p.map((v, i) => (v - 2 * z[i] + m[i]) / (h * h)) };
}

function setup(activation: 'relu' | 'linear', group: 'rescale' | 'gl', seed: number) {
  const model = mlp({ input: 4, widths: [5, 3], activation, output: 2, seed });
  const structure = tpAdvanced.readModel(model);
  const plan = tpAdvanced.planTeleport(structure, group);
  const params = structure.variables;
  const actions = plan.build(params);
  const [drawn] = tpAdvanced.drawCurves(actions, new SeededRandom(seed).source, 1);
  // Actions come top site first: actions[0] acts between layers 2 and 3 (M2), actions[1] between 1 and 2 (M1).
  const toMat = (e: { shape: number[]; values: Float32Array }): Mat =>
    e.shape.length === 1
      ? eye(e.shape[0]).map((r, i) => r.map(v => v * e.values[i]))
      : Array.from({ length: e.shape[0] }, (_, i) => Array.from(e.values.slice(i * e.shape[1], (i + 1) * e.shape[1])));
  const m2 = toMat(drawn[0]);
  const m1 = toMat(drawn[1]);
  const w = params.map((p, i) => (i % 2 === 0 ? asMat(p) : asRow(p)));
  const ms = drawn.map(e => tf.tensor(e.values, e.shape));
  return { model, actions, params, ms, m1, m2, w };
}

/** γ'(0) alone by double reverse mode: ∇_u [d/dt Σ u·γ(t)]_{t=0} (one level of nesting). */
function firstDerivativeByAutodiff(actions: tp.SiteAction[], params: tf.Tensor[], ms: tf.Tensor[]): Array<tf.Tensor | null> {
  const touched = [...new Set(actions.flatMap(a => a.touches))];
  const zero = tf.scalar(0);
  const us = touched.map(i => tf.zerosLike(params[i]));
  const pair = (t: tf.Tensor, u: tf.Tensor[]) => {
    const moved = tpAdvanced.applyActions(
      actions,
      params,
      ms.map(m => tf.mul(t, m)),
    );
    return tf.addN(touched.map((idx, k) => tf.sum(tf.mul(u[k], moved[idx])))) as tf.Scalar;
  };
  const g = tf.grads((...u: tf.Tensor[]) => tf.grad((t: tf.Tensor) => pair(t, u))(zero) as tf.Scalar)(us);
  return params.map((_, i) => (touched.includes(i) ? g[touched.indexOf(i)] : null));
}

for (const [activation, group] of [
  ['relu', 'rescale'],
  ['linear', 'gl'],
] as const) {
  test(`γ', γ'' of the ${group} orbit through two layer pairs match float64 finite differences, cross terms included`, t => {
    const { actions, params, ms, m1, m2, w } = setup(activation, group, 11);
    const fd = fd64(s => flat(curve64(w, m1, m2, s)));
    const fdDropped = fd64(s => flat(curve64(w, m1, m2, s, true)));
    const { d1, d2, kappa } = tf.tidy(() => {
      const r = tpAdvanced.curveDerivatives(actions, params, ms);
      const z = (x: tf.Tensor | null, i: number) => (x ?? tf.zerosLike(params[i])).dataSync();
      return {
        d1: r.d1.flatMap((x, i) => Array.from(z(x, i))),
        d2: r.d2.flatMap((x, i) => Array.from(z(x, i))),
        kappa: tpAdvanced.curveCurvature(r.d1, r.d2).dataSync()[0],
      };
    });
    const scale1 = Math.max(...fd.d1.map(Math.abs));
    const scale2 = Math.max(...fd.d2.map(Math.abs));
    t.true(Math.max(...d1.map((v, i) => Math.abs(v - fd.d1[i]))) < 1e-5 * scale1);
    t.true(Math.max(...d2.map((v, i) => Math.abs(v - fd.d2[i]))) < 1e-4 * scale2);
    const ref = kappa64(fd.d1, fd.d2);
    t.true(relDiff(kappa, ref) < 1e-4, `κ ${kappa} vs float64 ${ref}`);
    // Dropping the shared kernel's cross term 2·M1ᵀ… (as the reference code does) gives another κ.
    const dropped = kappa64(fdDropped.d1, fdDropped.d2);
    t.log(`κ = ${ref}; without the cross term ${dropped} (${((100 * (dropped - ref)) / ref).toFixed(1)} %)`);
    t.true(relDiff(dropped, ref) > 0.01, `dropping the cross term changes κ: ${dropped} vs ${ref}`);
    tf.dispose(ms);
  });

  // Rescale's γ'' cannot be checked this way: tf.exp's gradient reads its saved output, which a nested
  // tf.grad does not see (tfjs throws), so for rescale γ' is checked here and γ'' against float64 above.
  test(`γ'${group === 'gl' ? ", γ''" : ''} from the ${group} Lie-algebra action equal nested autodiff of the action`, t => {
    const { actions, params, ms } = setup(activation, group, 12);
    const diff = tf.tidy(() => {
      const a = tpAdvanced.curveDerivatives(actions, params, ms);
      const b = group === 'gl' ? tpAdvanced.curveDerivativesByAutodiff(actions, params, ms) : { d1: firstDerivativeByAutodiff(actions, params, ms), d2: a.d2 };
      let worst = 0;
      params.forEach((_, i) => {
        for (const [x, y] of [
          [a.d1[i], b.d1[i]],
          [a.d2[i], b.d2[i]],
        ] as const) {
          if (x == null || y == null) {
            t.is(x, y);
            continue;
          }
          worst = Math.max(worst, maxAbsDiff(x, y) / Math.max(1e-6, tf.max(tf.abs(y)).dataSync()[0]));
        }
      });
      return worst;
    });
    t.true(diff < 1e-4, `relative difference ${diff}`);
    tf.dispose(ms);
  });
}

test('tp.metrics.curvature equals ψ recomputed in float64 from the same random elements (k = 3)', t => {
  const model = mlp({ input: 4, widths: [5, 3], activation: 'relu', output: 2, seed: 13 });
  const structure = tpAdvanced.readModel(model);
  const actions = tpAdvanced.planTeleport(structure, 'rescale').build(structure.variables);
  const curves = tpAdvanced.drawCurves(actions, new SeededRandom(21).source, 3);
  const w = structure.variables.map((p, i) => (i % 2 === 0 ? asMat(p) : asRow(p)));
  const diag = (e: { values: Float32Array }): Mat => eye(e.values.length).map((r, i) => r.map(v => v * e.values[i]));
  const ref = curves.map(([e2, e1]) => {
    const fd = fd64(s => flat(curve64(w, diag(e1), diag(e2), s)));
    return kappa64(fd.d1, fd.d2);
  });
  const psi = tpMetrics.curvature(model, null, { group: 'rescale', curves: 3, seed: 21 });
  const mean = ref.reduce((a, b) => a + b, 0) / 3;
  t.true(relDiff(psi, mean) < 1e-4, `${psi} vs ${mean}`);
  // A different seed draws different curves.
  t.true(relDiff(tpMetrics.curvature(model, null, { group: 'rescale', curves: 3, seed: 22 }), mean) > 1e-3);
});

test('tp.metrics.curvature with data-dependent GL (nested autodiff) matches finite differences of the action on the batch', t => {
  // Linear activation: the curve is smooth, so finite differences are valid (with leakyRelu, σ⁻¹'s kinks lie
  // within a float32-usable step of t = 0 and the differences are not).
  const model = mlp({ input: 6, widths: [5], activation: 'linear', output: 3, seed: 14 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([4, 6], 15);
  const y = seededUniform([4, 3], 16);
  const psi = tpMetrics.curvature(model, { x, y }, { group: 'gl-data', seed: 5 });
  t.true(Number.isFinite(psi) && psi > 0);
  // Recompute: γ(±h) by applying the action at ±h·M, second differences in float64 on float32 values.
  const structure = tpAdvanced.readModel(model);
  const actions = tpAdvanced.planTeleport(structure, 'gl-data').build(structure.variables, x);
  const [drawn] = tpAdvanced.drawCurves(actions, new SeededRandom(5).source, 1);
  const at = (s: number) =>
    tf.tidy(() => {
      const thetas = drawn.map(e => tf.mul(s, tf.tensor(e.values, e.shape)));
      return tpAdvanced.applyActions(actions, structure.variables, thetas).flatMap(p => Array.from(p.dataSync()));
    });
  const fd = fd64(at, 3e-2);
  const ref = kappa64(fd.d1, fd.d2);
  t.true(relDiff(psi, ref) < 2e-2, `${psi} vs ${ref}`);
  actions.forEach(a => a.dispose?.());
});

test('tp.metrics.curvature on a CNN (rescale through pooling and flatten) matches finite differences of the action', t => {
  const model = smallCnn();
  const structure = tpAdvanced.readModel(model);
  const actions = tpAdvanced.planTeleport(structure, 'rescale').build(structure.variables);
  t.is(actions.length, 3); // conv→conv, conv→dense (after flatten), dense→dense
  const [drawn] = tpAdvanced.drawCurves(actions, new SeededRandom(6).source, 1);
  const at = (s: number) =>
    tf.tidy(() =>
      tpAdvanced
        .applyActions(
          actions,
          structure.variables,
          drawn.map(e => tf.mul(s, tf.tensor(e.values, e.shape))),
        )
        .flatMap(p => Array.from(p.dataSync())),
    );
  const fd = fd64(at, 1e-2);
  const ref = kappa64(fd.d1, fd.d2);
  const psi = tpMetrics.curvature(model, null, { group: 'rescale', seed: 6 });
  t.true(relDiff(psi, ref) < 1e-2, `${psi} vs ${ref}`);
});

// ---- the objective ------------------------------------------------------------------------------------

function contextFor(actions: tp.SiteAction[], params: tf.Tensor[], seed: number): ObjectiveContext {
  const touched = [...new Set(actions.flatMap(a => a.touches))];
  return {
    actions,
    params,
    touched,
    route: 'transport',
    gradient: null,
    loss: null,
    preconditioner: null,
    random: new SeededRandom(seed).source,
    gradientAt: () => {
      throw new Error('not used');
    },
  };
}

for (const [activation, group] of [
  ['relu', 'rescale'],
  ['linear', 'gl'],
] as const) {
  test(`the curvature objective's gradient in θ (${group}) matches central finite differences`, t => {
    const model = mlp({ input: 4, widths: [5, 3], activation, output: 2, seed: 17 });
    const structure = tpAdvanced.readModel(model);
    const actions = tpAdvanced.planTeleport(structure, group).build(structure.variables);
    const f = tpAdvanced.curvatureObjective({ curves: 2 }).value(contextFor(actions, structure.variables, 3));
    const thetas = actions.map((a, i) => tf.tidy(() => tf.mul(0.2, seededUniform(a.init(() => 0).shape, 40 + i))));
    const grads = tf.grads((...th: tf.Tensor[]) => f(th))(thetas);
    for (let k = 0; k < 3; k++) {
      const dirs = thetas.map((th, i) => seededUniform(th.shape, 60 + 10 * k + i));
      const analytic = tf.tidy(() => tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, dirs[i])))).dataSync()[0]);
      const h = 1e-2;
      const at = (s: number) => tf.tidy(() => f(thetas.map((th, i) => tf.add(th, tf.mul(s, dirs[i])))).dataSync()[0]);
      const numeric = (at(h) - at(-h)) / (2 * h);
      t.true(Math.abs(analytic - numeric) < 2e-3 * Math.max(1, Math.abs(numeric)), `direction ${k}: ${analytic} vs ${numeric}`);
      tf.dispose(dirs);
    }
    tf.dispose([thetas, grads]);
  });
}

for (const [label, build] of [
  ['MLP, three rescale pairs', () => mlp({ input: 4, widths: [5, 3, 4], activation: 'relu', output: 2, seed: 19 })],
  ['CNN, conv→conv, conv→dense after flatten, dense→dense', () => smallCnn(8)],
] as const) {
  test(`the rescale closed form of ψ equals the tensor form (Lie-algebra action) and its gradient, at θ ≠ 0 (${label})`, t => {
    const model = build();
    const structure = tpAdvanced.readModel(model);
    const actions = tpAdvanced.planTeleport(structure, 'rescale').build(structure.variables);
    const objective = tpAdvanced.curvatureObjective({ curves: 3 });
    const ctx = contextFor(actions, structure.variables, 5);
    const closed = objective.closedForm!(ctx);
    t.truthy(closed);
    // The tensor form of the same context: the same three curves (drawn once per context).
    const f = objective.value(ctx);
    for (const scale of [0, 0.3, 1]) {
      const thetas = actions.map((a, i) => tf.tidy(() => tf.mul(scale, tf.sub(seededUniform(a.init(() => 0).shape, 70 + i), 0.5))));
      const tensorValue = tf.tidy(() => f(thetas).dataSync()[0]);
      const tensorGrads = tf.grads((...th: tf.Tensor[]) => f(th))(thetas);
      const { value, grads } = closed!.evaluate(thetas.map(th => Float64Array.from(th.dataSync())));
      t.true(relDiff(value, tensorValue) < 1e-4, `scale ${scale}: ${value} vs ${tensorValue}`);
      const flatT = tensorGrads.flatMap(g => Array.from(g.dataSync()));
      const flatC = grads.flatMap(g => Array.from(g));
      const norm = Math.sqrt(flatT.reduce((a, v) => a + v * v, 0));
      const err = Math.sqrt(flatC.reduce((a, v, i) => a + (v - flatT[i]) ** 2, 0));
      t.true(norm > 1e-4 && err < 1e-3 * norm, `scale ${scale}: gradient error ${err} of ${norm}`);
      tf.dispose([thetas, tensorGrads]);
    }
  });
}

test('the curvature closed form applies to rescale only (GL keeps the tensor form)', t => {
  const model = mlp({ input: 4, widths: [5, 3], activation: 'linear', output: 2, seed: 21 });
  const structure = tpAdvanced.readModel(model);
  const actions = tpAdvanced.planTeleport(structure, 'gl').build(structure.variables);
  t.is(tpAdvanced.curvatureObjective().closedForm!(contextFor(actions, structure.variables, 1)), null);
});

function compiled(activation: 'relu' | 'linear', seed: number): tfl.Sequential {
  const model = mlp({ input: 6, widths: [8, 6], activation, output: 3, seed });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}

for (const [activation, group] of [
  ['relu', 'rescale'],
  ['linear', 'gl'],
] as const) {
  for (const direction of ['maximize', 'minimize'] as const) {
    test(`a curvature teleport (${group}, ${direction}) moves tp.metrics.curvature that way, within the drift guard`, async t => {
      const model = compiled(activation, 18);
      const x = seededUniform([12, 6], 19);
      const y = seededUniform([12, 3], 20);
      const outBefore = model.predict(x) as tf.Tensor;
      const before = tpMetrics.curvature(model, null, { group, seed: 9 });
      const report = await tp.teleport(model, { x, y }, { group, objective: 'curvature', direction, seed: 9, steps: 10, lr: 0.1 });
      const after = tpMetrics.curvature(model, null, { group, seed: 9 });
      t.true(report.accepted, report.reason);
      t.is(report.objective, 'curvature');
      t.true(direction === 'maximize' ? after > before * 1.01 : after < before * 0.99, `${before} → ${after}`);
      // The report's objective is the measured ψ.
      t.true(relDiff(report.objectiveBefore, before) < 1e-4, `${report.objectiveBefore} vs ${before}`);
      t.true(relDiff(report.objectiveAfter, after) < 1e-3, `${report.objectiveAfter} vs ${after}`);
      t.true(report.relativeLossDrift! <= 1e-4);
      t.true(maxAbsDiff(outBefore, model.predict(x) as tf.Tensor) < 1e-4);
    });
  }
}

test('the curvature objective in a scheduled optimizer: teleports at its step, raises ψ, keeps the function', async t => {
  const model = compiled('relu', 23);
  const x = seededUniform([12, 6], 24);
  const y = seededUniform([12, 3], 25);
  const reports: tp.TeleportReport[] = [];
  const optimizer = tp.sgd(0.01, {
    model,
    group: 'rescale',
    objective: 'curvature',
    schedule: { atSteps: [1] },
    data: { x, y },
    onTeleport: r => reports.push(r),
  });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs: 2, batchSize: 12, verbose: 0 });
  t.is(reports.length, 1);
  t.true(reports[0].accepted, reports[0].reason);
  t.true(reports[0].objectiveAfter > reports[0].objectiveBefore);
  t.true(reports[0].relativeLossDrift! <= 1e-4);
});

test('a curvature teleport that cannot improve says so: rejected, weights untouched', async t => {
  const model = compiled('relu', 26);
  const x = seededUniform([12, 6], 27);
  const y = seededUniform([12, 3], 28);
  const before = model.getWeights().map(w => w.clone());
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'curvature', steps: 0 });
  t.false(report.accepted);
  t.is(report.rejection, 'no-improvement');
  t.true(model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0));
});

test('the drift guard applies to curvature teleports: a drift above maxLossDrift is rejected', async t => {
  const model = compiled('linear', 29);
  const x = seededUniform([12, 6], 30);
  const y = seededUniform([12, 3], 31);
  const before = model.getWeights().map(w => w.clone());
  // GL moves the loss only by float32 round-off (here ~1e-7 after large steps); a bound below it must reject.
  // No halvings: a halved element may land on a round-off drift of exactly 0 (it did, 1 time in 1).
  const report = await tp.teleport(model, { x, y }, { group: 'gl', objective: 'curvature', lr: 1, maxGrowth: 100, maxLossDrift: 1e-12, maxShrinks: 0 });
  t.false(report.accepted);
  t.is(report.rejection, 'drift', report.reason);
  t.true(report.relativeLossDrift! > 1e-12);
  t.true(model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0));
});

test('objective curvature with a data-dependent group is an error that names the fix', async t => {
  const model = mlp({ input: 6, widths: [5], activation: 'linear', leakyLayer: true, output: 3, seed: 32 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([4, 6], 33);
  const y = seededUniform([4, 3], 34);
  const err = await t.throwsAsync(() => tp.teleport(model, { x, y }, { group: 'gl-data', objective: 'curvature' }));
  t.regex(err!.message, /linear group action.*rescale, gl, auto/);
  // At construction for the optimizers, not at the first teleport inside fit().
  t.throws(() => tp.sgd(0.1, { model, group: 'gl-data', objective: 'curvature', data: { x, y }, schedule: { every: 5 } }), { message: /linear group action/ });
});

test.serial('curvature measurements and teleports leak no tensors', async t => {
  const model = compiled('relu', 35);
  const lin = compiled('linear', 36);
  const leaky = mlp({ input: 6, widths: [5], activation: 'linear', leakyLayer: true, output: 3, seed: 37 });
  leaky.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([12, 6], 38);
  const y = seededUniform([12, 3], 39);
  const small = { x: seededUniform([4, 6], 40), y: seededUniform([4, 3], 41) };
  let n0 = 0;
  // The first round warms up (kernels and models may cache tensors on first use).
  for (let i = 0; i < 4; i++) {
    if (i === 1) n0 = tf.memory().numTensors;
    tpMetrics.curvature(model, { x, y }, { group: 'rescale', curves: 2, seed: i });
    tpMetrics.curvature(lin, [{ x, y }], { group: 'gl', seed: i });
    tpMetrics.curvature(leaky, [small, small], { group: 'gl-data', seed: i });
    await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'curvature', seed: i, steps: 3 });
    await tp.teleport(lin, { x, y }, { group: 'gl', objective: 'curvature', direction: 'minimize', seed: i, steps: 3 });
  }
  t.is(tf.memory().numTensors, n0);
});
