/**
 * `schedule: 'auto'` (issue 21 §2): it teleports only when the predicted gain exceeds the measured
 * cost, backs off and stops when teleports do not pay, reports every decision, and checkpoints. The
 * clock is injected, so these tests check behaviour, never the machine's speed.
 */
import test from 'ava';
import { tf, useCpu, mlp, teacherData } from '../helpers.js';
import * as tp from '../../src/index.js';
import { AUTO_SCHEDULE } from '../../src/optimizers/auto_schedule.js';

test.before(useCpu);

const data = teacherData;

/** Trains with schedule 'auto' on SGD 0.05 for `epochs` (8 steps each) with the given clock. */
async function train(clock: () => number, epochs: number, onTeleport?: () => void) {
  const { x, y, tb } = data();
  const model = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed: 2 });
  const optimizer = tp.sgd(0.05, { model, group: 'rescale', schedule: 'auto', data: tb, clock, onTeleport });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs, batchSize: 32, shuffle: false, verbose: 0 });
  return { model, optimizer, dispose: () => tf.dispose([x, y, tb.x, tb.y]) };
}

test.serial(
  'cheap teleports: every decision is reported, a teleport is applied exactly when its predicted gain exceeds its cost, measured gains are filled in',
  async t => {
    let now = 0;
    const run = await train(() => ++now, 40);
    const d = run.optimizer.scheduleDecisions;
    t.log(
      d
        .map(
          q =>
            `${q.step}: ${q.taken ? 'taken' : 'not'} gain ${q.predictedGain.toFixed(2)} cost ${q.cost.toFixed(2)} measured ${q.measuredGain?.toFixed(2) ?? '-'} next ${q.nextIn}`,
        )
        .join('\n'),
    );
    t.true(d.length >= 4, `${d.length} decisions`);
    t.is(d[0].step, AUTO_SCHEDULE.minEvery, 'the first decision one cadence after the start');
    t.regex(d[0].reason, /trend/);
    const taken = d.filter(q => q.taken);
    t.true(taken.length >= 1, 'cheap teleports whose held-out gain is confirmed are taken');
    for (const q of taken) t.true(q.predictedGain > q.cost);
    // Teleports applied = decisions taken, at those steps.
    const applied = run.optimizer.teleportReports.filter(r => r.accepted);
    t.deepEqual(
      applied.map(r => r.step),
      taken.map(q => q.step),
    );
    // A taken teleport followed by another decision has its gain measured.
    const measured = taken.filter(q => d.indexOf(q) < d.length - 1);
    t.true(measured.every(q => q.measuredGain == null || Number.isFinite(q.measuredGain)));
    // The cadence: each decision's nextIn is the gap to the next one.
    for (let i = 0; i + 1 < d.length; i++) t.is(d[i + 1].step - d[i].step, d[i].nextIn);
    run.optimizer.dispose();
    run.model.dispose();
    run.dispose();
  },
);

test.serial('expensive teleports: after the first, nothing is taken, the cadence doubles, and it stops after five that did not pay', async t => {
  let now = 0;
  // Each teleport costs a million clock units: far more than any gain in steps.
  const run = await train(
    () => ++now,
    160,
    () => {
      now += 1e6;
    },
  );
  const d = run.optimizer.scheduleDecisions;
  t.log(d.map(q => `${q.step}: ${q.taken ? 'taken' : 'not'} cost ${q.cost.toExponential(2)} next ${q.nextIn} ${q.reason.slice(0, 60)}`).join('\n'));
  const afterFirstTeleport = d.slice(d.findIndex(q => q.cost > 1e3) + 1);
  t.true(afterFirstTeleport.length >= 2);
  t.true(afterFirstTeleport.every(q => !q.taken));
  t.true(
    afterFirstTeleport.some(q => /≤ cost/.test(q.reason)),
    'a found element is refused for its cost',
  );
  // Back-off: the gaps between decisions grow.
  const gaps = d.slice(1).map((q, i) => q.step - d[i].step);
  t.true(gaps.at(-1)! > gaps[0], `gaps ${gaps}`);
  // It stops: the last decision says so, and no decision comes after it although training went on (160 epochs = 1280 steps).
  t.regex(d.at(-1)!.reason, /stop/);
  t.is(d.at(-1)!.nextIn, Infinity);
  t.true(d.length <= 2 + AUTO_SCHEDULE.stopAfter + 1, `${d.length} decisions`);
  run.optimizer.dispose();
  run.model.dispose();
  run.dispose();
});

test.serial("'auto' checks its options, serializes as 'auto' with the lookahead objective, and leaks no tensor", async t => {
  const model = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed: 2 });
  const noData = t.throws(() => tp.sgd(0.05, { model, schedule: 'auto' }));
  t.regex(noData!.message, /data/);
  const { x, y, tb } = data();
  const wrong = t.throws(() => tp.sgd(0.05, { model, schedule: 'auto', data: tb, objective: 'gradNorm' }));
  t.regex(wrong!.message, /lookahead/);
  const oneOffOnly = t.throws(() => tp.sgd(0.05, { model, schedule: { every: 5 }, objective: 'lookahead', data: tb, optimizer: tf.train.sgd(0.1) }));
  t.regex(oneOffOnly!.message, /one-off/);
  const opt = tp.sgd(0.05, { model, group: 'rescale', schedule: 'auto', data: tb, lookaheadSteps: 2 });
  const config = JSON.parse(JSON.stringify(opt.getConfig()));
  // The teleport options sit under the config's `teleport` key (the inner optimizer's config is the top level).
  t.is(config.teleport.schedule, 'auto');
  t.is(config.teleport.objective, 'lookahead');
  t.is(config.teleport.lookaheadSteps, 2);
  const restored = tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, config) as tp.TeleportOptimizer;
  t.deepEqual(restored.getConfig(), opt.getConfig());
  restored.dispose();
  // Tensors: a run with decisions and teleports leaves nothing behind beyond the model's own weights.
  let now = 0;
  const m2 = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed: 3 });
  const o2 = tp.sgd(0.05, { model: m2, group: 'rescale', schedule: 'auto', data: tb, clock: () => ++now });
  m2.compile({ optimizer: o2, loss: 'meanSquaredError' });
  await m2.fit(x, y, { epochs: 2, batchSize: 32, shuffle: false, verbose: 0 });
  const before = tf.memory().numTensors;
  await m2.fit(x, y, { epochs: 12, batchSize: 32, shuffle: false, verbose: 0 });
  t.true(o2.scheduleDecisions.length >= 3);
  t.is(tf.memory().numTensors, before, 'no tensor leaks across decisions and teleports');
  // A checkpoint is the inner optimizer's weights: it loads into the plain optimizer, and back; the
  // restored wrapper starts adapting afresh at the restored step (first decision one cadence later).
  const weights = await o2.getWeights();
  t.deepEqual(
    weights.map(w => w.name),
    (await o2.inner.getWeights()).map(w => w.name),
  );
  const plain = tf.train.sgd(0.05);
  await plain.setWeights(weights);
  t.is(plain.iterations, o2.step);
  const o3 = tp.sgd(0.05, { model: m2, group: 'rescale', schedule: 'auto', data: tb, clock: () => ++now });
  await o3.setWeights(await plain.getWeights());
  const resumedAt = o3.step;
  m2.compile({ optimizer: o3, loss: 'meanSquaredError' });
  await m2.fit(x, y, { epochs: 4, batchSize: 32, shuffle: false, verbose: 0 });
  t.is(o3.scheduleDecisions[0]?.step, resumedAt + AUTO_SCHEDULE.minEvery);
  o3.dispose();
  plain.dispose();
  o2.dispose();
  opt.dispose();
  m2.dispose();
  model.dispose();
  tf.dispose([x, y, tb.x, tb.y]);
});
