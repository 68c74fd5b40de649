import test from 'ava';
import { linearGlCase, rescaleClosedFormAndAutodiff } from '../teleport_fixtures.js';
import { tf, useCpu, mlp, smallCnn, seededUniform, maxAbsDiff, relDiff, oneHotBatch } from '../helpers.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { runTeleport, transportGradients } from '../../src/teleport/engine.js';
import { gradNormSq } from '../../src/objectives/grad_norm.js';
import { rescaleObjective, rescaleTermSets, rescaleTerms, rescaleValue } from '../../src/objectives/rescale_closed_form.js';
import { ascendClosedForm } from '../../src/solvers/closed_form_ascent.js';
import { lengthToCap } from '../../src/solvers/step_rule.js';
import { resolveSettings } from '../../src/teleport/options.js';
import { expm, expmPair } from '../../src/linalg/expm.js';
import { SeededRandom } from '../../src/core/random.js';
import type { SolverOptions } from '../../src/solvers/types.js';

test.before(useCpu);

/** A model, its rescale actions and a gradient on a small batch. */
function rescaleCase(kind: 'mlp' | 'cnn') {
  const model = kind === 'mlp' ? mlp({ activation: 'relu', widths: [6, 5] }) : smallCnn();
  const s = readModel(model);
  const actions = planTeleport(s, 'rescale').build(s.variables);
  const x = kind === 'cnn' ? seededUniform([4, 8, 8, 2], 3) : seededUniform([8, 6], 3);
  const y = kind === 'cnn' ? oneHotBatch(4, 2, 4) : seededUniform([8, 3], 4);
  const grads = tf.grads((...ps: tf.Tensor[]) =>
    kind === 'cnn'
      ? (tf.losses.softmaxCrossEntropy(y, s.forward(ps, x, { logits: true }).output) as tf.Scalar)
      : (tf.mean(tf.square(tf.sub(s.forward(ps, x).output, y))) as tf.Scalar),
  )(s.variables);
  return { model, s, actions, x, y, grads };
}

test("'budget' step rule: closed-form rescale and tensor autodiff take the same steps (cap-shortened steps included)", t => {
  for (const kind of ['mlp', 'cnn'] as const) {
    const { model, s, actions, x, y, grads } = rescaleCase(kind);
    const precond = s.variables.map((v, i) => seededUniform(v.shape, 900 + i, 0.5, 2));
    // A small cap with a long budget: the first full-length step overshoots the cap and is shortened by the chord.
    const settings: SolverOptions = {
      steps: 5,
      lr: 0.6,
      direction: 'maximize',
      normalize: true,
      lineSearch: false,
      maxGrowth: 1.5,
      maxBacktracks: 4,
      stepRule: 'budget',
    };
    const { fast, slow, init } = rescaleClosedFormAndAutodiff(actions, grads, precond, settings);
    t.true(relDiff(fast.objectiveBefore, slow.objectiveBefore) < 1e-4, `${kind} before ${fast.objectiveBefore} vs ${slow.objectiveBefore}`);
    t.true(relDiff(fast.objectiveAfter, slow.objectiveAfter) < 1e-3, `${kind} after ${fast.objectiveAfter} vs ${slow.objectiveAfter}`);
    t.is(fast.stepsTaken, slow.stepsTaken, kind);
    t.is(fast.backtracks, slow.backtracks, kind);
    t.true(fast.backtracks >= 1, `${kind}: the cap was never hit, so the shortening was not exercised`);
    fast.thetas.forEach((th, i) => t.true(maxAbsDiff(th, slow.thetas[i]) < 1e-3, `${kind} θ ${i}: ${maxAbsDiff(th, slow.thetas[i])}`));
    // Within the cap, and close to it: the shortened step aims just below the cap.
    const growth = fast.objectiveAfter / fast.objectiveBefore;
    t.true(growth <= 1.5 * (1 + 1e-9) && growth > 1.2, `${kind} growth ${growth}`);
    tf.dispose([...fast.thetas, ...slow.thetas, ...init, ...precond, ...grads, x, y]);
    model.dispose();
  }
});

test("'budget' gets within 20 % of the growth cap that 'fixed' reaches, in fewer evaluations", t => {
  const { model, s, actions, x, y, grads } = rescaleCase('mlp');
  const sites = actions.map(a => a.diagonal!);
  const terms = rescaleTerms(sites, grads, null);
  let evaluations = 0;
  const form = {
    widths: sites.map(z => z.width),
    evaluate: (v: readonly Float64Array[]) => {
      evaluations++;
      return rescaleObjective(terms, v);
    },
  };
  const base = { steps: 10, lr: 0.3, direction: 'maximize' as const, normalize: true, lineSearch: false, maxGrowth: 2, maxBacktracks: 4 };
  const fixed = ascendClosedForm(form, { ...base, stepRule: 'fixed' });
  const fixedEvals = evaluations;
  evaluations = 0;
  const budget = ascendClosedForm(form, { ...base, stepRule: 'budget' });
  const budgetEvals = evaluations;
  t.true(budgetEvals < fixedEvals, `evaluations: budget ${budgetEvals}, fixed ${fixedEvals}`);
  t.true(budget.objectiveAfter / budget.objectiveBefore <= 2 * (1 + 1e-9));
  t.true(fixed.objectiveAfter / fixed.objectiveBefore > 1.9, 'the cap binds for the fixed rule too');
  t.true(budget.objectiveAfter >= 0.8 * 2 * budget.objectiveBefore, `budget ${budget.objectiveAfter} vs fixed ${fixed.objectiveAfter}`);
  // The value reported is the objective at the returned θ, evaluated independently with tensors.
  const touched = new Set(actions.flatMap(a => a.touches));
  const direct = tf.tidy(() => gradNormSq(transportGradients(actions, grads, budget.thetas).map((g, i) => (touched.has(i) ? g : null))).dataSync()[0]);
  t.true(relDiff(direct, budget.objectiveAfter) < 1e-4, `${direct} vs ${budget.objectiveAfter}`);
  tf.dispose([...fixed.thetas, ...budget.thetas, ...grads, x, y]);
  model.dispose();
  void s;
});

test('rescale closed form: value-only evaluation and the plain + preconditioned term sets built together match tensor autodiff, no leaks', t => {
  for (const kind of ['mlp', 'cnn'] as const) {
    const { model, actions, x, y, grads } = rescaleCase(kind);
    const s = readModel(model);
    const precond = s.variables.map((v, i) => seededUniform(v.shape, 700 + i, 0.5, 2));
    const sites = actions.map(a => a.diagonal!);
    const touched = new Set(actions.flatMap(a => a.touches));
    const before = tf.memory().numTensors;
    const [weighted, plain] = rescaleTermSets(sites, grads, [precond, null]);
    t.is(tf.memory().numTensors, before, `${kind}: term building leaks`);
    const stream = new SeededRandom(kind === 'mlp' ? 3 : 4);
    for (let trial = 0; trial < 3; trial++) {
      const sv = sites.map(z => Float64Array.from({ length: z.width }, () => (stream.next() - 0.5) * (trial === 0 ? 0 : 1.2)));
      const th = sv.map(v => tf.tensor1d(Float32Array.from(v)));
      // Independent: transport the gradient with tensors and take its (preconditioned) squared norm.
      const moved = tf.tidy(
        () => transportGradients(actions, grads, th).map((g, i) => (touched.has(i) ? g : null)) as unknown as tf.Tensor[],
      ) as unknown as Array<tf.Tensor | null>;
      const directPlain = tf.tidy(() => gradNormSq(moved).dataSync()[0]);
      const directWeighted = tf.tidy(() => gradNormSq(moved, precond).dataSync()[0]);
      t.true(relDiff(rescaleValue(plain, sv), directPlain) < 1e-4, `${kind} plain value ${rescaleValue(plain, sv)} vs ${directPlain}`);
      t.true(relDiff(rescaleValue(weighted, sv), directWeighted) < 1e-4, `${kind} weighted value ${rescaleValue(weighted, sv)} vs ${directWeighted}`);
      // The single-pass evaluation gives the same value and ∂F/∂s = autodiff of the tensor objective.
      const full = rescaleObjective(weighted, sv);
      t.true(relDiff(full.value, directWeighted) < 1e-4, `${kind} evaluate ${full.value} vs ${directWeighted}`);
      const auto = tf.tidy(() =>
        tf
          .grads((...ps: tf.Tensor[]) =>
            gradNormSq(
              transportGradients(actions, grads, ps).map((g, i) => (touched.has(i) ? g : null)),
              precond,
            ),
          )(th)
          .map(g => g.dataSync()),
      );
      const scale = Math.max(...auto.map(g => Math.max(...Array.from(g, Math.abs))));
      full.grads.forEach((g, k) => g.forEach((v, j) => t.true(Math.abs(v - auto[k][j]) <= 1e-3 * scale, `${kind} ∂F/∂s[${k}][${j}] ${v} vs ${auto[k][j]}`)));
      tf.dispose([...th, ...(moved.filter(m => m != null) as tf.Tensor[])]);
    }
    // The set built alone equals the one built alongside the preconditioned set.
    const alone = rescaleTerms(sites, grads, null);
    alone.forEach((term, k) => t.deepEqual(Array.from(term.q), Array.from(plain[k].q)));
    tf.dispose([...precond, ...grads, x, y]);
    model.dispose();
  }
});

test('lengthToCap: between the chord and the tangent on sums of exponentials, exact on one exponential', t => {
  // φ(t) = Σ c_k·exp(a_k·t), c_k > 0: log φ is convex, so the cap is crossed after the log-linear
  // chord's crossing and before the tangent's.
  const stream = new SeededRandom(7);
  const rand = () => stream.next();
  let checked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const k = 1 + Math.floor(rand() * 6);
    const c = Array.from({ length: k }, () => 0.1 + rand());
    const a = Array.from({ length: k }, () => -3 + 6 * rand());
    const phi = (s: number) => c.reduce((acc, ci, i) => acc + ci * Math.exp(a[i] * s), 0);
    const slope = c.reduce((acc, ci, i) => acc + ci * a[i], 0);
    if (slope <= 0) continue; // an ascent direction only
    const len = 0.2 + 2 * rand();
    const from = phi(0);
    const to = phi(len);
    const cap = from + (to - from) * (0.05 + 0.9 * rand());
    if (!(to > cap)) continue;
    const s = lengthToCap(from, slope, to, cap, len);
    const chord = (len * Math.log(cap / from)) / Math.log(to / from);
    const tangent = Math.log(cap / from) / (slope / from);
    const clamp = (v: number) => Math.min(0.95 * len, Math.max(len / 16, v));
    t.true(s >= clamp(chord) - 1e-12 && s <= clamp(tangent) + 1e-12, `step ${s}: chord ${chord}, tangent ${tangent}`);
    checked++;
  }
  t.true(checked > 50);
  // A single exponential: the fit is exact.
  const single = (s: number) => 2 * Math.exp(1.3 * s);
  const s1 = lengthToCap(single(0), 2 * 1.3, single(1), 3, 1);
  t.true(Math.abs(single(s1) - 3) < 1e-12, `${single(s1)}`);
  // Nothing to fit: halve.
  t.is(lengthToCap(1, 1, Number.NaN, 2, 1), 0.5);
  t.is(lengthToCap(0, 1, 5, 2, 1), 0.5);
});

test("default teleport on rescale: 'auto' = 'budget' on the closed form; the accepted element's objective matches autodiff, no leaks", t => {
  const { model, s, actions, x, y, grads } = rescaleCase('mlp');
  const before = tf.memory().numTensors;
  const settings = resolveSettings({});
  t.is(settings.stepRule, 'auto');
  const out = runTeleport({ params: s.variables, actions, grads, loss: null, random: () => 0.5 }, settings);
  t.true(out.metrics.accepted, out.metrics.reason);
  t.true(out.metrics.ascentSteps + out.metrics.backtracks <= 4, `evaluations ${out.metrics.ascentSteps}+${out.metrics.backtracks}`);
  const touched = new Set(actions.flatMap(a => a.touches));
  const direct = tf.tidy(() => gradNormSq(transportGradients(actions, grads, out.thetas).map((g, i) => (touched.has(i) ? g : null))).dataSync()[0]);
  t.true(relDiff(direct, out.metrics.objectiveAfter) < 1e-4, `${direct} vs ${out.metrics.objectiveAfter}`);
  t.true(out.metrics.objectiveAfter > out.metrics.objectiveBefore);
  tf.dispose([...out.thetas, ...(out.grads ?? []).filter(g => !grads.includes(g)), ...(out.params ?? [])]);
  t.is(tf.memory().numTensors, before);
  tf.dispose([...grads, x, y]);
  model.dispose();
});

test('expmPair gives exactly expm(T) and expm(−T) (one series, both signs), and they are inverses', t => {
  for (const [n, scale, seed] of [
    [3, 0.2, 1],
    [6, 1.5, 2],
    [10, 4, 3],
  ] as const) {
    const before = tf.memory().numTensors;
    const T = tf.tidy(() => tf.mul(seededUniform([n, n], seed), scale)) as tf.Tensor2D;
    const { pos, neg } = expmPair(T);
    const a = expm(T);
    const b = tf.tidy(() => expm(tf.neg(T) as tf.Tensor2D));
    t.is(maxAbsDiff(pos, a), 0, `exp(T), n=${n}`);
    t.is(maxAbsDiff(neg, b), 0, `exp(−T), n=${n}`);
    // An independent check of the inverse: float64 product of the downloaded matrices.
    const p = pos.arraySync();
    const q = neg.arraySync();
    let worst = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += p[i][k] * q[k][j];
        worst = Math.max(worst, Math.abs(acc - (i === j ? 1 : 0)));
      }
    // Float32 round-off of the product itself: each entry sums n terms of size up to max|p|·max|q|
    // (≈ 7e6 at n = 10, scale 4, where exp(T) reaches e^20); a wrong inverse is off by that much, not 1e-6 of it.
    const maxAbs = (m: number[][]) => Math.max(...m.flat().map(Math.abs));
    t.true(worst < 1e-6 * n * maxAbs(p) * maxAbs(q), `‖exp(T)·exp(−T) − I‖ = ${worst} (n=${n})`);
    tf.dispose([T, pos, neg, a, b]);
    t.is(tf.memory().numTensors, before);
  }
  // Gradients flow through both outputs as through two expm calls.
  const T = tf.mul(seededUniform([4, 4], 9), 0.7);
  const w = seededUniform([4, 4], 10);
  const f1 = (x: tf.Tensor) => {
    const { pos, neg } = expmPair(x as tf.Tensor2D);
    return tf.sum(tf.mul(w, tf.add(pos, tf.mul(2, neg)))) as tf.Scalar;
  };
  const f2 = (x: tf.Tensor) => tf.sum(tf.mul(w, tf.add(expm(x as tf.Tensor2D), tf.mul(2, expm(tf.neg(x) as tf.Tensor2D))))) as tf.Scalar;
  const g1 = tf.grad(f1)(T);
  const g2 = tf.grad(f2)(T);
  t.true(maxAbsDiff(g1, g2) < 1e-5, `${maxAbsDiff(g1, g2)}`);
  tf.dispose([T, w, g1, g2]);
});

test("GL on a linear MLP: the default ('auto' → 'budget') teleport takes fewer evaluations than 'fixed', stays within the cap and exact", t => {
  const { model, s, actions, x, y, loss, grads } = linearGlCase();
  const run = (stepRule: 'auto' | 'fixed') => runTeleport({ params: s.variables, actions, grads, loss, random: () => 0.5 }, resolveSettings({ stepRule }));
  const auto = run('auto');
  const fixed = run('fixed');
  for (const out of [auto, fixed]) t.true(out.metrics.accepted, out.metrics.reason);
  const evals = (o: typeof auto) => o.metrics.ascentSteps + o.metrics.backtracks;
  t.true(evals(auto) < evals(fixed), `evaluations: auto ${evals(auto)}, fixed ${evals(fixed)}`);
  t.true(auto.metrics.objectiveAfter / auto.metrics.objectiveBefore <= 2 * (1 + 1e-4));
  t.true(auto.metrics.objectiveAfter > auto.metrics.objectiveBefore);
  // Exact: the drift guard measured the loss on the batch; outputs on fresh inputs agree too.
  t.true(auto.metrics.relativeLossDrift! < 1e-5, `drift ${auto.metrics.relativeLossDrift}`);
  const fresh = seededUniform([5, 6], 77);
  const y0 = s.forward(s.variables, fresh).output;
  const y1 = s.forward(auto.params!, fresh).output;
  t.true(maxAbsDiff(y0, y1) < 1e-4 * (1 + tf.max(tf.abs(y0)).dataSync()[0]), `outputs moved by ${maxAbsDiff(y0, y1)}`);
  // The reported objective is ‖∇L‖² at the new weights by autodiff (independent of the transport).
  const touched = new Set(actions.flatMap(a => a.touches));
  const direct = tf.tidy(() => {
    const g = tf.grads((...ps: tf.Tensor[]) => loss(ps))(auto.params!);
    return gradNormSq(g.map((v, i) => (touched.has(i) ? v : null))).dataSync()[0];
  });
  t.true(relDiff(direct, auto.metrics.objectiveAfter) < 1e-3, `${direct} vs ${auto.metrics.objectiveAfter}`);
  for (const o of [auto, fixed]) tf.dispose([...o.thetas, ...(o.grads ?? []).filter(g => !grads.includes(g)), ...(o.params ?? [])]);
  tf.dispose([...grads, x, y, fresh, y0, y1]);
  model.dispose();
});

test('rescale factors of a closed-form θ come from JavaScript (no Exp/Reciprocal kernels) and equal the kernel route', async t => {
  const model = mlp({ activation: 'relu', widths: [7, 5] });
  const s = readModel(model);
  const actions = planTeleport(s, 'rescale').build(s.variables);
  const sites = actions.map(a => a.diagonal!);
  const x = seededUniform([8, 6], 5);
  const y = seededUniform([8, 3], 6);
  const grads = tf.grads((...ps: tf.Tensor[]) => tf.mean(tf.square(tf.sub(s.forward(ps, x).output, y))) as tf.Scalar)(s.variables);
  const terms = rescaleTerms(sites, grads, null);
  const r = ascendClosedForm(
    { widths: sites.map(st => st.width), evaluate: v => rescaleObjective(terms, v) },
    { ...resolveSettings({}), direction: 'maximize' },
  );
  t.true(r.stepsTaken >= 1);
  const fresh = r.thetas.map(th => th.clone()); // same numbers, not recorded: the kernel route
  for (const [i, a] of actions.entries()) {
    const viaJs = await tf.profile(() => tf.tidy(() => a.act(s.variables, r.thetas[i]).map(p => p.clone())));
    const names = viaJs.kernels.map(k => k.name);
    t.false(names.includes('Exp') || names.includes('Reciprocal'), `recorded θ ran ${names.join(', ')}`);
    const viaKernels = await tf.profile(() => tf.tidy(() => a.act(s.variables, fresh[i]).map(p => p.clone())));
    t.true(
      viaKernels.kernels.some(k => k.name === 'Exp'),
      'the kernel route was not taken for an unrecorded θ',
    );
    const [p, q] = [tf.tidy(() => a.act(s.variables, r.thetas[i])), tf.tidy(() => a.act(s.variables, fresh[i]))];
    p.forEach((v, j) => t.true(maxAbsDiff(v, q[j]) <= 1e-6 * (1 + tf.tidy(() => tf.max(tf.abs(v)).dataSync()[0])), `parameter ${j}`));
    for (const kind of ['update', 'squared'] as const) {
      const slots = s.variables.map(v => tf.onesLike(v));
      // Every slot is given, so none comes back null; tidy keeps them (plain tensors).
      const moved = (th: tf.Tensor) => tf.tidy(() => a.transportSlots!(kind, slots, th)! as tf.Tensor[]);
      const [u, w] = [moved(r.thetas[i]), moved(fresh[i])];
      u.forEach((v, j) => t.true(maxAbsDiff(v, w[j]) <= 1e-5, `${kind} slot ${j}`));
      tf.dispose([...slots, ...u, ...w]);
    }
    tf.dispose([...p, ...q].filter(v => !s.variables.includes(v as tf.Variable)));
  }
  tf.dispose([...r.thetas, ...fresh, ...grads, x, y]);
  model.dispose();
});
