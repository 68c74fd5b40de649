import test from 'ava';
import { tf, useCpu, randomizeVariables, savedArtifacts } from '../helpers.js';
import * as tpMeta from '../../src/meta.js';

test.before(useCpu);

const { MetaTeleporter, regressionFamily } = tpMeta;

/** Plain gradient descent written out here (tf.grads and a subtraction), independent of the teleporter's step. */
function gd(task: tpMeta.MetaTask, lr: number, steps: number): number[] {
  let p = task.params.map(x => tf.clone(x));
  const losses: number[] = [];
  for (let t = 0; t <= steps; t++) {
    losses.push(tpMeta.lossValue(task, p));
    if (t === steps) break;
    const next = tf.tidy(() => {
      const g = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(p);
      return p.map((w, i) => tf.sub(w, tf.mul(lr, g[i])));
    });
    tf.dispose(p);
    p = next;
  }
  tf.dispose(p);
  return losses;
}

/** tf.tidy for results holding tensors in plain objects (a step's state). */
const tidyAny = <T>(fn: () => T): T => tf.tidy(fn as never) as T;

const close = (a: readonly number[], b: readonly number[], rel: number) =>
  a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= rel * Math.abs(b[i]));

test.serial("learn 'teleport': no m1, the update is GD at baseLr; one step is g·(w − η₀∇) with the exact action (both architectures)", t => {
  const family = regressionFamily({ width: 5 });
  const task = family.sample(3);
  for (const architecture of ['full', 'coordinatewise'] as const) {
    const mt = new MetaTeleporter({ architecture, hidden: 4, learn: 'teleport', baseLr: 2e-3, seed: 1 });
    mt.build({ dim: 50, group: family.group });
    t.deepEqual(mt.weightsOf('m1'), [], 'no m1 weights');
    t.true(mt.weightsOf('m2').length > 0);
    t.true(mt.teleports);
    // Untrained (zero group head): θ = 0, so the run is GD at baseLr.
    t.true(close(mt.run(task, { steps: 6 }).losses, gd(task, 2e-3, 6), 1e-5), `${architecture}: untrained = GD`);
    randomizeVariables(mt.weights, 7, 0.3);
    const grads = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(task.params as tf.Tensor[]);
    const state = mt.initialState();
    t.is(state.m1, undefined);
    const ctx = { loss: task.loss, group: task.group };
    const s = tf.tidy(() => {
      const out = mt.step(task.params, grads, state, task.act, true, ctx);
      const expected = task.act!(
        task.params.map((w, i) => tf.sub(w, tf.mul(2e-3, grads[i]))),
        out.theta!,
      );
      const diff = Math.max(...out.params.map((p, i) => tf.max(tf.abs(tf.sub(p, expected[i]))).dataSync()[0]));
      return { diff: tf.scalar(diff), theta: tf.norm(out.theta!), lr: out.lr! };
    });
    t.true(s.diff.dataSync()[0] < 1e-6, `${architecture}: step = act(w − η₀∇, θ), max diff ${s.diff.dataSync()[0]}`);
    t.true(s.theta.dataSync()[0] > 1e-3, 'a randomized m2 gives a non-trivial θ');
    t.is(s.lr.dataSync()[0], Math.fround(2e-3));
    // Teleports off: GD at baseLr exactly, whatever m2's weights.
    t.true(close(mt.run(task, { steps: 6, teleport: false }).losses, gd(task, 2e-3, 6), 1e-5), `${architecture}: tele off = GD`);
    t.false(close(mt.run(task, { steps: 6 }).losses, gd(task, 2e-3, 6), 1e-5), `${architecture}: tele on differs`);
    tf.dispose([s.diff, s.theta, s.lr, ...grads]);
    tpMeta.disposeState(state);
    mt.dispose();
  }
  task.dispose();
});

test.serial(
  'GD + learned teleports below the edge of stability: on unseen tasks the teleports lower the loss against the same GD without them, past the training horizon too',
  async t => {
    // Half of GD's largest stable step size on this family (5.62e-4, meta-train's grid search): where the
    // hand-made gradient-norm teleport helps (meta-diagnose), so a learned m2 can learn to.
    const family = regressionFamily({ width: 20 });
    const lr = 2.81e-4;
    const mt = new MetaTeleporter({ architecture: 'coordinatewise', learn: 'teleport', hidden: 8, baseLr: lr, seed: 1 });
    const report = await mt.train(family, { trajectories: 2, steps: 20, unroll: 10, lr: 1e-3, validation: 2, validationSteps: 40, validateEvery: 1, seed: 1 });
    t.true(report.bestValidation < report.initialValidation, `validation ${report.initialValidation} → ${report.bestValidation}`);
    for (let i = 0; i < 3; i++) {
      const task = family.sample(777 + i);
      const on = mt.run(task, { steps: 40 });
      const off = mt.run(task, { steps: 40, teleport: false });
      const plain = gd(task, lr, 40);
      t.true(close(off.losses, plain, 1e-5), 'teleports off is exactly GD at baseLr (independent loop)');
      t.true(on.losses[20] < 0.99 * plain[20], `task ${i}: at the training horizon ${on.losses[20]} vs GD ${plain[20]}`);
      t.true(on.losses[40] < 0.99 * plain[40], `task ${i}: at twice the horizon ${on.losses[40]} vs GD ${plain[40]}`);
      t.true(on.maxTeleportDrift < 1e-5, `the learned group elements keep the loss: drift ${on.maxTeleportDrift}`);
      task.dispose();
    }
    mt.dispose();
  },
);

test.serial("learn 'teleport': save → load round trip, the tfjs optimizer reproduces run(), no tensor leaks", async t => {
  const family = regressionFamily({ width: 4 });
  const mt = new MetaTeleporter({ architecture: 'coordinatewise', learn: 'teleport', hidden: 3, baseLr: 1e-2, seed: 2 });
  await mt.train(family, { trajectories: 1, steps: 4, unroll: 2, validation: 1 });
  randomizeVariables(mt.weights, 3, 0.2);
  const artifacts = await savedArtifacts(h => mt.save(h));
  t.false(
    artifacts.weightSpecs!.some(s => s.name.startsWith('m1/')),
    'no m1 weights saved',
  );
  const loaded = await MetaTeleporter.load(tf.io.fromMemory(artifacts));
  t.is(loaded.learn, 'teleport');
  const task = family.sample(9);
  const a = mt.run(task, { steps: 6 });
  t.deepEqual(loaded.run(task, { steps: 6 }).losses, a.losses);

  const before = tf.memory().numTensors;
  const vars = task.params.map(p => tf.variable(p));
  const opt = tpMeta.optimizer(mt, { act: task.act, loss: task.loss, group: task.group });
  const losses = [tpMeta.lossValue(task, vars)];
  for (let i = 0; i < 6; i++) {
    opt.minimize(() => task.loss(vars), false, vars);
    losses.push(tpMeta.lossValue(task, vars));
  }
  t.true(close(losses, a.losses, 1e-5), `optimizer ${losses} vs run ${a.losses}`);
  opt.dispose();
  tf.dispose(vars);
  await mt.train(family, { trajectories: 2, steps: 4, unroll: 2, validation: 1, validateEvery: 1 });
  mt.run(task, { steps: 3 });
  t.is(tf.memory().numTensors, before);
  for (const m of [mt, loaded]) m.dispose();
  task.dispose();
});

test.serial('teleportBudget: Σ‖θ_t‖ never exceeds it, once spent the steps are plain GD, and it round-trips through save/load', async t => {
  const family = regressionFamily({ width: 5 });
  const task = family.sample(4);
  const budget = 0.25;
  const mt = new MetaTeleporter({ architecture: 'coordinatewise', hidden: 4, learn: 'teleport', baseLr: 2e-3, maxTheta: 0.1, teleportBudget: budget, seed: 1 });
  mt.build({ dim: 50, group: family.group });
  randomizeVariables(mt.weights, 11, 0.4);
  const ctx = { loss: task.loss, group: task.group };
  let p = task.params.map(x => tf.clone(x));
  let state = mt.initialState();
  const norms: number[] = [];
  let afterSpentMatchesGd = true;
  for (let step = 0; step < 8; step++) {
    const out = tidyAny(() => {
      const g = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(p);
      const s = mt.step(p, g, state, task.act, true, ctx);
      const gdStep = p.map((w, i) => tf.sub(w, tf.mul(2e-3, g[i])));
      const diff = Math.max(...s.params.map((q, i) => tf.max(tf.abs(tf.sub(q, gdStep[i]))).dataSync()[0]));
      return { params: s.params, state: s.state, norm: tf.norm(s.theta!), diff: tf.scalar(diff) };
    });
    const n = out.norm.dataSync()[0];
    norms.push(n);
    // Once the running total has reached the budget, θ = 0 and the step is GD's (independent w − η₀∇).
    if (norms.slice(0, -1).reduce((a, b) => a + b, 0) >= budget - 1e-6 && out.diff.dataSync()[0] > 1e-6) afterSpentMatchesGd = false;
    tf.dispose([out.norm, out.diff, ...p]);
    tpMeta.disposeState(state);
    p = out.params;
    state = out.state;
  }
  const total = norms.reduce((a, b) => a + b, 0);
  t.true(total <= budget + 1e-5, `Σ‖θ‖ = ${total}`);
  t.true(total > budget - 1e-4, `the randomized m2 spends the whole budget (${norms.map(v => v.toFixed(3)).join(' ')})`);
  t.true(norms.at(-1)! < 1e-6, 'nothing left at the end');
  t.true(afterSpentMatchesGd, 'after the budget the step is plain GD');
  tf.dispose(p);
  tpMeta.disposeState(state);
  // Without a budget the same weights keep teleporting: the budget is what stopped them.
  const free = new MetaTeleporter({ architecture: 'coordinatewise', hidden: 4, learn: 'teleport', baseLr: 2e-3, maxTheta: 0.1, seed: 1 });
  free.build({ dim: 50, group: family.group });
  free.weights.forEach((w, i) => w.assign(mt.weights[i]));
  t.notDeepEqual(free.run(task, { steps: 8 }).losses, mt.run(task, { steps: 8 }).losses);
  const artifacts = await savedArtifacts(h => mt.save(h));
  const loaded = await MetaTeleporter.load(tf.io.fromMemory(artifacts));
  t.is(loaded.teleportBudget, budget);
  t.is(free.teleportBudget, Number.POSITIVE_INFINITY);
  t.deepEqual(loaded.run(task, { steps: 8 }).losses, mt.run(task, { steps: 8 }).losses);
  t.throws(() => new MetaTeleporter({ teleportBudget: 0 }), { message: /teleportBudget must be a positive number or Infinity/ });
  // The spent total is carried by the tfjs optimizer as by run(), and nothing leaks across training, running and stepping.
  await mt.train(family, { trajectories: 1, steps: 4, unroll: 2, validation: 1 });
  const before = tf.memory().numTensors;
  const expected = mt.run(task, { steps: 8 }).losses;
  const vars = task.params.map(q => tf.variable(q));
  const opt = tpMeta.optimizer(mt, { act: task.act, loss: task.loss, group: task.group });
  const losses = [tpMeta.lossValue(task, vars)];
  for (let i = 0; i < 8; i++) {
    opt.minimize(() => task.loss(vars), false, vars);
    losses.push(tpMeta.lossValue(task, vars));
  }
  t.true(close(losses, expected, 1e-5), `optimizer ${losses} vs run ${expected}`);
  opt.dispose();
  tf.dispose(vars);
  await mt.train(family, { trajectories: 2, steps: 4, unroll: 2, validation: 1, validateEvery: 1 });
  t.is(tf.memory().numTensors, before);
  for (const m of [mt, free, loaded]) m.dispose();
  task.dispose();
});

test.serial('validation scores a run that runs off (loss above 1.5× its lowest so far) as a blow-up from there on', t => {
  // GD on L = x² (one coordinate, x₀ = 1) with step η: L_t = (1 − 2η)^{2t}. η = 1.1: ×1.44 per step, so the
  // loss is 1.44 at step 1 (within 1.5× of the lowest, 1) and 2.07 at step 2: run off from step 2.
  const user = { name: 'parabola', init: () => [tf.tensor1d([1])], loss: (p: readonly tf.Tensor[]) => tf.tidy(() => tf.sum(tf.square(p[0])) as tf.Scalar) };
  const family = tpMeta.userFamily(user);
  const task = family.sample(0);
  const mt = new MetaTeleporter({ hidden: 2, learn: 'update', baseLr: 1.1 });
  mt.build({ dim: 1 });
  const steps = 6;
  const losses = mt.run(task, { steps }).losses;
  t.true(
    close(
      losses,
      [0, 1, 2, 3, 4, 5, 6].map(k => 1.44 ** k),
      1e-4,
    ),
    `GD on x²: ${losses}`,
  );
  const blowUp = Math.log(1e6);
  const expected = (Math.log(1.44) + (steps - 1) * blowUp) / steps;
  t.true(Math.abs(tpMeta.validationScore(mt, [task], steps) - expected) < 1e-4);
  // A descending run is scored by its losses alone: η = 0.25 halves x every step, L_t = 4^{−t}.
  const calm = new MetaTeleporter({ hidden: 2, learn: 'update', baseLr: 0.25 });
  calm.build({ dim: 1 });
  const mean = Array.from({ length: steps }, (_, k) => Math.log(4 ** -(k + 1))).reduce((a, b) => a + b, 0) / steps;
  t.true(Math.abs(tpMeta.validationScore(calm, [task], steps) - mean) < 1e-4);
  for (const m of [mt, calm]) m.dispose();
  task.dispose();
});
