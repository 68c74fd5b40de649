import test from 'ava';
import { tf, useCpu } from '../helpers.js';
import { expm, expmNumbers, inverse, invertNumbers, pinv, pinvConstant, pinvNumbers, svdNumbers, symmetricEigenNumbers } from '../../src/linalg/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

// Plain float64 helpers, written out here: the references do not go through ml-matrix.
type Mat = number[][];
const matMul = (a: Mat, b: Mat): Mat => a.map(row => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map(row => row[j]));
const eye = (n: number): Mat => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
const sub = (a: Mat, b: Mat): Mat => a.map((row, i) => row.map((v, j) => v - b[i][j]));
const maxAbs = (a: Mat): number => Math.max(0, ...a.flat().map(Math.abs));
const maxDiff = (a: Mat, b: Mat): number => maxAbs(sub(a, b));
const scale = (a: Mat, s: number): Mat => a.map(row => row.map(v => v * s));
const random = (rows: number, cols: number, seed: number, lo = -1, hi = 1): Mat => {
  const r = new SeededRandom(seed);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => lo + (hi - lo) * r.next()));
};
const symmetric = (n: number, seed: number): Mat => {
  const b = random(n, n, seed);
  return b.map((row, i) => row.map((_, j) => b[i][j] + b[j][i]));
};
/** A Householder reflection I − 2vvᵀ/‖v‖²: an orthogonal matrix built without any decomposition. */
const householder = (n: number, seed: number): Mat => {
  const v = random(1, n, seed)[0];
  const nn = v.reduce((s, x) => s + x * x, 0);
  return eye(n).map((row, i) => row.map((x, j) => x - (2 * v[i] * v[j]) / nn));
};
const diag = (d: number[]): Mat => d.map((x, i) => d.map((_, j) => (i === j ? x : 0)));

/** The four Moore–Penrose conditions, as the largest residual relative to the sizes of A and A⁺. */
function penroseResidual(a: Mat, p: Mat): number {
  const ap = matMul(a, p);
  const pa = matMul(p, a);
  // A zero matrix has A⁺ = 0: its residuals are then absolute (and must be exactly 0).
  const na = maxAbs(a) || 1;
  const np = maxAbs(p) || 1;
  return Math.max(
    maxDiff(matMul(ap, a), a) / na,
    maxDiff(matMul(pa, p), p) / np,
    maxDiff(ap, transpose(ap)) / (na * np),
    maxDiff(pa, transpose(pa)) / (na * np),
  );
}

test('invertNumbers: A·A⁻¹ = A⁻¹·A = I, flat and rows forms agree, 2×2 matches the adjugate formula', t => {
  for (const n of [1, 2, 3, 5, 8, 20]) {
    for (let seed = 1; seed <= 3; seed++) {
      const a = random(n, n, 100 * n + seed).map((row, i) => row.map((v, j) => v + (i === j ? 2 : 0)));
      const inv = invertNumbers(a);
      t.truthy(inv, `n=${n}`);
      t.true(maxDiff(matMul(a, inv!), eye(n)) < 1e-12, `A·A⁻¹, n=${n}`);
      t.true(maxDiff(matMul(inv!, a), eye(n)) < 1e-12, `A⁻¹·A, n=${n}`);
      const flat = invertNumbers(Float64Array.from(a.flat()), n)!;
      t.true(flat instanceof Float64Array);
      t.true(Math.max(...Array.from(flat, (v, k) => Math.abs(v - inv![Math.floor(k / n)][k % n]))) === 0);
    }
  }
  const [[p, q], [r, s]] = [
    [3, -2],
    [4.5, 7],
  ];
  const det = p * s - q * r;
  t.true(
    maxDiff(
      invertNumbers([
        [p, q],
        [r, s],
      ])!,
      [
        [s / det, -q / det],
        [-r / det, p / det],
      ],
    ) < 1e-15,
  );
  // A tiny but regular matrix is judged relative to its own scale.
  const tiny = scale(
    [
      [2, 1],
      [1, 1],
    ],
    1e-200,
  );
  t.true(
    maxDiff(scale(invertNumbers(tiny)!, 1e-200), [
      [1, -1],
      [-1, 2],
    ]) < 1e-14,
  );
});

test('invertNumbers: singular and nearly singular matrices give null; bad shapes throw', t => {
  t.is(
    invertNumbers([
      [1, 2],
      [2, 4],
    ]),
    null,
  );
  t.is(
    invertNumbers([
      [0, 0],
      [0, 0],
    ]),
    null,
  );
  t.is(
    invertNumbers([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8, 9],
    ]),
    null,
  );
  t.is(
    invertNumbers([
      [1, 1],
      [1, 1 + 1e-15],
    ]),
    null,
  );
  t.is(invertNumbers(new Float64Array([1, 2, 2, 4]), 2), null);
  t.throws(() => invertNumbers([[1, 2]]), { message: /square/ });
  t.throws(() => invertNumbers([1, 2, 3], 2), { message: /n·n/ });
});

test('pinvNumbers: Moore–Penrose conditions on wide, tall, square, rank-deficient and zero matrices', t => {
  const cases: Array<[string, Mat, number]> = [
    ['wide 3×5', random(3, 5, 1), 3],
    ['tall 7×4', random(7, 4, 2), 4],
    ['square 4×4', random(4, 4, 3), 4],
    ['rank 2, 5×4', matMul(random(5, 2, 4), random(2, 4, 5)), 2],
    ['rank 1, 3×6', matMul(random(3, 1, 6), random(1, 6, 7)), 1],
    [
      'rank 2, 6×3 with a zero column',
      matMul(random(6, 2, 8), [
        [1, 0, 2],
        [0, 0, -1],
      ]),
      2,
    ],
    [
      'square singular',
      [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
      ],
      2,
    ],
    [
      'zero 2×3',
      [
        [0, 0, 0],
        [0, 0, 0],
      ],
      0,
    ],
  ];
  for (const [name, a, rank] of cases) {
    const p = pinvNumbers(a);
    t.is(p.length, a[0].length, name);
    t.is(p[0].length, a.length, name);
    t.true(penroseResidual(a, p) < 1e-12, `${name}: residual ${penroseResidual(a, p)}`);
    // The rank shows in trace(A·A⁺), the projection onto the range of A.
    const ap = matMul(a, p);
    t.true(Math.abs(ap.reduce((s, row, i) => s + row[i], 0) - rank) < 1e-10, `${name}: rank`);
  }
  // Full row rank: a right inverse; full column rank: a left inverse.
  const wide = random(3, 5, 9);
  t.true(maxDiff(matMul(wide, pinvNumbers(wide)), eye(3)) < 1e-12);
  const tall = random(6, 2, 10);
  t.true(maxDiff(matMul(pinvNumbers(tall), tall), eye(2)) < 1e-12);
  // A known one: the pseudo-inverse of the all-ones n×m matrix is the all-ones m×n matrix / (n·m).
  t.true(
    maxDiff(
      pinvNumbers([
        [1, 1, 1],
        [1, 1, 1],
      ]),
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ].map(r => r.map(v => v / 6)),
    ) < 1e-15,
  );
  // rcond cuts off small singular values: diag(1, 1e-9) is inverted whole by default and as rank 1 with rcond = 1e-6.
  t.true(
    maxDiff(
      pinvNumbers([
        [1, 0],
        [0, 1e-9],
      ]),
      [
        [1, 0],
        [0, 1e9],
      ],
    ) < 1e-3,
  );
  t.true(
    maxDiff(
      pinvNumbers(
        [
          [1, 0],
          [0, 1e-9],
        ],
        { rcond: 1e-6 },
      ),
      [
        [1, 0],
        [0, 0],
      ],
    ) < 1e-15,
  );
});

test('svdNumbers: U·diag(s)·Vᵀ = A, orthonormal factors, singular values sorted and ≥ 0', t => {
  for (const [r, c, seed] of [
    [4, 4, 1],
    [3, 6, 2],
    [7, 2, 3],
  ]) {
    const a = random(r, c, seed);
    const { u, s, v } = svdNumbers(a);
    const k = Math.min(r, c);
    t.is(s.length, k);
    t.deepEqual([u.length, u[0].length, v.length, v[0].length], [r, k, c, k]);
    t.true(maxDiff(matMul(matMul(u, diag(s)), transpose(v)), a) < 1e-13);
    t.true(maxDiff(matMul(transpose(u), u), eye(k)) < 1e-13);
    t.true(maxDiff(matMul(transpose(v), v), eye(k)) < 1e-13);
    t.true(s.every((x, i) => x >= 0 && (i === 0 || x <= s[i - 1])));
  }
  // Singular values of Q·diag(d)·Pᵀ with Q, P orthogonal (Householder) are |d|, sorted.
  const a = matMul(matMul(householder(4, 11), diag([3, -0.5, 2, 0])), householder(4, 12));
  const { s } = svdNumbers(a);
  t.true(Math.max(...s.map((x, i) => Math.abs(x - [3, 2, 0.5, 0][i]))) < 1e-14);
});

test('symmetricEigenNumbers: A·v = λv, orthonormal eigenvectors, ascending values, known spectra', t => {
  for (const n of [1, 2, 3, 6, 12]) {
    const a = symmetric(n, 200 + n);
    const { values, vectors } = symmetricEigenNumbers(a);
    t.is(values.length, n);
    t.true(
      values.every((w, i) => i === 0 || w >= values[i - 1]),
      `ascending, n=${n}`,
    );
    t.true(maxDiff(matMul(transpose(vectors), vectors), eye(n)) < 1e-13, `VᵀV = I, n=${n}`);
    for (let k = 0; k < n; k++) {
      const col = vectors.map(row => [row[k]]);
      t.true(maxDiff(matMul(a, col), scale(col, values[k])) < 1e-13 * Math.max(1, maxAbs(a)), `A·v = λv, n=${n}, k=${k}`);
    }
    const trace = a.reduce((s, row, i) => s + row[i], 0);
    t.true(Math.abs(values.reduce((s, w) => s + w, 0) - trace) < 1e-12);
  }
  t.true(
    maxDiff(
      [
        symmetricEigenNumbers([
          [2, 1],
          [1, 2],
        ]).values,
      ],
      [[1, 3]],
    ) < 1e-15,
  );
  // A spectrum given by construction, with a repeated eigenvalue: Q·diag(d)·Qᵀ.
  const q = householder(5, 21);
  const d = [4, -1, 2, 2, 0.5];
  const { values, vectors } = symmetricEigenNumbers(matMul(matMul(q, diag(d)), transpose(q)));
  t.true(maxDiff([values], [[-1, 0.5, 2, 2, 4]]) < 1e-14);
  t.true(maxDiff(matMul(transpose(vectors), vectors), eye(5)) < 1e-14);
  t.throws(() => symmetricEigenNumbers([[1, 2, 3]]), { message: /square/ });
});

test('expmNumbers: exp(A)·exp(−A) = I; equals V·diag(e^w)·Vᵀ for symmetric A; nilpotent and diagonal cases', t => {
  for (const [n, size] of [
    [2, 0.1],
    [3, 1],
    [4, 3],
    [6, 8],
  ] as const) {
    const a = scale(random(n, n, 300 + n), size);
    const e = expmNumbers(a);
    t.true(maxDiff(matMul(e, expmNumbers(scale(a, -1))), eye(n)) < 1e-12 * Math.exp(2 * size * n), `n=${n}, size=${size}`);
  }
  for (const n of [2, 3, 5]) {
    const a = symmetric(n, 400 + n);
    const { values, vectors } = symmetricEigenNumbers(a);
    const ref = matMul(matMul(vectors, diag(values.map(Math.exp))), transpose(vectors));
    // Degree 10 (the default) truncates at about 1e-11 relative; degree 18 reaches float64 round-off.
    t.true(maxDiff(expmNumbers(a), ref) < 1e-10 * maxAbs(ref), `symmetric n=${n}: ${maxDiff(expmNumbers(a), ref) / maxAbs(ref)}`);
    t.true(
      maxDiff(expmNumbers(a, { degree: 18 }), ref) < 1e-13 * maxAbs(ref),
      `symmetric n=${n}, degree 18: ${maxDiff(expmNumbers(a, { degree: 18 }), ref) / maxAbs(ref)}`,
    );
  }
  t.true(
    maxDiff(
      expmNumbers([
        [0, 1, 0],
        [0, 0, 1],
        [0, 0, 0],
      ]),
      [
        [1, 1, 0.5],
        [0, 1, 1],
        [0, 0, 1],
      ],
    ) < 1e-15,
  );
  t.true(
    maxDiff(
      expmNumbers([
        [1, 0],
        [0, -2],
      ]),
      [
        [Math.E, 0],
        [0, Math.exp(-2)],
      ],
    ) < 1e-14,
  );
});

test('expm (float32 tensor) agrees with expmNumbers (float64) and exp(A)·exp(−A) = I in float32', t => {
  for (const [n, size] of [
    [2, 0.3],
    [3, 1],
    [5, 2],
  ] as const) {
    const a = scale(random(n, n, 500 + n), size);
    const ref = expmNumbers(a);
    const x = tf.tensor2d(a);
    const xNeg = tf.tensor2d(scale(a, -1));
    const before = tf.memory().numTensors;
    const [e, eNeg] = [expm(x), expm(xNeg)];
    t.is(tf.memory().numTensors, before + 2, 'expm keeps only its result');
    const got = e.arraySync() as Mat;
    t.true(maxDiff(got, ref) < 2e-6 * Math.max(1, maxAbs(ref)), `n=${n}: ${maxDiff(got, ref)}`);
    const prod = tf.matMul(e, eNeg);
    t.true(maxDiff(prod.arraySync() as Mat, eye(n)) < 2e-5 * Math.exp(size * n), `n=${n}`);
    tf.dispose([x, xNeg, e, eNeg, prod]);
  }
});

test('inverse and pinv (tensors): values match the float64 wrappers; inverse gradient matches finite differences', t => {
  const a = random(4, 4, 600).map((row, i) => row.map((v, j) => v + (i === j ? 2 : 0)));
  const x = tf.tensor2d(a);
  t.true(maxDiff(inverse(x).arraySync() as Mat, invertNumbers(a)!) < 1e-6);
  // d/dX of Σ W∘X⁻¹, against central differences of the float64 inverse.
  const w = random(4, 4, 601);
  const g = tf
    .grad((m: tf.Tensor) => tf.sum(tf.mul(tf.tensor2d(w), inverse(m as tf.Tensor2D))))(x)
    .arraySync() as Mat;
  const h = 1e-6;
  const f = (m: Mat) => invertNumbers(m)!.reduce((s, row, i) => s + row.reduce((q, v, j) => q + v * w[i][j], 0), 0);
  for (let i = 0; i < 4; i++)
    for (let j = 0; j < 4; j++) {
      const plus = a.map(r => r.slice());
      const minus = a.map(r => r.slice());
      plus[i][j] += h;
      minus[i][j] -= h;
      const fd = (f(plus) - f(minus)) / (2 * h);
      t.true(Math.abs(g[i][j] - fd) < 1e-4 * Math.max(1, Math.abs(fd)), `∂/∂X[${i}][${j}]: ${g[i][j]} vs ${fd}`);
    }
  t.true(
    (
      inverse(
        tf.tensor2d([
          [1, 2],
          [2, 4],
        ]),
      ).dataSync() as Float32Array
    ).every(Number.isNaN),
  );
  for (const [r, c, seed] of [
    [3, 6, 602],
    [6, 3, 603],
    [4, 4, 604],
  ]) {
    const m = random(r, c, seed);
    const ref = pinvNumbers(m);
    t.true(maxDiff(pinv(tf.tensor2d(m)).arraySync() as Mat, ref) < 1e-4 * Math.max(1, maxAbs(ref)), `pinv ${r}×${c}`);
    t.true(maxDiff(pinvConstant(tf.tensor2d(m)).arraySync() as Mat, ref) < 1e-5 * Math.max(1, maxAbs(ref)), `pinvConstant ${r}×${c}`);
  }
  t.throws(() => pinvConstant(tf.tensor2d(matMul(random(5, 2, 605), random(2, 4, 606)))), { message: /5×4.*rank deficient/ });
  t.throws(
    () =>
      pinvConstant(
        tf.tensor2d([
          [1, 2, 3],
          [2, 4, 6],
        ]),
      ),
    { message: /rank deficient/ },
  );
});

test('public API: groups.* and the old module paths re-export the linalg functions', async t => {
  t.is(tpAdvanced.linalg.expm, expm);
  t.is(tpAdvanced.linalg.pinv, pinv);
  t.is(tpAdvanced.linalg.pinvConstant, pinvConstant);
  t.is(tpAdvanced.linalg.inverse, inverse);
  t.is(tpAdvanced.linalg.symmetricEigenNumbers, symmetricEigenNumbers);
  const oldLinalg = await import('../../src/groups/linalg.js');
  const oldPinv = await import('../../src/groups/pinv.js');
  t.is(oldLinalg.expm, expm);
  t.is(oldLinalg.expmNumbers, expmNumbers);
  t.is(oldPinv.invertNumbers, invertNumbers);
  t.is(oldPinv.pinvConstant, pinvConstant);
});
