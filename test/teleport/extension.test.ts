/**
 * Extending the library from outside src/: an objective registered here, by its traits alone, is
 * handed the inner optimizer's preconditioner by a teleporting optimizer and is listed by the CLI.
 */
import test from 'ava';
import yargs from 'yargs';
import { tf, useCpu, mlp, seededUniform } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpGroups from '../../src/groups.js';
import * as tpProblems from '../../src/problems.js';
import { compareOptions } from '../../examples/commands/compare.js';
import { optionChecks } from '../../src/core/checks.js';
import { resolveSettings as settingsOf } from '../../src/teleport/options.js';

test.before(useCpu);

/** What the objective saw at each teleport: per parameter, the preconditioner's values (or null). */
type Seen = Array<Array<Float32Array | null> | null>;

/**
 * ‖∇L(g·w)‖²_A written here, from the public types only; it records the preconditioner each
 * teleport handed it. `family` stays 'other': no solver may treat it as a built-in gradient norm.
 */
function recordingObjective(name: string, usesPreconditioner: boolean, seen: Seen): tp.Objective {
  return {
    name,
    description: 'a test objective that records its preconditioner',
    needs: 'gradient',
    usesPreconditioner,
    value: ctx => {
      seen.push(ctx.preconditioner == null ? null : ctx.preconditioner.map(a => (a == null ? null : Float32Array.from(a.dataSync()))));
      const weights = ctx.preconditioner;
      return thetas =>
        tf.tidy(() => {
          const g = ctx.gradientAt(thetas);
          const terms = g.map((gi, i) => (gi == null ? tf.scalar(0) : tf.sum(weights?.[i] != null ? tf.mul(weights[i]!, tf.square(gi)) : tf.square(gi))));
          return tf.addN(terms) as tf.Scalar;
        });
    },
  };
}

const x = () => seededUniform([16, 6], 11);
const y = () => seededUniform([16, 3], 12);
const TELEPORT_AT = 4;

/** `steps` calls of minimize on the model's mean squared error over one fixed batch. */
function train(model: ReturnType<typeof mlp>, optimizer: tf.Optimizer, steps: number): tf.Variable[] {
  const [xs, ys] = [x(), y()];
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  for (let k = 0; k < steps; k++) {
    optimizer.minimize(() => tf.losses.meanSquaredError(ys, model.apply(xs) as tf.Tensor) as tf.Scalar, false, vars);
  }
  tf.dispose([xs, ys]);
  return vars;
}

test('an objective registered from a test file with usesPreconditioner gets the inner Adam preconditioner (ε + √v̂)⁻¹, recomputed from a plain Adam', async t => {
  const seen: Seen = [];
  tp.registerObjective(recordingObjective('testPreconditionedNorm', true, seen));
  const beta2 = 0.999;
  const epsilon = 1e-7;

  // The independent reference: plain tf.train.adam, same model and data, TELEPORT_AT steps; its second moments v.
  const plain = tf.train.adam(0.01, 0.9, beta2, epsilon);
  const refModel = mlp({ seed: 5 });
  const refVars = train(refModel, plain, TELEPORT_AT);
  const v = new Map((await plain.getWeights()).filter(w => w.name.endsWith('/v')).map(w => [w.name.slice(0, -2), w.tensor.dataSync()]));
  const expected = refVars.map(variable => {
    const vi = v.get(variable.name);
    if (vi == null) return null;
    const correction = 1 - beta2 ** TELEPORT_AT;
    return Float32Array.from(vi, s => 1 / (Math.sqrt(s / correction) + epsilon));
  });

  const before = tf.memory().numTensors;
  const model = mlp({ seed: 5 });
  const optimizer = tp.adam(0.01, 0.9, beta2, epsilon, {
    model,
    group: 'rescale',
    objective: 'testPreconditionedNorm',
    schedule: { atSteps: [TELEPORT_AT] },
    steps: 2,
  });
  // Steps 0…TELEPORT_AT−1 are plain Adam's; the teleport runs inside step TELEPORT_AT, before its update.
  train(model, optimizer, TELEPORT_AT + 1);
  t.is(optimizer.teleportReports.length, 1);
  t.is(optimizer.teleportReports[0].objective, 'testPreconditionedNorm');
  t.is(seen.length, 1, 'the objective was built once, for the one teleport');
  const got = seen[0];
  t.truthy(got, 'the optimizer handed the objective a preconditioner');
  // Entries where the group acts carry the preconditioner; they match the plain Adam's, recomputed.
  let compared = 0;
  got!.forEach((a, i) => {
    if (a == null) return;
    const e = expected[i]!;
    t.is(a.length, e.length);
    let worst = 0;
    for (let j = 0; j < a.length; j++) worst = Math.max(worst, Math.abs(a[j] - e[j]) / Math.abs(e[j]));
    t.true(worst < 1e-4, `parameter ${i}: relative difference ${worst}`);
    compared++;
  });
  t.true(compared >= 3, `compared ${compared} parameters (the rescaled kernels and biases)`);
  optimizer.dispose();
  plain.dispose();
  model.dispose();
  refModel.dispose();
  t.true(tf.memory().numTensors <= before, `tensors ${before} → ${tf.memory().numTensors}`);
});

test('an objective without usesPreconditioner gets none, with the same inner Adam', t => {
  const seen: Seen = [];
  tp.registerObjective(recordingObjective('testPlainNorm', false, seen));
  const model = mlp({ seed: 5 });
  const optimizer = tp.adam(0.01, { model, group: 'rescale', objective: 'testPlainNorm', schedule: { atSteps: [2] }, steps: 2 });
  train(model, optimizer, 3);
  t.is(optimizer.teleportReports.length, 1);
  t.deepEqual(seen, [null]);
  optimizer.dispose();
  model.dispose();
});

test("the CLI's --objective lists an objective registered before its flags are built, and rejects one that is not", t => {
  tp.registerObjective(recordingObjective('testCliNorm', true, []));
  t.true(tp.objectiveNames().includes('testCliNorm'));
  const parser = () =>
    compareOptions(yargs([]))
      .exitProcess(false)
      .fail(msg => {
        throw new Error(msg);
      });
  const choices = (parser() as unknown as { getOptions(): { choices: Record<string, string[]> } }).getOptions().choices.objective;
  t.true(choices.includes('testCliNorm'), `choices: ${choices.join(', ')}`);
  for (const builtIn of tpAdvanced.OBJECTIVES) t.true(choices.includes(builtIn));
  t.is(parser().parseSync(['--objective', 'testCliNorm']).objective, 'testCliNorm');
  t.throws(() => parser().parseSync(['--objective', 'notRegisteredAnywhere']), { message: /objective/ });
});

declare module '../../src/index.js' {
  interface ObjectiveSettings {
    /** The test objective's own option (declared with it, typed here). */
    testWeight?: number;
  }
}

test('an objective declares its own option once: checked, defaulted, handed over in ctx.options and saved by getConfig', t => {
  const seenWeights: unknown[] = [];
  tp.registerObjective({
    ...recordingObjective('testWeightedNorm', false, []),
    options: { testWeight: { default: 2, check: optionChecks.number('testWeight', { min: 1 }) } },
    value: ctx => {
      seenWeights.push(ctx.options?.testWeight);
      return thetas =>
        tf.tidy(
          () => tf.mul(ctx.options!.testWeight!, tf.addN(ctx.gradientAt(thetas).map(g => (g == null ? tf.scalar(0) : tf.sum(tf.square(g)))))) as tf.Scalar,
        );
    },
  });
  const model = mlp({ seed: 5 });
  const given = tp.sgd(0.01, { model, group: 'rescale', objective: 'testWeightedNorm', testWeight: 3, schedule: { atSteps: [1] }, steps: 2 });
  const defaulted = tp.sgd(0.01, { model, group: 'rescale', objective: 'testWeightedNorm', schedule: { atSteps: [1] }, steps: 2 });
  train(model, given, 2);
  train(model, defaulted, 2);
  t.deepEqual(seenWeights, [3, 2]);
  t.is((given.getConfig().teleport as Record<string, unknown>).testWeight, 3);
  const back = tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, JSON.parse(JSON.stringify(given.getConfig()))) as tp.TeleportOptimizer;
  t.is((back.getConfig().teleport as Record<string, unknown>).testWeight, 3);
  t.throws(() => tp.sgd(0.01, { model, objective: 'testWeightedNorm', testWeight: 0.5 }), {
    message: /option testWeight must be a finite number ≥ 1, got 0.5/,
  });
  t.throws(() => tp.registerObjective({ ...recordingObjective('testClash', false, []), options: { testWeight: { default: 5 } } }), {
    message: /declares differently/,
  });
  for (const o of [given, defaulted, back]) o.dispose();
  model.dispose();
});

test('the built-in objectives pick the same solvers as before the traits (outcome.solver), leaking nothing', t => {
  const x = seededUniform([5, 6], 21);
  const y = seededUniform([5, 3], 22);
  const solverOf = (model: ReturnType<typeof mlp>, group: string, settings: Partial<tp.TeleportOptions>, withGrads: boolean, preconditioned = false) => {
    const s = tpAdvanced.readModel(model);
    const loss = (ps: readonly tf.Tensor[]) => tf.losses.meanSquaredError(y, s.forward(ps.slice(), x).output) as tf.Scalar;
    const actions = tpAdvanced.planTeleport(s, group).build(s.variables, x);
    const grads = withGrads ? tf.grads((...ps: tf.Tensor[]) => loss(ps))(s.variables) : null;
    const weights = preconditioned ? s.variables.map(v => tf.fill(v.shape, 0.5)) : null;
    const out = tpAdvanced.runTeleport(
      { params: s.variables, actions, grads, loss, preconditioner: weights, random: () => 0.5 },
      { ...settingsOf(settings), maxLossDrift: 1 },
    );
    tf.dispose([...out.thetas, ...(out.params ?? []), ...(out.grads ?? []).filter(g => !grads?.includes(g)), ...(grads ?? []), ...(weights ?? [])]);
    actions.forEach(a => a.dispose?.());
    return out.solver;
  };
  const relu = mlp({ seed: 3 });
  const linear = mlp({ seed: 3, activation: 'linear' });
  const leaky = mlp({ seed: 3, widths: [4, 4], leakyLayer: true });
  const round = () => {
    t.is(solverOf(relu, 'rescale', {}, true), 'closed-form ascent');
    t.is(solverOf(relu, 'rescale', { objective: 'preconditionedGradNorm' }, true, true), 'closed-form ascent');
    t.is(solverOf(linear, 'gl', {}, true), 'gl gram ascent');
    t.is(solverOf(linear, 'gl', { objective: 'preconditionedGradNorm' }, true, true), 'chart ascent');
    t.is(solverOf(leaky, 'gl-data', {}, false), 'chart ascent');
    t.is(solverOf(leaky, 'gl-data', { hessianVector: 'difference' }, false), 'finite-difference Hessian-vector ascent');
    t.is(solverOf(relu, 'rescale', { objective: 'curvature' }, true), 'closed-form ascent');
  };
  round();
  const before = tf.memory().numTensors;
  round();
  t.is(tf.memory().numTensors, before, 'a second round of teleports leaves the tensor count flat');
  // SO(2) on a test function starts from a random angle: only the general ascent takes it.
  const p = tf.variable(tf.tensor1d([-1, -1.5])) as tf.Variable<tf.Rank.R1>;
  const so2 = tpGroups.so2(tpProblems.rosenbrock.bijection);
  const lossOf = (ps: readonly tf.Tensor[]) => tpProblems.rosenbrock.loss(ps[0] as tf.Tensor1D);
  const out = tpAdvanced.runTeleport({ params: [p], actions: [so2], loss: lossOf, random: () => 0.25 }, settingsOf({}));
  t.is(out.solver, 'ascent');
  tf.dispose([...out.thetas, ...(out.params ?? []), ...(out.grads ?? []), p]);
  for (const m of [relu, linear, leaky]) m.dispose();
  tf.dispose([x, y]);
});
