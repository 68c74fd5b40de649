import test from 'ava';
import { tf, useCpu, relDiff, maxAbsDiff } from '../helpers.js';
import { rosenbrock, booth, quadratic } from '../../src/problems/test_functions.js';
import { regressionData, regressionModel, sumSquaredError } from '../../src/problems/regression.js';
import { so2 } from '../../src/groups/so2.js';
import { expm } from '../../src/linalg/index.js';

test.before(useCpu);

const points = [
  [-1, -1],
  [0.3, 2],
  [5, -5],
  [1.2, 0.7],
];

for (const fn of [
  rosenbrock,
  booth,
  quadratic(
    [
      [2, 0.5],
      [0.5, 1],
    ],
    [1, -1],
  ),
]) {
  test(`${fn.name}: φ⁻¹(φ(x)) = x, L = ‖φ(x)‖², lossAt agrees, and SO(2) keeps L`, t => {
    // Rosenbrock's inverse map squares large coordinates: float32 cancellation far from the valley.
    for (const p of fn === rosenbrock ? points.filter(q => Math.abs(q[0]) <= 2) : points) {
      const x = tf.tensor1d(p);
      t.true(maxAbsDiff(fn.bijection.inverse(fn.bijection.forward(x)), x) < 1e-4);
      const l = fn.loss(x).dataSync()[0];
      t.true(relDiff(l, tf.sum(tf.square(fn.bijection.forward(x))).dataSync()[0]) < 1e-5);
      t.true(relDiff(l, fn.lossAt(p)) < 1e-5);
      const action = so2(fn.bijection, { initAngle: 0 });
      for (const angle of [0.3, 1.7, -2.5]) {
        const moved = action.act([x], tf.scalar(angle))[0] as tf.Tensor1D;
        t.true(relDiff(l, fn.loss(moved).dataSync()[0]) < 1e-4, `${fn.name} at ${p}, θ=${angle}`);
      }
    }
    t.is(fn.lossAt(fn.minimum), 0);
  });
}

test('expm(T)·expm(−T) = I and expm of a skew matrix is orthogonal', t => {
  const tmat = tf.tensor2d([
    [0.3, -1.2, 0.5],
    [2.0, 0.1, -0.7],
    [0.4, 0.9, -0.2],
  ]);
  const prod = tf.matMul(expm(tmat), expm(tf.neg(tmat) as tf.Tensor2D));
  t.true(maxAbsDiff(prod, tf.eye(3)) < 1e-5);
  const skew = tf.sub(tmat, tf.transpose(tmat)) as tf.Tensor2D;
  const q = expm(skew);
  t.true(maxAbsDiff(tf.matMul(q, q, true, false), tf.eye(3)) < 1e-5);
});

test('regression problem: deterministic per seed, and the model computes W3·σ(W2·σ(W1·X)) without biases', t => {
  const a = regressionData(3);
  const b = regressionData(3);
  t.is(maxAbsDiff(a.x, b.x), 0);
  t.deepEqual(a.x.shape, [4, 5]);
  t.deepEqual(a.y.shape, [4, 8]);
  const model = regressionModel(2);
  const [w1, w2, w3] = model.getWeights();
  t.deepEqual(
    [w1.shape, w2.shape, w3.shape],
    [
      [5, 6],
      [6, 7],
      [7, 8],
    ],
  );
  t.true(w1.dataSync().every(v => v >= 0 && v < 1));
  const leaky = (z: tf.Tensor) => tf.where(tf.greater(z, 0), z, tf.mul(0.1, z));
  const manual = tf.matMul(leaky(tf.matMul(leaky(tf.matMul(a.x, w1)), w2)), w3);
  t.true(maxAbsDiff(model.predict(a.x) as tf.Tensor, manual) < 1e-5);
  t.true(relDiff(sumSquaredError(a.y, manual).dataSync()[0], tf.sum(tf.square(tf.sub(a.y, manual))).dataSync()[0]) < 1e-6);
  t.is(maxAbsDiff(regressionModel(2).getWeights()[0], w1), 0);
});
