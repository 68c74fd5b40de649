import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tf, useCpu } from '../helpers.js';
import * as tpMeta from '../../src/meta.js';
import { handTeleport, scanAscentDirection } from '../../examples/meta/diagnose.js';
import { runCli, tempDirs } from '../cli_helpers.js';

test.before(useCpu);
const tmp = tempDirs('meta-diagnose-');

/** ‖∇L‖² of the task's own loss (column convention, tf.grads): independent of the model route the core takes. */
function gradNormSq(task: tpMeta.MetaTask, params: readonly tf.Tensor[]): number {
  return tf.tidy(() => {
    const g = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))([...params]);
    return tf.addN(g.map(x => tf.sum(tf.square(x)))).dataSync()[0];
  });
}

test.serial(
  "the hand-made teleport (core gl-data ascent through a tfjs-layers model) keeps the task's loss and raises its ‖∇L‖² as its report says",
  async t => {
    const task = tpMeta.regressionFamily({ width: 6 }).sample(5);
    const before = tf.memory().numTensors;
    const r = await handTeleport(task, task.params, { steps: 10, lr: 0.1, maxGrowth: 2 });
    t.true(r.report.accepted, r.report.reason ?? '');
    const l0 = tpMeta.lossValue(task, task.params);
    const l1 = tpMeta.lossValue(task, r.params);
    t.true(Math.abs(l1 - l0) / l0 < 1e-4, `loss ${l0} → ${l1}`);
    const growth = gradNormSq(task, r.params) / gradNormSq(task, task.params);
    t.true(growth > 1.2 && growth <= 2 * (1 + 1e-3), `growth ${growth}`);
    const reported = r.report.gradNormSqAfter / r.report.gradNormSqBefore;
    t.true(Math.abs(growth - reported) / reported < 1e-3, `recomputed ${growth} vs reported ${reported}`);
    tf.dispose(r.params);
    t.is(tf.memory().numTensors, before);
    task.dispose();
  },
);

test.serial('the ascent-direction scan: s = 0 changes nothing, s > 0 raises ‖∇L‖², and its one-step ratio matches an explicit GD step', t => {
  const task = tpMeta.regressionFamily({ width: 6 }).sample(8);
  const lr = 2e-3;
  const before = tf.memory().numTensors;
  const [zero, up] = scanAscentDirection(task, task.params, lr, [0, 0.1], [1, 3]);
  t.true(Math.abs(zero.growth - 1) < 1e-5 && Math.abs(zero.ratio[0] - 1) < 1e-5 && Math.abs(zero.ratio[1] - 1) < 1e-5);
  t.true(up.growth > 1, `growth along D: ${up.growth}`);
  t.true(up.drift < 1e-4, `drift ${up.drift}`);
  const step = (p: readonly tf.Tensor[]) => {
    const g = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))([...p]);
    return p.map((w, i) => tf.sub(w, tf.mul(lr, g[i])));
  };
  const explicit = tf.tidy(() => {
    const d = tpMeta.objectiveDerivative(task.params, task.loss, task.act!, 1, 6);
    const moved = task.act!(task.params, tf.mul(tf.div(d, tf.norm(d)), 0.1));
    return tf.div(task.loss(step(moved)), task.loss(step(task.params))).dataSync()[0];
  });
  t.true(Math.abs(up.ratio[0] - explicit) < 1e-4, `${up.ratio[0]} vs ${explicit}`);
  t.is(tf.memory().numTensors, before);
  task.dispose();
});

test('meta-diagnose with tiny settings: the table agrees with its JSON; bad input exits 2 naming the flag', t => {
  const out = join(tmp(), 'out');
  const r = runCli([
    'meta-diagnose',
    '--tasks',
    '2',
    '--steps',
    '10',
    '--fractions',
    '0.5',
    '--teleport-at',
    '0',
    '--best-iterations',
    '2',
    '--quiet',
    '--backend',
    'cpu',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  for (const f of ['summary.md', 'diagnosis.json']) t.true(existsSync(join(out, f)), f);
  const d = JSON.parse(readFileSync(join(out, 'diagnosis.json'), 'utf8')) as {
    edge: number;
    gd: Array<{ lr: number; teleportAt: number[]; finals: number[] }>;
  };
  t.true(d.edge > 0);
  const none = d.gd.find(g => g.teleportAt.length === 0)!;
  t.is(none.lr, Number((d.edge * 0.5).toPrecision(3)));
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  const row = summary.split('\n').find(l => l.includes('| none |'))!;
  const m = (none.finals[0] + none.finals[1]) / 2;
  const shown = m >= 1000 ? m.toExponential(2) : m.toFixed(2);
  t.true(row.includes(`| ${shown} ±`), `${row} vs mean ${shown}`);
  t.regex(summary, /best θ, k = 10/);
  const bad = runCli(['meta-diagnose', '--fractions', '2', '--out', join(tmp(), 'x')]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--fractions: numbers in \(0, 1\]/);
});
