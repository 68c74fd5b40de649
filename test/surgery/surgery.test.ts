import test from 'ava';
import * as tp from '../../src/index.js';
import * as tpSurgery from '../../src/surgery.js';
import { maxAbsDiff, mlp, seededUniform, seedWeights, smallCnn, tf, tfl, useCpu } from '../helpers.js';

test.before(useCpu);

/** A few SGD steps on a fixed regression batch, so the weights are those of a (briefly) trained net. */
function trainBriefly(model: tfl.LayersModel, steps = 30, seed = 7): void {
  const inputs = model.inputs[0].shape[1]!;
  const outputs = model.outputs[0].shape[1]!;
  const x = seededUniform([32, inputs], seed);
  const y = seededUniform([32, outputs], seed + 1);
  const opt = tf.train.sgd(0.05);
  for (let i = 0; i < steps; i++) opt.minimize(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar);
  opt.dispose();
  tf.dispose([x, y]);
}

/** Largest |f(x) − g(x)| on fresh inputs, relative to the largest |f(x)|. */
function outputGap(a: tfl.LayersModel, b: tfl.LayersModel, seed = 99): number {
  return tf.tidy(() => {
    const x = seededUniform([64, a.inputs[0].shape[1]!], seed, -2, 2);
    const ya = a.predict(x) as tf.Tensor;
    const yb = b.predict(x) as tf.Tensor;
    return maxAbsDiff(ya, yb) / Math.max(1e-6, tf.max(tf.abs(ya)).dataSync()[0]);
  });
}

const widthOf = (m: tfl.LayersModel, name: string) => (m.getLayer(name).getConfig().units as number) ?? -1;
const weightsOf = (m: tfl.LayersModel) => m.getWeights().map(w => w.arraySync());

test('post-activation split keeps the function for any activation, widens the layer and leaves the input model alone', t => {
  for (const activation of ['relu', 'tanh', 'sigmoid']) {
    const model = mlp({ input: 4, widths: [5, 3], activation, output: 2, seed: 3 });
    trainBriefly(model);
    const before = weightsOf(model);
    const hidden = model.layers[0].name;
    const wider = tpSurgery.split(model, { layer: hidden, neurons: [1, 4], ways: 3, coefficients: [0.5, 0.2, 0.3] });
    t.is(widthOf(wider, hidden), 5 + 2 * 2, activation);
    t.true(outputGap(model, wider) < 1e-5, `${activation}: ${outputGap(model, wider)}`);
    t.deepEqual(weightsOf(model), before, 'the input model is untouched');
    // Independent check of the layout: copies of unit 1 are at 1, 5, 6; of unit 4 at 4, 7, 8.
    const [k, b] = model.layers[0].getWeights().map(w => w.arraySync() as number[][] & number[]);
    const [k2, b2] = wider.layers[0].getWeights().map(w => w.arraySync() as number[][] & number[]);
    const v = model.layers[1].getWeights()[0].arraySync() as number[][];
    const v2 = wider.layers[1].getWeights()[0].arraySync() as number[][];
    const expect: Array<[number, number, number]> = [
      [1, 1, 0.5],
      [5, 1, 0.2],
      [6, 1, 0.3],
      [4, 4, 0.5],
      [7, 4, 0.2],
      [8, 4, 0.3],
      [0, 0, 1],
    ];
    for (const [nu, old, a] of expect) {
      t.deepEqual(
        k2.map(r => r[nu]),
        k.map(r => r[old]),
      );
      t.is(b2[nu], b[old]);
      v2[nu].forEach((x, c) => t.true(Math.abs(x - a * v[old][c]) < 1e-6));
    }
    wider.dispose();
    model.dispose();
  }
});

test('pre-activation split keeps the function for relu, leakyRelu (as a layer) and linear; refuses tanh', t => {
  const relu = mlp({ input: 4, widths: [5, 3], activation: 'relu', output: 2, seed: 4 });
  const leaky = mlp({ input: 4, widths: [5, 3], output: 2, seed: 5, leakyLayer: true, alpha: 0.2 });
  const linear = mlp({ input: 4, widths: [5, 3], activation: 'linear', output: 2, seed: 6 });
  for (const model of [relu, leaky, linear]) {
    trainBriefly(model);
    const name = model.layers.filter(l => l.getClassName() === 'Dense')[1].name; // the second hidden Dense layer
    const layer = model.layers.findIndex(l => l.name === name);
    const wider = tpSurgery.split(model, { layer, neurons: [0, 2], mode: 'pre', coefficients: [0.25, 0.75] });
    t.is(widthOf(wider, name), 5);
    t.true(outputGap(model, wider) < 1e-5);
    const k = model.getLayer(name).getWeights()[0].arraySync() as number[][];
    const k2 = wider.getLayer(name).getWeights()[0].arraySync() as number[][];
    // Incoming weights of the copies are d·w: copy 0 of unit 2 at 2 (0.25), copy 1 at 4 (0.75).
    k.forEach((row, i) => {
      t.true(Math.abs(k2[i][2] - 0.25 * row[2]) < 1e-6);
      t.true(Math.abs(k2[i][4] - 0.75 * row[2]) < 1e-6);
    });
    wider.dispose();
  }
  const tanh = mlp({ input: 4, widths: [5], activation: 'tanh', output: 2 });
  t.throws(() => tpSurgery.split(tanh, { layer: 0, neurons: [0], mode: 'pre' }), {
    message: /pre-activation split needs σ\(λz\) = λσ\(z\).*tanh.*mode: 'post'/,
  });
  for (const m of [relu, leaky, linear, tanh]) m.dispose();
});

test('functional chains split too, through an Activation layer', t => {
  const input = tfl.input({ shape: [3] });
  const h = tfl.layers.dense({ units: 4, name: 'h' }).apply(input) as tfl.SymbolicTensor;
  const a = tfl.layers.activation({ activation: 'tanh' }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 2, name: 'out' }).apply(a) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  seedWeights(model, 8);
  trainBriefly(model);
  const wider = tpSurgery.split(model, { layer: 'h', neurons: [3], coefficients: [-0.5, 1.5] });
  t.is(widthOf(wider, 'h'), 5);
  t.true(outputGap(model, wider) < 1e-5);
  const back = tpSurgery.merge(wider);
  t.is(widthOf(back.model, 'h'), 4);
  t.true(outputGap(model, back.model) < 1e-5);
  [model, wider, back.model].forEach(m => m.dispose());
});

test('merge(split(m)) gives back m: widths, function and (post) weights', t => {
  const model = mlp({ input: 5, widths: [6, 4], activation: 'tanh', output: 3, seed: 9 });
  trainBriefly(model);
  const once = tpSurgery.split(model, { layer: 0, neurons: [0, 5], ways: 2, coefficients: [0.7, 0.3] });
  const twice = tpSurgery.split(once, { layer: 1, neurons: [1], ways: 4 });
  const { model: back, merged } = tpSurgery.merge(twice);
  t.deepEqual(
    back.layers.map(l => l.getConfig().units),
    model.layers.map(l => l.getConfig().units),
  );
  t.true(outputGap(model, back) < 1e-5);
  const w = model.getWeights();
  back.getWeights().forEach((x, i) => t.true(maxAbsDiff(x, w[i]) < 1e-5, `weight ${i}`));
  t.deepEqual(
    merged.map(m => [m.layer, m.widthBefore, m.widthAfter, m.groups.map(g => g.units), m.dropped]),
    [
      [
        model.layers[0].name,
        8,
        6,
        [
          [0, 6],
          [5, 7],
        ],
        [],
      ],
      [model.layers[1].name, 7, 4, [[1, 4, 5, 6]], []],
    ],
  );
  [model, once, twice, back].forEach(m => m.dispose());
});

test('merge undoes a pre-activation split (positive multiples) and drops units nobody reads', t => {
  const model = mlp({ input: 4, widths: [5], activation: 'relu', output: 2, seed: 10 });
  trainBriefly(model);
  const wider = tpSurgery.split(model, { layer: 0, neurons: [2], mode: 'pre', ways: 3, coefficients: [0.2, 0.3, 0.5] });
  const { model: back, merged } = tpSurgery.merge(wider);
  t.is(widthOf(back, model.layers[0].name), 5);
  t.true(outputGap(model, back) < 1e-5);
  t.deepEqual(merged[0].groups[0].units, [2, 5, 6]);
  merged[0].groups[0].scales.forEach((c, i) => t.true(Math.abs(c - [1, 1.5, 2.5][i]) < 1e-5));

  // A unit whose outgoing row is zero contributes nothing (tanh: also a zero-type unit).
  const tanh = mlp({ input: 4, widths: [5], activation: 'tanh', output: 2, seed: 11 });
  const [k, b, v, c] = tanh.getWeights();
  const rows = v.arraySync() as number[][];
  rows[3] = [0, 0];
  tanh.setWeights([k, b, tf.tensor2d(rows), c]);
  const { model: pruned, merged: m2 } = tpSurgery.merge(tanh);
  t.is(widthOf(pruned, tanh.layers[0].name), 4);
  t.deepEqual(m2[0].dropped, [3]);
  t.true(outputGap(tanh, pruned) < 1e-6);
  [model, wider, back, tanh, pruned].forEach(m => m.dispose());
});

test('bad input gets a clear error naming the fix', t => {
  const model = mlp({ input: 4, widths: [5], output: 2 });
  const last = model.layers[1].name;
  const bad: Array<[Partial<tpSurgery.SplitOptions>, RegExp]> = [
    [{ layer: 'nope', neurons: [0] }, /no layer 'nope'; its layers are/],
    [{ layer: 7, neurons: [0] }, /layer index 7 is out of range/],
    [{ layer: last, neurons: [0] }, /has no next Dense layer.*layers that can be resized: '.*' \(index 0\)/],
    [{ layer: 0, neurons: [5] }, /neuron index 5 is out of range: '.*' has units 0…4/],
    [{ layer: 0, neurons: [1, 1] }, /given twice; to make more copies of one unit use ways/],
    [{ layer: 0, neurons: [] }, /non-empty array/],
    [{ layer: 0, neurons: [0], ways: 3, coefficients: [0.5, 0.5] }, /one number per copy: 3/],
    [{ layer: 0, neurons: [0], coefficients: [0.5, 0.6] }, /must sum to 1/],
    [{ layer: 0, neurons: [0], coefficients: [1.5, -0.5], mode: 'pre' }, /needs positive coefficients/],
    [{ layer: 0, neurons: [0], ways: 1 }, /ways must be an integer ≥ 2/],
  ];
  for (const [opts, message] of bad) {
    const err = t.throws(() => tpSurgery.split(model, opts as tpSurgery.SplitOptions & { optimizer?: undefined }), { message }, JSON.stringify(opts));
    t.true(err instanceof tp.TeleportError);
  }
  t.throws(() => tpSurgery.merge(model, { tolerance: -1 }), { message: /tolerance must be a finite number ≥ 0/ });
  model.dispose();
});

/** Slot values of an optimizer, by field, as nested arrays. */
function slots(opt: tf.Optimizer): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const field of [
    'accumulations',
    'accumulatedGrads',
    'accumulatedFirstMoment',
    'accumulatedSecondMoment',
    'accumulatedMeanSquares',
    'accumulatedMeanGrads',
    'accumulatedMoments',
  ]) {
    const arr = (opt as unknown as Record<string, Array<{ variable: tf.Variable } | undefined>>)[field];
    if (arr != null) out[field] = arr.map(e => e?.variable.arraySync());
  }
  return out;
}

function closeDeep(t: import('ava').ExecutionContext, a: unknown, b: unknown, tol: number, where: string): void {
  if (Array.isArray(a) && Array.isArray(b)) {
    t.is(a.length, b.length, where);
    a.forEach((x, i) => closeDeep(t, x, b[i], tol, `${where}[${i}]`));
  } else if (typeof a === 'number' && typeof b === 'number') {
    // tfjs's centered RMSProp divides by √(ms − mg² − ε): NaN where a gradient is 0; the split must match it there.
    if (Number.isNaN(a) && Number.isNaN(b)) return;
    if (!(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)))) t.fail(`${where}: ${a} vs ${b}`);
  } else if (a != null && b != null && typeof a === 'object' && typeof b === 'object') {
    t.deepEqual(Object.keys(a), Object.keys(b), where);
    for (const k of Object.keys(a)) closeDeep(t, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tol, `${where}.${k}`);
  } else t.deepEqual(a, b, where);
}

// The property: splitting the state an optimizer built in one step at θ gives exactly the state a
// fresh optimizer builds in one step at the split point E·θ (slots are functions of the gradient, and
// Theorem 5.1 says how the split model's gradient relates to the original's).
for (const [name, make] of [
  ['momentum', () => tf.train.momentum(0.1, 0.9)],
  ['adam', () => tf.train.adam(0.01)],
  ['adagrad', () => tf.train.adagrad(0.1, 0.1)],
  ['rmsprop', () => tf.train.rmsprop(0.01, 0.9, 0, 1e-7, true)],
] as Array<[string, () => tf.Optimizer]>) {
  for (const mode of ['post', 'pre'] as const) {
    test(`${name}: the split of its one-step state is the one-step state of the split model (${mode})`, t => {
      const model = mlp({ input: 4, widths: [5, 3], activation: 'relu', output: 2, seed: 12 });
      trainBriefly(model, 10);
      const x = seededUniform([16, 4], 21);
      const y = seededUniform([16, 2], 22);
      const opts = { layer: 1, neurons: [0, 2], ways: 3, coefficients: [0.5, 0.3, 0.2], mode };
      const wider = tpSurgery.split(model, opts);
      const step = (m: tfl.LayersModel, o: tf.Optimizer) =>
        o.minimize(
          () => tf.losses.meanSquaredError(y, m.apply(x) as tf.Tensor) as tf.Scalar,
          false,
          m.trainableWeights.map(w => w.read() as tf.Variable),
        );
      const a = make();
      step(model, a);
      const b = make();
      step(wider, b);
      // tfjs 4.22's MomentumOptimizer.dispose() frees its momentum scalar but not the learning-rate scalar
      // its SGD base made: measure what one fresh optimizer of this kind leaves behind, and allow exactly that.
      const n0 = tf.memory().numTensors;
      make().dispose();
      const tfjsOwnLeak = tf.memory().numTensors - n0;
      const before = tf.memory().numTensors;
      const { model: splitAfter, optimizer: moved } = tpSurgery.split(model, { ...opts, optimizer: a });
      t.is(moved.iterations, b.iterations);
      t.is(moved.getClassName(), b.getClassName());
      closeDeep(t, slots(moved), slots(b), 2e-5, name);
      if (name === 'adam') {
        const acc = (o: tf.Optimizer) => (o as unknown as { accBeta2: tf.Tensor }).accBeta2.dataSync()[0];
        t.is(acc(moved), acc(b));
      }
      splitAfter.dispose();
      moved.dispose();
      t.is(tf.memory().numTensors, before + tfjsOwnLeak, 'split with an optimizer leaves nothing behind once its results are disposed');
      [a, b].forEach(o => o.dispose());
      [model, wider].forEach(m => m.dispose());
      tf.dispose([x, y]);
    });
  }
}

test('a tp wrapper comes back as a wrapper bound to the new model, and fit trains on', async t => {
  const model = mlp({ input: 4, widths: [5], activation: 'relu', output: 2, seed: 13 });
  const optimizer = tp.momentum(0.05, 0.9, { model, schedule: { every: 3 } });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const x = seededUniform([24, 4], 31);
  const y = seededUniform([24, 2], 32);
  await model.fit(x, y, { epochs: 1, batchSize: 8 });
  const { model: wider, optimizer: opt2 } = tpSurgery.split(model, { layer: 0, neurons: [1], optimizer });
  t.true(opt2 instanceof tp.TeleportOptimizer);
  t.not(opt2, optimizer);
  t.is(opt2.step, 3);
  // Its checkpoint is the inner momentum's: iter, then one slot per weight of the NEW model, named after it.
  const saved = await opt2.getWeights();
  const vars = wider.trainableWeights.map(w => w.read() as tf.Variable);
  t.deepEqual(
    saved.map(w => [w.name, w.tensor.shape]),
    [['iter', []], ...vars.map(v => [`${v.name}/momentum`, v.shape])],
  );
  wider.compile({ optimizer: opt2, loss: 'meanSquaredError' });
  const h = await wider.fit(x, y, { epochs: 2, batchSize: 8 });
  t.is(opt2.step, 9);
  t.true(Number.isFinite(h.history.loss[1] as number));
  t.true(opt2.teleportReports.length >= 1, 'the scheduled teleports act on the new model');
  tf.dispose([x, y]);
});

test('split and merge leave no tensors behind', t => {
  const model = mlp({ input: 4, widths: [5, 3], activation: 'relu', output: 2, seed: 14 });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const wider = tpSurgery.split(model, { layer: 0, neurons: [0, 1], mode: 'pre' });
    const { model: back } = tpSurgery.merge(wider);
    wider.dispose();
    back.dispose();
  }
  t.is(tf.memory().numTensors, before);
  model.dispose();
});

test('split with an optimizer: a fresh one (no slots yet), a layer without bias, and a state of another model', t => {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ units: 4, inputShape: [3], useBias: false, activation: 'relu' }), tfl.layers.dense({ units: 2 })],
  });
  seedWeights(model, 15);
  const fresh = tf.train.adam(0.01);
  const { model: wider, optimizer } = tpSurgery.split(model, { layer: 0, neurons: [2], optimizer: fresh });
  t.is(optimizer.iterations, 0);
  t.true(outputGap(model, wider) < 1e-6);
  // It trains the new model from scratch like any fresh Adam.
  const x = seededUniform([8, 3], 16);
  const y = seededUniform([8, 2], 17);
  optimizer.minimize(
    () => tf.losses.meanSquaredError(y, wider.apply(x) as tf.Tensor) as tf.Scalar,
    false,
    wider.trainableWeights.map(w => w.read() as tf.Variable),
  );
  t.is(optimizer.iterations, 1);

  const other = mlp({ input: 4, widths: [6], output: 2, seed: 18 });
  const used = tf.train.momentum(0.1, 0.9);
  const xo = seededUniform([8, 4], 19);
  used.minimize(() => tf.losses.meanSquaredError(y, other.apply(xo) as tf.Tensor) as tf.Scalar);
  t.throws(() => tpSurgery.split(model, { layer: 0, neurons: [1], optimizer: used }), {
    message: /optimizer's state does not belong to this model: its slot 0 .* has shape \[4, 6\] but .* has shape \[3, 4\]/,
  });
  [model, wider, other].forEach(m => m.dispose());
  [fresh, optimizer, used].forEach(o => o.dispose());
  tf.dispose([x, y, xo]);
});

test('a CNN (conv, pooling, flatten) rebuilds around a split of its Dense head; merge undoes it', t => {
  const model = smallCnn(5);
  const dense = model.layers.find(l => l.getClassName() === 'Dense')!.name;
  const wider = tpSurgery.split(model, { layer: dense, neurons: [0, 4], ways: 3 });
  t.is(widthOf(wider, dense), 9);
  const gap = tf.tidy(() => {
    const x = seededUniform([6, 8, 8, 2], 33);
    const a = model.predict(x) as tf.Tensor;
    return maxAbsDiff(a, wider.predict(x) as tf.Tensor) / tf.max(tf.abs(a)).dataSync()[0];
  });
  t.true(gap < 1e-5, `relative output gap ${gap}`);
  const { model: back } = tpSurgery.merge(wider);
  t.is(widthOf(back, dense), 5);
  [model, wider, back].forEach(m => m.dispose());
});

// RMSProp's momentum of updates m = Σ μ^(t−s)·lr·g_s/√(ms_s + ε): at ms ≈ ε it does not simply copy
// (issue 20 §4). The state is made small (loss × 1e-3, so ms ≈ 1e-7 = ε) and checked entry by entry
// against the state a plain tf.train.rmsprop builds on the split model from the split model's own gradients.
const rmsFields = (o: tf.Optimizer, field: 'accumulatedMoments' | 'accumulatedMeanSquares') =>
  (o as unknown as Record<string, Array<{ variable: tf.Variable } | undefined>>)[field].map(e => Array.from(e!.variable.dataSync()));

function splitModelGrads(m: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, scale: number): tf.Tensor[] {
  const vars = m.trainableWeights.map(w => w.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => tf.mul(tf.losses.meanSquaredError(y, m.apply(x) as tf.Tensor), scale) as tf.Scalar, vars);
  return vars.map(v => grads[v.name]);
}

for (const centered of [false, true]) {
  for (const mode of ['post', 'pre'] as const) {
    test(`rmsprop (centered ${centered}) at ms ≈ ε: the split momentum is the one-step momentum of the split model (${mode})`, t => {
      const model = mlp({ input: 4, widths: [5, 3], activation: 'relu', output: 2, seed: 12 });
      trainBriefly(model, 10);
      const x = seededUniform([16, 4], 21);
      const y = seededUniform([16, 2], 22);
      const opts = { layer: 1, neurons: [0, 2], coefficients: [0.3, 0.7], mode };
      const wider = tpSurgery.split(model, opts);
      const scale = centered ? 1e-2 : 1e-3;
      const make = () => tf.train.rmsprop(0.01, 0.9, 0.9, 1e-7, centered);
      const a = make();
      const ga = splitModelGrads(model, x, y, scale);
      a.applyGradients(model.trainableWeights.map((w, i) => ({ name: (w.read() as tf.Variable).name, tensor: ga[i] })));
      const b = make();
      const gb = splitModelGrads(wider, x, y, scale);
      b.applyGradients(wider.trainableWeights.map((w, i) => ({ name: (w.read() as tf.Variable).name, tensor: gb[i] })));
      const { model: m2, optimizer: moved } = tpSurgery.split(model, { ...opts, optimizer: a });
      const got = rmsFields(moved, 'accumulatedMoments');
      const want = rmsFields(b, 'accumulatedMoments');
      const ms = rmsFields(b, 'accumulatedMeanSquares').flat();
      t.true(Math.min(...ms.filter(v => v > 0)) < 1e-7, `some entries have ms below ε (min ${Math.min(...ms)})`);
      // tfjs's centered rule divides by √(ms − mg² − ε): NaN where ms − mg² < ε (e.g. a zero gradient).
      // The split state must be NaN exactly where the split model's own state is.
      const nanAt = (s: number[][]) => s.flat().flatMap((v, k) => (Number.isNaN(v) ? [k] : []));
      t.deepEqual(nanAt(got), nanAt(want), 'NaN entries');
      if (!centered) t.is(nanAt(want).length, 0);
      let worst = 0;
      got.forEach((g, i) =>
        g.forEach((v, j) => {
          if (!Number.isNaN(want[i][j])) worst = Math.max(worst, Math.abs(v - want[i][j]) / Math.max(1e-12, Math.abs(want[i][j])));
        }),
      );
      t.true(worst < 1e-4, `largest relative gap of the momentum slot: ${worst}`);
      [a, b, moved].forEach(o => o.dispose());
      [model, wider, m2].forEach(m => m.dispose());
      tf.dispose([x, y, ...ga, ...gb]);
    });
  }
}

// Over several steps the state keeps only the current ms, so each past term is off by
// r(ms_now)/r(ms_s), r(d) = α·√(d + ε)/√(α²d + ε): the documented bound is
// |m_split − m_fresh| ≤ δ/(1 − δ)·Σ|terms|, δ = |1 − α²|·ε/(α²·D + ε), D = the smallest ms of the
// unsplit entry over the history. A fresh rmsprop on the split model fed the split model's gradients
// along the same trajectory gives m_fresh; fed |g| it gives Σ|terms| (same ms).
test('rmsprop over several steps at ms ≈ ε: the momentum gap is within the documented bound', t => {
  const model = mlp({ input: 4, widths: [5, 3], activation: 'relu', output: 2, seed: 12 });
  trainBriefly(model, 10);
  const x = seededUniform([16, 4], 21);
  const y = seededUniform([16, 2], 22);
  const alpha = [0.3, 0.7];
  const opts = { layer: 1, neurons: [0, 2], coefficients: alpha };
  const eps = 1e-7;
  const scale = 1e-3;
  const make = () => tf.train.rmsprop(0.01, 0.9, 0.9, eps, false);
  const a = make();
  const fresh = make();
  const freshAbs = make();
  const wider0 = tpSurgery.split(model, opts);
  const shapes = wider0.trainableWeights.map(w => w.shape as number[]);
  wider0.dispose();
  const slotsOf = (prefix: string) => shapes.map((s, i) => tf.variable(tf.zeros(s), false, `${prefix}${i}`));
  const ref = slotsOf('rmsRef');
  const refAbs = slotsOf('rmsRefAbs');
  const minMs: number[][] = shapes.map(s => new Array(s.reduce((p, q) => p * q, 1)).fill(Infinity));
  for (let step = 0; step < 6; step++) {
    const wider = tpSurgery.split(model, opts);
    const gw = splitModelGrads(wider, x, y, scale);
    fresh.applyGradients(ref.map((v, i) => ({ name: v.name, tensor: gw[i] })));
    const abs = gw.map(g => tf.abs(g));
    freshAbs.applyGradients(refAbs.map((v, i) => ({ name: v.name, tensor: abs[i] })));
    rmsFields(fresh, 'accumulatedMeanSquares').forEach((m, i) => m.forEach((v, j) => (minMs[i][j] = Math.min(minMs[i][j], v))));
    const g = splitModelGrads(model, x, y, scale);
    a.applyGradients(model.trainableWeights.map((w, i) => ({ name: (w.read() as tf.Variable).name, tensor: g[i] })));
    wider.dispose();
    tf.dispose([...gw, ...abs, ...g]);
  }
  const { model: m2, optimizer: moved } = tpSurgery.split(model, { ...opts, optimizer: a });
  const got = rmsFields(moved, 'accumulatedMoments');
  const want = rmsFields(fresh, 'accumulatedMoments');
  const sumAbs = rmsFields(freshAbs, 'accumulatedMoments');
  // Gradient factor of each entry of the split model (post: layer 1's kernel (position 2) and bias (3);
  // units 0 and 2 keep index and take α₀, their copies are appended as units 3 and 4 with α₁).
  const factorOf = (i: number, j: number): number => {
    if (i !== 2 && i !== 3) return 1;
    const unit = i === 2 ? j % shapes[2][1] : j;
    if (unit === 0 || unit === 2) return alpha[0];
    return unit >= 3 ? alpha[1] : 1;
  };
  let worstRatio = 0;
  let worstGap = 0;
  got.forEach((gv, i) =>
    gv.forEach((v, j) => {
      const al = factorOf(i, j);
      const d = minMs[i][j] / (al * al);
      const delta = (Math.abs(1 - al * al) * eps) / (al * al * d + eps);
      // plus float32 round-off of the two accumulations (1e-5 relative)
      const bound = (delta / (1 - delta) + 1e-5) * sumAbs[i][j] + 1e-12;
      const gap = Math.abs(v - want[i][j]);
      worstGap = Math.max(worstGap, gap / Math.max(1e-12, Math.abs(want[i][j])));
      worstRatio = Math.max(worstRatio, gap / bound);
    }),
  );
  t.log(`largest relative momentum gap ${worstGap.toExponential(2)}, largest gap/bound ${worstRatio.toFixed(3)}`);
  t.true(worstRatio <= 1, `gap within δ/(1−δ)·Σ|terms| (worst ratio ${worstRatio})`);
  [a, fresh, freshAbs, moved].forEach(o => o.dispose());
  [model, m2].forEach(m => m.dispose());
  tf.dispose([x, y, ...ref, ...refAbs]);
});
