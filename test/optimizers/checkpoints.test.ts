// Checkpoints move between the teleporting wrappers and the plain tfjs optimizers, both ways.
//
// Part 1 runs the checkpoint scenarios of tfjs-core's own optimizer tests (v4.22,
// src/optimizers/{sgd,momentum,adagrad,rmsprop,adam}_optimizer_test.ts) against the wrappers: the
// same steps on f(x) = Σx², the same kind of assertions (values, weight names and count, iterations,
// tensor counts), with expected values from a float64 reference written here, not copied.
// Part 2 moves checkpoints of trained models with teleports between wrapper and plain optimizer.
import test from 'ava';
import { tf, type tfl, useCpu, mlp, seededUniform, oneHotBatch, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpProblems from '../../src/problems.js';
import * as tpGroups from '../../src/groups.js';
import { preconditionerOf } from '../../src/optimizers/inner_state.js';

test.before(useCpu);

// ---------------------------------------------------------------------------------------------
// Part 1: the tfjs-core test files' scenarios.

/** One optimizer as the tfjs tests configure it, with a float64 reference of its update on Σx². */
interface Case {
  name: string;
  plain: () => tf.Optimizer;
  wrapped: () => tp.TeleportOptimizer;
  x0: number[];
  /** Slot name suffixes in getWeights order, after 'iter'. */
  slots: string[];
  /** A reference optimizer in float64: returns a `step(x)` that updates x in place. */
  reference: () => (x: number[]) => void;
}

const EPS = 1e-7; // the cpu backend's epsilon(), the default of adagrad/rmsprop/adam

const CASES: Case[] = [
  {
    name: 'sgd',
    plain: () => tf.train.sgd(0.1),
    wrapped: () => tp.sgd(0.1),
    x0: [4],
    slots: [],
    reference: () => x => x.forEach((v, i) => (x[i] = v - 0.1 * 2 * v)),
  },
  ...[false, true].map(nesterov => ({
    name: nesterov ? 'momentum (Nesterov)' : 'momentum',
    plain: () => tf.train.momentum(0.1, 0.5, nesterov),
    wrapped: () => tp.momentum(0.1, 0.5, nesterov),
    x0: [1, 2],
    slots: ['momentum'],
    reference: () => {
      let acc: number[] | null = null;
      return (x: number[]) => {
        const g = x.map(v => 2 * v);
        acc = g.map((gi, i) => 0.5 * (acc?.[i] ?? 0) + gi);
        x.forEach((v, i) => (x[i] = v - 0.1 * (nesterov ? 0.5 * acc![i] + g[i] : acc![i])));
      };
    },
  })),
  {
    name: 'adagrad',
    plain: () => tf.train.adagrad(0.1, 0.1),
    wrapped: () => tp.adagrad(0.1, 0.1),
    x0: [2, 4],
    slots: ['accumulator'],
    reference: () => {
      const acc = [0.1, 0.1];
      return x =>
        x.forEach((v, i) => {
          const g = 2 * v;
          acc[i] += g * g;
          x[i] = v - (0.1 * g) / Math.sqrt(acc[i] + EPS);
        });
    },
  },
  ...[false, true].map(centered => ({
    name: centered ? 'rmsprop (centered)' : 'rmsprop',
    plain: () => tf.train.rmsprop(0.1, 0.95, 0.1, undefined, centered),
    wrapped: () => tp.rmsprop(0.1, 0.95, 0.1, undefined, centered),
    x0: [1, 2],
    slots: centered ? ['rms', 'momentum', 'mg'] : ['rms', 'momentum'],
    reference: () => {
      const ms = [0, 0];
      const mg = [0, 0];
      const mom = [0, 0];
      return (x: number[]) =>
        x.forEach((v, i) => {
          const g = 2 * v;
          ms[i] = 0.95 * ms[i] + 0.05 * g * g;
          mg[i] = 0.95 * mg[i] + 0.05 * g;
          const denom = centered ? Math.sqrt(ms[i] - (mg[i] * mg[i] + EPS)) : Math.sqrt(ms[i] + EPS);
          mom[i] = 0.1 * mom[i] + (0.1 * g) / denom;
          x[i] = v - mom[i];
        });
    },
  })),
  {
    name: 'adam',
    plain: () => tf.train.adam(0.1, 0.8, 0.9),
    wrapped: () => tp.adam(0.1, 0.8, 0.9),
    x0: [2, 4],
    slots: ['m', 'v'],
    reference: () => {
      const m = [0, 0];
      const v = [0, 0];
      let t = 0;
      return x => {
        t++;
        x.forEach((xi, i) => {
          const g = 2 * xi;
          m[i] = 0.8 * m[i] + 0.2 * g;
          v[i] = 0.9 * v[i] + 0.1 * g * g;
          x[i] = xi - (0.1 * (m[i] / (1 - 0.8 ** t))) / (Math.sqrt(v[i] / (1 - 0.9 ** t)) + EPS);
        });
      };
    },
  },
];

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4) =>
  a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) <= tol * Math.max(1, Math.abs(b[i])));
const sumSq = (x: number[]) => x.reduce((s, v) => s + v * v, 0);

for (const c of CASES) {
  test.serial(`tfjs-core scenario, ${c.name}: two steps; values, tensor counts and dispose as the plain optimizer`, async t => {
    // The plain optimizer on its own variable, to measure what dispose() frees there.
    // Everything the plain optimizer made (at construction and in its first step) is what the wrapper
    // must free: tfjs 4.22's Momentum dispose() misses its learning-rate scalar, the wrapper does not.
    const px = tf.variable(tf.tensor1d(c.x0));
    const beforePlain = tf.memory().numTensors;
    const plain = c.plain();
    plain.minimize(() => tf.sum(tf.square(px)) as tf.Scalar);
    const madeByPlain = tf.memory().numTensors - beforePlain;
    plain.dispose();
    px.dispose();

    const ref = c.reference();
    const expected = c.x0.slice();
    const x = tf.variable(tf.tensor1d(c.x0));
    const f = () => tf.sum(tf.square(x)) as tf.Scalar;
    const optimizer = c.wrapped();
    let numTensors = tf.memory().numTensors;
    let cost = optimizer.minimize(f, true);
    // The cost and one slot variable per slot kind are the only new tensors.
    t.is(tf.memory().numTensors, numTensors + 1 + c.slots.length);
    t.true(close(await cost!.data(), [sumSq(expected)]));
    ref(expected);
    t.true(close(await x.data(), expected), `${await x.data()} vs ${expected}`);
    cost!.dispose();
    numTensors = tf.memory().numTensors;
    cost = optimizer.minimize(f, false);
    ref(expected);
    t.true(close(await x.data(), expected, 1e-3), `${await x.data()} vs ${expected}`);
    t.is(tf.memory().numTensors, numTensors, 'no new tensors on the second step');
    t.is(cost, null);
    t.is(optimizer.iterations, 2);
    numTensors = tf.memory().numTensors;
    optimizer.dispose();
    t.is(numTensors - tf.memory().numTensors, madeByPlain, 'dispose frees everything the plain optimizer made');
    x.dispose();
  });

  test.serial(`tfjs-core scenario, ${c.name}: save, load and continue, wrapper → plain → wrapper → plain`, async t => {
    const ref = c.reference();
    const expected = c.x0.slice();
    const x = tf.variable(tf.tensor1d(c.x0));
    const f = () => tf.sum(tf.square(x)) as tf.Scalar;
    const step = async (o: tf.Optimizer, k: number) => {
      const cost = o.minimize(f, true)!;
      t.true(close(await cost.data(), [sumSq(expected)]), `${c.name} cost at step ${k}`);
      cost.dispose();
      ref(expected);
      t.true(close(await x.data(), expected, 1e-3), `${c.name} x at step ${k}: ${await x.data()} vs ${expected}`);
      t.is(o.iterations, k);
    };
    const o1 = c.wrapped();
    await step(o1, 1);
    const w1 = await o1.getWeights();
    // Exactly the plain optimizer's layout: 'iter' (int32), then float32 slots named after the variable.
    t.deepEqual(
      w1.map(w => w.name),
      ['iter', ...c.slots.map(s => `${x.name}/${s}`)],
    );
    t.deepEqual(
      w1.map(w => w.tensor.dtype),
      ['int32', ...c.slots.map(() => 'float32')],
    );
    t.deepEqual(await w1[0].tensor.data(), new Int32Array([1]));
    const o2 = c.plain();
    await o2.setWeights(w1);
    await step(o2, 2);
    const o3 = c.wrapped();
    await o3.setWeights(await o2.getWeights());
    t.is(o3.step, 2);
    await step(o3, 3);
    const o4 = c.plain();
    const w3 = await o3.getWeights();
    t.deepEqual(
      w3.map(w => w.name),
      (await o2.getWeights()).map(w => w.name),
    );
    await o4.setWeights(w3);
    await step(o4, 4);
    [o1, o2, o3, o4].forEach(o => o.dispose());
    x.dispose();
  });

  test(`tfjs-core scenario, ${c.name}: serialization round trip`, t => {
    const original = c.wrapped();
    const restored = tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, JSON.parse(JSON.stringify(original.getConfig()))) as tp.TeleportOptimizer;
    t.deepEqual(restored.getConfig(), original.getConfig());
    t.deepEqual(restored.inner.getConfig(), c.plain().getConfig());
  });
}

// ---------------------------------------------------------------------------------------------
// Part 2: trained models with teleports, checkpoints both ways.

type Factory = (opts: tp.TeleportOptimizerOptions) => tp.TeleportOptimizer;
const OPTIMIZERS: Array<[string, () => tf.Optimizer, Factory]> = [
  ['sgd', () => tf.train.sgd(0.05), o => tp.sgd(0.05, o)],
  ['momentum', () => tf.train.momentum(0.05, 0.9), o => tp.momentum(0.05, 0.9, o)],
  ['adagrad', () => tf.train.adagrad(0.05), o => tp.adagrad(0.05, o)],
  ['rmsprop', () => tf.train.rmsprop(0.01), o => tp.rmsprop(0.01, o)],
  ['adam', () => tf.train.adam(0.01), o => tp.adam(0.01, o)],
];

const x = seededUniform([24, 6], 1);
const y = oneHotBatch(24, 3, 2);
const lossOf = (model: tfl.LayersModel) => () => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar;
const copyOf = (model: tfl.LayersModel) => {
  const m = mlp({ widths: [8, 8] });
  m.setWeights(model.getWeights());
  return m;
};
const teleportOpts = { group: 'rescale' as const, steps: 4, lr: 0.3 };

for (const [name, plain, wrapped] of OPTIMIZERS) {
  test(`${name}: wrapper → plain: a trained wrapper's checkpoint loads into tf.train.${name}, which continues as the wrapper does`, async t => {
    const a = mlp({ widths: [8, 8] });
    const wrapper = wrapped({ ...teleportOpts, model: a, schedule: { atSteps: [3] } });
    for (let i = 0; i < 6; i++) wrapper.minimize(lossOf(a));
    t.is(wrapper.teleportReports.length, 1);
    t.true(wrapper.teleportReports[0].accepted);
    const weights = await wrapper.getWeights();
    // Same names, count and dtypes as a plain optimizer's checkpoint after the same number of steps.
    const reference = mlp({ widths: [8, 8] });
    const referenceOpt = plain();
    for (let i = 0; i < 6; i++) referenceOpt.minimize(lossOf(reference));
    const plainWeights = await referenceOpt.getWeights();
    const rename = (n: string) => n.replace(/^[^/]+(?=\/)/, '');
    t.deepEqual(
      weights.map(w => [rename(w.name), w.tensor.dtype, w.tensor.shape]),
      plainWeights.map(w => [rename(w.name), w.tensor.dtype, w.tensor.shape]),
    );
    t.is(weights.length, plainWeights.length);

    const b = copyOf(a);
    const loaded = plain();
    await loaded.setWeights(weights);
    t.is(loaded.iterations, 6);
    // The wrapper has no teleport left in its schedule: both must follow the same trajectory.
    for (let i = 0; i < 6; i++) {
      wrapper.minimize(lossOf(a));
      loaded.minimize(lossOf(b));
    }
    t.is(wrapper.teleportReports.length, 1);
    a.getWeights().forEach((w, i) => t.true(maxAbsDiff(w, b.getWeights()[i]) < 1e-6, `weight ${i}: ${maxAbsDiff(w, b.getWeights()[i])}`));
    t.is(loaded.iterations, 12);
    t.is(wrapper.step, 12);
  });

  test(`${name}: plain → wrapper: a tf.train.${name} checkpoint at step 7 resumes the schedule {every: 5} at steps 10 and 15`, async t => {
    const a = mlp({ widths: [8, 8] });
    const original = plain();
    for (let i = 0; i < 7; i++) original.minimize(lossOf(a));
    const b = copyOf(a);
    const wrapper = wrapped({ ...teleportOpts, model: b, schedule: { every: 5 } });
    await wrapper.setWeights(await original.getWeights());
    t.is(wrapper.step, 7);
    // Up to step 10 nothing teleports: the wrapper continues exactly as the plain optimizer (its state was loaded).
    for (let i = 0; i < 3; i++) {
      original.minimize(lossOf(a));
      wrapper.minimize(lossOf(b));
    }
    t.is(wrapper.teleportReports.length, 0);
    a.getWeights().forEach((w, i) => t.true(maxAbsDiff(w, b.getWeights()[i]) < 1e-6));
    for (let i = 0; i < 8; i++) wrapper.minimize(lossOf(b));
    t.deepEqual(
      wrapper.teleportReports.map(r => r.step),
      [10, 15],
    );
    t.true(wrapper.teleportReports.every(r => r.accepted));
    t.is(wrapper.step, 18);
    t.deepEqual(await (await wrapper.getWeights())[0].tensor.data(), new Int32Array([18]));
  });
}

test("'reset' keeps the clock: the fresh inner optimizer carries the step, checkpoints hold it, the schedule resumes", async t => {
  const a = mlp({ widths: [8, 8] });
  const opts = { ...teleportOpts, schedule: { every: 3 }, stateAfterTeleport: 'reset' as const };
  const wrapper = tp.adam(0.01, { ...opts, model: a });
  const firstInner = wrapper.inner;
  for (let i = 0; i < 8; i++) wrapper.minimize(lossOf(a));
  t.deepEqual(
    wrapper.teleportReports.map(r => [r.step, r.state]),
    [
      [3, 'reset'],
      [6, 'reset'],
    ],
  );
  t.not(wrapper.inner, firstInner, 'the inner optimizer was replaced');
  t.is(wrapper.inner.iterations, 8);
  t.is(wrapper.step, 8);
  const weights = await wrapper.getWeights();
  t.deepEqual(await weights[0].tensor.data(), new Int32Array([8]));
  // Into a plain Adam and back into a fresh wrapper: the next teleport is at step 9, then 12.
  const plainAdam = tf.train.adam(0.01);
  await plainAdam.setWeights(weights);
  t.is(plainAdam.iterations, 8);
  const b = copyOf(a);
  const resumed = tp.adam(0.01, { ...opts, model: b });
  await resumed.setWeights(await plainAdam.getWeights());
  for (let i = 0; i < 5; i++) resumed.minimize(lossOf(b));
  t.deepEqual(
    resumed.teleportReports.map(r => r.step),
    [9, 12],
  );
  t.is(resumed.step, 13);
});

test('teleport randomness is derived from (seed, step): a run interrupted by a plain checkpoint draws the same SO(2) angles', async t => {
  const { booth } = tpProblems;
  const make = (_p: tf.Variable, schedule: tp.Schedule) =>
    tp.sgd(0.01, { group: tpGroups.so2(booth.bijection), lossOfParams: ([v]) => booth.loss(v as tf.Tensor1D), schedule, steps: 2, lr: 0.05, seed: 11 });
  const f = (p: tf.Variable) => () => booth.loss(p as unknown as tf.Tensor1D) as tf.Scalar;
  const schedule = { atSteps: [1, 4] };
  // Uninterrupted: teleports at 1 and 4.
  const pa = tf.variable(tf.tensor1d([5, -5]));
  const oa = make(pa, schedule);
  for (let i = 0; i < 6; i++) oa.minimize(f(pa), false, [pa]);
  t.is(oa.teleportReports.length, 2);
  // A random start that finds nothing better than the identity is rejected (the ascent never returns a worse point).
  t.true(
    oa.teleportReports.some(r => r.accepted),
    JSON.stringify(oa.teleportReports.map(r => r.reason)),
  );
  // Interrupted after step 3: checkpoint → plain SGD → a new wrapper; nothing but `iter` is carried.
  const pb = tf.variable(tf.tensor1d([5, -5]));
  const ob = make(pb, schedule);
  for (let i = 0; i < 3; i++) ob.minimize(f(pb), false, [pb]);
  const plain = tf.train.sgd(0.01);
  await plain.setWeights(await ob.getWeights());
  const oc = make(pb, schedule);
  await oc.setWeights(await plain.getWeights());
  for (let i = 0; i < 3; i++) oc.minimize(f(pb), false, [pb]);
  t.deepEqual(
    oc.teleportReports.map(r => r.step),
    [4],
  );
  t.is(maxAbsDiff(pa, pb), 0);
  // And the seed matters: another seed draws other angles and ends elsewhere.
  const pd = tf.variable(tf.tensor1d([5, -5]));
  const od = tp.sgd(0.01, {
    group: tpGroups.so2(booth.bijection),
    lossOfParams: ([v]) => booth.loss(v as tf.Tensor1D),
    schedule,
    steps: 2,
    lr: 0.05,
    seed: 12,
  });
  for (let i = 0; i < 6; i++) od.minimize(f(pd), false, [pd]);
  t.true(maxAbsDiff(pa, pd) > 1e-6);
});

test('legacy checkpoints (with teleport/step and teleport/random) still load: the step is kept', async t => {
  const a = mlp({ widths: [8, 8] });
  const wrapper = tp.momentum(0.05, 0.9, { ...teleportOpts, model: a, schedule: { every: 4 } });
  for (let i = 0; i < 5; i++) wrapper.minimize(lossOf(a));
  const legacy = [
    ...(await wrapper.getWeights()),
    { name: 'teleport/step', tensor: tf.scalar(5, 'int32') },
    { name: 'teleport/random', tensor: tf.scalar(123, 'int32') },
  ];
  const b = copyOf(a);
  const resumed = tp.momentum(0.05, 0.9, { ...teleportOpts, model: b, schedule: { every: 4 } });
  await resumed.setWeights(legacy);
  t.is(resumed.step, 5);
  t.deepEqual(
    (await resumed.getWeights()).map(w => w.name),
    (await wrapper.getWeights()).map(w => w.name),
  );
});

test("after a 'reset' that keeps the clock, Adam's preconditioner uses the bias correction of the fresh state", t => {
  const a = mlp({ widths: [8, 8] });
  const wrapper = tp.adam(0.01, { ...teleportOpts, model: a, schedule: { atSteps: [3] }, stateAfterTeleport: 'reset' });
  for (let i = 0; i < 5; i++) wrapper.minimize(lossOf(a));
  t.is(wrapper.step, 5);
  // The fresh Adam made the updates of steps 3 and 4: its bias correction is 1 − β₂², not 1 − β₂⁵.
  const inner = wrapper.inner as unknown as { accumulatedSecondMoment: Array<{ variable: tf.Variable }>; beta2: number; epsilon: number };
  const correction = 1 - inner.beta2 ** 2;
  const got = preconditionerOf(wrapper.inner, a.trainableWeights.length);
  inner.accumulatedSecondMoment.forEach((s, i) => {
    const expected = tf.tidy(() => tf.div(1, tf.add(tf.sqrt(tf.div(s.variable, correction)), inner.epsilon)));
    t.true(maxAbsDiff(got[i]!, expected) <= 1e-4 * tf.max(expected).dataSync()[0], `slot ${i}`);
  });
  tf.dispose(got.filter((g): g is tf.Tensor => g != null));
});
