// Sareen et al.'s splitting theorems, reproduced numerically. Hessians are float64 (test/float64_mlp.ts),
// built from each network's own Jacobians: H of the teacher and H' of the split student are computed
// independently, and the theorems' predictions (K = BBᵀ from the documented layout of tp.split) are
// compared with them. A tanh teacher has no continuous symmetry, so its Hessian at the zero-loss
// point is full rank; ReLU Hessians are singular along the rescale directions (their pseudo-
// determinant would need H restricted away from them), so the Hessian theorems use tanh.
import test from 'ava';
import * as tpHessian from '../../src/hessian.js';
import * as tpSurgery from '../../src/surgery.js';
import { symmetricEigenNumbers } from '../../src/linalg/float64.js';
import { gaussNewton, hessianByDifferences, type Layer64, lossAndGradient, paramCount, predict, toFloat64 } from '../float64_mlp.js';
import { maxAbsDiff, mlp, seededUniform, tf, type tfl, useCpu } from '../helpers.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

const D_IN = 3;
const WIDTH = 4;
const D_OUT = 2;

/**
 * A tanh teacher 3-4-2 whose weights are multiples of 1/16: splitting them by dyadic coefficients
 * (0.25, 0.75, 0.5, …) is exact in float32, so the split student is exactly the split of the float64
 * teacher. Data: 40 inputs, targets the teacher's own outputs (zero loss: a global minimum).
 */
function teacher(): { model: tfl.Sequential; xs: number[][]; ys: number[][]; net: Layer64[] } {
  const model = mlp({ input: D_IN, widths: [WIDTH], activation: 'tanh', output: D_OUT, seed: 17 });
  const r = new SeededRandom(5);
  model.setWeights(
    model.getWeights().map(w =>
      tf.tensor(
        Array.from({ length: w.size }, () => Math.round((r.next() * 3 - 1.5) * 16) / 16),
        w.shape,
      ),
    ),
  );
  const net = toFloat64(model);
  const xs = Array.from({ length: 40 }, () => Array.from({ length: D_IN }, () => r.next() * 4 - 2));
  return { model, xs, ys: xs.map(x => predict(net, x)), net };
}

/**
 * Diagonal of K = BBᵀ over the teacher's parameters, from the documented layout of a post-activation
 * split of `neurons` with coefficients α: the incoming weights and bias of a split unit are duplicated
 * (each copy's gradient is α_k times the original's: Σα² on the diagonal), its outgoing weights are
 * split (every copy has the original's gradient: m).
 */
function kDiagonal(neurons: number[], alphas: number[]): number[] {
  const m = alphas.length;
  const sumSq = alphas.reduce((s, a) => s + a * a, 0);
  const k: number[] = [];
  for (let i = 0; i < D_IN; i++) for (let j = 0; j < WIDTH; j++) k.push(neurons.includes(j) ? sumSq : 1); // W1[i][j]: D
  for (let j = 0; j < WIDTH; j++) k.push(neurons.includes(j) ? sumSq : 1); // b1[j]: D
  for (let j = 0; j < WIDTH; j++) for (let c = 0; c < D_OUT; c++) k.push(neurons.includes(j) ? m : 1); // W2[j][c]: S
  for (let c = 0; c < D_OUT; c++) k.push(1); // b2
  return k;
}

const sortDesc = (v: number[]) => [...v].sort((a, b) => b - a);
const eig = (h: number[][]) => sortDesc(symmetricEigenNumbers(h).values);
const scaleK = (h: number[][], k: number[]) => h.map((row, i) => row.map((v, j) => Math.sqrt(k[i]) * v * Math.sqrt(k[j])));

interface Case {
  name: string;
  neurons: number[];
  alphas: number[];
}
const CASES: Case[] = [
  { name: 'one unit, 2 ways, uneven (0.25, 0.75)', neurons: [1], alphas: [0.25, 0.75] },
  { name: 'two units, 4 ways, even', neurons: [0, 2], alphas: [0.25, 0.25, 0.25, 0.25] },
  { name: 'three units, 3 ways, uneven (0.5, 0.25, 0.25)', neurons: [0, 1, 3], alphas: [0.5, 0.25, 0.25] },
];

test('the float64 Hessian is right: Gauss–Newton at the zero-loss teacher equals central differences of the gradient', t => {
  const { net, xs, ys, model } = teacher();
  const { loss, grad } = lossAndGradient(net, xs, ys);
  t.is(loss, 0);
  t.true(grad.every(g => g === 0));
  const gn = gaussNewton(net, xs);
  const fd = hessianByDifferences(net, xs, ys);
  const scale = Math.max(...gn.flat().map(Math.abs));
  const err = Math.max(...gn.flatMap((row, i) => row.map((v, j) => Math.abs(v - fd[i][j]))));
  t.true(err < 1e-7 * scale, `max |GN − FD| = ${err} (scale ${scale})`);
  const values = eig(gn);
  t.true(values[values.length - 1] > 1e-8 * values[0], `full rank: λmin/λmax = ${values[values.length - 1] / values[0]}`);
  model.dispose();
});

for (const c of CASES) {
  test(`Theorem 5.3: the nonzero eigenvalues of H' are those of K^1/2·H·K^1/2 (${c.name})`, t => {
    const { net, xs, ys, model } = teacher();
    const student = tpSurgery.split(model, { layer: 0, neurons: c.neurons, coefficients: c.alphas });
    const net2 = toFloat64(student);
    const loss2 = lossAndGradient(net2, xs, ys).loss;
    t.true(loss2 < 1e-28, `the exact split keeps the zero loss (float64 round-off only): ${loss2}`);
    const H = gaussNewton(net, xs);
    const H2 = gaussNewton(net2, xs);
    const a = paramCount(net);
    const b = paramCount(net2);
    t.is(b - a, c.neurons.length * (c.alphas.length - 1) * (D_IN + 1 + D_OUT));
    const got = eig(H2);
    const want = eig(scaleK(H, kDiagonal(c.neurons, c.alphas)));
    const top = got[0];
    t.log(
      `max |λ'−λ_K|/λmax = ${Math.max(...want.map((w, i) => Math.abs(got[i] - w))) / top}; largest zero mode ${Math.max(...got.slice(a).map(Math.abs)) / top}`,
    );
    for (let i = 0; i < a; i++) t.true(Math.abs(got[i] - want[i]) <= 1e-10 * top + 1e-9 * Math.abs(want[i]), `λ${i}: ${got[i]} vs ${want[i]}`);
    // … and H' has exactly b − a zero eigenvalues (the flat directions the split adds).
    for (let i = a; i < b; i++) t.true(Math.abs(got[i]) <= 1e-12 * top, `λ${i} = ${got[i]} should be 0`);
    // The predicted spectrum differs from H's own: the check can fail.
    t.true(Math.abs(eig(H)[0] - want[0]) > 1e-3 * want[0]);
    student.dispose();
    model.dispose();
  });
}

test("pseudo-determinant, general form: pdet(H') = det K · pdet(H), det K = m^|S|·(Σα²)^|D|; the printed m·Σα² only for |S| = |D| = 1", t => {
  const { net, xs, model } = teacher();
  const H = gaussNewton(net, xs);
  const logPdet = (values: number[], count: number) => values.slice(0, count).reduce((s, v) => s + Math.log(v), 0);
  const a = paramCount(net);
  const logDetH = logPdet(eig(H), a);
  const rows: string[] = [];
  for (const c of CASES) {
    const student = tpSurgery.split(model, { layer: 0, neurons: c.neurons, coefficients: c.alphas });
    const logPdet2 = logPdet(eig(gaussNewton(toFloat64(student), xs)), a);
    const m = c.alphas.length;
    const sumSq = c.alphas.reduce((s, x) => s + x * x, 0);
    const S = c.neurons.length * D_OUT; // outgoing weights of the split units
    const D = c.neurons.length * (D_IN + 1); // their incoming weights and biases
    const logDetK = S * Math.log(m) + D * Math.log(sumSq);
    t.true(Math.abs(logPdet2 - logDetH - logDetK) < 1e-8, `${c.name}: log pdet(H') − log pdet(H) = ${logPdet2 - logDetH}, log det K = ${logDetK}`);
    const printed = Math.log(m * sumSq);
    t.true(Math.abs(logPdet2 - logDetH - printed) > 0.1, `${c.name}: Theorem 5.4 as printed (m·Σα²) does not hold here`);
    rows.push(
      `${c.name}: ratio ${Math.exp(logPdet2 - logDetH).toPrecision(6)} = det K ${Math.exp(logDetK).toPrecision(6)}, printed ${Math.exp(printed).toPrecision(6)}`,
    );
    student.dispose();
  }
  t.log(rows.join('\n'));
  model.dispose();
});

test("Theorem 6.1 and eq. 11: Tr(H') = Tr(H without S, D) + m·Σ_S H_ss + Σα²·Σ_D H_dd", t => {
  const { net, xs, model } = teacher();
  const H = gaussNewton(net, xs);
  for (const c of [...CASES, { name: 'one unit, 2 ways, even', neurons: [2], alphas: [0.5, 0.5] }]) {
    const student = tpSurgery.split(model, { layer: 0, neurons: c.neurons, coefficients: c.alphas });
    const H2 = gaussNewton(toFloat64(student), xs);
    const trace2 = H2.reduce((s, row, i) => s + row[i], 0);
    const k = kDiagonal(c.neurons, c.alphas);
    // S entries of K are m, D entries Σα² (1/m for an even split: Theorem 6.1), the rest 1: eq. 11 is Σ_i K_ii·H_ii.
    const predicted = H.reduce((s, row, i) => s + k[i] * row[i], 0);
    t.log(`${c.name}: Tr(H') ${trace2}, predicted ${predicted}, Tr(H) ${H.reduce((q, row, i) => q + row[i], 0)}`);
    t.true(Math.abs(trace2 - predicted) <= 1e-12 * Math.abs(predicted), `${c.name}: ${trace2} vs ${predicted}`);
    const traceH = H.reduce((s, row, i) => s + row[i], 0);
    t.true(Math.abs(trace2 - traceH) > 1e-6 * traceH, 'the trace does change');
    student.dispose();
  }
  model.dispose();
});

// Theorem 5.1 holds at any point, not only at minima: checked with tfjs's own float32 gradients on a
// briefly trained network (non-zero loss), for both split modes.
for (const [mode, activation] of [
  ['post', 'tanh'],
  ['post', 'relu'],
  ['pre', 'relu'],
] as const) {
  test(`Theorem 5.1: gradients of copies scale by α (duplicated) or stay (split), others unchanged (${mode}, ${activation})`, t => {
    const model = mlp({ input: 4, widths: [5, 3], activation, output: 2, seed: 23 });
    const x = seededUniform([32, 4], 41);
    const y = seededUniform([32, 2], 42);
    const loss = (m: tfl.LayersModel) => () => tf.losses.meanSquaredError(y, m.apply(x) as tf.Tensor) as tf.Scalar;
    const sgd = tf.train.sgd(0.05);
    for (let i = 0; i < 20; i++) sgd.minimize(loss(model));
    sgd.dispose();
    const alphas = [0.2, 0.5, 0.3];
    const student = tpSurgery.split(model, { layer: 1, neurons: [0, 2], coefficients: alphas, mode });
    const grads = (m: tfl.LayersModel) =>
      tf.variableGrads(
        loss(m),
        m.trainableWeights.map(w => w.read() as tf.Variable),
      );
    const g = grads(model);
    const g2 = grads(student);
    const G = model.trainableWeights.map(w => g.grads[(w.read() as tf.Variable).name].arraySync());
    const G2 = student.trainableWeights.map(w => g2.grads[(w.read() as tf.Variable).name].arraySync());
    t.true(g.value.dataSync()[0] > 1e-3, 'not at a minimum');
    // Layout: copies of unit 0 at 0, 3, 4; of unit 2 at 2, 5, 6 (width 3 → 7).
    const copies: Array<[number, number, number]> = [
      [0, 0, alphas[0]],
      [3, 0, alphas[1]],
      [4, 0, alphas[2]],
      [2, 2, alphas[0]],
      [5, 2, alphas[1]],
      [6, 2, alphas[2]],
      [1, 1, 1],
    ];
    const tol = 1e-5 * Math.max(...G.flatMap(v => (Array.isArray(v) ? (v as number[][]).flat() : [v as number])).map(Math.abs));
    const close = (a: number, b: number, where: string) => t.true(Math.abs(a - b) <= tol, `${where}: ${a} vs ${b}`);
    const [, , k1, b1, k2] = [G[0], G[1], G[2] as number[][], G[3] as number[], G[4] as number[][]];
    const [, , k1s, b1s, k2s] = [G2[0], G2[1], G2[2] as number[][], G2[3] as number[], G2[4] as number[][]];
    for (const [nu, old, a] of copies) {
      const inF = mode === 'post' ? a : 1; // duplicated incoming (post) / split incoming (pre)
      const outF = mode === 'pre' ? a : 1; // split outgoing (post) / duplicated outgoing (pre)
      k1.forEach((row, i) => close(k1s[i][nu], inF * row[old], `W1[${i}][${nu}]`));
      close(b1s[nu], inF * b1[old], `b1[${nu}]`);
      k2[old].forEach((v, c) => close(k2s[nu][c], outF * v, `W2[${nu}][${c}]`));
    }
    // The layers before and after are untouched.
    for (const i of [0, 1, 5]) t.true(maxAbsDiff(g.grads[model.trainableWeights[i].name], g2.grads[student.trainableWeights[i].name]) <= tol);
    tf.dispose([g.value, g2.value, ...Object.values(g.grads), ...Object.values(g2.grads), x, y]);
    student.dispose();
    model.dispose();
  });
}

test("tp.hessian in float32 agrees: the teacher's full Hessian, and pdet(H')/pdet(H) = det K from tp.hessian.stats", t => {
  const { model, xs } = teacher();
  const x = tf.tensor2d(xs);
  const y = model.predict(x) as tf.Tensor;
  const net = toFloat64(model);
  const H64 = gaussNewton(net, xs);
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const H = tpHessian.full({ model, data: { x, y } });
  const scale = Math.max(...H64.flat().map(Math.abs));
  const err = Math.max(...H64.flatMap((row, i) => row.map((v, j) => Math.abs(v - (H.matrix as ArrayLike<number>)[i * H.n + j]))));
  t.log(`max |H_float32 − H_float64| / max|H| = ${err / scale}`);
  t.true(err <= 1e-4 * scale);
  const c = CASES[0];
  const student = tpSurgery.split(model, { layer: 0, neurons: c.neurons, coefficients: c.alphas });
  student.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const H2 = tpHessian.full({ model: student, data: { x, y } });
  const s1 = tpHessian.stats(H);
  const s2 = tpHessian.stats(H2);
  const detK = 2 ** D_OUT * (c.alphas[0] ** 2 + c.alphas[1] ** 2) ** (D_IN + 1);
  t.log(`float32: rank ${s1.rank} → ${s2.rank}, pdet ratio ${Math.exp(s2.logPdet - s1.logPdet)} vs det K ${detK}`);
  t.is(s1.rank, paramCount(net));
  t.is(s2.rank, s1.rank, 'the split adds only zero eigenvalues');
  t.true(Math.abs(s2.logPdet - s1.logPdet - Math.log(detK)) < 1e-3);
  tf.dispose([x, y]);
  student.dispose();
  model.dispose();
});
