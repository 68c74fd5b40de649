// Issue 20 §1: bad data and options on every route: a clear TeleportError with a kind, and nothing changed.
import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, seedWeights, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpHessian from '../../src/hessian.js';
import * as tpMetrics from '../../src/metrics.js';
import { guardedAscent, type AscentSpace } from '../../src/solvers/step_rule.js';

test.before(useCpu);

function snapshot(model: tfl.LayersModel): tf.Tensor[] {
  return model.getWeights().map(w => w.clone());
}
function unchanged(model: tfl.LayersModel, before: tf.Tensor[]): boolean {
  return model.getWeights().every((w, i) => maxAbsDiff(w, before[i]) === 0);
}
/** x with one NaN entry (row 2, column 1). */
function withNaN(x: tf.Tensor): tf.Tensor {
  const v = x.dataSync().slice();
  v[2 * x.shape[1]! + 1] = Number.NaN;
  return tf.tensor(v, x.shape);
}
function regression(opts: { leaky?: boolean } = {}): tfl.Sequential {
  const model = mlp({ input: 3, widths: [5], activation: 'relu', leakyLayer: opts.leaky, alpha: 0.1, output: 2, seed: 4 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}
const x = seededUniform([6, 3], 11);
const y = seededUniform([6, 2], 12);
const xBad = withNaN(x);
const yBad = withNaN(seededUniform([6, 2], 12));

for (const [name, opts, leaky] of [
  ["gradientSource 'data'", { gradientSource: 'data' as const, group: 'rescale' }, false],
  ["group 'gl-data'", { group: 'gl-data' }, true],
] as const) {
  test.serial(`${name}: NaN in the teleport data is refused before the optimizer step (weights and iterations untouched)`, t => {
    for (const bad of [
      { x: xBad, y },
      { x, y: yBad },
    ]) {
      const model = regression({ leaky });
      const before = snapshot(model);
      // Data as a function: nothing can be checked at construction, the step must check it.
      const opt = tp.sgd(0.1, { model, schedule: { atSteps: [0] }, data: () => bad, ...opts });
      const loss = () => tf.losses.meanSquaredError(y, model.predict(x) as tf.Tensor) as tf.Scalar;
      const err = t.throws(() => opt.minimize(loss), { instanceOf: tp.TeleportError });
      t.is(err?.kind, 'not-finite');
      t.regex(err!.message, bad.x === xBad ? /teleport batch x/ : /teleport batch y/);
      t.true(unchanged(model, before), 'the optimizer step was not applied');
      t.is(opt.iterations, 0);
      // Fixed data is checked when the optimizer is made.
      const fixed = t.throws(() => tp.sgd(0.1, { model, schedule: { atSteps: [0] }, data: bad, ...opts }), { instanceOf: tp.TeleportError });
      t.is(fixed?.kind, 'not-finite');
      opt.dispose();
    }
  });
}

test.serial('one-off teleport: NaN in the batch is a not-finite error naming x or y, weights untouched', async t => {
  const model = regression();
  const before = snapshot(model);
  const err = await t.throwsAsync(tp.teleport(model, { x, y: yBad }, { group: 'rescale' }), { instanceOf: tp.TeleportError });
  t.is(err?.kind, 'not-finite');
  t.regex(err!.message, /teleport batch y/);
  t.true(unchanged(model, before));
});

test.serial('metrics and Hessian diagnostics refuse NaN inputs with a not-finite error naming the input', t => {
  const model = regression();
  const leaky = regression({ leaky: true });
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['sharpness x', () => tpMetrics.sharpness(model, { x: xBad, y }, { directions: 2 }), /data\[0\]\.x/],
    [
      'sharpness y',
      () =>
        tpMetrics.sharpness(
          model,
          [
            { x, y },
            { x, y: yBad },
          ],
          { directions: 2 },
        ),
      /data\[1\]\.y/,
    ],
    ['curvature gl-data', () => tpMetrics.curvature(leaky, { x: xBad, y }, { group: 'gl-data' }), /data\[0\]\.x/],
    ['trace', () => tpHessian.trace({ model, data: { x: xBad, y } }, { samples: 3 }), /data\[0\]\.x/],
    ['hvp', () => tpHessian.hvp({ model, data: { x, y: yBad } }, ones), /data\[0\]\.y/],
    ['topEigenvalues', () => tpHessian.topEigenvalues({ model, data: { x: xBad, y } }, 1), /data\[0\]\.x/],
    ['full', () => tpHessian.full({ model, data: { x: xBad, y } }), /data\[0\]\.x/],
  ];
  const ones = model.trainableWeights.map(w => tf.onesLike(w.read()));
  const w = tf.variable(tf.tensor1d([1, Number.NaN, 2]));
  const u = tf.variable(tf.tensor1d([1, 3, 2]));
  const vInf = tf.tensor1d([0, Number.POSITIVE_INFINITY, 1]);
  const tensorsBefore = tf.memory().numTensors;
  for (const [what, call, names] of cases) {
    const err = t.throws(call, { instanceOf: tp.TeleportError }, what);
    t.is(err?.kind, 'not-finite', what);
    t.regex(err?.message ?? '', names, what);
  }
  // A closure whose parameter holds a NaN, and a direction v with an Inf.
  const closure = { params: [w], loss: () => tf.sum(tf.square(w)) as tf.Scalar };
  const err = t.throws(() => tpHessian.topEigenvalues(closure, 1), { instanceOf: tp.TeleportError });
  t.is(err?.kind, 'not-finite');
  t.regex(err!.message, /params\[0\]/);
  const vErr = t.throws(() => tpHessian.hvp({ params: [u], loss: () => tf.sum(tf.square(u)) as tf.Scalar }, [vInf]), {
    instanceOf: tp.TeleportError,
  });
  t.is(vErr?.kind, 'not-finite');
  t.regex(vErr!.message, /v\[0\]/);
  t.is(tf.memory().numTensors, tensorsBefore, 'the refused calls left no tensor behind');
});

test.serial('a rank-deficient gl-data batch is a TeleportError that names the fix, weights untouched', async t => {
  // Dense(4, no bias, input 1) → leakyReLU → Dense(24) → leakyReLU → Dense(4), batch 11 (the issue's
  // model): the second site's H = [a₁, 1] (11×5) has rank ≤ 3, every a₁ being a leaky ReLU of one scalar.
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 4, useBias: false, inputShape: [1] }),
      tfl.layers.leakyReLU({ alpha: 0.1 }),
      tfl.layers.dense({ units: 24 }),
      tfl.layers.leakyReLU({ alpha: 0.1 }),
      tfl.layers.dense({ units: 4 }),
    ],
  });
  seedWeights(model, 7);
  // Four equal first-layer units: H's columns repeat exactly (with random weights float32 round-off
  // decides whether a pivot of the Gram matrix looks zero).
  const first = model.layers[0].getWeights()[0];
  model.layers[0].setWeights([tf.fill(first.shape, 0.5)]);
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const before = snapshot(model);
  const bx = seededUniform([11, 1], 3);
  const by = seededUniform([11, 4], 4);
  const err = await t.throwsAsync(tp.teleport(model, { x: bx, y: by }, { group: 'gl-data' }), { instanceOf: tp.TeleportError });
  t.is(err?.kind, 'bad-option');
  t.regex(err!.message, /rank deficient/);
  t.regex(err!.message, /smaller teleport batch/);
  t.regex(err!.message, /'rescale'/);
  t.true(unchanged(model, before));
  // Again, counting tensors (the first call may fill tfjs-layers' constant caches).
  const tensorsBefore = tf.memory().numTensors;
  await t.throwsAsync(tp.teleport(model, { x: bx, y: by }, { group: 'gl-data' }), { instanceOf: tp.TeleportError });
  t.is(tf.memory().numTensors, tensorsBefore, 'no tensor left behind by the failed build');
  const curv = t.throws(() => tpMetrics.curvature(model, { x: bx, y: by }, { group: 'gl-data' }), { instanceOf: tp.TeleportError });
  t.is(curv?.kind, 'bad-option');
});

test.serial("the wrapped optimizer's own learning rate is checked at construction", t => {
  const model = regression();
  for (const lr of [Number.POSITIVE_INFINITY, Number.NaN, -0.1]) {
    const err = t.throws(() => tp.sgd(lr, { model }), { instanceOf: tp.TeleportError }, `sgd(${lr})`);
    t.is(err?.kind, 'bad-option');
    t.regex(err!.message, /learning rate/);
    t.regex(err!.message, new RegExp(String(lr).replace('.', '\\.')));
  }
  t.throws(() => tp.momentum(Number.NaN, 0.9, { model }), { instanceOf: tp.TeleportError });
  t.throws(() => tp.adam(-1e-3, { model }), { instanceOf: tp.TeleportError });
  t.throws(() => tp.wrap(tf.train.rmsprop(Number.POSITIVE_INFINITY), { model }), { instanceOf: tp.TeleportError });
  t.notThrows(() => tp.sgd(0.05, { model }).dispose());
  t.notThrows(() => tp.sgd(0, { model }).dispose(), 'lr 0 freezes the weights between teleports: allowed');
  t.notThrows(() => tp.wrap(tf.train.adamax(0.002), { model }).dispose());
});

test.serial('lr 1e6 in a one-off teleport: the reason says the ascent blew up, not that the inputs are NaN', async t => {
  const model = regression();
  const before = snapshot(model);
  const report = await tp.teleport(model, { x, y }, { group: 'rescale', lr: 1e6 });
  t.false(report.accepted);
  t.regex(report.reason ?? '', /blew up/);
  t.regex(report.reason ?? '', /lower lr/);
  t.notRegex(report.reason ?? '', /NaN or Inf in the gradients or weights/);
  t.true(unchanged(model, before));
});

test.serial('a multi-input model on the one-off route: a batch with one x is refused naming the inputs; with a list of x it teleports', async t => {
  const a = tfl.input({ shape: [3] });
  const b = tfl.input({ shape: [2] });
  const joined = tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor;
  const hidden = tfl.layers.dense({ units: 4, activation: 'relu' }).apply(joined) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 1 }).apply(hidden) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: [a, b], outputs: out });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const before = snapshot(model);
  const one = { x: tf.ones([4, 3]), y: tf.ones([4, 1]) };
  const err = await t.throwsAsync(tp.teleport(model, one, { group: 'rescale' }), { instanceOf: tp.TeleportError });
  t.regex(err!.message, /2 input\(s\) and 1 output\(s\), but a teleport batch gives 1 x and 1 y/);
  t.true(unchanged(model, before));
  const x = [tf.randomUniform([4, 3], -1, 1, 'float32', 1), tf.randomUniform([4, 2], -1, 1, 'float32', 2)] as unknown as tf.Tensor;
  const report = await tp.teleport(model, { x, y: tf.ones([4, 1]) }, { group: 'rescale' });
  t.is(report.sites.length, 1);
});

/** ‖∇L‖² over the parameters rescale moves in a one-hidden-layer MLP (W₁, b₁, W₂), recomputed with tf.grads. */
function touchedGradNormSq(model: tfl.LayersModel): number {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
    const f = () => tf.losses.meanSquaredError(y, model.predict(x) as tf.Tensor) as tf.Scalar;
    const { grads } = tf.variableGrads(f, vars);
    return [0, 1, 2].reduce((s, i) => s + tf.sum(tf.square(grads[vars[i].name])).dataSync()[0], 0);
  });
}

test.serial('one-off teleports on one model share a growth budget the user can read and reset', async t => {
  const model = regression();
  const start = touchedGradNormSq(model);
  const reports: tp.TeleportReport[] = [];
  for (let i = 0; i < 12; i++) reports.push(await tp.teleport(model, { x, y }, { group: 'rescale' }));
  const total = touchedGradNormSq(model) / start;
  // Default maxTotalGrowth = maxGrowth² = 4: measured independently, not read from the reports.
  t.true(total <= 4 * 1.001, `‖∇L‖² grew ${total}× over 12 back-to-back teleports`);
  t.true(total > 2, `the budget was used (${total}×)`);
  const skipped = reports.filter(r => r.rejection === 'growth');
  t.true(skipped.length > 0, 'later teleports are skipped once the budget is spent');
  t.regex(skipped[0].reason ?? '', /resetBudget/);
  const budget = tp.teleport.budget(model);
  t.true(Math.abs(budget.growth - total) / total < 1e-3, `budget.growth ${budget.growth} vs measured ${total}`);
  t.is(budget.maxTotalGrowth, 4);
  t.is(budget.teleports, reports.filter(r => r.accepted).length);
  t.true(budget.drift >= 0 && budget.drift <= 12 * 1e-4);
  tp.teleport.resetBudget(model);
  t.is(tp.teleport.budget(model).growth, 1);
  const again = await tp.teleport(model, { x, y }, { group: 'rescale' });
  t.true(again.accepted, again.reason);
  // A larger budget is an option of the call.
  const other = regression();
  for (let i = 0; i < 6; i++) await tp.teleport(other, { x, y }, { group: 'rescale', maxTotalGrowth: 16 });
  t.true(tp.teleport.budget(other).growth > 4.5, `${tp.teleport.budget(other).growth}`);
});

test('the ascent stops at once when the objective is not finite at its start (one evaluation, aborted)', t => {
  // A space whose objective is NaN everywhere: without the check at the start, the ascent would try
  // steps and backtracks (1 + maxBacktracks + 1 evaluations) and return no reason.
  let evaluations = 0;
  const space: AscentSpace<number> = {
    evaluate: point => {
      evaluations++;
      return { point, value: Number.NaN, gradNormSq: 1 };
    },
    move: (from, scale) => from.point + scale,
    release: () => {},
  };
  const opts = { steps: 5, lr: 0.1, direction: 'maximize' as const, normalize: true, lineSearch: false, maxGrowth: 2, maxBacktracks: 4 };
  const r = guardedAscent(space, 0, null, opts);
  t.is(evaluations, 1);
  t.is(r.stepsTaken, 0);
  t.regex(r.aborted ?? '', /not finite at the start/);
  // A finite start with a non-finite first step: not aborted (the inputs are fine), every try blew up.
  let calls = 0;
  const steep: AscentSpace<number> = {
    evaluate: point => ({ point, value: calls++ === 0 ? 1 : Number.POSITIVE_INFINITY, gradNormSq: 1 }),
    move: (from, scale) => from.point + scale,
    release: () => {},
  };
  const s = guardedAscent(steep, 0, null, opts);
  t.is(s.aborted, undefined);
  t.true(s.blewUp);
});

test('a factory whose options are refused frees the inner optimizer it made (no leaked learning-rate scalar)', t => {
  const bad = { schedule: { every: -1 } } as tp.TeleportOptimizerOptions;
  const cases: Array<[string, () => unknown]> = [
    ['sgd', () => tp.sgd(0.1, bad)],
    ['momentum', () => tp.momentum(0.1, 0.9, bad)],
    ['adagrad', () => tp.adagrad(0.1, bad)],
    ['rmsprop', () => tp.rmsprop(0.1, bad)],
    ['adam', () => tp.adam(0.1, bad)],
  ];
  for (const [name, factory] of cases) {
    // tfjs's own MomentumOptimizer.dispose() leaves its learning-rate scalar behind; the wrapper frees it too.
    const before = tf.memory().numTensors;
    t.throws(factory, { instanceOf: tp.TeleportError });
    t.is(tf.memory().numTensors - before, 0, `${name}: tensors left by a refused factory call`);
  }
});
