// Issue 20 §3: the learned teleporter out of the box starts as a well-tuned GD (baseLr 'auto').
import test from 'ava';
import { tf, useCpu, savedArtifacts } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpMeta from '../../src/meta.js';
import { MetaTeleporter } from '../../src/meta/teleporter.js';

test.before(useCpu);

const family = tpMeta.regressionFamily({ width: 6 });

/** GD written out here (not the library's helper): the loss before each step and after the last. */
function gd(task: tpMeta.MetaTask, lr: number, steps: number): number[] {
  const vars = task.params.map(p => tf.variable(p.clone()));
  const losses: number[] = [];
  for (let t = 0; t <= steps; t++) {
    losses.push(tf.tidy(() => task.loss(vars).dataSync()[0]));
    if (t === steps) break;
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => task.loss(vars), vars);
      vars.forEach(v => v.assign(tf.sub(v, tf.mul(lr, grads[v.name]))));
    });
  }
  tf.dispose(vars);
  return losses;
}
const stableRun = (l: number[]) => l.every(v => Number.isFinite(v) && v <= l[0]) && l[l.length - 1] < l[0];

test.serial("baseLr defaults to 'auto': read before a family is searched, it names the fix", t => {
  const mt = new MetaTeleporter({ hidden: 4, learn: 'update+teleport' });
  const err = t.throws(() => mt.baseLr, { instanceOf: tp.TeleportError });
  t.is(err?.kind, 'bad-option');
  t.regex(err!.message, /calibrate\(family\)/);
  t.is(mt.getConfig().baseLr, 'auto');
  t.throws(() => new MetaTeleporter({ baseLr: 'fast' as unknown as number }), { message: /baseLr must be 'auto' or a positive number/ });
});

test.serial("calibrate: η₀ is half of GD's largest stable grid step on the training tasks (checked by an independent GD loop)", t => {
  const mt = new MetaTeleporter({ hidden: 4, learn: 'update', architecture: 'coordinatewise' });
  const steps = 40;
  const choice = mt.calibrate(family, { tasks: 2, steps, seed: 3 });
  t.is(mt.baseLr, choice.baseLr);
  t.is(choice.baseLr, Number((choice.largestStableLr / 2).toPrecision(3)));
  const tasks = [1, 2].map(i => family.sample(3 * 1_000_000 + i)); // the training tasks train draws with seed 3
  t.true(
    tasks.every(task => stableRun(gd(task, choice.largestStableLr, steps))),
    'GD is stable at the chosen step size',
  );
  const next = Number((choice.largestStableLr * 10 ** 0.25).toPrecision(3));
  t.false(
    tasks.every(task => stableRun(gd(task, next, steps))),
    `GD is not stable at the next grid step ${next}`,
  );
  t.true(choice.grid.some(g => !g.stable) && choice.grid.some(g => g.stable));
  // Untrained (zero heads) it is GD at η₀, on a task it never saw.
  const unseen = family.sample(777);
  const { losses } = mt.run(unseen, { steps: 20 });
  const plain = gd(unseen, choice.baseLr, 20);
  t.true(
    losses.every((l, i) => Math.abs(l - plain[i]) <= 1e-5 * Math.abs(plain[i])),
    `${losses.slice(-1)} vs ${plain.slice(-1)}`,
  );
  tf.dispose([...tasks.flatMap(k => k.params)]);
  unseen.dispose();
  mt.dispose();
});

test.serial("train with baseLr 'auto' searches first, reports it, and saves the number", async t => {
  const mt = new MetaTeleporter({ hidden: 3, learn: 'update', architecture: 'coordinatewise', seed: 1 });
  const report = await mt.train(family, { trajectories: 2, steps: 4, unroll: 2, validation: 1, seed: 5 });
  t.truthy(report.baseLr);
  t.is(report.baseLr!.steps, 8, 'searched over the validation horizon (2·steps)');
  t.is(report.baseLr!.tasks, 2);
  t.is(mt.baseLr, report.baseLr!.baseLr);
  const again = await MetaTeleporter.load(tf.io.fromMemory(await savedArtifacts(h => mt.save(h))));
  t.is(again.baseLr, mt.baseLr);
  // A given number is kept: no search.
  const fixed = new MetaTeleporter({ hidden: 3, learn: 'update', architecture: 'coordinatewise', baseLr: 1e-3 });
  const fixedReport = await fixed.train(family, { trajectories: 1, steps: 2, unroll: 2, validation: 1 });
  t.is(fixedReport.baseLr, undefined);
  t.is(fixed.baseLr, 1e-3);
  mt.dispose();
  again.dispose();
  fixed.dispose();
});
