/**
 * `schedule: 'auto'` probes before it searches (issue 21, cheap decisions): one evaluation of the
 * lookahead objective at the current weights predicts a search's gain; when that cannot pay a
 * search's cost the search is skipped. Evaluations are counted by a spy objective (the lookahead
 * objective itself, wrapped), independently of what the optimizer reports; a teleport 'auto' takes is
 * checked by a plain tf.train.sgd step on the held-out rows.
 */
import test from 'ava';
import { tf, type tfl, useCpu, mlp, teacherData } from '../helpers.js';
import * as tp from '../../src/index.js';
import { lookahead } from '../../src/objectives/lookahead.js';
import { AUTO_SCHEDULE } from '../../src/optimizers/auto_schedule.js';

test.before(useCpu);

/** The spy: lookahead, with every evaluation counted, an optional cost added to the clock, and the weights it starts from. */
const spy = { evaluations: 0, onEvaluate: () => {}, lastWeights: [] as Float32Array[] };
tp.registerObjective({
  ...lookahead,
  name: 'spiedLookahead',
  value: ctx => {
    spy.lastWeights = ctx.params.map(p => p.dataSync().slice() as Float32Array);
    const f = lookahead.value(ctx);
    return thetas => {
      spy.evaluations++;
      spy.onEvaluate();
      return f(thetas);
    };
  },
});

const data = teacherData;

async function train(clock: () => number, epochs: number, onTeleport?: (r: tp.TeleportReport, model: tfl.LayersModel) => void) {
  const { x, y, tb } = data();
  const model = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed: 2 });
  const optimizer = tp.sgd(0.05, {
    model,
    group: 'rescale',
    schedule: 'auto',
    objective: 'spiedLookahead',
    data: tb,
    clock,
    onTeleport: r => onTeleport?.(r, model),
  } as tp.TeleportOptimizerOptions);
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const before = tf.memory().numTensors;
  await model.fit(x, y, { epochs, batchSize: 32, shuffle: false, verbose: 0 });
  const leaked = tf.memory().numTensors - before;
  return { model, optimizer, tb, leaked, dispose: () => tf.dispose([x, y, tb.x, tb.y]) };
}

test.serial('a probe that predicts less than a search costs skips the search: one evaluation per decision, no teleport', async t => {
  spy.evaluations = 0;
  let now = 0;
  // Evaluations are dear on this clock (10⁴ units each, a step 1): a search of ~13 evaluations costs
  // about 10⁵ steps, more than any gain over a cadence of ≤ 1280 steps.
  spy.onEvaluate = () => {
    now += 1e4;
  };
  const run = await train(() => ++now, 90);
  spy.onEvaluate = () => {};
  const d = run.optimizer.scheduleDecisions;
  t.log(d.map(q => `${q.step}: probed ${q.probedGain.toPrecision(3)} cost ${q.cost.toPrecision(3)} next ${q.nextIn} ${q.reason.slice(0, 50)}`).join('\n'));
  const probed = d.filter(q => Number.isFinite(q.probedGain));
  t.true(probed.length >= 3, `${probed.length} probed decisions`);
  for (const q of probed) {
    t.false(q.taken);
    t.regex(q.reason, /^probe: predicted gain .* ≤ cost of a search/);
    t.true(q.probedGain <= q.cost);
    t.true(Number.isNaN(q.predictedGain), 'no search ran, so no held-out gain');
  }
  // Counted by the spy: exactly one evaluation per probed decision, nothing searched, nothing reported.
  t.is(spy.evaluations, probed.length);
  t.is(run.optimizer.teleportReports.length, 0);
  // The estimate before any search: the probe's setup plus 12 more evaluations of 10⁴ each, in steps of ~1-2 units.
  t.true(probed[0].cost > (12 * 1e4) / 3, `cost ${probed[0].cost}`);
  // Back-off as before: the gaps double, and it stops after stopAfter decisions that did not pay.
  const gaps = d.slice(1).map((q, i) => q.step - d[i].step);
  t.deepEqual(gaps.slice(0, 3), [20, 40, 80]);
  t.regex(d.at(-1)!.reason, /stop/);
  t.is(probed.length, AUTO_SCHEDULE.stopAfter);
  t.is(run.leaked, 0, 'no tensor leaks across probes');
  run.optimizer.dispose();
  run.model.dispose();
  run.dispose();
});

/** Mean squared error on (x, y) after one plain tf.train.sgd(lr) step on (x, y) from `weights`. */
function afterPlainStep(model: tfl.LayersModel, weights: readonly Float32Array[], x: tf.Tensor, y: tf.Tensor, lr: number): { start: number; end: number } {
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const saved = vars.map(v => v.clone());
  vars.forEach((v, i) => v.assign(tf.tensor(weights[i], v.shape)));
  const mse = () => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar;
  const start = tf.tidy(() => mse().dataSync()[0]);
  const plain = tf.train.sgd(lr);
  plain.minimize(mse, false, vars);
  const end = tf.tidy(() => mse().dataSync()[0]);
  plain.dispose();
  vars.forEach((v, i) => v.assign(saved[i]));
  tf.dispose(saved);
  return { start, end };
}

test.serial("a teleport 'auto' takes after its probe is confirmed by a plain tf.train.sgd step on the held-out rows", async t => {
  // The held-out rows: the teleport batch's second half (rows 64-127 of the same seeded data).
  const same = data();
  const heldX = tf.slice(same.tb.x, [64, 0], [64, 8]);
  const heldY = tf.slice(same.tb.y, [64, 0], [64, 4]);
  tf.dispose([same.x, same.y, same.tb.x, same.tb.y]);
  spy.evaluations = 0;
  let now = 0;
  const checks: Array<{ report: tp.TeleportReport; fromW: number; fromG: number; lossW: number; lossG: number }> = [];
  const run = await train(
    () => ++now,
    40,
    (r, model) => {
      if (!r.accepted) return;
      // w: the weights the objective saw (the spy's snapshot, taken by the search); g·w: the model's weights now.
      const gw = model.trainableWeights.map(w => (w.read() as tf.Tensor).dataSync().slice() as Float32Array);
      const fromW = afterPlainStep(model, spy.lastWeights, heldX, heldY, 0.05);
      const fromG = afterPlainStep(model, gw, heldX, heldY, 0.05);
      checks.push({ report: r, fromW: fromW.start - fromW.end, fromG: fromG.start - fromG.end, lossW: fromW.start, lossG: fromG.start });
    },
  );
  const d = run.optimizer.scheduleDecisions;
  t.log(
    d
      .map(
        q =>
          `${q.step}: ${q.taken ? 'taken' : 'not'} probed ${q.probedGain.toPrecision(3)} held-out ${q.predictedGain.toPrecision(3)} cost ${q.cost.toPrecision(3)}`,
      )
      .join('\n'),
  );
  t.true(checks.length >= 1, 'on a cheap clock the probe lets searches run and a teleport is taken');
  for (const c of checks) {
    const decision = d.find(q => q.step === c.report.step)!;
    t.true(decision.taken && decision.probedGain > 0, 'taken after a probe that predicted a gain');
    t.true(Math.abs(c.lossG - c.lossW) <= 1e-5 * Math.max(1, c.lossW), 'rescale keeps the loss');
    t.true(c.fromG > c.fromW, `one SGD step decreases the held-out loss more from g·w (${c.fromG}) than from w (${c.fromW})`);
    // The report's measurements are these, recomputed independently.
    t.true(Math.abs(c.fromW - c.report.heldOutBefore!) <= 1e-4 * Math.abs(c.fromW) + 1e-7, `${c.fromW} vs ${c.report.heldOutBefore}`);
    t.true(Math.abs(c.fromG - c.report.heldOutAfter!) <= 1e-4 * Math.abs(c.fromG) + 1e-7, `${c.fromG} vs ${c.report.heldOutAfter}`);
  }
  t.is(run.leaked, 0);
  tf.dispose([heldX, heldY]);
  run.optimizer.dispose();
  run.model.dispose();
  run.dispose();
});
