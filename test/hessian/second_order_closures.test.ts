// Issue 20 §2: a user's own closures in second-order paths (tp.hessian targets, meta families) written
// with tf.leakyRelu, tf.relu, tf.maximum, tf.prelu, tf.elu: exact second derivatives, or an error naming the fix.
import test from 'ava';
import { tf, useCpu, seededUniform } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpHessian from '../../src/hessian.js';
import * as tpMeta from '../../src/meta.js';
import { objectiveDerivative } from '../../src/meta/coordinatewise.js';

test.before(useCpu);

/** Central difference of the gradient along v: (∇L(w + hv) − ∇L(w − hv)) / 2h, first-order autodiff only. */
function hvpByDifference(w: tf.Variable, loss: () => tf.Scalar, v: tf.Tensor, h = 1e-3): Float32Array {
  const saved = w.clone();
  const gradAt = (sign: number) => {
    w.assign(tf.tidy(() => tf.add(saved, tf.mul(sign * h, v))));
    return tf.tidy(() => tf.variableGrads(loss, [w]).grads[w.name].dataSync() as Float32Array);
  };
  const plus = gradAt(1);
  const minus = gradAt(-1);
  w.assign(saved);
  saved.dispose();
  return plus.map((p, i) => (p - minus[i]) / (2 * h));
}

function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

// Piecewise-quadratic losses (so a central difference that crosses no kink is exact up to rounding).
const X = seededUniform([7, 4], 21);
const C = seededUniform([7, 3], 22);
const closures: Record<string, (z: tf.Tensor) => tf.Tensor> = {
  'tf.leakyRelu': z => tf.leakyRelu(z, 0.1),
  'tf.relu': z => tf.relu(z),
  'tf.maximum': z => tf.maximum(z, tf.mul(z, 0.2)),
  'tf.prelu': z => tf.prelu(z, tf.scalar(0.3)),
  'tf.relu6': z => tf.relu6(tf.mul(z, 3)),
  'tf.clipByValue': z => tf.clipByValue(z, -0.4, 0.5),
  'tp.hessian.secondOrder.leakyRelu': z => tpHessian.secondOrder.leakyRelu(z, 0.1),
  'tp.hessian.secondOrder.elu': z => tpHessian.secondOrder.elu(z),
  'tp.hessian.secondOrder.maximum': z => tpHessian.secondOrder.maximum(z, tf.mul(z, 0.2)),
};

for (const [name, sigma] of Object.entries(closures)) {
  test.serial(`tp.hessian.hvp of a closure written with ${name} matches finite differences`, t => {
    const w = tf.variable(seededUniform([4, 3], 23));
    const loss = () => tf.sum(tf.mul(C, tf.square(sigma(tf.matMul(X, w))))) as tf.Scalar;
    const v = seededUniform([4, 3], 24);
    const before = tf.memory().numTensors;
    const [hv] = tpHessian.hvp({ params: [w], loss }, [v]);
    const exact = hv.dataSync().slice();
    hv.dispose();
    t.is(tf.memory().numTensors, before, 'no tensor left behind');
    const fd = hvpByDifference(w, loss, v);
    const err = relError(exact, fd);
    t.true(err < 2e-3, `relative error ${err} (autodiff ${Array.from(exact.slice(0, 3))} vs difference ${Array.from(fd.slice(0, 3))})`);
    t.true(
      fd.some(x => Math.abs(x) > 1e-3),
      'the Hessian is not zero here',
    );
    // The comparison ops' zero gradients live only inside tp's second-order calls.
    t.is(tf.getGradient('Greater') as unknown, undefined);
    w.dispose();
    v.dispose();
  });
}

test.serial('tf.elu in a closure: a TeleportError naming secondOrder.elu (tfjs has no gradient for EluGrad)', t => {
  const w = tf.variable(seededUniform([4, 3], 25));
  const loss = () => tf.sum(tf.mul(C, tf.square(tf.elu(tf.matMul(X, w))))) as tf.Scalar;
  const err = t.throws(() => tpHessian.topEigenvalues({ params: [w], loss }, 1), { instanceOf: tp.TeleportError });
  t.is(err?.kind, 'unsupported');
  t.regex(err!.message, /secondOrder\.elu from tfjs-teleport\/hessian/);
  t.regex(err!.message, /EluGrad/);
  w.dispose();
});

/**
 * A meta family written the way the README invites: { init, loss, group: { blocks, n, act } } with the
 * user's own tf.leakyRelu in both the loss and the exact GL action (σ⁻¹ = leakyRelu with slope 1/α).
 */
function userFamily(n: number): tpMeta.UserFamily {
  const alpha = 0.1;
  const sigma = (z: tf.Tensor) => tf.leakyRelu(z, alpha);
  const sigmaInv = (z: tf.Tensor) => tf.leakyRelu(z, 1 / alpha);
  const x = seededUniform([n, n], 31);
  const y = seededUniform([n, n], 32);
  const xInv = tpAdvanced.linalg.pinvConstant(x as tf.Tensor2D);
  return {
    name: 'leaky regression, user-written',
    init: seed => [seededUniform([n, n], 100 + seed), seededUniform([n, n], 200 + seed)],
    loss: ([w1, w2]) =>
      tf.tidy(() => tf.sum(tf.square(tf.sub(y, tf.matMul(w2 as tf.Tensor2D, sigma(tf.matMul(w1 as tf.Tensor2D, x)) as tf.Tensor2D))))) as tf.Scalar,
    group: {
      blocks: 1,
      n,
      act: ([w1, w2], theta) =>
        tf.tidy(() => {
          const { g, gInv } = tpAdvanced.glElement(tf.reshape(theta, [n, n]));
          const z = tf.matMul(w1 as tf.Tensor2D, x);
          const moved = tf.sub(sigmaInv(tf.matMul(g, sigma(z) as tf.Tensor2D)), z);
          return [tf.add(w1, tf.matMul(moved as tf.Tensor2D, xInv)), tf.matMul(w2 as tf.Tensor2D, gInv)];
        }),
    },
  };
}

test.serial("a user's meta family with tf.leakyRelu: ∂‖∇L‖²/∂θ (second order) matches finite differences, and training runs", async t => {
  const n = 4;
  const family = tpMeta.resolveFamily(userFamily(n));
  const task = family.sample(1);
  const { blocks } = family.group!;
  const d = objectiveDerivative(task.params, task.loss, task.act!, blocks, n);
  const exact = d.dataSync().slice();
  d.dispose();
  // Finite differences of θ ↦ ‖∇L(act(w, θ))‖² (first-order gradients only) along each of a few entries.
  const gradNormSqAt = (theta: tf.Tensor) =>
    tf.tidy(() => {
      const moved = task.act!(task.params, theta);
      const gs = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(moved);
      return tf.addN(gs.map(g => tf.sum(tf.square(g)))).dataSync()[0];
    });
  const h = 1e-3;
  for (const entry of [0, 5, 10, 15]) {
    const e = tf.tidy(() => tf.reshape(tf.oneHot(tf.tensor1d([entry], 'int32'), n * n), [blocks, n, n]));
    const plus = tf.mul(e, h);
    const minus = tf.mul(e, -h);
    const fd = (gradNormSqAt(plus) - gradNormSqAt(minus)) / (2 * h);
    tf.dispose([e, plus, minus]);
    t.true(Math.abs(exact[entry] - fd) <= 2e-2 * Math.max(Math.abs(fd), 1e-2 * Math.max(...exact.map(Math.abs))), `entry ${entry}: ${exact[entry]} vs ${fd}`);
  }
  task.dispose();
  // Meta-training differentiates through ∇L (second order) with the user's ops.
  const mt = new tpMeta.MetaTeleporter({ architecture: 'coordinatewise', hidden: 3, learn: 'update+teleport', baseLr: 1e-3, seed: 1 });
  const report = await mt.train(userFamily(n), { trajectories: 1, steps: 2, unroll: 2, validation: 1, validationSteps: 2 });
  t.is(report.skippedUpdates, 0);
  t.true(report.updates > 0);
  mt.dispose();
  t.is(tf.getGradient('Greater') as unknown, undefined, 'the zero gradients are unregistered afterwards');
});
