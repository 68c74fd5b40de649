import test from 'ava';
import { rescaleClosedFormAndAutodiff } from '../teleport_fixtures.js';
import { tf, tfl, useCpu, mlp, smallCnn, seededUniform, maxAbsDiff, relDiff, oneHotBatch } from '../helpers.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions, transportGradients } from '../../src/teleport/engine.js';
import { gradNormSq } from '../../src/objectives/grad_norm.js';
import { resolveLoss } from '../../src/structure/losses.js';
import type { SiteAction } from '../../src/groups/types.js';

test.before(useCpu);

/** Random group elements of moderate size for each action. */
function randomThetas(actions: SiteAction[], seed: number, scale = 0.3): tf.Tensor[] {
  return actions.map((a, i) =>
    tf.tidy(() => {
      const init = a.init(() => 0.5);
      return seededUniform(init.shape, seed + i, -scale, scale);
    }),
  );
}

function outputsWith(model: tfl.LayersModel, params: tf.Tensor[], x: tf.Tensor): tf.Tensor {
  const s = readModel(model);
  return s.forward(params, x).output;
}

for (const [name, build, inputShape] of [
  ['dense relu', () => mlp({ activation: 'relu' }), [7, 6]],
  ['dense leakyRelu layer', () => mlp({ leakyLayer: true, alpha: 0.1 }), [7, 6]],
  ['conv-pool-conv-pool-flatten-dense', () => smallCnn(), [3, 8, 8, 2]],
] as const) {
  test(`rescale keeps outputs on fresh inputs: ${name}`, t => {
    const model = build();
    const s = readModel(model);
    const plan = planTeleport(s, 'rescale');
    t.true(plan.sites.length >= 2);
    const actions = plan.build(s.variables);
    const thetas = randomThetas(actions, 11, 1.0);
    const x = seededUniform([...inputShape], 99);
    const before = model.predict(x) as tf.Tensor;
    const after = tf.tidy(() => outputsWith(model, applyActions(actions, s.variables, thetas), x));
    t.true(maxAbsDiff(before, after) < 1e-5, `max diff ${maxAbsDiff(before, after)}`);
    // The teleported weights really differ.
    const moved = tf.tidy(() => applyActions(actions, s.variables, thetas)[s.sites[0].inKernel]);
    t.true(maxAbsDiff(moved, s.variables[s.sites[0].inKernel]) > 1e-2);
  });
}

test('gl keeps outputs of a linear-activation MLP on fresh inputs', t => {
  const model = mlp({ activation: 'linear', widths: [5, 5] });
  const s = readModel(model);
  const plan = planTeleport(s, 'gl');
  const actions = plan.build(s.variables);
  const thetas = randomThetas(actions, 5, 0.4);
  const x = seededUniform([9, 6], 7);
  const before = model.predict(x) as tf.Tensor;
  const after = tf.tidy(() => outputsWith(model, applyActions(actions, s.variables, thetas), x));
  t.true(maxAbsDiff(before, after) < 1e-4, `max diff ${maxAbsDiff(before, after)}`);
});

test('auto picks gl for linear pairs and rescale for relu pairs', t => {
  const model = tfl.sequential({
    layers: [tfl.layers.dense({ units: 4, inputShape: [3] }), tfl.layers.dense({ units: 4, activation: 'relu' }), tfl.layers.dense({ units: 2 })],
  });
  const s = readModel(model);
  const actions = planTeleport(s, 'auto').build(s.variables);
  t.deepEqual(actions.map(a => a.group).sort(), ['gl', 'rescale']);
});

for (const group of ['rescale', 'gl'] as const) {
  test(`${group}: transported gradient equals autodiff at g·w`, t => {
    const model = group === 'gl' ? mlp({ activation: 'linear', widths: [5, 5] }) : mlp({ activation: 'relu' });
    const s = readModel(model);
    const actions = planTeleport(s, group).build(s.variables);
    const thetas = randomThetas(actions, 21, 0.5);
    const x = seededUniform([8, 6], 3);
    const y = seededUniform([8, 3], 4);
    const loss = (p: tf.Tensor[]) => tf.mean(tf.square(tf.sub(s.forward(p, x).output, y))) as tf.Scalar;
    const at = (p: tf.Tensor[]) => tf.grads((...ps: tf.Tensor[]) => loss(ps))(p);
    const gW = at(s.variables);
    const moved = applyActions(actions, s.variables, thetas);
    const direct = at(moved);
    const transported = transportGradients(actions, gW, thetas);
    direct.forEach((g, i) => {
      const scale = tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]);
      t.true(maxAbsDiff(g, transported[i]!) <= 1e-4 * Math.max(1, scale), `param ${i}: ${maxAbsDiff(g, transported[i]!)}`);
    });
  });
}

test('gl-data (eq. 4.13) keeps the loss on the teleport batch; gl-pinv (eq. 4.16) too when batch ≤ width', t => {
  const model = mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, output: 3, softmax: true });
  const s = readModel(model);
  const loss = resolveLoss('categoricalCrossentropy', s.finalSoftmax);
  const x = seededUniform([6, 10], 31);
  const y = oneHotBatch(6, 3, 32);
  const L = (p: tf.Tensor[]) => loss.compute(y, s.forward(p, x, { logits: true }).output).dataSync()[0];
  for (const variant of ['gl-data', 'gl-pinv'] as const) {
    const actions = planTeleport(s, variant).build(s.variables, x);
    const thetas = randomThetas(actions, 41, 0.2);
    const before = L(s.variables);
    const after = tf.tidy(() => L(applyActions(actions, s.variables, thetas)));
    t.true(relDiff(before, after) < 1e-4, `${variant}: ${before} vs ${after}`);
    // On other inputs the network does change: the action is data-dependent.
    const other = seededUniform([6, 10], 77);
    const changed = tf.tidy(() => maxAbsDiff(s.forward(s.variables, other).output, s.forward(applyActions(actions, s.variables, thetas), other).output));
    t.true(changed > 1e-4, `${variant} should move outputs off the batch (${changed})`);
    actions.forEach(a => a.dispose?.());
    tf.dispose(thetas);
  }
});

/** d/dε f(θ + ε·d) by central differences vs the autodiff directional derivative. */
function checkDirectional(
  t: { true(c: boolean, m?: string): void },
  f: (th: tf.Tensor[]) => tf.Scalar,
  thetas: tf.Tensor[],
  eps: number,
  tol: number,
  label: string,
): void {
  const dirs = thetas.map((th, i) => seededUniform(th.shape, 500 + i));
  const auto = tf.tidy(() => {
    const gs = tf.grads((...ts: tf.Tensor[]) => f(ts))(thetas);
    return gs.reduce((acc, g, i) => acc + tf.sum(tf.mul(g, dirs[i])).dataSync()[0], 0);
  });
  const at = (e: number) => tf.tidy(() => f(thetas.map((th, i) => tf.add(th, tf.mul(e, dirs[i])))).dataSync()[0]);
  // Leaky ReLU is piecewise linear: a difference whose ±ε straddle a kink is meaningless, so a second,
  // ten times smaller ε is tried before the check fails (a wrong gradient fails both).
  const fds = [eps, eps / 10].map(e => (at(e) - at(-e)) / (2 * e));
  const best = fds.reduce((a, b) => (relDiff(auto, a) <= relDiff(auto, b) ? a : b));
  t.true(relDiff(auto, best) < tol, `${label}: autodiff ${auto} vs finite differences ${fds.join(', ')}`);
}

test('group-parameter gradients match finite differences (transport route: rescale, gl)', t => {
  for (const [group, model] of [
    ['rescale', mlp({ activation: 'relu' })],
    ['gl', mlp({ activation: 'linear', widths: [4, 4] })],
  ] as const) {
    const s = readModel(model);
    const actions = planTeleport(s, group).build(s.variables);
    const x = seededUniform([8, 6], 3);
    const y = seededUniform([8, 3], 4);
    const grads = tf.grads((...ps: tf.Tensor[]) => tf.mean(tf.square(tf.sub(s.forward(ps, x).output, y))) as tf.Scalar)(s.variables);
    const f = (th: tf.Tensor[]) => gradNormSq(transportGradients(actions, grads, th));
    checkDirectional(t, f, randomThetas(actions, 9, 0.3), 1e-2, 2e-2, group);
  }
});

for (const variant of ['gl-data', 'gl-pinv'] as const)
  test(`group-parameter gradients match finite differences (evaluate route, nested autodiff: ${variant})`, t => {
    const model = mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, output: 3, softmax: true });
    const s = readModel(model);
    const loss = resolveLoss('categoricalCrossentropy', true);
    const x = seededUniform([6, 10], 31);
    const y = oneHotBatch(6, 3, 32);
    const actions = planTeleport(s, variant).build(s.variables, x);
    const f = (th: tf.Tensor[]) => {
      const moved = applyActions(actions, s.variables, th);
      const g = tf.grads((...ps: tf.Tensor[]) => loss.compute(y, s.forward(ps, x, { logits: true }).output))(moved);
      return gradNormSq(g);
    };
    // Leaky ReLU has kinks: a small step keeps the finite difference on one linear piece.
    checkDirectional(t, f, randomThetas(actions, 13, 0.1), 1e-3, 3e-2, variant);
    actions.forEach(a => a.dispose?.());
  });

test('evaluate route agrees with transport route on rescale (fast path vs reference)', t => {
  const model = mlp({ activation: 'relu' });
  const s = readModel(model);
  const actions = planTeleport(s, 'rescale').build(s.variables);
  const x = seededUniform([8, 6], 3);
  const y = seededUniform([8, 3], 4);
  const loss = (p: tf.Tensor[]) => tf.mean(tf.square(tf.sub(s.forward(p, x).output, y))) as tf.Scalar;
  const grads = tf.grads((...ps: tf.Tensor[]) => loss(ps))(s.variables);
  const thetas = randomThetas(actions, 17, 0.4);
  const fast = (th: tf.Tensor[]) => gradNormSq(transportGradients(actions, grads, th));
  const slow = (th: tf.Tensor[]) => gradNormSq(tf.grads((...ps: tf.Tensor[]) => loss(ps))(applyActions(actions, s.variables, th)));
  const [vf, gf] = tf.tidy(() => {
    const r = tf.valueAndGrads((...ts: tf.Tensor[]) => fast(ts))(thetas);
    return [r.value.dataSync()[0], r.grads.map(g => g.arraySync())];
  }) as [number, unknown[]];
  const [vs, gs] = tf.tidy(() => {
    const r = tf.valueAndGrads((...ts: tf.Tensor[]) => slow(ts))(thetas);
    return [r.value.dataSync()[0], r.grads.map(g => g.arraySync())];
  }) as [number, unknown[]];
  t.true(relDiff(vf, vs) < 1e-4, `values ${vf} vs ${vs}`);
  const flat = (a: unknown[]) => (a as number[][]).flat(3) as number[];
  const a = gf.flatMap(g => flat([g] as unknown[]));
  const b = gs.flatMap(g => flat([g] as unknown[]));
  const scale = Math.max(...a.map(Math.abs));
  a.forEach((v, i) => t.true(Math.abs(v - b[i]) <= 1e-3 * scale, `grad ${i}: ${v} vs ${b[i]}`));
});

test('closed-form rescale solver steps in lockstep with the tensor-autodiff solver (MLP and CNN, with a preconditioner)', t => {
  for (const model of [mlp({ activation: 'relu', widths: [6, 5] }), smallCnn()]) {
    const s = readModel(model);
    const actions = planTeleport(s, 'rescale').build(s.variables);
    const isCnn = s.sites.some(x => x.kind !== 'dense-dense');
    const x = isCnn ? seededUniform([4, 8, 8, 2], 3) : seededUniform([8, 6], 3);
    const y = isCnn ? oneHotBatch(4, 2, 4) : seededUniform([8, 3], 4);
    const grads = tf.grads((...ps: tf.Tensor[]) =>
      isCnn
        ? (tf.losses.softmaxCrossEntropy(y, s.forward(ps, x, { logits: true }).output) as tf.Scalar)
        : (tf.mean(tf.square(tf.sub(s.forward(ps, x).output, y))) as tf.Scalar),
    )(s.variables);
    const precond = s.variables.map((v, i) => seededUniform(v.shape, 900 + i, 0.5, 2));
    const settings = {
      steps: 6,
      lr: 0.2,
      direction: 'maximize' as const,
      normalize: true,
      lineSearch: false,
      maxGrowth: 50,
      maxBacktracks: 4,
      stepRule: 'fixed' as const,
    };
    const { fast, slow } = rescaleClosedFormAndAutodiff(actions, grads, precond, settings);
    t.true(relDiff(fast.objectiveBefore, slow.objectiveBefore) < 1e-4, `before ${fast.objectiveBefore} vs ${slow.objectiveBefore}`);
    t.true(relDiff(fast.objectiveAfter, slow.objectiveAfter) < 1e-3, `after ${fast.objectiveAfter} vs ${slow.objectiveAfter}`);
    t.is(fast.stepsTaken, slow.stepsTaken);
    fast.thetas.forEach((th, i) => t.true(maxAbsDiff(th, slow.thetas[i]) < 1e-3, `θ ${i}: ${maxAbsDiff(th, slow.thetas[i])}`));
    t.true(fast.objectiveAfter > fast.objectiveBefore);
  }
});

test('rescale: act, gradient transport and every slot kind scale columns and rows by the right powers of λ = e^θ (elementwise reference), no leaks', t => {
  const model = mlp({ activation: 'relu', widths: [4, 3] });
  const s = readModel(model);
  const [action] = planTeleport(s, 'rescale').build(s.variables);
  const site = action.diagonal!;
  const h = site.width;
  const thetaValues = Array.from({ length: h }, (_, i) => 0.7 * Math.sin(3 * i + 1));
  const theta = tf.tensor1d(thetaValues);
  const values = s.variables.map((v, i) => seededUniform(v.shape, 40 + i, -1, 1));
  const before = tf.memory().numTensors;
  // Reference: entry (r, c) of the first kernel times λ_c^p, of its bias times λ_c^p, of the second kernel times λ_r^−p.
  const expected = (p: number) =>
    values.map((v, i) => {
      const data = Array.from(v.dataSync());
      const cols = v.shape[v.shape.length - 1];
      if (i === site.inKernel || i === site.inBias) return data.map((x, j) => x * Math.exp(p * thetaValues[j % cols]));
      if (i === site.outKernel) return data.map((x, j) => x * Math.exp(-p * thetaValues[Math.floor(j / cols)]));
      return data;
    });
  const check = (label: string, got: ReadonlyArray<tf.Tensor | null>, p: number) => {
    const want = expected(p);
    got.forEach((g, i) => {
      const d = Array.from(g!.dataSync());
      const err = Math.max(...d.map((x, j) => Math.abs(x - want[i][j]) / (1 + Math.abs(want[i][j]))));
      t.true(err < 1e-5, `${label} param ${i}: ${err}`);
    });
  };
  const run = (f: () => ReadonlyArray<tf.Tensor | null>) => tf.tidy(() => f().map(x => (values.includes(x as tf.Tensor) ? x!.clone() : x!)));
  const cases: Array<[string, () => ReadonlyArray<tf.Tensor | null>, number]> = [
    ['act', () => action.act(values, theta), 1],
    ['transportGradient', () => action.transportGradient!(values, theta), -1],
    ['slots gradient', () => action.transportSlots!('gradient', values, theta)!, -1],
    ['slots squared', () => action.transportSlots!('squared', values, theta)!, -2],
    ['slots update', () => action.transportSlots!('update', values, theta)!, 1],
  ];
  for (const [label, f, p] of cases) {
    const out = run(f);
    check(label, out, p);
    tf.dispose(out);
  }
  t.is(tf.memory().numTensors, before, 'no tensors left behind');
  tf.dispose([theta, ...values]);
  model.dispose();
});
