import test from 'ava';
import { tf, tfl, useCpu, relDiff, maxAbsDiff } from '../helpers.js';
import { rosenbrock, booth, quadratic, type TestFunction } from '../../src/problems/test_functions.js';
import { regressionData, regressionModel, regressionLoss, sumSquaredError } from '../../src/problems/regression.js';
import { so2, orthogonal } from '../../src/groups/so2.js';
import { expm, expmNumbers } from '../../src/linalg/index.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

// ---------------------------------------------------------------------------------------------
// Float64 references in plain JS.

type Vec = number[];
type Mat = number[][];
const matVec = (m: Mat, v: Vec): Vec => m.map(row => row.reduce((s, a, j) => s + a * v[j], 0));
const matMul = (a: Mat, b: Mat): Mat => a.map(row => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map(row => row[j]));
const eye = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
const maxAbs = (a: Mat, b: Mat) => Math.max(...a.flatMap((row, i) => row.map((v, j) => Math.abs(v - b[i][j]))));
const rot = (t: number): Mat => [
  [Math.cos(t), -Math.sin(t)],
  [Math.sin(t), Math.cos(t)],
];

/** A problem in float64: φ, φ⁻¹ and ∇L written out by hand. */
interface Reference {
  phi(x: Vec): Vec;
  phiInv(u: Vec): Vec;
  grad(x: Vec): Vec;
}

const rosenbrockRef: Reference = {
  phi: ([a, b]) => [10 * (a * a - b), a - 1],
  phiInv: ([u1, u2]) => [u2 + 1, (u2 + 1) ** 2 - 0.1 * u1],
  grad: ([a, b]) => [400 * a * (a * a - b) + 2 * (a - 1), -200 * (a * a - b)],
};

const boothRef: Reference = {
  phi: ([a, b]) => [a + 2 * b - 7, 2 * a + b - 5],
  phiInv: ([u, v]) => [-u / 3 + (2 * v) / 3 + 1, (2 * u) / 3 - v / 3 + 3],
  grad: ([a, b]) => {
    const u = a + 2 * b - 7;
    const v = 2 * a + b - 5;
    return [2 * u + 4 * v, 4 * u + 2 * v];
  },
};

/**
 * A quadratic ½(x − b)ᵀA(x − b) with A = V·diag(w)·Vᵀ built from a known rotation V, so that
 * (A/2)^{±1/2} = V·diag((w/2)^{±1/2})·Vᵀ is known exactly in float64.
 */
function quadraticRef(v: Mat, w: Vec, b: Vec): { a: Mat; ref: Reference } {
  const withDiag = (d: Vec) =>
    matMul(
      matMul(
        v,
        d.map((di, i) => d.map((_, j) => (i === j ? di : 0))),
      ),
      transpose(v),
    );
  const a = withDiag(w);
  const s = withDiag(w.map(x => Math.sqrt(x / 2)));
  const sInv = withDiag(w.map(x => 1 / Math.sqrt(x / 2)));
  return {
    a,
    ref: {
      phi: x =>
        matVec(
          s,
          x.map((xi, i) => xi - b[i]),
        ),
      phiInv: u => matVec(sInv, u).map((xi, i) => xi + b[i]),
      grad: x =>
        matVec(
          a,
          x.map((xi, i) => xi - b[i]),
        ),
    },
  };
}

const q2 = quadraticRef(rot(0.7), [3, 0.8], [1, -1]);
const quad2 = quadratic(q2.a, [1, -1]);
const q3v = expmNumbers([
  [0, 0.4, -0.9],
  [-0.4, 0, 0.3],
  [0.9, -0.3, 0],
]);
const q3 = quadraticRef(q3v, [2.5, 1, 0.4], [0.5, -1, 2]);
const quad3 = quadratic(q3.a, [0.5, -1, 2]);

const cases: Array<{ fn: TestFunction; ref: Reference; box: number }> = [
  // Rosenbrock's φ⁻¹ squares x₁: keep points moderate so float32 cancellation stays below 1e-5.
  { fn: rosenbrock, ref: rosenbrockRef, box: 1.2 },
  { fn: booth, ref: boothRef, box: 6 },
  { fn: quad2, ref: q2.ref, box: 3 },
];

/** ‖∇L(g·x)‖² for g = R(θ) through φ, in float64. */
const gradNormAfter = (ref: Reference, q: Mat, x: Vec) => {
  const g = ref.grad(ref.phiInv(matVec(q, ref.phi(x))));
  return g.reduce((s, v) => s + v * v, 0);
};

function randomPoints(seed: number, count: number, dim: number, box: number): Vec[] {
  const r = new SeededRandom(seed);
  return Array.from({ length: count }, () => Array.from({ length: dim }, () => box * (2 * r.next() - 1)));
}

// ---------------------------------------------------------------------------------------------
// Bijections and invariance.

for (const { fn, ref, box } of cases) {
  test(`${fn.name}: φ⁻¹(φ(x)) = x, φ matches the float64 formula, and L = ‖φ(x)‖² (factor 1)`, t => {
    for (const p of [...randomPoints(11, 12, 2, box), fn.defaultStart, fn.minimum]) {
      tf.tidy(() => {
        const x = tf.tensor1d(p);
        const u = fn.bijection.forward(x);
        t.deepEqual(u.shape, [2]);
        const uRef = ref.phi(p);
        t.true(maxAbsDiff(u, tf.tensor1d(uRef)) <= 1e-5 * (1 + Math.max(...uRef.map(Math.abs))), `φ at ${p}`);
        t.true(maxAbsDiff(fn.bijection.inverse(u), x) <= 1e-5 * (1 + Math.max(...p.map(Math.abs))), `round trip at ${p}`);
        t.true(maxAbsDiff(fn.bijection.inverse(tf.tensor1d(uRef)), x) <= 1e-5 * (1 + Math.max(...p.map(Math.abs))), `φ⁻¹ at ${p}`);
        const l = fn.loss(x).dataSync()[0];
        const uu = uRef.reduce((s, v) => s + v * v, 0);
        t.true(relDiff(l, uu) < 1e-5 || Math.abs(l - uu) < 1e-6, `L vs ‖φ‖² at ${p}: ${l} vs ${uu}`);
        t.true(relDiff(fn.lossAt(p), uu) < 1e-12 || Math.abs(fn.lossAt(p) - uu) < 1e-12, `lossAt at ${p}`);
      });
    }
    t.is(fn.lossAt(fn.minimum), 0);
  });

  test(`${fn.name}: L(g·x) = L(x) for random θ and x (so2), and g·x matches float64`, t => {
    const r = new SeededRandom(23);
    for (const p of randomPoints(12, 20, 2, box)) {
      const angle = 2 * Math.PI * r.next();
      tf.tidy(() => {
        const x = tf.tensor1d(p);
        const action = so2(fn.bijection);
        const moved = action.act([x], tf.scalar(angle));
        t.is(moved.length, 1);
        const xp = moved[0] as tf.Tensor1D;
        t.deepEqual(xp.shape, [2]);
        const l = fn.loss(x).dataSync()[0];
        const l2 = fn.loss(xp).dataSync()[0];
        t.true(relDiff(l, l2) < 1e-5, `${fn.name} at ${p}, θ=${angle}: ${l} → ${l2}`);
        const xRef = ref.phiInv(matVec(rot(angle), ref.phi(p)));
        t.true(maxAbsDiff(xp, tf.tensor1d(xRef)) <= 2e-5 * (1 + Math.max(...xRef.map(v => v * v))), `g·x at ${p}`);
      });
    }
  });
}

test('so2: SiteAction fields, init, identity at θ = 0, untouched entries pass through', t => {
  const action = so2(booth.bijection, { where: 'booth x' });
  t.is(action.group, 'so2');
  t.is(action.where, 'booth x');
  t.is(action.exactness, 'everywhere');
  t.deepEqual(action.touches, [0]);
  t.is(action.transportGradient, undefined);
  // Random init: uniform in [0, π) from the given source.
  const values = [0, 0.25, 0.999999];
  for (const v of values) {
    const theta = action.init(() => v);
    t.deepEqual(theta.shape, []);
    t.true(Math.abs(theta.dataSync()[0] - Math.PI * v) < 1e-6);
    theta.dispose();
  }
  const fixed = so2(booth.bijection, { initAngle: 0.5 }).init(() => 0.9);
  t.true(Math.abs(fixed.dataSync()[0] - 0.5) < 1e-7);
  fixed.dispose();
  t.throws(() => so2(booth.bijection, { initAngle: NaN }), { message: /initAngle/ });

  const x = tf.tensor1d([5, -5]);
  const other = tf.tensor2d([[1, 2]]);
  const out = action.act([x, other], tf.scalar(0));
  t.is(out[1], other);
  t.true(maxAbsDiff(out[0], x) < 1e-5);
  t.throws(() => action.act([tf.tensor1d([1, 2, 3])], tf.scalar(0)), { message: /2 numbers/ });
  tf.dispose([x, other, out]);
});

test('orthogonal (SO(n) through a 3-d quadratic): round trip, L(g·x) = L(x), identity at θ = 0', t => {
  const action = orthogonal(quad3.bijection, 3);
  t.is(action.group, 'on');
  t.deepEqual(action.touches, [0]);
  const init = action.init(() => 0.5);
  t.deepEqual(init.shape, [3]);
  t.deepEqual(Array.from(init.dataSync()), [0, 0, 0]);
  const r = new SeededRandom(5);
  for (const p of randomPoints(31, 10, 3, 3)) {
    tf.tidy(() => {
      const x = tf.tensor1d(p);
      t.true(maxAbsDiff(quad3.bijection.inverse(quad3.bijection.forward(x)), x) < 1e-5);
      const l = quad3.loss(x).dataSync()[0];
      t.true(relDiff(l, quad3.lossAt(p)) < 1e-5);
      t.true(
        relDiff(
          l,
          q3.ref.phi(p).reduce((s, v) => s + v * v, 0),
        ) < 1e-5,
      );
      t.true(maxAbsDiff(action.act([x], init)[0], x) < 1e-5);
      const theta = [0, 0, 0].map(() => 4 * r.next() - 2);
      const moved = action.act([x], tf.tensor1d(theta))[0] as tf.Tensor1D;
      t.true(relDiff(l, quad3.loss(moved).dataSync()[0]) < 1e-5);
      // Against float64: Q = exp(S(θ)) with S from the pairs (0,1), (0,2), (1,2).
      const s: Mat = [
        [0, theta[0], theta[1]],
        [-theta[0], 0, theta[2]],
        [-theta[1], -theta[2], 0],
      ];
      const xRef = q3.ref.phiInv(matVec(expmNumbers(s), q3.ref.phi(p)));
      t.true(maxAbsDiff(moved, tf.tensor1d(xRef)) < 1e-4);
    });
  }
  init.dispose();
  t.throws(() => orthogonal(quad3.bijection, 1), { message: /n must be/ });
});

// ---------------------------------------------------------------------------------------------
// Second-order autodiff: the gradient in θ of f(θ) = ‖∇L(g·x)‖², by nested tf.grad.

/** f(θ) = ‖∇L(g(θ)·x)‖² in tfjs: the inner ∇L by tf.grad, all of it differentiable in θ. */
function tfObjective(fn: TestFunction, act: (x: tf.Tensor, theta: tf.Tensor) => tf.Tensor, x: tf.Tensor) {
  return (theta: tf.Tensor) => {
    const xp = act(x, theta);
    const g = tf.grad((y: tf.Tensor) => fn.loss(y as tf.Tensor1D))(xp);
    return tf.sum(tf.square(g)) as tf.Scalar;
  };
}

for (const { fn, ref } of cases) {
  test(`${fn.name}: d/dθ ‖∇L(g·x)‖² by nested tf.grad matches central differences (float64 and float32)`, t => {
    const action = so2(fn.bijection);
    const act = (x: tf.Tensor, theta: tf.Tensor) => action.act([x], theta)[0];
    const points =
      fn === rosenbrock
        ? [
            [-1, -1],
            [0.3, 0.5],
            [1.1, 0.9],
          ]
        : fn === booth
          ? [
              [5, -5],
              [0, 0],
              [2, 4],
            ]
          : [
              [2, 0],
              [-1, 1.5],
              [0.5, -2],
            ];
    for (const p of points) {
      for (const angle of [0.4, 1.9, 2.8]) {
        const numTensors = tf.memory().numTensors;
        const x = tf.tensor1d(p);
        const f = tfObjective(fn, act, x);
        const { value, grad } = tf.tidy(() => {
          const { value, grad } = tf.valueAndGrad(f)(tf.scalar(angle));
          return { value: value.dataSync()[0], grad: grad.dataSync()[0] };
        });
        // Float64 reference: the same objective with hand-written φ, φ⁻¹, ∇L; step 1e-5.
        const h = 1e-5;
        const ref0 = gradNormAfter(ref, rot(angle), p);
        const ref1 = (gradNormAfter(ref, rot(angle + h), p) - gradNormAfter(ref, rot(angle - h), p)) / (2 * h);
        const scale = Math.max(Math.abs(ref1), 1e-3 * ref0);
        t.true(relDiff(value, ref0) < 1e-4, `${fn.name} f at ${p}, θ=${angle}: ${value} vs ${ref0}`);
        t.true(Math.abs(grad - ref1) / scale < 2e-3, `${fn.name} f' at ${p}, θ=${angle}: ${grad} vs ${ref1}`);
        // Float32 central difference through the same tfjs code, moderate step.
        const hf = 1e-2;
        const fd = tf.tidy(() => (f(tf.scalar(angle + hf)).dataSync()[0] - f(tf.scalar(angle - hf)).dataSync()[0]) / (2 * hf));
        t.true(Math.abs(grad - fd) / scale < 1e-2, `${fn.name} float32 FD at ${p}, θ=${angle}: ${grad} vs ${fd}`);
        x.dispose();
        t.is(tf.memory().numTensors, numTensors, 'no tensors left behind');
      }
    }
  });
}

test('orthogonal: d/dθ ‖∇L(g·x)‖² by nested tf.grad (through expm) matches float64 central differences', t => {
  const action = orthogonal(quad3.bijection, 3);
  const act = (x: tf.Tensor, theta: tf.Tensor) => action.act([x], theta)[0];
  const skew = (th: Vec): Mat => [
    [0, th[0], th[1]],
    [-th[0], 0, th[2]],
    [-th[1], -th[2], 0],
  ];
  const fRef = (th: Vec, p: Vec) => gradNormAfter(q3.ref, expmNumbers(skew(th)), p);
  for (const [p, th] of [
    [
      [2, 1, 0.5],
      [0.3, -0.2, 0.5],
    ],
    [
      [-1, 0, 3],
      [1.5, 0.7, -2.2],
    ],
    [
      [0, 0, 0],
      [0, 0, 0],
    ],
  ] as Array<[Vec, Vec]>) {
    const x = tf.tensor1d(p);
    const grad = tf.tidy(() =>
      Array.from(
        tf
          .grad(tfObjective(quad3, act, x))(tf.tensor1d(th))
          .dataSync(),
      ),
    );
    const h = 1e-6;
    const ref = th.map((_, k) => {
      const plus = th.slice();
      const minus = th.slice();
      plus[k] += h;
      minus[k] -= h;
      return (fRef(plus, p) - fRef(minus, p)) / (2 * h);
    });
    const scale = Math.max(...ref.map(Math.abs), 1e-3 * fRef(th, p), 1e-6);
    grad.forEach((g, k) => t.true(Math.abs(g - ref[k]) / scale < 2e-3, `θ=${th}, x=${p}, k=${k}: ${g} vs ${ref[k]}`));
    x.dispose();
  }
});

// ---------------------------------------------------------------------------------------------
// Matrix exponential.

test('expm(T)·expm(−T) = I, expm of a skew matrix is orthogonal, and expm agrees with expmNumbers', t => {
  for (const scale of [0.1, 1, 6]) {
    const r = new SeededRandom(Math.round(scale * 100));
    const tNum: Mat = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => scale * (2 * r.next() - 1)));
    tf.tidy(() => {
      const tm = tf.tensor2d(tNum);
      const e = expm(tm);
      const eNeg = expm(tf.neg(tm) as tf.Tensor2D);
      const eRef = expmNumbers(tNum);
      const eNegRef = expmNumbers(tNum.map(row => row.map(v => -v)));
      const big = Math.max(1, ...eRef.flat().map(Math.abs));
      // Round-off in the product grows with ‖e^T‖·‖e^−T‖ (the condition number of e^T).
      const cond = big * Math.max(1, ...eNegRef.flat().map(Math.abs));
      t.true(maxAbsDiff(e, tf.tensor2d(eRef)) < 2e-5 * big, `expm vs float64, scale ${scale}`);
      t.true(maxAbsDiff(eNeg, tf.tensor2d(eNegRef)) < 2e-5 * cond, `expm(−T) vs float64, scale ${scale}`);
      t.true(maxAbsDiff(tf.matMul(e, eNeg), tf.eye(4)) < 1e-5 * cond, `expm(T)·expm(−T), scale ${scale}`);
      // float64: exact to round-off.
      t.true(maxAbs(matMul(eRef, eNegRef), eye(4)) < 1e-12 * cond);
      const skewNum = tNum.map((row, i) => row.map((v, j) => v - tNum[j][i]));
      const q = expm(tf.tensor2d(skewNum));
      t.true(maxAbsDiff(tf.matMul(q, q, true, false), tf.eye(4)) < 1e-5, `QᵀQ = I, scale ${scale}`);
      // Degree 10 truncates at ≈ 2e-11 per scaled factor, amplified by the 2^s squarings; degree 18
      // leaves only float64 round-off.
      const qRef = expmNumbers(skewNum);
      t.true(maxAbs(matMul(transpose(qRef), qRef), eye(4)) < 1e-8);
      const qPrecise = expmNumbers(skewNum, { degree: 18 });
      t.true(maxAbs(matMul(transpose(qPrecise), qPrecise), eye(4)) < 1e-12);
    });
  }
});

test('expmNumbers and expm reproduce a rotation exp(θJ) = R(θ) and its derivative J·R(θ)', t => {
  for (const angle of [0.3, 2, 7.5, -40]) {
    const j: Mat = [
      [0, -angle],
      [angle, 0],
    ];
    t.true(maxAbs(expmNumbers(j), rot(angle)) < 1e-12 * Math.max(1, Math.abs(angle)));
    t.true(maxAbs(expmNumbers(j, { degree: 16, maxNorm: 0.25 }), rot(angle)) < 1e-12 * Math.max(1, Math.abs(angle)));
    tf.tidy(() => t.true(maxAbsDiff(expm(tf.tensor2d(j)), tf.tensor2d(rot(angle))) < 1e-5 * Math.max(1, Math.abs(angle))));
  }
  // d/dθ Σ W∘exp(θJ) = Σ W∘(J·R(θ)) with J = [[0, −1], [1, 0]]: first order through the squarings.
  const w: Mat = [
    [0.5, -1.2],
    [2, 0.3],
  ];
  for (const angle of [0.2, 1.4, 5]) {
    const g = tf.tidy(
      () =>
        tf
          .grad((a: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.tensor2d(w),
                expm(
                  tf.mul(
                    a,
                    tf.tensor2d([
                      [0, -1],
                      [1, 0],
                    ]),
                  ) as tf.Tensor2D,
                ),
              ),
            ),
          )(tf.scalar(angle))
          .dataSync()[0],
    );
    const jr = matMul(
      [
        [0, -1],
        [1, 0],
      ],
      rot(angle),
    );
    const ref = w.reduce((s, row, i) => s + row.reduce((s2, v, k) => s2 + v * jr[i][k], 0), 0);
    t.true(Math.abs(g - ref) < 1e-4, `${g} vs ${ref}`);
  }
  t.deepEqual(expmNumbers([[0]]), [[1]]);
  t.throws(() => expm(tf.zeros([2, 3]) as tf.Tensor2D), { message: /square/ });
  t.throws(() => expmNumbers([[1, 2]]), { message: /square/ });
  t.throws(() => expmNumbers([[1]], { degree: 0 }), { message: /degree/ });
});

test('expm of a non-finite matrix returns non-finite values instead of looping', t => {
  const e = expm(
    tf.tensor2d([
      [Infinity, 0],
      [0, 1],
    ]),
  );
  t.false(e.dataSync().every(Number.isFinite));
  e.dispose();
  t.false(expmNumbers([[NaN]])[0].every(Number.isFinite));
});

test('quadratic: L = ½(x − b)ᵀA(x − b) of any dimension, input checks', t => {
  const a = [
    [4, 1, 0, 0.5],
    [1, 3, 0.2, 0],
    [0, 0.2, 2, 0.1],
    [0.5, 0, 0.1, 1],
  ];
  const b = [1, 2, -1, 0];
  const q = quadratic(a, b);
  t.is(q.dim, 4);
  t.deepEqual(q.minimum, b);
  t.deepEqual(q.defaultStart, [2, 3, 0, 1]);
  for (const p of randomPoints(41, 6, 4, 2)) {
    tf.tidy(() => {
      const x = tf.tensor1d(p);
      const l = q.loss(x).dataSync()[0];
      t.true(relDiff(l, q.lossAt(p)) < 1e-5);
      t.true(relDiff(l, tf.sum(tf.square(q.bijection.forward(x))).dataSync()[0]) < 1e-5);
      t.true(maxAbsDiff(q.bijection.inverse(q.bijection.forward(x)), x) < 1e-5);
    });
  }
  t.throws(
    () =>
      quadratic([
        [1, 2],
        [0, 1],
      ]),
    { message: /symmetric/ },
  );
  t.throws(
    () =>
      quadratic([
        [1, 0],
        [0, -1],
      ]),
    { message: /positive definite/ },
  );
  t.throws(
    () =>
      quadratic([
        [1, 0],
        [0, 0],
      ]),
    { message: /positive definite/ },
  );
  t.throws(() => quadratic([[1, 0]]), { message: /square/ });
  t.throws(
    () =>
      quadratic(
        [
          [1, 0],
          [0, 1],
        ],
        [1],
      ),
    { message: /b must be/ },
  );
});

// ---------------------------------------------------------------------------------------------
// The dissertation's regression problem.

const leaky = (v: number, alpha = 0.1) => (v > 0 ? v : alpha * v);
const rowsOf = (t2: tf.Tensor): Mat => t2.arraySync() as Mat;

test('regressionData: shapes, values in [0, 1), deterministic per seed, different across seeds', t => {
  const a = regressionData(3);
  const b = regressionData(3);
  const c = regressionData(4);
  t.deepEqual(a.x.shape, [4, 5]);
  t.deepEqual(a.y.shape, [4, 8]);
  t.deepEqual(Array.from(a.x.dataSync()), Array.from(b.x.dataSync()));
  t.deepEqual(Array.from(a.y.dataSync()), Array.from(b.y.dataSync()));
  t.true(maxAbsDiff(a.x, c.x) > 0);
  for (const v of [...a.x.dataSync(), ...a.y.dataSync()]) t.true(v >= 0 && v < 1);
  tf.dispose([a.x, a.y, b.x, b.y, c.x, c.y]);
});

test('regressionModel: kernels 5×6, 6×7, 7×8 in [0, 1), no biases, forward = W3·σ(W2·σ(W1·X)) in plain JS', t => {
  const { x, y } = regressionData(1);
  const model = regressionModel(2);
  const kernels = model.getWeights();
  t.deepEqual(
    kernels.map(k => k.shape),
    [
      [5, 6],
      [6, 7],
      [7, 8],
    ],
  );
  for (const k of kernels) for (const v of k.dataSync()) t.true(v >= 0 && v < 1);
  t.deepEqual(
    model.layers.map(l => l.getClassName()),
    ['Dense', 'LeakyReLU', 'Dense', 'LeakyReLU', 'Dense'],
  );

  // Column-major, as in the paper: H = W·X with W = Kᵀ and X = xᵀ.
  const [w1, w2, w3] = kernels.map(k => transpose(rowsOf(k)));
  const xT = transpose(rowsOf(x));
  const yHat = matMul(
    w3,
    matMul(
      w2,
      matMul(w1, xT).map(r => r.map(v => leaky(v))),
    ).map(r => r.map(v => leaky(v))),
  );
  const predicted = model.predict(x) as tf.Tensor;
  t.deepEqual(predicted.shape, [4, 8]);
  t.true(maxAbs(rowsOf(predicted), transpose(yHat)) < 1e-5 * Math.max(...yHat.flat()));

  // The paper's loss ‖Y − Ŷ‖²_F, and MSE = that / (n·8).
  const yT = transpose(rowsOf(y));
  const sse = yT.reduce((s, row, i) => s + row.reduce((s2, v, j) => s2 + (v - yHat[i][j]) ** 2, 0), 0);
  const lossTensor = sumSquaredError(y, predicted);
  t.true(relDiff(lossTensor.dataSync()[0], sse) < 1e-5);
  model.compile({ optimizer: 'sgd', loss: regressionLoss });
  const mse = model.evaluate(x, y) as tf.Scalar;
  t.true(relDiff(mse.dataSync()[0], sse / 32) < 1e-5);
  model.compile({ optimizer: 'sgd', loss: sumSquaredError });
  const evaluated = model.evaluate(x, y) as tf.Scalar;
  t.true(relDiff(evaluated.dataSync()[0], sse) < 1e-5);

  // Same seed, same weights; another seed, others. Building a model leaves only its own weights.
  const again = regressionModel(2);
  again.getWeights().forEach((k, i) => t.is(maxAbsDiff(k, kernels[i]), 0));
  t.true(maxAbsDiff(regressionModel(3).getWeights()[0], kernels[0]) > 0);
  const before = tf.memory().numTensors;
  const temp = regressionModel(9);
  temp.dispose();
  t.is(tf.memory().numTensors, before);
  tf.dispose([x, y, predicted, lossTensor, mse, evaluated]);
  again.dispose();
});

test('regressionModel: widths and alpha options, and input checks', t => {
  const model = regressionModel(0, { widths: [3, 4, 2], alpha: 0.3 });
  t.deepEqual(
    model.getWeights().map(k => k.shape),
    [
      [3, 4],
      [4, 2],
    ],
  );
  const x = tf.tensor2d([
    [1, -2, 0.5],
    [-1, -1, -1],
  ]);
  const [k1, k2] = model.getWeights().map(rowsOf);
  const manual = rowsOf(x).map(row => {
    const h = k1[0].map((_, j) =>
      leaky(
        row.reduce((s, v, i) => s + v * k1[i][j], 0),
        0.3,
      ),
    );
    return k2[0].map((_, j) => h.reduce((s, v, i) => s + v * k2[i][j], 0));
  });
  t.true(maxAbs(rowsOf(model.predict(x) as tf.Tensor), manual) < 1e-5);
  t.throws(() => regressionModel(0, { widths: [5] }), { message: /widths/ });
  t.throws(() => regressionModel(0, { widths: [5, 0, 2] }), { message: /widths/ });
  model.dispose();
  t.true(tfl != null);
});
