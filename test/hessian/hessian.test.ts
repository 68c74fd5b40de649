import test from 'ava';
import { tf, tfl, useCpu, mlp, seededUniform, oneHotBatch } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpHessian from '../../src/hessian.js';
import { symmetricEigenNumbers } from '../../src/linalg/float64.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

/** A symmetric n×n float64 matrix with entries from a seeded stream. */
function symmetric(n: number, seed: number): number[][] {
  const r = new SeededRandom(seed);
  const a = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i][j] = a[j][i] = 2 * r.next() - 1;
  return a;
}

/** ½xᵀAx over two variables ([2, 2] and [n − 4]) flattened in order: the Hessian is A. */
function quadratic(a: number[][]) {
  const n = a.length;
  const r = new SeededRandom(99);
  const w1 = tf.variable(
    tf.tensor(
      Array.from({ length: 4 }, () => r.next()),
      [2, 2],
    ),
  );
  const w2 = tf.variable(
    tf.tensor(
      Array.from({ length: n - 4 }, () => r.next()),
      [n - 4],
    ),
  );
  const A = tf.tensor2d(a);
  const loss = () =>
    tf.tidy(() => {
      const x = tf.reshape(tf.concat([tf.reshape(w1, [-1]), w2]), [n, 1]);
      return tf.mul(0.5, tf.sum(tf.mul(x, tf.matMul(A, x)))) as tf.Scalar;
    });
  return {
    target: { params: [w1, w2], loss },
    dispose: () => tf.dispose([w1, w2, A]),
  };
}

const flat = (ts: tf.Tensor[]) => ts.flatMap(t => Array.from(t.dataSync()));

test('full() of ½xᵀAx equals A, and its Lanczos top-k equal the float64 eigenvalues of A', t => {
  const a = symmetric(7, 1);
  const q = quadratic(a);
  const { n, matrix } = tpHessian.full(q.target);
  t.is(n, 7);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) t.true(Math.abs(matrix[i * n + j] - a[i][j]) < 1e-5, `H[${i}][${j}] ${matrix[i * n + j]} vs ${a[i][j]}`);
  const exact = symmetricEigenNumbers(a).values.reverse();
  const { values, iterations, residuals } = tpHessian.topEigenvalues(q.target, 3);
  t.is(iterations, 7);
  values.forEach((v, i) => t.true(Math.abs(v - exact[i]) < 1e-5, `λ${i} ${v} vs ${exact[i]}`));
  residuals.forEach(r => t.true(r < 1e-4, `residual ${r}`));
  // The Ritz vectors are eigenvectors of A: ‖Ay − λy‖ small, ‖y‖ = 1.
  const { vectors } = tpHessian.topEigenvalues(q.target, 2, { vectors: true });
  vectors!.forEach((y, c) => {
    t.true(Math.abs(Math.hypot(...y) - 1) < 1e-9);
    const ay = a.map(row => row.reduce((s, v, j) => s + v * y[j], 0));
    t.true(Math.hypot(...ay.map((v, i) => v - exact[c] * y[i])) < 1e-4);
  });
  q.dispose();
});

test('Lanczos with fewer steps than parameters finds well-separated top eigenvalues (n = 60, m = 25)', t => {
  // A = QΛQᵀ with Λ = 10, 8, 6, then 60 − 3 values in [0, 2): a known spectrum, rotated by a seeded Q.
  const n = 60;
  const r = new SeededRandom(5);
  const spectrum = [10, 8, 6, ...Array.from({ length: n - 3 }, () => 2 * r.next())];
  const qm = symmetricEigenNumbers(symmetric(n, 6)).vectors;
  const a = qm.map((_, i) => qm.map((__, j) => spectrum.reduce((s, l, k) => s + qm[i][k] * l * qm[j][k], 0)));
  const q = quadratic(a);
  const { values } = tpHessian.topEigenvalues(q.target, 3, { iterations: 25, seed: 2 });
  const exact = symmetricEigenNumbers(a).values.reverse();
  values.forEach((v, i) => t.true(Math.abs(v - exact[i]) < 1e-4, `λ${i} ${v} vs ${exact[i]}`));
  t.true(Math.abs(exact[0] - 10) < 1e-9);
  q.dispose();
});

test("Hutchinson's trace is within 4 standard errors of tr(A); exact with zero error on a diagonal A", t => {
  const a = symmetric(9, 3);
  const q = quadratic(a);
  const tr = a.reduce((s, row, i) => s + row[i], 0);
  const { estimate, standardError, samples } = tpHessian.trace(q.target, { samples: 200, seed: 4 });
  t.is(samples, 200);
  t.true(standardError > 0.01, `standard error ${standardError}`);
  t.true(Math.abs(estimate - tr) < 4 * standardError, `${estimate} ± ${standardError} vs ${tr}`);
  // The same seed gives the same probes.
  t.is(tpHessian.trace(q.target, { samples: 200, seed: 4 }).estimate, estimate);
  q.dispose();
  // Diagonal A: zᵀAz = Σ a_ii z_i² = tr A for every Rademacher z.
  const d = quadratic(Array.from({ length: 6 }, (_, i) => Array.from({ length: 6 }, (__, j) => (i === j ? i - 1.5 : 0))));
  const exact = tpHessian.trace(d.target, { samples: 5 });
  t.true(Math.abs(exact.estimate - 6) < 1e-5 && exact.standardError < 1e-5, JSON.stringify(exact));
  d.dispose();
});

test('full() of a linear model with MSE equals the closed form 2/(N·O)·[X 1]ᵀ[X 1] ⊗ I', t => {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
  model.setWeights([seededUniform([3, 2], 1), seededUniform([2], 2)]);
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const x = seededUniform([7, 3], 3);
  const y = seededUniform([7, 2], 4);
  const { n, matrix } = tpHessian.full({ model, data: { x, y } });
  t.is(n, 8);
  // Flat order: W row-major (index k·2 + o), then b (index 6 + o). Feature k = 3 is the constant 1 of the bias.
  const X = (x.arraySync() as number[][]).map(row => [...row, 1]);
  const idx = (k: number, o: number) => (k < 3 ? k * 2 + o : 6 + o);
  for (let k = 0; k < 4; k++)
    for (let o = 0; o < 2; o++)
      for (let k2 = 0; k2 < 4; k2++)
        for (let o2 = 0; o2 < 2; o2++) {
          const expected = o === o2 ? (2 / 14) * X.reduce((s, row) => s + row[k] * row[k2], 0) : 0;
          const got = matrix[idx(k, o) * n + idx(k2, o2)];
          if (Math.abs(got - expected) > 1e-5) t.fail(`H(${k},${o};${k2},${o2}) ${got} vs ${expected}`);
        }
  t.pass();
  tf.dispose([x, y]);
});

/** A tanh MLP trained a little on a seeded regression batch. */
async function trainedMlp(activation = 'tanh') {
  const model = mlp({ input: 4, widths: [5, 4], output: 2, activation, seed: 7 });
  model.compile({ optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError' });
  const x = seededUniform([16, 4], 11);
  const y = seededUniform([16, 2], 12);
  await model.fit(x, y, { epochs: 20, batchSize: 16, verbose: 0 });
  return { model, x, y };
}

const randomVectors = (model: tfl.LayersModel, seed: number) => model.trainableWeights.map((w, i) => seededUniform(w.shape as number[], seed + i));

test('autodiff HVP equals the finite-difference HVP on a small trained MLP (tanh, and LeakyReLU + softmax cross-entropy)', async t => {
  const { model, x, y } = await trainedMlp();
  const target = { model, data: { x, y } };
  for (const seed of [20, 40]) {
    const v = randomVectors(model, seed);
    const ad = flat(tpHessian.hvp(target, v));
    const fd = flat(tpHessian.hvp(target, v, { method: 'finite-difference' }));
    const err = Math.hypot(...ad.map((a, i) => a - fd[i])) / Math.hypot(...ad);
    t.true(err < 1e-3, `relative difference ${err}`);
    t.true(Math.hypot(...ad) > 1e-2);
    tf.dispose(v);
  }
  const cls = mlp({ input: 4, widths: [6], output: 3, leakyLayer: true, alpha: 0.2, softmax: true, seed: 3 });
  cls.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const labels = oneHotBatch(16, 3, 5);
  const v = randomVectors(cls, 60);
  const ad = flat(tpHessian.hvp({ model: cls, data: { x, y: labels } }, v));
  const fd = flat(tpHessian.hvp({ model: cls, data: { x, y: labels } }, v, { method: 'finite-difference', epsilon: 1e-3 }));
  const err = Math.hypot(...ad.map((a, i) => a - fd[i])) / Math.hypot(...ad);
  t.true(err < 1e-2, `relative difference ${err}`);
  tf.dispose([x, y, labels, ...v]);
});

test('full() columns equal hvp of unit vectors; several batches give the Hessian of the concatenated data', async t => {
  const { model, x, y } = await trainedMlp('relu');
  const { n, matrix } = tpHessian.full({ model, data: { x, y } });
  const shapes = model.trainableWeights.map(w => w.shape as number[]);
  t.is(
    n,
    shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0),
  );
  // Unit vector j built by hand per parameter (parameter p, row-major offset), then one hvp.
  for (const j of [0, 7, 24, n - 1]) {
    let offset = 0;
    const e = shapes.map(sh => {
      const size = sh.reduce((a, b) => a * b, 1);
      const data = new Float32Array(size);
      if (j >= offset && j < offset + size) data[j - offset] = 1;
      offset += size;
      return tf.tensor(data, sh);
    });
    const col = flat(tpHessian.hvp({ model, data: { x, y } }, e));
    col.forEach((c, i) => {
      if (Math.abs(c - matrix[i * n + j]) > 1e-5) t.fail(`H[${i}][${j}] ${matrix[i * n + j]} vs hvp ${c}`);
    });
    tf.dispose(e);
  }
  // Two equal halves: the Hessian of the mean loss over both is that of the whole batch.
  const [x1, x2] = tf.split(x, 2);
  const [y1, y2] = tf.split(y, 2);
  const halves = tpHessian.full({
    model,
    data: [
      { x: x1, y: y1 },
      { x: x2, y: y2 },
    ],
  });
  let worst = 0;
  for (let i = 0; i < n * n; i++) worst = Math.max(worst, Math.abs(halves.matrix[i] - matrix[i]));
  t.true(worst < 1e-5, `max difference ${worst}`);
  tf.dispose([x, y, x1, x2, y1, y2]);
});

test('stats of a diagonal spectrum with zeros match the closed form; from a matrix too; logPdet does not overflow', t => {
  const spectrum = [5, 2, 0.5, 0, 0, -1];
  const s = tpHessian.stats(spectrum);
  t.is(s.n, 6);
  t.is(s.rank, 4);
  t.is(s.negative, 1);
  t.deepEqual(s.positive, [5, 2, 0.5]);
  t.true(Math.abs(s.pdet - -5) < 1e-12);
  t.true(Math.abs(s.logPdet - Math.log(5)) < 1e-12);
  t.true(Math.abs(s.conditionNumber - 10) < 1e-12);
  t.true(Math.abs(s.amgm - 7.5 / 3 / Math.cbrt(5)) < 1e-12);
  // Equal positive eigenvalues: ω = 1, κ = 1.
  const flatSpectrum = tpHessian.stats([3, 3, 3, 0]);
  t.true(Math.abs(flatSpectrum.amgm - 1) < 1e-12 && flatSpectrum.conditionNumber === 1);
  // From the full Hessian of a diagonal quadratic: the same numbers (eigenvalues by float64 eig).
  const q = quadratic(spectrum.map((l, i) => spectrum.map((_, j) => (i === j ? l : 0))));
  const m = tpHessian.stats(tpHessian.full(q.target));
  t.is(m.rank, 4);
  t.true(Math.abs(m.conditionNumber - 10) < 1e-5 && Math.abs(m.amgm - s.amgm) < 1e-5 && Math.abs(m.pdet - -5) < 1e-4);
  q.dispose();
  // The default tolerance is max|λ|·n·2⁻²³: 1e-9 next to 1 is a zero, 1e-5 is not; an explicit one wins.
  t.is(tpHessian.stats([1, 1e-9]).rank, 1);
  t.is(tpHessian.stats([1, 1e-5]).rank, 2);
  t.is(tpHessian.stats([1, 1e-9], { tolerance: 0 }).rank, 2);
  const big = tpHessian.stats(new Array(400).fill(1e3));
  t.is(big.pdet, Number.POSITIVE_INFINITY);
  t.true(Math.abs(big.logPdet - 400 * Math.log(1e3)) < 1e-9);
  t.true(Math.abs(big.amgm - 1) < 1e-12);
  const none = tpHessian.stats([0, -2]);
  t.true(Number.isNaN(none.conditionNumber) && Number.isNaN(none.amgm) && none.rank === 1);
});

test('every function leaves the weights bit-for-bit unchanged and tf.memory().numTensors flat', async t => {
  const { model, x, y } = await trainedMlp('relu');
  const target = { model, data: [{ x, y }] };
  const before = model.getWeights().map(w => Array.from(w.dataSync()));
  const v = randomVectors(model, 80);
  // Warm up (tfjs-layers and the backend cache a few tensors on first use).
  tf.dispose(tpHessian.hvp(target, v, { method: 'finite-difference' }));
  tf.dispose(tpHessian.hvp(target, v));
  const count = tf.memory().numTensors;
  for (const method of ['autodiff', 'finite-difference'] as const) {
    tf.dispose(tpHessian.hvp(target, v, { method }));
    tpHessian.topEigenvalues(target, 2, { method, iterations: 6, vectors: true });
    tpHessian.trace(target, { method, samples: 3 });
  }
  tpHessian.full(target, { method: 'finite-difference' });
  t.is(tf.memory().numTensors, count);
  t.deepEqual(
    model.getWeights().map(w => Array.from(w.dataSync())),
    before,
  );
  // Quadratic target on plain variables: the same.
  const q = quadratic(symmetric(5, 8));
  const values = q.target.params.map(p => Array.from(p.dataSync()));
  const c2 = tf.memory().numTensors;
  tpHessian.topEigenvalues(q.target, 1, { method: 'finite-difference' });
  tpHessian.full(q.target);
  t.is(tf.memory().numTensors, c2);
  t.deepEqual(
    q.target.params.map(p => Array.from(p.dataSync())),
    values,
  );
  q.dispose();
  tf.dispose([x, y, ...v]);
});

test('bad input gets a clear error', async t => {
  const { model, x, y } = await trainedMlp();
  const target = { model, data: { x, y } };
  const v = randomVectors(model, 90);
  const n = model.countParams();
  t.throws(() => tpHessian.hvp(target, v.slice(1)), { instanceOf: tp.TeleportError, message: /array of 6 tensors/ });
  const wrong = [tf.zeros([5, 4]), ...v.slice(1)];
  t.throws(() => tpHessian.hvp(target, wrong), { message: /v\[0\] has shape \[5,4\] but parameter 0 .* has shape \[4,5\]/ });
  t.throws(() => tpHessian.hvp(target, v, { method: 'exact' as 'autodiff' }), { message: /method must be/ });
  t.throws(() => tpHessian.topEigenvalues(target, n + 1), { message: new RegExp(`k must be an integer from 1 to the number of parameters \\(${n}\\)`) });
  t.throws(() => tpHessian.topEigenvalues(target, 0), { message: /k must be/ });
  t.throws(() => tpHessian.topEigenvalues(target, 5, { iterations: 3 }), { message: /iterations must be an integer from k = 5/ });
  t.throws(() => tpHessian.trace(target, { samples: 1 }), { message: /samples must be an integer ≥ 2/ });
  t.throws(() => tpHessian.full(target, { maxParams: 20 }), {
    message: new RegExp(`has ${n} parameters, more than maxParams = 20; pass \\{ maxParams: ${n} \\}`),
  });
  const raw = mlp({ input: 4, widths: [3], output: 2 });
  t.throws(() => tpHessian.trace({ model: raw, data: { x, y } }), { message: /not compiled/ });
  t.throws(() => tpHessian.trace({ model, data: [] }), { message: /give data/ });
  t.throws(() => tpHessian.trace({ params: [], loss: () => tf.scalar(0) }), { message: /non-empty array of tf.Variable/ });
  t.throws(() => tpHessian.stats([]), { message: /non-empty list/ });
  t.throws(() => tpHessian.stats({ n: 3, matrix: new Float64Array(4) }), { message: /n·n entries/ });
  tf.dispose([x, y, ...v, wrong[0]]);
});

test('second derivatives through tanh, sigmoid and softmax cross-entropy match their closed forms (tf.tanh alone gives 0)', t => {
  const w0 = [0.3, -0.7, 1.1];
  const c = [0.2, 1, 0.3];
  const w = tf.variable(tf.tensor1d(w0));
  const cs = tf.tensor1d(c);
  const target = tf.tensor2d([[0, 1, 0]]);
  const diagOf = (loss: () => tf.Scalar) => {
    const { n, matrix } = tpHessian.full({ params: [w], loss });
    return Array.from({ length: n }, (_, i) => matrix[i * n + i]);
  };
  const count = tf.memory().numTensors;
  // L = Σ c_i·tanh(2w_i): ∂²L/∂w_i² = −8·c_i·τ(1 − τ²), τ = tanh(2w_i).
  const tanh = diagOf(() => tf.sum(tf.mul(cs, tpHessian.secondOrder.tanh(tf.mul(w, 2)))) as tf.Scalar);
  w0.forEach((v, i) => {
    const tau = Math.tanh(2 * v);
    t.true(Math.abs(tanh[i] - -8 * c[i] * tau * (1 - tau * tau)) < 1e-5, `tanh ${i}`);
  });
  // tfjs's own tanh loses the path through its saved output: the Hessian comes out 0 (tfjs 4.22).
  t.deepEqual(
    diagOf(() => tf.sum(tf.mul(cs, tf.tanh(tf.mul(w, 2)))) as tf.Scalar),
    [0, 0, 0],
  );
  // L = Σ c_i·σ(w_i): σ'' = σ(1 − σ)(1 − 2σ).
  const sig = diagOf(() => tf.sum(tf.mul(cs, tpHessian.secondOrder.sigmoid(w))) as tf.Scalar);
  w0.forEach((v, i) => {
    const s = 1 / (1 + Math.exp(-v));
    t.true(Math.abs(sig[i] - c[i] * s * (1 - s) * (1 - 2 * s)) < 1e-5, `sigmoid ${i}`);
  });
  // Softmax cross-entropy on logits w (one row, target class 1): H = diag(p) − ppᵀ.
  const ce = tpAdvanced.resolveLoss('categoricalCrossentropy', true);
  const { matrix } = tpHessian.full({ params: [w], loss: () => ce.compute(target, tf.reshape(w, [1, 3])) });
  const e = w0.map(Math.exp);
  const p = e.map(v => v / e.reduce((a, b) => a + b, 0));
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) t.true(Math.abs(matrix[i * 3 + j] - ((i === j ? p[i] : 0) - p[i] * p[j])) < 1e-5, `CE H[${i}][${j}]`);
  t.is(tf.memory().numTensors, count);
  tf.dispose([w, cs, target]);
});

test('Lanczos continues past an invariant Krylov subspace (a rank-2 diagonal A: 3 distinct eigenvalues in 6 dimensions)', t => {
  const d = [5, 0, 2, 0, 0, 0];
  const q = quadratic(d.map((v, i) => d.map((_, j) => (i === j ? v : 0))));
  // From any start, the Krylov space has dimension 3 (eigenvalues 5, 2, 0): step 3 breaks down and the
  // iteration goes on in fresh directions orthogonal to it.
  const { values, iterations, vectors } = tpHessian.topEigenvalues(q.target, 4, { iterations: 6, vectors: true, seed: 3 });
  t.is(iterations, 6);
  [5, 2, 0, 0].forEach((e, i) => t.true(Math.abs(values[i] - e) < 1e-5, `λ${i} ${values[i]} vs ${e}`));
  // The Ritz vectors are orthonormal, and the top two are ±e_0 and ±e_2.
  for (let a = 0; a < 4; a++)
    for (let b = 0; b < 4; b++) {
      const dot = vectors![a].reduce((s, v, i) => s + v * vectors![b][i], 0);
      t.true(Math.abs(dot - (a === b ? 1 : 0)) < 1e-6, `q${a}·q${b} = ${dot}`);
    }
  t.true(Math.abs(Math.abs(vectors![0][0]) - 1) < 1e-5 && Math.abs(Math.abs(vectors![1][2]) - 1) < 1e-5);
  q.dispose();
});
