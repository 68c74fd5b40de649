/**
 * The 'lookahead' objective (issue 21 §1): its model of the next step against real steps of the plain
 * tf.train optimizers, its held-out guard, and the one-off route. Every expected value is recomputed
 * here by an independent loop of a plain tf.train optimizer on copies of the weights.
 */
import test from 'ava';
import { tf, type tfl, useCpu, mlp, seededUniform, relDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { lookahead } from '../../src/objectives/lookahead.js';
import { innerStepOf, slotPositions } from '../../src/optimizers/inner_state.js';
import type { ObjectiveContext } from '../../src/objectives/types.js';

test.before(useCpu);

type Loss = (ps: readonly tf.Tensor[]) => tf.Scalar;

/** The MSE of `model` on (x, y) as a pure function of its trainable weights (the package's structure forward). */
function lossOf(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): Loss {
  return new tpAdvanced.Teleporter({ model, loss: 'meanSquaredError' }, 'teleport').lossOn({ x, y })!;
}

/**
 * The loss after `k` steps of a plain tf.train optimizer from `start`, its slots loaded from `slots`
 * (an optimizer's getWeights, in variable order), stepped on the model's own variables through
 * tfjs-layers' forward pass and tf.variableGrads: the independent reference. The weights are restored.
 */
async function lossAfterRealSteps(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  make: () => tf.Optimizer,
  slots: Array<{ name: string; tensor: tf.Tensor }> | null,
  start: readonly tf.Tensor[],
  k: number,
): Promise<number> {
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const saved = vars.map(v => v.clone());
  vars.forEach((v, i) => v.assign(start[i]));
  const mse = () => tf.mean(tf.square(tf.sub(y, model.apply(x) as tf.Tensor))) as tf.Scalar;
  const opt = make();
  if (slots) await opt.setWeights(slots.map(s => ({ name: s.name, tensor: s.tensor.clone() })));
  for (let i = 0; i < k; i++) {
    const { grads, value } = tf.variableGrads(mse, vars);
    opt.applyGradients(vars.map(v => ({ name: v.name, tensor: grads[v.name] })));
    tf.dispose([value, ...Object.values(grads)]);
  }
  const out = tf.tidy(() => mse().dataSync()[0]);
  vars.forEach((v, i) => v.assign(saved[i]));
  tf.dispose(saved);
  opt.dispose();
  return out;
}

/** Rescales a relu pair by λ by hand: kernel columns and bias × λ, next kernel rows ÷ λ (slots: gradients ÷ λ and × λ, second moments squared). */
function rescaleByHand(ws: readonly tf.Tensor[], lambda: tf.Tensor1D, kind: 'weight' | 'gradient' | 'squared'): tf.Tensor[] {
  const up = kind === 'weight' ? lambda : kind === 'gradient' ? tf.reciprocal(lambda) : tf.reciprocal(tf.square(lambda));
  const down = tf.reciprocal(up);
  // Layers 0 (kernel [in, h], bias [h]) and 1 (kernel [h, h2]) of the first pair.
  return ws.map((w, i) => (i === 0 || i === 1 ? tf.mul(w, up) : i === 2 ? tf.mul(w, tf.reshape(down, [-1, 1])) : w.clone()));
}

function contextFor(model: tfl.LayersModel, loss: Loss, optimizer: tf.Optimizer, k: number): ObjectiveContext {
  const s = readModel(model);
  // The first pair only: the hand rescale above mirrors it.
  const site = planTeleport(s, 'rescale');
  const actions = site.build(s.variables).filter(a => a.touches.includes(0));
  const params = s.variables;
  return {
    actions,
    params,
    touched: [...new Set(actions.flatMap(a => a.touches))],
    route: 'evaluate',
    gradient: null,
    loss,
    preconditioner: null,
    options: { lookaheadSteps: k },
    // As inside a teleporting optimizer: the state moves with the weights (checked against slots moved by hand).
    innerStep: innerStepOf(optimizer, params, slotPositions(optimizer, params), true),
    heldOut: null,
    gradientAt: () => {
      throw new Error('not used');
    },
  };
}

const cases: Array<{ name: string; make: () => tf.Optimizer; warm: number; k: number; tol: number }> = [
  { name: 'SGD 0.05, k = 1 (second-order model)', make: () => tf.train.sgd(0.05), warm: 0, k: 1, tol: 0.03 },
  { name: 'Adam 0.003 after 3 steps, k = 1 (second-order model)', make: () => tf.train.adam(0.003), warm: 3, k: 1, tol: 0.05 },
  { name: 'momentum 0.02 after 2 steps, k = 3 (unrolled)', make: () => tf.train.momentum(0.02, 0.9), warm: 2, k: 3, tol: 1e-3 },
  { name: 'Adam 0.01 after 3 steps, k = 4 (unrolled)', make: () => tf.train.adam(0.01), warm: 3, k: 4, tol: 1e-3 },
];

for (const c of cases) {
  test.serial(`lookahead Δ at w and at g·w matches real steps of the plain optimizer: ${c.name}`, async t => {
    const model = mlp({ input: 6, widths: [8, 5], activation: 'relu', output: 3, seed: 4 });
    const x = seededUniform([16, 6], 11);
    const y = seededUniform([16, 3], 12);
    const loss = lossOf(model, x, y);
    const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
    const opt = c.make();
    for (let i = 0; i < c.warm; i++) opt.minimize(() => loss(vars), false, vars);
    const slots = c.warm > 0 ? await opt.getWeights() : null;
    const lambda = tf.tensor1d([3, 0.4, 2, 0.3, 4, 1, 0.5, 2.5]);
    const theta = tf.log(lambda);
    const before = tf.memory().numTensors;
    const ctx = contextFor(model, loss, opt, c.k);
    const value = lookahead.value(ctx);
    const thetas = ctx.actions.map(() => theta);
    const modelAtW = tf.tidy(() => value([tf.zerosLike(theta)]).dataSync()[0]);
    const modelAtG = tf.tidy(() => value(thetas).dataSync()[0]);
    ctx.innerStep!.dispose();
    ctx.actions.forEach(a => a.dispose?.());
    t.is(tf.memory().numTensors, before, 'the objective keeps no tensor');

    const l0 = tf.tidy(() => loss(vars).dataSync()[0]);
    const realAtW = l0 - (await lossAfterRealSteps(model, x, y, c.make, slots, vars, c.k));
    // At g·w: the weights and the optimizer's slots moved by hand (iter stays first).
    const moved = rescaleByHand(vars, lambda, 'weight');
    const movedSlots =
      slots == null
        ? null
        : [
            slots[0],
            ...slots.slice(1).map((s, i) => {
              const n = vars.length;
              const block = Math.floor(i / n);
              const kind = c.name.startsWith('Adam') && block === 1 ? 'squared' : 'gradient';
              const j = i % n;
              const parts = vars.map((v, q) => (q === j ? s.tensor : tf.zerosLike(v)));
              return { name: s.name, tensor: rescaleByHand(parts, lambda, kind)[j] };
            }),
          ];
    t.true(
      relDiff(
        tf.tidy(() => loss(moved).dataSync()[0]),
        l0,
      ) < 1e-5,
      'the hand rescale keeps the loss',
    );
    const realAtG = l0 - (await lossAfterRealSteps(model, x, y, c.make, movedSlots, moved, c.k));
    t.true(relDiff(modelAtW, realAtW) < c.tol, `at w: model ${modelAtW} vs real ${realAtW}`);
    t.true(relDiff(modelAtG, realAtG) < c.tol, `at g·w: model ${modelAtG} vs real ${realAtG}`);
    t.log(`${c.name}: real ${realAtW.toExponential(4)} → ${realAtG.toExponential(4)}, model ${modelAtW.toExponential(4)} → ${modelAtG.toExponential(4)}`);
    // Not vacuous: the element changes the decrease, and the model predicts that change.
    t.true(Math.abs(realAtG - realAtW) > 0.02 * Math.abs(realAtW), 'the element changes the decrease');
    t.true(Math.abs(modelAtG - modelAtW - (realAtG - realAtW)) < 0.2 * Math.abs(realAtG - realAtW), 'the model predicts the change');
  });
}

test.serial("one-off 'lookahead' without an optimizer is an error that names the fix; with one, its state is read, never changed", async t => {
  const model = mlp({ input: 6, widths: [8, 5], activation: 'relu', output: 3, seed: 4 });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([16, 6], 11);
  const y = seededUniform([16, 3], 12);
  const before = model.getWeights().map(w => w.clone());
  const err = await t.throwsAsync(() => tp.teleport(model, { x, y }, { objective: 'lookahead', group: 'rescale' }));
  t.true(err instanceof tp.TeleportError && err.kind === 'bad-option');
  t.regex(err!.message, /optimizer/);
  model.getWeights().forEach((w, i) =>
    t.is(
      tf.tidy(() => tf.max(tf.abs(tf.sub(w, before[i]))).dataSync()[0]),
      0,
    ),
  );

  const adam = tf.train.adam(0.01);
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const loss = lossOf(model, x, y);
  for (let i = 0; i < 3; i++) adam.minimize(() => loss(vars), false, vars);
  const state = (await adam.getWeights()).map(s => ({ name: s.name, value: Array.from(s.tensor.dataSync()) }));
  const report = await tp.teleport(model, { x, y }, { objective: 'lookahead', group: 'rescale', optimizer: adam });
  t.is(report.objective, 'lookahead');
  t.true(Number.isFinite(report.heldOutBefore!) && Number.isFinite(report.heldOutAfter!), 'the report gives both measured decreases');
  const after = await adam.getWeights();
  t.deepEqual(
    after.map(s => ({ name: s.name, value: Array.from(s.tensor.dataSync()) })),
    state,
    "the optimizer's state is unchanged",
  );
});

// Every optimizer × group with the lookahead objective in a minimize loop: no numerical failure, the
// report carries both held-out decreases, accepted ones beat w by more than the noise, tensors flat.
const WRAPPED: Array<[string, (o: tp.TeleportOptimizerOptions) => tp.TeleportOptimizer]> = [
  ['sgd', o => tp.sgd(0.05, o)],
  ['momentum', o => tp.momentum(0.05, 0.9, o)],
  ['adagrad', o => tp.adagrad(0.05, o)],
  ['rmsprop', o => tp.rmsprop(0.01, o)],
  ['adam', o => tp.adam(0.01, o)],
];
const LOOKAHEAD_GROUPS: Array<[string, () => tfl.LayersModel]> = [
  ['rescale', () => mlp({ input: 8, widths: [6, 5], activation: 'relu', output: 3, seed: 21 })],
  ['gl', () => mlp({ input: 8, widths: [6], activation: 'linear', output: 3, seed: 22 })],
  // 8 search rows ≤ d_in + 1 = 9 keeps the data-dependent action exact on them.
  ['gl-data', () => mlp({ input: 8, widths: [6], leakyLayer: true, alpha: 0.2, output: 3, seed: 23 })],
];
for (const [optName, wrapped] of WRAPPED) {
  for (const [group, make] of LOOKAHEAD_GROUPS) {
    test.serial(`${optName} × ${group} × lookahead (k = 2): reports both held-out decreases, accepts only measured gains, tensors flat`, t => {
      const model = make();
      const x = seededUniform([16, 8], 31);
      const y = seededUniform([16, 3], 32);
      const reports: tp.TeleportReport[] = [];
      const optimizer = wrapped({
        model,
        group,
        objective: 'lookahead',
        lookaheadSteps: 2,
        schedule: { every: 3 },
        data: { x, y },
        onTeleport: r => reports.push(r),
      });
      model.compile({ optimizer, loss: 'meanSquaredError' });
      const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
      const step = () => optimizer.minimize(() => tf.mean(tf.square(tf.sub(model.predict(x) as tf.Tensor, y))) as tf.Scalar, false, vars);
      step();
      const baseline = tf.memory().numTensors;
      for (let s = 1; s < 10; s++) step();
      t.is(tf.memory().numTensors, baseline, 'numTensors flat across 9 steps with 3 teleports');
      t.is(reports.length, 3);
      for (const r of reports) {
        t.not(r.rejection, 'not-finite', r.reason);
        // Refused on the search half (no element improved it, e.g. a search stopped by the stall rule): no held-out steps are spent.
        if (r.rejection === 'growth' || r.ascentSteps === 0 || /no group element improved/.test(r.reason ?? '')) continue;
        t.true(Number.isFinite(r.heldOutBefore!) && Number.isFinite(r.heldOutAfter!), JSON.stringify(r));
        if (r.accepted) t.true(r.heldOutAfter! - r.heldOutBefore! > 2 * r.heldOutStderr!);
      }
      optimizer.dispose();
      model.dispose();
      tf.dispose([x, y]);
    });
  }
}
