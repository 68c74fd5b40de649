import test from 'ava';
import { tf, tfl, useCpu, seededUniform, seedWeights, maxAbsDiff, oneHotBatch, mlp, smallCnn, relChange } from '../helpers.js';
import * as tp from '../../src/index.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import type { Site } from '../../src/structure/sites.js';
import { Teleporter } from '../../src/teleport/teleporter.js';
import { applyActions } from '../../src/teleport/engine.js';

test.before(useCpu);

const dense = (units: number, name: string, activation: 'relu' | 'linear' | 'tanh' = 'linear') => tfl.layers.dense({ units, name, activation });
const sym = (l: { apply(x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): unknown }, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) =>
  l.apply(x) as tfl.SymbolicTensor;

/** x + W₂·relu(W₁x), then relu and a head. */
function residualMlp(seed = 1): tfl.LayersModel {
  const x = tfl.input({ shape: [6] });
  const h = sym(dense(8, 'r1', 'relu'), x);
  const branch = sym(dense(6, 'r2'), h);
  const sum = sym(tfl.layers.add({ name: 'skip' }), [x, branch]);
  const a = sym(tfl.layers.activation({ activation: 'relu', name: 'post' }), sum);
  const out = sym(dense(3, 'head'), a);
  const model = tfl.model({ inputs: x, outputs: out, name: 'residual' });
  seedWeights(model, seed);
  return model;
}

/** Two inputs, two outputs: a branch per input, a concatenation, and a unit (b2) that feeds two consumers. */
function twoByTwo(seed = 2): tfl.LayersModel {
  const xa = tfl.input({ shape: [4], name: 'xa' });
  const xb = tfl.input({ shape: [3], name: 'xb' });
  const a2 = sym(dense(4, 'a2'), sym(dense(5, 'a1', 'relu'), xa));
  const b2 = sym(dense(4, 'b2'), sym(dense(5, 'b1', 'relu'), xb));
  const joined = sym(dense(6, 'c1', 'relu'), sym(tfl.layers.concatenate({ name: 'cat' }), [a2, b2]));
  const out1 = sym(dense(2, 'out1'), joined);
  const out2 = sym(dense(1, 'out2'), b2);
  const model = tfl.model({ inputs: [xa, xb], outputs: [out1, out2], name: 'two_by_two' });
  seedWeights(model, seed);
  return model;
}

const where = (s: Site) => s.where.split(' (')[0];

test('a residual branch x + W₂σ(W₁x) is a site; the units that feed the merge are not moved', t => {
  const s = readModel(residualMlp());
  t.deepEqual(s.sites.map(where), ['r1 → r2']);
  t.true(
    s.unsupported.some(u => /^r2: not moved: its units feed the merge 'skip'/.test(u)),
    s.unsupported.join('\n'),
  );
  t.deepEqual(s.layers.find(l => l.name === 'skip')!.inputs, [-1, s.layers.findIndex(l => l.name === 'r2')]);
});

test('several inputs and outputs: sites in each branch; a unit with two consumers is not moved', t => {
  const s = readModel(twoByTwo());
  t.deepEqual(s.sites.map(where).sort(), ['a1 → a2', 'b1 → b2', 'c1 → out1']);
  t.true(
    s.unsupported.some(u => /^b2: not moved: its units feed 2 consumers \(cat, out2\)/.test(u)),
    s.unsupported.join('\n'),
  );
  t.true(s.unsupported.some(u => /^a2: not moved: its units feed the merge 'cat'/.test(u)));
  t.is(s.inputCount, 2);
  t.is(s.outputs.length, 2);
});

for (const [name, make, inputs] of [
  ['residual', () => residualMlp(), () => [seededUniform([7, 6], 40)]],
  ['two inputs, two outputs', () => twoByTwo(), () => [seededUniform([7, 4], 41), seededUniform([7, 3], 42)]],
] as Array<[string, () => tfl.LayersModel, () => tf.Tensor[]]>) {
  test(`${name}: every site keeps the outputs on fresh inputs under an arbitrary element; the pure forward pass equals predict`, t => {
    const model = make();
    const s = readModel(model);
    const x = inputs();
    const arg = x.length === 1 ? x[0] : x;
    const before = [model.predict(arg)].flat() as tf.Tensor[];
    s.forward(s.variables, arg).outputs.forEach((o, k) => t.true(maxAbsDiff(o, before[k]) < 1e-5));
    const actions = planTeleport(s, 'rescale').build(s.variables);
    const thetas = actions.map((a, k) => seededUniform(a.init(() => 0).shape as number[], 80 + k, -0.8, 0.8));
    const moved = tf.tidy(() => applyActions(actions, s.variables, thetas).map(p => p.clone()));
    const snapshot = s.variables.map(v => v.clone());
    moved.forEach((p, i) => s.variables[i].assign(p));
    const after = [model.predict(arg)].flat() as tf.Tensor[];
    before.forEach((b, k) => t.true(relChange(b, after[k]) < 1e-5, `output ${k}: ${relChange(b, after[k])}`));
    t.true(s.variables.some((v, i) => maxAbsDiff(v, snapshot[i]) > 1e-2));
  });
}

test.serial('several outputs: the teleport loss is the compiled loss summed over outputs; a teleport keeps it and fit trains with teleports', async t => {
  const model = twoByTwo(3);
  model.compile({ optimizer: 'sgd', loss: ['meanSquaredError', 'meanSquaredError'] });
  const x = [seededUniform([10, 4], 51), seededUniform([10, 3], 52)];
  const y = [seededUniform([10, 2], 53), seededUniform([10, 1], 54)];
  const teleporter = new Teleporter({ model, group: 'rescale' });
  const loss = teleporter.lossOn({ x, y })!;
  const outs = model.predict(x) as tf.Tensor[];
  const expected = tf.losses.meanSquaredError(y[0], outs[0]).dataSync()[0] + tf.losses.meanSquaredError(y[1], outs[1]).dataSync()[0];
  t.true(Math.abs(loss(readModel(model).variables).dataSync()[0] - expected) < 1e-6 * expected);
  // Batches must match the model's inputs and outputs.
  t.throws(() => teleporter.validateBatch({ x: x[0], y }), { message: /2 input\(s\) and 2 output\(s\).*1 x and 2 y/ });

  const report = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 5, lr: 0.1 });
  t.true(report.accepted, report.reason);
  t.is(report.sites.length, 3);
  t.true((report.relativeLossDrift ?? 1) < 1e-5);
  t.true(report.gradNormSqAfter > report.gradNormSqBefore);

  const fresh = twoByTwo(4);
  const reports: tp.TeleportReport[] = [];
  fresh.compile({
    optimizer: tp.adam(0.01, { model: fresh, group: 'rescale', schedule: { every: 2 }, steps: 3, onTeleport: r => reports.push(r) }),
    loss: 'meanSquaredError',
  });
  await fresh.fit(x, y, { epochs: 1, batchSize: 5, verbose: 0 });
  const n0 = tf.memory().numTensors;
  const h = await fresh.fit(x, y, { epochs: 3, batchSize: 5, verbose: 0, shuffle: false });
  t.is(tf.memory().numTensors, n0);
  t.true(reports.length >= 3 && reports.every(r => r.accepted), JSON.stringify(reports.map(r => r.reason)));
  t.true((h.history.loss as number[]).every(Number.isFinite));
});

test('a layer applied twice (shared weights) is still refused, naming the layer', t => {
  const x = tfl.input({ shape: [4] });
  const shared = dense(4, 'shared', 'relu');
  const out = sym(dense(2, 'out'), sym(shared, sym(shared, x)));
  t.throws(() => readModel(tfl.model({ inputs: x, outputs: out })), { message: /layer 'shared' is used 2 times/ });
});

/** A small ResNet-style CNN: stem conv → BN → relu, one residual block [conv → BN → relu → conv → BN] + skip, relu, pooling, head. */
function resnetCnn(seed = 5): tfl.LayersModel {
  const x = tfl.input({ shape: [8, 8, 2] });
  const conv = (filters: number, name: string) => tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', name });
  const bn = (name: string) => tfl.layers.batchNormalization({ name });
  const relu = (name: string) => tfl.layers.reLU({ name });
  const stem = sym(relu('stem_relu'), sym(bn('stem_bn'), sym(conv(4, 'stem'), x)));
  const inner = sym(bn('b_bn2'), sym(conv(4, 'b_conv2'), sym(relu('b_relu'), sym(bn('b_bn1'), sym(conv(4, 'b_conv1'), stem)))));
  const block = sym(relu('block_relu'), sym(tfl.layers.add({ name: 'block_add' }), [stem, inner]));
  const out = sym(tfl.layers.dense({ units: 3, activation: 'softmax', name: 'head' }), sym(tfl.layers.globalAveragePooling2d({ name: 'gap' }), block));
  const model = tfl.model({ inputs: x, outputs: out, name: 'resnet' });
  seedWeights(model, seed);
  model.weights.filter(w => w.originalName.endsWith('/moving_variance')).forEach(w => w.write(tf.onesLike(w.read())));
  return model;
}

function bnCnn(): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same' }),
      tfl.layers.batchNormalization(),
      tfl.layers.reLU(),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  seedWeights(model, 6);
  model.weights.filter(w => w.originalName.endsWith('/moving_variance')).forEach(w => w.write(tf.onesLike(w.read())));
  return model;
}

test("the issue's five ordinary models: how many get a teleport site with the default group", async t => {
  const models: Array<[string, tfl.LayersModel, number[]]> = [
    ['MLP', mlp({ widths: [8, 8], softmax: true }), [6]],
    ['CNN', smallCnn(), [8, 8, 2]],
    ['CNN with BatchNormalization', bnCnn(), [8, 8, 2]],
    ['ResNet-style tf.model with tf.layers.add', resnetCnn(), [8, 8, 2]],
    ['tanh MLP', mlp({ widths: [8, 8], activation: 'tanh', softmax: true }), [6]],
  ];
  const lines: string[] = [];
  let found = 0;
  for (const [name, model, shape] of models) {
    model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
    const classes = model.outputs[0].shape[1] as number;
    const batch = { x: seededUniform([8, ...shape], 61), y: oneHotBatch(8, classes, 62) };
    try {
      const r = await tp.teleport(model, batch, { onUnsupported: 'skip' });
      found++;
      lines.push(`${name}: ${r.sites.length} site(s), ${r.accepted ? 'accepted' : r.rejection}`);
      t.true(r.accepted, `${name}: ${r.reason}`);
    } catch (e) {
      const message = (e as Error).message;
      lines.push(`${name}: none (${message.slice(0, 90)}… ${/groups that apply: [\w, -]+/.exec(message)?.[0] ?? ''})`);
    }
  }
  // The tanh MLP gets sites when the user picks the data-dependent null-space group its error names.
  const [, tanh, shape] = models[4];
  const r = await tp.teleport(tanh, { x: seededUniform([8, ...shape], 61), y: oneHotBatch(8, 3, 62) }, { group: 'nullspace' });
  lines.push(`tanh MLP with group 'nullspace': ${r.sites.length} site(s), ${r.accepted ? 'accepted' : r.rejection}`);
  t.log(lines.join('\n'));
  t.is(found, 4, lines.join('\n'));
  t.regex(lines[4], /^tanh MLP: none.*nullspace/);
  t.true(r.accepted, r.reason);
});

test.serial('ResNet-style CNN with BatchNormalization: sites inside the block, the stem feeds the merge; fit with teleports keeps tensors flat', async t => {
  const model = resnetCnn();
  const s = readModel(model);
  t.deepEqual(s.sites.map(where).sort(), ['b_bn1 → b_conv2', 'b_conv1 → b_bn1', 'b_conv2 → b_bn2', 'stem → stem_bn']);
  t.true(
    s.unsupported.some(u => /^stem_bn: not moved: its units feed 2 consumers \(b_conv1, block_add\)/.test(u)),
    s.unsupported.join('\n'),
  );
  t.true(s.unsupported.some(u => /^b_bn2: not moved: its units feed the merge 'block_add'/.test(u)));
  const x = seededUniform([12, 8, 8, 2], 71);
  const y = oneHotBatch(12, 3, 72);
  const xFresh = seededUniform([5, 8, 8, 2], 73);
  const reports: tp.TeleportReport[] = [];
  const optimizer = tp.adam(0.01, { model, group: 'auto', schedule: { every: 2 }, steps: 3, data: { x, y }, onTeleport: r => reports.push(r) });
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  const counts: number[] = [];
  for (let e = 0; e < 4; e++) {
    await model.fit(x, y, { epochs: 1, batchSize: 6, verbose: 0, shuffle: false });
    counts.push(tf.memory().numTensors);
  }
  t.log(counts.join(' '));
  t.is(counts[3], counts[1]);
  t.true(reports.length >= 2 && reports.every(r => r.accepted), JSON.stringify(reports.map(r => [r.reason, r.relativeLossDrift])));
  // A one-off teleport keeps inference-mode predictions on fresh inputs (moving statistics moved along).
  const p0 = model.predict(xFresh) as tf.Tensor;
  const r = await tp.teleport(model, { x, y }, { group: 'rescale', steps: 3 });
  t.true(r.accepted, r.reason);
  t.true(relChange(p0, model.predict(xFresh) as tf.Tensor) < 1e-3);
});
