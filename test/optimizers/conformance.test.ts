/**
 * One conformance matrix, in the spirit of optax's alias tests: every optimizer × every group × the
 * objectives that apply to it, each cell checked for the same five properties —
 *   1. θ = 0 is the identity (every site action returns the parameters it was given);
 *   2. a teleport keeps the loss on its batch within the guard (recomputed here from model.predict);
 *   3. the objective moved the asked way (the gradient norms recomputed here by autodiff);
 *   4. tf.memory().numTensors is flat across steps with teleports;
 *   5. the wrapper's checkpoint loads into the plain tf.train optimizer and back, unchanged.
 * A new optimizer, group or objective joins the matrix by one row in the tables below.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import * as tp from '../../src/index.js';
import * as tpMetrics from '../../src/metrics.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { mlp, seededUniform, useCpu } from '../helpers.js';

test.before(useCpu);

type Factory = (options: tp.TeleportOptimizerOptions) => tp.TeleportOptimizer;
type Plain = () => tf.Optimizer;

/** The five wrapped optimizers, with the plain tfjs optimizer each wraps (same hyperparameters). */
const OPTIMIZERS: Array<{ name: string; wrapped: Factory; plain: Plain }> = [
  { name: 'sgd', wrapped: o => tp.sgd(0.05, o), plain: () => tf.train.sgd(0.05) },
  { name: 'momentum', wrapped: o => tp.momentum(0.05, 0.9, o), plain: () => tf.train.momentum(0.05, 0.9) },
  { name: 'adagrad', wrapped: o => tp.adagrad(0.05, o), plain: () => tf.train.adagrad(0.05) },
  { name: 'rmsprop', wrapped: o => tp.rmsprop(0.01, o), plain: () => tf.train.rmsprop(0.01) },
  { name: 'adam', wrapped: o => tp.adam(0.01, o), plain: () => tf.train.adam(0.01) },
];

/**
 * Each group on a model it applies to. Batch size 4 keeps the data-dependent actions exact (gl-data
 * needs n ≤ d_in + 1 = 5; gl-pinv needs n ≤ h = 6).
 */
const GROUPS: Array<{ group: string; model: () => tfl.LayersModel; exact: boolean; heldOut?: number }> = [
  { group: 'rescale', model: () => mlp({ input: 4, widths: [6, 5], activation: 'relu', output: 3, seed: 11 }), exact: true },
  { group: 'gl', model: () => mlp({ input: 4, widths: [6], activation: 'linear', output: 3, seed: 12 }), exact: true },
  { group: 'auto', model: () => mlp({ input: 4, widths: [6, 5], activation: 'relu', output: 3, seed: 13 }), exact: true },
  { group: 'gl-data', model: () => mlp({ input: 4, widths: [6], leakyLayer: true, alpha: 0.2, output: 3, seed: 14 }), exact: false },
  { group: 'gl-pinv', model: () => mlp({ input: 4, widths: [6], leakyLayer: true, alpha: 0.2, output: 3, seed: 15 }), exact: false },
  // nullspace builds its null space from the first 3 rows and holds the last ⌊4/4⌋ = 1 out (heldOutFraction).
  { group: 'nullspace', model: () => mlp({ input: 4, widths: [6], activation: 'tanh', output: 3, seed: 16 }), exact: false, heldOut: 1 },
];

/** The gradient-norm objectives apply to every group; the curvature of the orbit needs a linear (Lie-algebra) action. */
const OBJECTIVES: Array<{ objective: string; direction: 'maximize' | 'minimize'; appliesTo: (group: string) => boolean }> = [
  { objective: 'gradNorm', direction: 'maximize', appliesTo: () => true },
  { objective: 'preconditionedGradNorm', direction: 'maximize', appliesTo: () => true },
  { objective: 'curvature', direction: 'minimize', appliesTo: g => g === 'rescale' || g === 'gl' || g === 'auto' },
];

const BATCH = { x: seededUniform([4, 4], 101), y: seededUniform([4, 3], 102) };

/**
 * The training loss (meanSquaredError) on the batch, from the model's own predict: independent of the
 * library's loss code. `rows`: the first rows only (those a batch-exact action is built from).
 */
function lossOf(model: tfl.LayersModel, rows = 4): number {
  return tf.tidy(() => {
    const x = tf.slice(BATCH.x, 0, rows);
    const y = tf.slice(BATCH.y, 0, rows);
    return tf.mean(tf.square(tf.sub(model.predict(x) as tf.Tensor, y))).dataSync()[0];
  });
}

/** ‖∇L‖² over every trainable weight, by autodiff of the loss above. */
function gradNormSqOf(model: tfl.LayersModel): number {
  return tf.tidy(() => {
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(model.predict(BATCH.x) as tf.Tensor, BATCH.y))) as tf.Scalar, vars);
    return tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g)))).dataSync()[0];
  });
}

function compiled(model: tfl.LayersModel, optimizer: tf.Optimizer): tfl.LayersModel {
  model.compile({ optimizer, loss: 'meanSquaredError' });
  return model;
}

const maxAbsDiff = (a: readonly tf.Tensor[], b: readonly tf.Tensor[]) =>
  Math.max(...a.map((t, i) => tf.tidy(() => tf.max(tf.abs(tf.sub(t, b[i]))).dataSync()[0])));

// 1. θ = 0 is the identity, for every group (the optimizer does not enter).
for (const { group, model: make } of GROUPS) {
  test(`identity: every '${group}' site action at θ = 0 returns the parameters`, t => {
    const model = make();
    const params = model.trainableWeights.map(w => w.read());
    const plan = planTeleport(readModel(model), group);
    const actions = plan.build(params, BATCH.x);
    const moved = tf.tidy(() => {
      let p: tf.Tensor[] = params.slice();
      for (const a of actions) p = a.act(p, tf.zerosLike(a.init(() => 0.5)));
      return p.map(x => tf.keep(x.clone()));
    });
    const diff = maxAbsDiff(moved, params);
    tf.dispose(moved);
    actions.forEach(a => a.dispose?.());
    // Exact actions are exactly the identity; the data-dependent ones go through a pseudo-inverse.
    t.true(diff <= 1e-5, `max |act(w, 0) − w| = ${diff}`);
    model.dispose();
  });
}

// 2 + 3 + 4: every optimizer × group × objective that applies, in a minimize loop with teleports.
for (const opt of OPTIMIZERS) {
  for (const { group, model: make, exact, heldOut = 0 } of GROUPS) {
    for (const { objective, direction, appliesTo } of OBJECTIVES) {
      if (!appliesTo(group)) continue;
      test(`${opt.name} × ${group} × ${objective}: drift within the guard, objective moved ${direction === 'maximize' ? 'up' : 'down'} or rejected, tensors flat`, async t => {
        const model = make();
        const reports: tp.TeleportReport[] = [];
        const maxLossDrift = 1e-3;
        const optimizer = opt.wrapped({
          model,
          group,
          objective,
          direction,
          maxLossDrift,
          schedule: { every: 3 },
          data: exact ? undefined : BATCH,
          gradientSource: exact ? 'step' : undefined,
          onTeleport: r => reports.push(r),
        });
        compiled(model, optimizer);
        const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
        const step = () => optimizer.minimize(() => tf.mean(tf.square(tf.sub(model.predict(BATCH.x) as tf.Tensor, BATCH.y))) as tf.Scalar, false, vars);

        // Scheduled teleports (steps 3, 6, 9): none fails numerically, each accepted one within the guard.
        step(); // slots exist from here on
        const baseline = tf.memory().numTensors;
        for (let s = 1; s < 10; s++) step();
        t.is(reports.length, 3, 'teleports at steps 3, 6 and 9');
        for (const report of reports) {
          t.not(report.rejection, 'not-finite', report.reason);
          if (report.accepted && report.relativeLossDrift != null)
            t.true(Math.abs(report.relativeLossDrift) <= maxLossDrift, `reported drift ${report.relativeLossDrift}`);
        }
        t.is(tf.memory().numTensors, baseline, 'numTensors flat across 9 steps with 3 teleports');

        // A one-off teleport of the same cell, measured independently before and after.
        const loss0 = lossOf(model, 4 - heldOut);
        const gn0 = gradNormSqOf(model);
        // ψ on the same random curves as the teleport's (seed 0 on both), through the metrics entry point.
        const psi = () => (objective === 'curvature' ? tpMetrics.curvature(model, null, { group, seed: 0 }) : NaN);
        const psi0 = psi();
        const weights0 = model.getWeights().map(w => w.clone());
        const oneOffObjective = objective === 'preconditionedGradNorm' ? 'gradNorm' : objective; // no inner optimizer on the one-off route
        const report = await tp.teleport(model, BATCH, { group, objective: oneOffObjective, direction, maxLossDrift, steps: 5, seed: 0 });
        const loss1 = lossOf(model, 4 - heldOut);
        const gn1 = gradNormSqOf(model);
        if (report.accepted) {
          t.true(Math.abs(loss1 - loss0) / loss0 <= maxLossDrift * 1.01, `loss ${loss0} → ${loss1} (recomputed)`);
          // The held-out rows may change, within the held-out guard.
          if (heldOut > 0) t.true(report.heldOutOutputChange! <= tp.DEFAULTS.maxHeldOutChange, `held-out change ${report.heldOutOutputChange}`);
          if (objective === 'curvature') t.true(psi() < psi0, `ψ ${psi0} → ${psi()} should fall when minimizing`);
          else t.true(gn1 > gn0, `‖∇L‖² ${gn0} → ${gn1} (recomputed by autodiff) should rise when maximizing`);
          t.true(maxAbsDiff(model.getWeights(), weights0) > 0, 'an accepted teleport moved the weights');
        } else {
          // A rejected teleport leaves the weights bit-identical.
          t.is(maxAbsDiff(model.getWeights(), weights0), 0, `rejected (${report.reason}) but weights changed`);
        }
        tf.dispose(weights0);
        t.log(`${reports.filter(r => r.accepted).length} of 3 scheduled teleports accepted; one-off: ${report.accepted ? 'accepted' : report.rejection}`);
        model.dispose();
        optimizer.dispose();
      });
    }
  }
}

// 5. Checkpoint round trip, every optimizer: wrapper → plain tf.train → wrapper, slot values unchanged.
for (const opt of OPTIMIZERS) {
  test(`${opt.name}: checkpoint round trip wrapper → plain → wrapper keeps every slot and the clock`, async t => {
    const model = mlp({ input: 4, widths: [6, 5], activation: 'relu', output: 3, seed: 21 });
    const optimizer = opt.wrapped({ model, group: 'rescale', schedule: { every: 2 } });
    compiled(model, optimizer);
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
    for (let s = 0; s < 5; s++) optimizer.minimize(() => tf.mean(tf.square(tf.sub(model.predict(BATCH.x) as tf.Tensor, BATCH.y))) as tf.Scalar, false, vars);
    const saved = await optimizer.getWeights();
    const plain = opt.plain();
    await plain.setWeights(saved);
    const viaPlain = await plain.getWeights();
    const back = opt.wrapped({ model, group: 'rescale', schedule: { every: 2 } });
    await back.setWeights(viaPlain);
    const restored = await back.getWeights();
    t.deepEqual(
      restored.map(w => w.name),
      saved.map(w => w.name),
    );
    t.is(back.step, 5);
    t.is(
      maxAbsDiff(
        restored.map(w => w.tensor),
        saved.map(w => w.tensor),
      ),
      0,
    );
    model.dispose();
    optimizer.dispose();
    plain.dispose();
    back.dispose();
  });
}
