// Tests written to catch small, plausible bugs in the core (issue "Teleports that never hurt", §6).
// Each recomputes what it checks independently: gradients by autodiff of a hand-written forward pass
// at the weights the wrapper produced, invariants from the slots themselves, teleports by counting.
import test from 'ava';
import { tf, type tfl, useCpu, mlp, seededUniform, oneHotBatch, maxAbsDiff, relDiff } from '../helpers.js';
import * as tp from '../../src/index.js';

test.before(useCpu);

type Act = 'relu' | 'linear' | 'leaky';

/** The mlp() of helpers as a pure function of [W1, b1, W2, b2, …]: logits, no tfjs-layers involved. */
function logits(params: readonly tf.Tensor[], x: tf.Tensor, act: Act): tf.Tensor {
  let h = x;
  for (let i = 0; i < params.length; i += 2) {
    const z = tf.add(tf.matMul(h as tf.Tensor2D, params[i] as tf.Tensor2D), params[i + 1]);
    const last = i + 2 === params.length;
    h = last || act === 'linear' ? z : act === 'relu' ? tf.relu(z) : tf.sub(tf.relu(z), tf.mul(0.1, tf.relu(tf.neg(z))));
  }
  return h;
}
const lossAt = (params: readonly tf.Tensor[], x: tf.Tensor, y: tf.Tensor, act: Act) => tf.losses.softmaxCrossEntropy(y, logits(params, x, act)) as tf.Scalar;
/** ∇L at the given weights, by autodiff of the forward pass above. */
const gradAt = (params: readonly tf.Tensor[], x: tf.Tensor, y: tf.Tensor, act: Act) => tf.grads((...ps: tf.Tensor[]) => lossAt(ps, x, y, act))(params.slice());
/** ‖∇L‖² over the parameters a layer-pair teleport acts on: every one but the output bias. */
const gradNormSqAt = (params: readonly tf.Tensor[], x: tf.Tensor, y: tf.Tensor, act: Act) =>
  tf.tidy(() =>
    gradAt(params, x, y, act)
      .slice(0, -1)
      .reduce((s, g) => s + tf.sum(tf.square(g)).dataSync()[0], 0),
  );
const snapshot = (model: tfl.LayersModel) => model.getWeights().map(w => w.clone());

const x = seededUniform([24, 6], 1);
const y = oneHotBatch(24, 3, 2);
const stepLoss = (model: tfl.LayersModel) => () => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar;

// ---------------------------------------------------------------------------------------------
// GL state transport: first moments move like gradients (m₁ ← m₁·g⁻ᵀ, m₂ ← gᵀ·m₂), not like weights.
//
// With W₁ ← W₁·g and W₂ ← g⁻¹·W₂: W₁·m₁ᵀ = W₁g·g⁻¹m₁ᵀ and m₂ᵀ·W₂ = m₂ᵀg·g⁻¹W₂ are unchanged as matrices,
// and Σ W∘m = tr(Wᵀm) is unchanged for every tensor (a middle kernel sees g₁⁻¹·W₂·g₂ and g₁ᵀ·m₂·g₂⁻ᵀ).
// Moved like weights (m₁ ← m₁·g) they would change unless g is orthogonal. RMSProp's momentum buffer
// holds past updates (tangent vectors): u₁ ← u₁·g, paired with the gradient G (G₁ ← G₁·g⁻ᵀ, computed by
// autodiff before and after): u₁·G₁ᵀ and Σ u∘G stay.

type SlotOwner = Record<string, Array<{ variable: tf.Variable }>>;
const GL_CASES: Array<{ name: string; make: (o: tp.TeleportOptimizerOptions) => tp.TeleportOptimizer; gradient?: string; update?: string }> = [
  { name: 'momentum', make: o => tp.momentum(0.02, 0.9, o), gradient: 'accumulations' },
  { name: 'adam', make: o => tp.adam(0.01, o), gradient: 'accumulatedFirstMoment' },
  // (Centered RMSProp is left out: tfjs 4.22 computes sqrt(ms − mg² − ε), NaN for tiny gradients.)
  { name: 'rmsprop', make: o => tp.rmsprop(0.005, 0.9, 0.5, o), update: 'accumulatedMoments' },
];

for (const c of GL_CASES) {
  const what = c.gradient ? 'first moments like gradients: W₁·m₁ᵀ, m₃ᵀ·W₃ and Σ W∘m' : 'update buffer like weight changes: u₁·G₁ᵀ, G₃ᵀ·u₃ and Σ u∘G';
  test(`GL teleport moves ${c.name}'s ${what} (per tensor) are unchanged`, t => {
    const model = mlp({ widths: [8, 8], activation: 'linear' });
    const slotsOf = (o: tp.TeleportOptimizer, field: string) => (o.inner as unknown as SlotOwner)[field].map(s => s.variable);
    const invariants = (w: tf.Tensor[], o: tp.TeleportOptimizer) =>
      tf.tidy(() => {
        const out: tf.Tensor[] = [];
        const last = w.length - 2;
        // A gradient-like slot pairs with the weights; an update-like one with the gradient at w.
        const [a, b] = c.gradient ? [w, slotsOf(o, c.gradient)] : [slotsOf(o, c.update!), gradAt(w, x, y, 'linear')];
        out.push(tf.matMul(a[0] as tf.Tensor2D, b[0] as tf.Tensor2D, false, true)); // W₁·m₁ᵀ
        out.push(tf.matMul(b[last] as tf.Tensor2D, a[last] as tf.Tensor2D, true, false)); // m₃ᵀ·W₃
        out.push(tf.stack(a.map((ai, i) => tf.sum(tf.mul(ai, b[i]))))); // Σ W∘m per tensor
        return out.map(t => tf.keep(t));
      });
    let before: tf.Tensor[] | null = null;
    let weightsBefore: tf.Tensor[] | null = null;
    let checked = false;
    const optimizer = c.make({
      model,
      group: 'gl',
      schedule: { atSteps: [4] },
      steps: 5,
      lr: 0.3,
      maxGrowth: 10,
      onTeleport: r => {
        t.true(r.accepted, r.reason);
        t.true(r.state!.startsWith('transform'), r.state);
        const w = model.getWeights();
        const after = invariants(w, optimizer);
        after.forEach((a, k) => {
          const scale = tf.tidy(() => tf.max(tf.abs(before![k])).dataSync()[0]);
          t.true(maxAbsDiff(a, before![k]) <= 1e-4 * scale + 1e-7, `${c.name} invariant ${k}: changed by ${maxAbsDiff(a, before![k])} (scale ${scale})`);
        });
        // The teleport moved the weights by a non-orthogonal g: W₁ᵀW₁ (invariant under orthogonal g) changed.
        const gram = (m: tf.Tensor) => tf.matMul(m as tf.Tensor2D, m as tf.Tensor2D, true, false);
        t.true(tf.tidy(() => maxAbsDiff(gram(w[0]), gram(weightsBefore![0]))) > 1e-2);
        tf.dispose(after);
        checked = true;
      },
    });
    for (let i = 0; i < 5; i++) {
      if (i === 4) {
        weightsBefore = snapshot(model);
        before = invariants(weightsBefore, optimizer);
      }
      optimizer.minimize(stepLoss(model));
    }
    t.true(checked);
  });
}

// ---------------------------------------------------------------------------------------------
// Algorithm 1 inside the step: after the step the weights are g·w − lr·∇L(g·w), with ∇L(g·w) from
// autodiff at the teleported weights (not the step's gradient ∇L(w) at w).

for (const [group, act] of [
  ['rescale', 'relu'],
  ['gl', 'linear'],
] as const) {
  test(`Algorithm 1 (${group}): the step from g·w uses ∇L(g·w) computed by autodiff at g·w`, t => {
    const model = mlp({ widths: [8, 8], activation: act });
    const lr = 0.1;
    const w0 = snapshot(model);
    let teleported: tf.Tensor[] | null = null;
    const optimizer = tp.sgd(lr, {
      model,
      group,
      schedule: { atSteps: [0] },
      steps: 5,
      lr: 0.3,
      maxGrowth: 10,
      onTeleport: () => (teleported = snapshot(model)),
    });
    optimizer.minimize(stepLoss(model));
    t.true(optimizer.teleportReports[0].accepted, optimizer.teleportReports[0].reason);
    const gw = teleported!;
    // The teleport moved the weights and kept the loss.
    t.true(maxAbsDiff(gw[0], w0[0]) > 1e-2);
    t.true(relDiff(lossAt(gw, x, y, act).dataSync()[0], lossAt(w0, x, y, act).dataSync()[0]) < 1e-5);
    const grads = gradAt(gw, x, y, act);
    const after = model.getWeights();
    gw.forEach((p, i) => {
      const expected = tf.sub(p, tf.mul(lr, grads[i]));
      const scale = tf.max(tf.abs(tf.mul(lr, grads[i]))).dataSync()[0];
      t.true(maxAbsDiff(after[i], expected) <= 1e-3 * scale + 1e-6, `${group} weight ${i}: off by ${maxAbsDiff(after[i], expected)} (step size ${scale})`);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Schedules: count the teleports; `stop` is excluded.

test('schedules: {every, start, stop} teleports at start, start+every, … strictly below stop; atSteps exactly there', t => {
  const cases: Array<[tp.Schedule, number, number[]]> = [
    [{ every: 3, start: 2, stop: 11 }, 16, [2, 5, 8]], // 11 = 2 + 3·3 is on the grid: excluded
    [{ every: 4, stop: 12 }, 16, [4, 8]], // start defaults to every; 12 excluded
    [{ every: 5, start: 0 }, 16, [0, 5, 10, 15]],
    [{ atSteps: [6, 1, 6] }, 10, [1, 6]],
  ];
  for (const [schedule, steps, expected] of cases) {
    const model = mlp({ widths: [8, 8] });
    const optimizer = tp.sgd(0.05, { model, group: 'rescale', schedule, steps: 2 });
    for (let i = 0; i < steps; i++) optimizer.minimize(stepLoss(model));
    t.deepEqual(
      optimizer.teleportReports.map(r => r.step),
      expected,
      JSON.stringify(schedule),
    );
  }
});

// ---------------------------------------------------------------------------------------------
// The growth cap: ‖∇L(g·w)‖² / ‖∇L(w)‖² ≤ maxGrowth, measured by autodiff before and after, on every
// solver (closed-form rescale, generic ascent on transported gradients, nested-autodiff evaluate
// route) and across the batches of one event (their ratios multiply).

const TOL = 1 + 1e-4;

for (const { group, act, maxGrowth } of [
  { group: 'rescale', act: 'relu', maxGrowth: undefined }, // closed-form solver, the default cap 2
  { group: 'gl', act: 'linear', maxGrowth: 3 }, // generic ascent on the transported gradient
] as const) {
  test(`growth cap, ${group} inside the step: measured ‖∇L‖² grows by at most maxGrowth (${maxGrowth ?? 'default 2'})`, t => {
    const cap = maxGrowth ?? 2;
    const model = mlp({ widths: [8, 8], activation: act });
    const w0 = snapshot(model);
    let gw: tf.Tensor[] | null = null;
    const optimizer = tp.sgd(0.05, { model, group, schedule: { atSteps: [0] }, steps: 20, lr: 1, maxGrowth, onTeleport: () => (gw = snapshot(model)) });
    optimizer.minimize(stepLoss(model));
    const r = optimizer.teleportReports[0];
    t.true(r.accepted, r.reason);
    const before = gradNormSqAt(w0, x, y, act);
    const after = gradNormSqAt(gw!, x, y, act);
    t.true(after / before <= cap * TOL, `growth ${after / before} > cap ${cap}`);
    t.true(after / before > 1.3, `the cap should bind here (growth ${after / before})`);
    // And the report says what was measured.
    t.true(
      relDiff(r.gradNormSqBefore, before) < 1e-3 && relDiff(r.gradNormSqAfter, after) < 1e-3,
      `${r.gradNormSqBefore}→${r.gradNormSqAfter} vs ${before}→${after}`,
    );
  });
}

for (const { group, act, data } of [
  { group: 'rescale', act: 'relu', data: 'exact group, gradients on each batch (gradientSource: data)' },
  { group: 'gl-data', act: 'leaky', data: 'data-dependent GL, nested autodiff' },
] as const) {
  test(`growth cap across the batches of one event, ${data}: the product of measured growths ≤ maxGrowth`, t => {
    const cap = 2;
    const input = group === 'gl-data' ? 10 : 6;
    // Softmax outputs for the categorical cross-entropy; the teleport (and gradNormSqAt) work on the logits.
    const model = mlp({ input, widths: [8, 8], softmax: true, ...(act === 'leaky' ? { leakyLayer: true, alpha: 0.1 } : { activation: act }) });
    // Batches small enough for gl-data to be exact on them (≤ inputs + 1).
    const batches = [0, 1, 2].map(b => ({ x: seededUniform([8, input], 10 + b), y: oneHotBatch(8, 3, 20 + b) }));
    const snapshots: tf.Tensor[][] = [snapshot(model)];
    // lr 0: the inner step leaves the weights, so the event starts from the weights before minimize.
    const optimizer = tp.sgd(0, {
      model,
      group,
      schedule: { atSteps: [0] },
      steps: 20,
      lr: group === 'gl-data' ? 0.5 : 1,
      maxGrowth: cap,
      data: batches,
      gradientSource: 'data',
      loss: 'categoricalCrossentropy',
      onTeleport: () => snapshots.push(snapshot(model)),
    });
    const fx = batches[0].x;
    optimizer.minimize(() => tf.losses.logLoss(batches[0].y, model.apply(fx) as tf.Tensor) as tf.Scalar);
    const reports = optimizer.teleportReports;
    t.true(reports.length >= 1 && reports[0].accepted, JSON.stringify(reports.map(r => [r.accepted, r.reason])));
    let product = 1;
    const growths: number[] = [];
    reports.forEach((r, k) => {
      const b = batches[r.batch ?? 0];
      const growth = gradNormSqAt(snapshots[k + 1], b.x, b.y, act) / gradNormSqAt(snapshots[k], b.x, b.y, act);
      t.true(growth <= cap * TOL, `batch ${r.batch}: growth ${growth}`);
      growths.push(growth);
      product *= growth;
    });
    t.true(
      product <= cap * TOL,
      `one event grew ‖∇L‖² by ${product} over its batches (cap ${cap}); per batch: ${reports.map(r => r.gradNormSqAfter / r.gradNormSqBefore)}`,
    );
    // Not vacuous: one batch alone gets near the cap, so batches with a cap each would exceed it together.
    t.true(
      growths[0] > 1.3,
      `the first batch should use most of the budget (growths ${growths}; ${JSON.stringify(reports.map(r => [r.accepted, r.reason, r.shrinks]))})`,
    );
  });
}
