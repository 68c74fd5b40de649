/**
 * "Teleports that never hurt": each test here reproduces a case that went wrong before the fix
 * (issue 12, §1 and §3) and measures the result independently of what the teleport reports.
 */
import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, relDiff, maxAbsDiff, seedWeights } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpProblems from '../../src/problems.js';
import * as tpGroups from '../../src/groups.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions } from '../../src/teleport/engine.js';

test.before(useCpu);

const mse = (model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor) => tf.tidy(() => tf.mean(tf.square(tf.sub(y, model.predict(x) as tf.Tensor))).dataSync()[0]);

/** ‖∇L‖² of the MSE through tfjs-layers' own forward pass: all trainable weights, and all but `skip`. */
function measuredGradNormSq(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, skip: string[] = []): { full: number; touched: number } {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar, vars);
    let full = 0;
    let touched = 0;
    for (const [name, g] of Object.entries(grads)) {
      const sq = tf.sum(tf.square(g)).dataSync()[0];
      full += sq;
      if (!skip.some(s => name.includes(s))) touched += sq;
    }
    return { full, touched };
  });
}

function snapshot(model: tfl.LayersModel): tf.Tensor[] {
  return model.getWeights().map(w => w.clone());
}
function unchanged(model: tfl.LayersModel, before: tf.Tensor[]): boolean {
  return model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0);
}

/** The 10-24(leaky)-16(leaky)-5 model (LeakyReLU layers after linear Dense layers). */
function leakyModel(widths = [24, 16], seed = 5): tfl.Sequential {
  const model = mlp({ input: 10, widths, leakyLayer: true, alpha: 0.1, output: 5, seed });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}

test('every group action is the identity at θ = 0, also for batches smaller than the layer', t => {
  const cases: Array<[string, tfl.LayersModel, tf.Tensor | undefined]> = [
    ['rescale', mlp({ activation: 'relu' }), undefined],
    ['gl', mlp({ activation: 'linear' }), undefined],
    ['gl-data', leakyModel(), seededUniform([8, 10], 2)],
    ['gl-pinv', leakyModel(), seededUniform([8, 10], 2)],
  ];
  for (const [group, model, x] of cases) {
    const s = readModel(model);
    const actions = planTeleport(s, group).build(s.variables, x);
    const zeros = actions.map(a => tf.zerosLike(a.init(() => 0.5)));
    const moved = applyActions(actions, s.variables, zeros);
    moved.forEach((p, i) =>
      t.true(
        maxAbsDiff(p, s.variables[i]) <= 1e-6 * (1 + tf.max(tf.abs(s.variables[i])).dataSync()[0]),
        `${group}: parameter ${i} moved by ${maxAbsDiff(p, s.variables[i])}`,
      ),
    );
    actions.forEach(a => a.dispose?.());
  }
  const { rosenbrock } = tpProblems;
  const p = tf.tensor1d([0.3, -0.7]);
  for (const action of [tpGroups.so2(rosenbrock.bijection), tpGroups.orthogonal(rosenbrock.bijection, 2)]) {
    const [moved] = action.act([p], tf.zerosLike(action.init(() => 0.5)));
    t.true(maxAbsDiff(moved, p) < 1e-6, `${action.group} at 0`);
  }
});

for (const [group, widths] of [
  ['gl-data', [24, 16]],
  ['gl-pinv', [24]],
] as const) {
  test(`${group} on a batch smaller than the layer: objectiveBefore is ‖∇L(w)‖², and a reported gain is a measured gain`, async t => {
    const model = leakyModel([...widths]);
    const x = seededUniform([8, 10], 3);
    const y = seededUniform([8, 5], 4);
    const before = measuredGradNormSq(model, x, y, ['dense_' + '']);
    const lastBias = model.layers[model.layers.length - 1].getWeights()[1];
    const lastBiasSq = tf.tidy(() => {
      const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
      const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar, vars);
      const last = vars[vars.length - 1];
      t.deepEqual(last.shape, lastBias.shape);
      return tf.sum(tf.square(grads[last.name])).dataSync()[0];
    });
    const report = await tp.teleport(model, { x, y }, { group, steps: 5, lr: 1e-3, normalize: false, lineSearch: false });
    // The objective at the start is the one measured at w (not at a projection of w).
    t.true(
      relDiff(report.objectiveBefore, before.full - lastBiasSq) < 1e-4,
      `objectiveBefore ${report.objectiveBefore} vs measured ${before.full - lastBiasSq}`,
    );
    t.true(relDiff(report.gradNormSqBefore, report.objectiveBefore) < 1e-6);
    t.true(relDiff(report.fullGradNormSqBefore, before.full) < 1e-4, `full ${report.fullGradNormSqBefore} vs ${before.full}`);
    const after = measuredGradNormSq(model, x, y);
    if (report.accepted) {
      t.true(after.full > before.full, `accepted but measured ‖∇L‖² went ${before.full} → ${after.full}`);
      t.true(relDiff(report.fullGradNormSqAfter, after.full) < 1e-3, `reported ${report.fullGradNormSqAfter} vs measured ${after.full}`);
      t.true(report.objectiveAfter > report.objectiveBefore);
    } else {
      t.true(relDiff(after.full, before.full) < 1e-6, 'rejected teleports leave the model as it was');
    }
  });
}

test('gl-data with a huge lr: nothing improves, so nothing is accepted and outputs off the batch do not move', async t => {
  const model = leakyModel();
  const x = seededUniform([8, 10], 3);
  const y = seededUniform([8, 5], 4);
  const fresh = seededUniform([50, 10], 99);
  const outBefore = model.predict(fresh) as tf.Tensor;
  const w0 = snapshot(model);
  const report = await tp.teleport(model, { x, y }, { group: 'gl-data', steps: 5, lr: 1e6 });
  t.false(report.accepted);
  t.is(report.rejection, 'no-improvement');
  t.is(maxAbsDiff(outBefore, model.predict(fresh) as tf.Tensor), 0);
  t.true(unchanged(model, w0));
});

test('SO(2) on Rosenbrock with plain fixed steps: the ascent never returns a worse point than it started from', async t => {
  const { rosenbrock } = tpProblems;
  let teleports = 0;
  let accepted = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const r = new tpAdvanced.SeededRandom(seed);
    for (let k = 0; k < 3; k++) {
      const v = tf.variable(tf.tensor1d([-1.5 + 3 * r.next(), -1 + 3 * r.next()]));
      const gradSq = () => tf.tidy(() => tf.sum(tf.square(tf.grad((p: tf.Tensor) => rosenbrock.loss(p as tf.Tensor1D))(v))).dataSync()[0]);
      const measuredBefore = gradSq();
      // The dissertation's setting: 10 plain steps of 0.1 from a random angle, no growth cap.
      const report = await tp.teleport([v], ([p]) => rosenbrock.loss(p as tf.Tensor1D), {
        group: tpGroups.so2(rosenbrock.bijection),
        steps: 10,
        lr: 0.1,
        normalize: false,
        maxGrowth: 1e12,
        seed: seed * 100 + k,
      });
      const measuredAfter = gradSq();
      teleports++;
      t.true(
        relDiff(report.objectiveBefore, measuredBefore) < 1e-3,
        `seed ${seed}.${k}: objectiveBefore ${report.objectiveBefore} vs measured ${measuredBefore}`,
      );
      if (report.accepted) {
        accepted++;
        t.true(measuredAfter > measuredBefore, `seed ${seed}.${k}: ${measuredBefore} → ${measuredAfter}`);
        t.true(relDiff(report.objectiveAfter, measuredAfter) < 1e-3, `seed ${seed}.${k}: reported ${report.objectiveAfter} vs measured ${measuredAfter}`);
      } else {
        t.is(measuredAfter, measuredBefore);
      }
      v.dispose();
    }
  }
  t.is(teleports, 24);
  t.true(accepted >= 12, `only ${accepted} of 24 teleports found a better point`);
});

test('a layer used twice is refused with a clear error, weights untouched', async t => {
  const input = tfl.input({ shape: [4] });
  const shared = tfl.layers.dense({ units: 4, activation: 'relu' });
  const out = tfl.layers.dense({ units: 2 }).apply(shared.apply(shared.apply(input))) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  seedWeights(model, 3);
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const w0 = snapshot(model);
  const err = await t.throwsAsync(tp.teleport(model, { x: seededUniform([6, 4], 1), y: seededUniform([6, 2], 2) }, { group: 'rescale' }));
  t.true(err instanceof tp.UnsupportedLayerError, String(err));
  t.is((err as tp.TeleportError).kind, 'unsupported');
  t.regex(err!.message, /used 2 times/);
  t.true(unchanged(model, w0));
  t.throws(() => tp.sgd(0.1, { model, schedule: { every: 5 } }), { instanceOf: tp.UnsupportedLayerError });
});

test('regularizers: a penalized pair is left out, and the training loss (data + penalty) is what the guard keeps', async t => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [6], units: 8, activation: 'relu', kernelRegularizer: tfl.regularizers.l2({ l2: 0.1 }) }),
      tfl.layers.dense({ units: 8, activation: 'relu' }),
      tfl.layers.dense({ units: 8, activation: 'relu' }),
      tfl.layers.dense({ units: 3 }),
    ],
  });
  seedWeights(model, 4);
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([16, 6], 5);
  const y = seededUniform([16, 3], 6);
  const penalty = () => tf.tidy(() => 0.1 * tf.sum(tf.square(model.layers[0].getWeights()[0])).dataSync()[0]);
  const total = () => mse(model, x, y) + penalty();
  const totalBefore = total();
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 10, lr: 0.3 });
  t.true(report.accepted, report.reason);
  t.false(
    report.sites.some(s => s.startsWith(model.layers[0].name)),
    `regularized pair teleported: ${report.sites.join('; ')}`,
  );
  t.true(relDiff(total(), totalBefore) < 1e-4, `training loss ${totalBefore} → ${total()}`);
  t.true(relDiff(report.lossBefore!, totalBefore) < 1e-5, `report's loss ${report.lossBefore} is not the training loss ${totalBefore}`);
  // Only the penalized pair: nothing to teleport, a clear error.
  const only = tfl.sequential({
    layers: [tfl.layers.dense({ inputShape: [6], units: 4, activation: 'relu', kernelRegularizer: 'l1l2' }), tfl.layers.dense({ units: 3 })],
  });
  only.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  await t.throwsAsync(tp.teleport(only, { x, y }, { group: 'rescale' }), { instanceOf: tp.UnsupportedLayerError, message: /kernelRegularizer/ });
});

test('constraints: a teleport never leaves weights that violate a layer constraint', async t => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [5], units: 6, kernelConstraint: tfl.constraints.nonNeg() }),
      tfl.layers.dense({ units: 3, kernelConstraint: tfl.constraints.nonNeg() }),
    ],
  });
  model.setWeights(model.getWeights().map((w, i) => tf.abs(seededUniform(w.shape, 70 + i))));
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([12, 5], 1);
  const y = seededUniform([12, 3], 2);
  const report = await tp.teleport(model, { x, y }, { group: 'gl', steps: 10, lr: 0.3 });
  const minKernel = Math.min(
    ...model
      .getWeights()
      .filter(w => w.rank === 2)
      .map(w => tf.min(w).dataSync()[0]),
  );
  t.true(minKernel >= 0, `negative kernel entry ${minKernel} (accepted: ${report.accepted})`);
  t.false(report.accepted);
  t.is(report.rejection, 'constraint');
  // Rescale keeps nonNeg (positive scales): accepted.
  const r2 = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 5, lr: 0.2 });
  t.true(r2.accepted, r2.reason);
  t.true(Math.min(...model.getWeights().map(w => tf.min(w).dataSync()[0])) >= 0);
});

test('frozen layers: the frozen pair is skipped with a warning, the rest teleports exactly', async t => {
  const model = mlp({ input: 6, widths: [8, 8, 8], activation: 'relu', output: 3, seed: 7 });
  model.layers[0].trainable = false;
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([10, 6], 1);
  const y = seededUniform([10, 3], 2);
  const fresh = seededUniform([7, 6], 3);
  const outBefore = model.predict(fresh) as tf.Tensor;
  const frozenBefore = model.layers[0].getWeights().map(w => w.clone());
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 5, lr: 0.2 });
  t.true(report.accepted, report.reason);
  t.is(report.sites.length, 2);
  t.true(maxAbsDiff(outBefore, model.predict(fresh) as tf.Tensor) < 1e-5);
  model.layers[0].getWeights().forEach((w, i) => t.is(maxAbsDiff(w, frozenBefore[i]), 0));
  // And inside an optimizer step, with gl-data on the remaining pairs' batch route.
  const opt = tp.sgd(0.01, { model, group: 'rescale', schedule: { atSteps: [0] } });
  opt.minimize(() => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar);
  t.is(opt.teleportReports.length, 1);
});

for (const route of ['gradientSource data', 'gl-data'] as const) {
  test(`NaN training batch on the after-the-step route (${route}): TeleportError, step not applied, weights untouched`, t => {
    const model = route === 'gl-data' ? leakyModel() : mlp({ input: 10, widths: [8, 8], activation: 'relu', output: 5 });
    const x = seededUniform([8, 10], 3);
    const y = seededUniform([8, 5], 4);
    const opt =
      route === 'gl-data'
        ? tp.sgd(0.01, { model, group: 'gl-data', data: { x, y }, loss: 'meanSquaredError', schedule: { atSteps: [1] } })
        : tp.sgd(0.01, { model, group: 'rescale', gradientSource: 'data', data: { x, y }, loss: 'meanSquaredError', schedule: { atSteps: [1] } });
    const lossOn = (xb: tf.Tensor) => () => tf.mean(tf.square(tf.sub(y, model.apply(xb) as tf.Tensor))) as tf.Scalar;
    opt.minimize(lossOn(x));
    const w0 = snapshot(model);
    const err = t.throws(() => opt.minimize(lossOn(tf.fill([8, 10], NaN))));
    t.true(err instanceof tp.TeleportError);
    t.is((err as tp.TeleportError).kind, 'not-finite');
    t.true(unchanged(model, w0));
    // A NaN teleport batch: refused when the optimizer is made (issue 20: before any step is applied).
    const e2 = t.throws(() =>
      tp.sgd(0.01, {
        model,
        group: 'rescale',
        gradientSource: 'data',
        data: { x: tf.fill([8, 10], NaN), y },
        loss: 'meanSquaredError',
        schedule: { atSteps: [0] },
      }),
    );
    t.is((e2 as tp.TeleportError).kind, 'not-finite');
  });
}

test('construction checks: gradientSource, schedule keys, data shapes and non-finite numbers are named', t => {
  const model = mlp();
  t.throws(() => tp.sgd(0.1, { model, gradientSource: 'dta' as 'data' }), { message: /gradientSource must be one of step, data, got "dta"/ });
  t.throws(() => tp.sgd(0.1, { model, schedule: { atSteps: [3], every: 5 } as unknown as tp.Schedule }), { message: /either atSteps or every, not both/ });
  t.throws(() => tp.sgd(0.1, { model, data: { x: seededUniform([4, 7], 1), y: seededUniform([4, 3], 2) } }), {
    message: /shape \[4, 7\] but model .* expects \[batch, 6\]/,
  });
  t.throws(() => tp.sgd(0.1, { model, lr: Infinity }), { message: /lr must be a positive finite number, got Infinity/ });
  t.throws(() => tp.sgd(0.1, { model, maxGrowht: 3 } as unknown as tp.TeleportOptimizerOptions), {
    message: /unknown option 'maxGrowht' \(did you mean 'maxGrowth'\?\)/,
  });
  const e = t.throws(() => tp.sgd(0.1, { model, steps: 1.5 }));
  t.true(e instanceof tp.TeleportError && e.kind === 'bad-option');
});

test('the shared step rule returns the best point it has seen, not the last: a fixed step that jumps past a sharp peak', t => {
  // f(θ) = exp(−20(θ − 0.5)²) from θ = 0 with plain steps of 5: step 1 lands near the peak (f ≈ 0.56),
  // step 2 overshoots far past it (f ≈ 0, below where it started).
  const peak = (ts: tf.Tensor[]) => tf.sum(tf.exp(tf.mul(-20, tf.square(tf.sub(ts[0], 0.5))))) as tf.Scalar;
  const opts = { steps: 2, lr: 5, direction: 'maximize' as const, normalize: false, lineSearch: false, maxGrowth: 1e9, maxBacktracks: 0 };
  const r = tpAdvanced.ascend(peak, [tf.zeros([1])], opts);
  const measured = tf.tidy(() => peak(r.thetas).dataSync()[0]);
  t.is(r.stepsTaken, 2);
  t.true(measured > 0.5, `returned θ = ${r.thetas[0].dataSync()[0]} with f = ${measured}`);
  t.true(relDiff(r.objectiveAfter, measured) < 1e-5);
  t.true(r.objectiveAfter > r.objectiveBefore);
});

test('a schedule of many teleports cannot compound the gradient norm: the run-wide budget (and without it, it does)', t => {
  // The case: an 8-16-16-4 relu MLP, rescale every step, SGD so small that only teleports move
  // the weights. Before the budget, 99 teleports took ‖∇L‖² from 0.7 to 4e29.
  const x = seededUniform([32, 8], 1);
  const y = seededUniform([32, 4], 2);
  const run = (maxTotalGrowth?: number) => {
    const model = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed: 9 });
    const opt = tp.sgd(1e-12, { model, group: 'rescale', schedule: { every: 1, start: 0 }, lr: 0.5, ...(maxTotalGrowth != null ? { maxTotalGrowth } : {}) });
    const before = measuredGradNormSq(model, x, y).full;
    for (let i = 0; i < 60; i++) opt.minimize(() => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar);
    const caps = opt.teleportReports.map(r => r.growthCap);
    return {
      growth: measuredGradNormSq(model, x, y).full / before,
      caps,
      accepted: opt.teleportReports.filter(r => r.accepted).length,
      reports: opt.teleportReports,
    };
  };
  const budgeted = run();
  // The budget recovers at 4× per growthRecoverySteps (500) steps: over 60 steps, 4^(1 + 60/500) in all.
  const allowed = 4 ** (1 + 60 / 500);
  t.true(budgeted.growth <= allowed * 1.01, `‖∇L‖² grew ${budgeted.growth}× over 60 teleports (budget ${allowed})`);
  t.is(budgeted.caps[0], 2);
  t.true(budgeted.caps.reduce((a, b) => a * b, 1) <= allowed * (1 + 1e-9));
  // Once a teleport may grow less than 1 %, it is skipped without an ascent, and says why.
  const late = budgeted.reports.slice(-10);
  t.true(
    late.every(r => !r.accepted && r.rejection === 'growth' && r.ascentSteps === 0 && /budget/.test(r.reason ?? '')),
    JSON.stringify(late.map(r => r.reason)),
  );
  const unbounded = run(Infinity);
  t.true(unbounded.growth > 1e3, `without the budget the growth is ${unbounded.growth}× (${unbounded.accepted} accepted)`);
});
