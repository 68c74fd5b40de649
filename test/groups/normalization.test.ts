import test from 'ava';
import { tf, tfl, useCpu, seededUniform, maxAbsDiff, oneHotBatch, relChange } from '../helpers.js';
import * as tp from '../../src/index.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions, transportGradients } from '../../src/teleport/engine.js';
import { guard } from '../../src/teleport/guard.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

/** Seeds every weight; moving variances positive (a variance of a seeded uniform would be negative). */
function seedNormModel(model: tfl.LayersModel, seed: number): void {
  const r = new SeededRandom(seed);
  model.setWeights(
    model.weights.map((w, i) => {
      const lo = w.originalName.endsWith('/moving_variance') ? 0.3 : w.originalName.endsWith('/gamma') ? 0.5 : -0.6;
      const hi = w.originalName.endsWith('/moving_variance') ? 1.5 : w.originalName.endsWith('/gamma') ? 1.5 : 0.6;
      return seededUniform(w.shape as number[], seed * 1000 + i + Math.floor(r.next() * 7), lo, hi);
    }),
  );
}

/** Dense → BN → relu → Dense(relu) → LN → Dense: every kind of normalization site on dense layers. */
function bnMlp(epsilon?: number, seed = 1): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: 8, inputShape: [6] }),
      tfl.layers.batchNormalization({ epsilon }),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.dense({ units: 6, activation: 'relu' }),
      tfl.layers.layerNormalization({ epsilon }),
      tfl.layers.dense({ units: 3 }),
    ],
  });
  seedNormModel(model, seed);
  return model;
}

/** Conv → BN → relu → max-pool → Conv → BN → relu → global average pool → Dense. */
function bnCnn(epsilon?: number, seed = 2): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [6, 6, 2], filters: 3, kernelSize: 3, padding: 'same' }),
      tfl.layers.batchNormalization({ epsilon }),
      tfl.layers.reLU(),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 4, kernelSize: 2 }),
      tfl.layers.batchNormalization({ epsilon }),
      tfl.layers.activation({ activation: 'relu' }),
      tfl.layers.globalAveragePooling2d({}),
      tfl.layers.dense({ units: 3 }),
    ],
  });
  seedNormModel(model, seed);
  return model;
}

const cases: Array<[string, (eps?: number) => tfl.Sequential, number[]]> = [
  ['mlp', bnMlp, [6]],
  ['cnn', bnCnn, [6, 6, 2]],
];

test('the reader finds the scale before each normalization layer and the γ/β pair after it', t => {
  const mlp = readModel(bnMlp());
  t.deepEqual(
    mlp.sites.map(s => [s.kind, s.width, s.normFirst === true, s.normalization?.kind ?? null]),
    [
      ['norm', 8, false, 'batch'],
      ['dense-dense', 8, true, null],
      ['norm', 1, false, 'layer'],
      ['dense-dense', 6, true, null],
    ],
  );
  const cnn = readModel(bnCnn());
  t.deepEqual(
    cnn.sites.map(s => [s.kind, s.width, s.normFirst === true]),
    [
      ['norm', 3, false],
      ['conv-conv', 3, true],
      ['norm', 4, false],
      ['conv-dense', 4, true],
    ],
  );
  // GL and the data-dependent groups do not act on γ (a vector) or through a normalization.
  t.throws(() => planTeleport(mlp, 'gl'), { message: /does not apply/ });
  t.deepEqual(planTeleport(cnn, 'auto').sites.length, 4);
});

for (const [name, make, inShape] of cases) {
  test(`${name}: outputs unchanged on fresh inputs in training and inference mode after an arbitrary element of every site`, t => {
    const model = make(1e-9);
    const structure = readModel(model);
    const plan = planTeleport(structure, 'rescale');
    const xFresh = seededUniform([7, ...inShape], 99);
    const saved = model.getWeights().map(w => w.clone());
    const infer0 = model.predict(xFresh) as tf.Tensor;
    const train0 = model.apply(xFresh, { training: true }) as tf.Tensor;
    model.setWeights(saved); // the training-mode call moved the moving statistics
    const movingBefore = model.weights.filter(w => w.originalName.endsWith('/moving_mean')).map(w => w.read().clone());

    const actions = plan.build(structure.variables);
    const thetas = actions.map((a, k) => seededUniform(a.init(() => 0).shape as number[], 50 + k, -0.7, 0.7));
    const moved = tf.tidy(() => applyActions(actions, structure.variables, thetas).map(p => p.clone()));
    moved.forEach((p, i) => structure.variables[i].assign(p));
    actions.forEach((a, k) => a.moveBuffers?.(thetas[k]));

    const infer1 = model.predict(xFresh) as tf.Tensor;
    const train1 = model.apply(xFresh, { training: true }) as tf.Tensor;
    t.true(relChange(infer0, infer1) < 1e-5, `inference ${relChange(infer0, infer1)}`);
    t.true(relChange(train0, train1) < 1e-5, `training ${relChange(train0, train1)}`);
    // The weights really moved, and the moving means moved with them.
    t.true(maxAbsDiff(saved[0], structure.variables[0]) > 1e-2);
    const movingAfter = model.weights.filter(w => w.originalName.endsWith('/moving_mean'));
    t.true(maxAbsDiff(movingBefore[0], movingAfter[0].read()) > 1e-3);
    tf.dispose([saved, infer0, train0, infer1, train1, moved, thetas, movingBefore, xFresh]);
  });

  test(`${name}: the pure forward pass matches the model in both modes, and gradient transport equals autodiff at the moved point`, t => {
    const model = make(1e-9);
    const structure = readModel(model);
    const x = seededUniform([9, ...inShape], 5);
    const y = seededUniform([9, 3], 6);
    const saved = model.getWeights().map(w => w.clone());
    const params = structure.variables.map(v => v.clone());
    t.true(maxAbsDiff(structure.forward(params, x, { normalization: 'moving' }).output, model.predict(x) as tf.Tensor) < 1e-5);
    t.true(maxAbsDiff(structure.forward(params, x).output, model.apply(x, { training: true }) as tf.Tensor) < 1e-5);
    model.setWeights(saved);

    const loss = (p: readonly tf.Tensor[]) => tf.losses.meanSquaredError(y, structure.forward(p, x).output) as tf.Scalar;
    const gradAt = (p: tf.Tensor[]) => tf.grads((...q: tf.Tensor[]) => loss(q))(p);
    const actions = planTeleport(structure, 'rescale').build(params);
    const thetas = actions.map((a, k) => seededUniform(a.init(() => 0).shape as number[], 70 + k, -0.6, 0.6));
    const g0 = gradAt(params);
    const moved = applyActions(actions, params, thetas);
    const direct = gradAt(moved);
    const transported = transportGradients(actions, g0, thetas);
    t.true(Math.abs(loss(moved).dataSync()[0] - loss(params).dataSync()[0]) < 1e-5 * loss(params).dataSync()[0]);
    // A bias before BatchNormalization has a zero gradient up to round-off: compare on the largest scale.
    const largest = Math.max(...direct.map(g => tf.max(tf.abs(g)).dataSync()[0]));
    direct.forEach((g, i) => {
      const scale = Math.max(1e-2 * largest, tf.max(tf.abs(g)).dataSync()[0]);
      t.true(maxAbsDiff(g, transported[i]!) <= 2e-4 * scale, `param ${structure.paramNames[i]}: ${maxAbsDiff(g, transported[i]!)} vs ${scale}`);
    });
    // Not a vacuous comparison: the moved kernels' gradients changed.
    t.true(maxAbsDiff(g0[0], direct[0]) > 1e-3 * tf.max(tf.abs(g0[0])).dataSync()[0]);
  });
}

type AdamSlots = { accumulatedFirstMoment: Array<{ variable: tf.Variable }>; accumulatedSecondMoment: Array<{ variable: tf.Variable }> };
type MomentumSlots = { accumulations: Array<{ variable: tf.Variable }> };

for (const kind of ['adam', 'momentum'] as const) {
  test(`${kind}: a teleport inside the step moves the optimizer slots exactly (w∘m${kind === 'adam' ? ', w²∘v' : ''} invariant) and the moving statistics by λ, λ²`, t => {
    const model = bnCnn(1e-9, 4);
    const x = seededUniform([8, 6, 6, 2], 11);
    const y = oneHotBatch(8, 3, 12);
    const lossOf = () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
    const bn = model.layers[1];
    let before: { slots: tf.Tensor[][]; w: tf.Tensor[]; mean: tf.Tensor; variance: tf.Tensor } | null = null;
    let checked = false;
    const slotsOf = (opt: tf.Optimizer): tf.Variable[][] => {
      if (kind === 'adam') {
        const s = opt as unknown as AdamSlots;
        return [s.accumulatedFirstMoment.map(e => e.variable), s.accumulatedSecondMoment.map(e => e.variable)];
      }
      return [(opt as unknown as MomentumSlots).accumulations.map(e => e.variable)];
    };
    const options: tp.TeleportOptimizerOptions = {
      model,
      group: 'rescale',
      schedule: { atSteps: [3] },
      steps: 5,
      lr: 0.5,
      maxGrowth: 100,
      onTeleport: r => {
        t.true(r.accepted, r.reason);
        t.is(r.state, 'transform');
        const w = model.getWeights(true);
        const slots = slotsOf(optimizer.inner);
        w.forEach((wi, i) => {
          // A first moment moves like a gradient (÷λ where the weight is ×λ), a second moment like its square.
          t.true(maxAbsDiff(tf.mul(wi, slots[0][i]), tf.mul(before!.w[i], before!.slots[0][i])) < 1e-6, `m ${i}`);
          if (kind === 'adam') t.true(maxAbsDiff(tf.mul(tf.square(wi), slots[1][i]), tf.mul(tf.square(before!.w[i]), before!.slots[1][i])) < 1e-8, `v ${i}`);
        });
        // λ per channel, read off the first conv's bias; the moving mean moved by λ, the variance by λ².
        const lambda = tf.div(w[1], before!.w[1]);
        t.true(maxAbsDiff(lambda, tf.onesLike(lambda)) > 1e-3, 'the first conv moved');
        const [mean, variance] = [bn.getWeights()[2], bn.getWeights()[3]];
        t.true(maxAbsDiff(mean, tf.mul(before!.mean, lambda)) < 1e-5);
        t.true(maxAbsDiff(variance, tf.mul(before!.variance, tf.square(lambda))) < 1e-5);
        checked = true;
      },
    };
    const optimizer = kind === 'adam' ? tp.adam(0.01, options) : tp.momentum(0.01, 0.9, options);
    for (let i = 0; i < 4; i++) {
      if (i === 3) {
        const [, , mean, variance] = bn.getWeights().map(v => v.clone());
        before = { slots: slotsOf(optimizer.inner).map(s => s.map(v => v.clone())), w: model.getWeights(true).map(v => v.clone()), mean, variance };
      }
      // The training-mode call moves the moving statistics before the step's teleport: read them here.
      optimizer.minimize(() => {
        const l = lossOf();
        if (i === 3) {
          before!.mean.dispose();
          before!.variance.dispose();
          [before!.mean, before!.variance] = bn
            .getWeights()
            .slice(2)
            .map(v => tf.keep(v.clone()));
        }
        return l;
      });
    }
    t.true(checked);
  });
}

test.serial('fit with teleports on a CNN with BatchNormalization: accepted, inference outputs kept by the teleport, no leaked tensors', async t => {
  const model = bnCnn();
  const x = seededUniform([24, 6, 6, 2], 21);
  const y = oneHotBatch(24, 3, 22);
  const reports: tp.TeleportReport[] = [];
  const optimizer = tp.adam(0.01, { model, group: 'auto', schedule: { every: 4 }, steps: 5, data: { x, y }, onTeleport: r => reports.push(r) });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs: 1, batchSize: 6, verbose: 0, shuffle: false }); // slots and kernels warm
  const n0 = tf.memory().numTensors;
  const h = await model.fit(x, y, { epochs: 3, batchSize: 6, verbose: 0, shuffle: false });
  t.is(tf.memory().numTensors, n0);
  t.true(reports.length >= 3);
  t.true(
    reports.every(r => r.accepted && r.sites.length === 4 && (r.relativeLossDrift ?? 0) <= 1e-4),
    JSON.stringify(reports.map(r => [r.accepted, r.reason, r.relativeLossDrift])),
  );
  t.true(reports.some(r => r.gradNormSqAfter > r.gradNormSqBefore));
  const losses = h.history.loss as number[];
  t.true(losses.every(Number.isFinite));
});

test('a one-off teleport at default ε: drift within the guard; every objective that reads the gradient runs on normalization sites', async t => {
  const results: string[] = [];
  for (const objective of ['gradNorm', 'preconditionedGradNorm', 'curvature'] as const) {
    const model = bnMlp(undefined, 3);
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const x = seededUniform([10, 6], 31);
    const y = seededUniform([10, 3], 32);
    const xFresh = seededUniform([10, 6], 33);
    const infer0 = model.predict(xFresh) as tf.Tensor;
    const report = await tp.teleport(model, { x, y }, { group: 'rescale', objective, steps: 4, lr: 0.05 });
    if (report.accepted) {
      t.true((report.relativeLossDrift ?? 1) <= 1e-4, `${objective} drift ${report.relativeLossDrift}`);
      t.true(relChange(infer0, model.predict(xFresh) as tf.Tensor) < 1e-3);
    } else {
      // ε makes the scale inexact once λ²σ² nears ε: the guard refuses the move and nothing changes.
      t.true(report.rejection === 'drift' || report.rejection === 'no-improvement', `${objective}: ${report.reason}`);
      t.is(maxAbsDiff(infer0, model.predict(xFresh) as tf.Tensor), 0);
    }
    results.push(`${objective}: ${report.accepted ? `accepted, drift ${report.relativeLossDrift?.toExponential(1)}` : report.rejection}`);
  }
  t.log(results.join('; '));
  // The gradient-norm objectives move the scale within the guard at the default ε.
  t.regex(results[0], /accepted/);
});

test('refusals name the layer: non-homogeneous activation before BatchNormalization, BN over another axis', t => {
  const tanhBn = tfl.sequential({
    layers: [tfl.layers.dense({ units: 4, inputShape: [3], activation: 'tanh' }), tfl.layers.batchNormalization(), tfl.layers.dense({ units: 2 })],
  });
  const s = readModel(tanhBn);
  t.true(
    s.unsupported.some(u => /dense_Dense\d+ → batch_normalization\w*: the activations between \(tanh\)/.test(u)),
    s.unsupported.join('\n'),
  );
  t.is(s.sites.length, 1); // BN's γ/β against the last Dense
  const axis1 = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [4, 4, 2], filters: 2, kernelSize: 2 }),
      tfl.layers.batchNormalization({ axis: 1 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2 }),
    ],
  });
  t.throws(() => readModel(axis1), { message: /batch_normalization\w*.*only the channels-last axis/ });
});

test("the ε bound: the scale's inexactness equals the measured change of BatchNormalization's inference output, and the guard halves θ until it is within maxLossDrift", t => {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ units: 5, inputShape: [4] }), tfl.layers.batchNormalization({ center: false, scale: false, epsilon: 1e-2 })],
  });
  seedNormModel(model, 8);
  const structure = readModel(model);
  const [action] = planTeleport(structure, 'rescale').build(structure.variables);
  const theta = seededUniform([5], 9, -2, 1);
  const x = seededUniform([6, 4], 10);
  const before = model.predict(x) as tf.Tensor;
  const bound = action.inexactness!(theta); // from the moving variance before the move
  const movingSaved = model.getWeights().map(w => w.clone());
  const moved = tf.tidy(() => applyActions([action], structure.variables, [theta]).map(p => p.clone()));
  const saved = structure.variables.map(v => v.clone());
  moved.forEach((p, i) => structure.variables[i].assign(p));
  action.moveBuffers!(theta);
  // BN without γ, β: output = (z − m)/√(v + ε); after the move each channel is multiplied by √((v+ε)/(v+ε/λ²)).
  const ratio = tf.div(model.predict(x) as tf.Tensor, before);
  const measured = tf.max(tf.abs(tf.sub(ratio, 1))).dataSync()[0];
  structure.variables.forEach((v, i) => v.assign(saved[i]));
  model.setWeights(movingSaved);
  t.true(bound > 1e-3);
  t.true(Math.abs(bound - measured) < 1e-4 * Math.max(1, bound) + 1e-5, `bound ${bound} vs measured ${measured}`);

  const run = (maxShrinks: number) =>
    guard({
      actions: [action],
      params: structure.variables,
      thetas: [theta.clone()],
      loss: null,
      lossBefore: null,
      objectiveBefore: 1,
      measure: () => 2,
      direction: 'maximize',
      maxGrowth: 10,
      maxLossDrift: 1e-4,
      maxShrinks,
    });
  const refused = run(0);
  t.false(refused.accepted);
  t.is(refused.rejection?.kind, 'drift');
  t.regex(refused.rejection!.message, /normalization layer changes its output by up to/);
  const halved = run(30);
  t.true(halved.accepted);
  t.true(halved.shrinks > 0 && action.inexactness!(halved.thetas[0]) <= 1e-4);
  tf.dispose([halved.params ?? [], halved.thetas, refused.thetas]);
});
