import test from 'ava';
import { tf, useCpu, mlp, seededUniform, relDiff, oneHotBatch, maxAbsDiff } from '../helpers.js';
import * as tp from '../../src/index.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions } from '../../src/teleport/engine.js';
import { gradNormSq } from '../../src/objectives/grad_norm.js';
import { resolveLoss } from '../../src/structure/losses.js';
import { ascend } from '../../src/solvers/tensor_ascent.js';
import { ascendInChart, chartAscent } from '../../src/solvers/chart_ascent.js';
import { solverFor } from '../../src/solvers/registry.js';
import { glElement, rememberExplicitGlElement, useGlChart } from '../../src/groups/gl.js';
import { expmPair } from '../../src/linalg/expm.js';
import type { SolveContext, SolverOptions } from '../../src/solvers/types.js';

test.before(useCpu);

/**
 * gl-data on an MLP (leaky ReLU, or linear hidden layers where a test needs a smooth objective: finite
 * differences across leaky ReLU's kinks say nothing), batch ≤ inputs + 1 (exact on the batch), and
 * ‖∇L(θ·w)‖² by nested autodiff.
 */
function glDataCase(seed = 1, smooth = false) {
  const model = smooth
    ? mlp({ input: 10, widths: [8, 8], activation: 'linear', output: 3, softmax: true, seed })
    : mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, output: 3, softmax: true, seed });
  const s = readModel(model);
  const lossSpec = resolveLoss('categoricalCrossentropy', true);
  const x = seededUniform([6, 10], 31);
  const y = oneHotBatch(6, 3, 32);
  const actions = planTeleport(s, 'gl-data').build(s.variables, x);
  const loss = (ps: readonly tf.Tensor[]) => lossSpec.compute(y, s.forward(ps.slice(), x, { logits: true }).output);
  const touched = [...new Set(actions.flatMap(a => a.touches))].sort((a, b) => a - b);
  const objective = (th: tf.Tensor[]) => {
    const moved = applyActions(actions, s.variables, th);
    const g = tf.grads((...ps: tf.Tensor[]) => loss(ps))(moved);
    return gradNormSq(g.map((v, i) => (touched.includes(i) ? v : null)));
  };
  const dispose = () => {
    actions.forEach(a => a.dispose?.());
    tf.dispose([x, y]);
    model.dispose();
  };
  return { model, s, x, y, actions, loss, touched, objective, dispose };
}

const settings = (steps: number): SolverOptions => ({
  steps,
  lr: 0.1,
  direction: 'maximize',
  normalize: true,
  lineSearch: false,
  maxGrowth: 10,
  maxBacktracks: 4,
  stepRule: 'fixed',
});

/** The objective at explicit elements (g, g⁻¹ per site), through θ tensors recorded with them (no chart, no series). */
function valueAtElements(c: ReturnType<typeof glDataCase>, gs: tf.Tensor[], gInvs: tf.Tensor[]): number {
  const thetas = gs.map(g => tf.zerosLike(g));
  thetas.forEach((th, k) => rememberExplicitGlElement(th, { g: Float32Array.from(gs[k].dataSync()), gInv: Float32Array.from(gInvs[k].dataSync()) }));
  const v = tf.tidy(() => c.objective(thetas).dataSync()[0]);
  tf.dispose(thetas);
  return v;
}

test('the chart at G: value and gradient at T = 0 equal the objective along G·exp(εE) by central differences (exact elements)', t => {
  const c = glDataCase(1, true);
  // A base element G = exp(Θ₀) away from the identity, with its exact inverse exp(−Θ₀).
  const base = c.actions.map((a, k) => expmPair(tf.tidy(() => seededUniform(a.init(() => 0).shape, 40 + k, -0.15, 0.15)) as tf.Tensor2D));
  const coords = base.map(b => tf.zerosLike(b.pos));
  coords.forEach((T, k) => useGlChart(T, { g: base[k].pos, gInv: base[k].neg }));
  const { value, grads } = tf.valueAndGrads((...ts: tf.Tensor[]) => c.objective(ts))(coords);
  const atBase = valueAtElements(
    c,
    base.map(b => b.pos),
    base.map(b => b.neg),
  );
  t.true(relDiff(value.dataSync()[0], atBase) < 1e-5, `value in the chart ${value.dataSync()[0]} vs at G ${atBase}`);
  // Directional derivatives along random E: (f(G·e^{εE}) − f(G·e^{−εE})) / 2ε against ⟨∇T, E⟩.
  for (const seed of [1, 2, 3]) {
    const dirs = base.map((b, k) => seededUniform(b.pos.shape, 100 * seed + k, -1, 1) as tf.Tensor2D);
    const eps = 1e-2;
    const along = (sign: number) => {
      const steps = dirs.map(d => expmPair(tf.mul(sign * eps, d) as tf.Tensor2D));
      const gs = base.map((b, k) => tf.matMul(b.pos, steps[k].pos));
      const gInvs = base.map((b, k) => tf.matMul(steps[k].neg, b.neg));
      const v = valueAtElements(c, gs, gInvs);
      tf.dispose([...gs, ...gInvs, ...steps.flatMap(st => [st.pos, st.neg])]);
      return v;
    };
    const fd = (along(1) - along(-1)) / (2 * eps);
    const analytic = tf.tidy(() => tf.addN(grads.map((g, k) => tf.sum(tf.mul(g, dirs[k])))).dataSync()[0]);
    t.true(Math.abs(fd - analytic) < 5e-3 * (Math.abs(analytic) + 1e-3), `seed ${seed}: finite differences ${fd} vs chart gradient ${analytic}`);
    tf.dispose(dirs);
  }
  tf.dispose([value, ...grads, ...coords, ...base.flatMap(b => [b.pos, b.neg])]);
  c.dispose();
});

test("lockstep at the identity: the chart ascent's first step is the θ-ascent's (θ, objective); 10 steps reach a comparable objective", t => {
  const c = glDataCase(2);
  const init = c.actions.map(a => a.init(() => 0));
  const chart1 = ascendInChart(c.objective, init, settings(1));
  const plain1 = ascend(c.objective, init, settings(1));
  t.is(chart1.stepsTaken, 1);
  t.true(relDiff(chart1.objectiveAfter, plain1.objectiveAfter) < 1e-4, `${chart1.objectiveAfter} vs ${plain1.objectiveAfter}`);
  chart1.thetas.forEach((th, k) => t.true(maxAbsDiff(th, plain1.thetas[k]) < 1e-6, `θ ${k}: ${maxAbsDiff(th, plain1.thetas[k])}`));
  const chart10 = ascendInChart(c.objective, init, settings(10));
  const plain10 = ascend(c.objective, init, settings(10));
  t.true(chart10.objectiveAfter > chart1.objectiveAfter, 'more steps did not help');
  // Different charts, different paths: the two ascents agree to first order in the step only.
  t.true(relDiff(chart10.objectiveAfter, plain10.objectiveAfter) < 0.05, `${chart10.objectiveAfter} vs ${plain10.objectiveAfter}`);
  // Acting with the returned θ applies the element the ascent evaluated: the objective there is its best value.
  const measured = tf.tidy(() => c.objective(chart10.thetas).dataSync()[0]);
  t.true(relDiff(measured, chart10.objectiveAfter) < 1e-5, `objective at the returned θ ${measured} vs reported ${chart10.objectiveAfter}`);
  // The recorded element is a group element with its exact inverse: g·g⁻¹ = I to float32 round-off.
  chart10.thetas.forEach((th, k) => {
    const err = tf.tidy(() => {
      const { g, gInv } = glElement(th);
      return maxAbsDiff(tf.matMul(g, gInv), tf.eye(g.shape[0]));
    });
    t.true(err < 2e-6, `site ${k}: |g·g⁻¹ − I| = ${err}`);
  });
  // A halved θ is a new tensor: it gets exp(θ/2) by the series, not the recorded element.
  const halved = chart10.thetas.map(th => tf.mul(th, 0.5));
  const viaSeries = tf.tidy(() => maxAbsDiff(glElement(halved[0]).g, expmPair(halved[0] as tf.Tensor2D).pos));
  t.is(viaSeries, 0);
  tf.dispose([...init, ...chart1.thetas, ...plain1.thetas, ...chart10.thetas, ...plain10.thetas, ...halved]);
  c.dispose();
});

test('a gl-data teleport runs the chart ascent: accepted, outputs on the batch and loss unchanged, ‖∇L‖² recomputed by autodiff grows, no leaks', async t => {
  const c = glDataCase(3);
  // The chart solver reads only the actions of the teleport's context.
  const withActions = (actions: readonly tp.SiteAction[]) => ({ actions }) as unknown as SolveContext;
  const problem = { objective: c.objective, closedForm: null, init: [], randomStart: false, context: withActions(c.actions) };
  t.is(solverFor(problem).name, chartAscent.name);
  t.not(solverFor({ ...problem, context: withActions(c.actions.map(a => ({ ...a, glChart: false }))) }).name, chartAscent.name);
  t.not(solverFor({ ...problem, context: undefined }).name, chartAscent.name);
  t.not(solverFor({ ...problem, randomStart: true }).name, chartAscent.name);
  c.dispose();

  const model = mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, output: 3, softmax: true, seed: 4 });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([6, 10], 41);
  const y = oneHotBatch(6, 3, 42);
  const lossOf = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(y, tf.log(model.predict(x) as tf.Tensor)).dataSync()[0]);
  const gradNormOf = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.mean(tf.losses.softmaxCrossEntropy(y, tf.log(model.predict(x) as tf.Tensor))) as tf.Scalar);
      return tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g)))).dataSync()[0];
    });
  const outBefore = model.predict(x) as tf.Tensor;
  const lossBefore = lossOf();
  const normBefore = gradNormOf();
  const before = tf.memory().numTensors;
  const report = await tp.teleport(model, { x, y }, { group: 'gl-data', steps: 10, lr: 0.1 });
  t.true(report.accepted, report.reason);
  t.true(report.ascentSteps >= 5, `only ${report.ascentSteps} steps`);
  t.is(tf.memory().numTensors, before, 'the teleport leaked tensors');
  const outAfter = model.predict(x) as tf.Tensor;
  t.true(maxAbsDiff(outAfter, outBefore) < 1e-4, `outputs moved by ${maxAbsDiff(outAfter, outBefore)}`);
  t.true(relDiff(lossOf(), lossBefore) < 1e-4);
  const normAfter = gradNormOf();
  t.true(normAfter > 1.2 * normBefore, `‖∇L‖² ${normBefore} → ${normAfter}`);
  tf.dispose([outBefore, outAfter, x, y]);
  model.dispose();
});
