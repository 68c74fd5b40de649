import test from 'ava';
import { linearGlCase } from '../teleport_fixtures.js';
import { tf, useCpu, seededUniform, maxAbsDiff, relDiff } from '../helpers.js';
import { runTeleport } from '../../src/teleport/engine.js';
import { gradNormSq } from '../../src/objectives/grad_norm.js';
import { glGramEvaluate, glGramForm } from '../../src/objectives/gl_gram.js';
import { ascendGlGram, ascendGlGram64, gramElementMatrices } from '../../src/solvers/gl_gram_ascent.js';
import { ascend } from '../../src/solvers/tensor_ascent.js';
import { guardedAscent, type AscentSpace, type Evaluation } from '../../src/solvers/step_rule.js';
import { resolveSettings } from '../../src/teleport/options.js';
import { expmNumbers, symmetricEigenNumbers } from '../../src/linalg/float64.js';
import { matMul64, symEig64 } from '../../src/linalg/dense64.js';
import { matMulOn } from '../../src/linalg/products.js';
import { glElement } from '../../src/groups/gl.js';
import { expmPair } from '../../src/linalg/expm.js';
import { SeededRandom } from '../../src/core/random.js';
import type { SolverOptions } from '../../src/solvers/types.js';

test.before(useCpu);

const glCase = linearGlCase;

/** The solver settings the lockstep tests share: 10 normalized steps of 0.1, the given cap and step rule. */
const ascentSettings = (maxGrowth: number, stepRule: 'budget' | 'fixed'): SolverOptions => ({
  steps: 10,
  lr: 0.1,
  direction: 'maximize',
  normalize: true,
  lineSearch: false,
  maxGrowth,
  maxBacktracks: 4,
  stepRule,
});

const rows = (a: Float64Array, n: number) => Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)));
const flat = (m: number[][]) => Float64Array.from(m.flat());
function randomMatrix(n: number, seed: number, scale: number): Float64Array {
  const r = new SeededRandom(seed);
  return Float64Array.from({ length: n * n }, () => scale * (2 * r.next() - 1));
}

test('Gram form: the value equals the autodiff objective (transported gradients, exp(θ) by series) at random θ, coupled sites included', t => {
  const c = glCase();
  t.is(c.actions.length, 2); // the middle kernel is the second side of site 0 and the first side of site 1: a 'pair' term
  const form = glGramForm(
    c.actions.map(a => a.linearPair!),
    c.grads,
  );
  t.deepEqual(form.terms.map(x => x.kind).sort(), ['left', 'pair', 'right', 'right']); // site 1's bias is on its first side only
  for (const seed of [1, 2, 3]) {
    const th64 = form.widths.map((h, k) => randomMatrix(h, 10 * seed + k, 0.3));
    const gs = th64.map((m, k) => flat(expmNumbers(rows(m, form.widths[k]))));
    const gInvs = th64.map((m, k) =>
      flat(
        expmNumbers(
          rows(
            m.map(v => -v),
            form.widths[k],
          ),
        ),
      ),
    );
    const fast = glGramEvaluate(form, gs, gInvs).value;
    const thetas = th64.map((m, k) => tf.tensor2d(Float32Array.from(m), [form.widths[k], form.widths[k]]));
    const slow = tf.tidy(() => c.objective(thetas).dataSync()[0]);
    t.true(relDiff(fast, slow) < 1e-4, `seed ${seed}: ${fast} vs ${slow}`);
    tf.dispose(thetas);
  }
  // At the identity: ‖∇L‖² over the touched parameters.
  const direct = tf.tidy(() => gradNormSq(c.grads.map((g, i) => (c.touched.has(i) ? g : null))).dataSync()[0]);
  t.true(relDiff(glGramEvaluate(form, [null, null], [null, null]).value, direct) < 1e-5);
  c.dispose();
});

test('Gram form: the chart gradient equals central differences at random g, and tf.grad of the autodiff objective at θ = 0', t => {
  const c = glCase();
  const form = glGramForm(
    c.actions.map(a => a.linearPair!),
    c.grads,
  );
  const hs = form.widths;
  const exp64 = (m: Float64Array, n: number) => flat(expmNumbers(rows(m, n)));
  const gs = hs.map((h, k) => exp64(randomMatrix(h, 40 + k, 0.4), h));
  const gInvs = gs.map((_, k) =>
    exp64(
      randomMatrix(hs[k], 40 + k, 0.4).map(v => -v),
      hs[k],
    ),
  );
  const { local } = glGramEvaluate(form, gs, gInvs);
  const at = (ts: Float64Array[]) =>
    glGramEvaluate(
      form,
      gs.map((g, k) => {
        const e = expmNumbers(rows(ts[k], hs[k]));
        const gr = rows(g, hs[k]);
        return flat(gr.map(row => e[0].map((_, j) => row.reduce((acc, v, p) => acc + v * e[p][j], 0))));
      }),
      gInvs.map((gi, k) => {
        const e = expmNumbers(
          rows(
            ts[k].map(v => -v),
            hs[k],
          ),
        );
        const gr = rows(gi, hs[k]);
        return flat(e.map(row => gr[0].map((_, j) => row.reduce((acc, v, p) => acc + v * gr[p][j], 0))));
      }),
    ).value;
  for (const seed of [5, 6]) {
    const dir = hs.map((h, k) => randomMatrix(h, 100 * seed + k, 1)); // not symmetric
    const eps = 1e-5;
    const fd = (at(dir.map(d => d.map(v => eps * v))) - at(dir.map(d => d.map(v => -eps * v)))) / (2 * eps);
    let analytic = 0;
    dir.forEach((d, k) => d.forEach((v, i) => (analytic += v * local[k][i])));
    t.true(relDiff(fd, analytic) < 1e-6, `seed ${seed}: ${fd} vs ${analytic}`);
  }
  // At the identity the chart gradient is the gradient in θ of the autodiff objective.
  const zero = hs.map(h => tf.zeros([h, h]));
  const auto = tf.grads((...th: tf.Tensor[]) => c.objective(th))(zero);
  const atIdentity = glGramEvaluate(form, [null, null], [null, null]).local;
  auto.forEach((g, k) => {
    const want = tf.tensor2d(Float32Array.from(atIdentity[k]), [hs[k], hs[k]]);
    const scale = tf.max(tf.abs(want)).dataSync()[0];
    t.true(maxAbsDiff(g, want) < 1e-4 * scale, `site ${k}: ${maxAbsDiff(g, want)}`);
    want.dispose();
  });
  tf.dispose([...zero, ...auto]);
  c.dispose();
});

test("lockstep, default 'budget' rule: the Gram ascent takes the autodiff GL solver's steps, θ and objective", t => {
  const c = glCase();
  const form = glGramForm(
    c.actions.map(a => a.linearPair!),
    c.grads,
  );
  // A small cap: the first full-length step overshoots it and is shortened; the ascent then ends.
  const settings = ascentSettings(1.5, 'budget');
  const fast = ascendGlGram(form, settings);
  const init = c.actions.map(a => a.init(() => 0));
  const slow = ascend(th => c.objective(th), init, settings);
  t.is(fast.stepsTaken, slow.stepsTaken);
  t.is(fast.backtracks, slow.backtracks);
  t.true(fast.backtracks >= 1, 'the cap was never hit: the shortened step was not exercised');
  t.true(relDiff(fast.objectiveBefore, slow.objectiveBefore) < 1e-5, `${fast.objectiveBefore} vs ${slow.objectiveBefore}`);
  t.true(relDiff(fast.objectiveAfter, slow.objectiveAfter) < 1e-3, `${fast.objectiveAfter} vs ${slow.objectiveAfter}`);
  fast.thetas.forEach((th, k) => t.true(maxAbsDiff(th, slow.thetas[k]) < 1e-4, `θ ${k}: ${maxAbsDiff(th, slow.thetas[k])}`));
  tf.dispose([...fast.thetas, ...slow.thetas, ...init]);
  c.dispose();
});

test("lockstep, 'fixed' rule (10 steps): the same ascent with tensors and tf.grads in the chart g·exp(T) reaches the same objective", t => {
  const c = glCase();
  const sites = c.actions.map(a => a.linearPair!);
  const form = glGramForm(sites, c.grads);
  const settings = ascentSettings(2, 'fixed');
  const { outcome, elements: found } = ascendGlGram64(form, settings);
  const elements = found.map((e, k) => gramElementMatrices(e, form.widths[k]));
  // Reference: g and g⁻¹ as float32 tensors; the objective at g·exp(T) by transporting each gradient
  // by hand (∇W ← g_jᵀ·∇W·g_k⁻ᵀ, written here from the math, not from gl.ts), ∇T at T = 0 by tf.grads.
  const rightOf = new Map<number, number>();
  const leftOf = new Map<number, number>();
  sites.forEach((s, k) => {
    rightOf.set(s.inKernel, k);
    if (s.inBias != null) rightOf.set(s.inBias, k);
    leftOf.set(s.outKernel!, k);
  });
  type P = { g: tf.Tensor2D[]; gi: tf.Tensor2D[] };
  const value = (p: P, ts: tf.Tensor2D[]) => {
    const G = p.g.map((g, k) => tf.matMul(g, expmPair(ts[k]).pos));
    const Gi = p.gi.map((gi, k) => tf.matMul(expmPair(ts[k]).neg, gi));
    let total: tf.Tensor = tf.scalar(0);
    for (const i of c.touched) {
      let m = c.grads[i].rank === 1 ? tf.reshape(c.grads[i], [1, -1]) : c.grads[i];
      if (leftOf.has(i)) m = tf.matMul(G[leftOf.get(i)!], m, true, false);
      if (rightOf.has(i)) m = tf.matMul(m, Gi[rightOf.get(i)!], false, true);
      total = tf.add(total, tf.sum(tf.square(m)));
    }
    return total as tf.Scalar;
  };
  const space: AscentSpace<P> & { evaluate(p: P): Evaluation<P> & { d: tf.Tensor2D[] } } = {
    evaluate(p) {
      const zero = p.g.map(g => tf.zerosLike(g));
      const d = tf.grads((...ts: tf.Tensor[]) => value(p, ts as tf.Tensor2D[]))(zero) as tf.Tensor2D[];
      const val = tf.tidy(() => value(p, zero).dataSync()[0]);
      const sq = tf.tidy(() => tf.addN(d.map(x => tf.sum(tf.square(x)))).dataSync()[0]);
      tf.dispose(zero);
      return { point: p, value: val, gradNormSq: sq, d };
    },
    move(from, scale) {
      const { point, d } = from as Evaluation<P> & { d: tf.Tensor2D[] };
      const g: tf.Tensor2D[] = [];
      const gi: tf.Tensor2D[] = [];
      tf.tidy(() => {
        d.forEach((x, k) => {
          const { pos, neg } = expmPair(tf.mul(x, scale) as tf.Tensor2D);
          g.push(tf.keep(tf.matMul(point.g[k], pos)));
          gi.push(tf.keep(tf.matMul(neg, point.gi[k])));
        });
      });
      return { g, gi };
    },
    release(e, keepPoint) {
      tf.dispose((e as unknown as { d: tf.Tensor[] }).d);
      if (!keepPoint) tf.dispose([...e.point.g, ...e.point.gi]);
    },
  };
  const eye = form.widths.map(h => tf.eye(h) as tf.Tensor2D);
  const ref = guardedAscent(space, { g: eye, gi: eye.map(e => e.clone()) }, null, settings);
  t.is(outcome.stepsTaken, ref.stepsTaken);
  t.is(outcome.backtracks, ref.backtracks);
  t.true(outcome.stepsTaken >= 2, `only ${outcome.stepsTaken} steps: the later (chart) steps were not exercised`);
  t.true(relDiff(outcome.objectiveAfter, ref.objectiveAfter) < 1e-3, `${outcome.objectiveAfter} vs ${ref.objectiveAfter}`);
  // The returned θ (½·log(g·gᵀ), symmetric) has the found objective under the autodiff path (exp by series).
  const thetas = elements.map((e, k) => tf.tensor2d(Float32Array.from(e.theta), [form.widths[k], form.widths[k]]));
  const slow = tf.tidy(() => c.objective(thetas).dataSync()[0]);
  t.true(relDiff(slow, outcome.objectiveAfter) < 1e-3, `${slow} vs ${outcome.objectiveAfter}`);
  // g·g⁻¹ = I in float64, and g = exp(θ).
  elements.forEach((e, k) => {
    const h = form.widths[k];
    let err = 0;
    let expErr = 0;
    const ex = expmNumbers(rows(e.theta, h));
    for (let i = 0; i < h; i++)
      for (let j = 0; j < h; j++) {
        let s = 0;
        for (let p = 0; p < h; p++) s += e.g[i * h + p] * e.gInv[p * h + j];
        err = Math.max(err, Math.abs(s - (i === j ? 1 : 0)));
        expErr = Math.max(expErr, Math.abs(ex[i][j] - e.g[i * h + j]));
      }
    t.true(err < 1e-12, `site ${k}: |g·g⁻¹ − I| = ${err}`);
    t.true(expErr < 1e-10, `site ${k}: |exp(θ) − g| = ${expErr}`);
  });
  tf.dispose([...ref.best.g, ...ref.best.gi, ...thetas]);
  c.dispose();
});

test('a default GL teleport runs the Gram solver: accepted, exact (drift recomputed, fresh inputs), ‖∇L‖² by autodiff at the new weights, no leaks', t => {
  const c = glCase([7, 6]);
  const settings = resolveSettings({});
  const out = runTeleport({ params: c.s.variables, actions: c.actions, grads: c.grads, loss: c.loss, random: () => 0.5 }, settings);
  t.true(out.metrics.accepted, out.metrics.reason);
  t.true(out.metrics.objectiveAfter > out.metrics.objectiveBefore);
  t.true(out.metrics.objectiveAfter / out.metrics.objectiveBefore <= settings.maxGrowth * (1 + 1e-4));
  // The solver the engine picked.
  t.is(out.solver, 'gl gram ascent');
  // Drift recomputed here from the loss at both weights.
  const [l0, l1] = tf.tidy(() => [c.loss(c.s.variables).dataSync()[0], c.loss(out.params!).dataSync()[0]]);
  t.true(Math.abs(l1 - l0) / Math.abs(l0) <= 1e-5, `drift ${Math.abs(l1 - l0) / Math.abs(l0)}`);
  const fresh = seededUniform([5, 6], 77);
  const [y0, y1] = tf.tidy(() => [c.s.forward(c.s.variables, fresh).output, c.s.forward(out.params!, fresh).output]);
  t.true(maxAbsDiff(y0, y1) < 1e-4 * (1 + tf.tidy(() => tf.max(tf.abs(y0)).dataSync()[0])), `outputs moved by ${maxAbsDiff(y0, y1)}`);
  const direct = tf.tidy(() => {
    const g = tf.grads((...ps: tf.Tensor[]) => c.loss(ps))(out.params!);
    return gradNormSq(g.map((v, i) => (c.touched.has(i) ? v : null))).dataSync()[0];
  });
  t.true(relDiff(direct, out.metrics.objectiveAfter) < 1e-3, `${direct} vs ${out.metrics.objectiveAfter}`);
  // The transported gradient the engine returns is the autodiff gradient at the new weights.
  const auto = tf.grads((...ps: tf.Tensor[]) => c.loss(ps))(out.params!);
  auto.forEach((g, i) => t.true(maxAbsDiff(g, out.grads![i]) < 1e-4, `param ${i}: ${maxAbsDiff(g, out.grads![i])}`));
  // The element applied is the remembered float64 one: g·g⁻¹ ≈ I in float32.
  for (const th of out.thetas) {
    const err = tf.tidy(() => {
      const e = glElement(th);
      return tf.max(tf.abs(tf.sub(tf.matMul(e.g, e.gInv), tf.eye(th.shape[0])))).dataSync()[0];
    });
    t.true(err < 1e-5, `|g·g⁻¹ − I| = ${err}`);
  }
  tf.dispose([...auto, fresh, y0, y1]);
  tf.dispose([...out.thetas, ...(out.grads ?? []).filter(g => !c.grads.includes(g)), ...(out.params ?? [])]);
  c.dispose();
});

test('no tensor leaks: runTeleport with the Gram solver leaves tf.memory().numTensors flat', t => {
  const c = glCase();
  const run = () => {
    const out = runTeleport({ params: c.s.variables, actions: c.actions, grads: c.grads, loss: c.loss, random: () => 0.5 }, resolveSettings({}));
    t.true(out.metrics.accepted, out.metrics.reason);
    tf.dispose([...out.thetas, ...(out.grads ?? []).filter(g => !c.grads.includes(g)), ...(out.params ?? [])]);
  };
  run();
  const before = tf.memory().numTensors;
  run();
  run();
  t.is(tf.memory().numTensors, before);
  c.dispose();
});

test('preconditioned gradient norm (Adam) has no Gram form, nor has a teleport without the gradient: the registry falls back to another solver', t => {
  const c = glCase();
  const before = tf.memory().numTensors;
  const weights = c.s.variables.map(v => tf.fill(v.shape, 0.5));
  const runs = [
    runTeleport(
      { params: c.s.variables, actions: c.actions, grads: c.grads, loss: c.loss, preconditioner: weights, random: () => 0.5 },
      resolveSettings({ objective: 'preconditionedGradNorm' }),
    ),
    runTeleport({ params: c.s.variables, actions: c.actions, grads: null, loss: c.loss, random: () => 0.5 }, resolveSettings({})),
  ];
  for (const out of runs) {
    t.truthy(out.solver);
    t.not(out.solver, 'gl gram ascent');
    tf.dispose([...out.thetas, ...(out.grads ?? []).filter(g => !c.grads.includes(g)), ...(out.params ?? [])]);
  }
  tf.dispose(weights);
  t.is(tf.memory().numTensors, before);
  c.dispose();
});

test('symEig64 (flat Householder + QL) matches ml-matrix eigenvalues, reconstructs A and has orthonormal vectors', t => {
  for (const n of [1, 2, 7, 40]) {
    const r = new SeededRandom(n);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j <= i; j++) {
        const v = 2 * r.next() - 1;
        a[i * n + j] = v;
        a[j * n + i] = v;
      }
    const { values, q } = symEig64(a, n);
    const ref = symmetricEigenNumbers(rows(a, n)).values;
    const sorted = Array.from(values).sort((p, q2) => p - q2);
    t.true(Math.max(...sorted.map((v, i) => Math.abs(v - ref[i]))) < 1e-12, `n=${n}: eigenvalues`);
    let rec = 0;
    let orth = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        let o = 0;
        for (let k = 0; k < n; k++) {
          s += q[i * n + k] * values[k] * q[j * n + k];
          o += q[k * n + i] * q[k * n + j];
        }
        rec = Math.max(rec, Math.abs(s - a[i * n + j]));
        orth = Math.max(orth, Math.abs(o - (i === j ? 1 : 0)));
      }
    t.true(rec < 1e-12 && orth < 1e-12, `n=${n}: |QΛQᵀ − A| = ${rec}, |QᵀQ − I| = ${orth}`);
  }
  // A matrix with repeated eigenvalues (a projector) still gives an orthonormal basis.
  const p = new Float64Array(9).fill(1 / 3);
  const { values, q } = symEig64(p, 3);
  t.deepEqual(
    Array.from(values)
      .map(v => Math.round(v * 1e9) / 1e9 + 0)
      .sort(),
    [0, 0, 1],
  );
  let o = 0;
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) o = Math.max(o, Math.abs(q[i] * q[j] + q[3 + i] * q[3 + j] + q[6 + i] * q[6 + j] - (i === j ? 1 : 0)));
  t.true(o < 1e-12);
});

test('products on the backend (float32) equal the float64 loops, transposes included; the Gram ascent takes the same steps on either engine', t => {
  const r = new SeededRandom(7);
  const rand = (len: number) => Float64Array.from({ length: len }, () => 2 * r.next() - 1);
  const [m, k, n] = [9, 13, 6];
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    const a = rand(m * k);
    const b = rand(k * n);
    const exact = matMulOn('float64', a, b, m, k, n, ta, tb);
    const fast = matMulOn('backend', a, b, m, k, n, ta, tb);
    t.deepEqual(Array.from(exact), Array.from(matMul64(a, b, m, k, n, ta, tb)));
    const err = Math.max(...exact.map((v, i) => Math.abs(v - fast[i])));
    t.true(err < 1e-5, `ta=${ta} tb=${tb}: ${err}`);
  }
  // 'auto' picks the loops below the threshold: bit-identical to float64 there.
  const a = rand(16);
  t.deepEqual(Array.from(matMulOn('auto', a, a, 4, 4, 4)), Array.from(matMul64(a, a, 4, 4, 4)));

  const c = glCase([12, 10]);
  const form = glGramForm(
    c.actions.map(x => x.linearPair!),
    c.grads,
  );
  const settings = ascentSettings(2, 'fixed');
  const ref = ascendGlGram64(form, settings, 'float64');
  const tensorsBefore = tf.memory().numTensors;
  const onBackend = ascendGlGram64(form, settings, 'backend');
  t.is(tf.memory().numTensors, tensorsBefore, 'the backend products leaked tensors');
  t.true(ref.outcome.stepsTaken >= 3, `only ${ref.outcome.stepsTaken} steps: later frames (rotated bases, g₀) not exercised`);
  t.is(onBackend.outcome.stepsTaken, ref.outcome.stepsTaken);
  t.is(onBackend.outcome.backtracks, ref.outcome.backtracks);
  t.true(relDiff(onBackend.outcome.objectiveAfter, ref.outcome.objectiveAfter) < 1e-4, `${onBackend.outcome.objectiveAfter} vs ${ref.outcome.objectiveAfter}`);
  onBackend.elements.forEach((e, i) => {
    const h = form.widths[i];
    const x = gramElementMatrices(e, h).g;
    const y = gramElementMatrices(ref.elements[i], h).g;
    const err = Math.max(...x.map((v, j) => Math.abs(v - y[j])));
    t.true(err < 1e-3, `site ${i}: |g − g_ref| = ${err}`);
  });
  c.dispose();
});
