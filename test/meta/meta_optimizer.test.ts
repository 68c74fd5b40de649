import test from 'ava';
import { tf, useCpu } from '../helpers.js';
import * as tpMeta from '../../src/meta.js';

test.before(useCpu);

const { MetaTeleporter, regressionFamily } = tpMeta;

test.serial('an untrained update-mode teleporter in a minimize loop follows tf.train.sgd(baseLr)', t => {
  const family = regressionFamily({ width: 5 });
  const task = family.sample(3);
  const mt = new MetaTeleporter({ hidden: 4, learn: 'update', baseLr: 2e-3 });
  mt.build({ dim: 50 });
  const a = task.params.map(p => tf.variable(p));
  const b = task.params.map(p => tf.variable(p));
  const opt = tpMeta.optimizer(mt);
  const sgd = tf.train.sgd(2e-3);
  for (let i = 0; i < 10; i++) {
    opt.minimize(() => task.loss(a), false, a);
    sgd.minimize(() => task.loss(b), false, b);
  }
  const diff = Math.max(...a.map((v, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, b[i]))).dataSync()[0])));
  const moved = Math.max(...a.map((v, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(v, task.params[i]))).dataSync()[0])));
  t.true(moved > 1e-2, `the weights moved (${moved})`);
  t.true(diff < 1e-5 * Math.max(1, moved), `meta optimizer vs sgd: ${diff}`);
  opt.dispose();
  sgd.dispose();
  tf.dispose([...a, ...b]);
  mt.dispose();
  task.dispose();
});

test.serial('a trained teleporter as a tf.Optimizer: minimize reproduces run() step for step, teleports included, with flat tensor counts', async t => {
  const family = regressionFamily({ width: 6 });
  const mt = new MetaTeleporter({ hidden: 6, learn: 'update+teleport', baseLr: 5e-4, seed: 1 });
  await mt.train(family, { trajectories: 2, steps: 6, unroll: 3, validation: 1, seed: 5 });
  const task = family.sample(77);
  const { losses } = mt.run(task, { steps: 12 });
  const vars = task.params.map(p => tf.variable(p));
  const opt = tpMeta.optimizer(mt, { act: task.act });
  const seen: number[] = [];
  let count = 0;
  for (let i = 0; i < 12; i++) {
    if (i === 2) count = tf.memory().numTensors;
    const l = opt.minimize(() => task.loss(vars), true, vars)!;
    seen.push(l.dataSync()[0]);
    l.dispose();
  }
  t.is(tf.memory().numTensors, count);
  seen.push(tpMeta.lossValue(task, vars));
  seen.forEach((v, i) => t.true(Math.abs(v - losses[i]) <= 1e-4 * losses[i], `step ${i}: ${v} vs ${losses[i]}`));
  t.true(seen[12] < seen[0]);
  // The ablation (no teleports) is another trajectory: the comparison above can fail.
  const plain = mt.run(task, { steps: 12, teleport: false }).losses;
  t.true(plain.some((v, i) => Math.abs(v - losses[i]) > 1e-3 * losses[i]));
  t.throws(() => tpMeta.optimizer(mt), { message: /give \{ act \}/ });
  t.throws(() => tpMeta.optimizer(new MetaTeleporter()), { message: /no weights yet/ });
  opt.dispose();
  tf.dispose(vars);
  mt.dispose();
  task.dispose();
});

test.serial(
  'a coordinate-wise update teleporter drops into model.compile/fit: untrained it follows tf.train.sgd(baseLr) through fit, with learned heads it differs and tensor counts stay flat',
  async t => {
    const { mlp, seededUniform } = await import('../helpers.js');
    const x = seededUniform([32, 4], 301);
    const y = seededUniform([32, 2], 302);
    // A model the teleporter never saw (4-6-2 with biases): the coordinate-wise variant has no parameter count.
    const fitWith = async (optimizer: tf.Optimizer) => {
      const model = mlp({ input: 4, widths: [6], activation: 'relu', output: 2, seed: 303 });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const h = await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 });
      return { model, losses: h.history.loss as number[] };
    };
    const plain = new MetaTeleporter({ hidden: 4, learn: 'update', baseLr: 0.05, architecture: 'coordinatewise', seed: 5 });
    plain.build({ dim: 1 });
    const sgd = await fitWith(tf.train.sgd(0.05));
    const meta = await fitWith(tpMeta.optimizer(plain));
    sgd.model.getWeights().forEach((w, i) => {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(w, meta.model.getWeights()[i]))).dataSync()[0]);
      t.true(diff < 1e-5, `weight ${i} differs from SGD's by ${diff}`);
    });
    // Non-zero heads: a different, still finite and decreasing, trajectory.
    const learned = new MetaTeleporter({ hidden: 4, learn: 'update', baseLr: 0.05, architecture: 'coordinatewise', seed: 5 });
    learned.build({ dim: 1 });
    learned.weights.forEach((w, k) => {
      const v = seededUniform(w.shape, 400 + k, -0.5, 0.5);
      w.assign(v);
      v.dispose();
    });
    const optimizer = tpMeta.optimizer(learned);
    const first = await fitWith(optimizer);
    t.true(first.losses.every(Number.isFinite) && first.losses[2] < first.losses[0], `losses ${first.losses}`);
    t.true(Math.abs(first.losses[2] - sgd.losses[2]) > 1e-6, 'the learned heads change the trajectory');
    const before = tf.memory().numTensors;
    await first.model.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    t.is(tf.memory().numTensors, before);
    for (const m of [sgd.model, meta.model, first.model]) m.dispose();
    tf.dispose([x, y]);
    plain.dispose();
    learned.dispose();
  },
);
