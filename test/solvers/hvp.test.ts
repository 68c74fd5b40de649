import test from 'ava';
import { tf, useCpu, mlp, seededUniform, relDiff, oneHotBatch } from '../helpers.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions, runTeleport } from '../../src/teleport/engine.js';
import { gradNormSq } from '../../src/objectives/grad_norm.js';
import { resolveLoss } from '../../src/structure/losses.js';
import { ascend } from '../../src/solvers/tensor_ascent.js';
import { ascendGradNorm, evaluateGradNorm, type GradNormStructure } from '../../src/solvers/hvp_ascent.js';
import { resolveSettings } from '../../src/teleport/options.js';
import type { SiteAction } from '../../src/groups/types.js';
import type { SolverOptions } from '../../src/solvers/types.js';

test.before(useCpu);

/** gl-data on a leaky-ReLU MLP, batch ≤ inputs + 1 (exact on the batch). */
function glDataCase(variant: 'gl-data' | 'gl-pinv' = 'gl-data') {
  const model = mlp({ input: 10, widths: [8, 8], leakyLayer: true, alpha: 0.1, output: 3, softmax: true });
  const s = readModel(model);
  const lossSpec = resolveLoss('categoricalCrossentropy', true);
  const x = seededUniform([6, 10], 31);
  const y = oneHotBatch(6, 3, 32);
  const actions = planTeleport(s, variant).build(s.variables, x);
  const loss = (ps: readonly tf.Tensor[]) => lossSpec.compute(y, s.forward(ps.slice(), x, { logits: true }).output);
  const touched = [...new Set(actions.flatMap(a => a.touches))].sort((a, b) => a - b);
  return { model, s, x, y, actions, loss, touched };
}

function structureOf(c: ReturnType<typeof glDataCase>, weights: ReadonlyArray<tf.Tensor | null> | null): GradNormStructure {
  return {
    act: th => applyActions(c.actions, c.s.variables, th),
    gradient: p => {
      const g = tf.grads((...ps: tf.Tensor[]) => {
        const full = p.slice();
        c.touched.forEach((idx, k) => (full[idx] = ps[k]));
        return c.loss(full);
      })(c.touched.map(i => p[i]));
      const out: Array<tf.Tensor | null> = p.map(() => null);
      c.touched.forEach((idx, k) => (out[idx] = g[k]));
      return out;
    },
    touched: c.touched,
    weights,
  };
}

/** The reference: ‖∇L(w(θ))‖²_A as a function of θ, differentiated by nested autodiff. */
function nestedObjective(c: ReturnType<typeof glDataCase>, weights: ReadonlyArray<tf.Tensor | null> | null) {
  return (th: tf.Tensor[]) => {
    const moved = applyActions(c.actions, c.s.variables, th);
    const g = tf.grads((...ps: tf.Tensor[]) => c.loss(ps))(moved);
    return gradNormSq(
      g.map((v, i) => (c.touched.includes(i) ? v : null)),
      weights,
    );
  };
}

function randomThetas(actions: SiteAction[], seed: number, scale: number): tf.Tensor[] {
  return actions.map((a, i) => tf.tidy(() => seededUniform(a.init(() => 0.5).shape, seed + i, -scale, scale)));
}

test('finite-difference Hessian-vector gradient in θ matches nested autodiff (gl-data, gl-pinv; with and without a preconditioner)', t => {
  for (const variant of ['gl-data', 'gl-pinv'] as const) {
    const c = glDataCase(variant);
    const precond = c.s.variables.map((v, i) => seededUniform(v.shape, 500 + i, 0.5, 2));
    for (const weights of [null, precond]) {
      for (const [seed, scale] of [
        [13, 0],
        [17, 0.1],
      ] as const) {
        const th = randomThetas(c.actions, seed, scale);
        const before = tf.memory().numTensors;
        const fd = evaluateGradNorm(structureOf(c, weights), th);
        t.is(tf.memory().numTensors, before + 1 + fd.grads.length, 'only the results are kept');
        const ref = tf.valueAndGrads((...ts: tf.Tensor[]) => nestedObjective(c, weights)(ts))(th);
        const label = `${variant} ${weights ? 'precond' : 'plain'} scale ${scale}`;
        t.true(relDiff(fd.value.dataSync()[0], ref.value.dataSync()[0]) < 1e-5, `${label}: value`);
        // Relative error of the whole gradient (float32 forward difference: a few 1e-4 here).
        const diff = tf.tidy(() => Math.sqrt(tf.addN(fd.grads.map((g, i) => tf.sum(tf.square(tf.sub(g, ref.grads[i]))))).dataSync()[0]));
        const size = tf.tidy(() => Math.sqrt(tf.addN(ref.grads.map(g => tf.sum(tf.square(g)))).dataSync()[0]));
        t.true(size > 0, label);
        t.true(diff / size < 5e-3, `${label}: ‖Δ∇θ‖/‖∇θ‖ = ${diff / size}`);
        tf.dispose([fd.value, ...fd.grads, ref.value, ...ref.grads, ...th]);
      }
    }
    tf.dispose(precond);
    c.actions.forEach(a => a.dispose?.());
    c.model.dispose();
  }
});

test('finite-difference solver steps in lockstep with the nested-autodiff solver (gl-data)', t => {
  const c = glDataCase('gl-data');
  const settings: SolverOptions = { steps: 5, lr: 0.05, direction: 'maximize', normalize: true, lineSearch: false, maxGrowth: 50, maxBacktracks: 4 };
  const init = c.actions.map(a => a.init(() => 0));
  const fast = ascendGradNorm(structureOf(c, null), init, settings);
  const slow = ascend(nestedObjective(c, null), init, settings);
  t.true(relDiff(fast.objectiveBefore, slow.objectiveBefore) < 1e-5, `before ${fast.objectiveBefore} vs ${slow.objectiveBefore}`);
  t.is(fast.stepsTaken, slow.stepsTaken);
  t.is(fast.backtracks, slow.backtracks);
  t.true(relDiff(fast.objectiveAfter, slow.objectiveAfter) < 1e-2, `after ${fast.objectiveAfter} vs ${slow.objectiveAfter}`);
  t.true(fast.objectiveAfter > fast.objectiveBefore);
  fast.thetas.forEach((th, i) => {
    const d = tf.tidy(() => tf.norm(tf.sub(th, slow.thetas[i])).dataSync()[0]);
    const n = tf.tidy(() => tf.norm(slow.thetas[i]).dataSync()[0]);
    t.true(d <= 2e-2 * n, `θ ${i}: ${d} of ${n}`);
  });
  tf.dispose([...fast.thetas, ...slow.thetas, ...init]);
  c.actions.forEach(a => a.dispose?.());
  c.model.dispose();
});

test("runTeleport on gl-data: 'difference' and 'autodiff' (default) both accept, agree, keep the loss, leak nothing", t => {
  const c = glDataCase('gl-data');
  const out: Record<string, ReturnType<typeof runTeleport>> = {};
  const before = tf.memory().numTensors;
  for (const hessianVector of ['difference', 'autodiff'] as const) {
    const settings = resolveSettings({ hessianVector, steps: 4, lr: 0.05 });
    t.is(settings.hessianVector, hessianVector);
    out[hessianVector] = runTeleport({ params: c.s.variables, actions: c.actions, loss: c.loss, random: () => 0.5 }, settings);
    const m = out[hessianVector].metrics;
    t.true(m.accepted, `${hessianVector}: ${m.reason}`);
    t.true(m.relativeLossDrift! < 1e-4, `${hessianVector}: drift ${m.relativeLossDrift}`);
  }
  t.is(resolveSettings({}).hessianVector, 'autodiff');
  const a = out.difference.metrics;
  const b = out.autodiff.metrics;
  t.is(a.ascentSteps, b.ascentSteps);
  t.true(relDiff(a.objectiveAfter, b.objectiveAfter) < 1e-2, `${a.objectiveAfter} vs ${b.objectiveAfter}`);
  for (const o of Object.values(out)) tf.dispose([...o.thetas, ...(o.params ?? []), ...(o.grads ?? [])]);
  t.is(tf.memory().numTensors, before);
  c.actions.forEach(x => x.dispose?.());
  c.model.dispose();
});
