import test from 'ava';
import { tf, useCpu, randomizeVariables, savedArtifacts } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpMeta from '../../src/meta.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

const { MetaTeleporter, regressionFamily } = tpMeta;

/** ‖Y − W_d σ(⋯σ(W₁X))‖²_F in float64 plain JS (column convention, LeakyReLU 0.1): independent of the library's ops. */
function lossFloat64(params: readonly tf.Tensor[], x: tf.Tensor, y: tf.Tensor): number {
  const n = x.shape[0];
  const arr = (t: tf.Tensor) => Array.from(t.dataSync(), Number);
  const mul = (a: number[], b: number[]) => {
    const out = new Array(n * n).fill(0);
    for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * n + k] * b[k * n + j];
    return out;
  };
  let h = arr(x);
  for (let k = 0; k < params.length - 1; k++) h = mul(arr(params[k]), h).map(z => (z > 0 ? z : 0.1 * z));
  const out = mul(arr(params[params.length - 1]), h);
  const yy = arr(y);
  return out.reduce((s, o, i) => s + (yy[i] - o) ** 2, 0);
}

const num = (f: () => tf.Tensor) => {
  const t = tf.tidy(f);
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

/** The directional derivative of `value` along random directions of `vars`: analytic (variableGrads) and central difference. */
function directional(value: () => tf.Scalar, vars: tf.Variable[], seed: number, eps: number): { analytic: number; fd: number } {
  const r = new SeededRandom(seed);
  const dirs = vars.map(v =>
    tf.tensor(
      Float32Array.from({ length: v.size }, () => 2 * r.next() - 1),
      v.shape,
    ),
  );
  const { grads, value: v0 } = tf.variableGrads(value, vars);
  v0.dispose();
  const analytic = num(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(grads[v.name], dirs[i])))));
  tf.dispose(Object.values(grads));
  const shifted = (sign: number) => {
    const saved = vars.map(v => tf.clone(v));
    vars.forEach((v, i) => v.assign(tf.tidy(() => tf.add(saved[i], tf.mul(sign * eps, dirs[i])))));
    const out = num(value);
    vars.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
    return out;
  };
  const fd = (shifted(1) - shifted(-1)) / (2 * eps);
  tf.dispose(dirs);
  return { analytic, fd };
}

test.serial('coordinate-wise: unrolled meta-gradients of m1 and m2 match central finite differences on a tiny task', t => {
  const task = regressionFamily({ width: 3 }).sample(11);
  const logL0 = Math.log(tpMeta.lossValue(task, task.params));
  // 'update' (no m2) over 3 steps; the teleporting modes over 2 steps: m2's input ∂‖∇L‖²/∂θ is data to the meta-gradient,
  // and over 2 steps the only one that matters (step 1's) is computed at the task's start, so the true gradient is the analytic one.
  for (const [learn, unroll, baseLr] of [
    ['update', 3, 1e-2],
    ['update+teleport', 2, 1e-2],
    ['lr+teleport', 2, 1e-2],
  ] as const) {
    const mt = new MetaTeleporter({ hidden: 4, learn, baseLr, maxTheta: 2, seed: 2, architecture: 'coordinatewise' });
    mt.build({ dim: 18, group: { blocks: 1, n: 3 } });
    randomizeVariables(mt.weights, 5, 0.4);
    const value = () => tf.tidy(() => tpMeta.windowLoss(mt, task, task.params, mt.initialState(), unroll, logL0).loss);
    for (const which of mt.teleports ? (['m1', 'm2'] as const) : (['m1'] as const)) {
      // measured: at 1e-2 lr+teleport's m2 direction is already nonlinear (fd off by a third); at 1e-3 every case agrees to < 1 %
      const eps = 1e-3;
      const { analytic, fd } = directional(value, mt.weightsOf(which), which === 'm1' ? 17 : 19, eps);
      t.log(`${learn} ${which}: analytic ${analytic}, fd ${fd}`);
      t.true(Math.abs(analytic) > 5e-4, `${learn} ${which}: the directional derivative is not trivially zero (${analytic})`);
      t.true(Math.abs(fd - analytic) <= 0.03 * Math.abs(analytic) + 1e-5, `${learn} ${which}: analytic ${analytic} vs finite difference ${fd}`);
    }
    mt.dispose();
  }
  task.dispose();
});

test.serial('coordinate-wise: at initialization (zero heads) the meta-gradient is finite and reaches every head', t => {
  const family = regressionFamily({ width: 4 });
  const task = family.sample(3);
  const mt = new MetaTeleporter({ hidden: 3, learn: 'update+teleport', architecture: 'coordinatewise', baseLr: 3e-3 });
  mt.build({ dim: 1, group: family.group });
  const logL0 = Math.log(tpMeta.lossValue(task, task.params));
  const { value, grads } = tf.variableGrads(() => tpMeta.windowLoss(mt, task, task.params, mt.initialState(), 3, logL0).loss, mt.weights);
  value.dispose();
  for (const w of mt.weights) {
    const g = grads[w.name].dataSync();
    t.true(g.every(Number.isFinite), `${w.name}: finite`);
    if (/(lr|update|group)\/bias$/.test(w.name)) t.true(Math.max(...Array.from(g, Math.abs)) > 0, `${w.name} gets a gradient`);
  }
  tf.dispose(Object.values(grads));
  task.dispose();
  mt.dispose();
});

test.serial("m2's input ∂‖∇L(exp(θ)·w)‖²/∂θ at θ = 0 matches a central difference of ‖∇L‖² along the action", t => {
  for (const depth of [2, 3]) {
    const family = regressionFamily({ width: 3, depth });
    const task = family.sample(21);
    const { blocks, n } = family.group!;
    const d = tpMeta.objectiveDerivative(task.params, task.loss, task.act!, blocks, n);
    t.deepEqual(d.shape, [blocks, n, n]);
    const dir = tf.randomUniform([blocks, n, n], -1, 1, 'float32', 5);
    const gradNormSq = (theta: tf.Tensor) =>
      num(() => {
        const moved = task.act!(task.params, theta);
        return tf.addN(
          tf
            .grads((...ps: tf.Tensor[]) => task.loss(ps))(moved)
            .map(g => tf.sum(tf.square(g))),
        );
      });
    const eps = 1e-3;
    const fd = (gradNormSq(tf.mul(eps, dir)) - gradNormSq(tf.mul(-eps, dir))) / (2 * eps);
    const analytic = num(() => tf.sum(tf.mul(d, dir)));
    t.log(`depth ${depth}: analytic ${analytic}, fd ${fd}`);
    t.true(Math.abs(analytic) > 1e-2);
    t.true(Math.abs(fd - analytic) <= 0.03 * Math.abs(analytic), `analytic ${analytic} vs fd ${fd}`);
    tf.dispose([d, dir]);
    task.dispose();
  }
});

test.serial('one coordinate-wise teleporter runs at several widths and depths; its batched step equals running each coordinate alone', t => {
  const mt = new MetaTeleporter({ hidden: 6, learn: 'update+teleport', baseLr: 1e-3, architecture: 'coordinatewise', seed: 3 });
  mt.build({ dim: 50, group: { blocks: 1, n: 5 } });
  randomizeVariables(mt.weights, 8, 0.3);
  for (const [width, depth] of [
    [4, 2],
    [7, 2],
    [5, 3],
  ]) {
    const task = regressionFamily({ width, depth }).sample(width * 10 + depth);
    const r = mt.run(task, { steps: 4 });
    t.is(r.losses.length, 5);
    t.true(r.losses.every(Number.isFinite), `width ${width} depth ${depth}: ${r.losses}`);
    task.dispose();
  }
  // Coordinate independence: with 'update' m1 alone, each coordinate's update from a batch of all coordinates
  // equals the update of that coordinate run through the LSTM by itself (the only shared input is rms(∇)).
  const upd = new MetaTeleporter({ hidden: 5, learn: 'update', baseLr: 1e-2, architecture: 'coordinatewise', seed: 4 });
  upd.build({ dim: 1 });
  randomizeVariables(upd.weights, 12, 0.5);
  const task = regressionFamily({ width: 3 }).sample(2);
  const grads = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(task.params as tf.Tensor[]);
  const batched = tf.tidy(() => tf.concat(upd.step(task.params, grads, upd.initialState()).params.map((p, i) => tf.reshape(tf.sub(p, task.params[i]), [-1]))));
  const flat = tf.concat(grads.map(g => tf.reshape(g, [-1])));
  const rms = Math.sqrt(tf.tidy(() => tf.mean(tf.square(flat))).dataSync()[0]);
  const g = flat.dataSync();
  const [k0, b0, k1, b1, lrK, lrB, uK, uB] = upd.weights.map(w => w);
  const lstm = { weights: [k0, b0, k1, b1] };
  const alone: number[] = [];
  for (let i = 0; i < g.length; i++) {
    const v = tf.tidy(() => {
      // Features written out by hand for one coordinate (p = 10).
      const abs = Math.abs(g[i]);
      const feats = tf.tensor2d([
        [g[i] / rms, Math.log(Math.max(abs, Math.exp(-10))) / 10, abs >= Math.exp(-10) ? Math.sign(g[i]) : g[i] * Math.exp(10), Math.log(rms) / 10],
      ]);
      let input = feats as tf.Tensor2D;
      for (let layer = 0; layer < 2; layer++) {
        const gates = tf.add(tf.matMul(tf.concat([input, tf.zeros([1, 5])], 1), lstm.weights[2 * layer] as tf.Tensor2D), lstm.weights[2 * layer + 1]);
        const [ig, , gg, og] = tf.split(gates, 4, 1);
        const c = tf.mul(tf.sigmoid(ig), tf.tanh(gg));
        input = tf.mul(tf.sigmoid(og), tf.tanh(c)) as tf.Tensor2D;
      }
      const a = tf.add(tf.matMul(input, lrK as tf.Tensor2D), lrB).dataSync()[0];
      const u = tf.add(tf.matMul(input, uK as tf.Tensor2D), uB).dataSync()[0];
      const eta = 1e-2 * Math.exp(4 * Math.tanh(a / 4));
      return tf.scalar(eta * (0.1 * rms * u - g[i]));
    });
    alone.push(v.dataSync()[0]);
    v.dispose();
  }
  const b = batched.dataSync();
  const worst = Math.max(...alone.map((v, i) => Math.abs(v - b[i]) / Math.max(Math.abs(v), 1e-6)));
  t.true(worst < 1e-4, `largest relative difference ${worst}`);
  // Not the same as plain GD with η₀: the learned heads act.
  t.true(Math.max(...alone.map((v, i) => Math.abs(v + 1e-2 * g[i]) / Math.abs(1e-2 * g[i]))) > 0.05);
  tf.dispose([batched, flat, ...grads]);
  task.dispose();
  mt.dispose();
  upd.dispose();
});

test.serial('coordinate-wise save → load keeps the architecture and gives the same trajectory at another width', async t => {
  const mt = new MetaTeleporter({ hidden: 5, learn: 'update+teleport', architecture: 'coordinatewise', seed: 4, updateScale: 0.3, baseLr: 1e-4 });
  mt.build({ dim: 72, group: { blocks: 1, n: 6 } });
  randomizeVariables(mt.weights, 9, 0.2);
  const artifacts = await savedArtifacts(h => mt.save(h));
  const loaded = await MetaTeleporter.load(tf.io.fromMemory(artifacts));
  t.is(loaded.architecture, 'coordinatewise');
  t.is(loaded.updateScale, 0.3);
  t.deepEqual(loaded.getConfig(), mt.getConfig());
  const task = regressionFamily({ width: 4 }).sample(5);
  const a = mt.run(task, { steps: 6 });
  const b = loaded.run(task, { steps: 6 });
  t.deepEqual(b.losses, a.losses);
  t.deepEqual(b.lrs, a.lrs);
  const other = new MetaTeleporter({ hidden: 5, learn: 'update+teleport', architecture: 'coordinatewise', seed: 4, baseLr: 1e-4 });
  other.build({ dim: 1, group: { blocks: 1, n: 6 } });
  randomizeVariables(other.weights, 10, 0.2);
  t.notDeepEqual(other.run(task, { steps: 6 }).losses, a.losses);
  for (const m of [mt, loaded, other]) m.dispose();
  task.dispose();
});

test.serial('coordinate-wise group elements at full size keep the loss within the drift guard (float64 recompute), two and three layers', t => {
  const mt = new MetaTeleporter({ hidden: 6, learn: 'update+teleport', architecture: 'coordinatewise', baseLr: 1e-4, maxTheta: 0.5, seed: 1 });
  mt.build({ dim: 1, group: { blocks: 1, n: 1 } });
  randomizeVariables(mt.weights, 3, 0.5);
  for (const depth of [2, 3]) {
    const task = regressionFamily({ width: 8, depth }).sample(40 + depth);
    let params = task.params.map(p => tf.clone(p));
    let state = mt.initialState();
    let largest = 0;
    for (let step = 0; step < 3; step++) {
      const out = tf.tidy((() => {
        const grads = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(params);
        const s = mt.step(params, grads, state, task.act, true, { loss: task.loss, group: task.group });
        return { params: s.params, before: s.beforeAct, theta: s.theta!, state: s.state };
      }) as unknown as () => tf.TensorContainer) as unknown as { params: tf.Tensor[]; before: tf.Tensor[]; theta: tf.Tensor; state: tpMeta.MetaState };
      t.deepEqual(out.theta.shape, [depth - 1, 8, 8]);
      const before = lossFloat64(out.before, task.data!.x, task.data!.y);
      const after = lossFloat64(out.params, task.data!.x, task.data!.y);
      const moved = Math.max(...out.params.map((p, i) => num(() => tf.max(tf.abs(tf.sub(p, out.before[i]))))));
      largest = Math.max(
        largest,
        num(() => tf.norm(out.theta)),
      );
      t.true(Math.abs(after - before) / before <= tp.DEFAULTS.maxLossDrift, `depth ${depth}: relative drift ${Math.abs(after - before) / before}`);
      t.true(moved > 1e-4, 'the group element moved the weights');
      tf.dispose([...params, ...out.before, out.theta]);
      tpMeta.disposeState(state);
      params = out.params;
      state = out.state;
    }
    t.true(largest > 0.1, `group elements of size ${largest}`);
    tf.dispose(params);
    tpMeta.disposeState(state);
    task.dispose();
  }
  mt.dispose();
});

test.serial('coordinate-wise: no tensor leaks across training, running and the tfjs optimizer; bad input gets errors naming the fix', async t => {
  const family = regressionFamily({ width: 3 });
  // η₀ fixed: 'auto' would search width 3 over 4 steps, and this teleporter then runs at width 5.
  const mt = new MetaTeleporter({ hidden: 3, learn: 'update+teleport', architecture: 'coordinatewise', baseLr: 1e-4 });
  await mt.train(family, { trajectories: 1, steps: 2, unroll: 2, validation: 1 });
  const before = tf.memory().numTensors;
  await mt.train(family, { trajectories: 2, steps: 4, unroll: 2, validation: 1, validateEvery: 1 });
  const other = regressionFamily({ width: 5 }).sample(3);
  mt.run(other, { steps: 3 });
  mt.run(other, { steps: 3, teleport: false });
  const vars = other.params.map(p => tf.variable(p));
  const opt = tpMeta.optimizer(mt, { act: other.act, loss: other.loss, group: other.group });
  const l0 = tpMeta.lossValue(other, vars);
  for (let i = 0; i < 3; i++) opt.minimize(() => other.loss(vars), false, vars);
  t.true(tpMeta.lossValue(other, vars) < l0);
  opt.dispose();
  tf.dispose(vars);
  other.dispose();
  t.is(tf.memory().numTensors, before);

  t.throws(() => new MetaTeleporter({ architecture: 'conv' as never }), { message: /architecture must be one of 'full', 'coordinatewise'/ });
  const task = family.sample(2);
  t.throws(() => tpMeta.optimizer(mt, { act: task.act }), { message: /needs \{ loss \}/ });
  const grads = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(task.params as tf.Tensor[]);
  t.throws(() => tf.tidy(() => mt.step(task.params, grads, mt.initialState(), task.act, true, {}).params[0]), {
    message: /needs the loss and the group shape/,
  });
  const carried = tf.tidy(() => mt.step(task.params, grads, mt.initialState(), task.act, false).state.m1!.h[0]);
  const bad = { m1: { h: [carried, carried], c: [carried, carried] } };
  t.throws(() => tf.tidy(() => mt.step([tf.zeros([2, 2])], [tf.ones([2, 2])], bad, undefined, false).params[0]), {
    message: /state has 18 rows but this step has 4/,
  });
  tf.dispose([carried, ...grads]);
  task.dispose();
  mt.dispose();
});
