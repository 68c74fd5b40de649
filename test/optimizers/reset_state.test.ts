import test from 'ava';
import { tf, useCpu } from '../helpers.js';
import * as tp from '../../src/index.js';

test.before(useCpu);

const factories: Array<[string, () => tp.TeleportOptimizer]> = [
  ['sgd', () => tp.sgd(0.1)],
  ['momentum', () => tp.momentum(0.1, 0.9)],
  ['momentum nesterov', () => tp.momentum(0.1, 0.9, true)],
  ['adagrad', () => tp.adagrad(0.1)],
  ['rmsprop', () => tp.rmsprop(0.01, 0.9, 0.5)],
  ['adam', () => tp.adam(0.01)],
];

/** One step of a one-variable least-squares problem, so every optimizer has slots to reset. */
function step(opt: tf.Optimizer, w: tf.Variable): void {
  const target = tf.tensor1d([1, -2, 3]);
  opt.minimize(() => tf.sum(tf.square(tf.sub(w, target))) as tf.Scalar, false, [w]);
  target.dispose();
}

test('resetState and dispose leave no tensor behind, for every inner optimizer (tfjs Momentum included)', t => {
  const w = tf.variable(tf.zeros([3]));
  for (const [name, make] of factories) {
    const before = tf.memory().numTensors;
    const opt = make();
    for (let i = 0; i < 5; i++) {
      step(opt, w);
      opt.resetState();
    }
    step(opt, w);
    opt.dispose();
    t.is(tf.memory().numTensors, before, `${name}: tensors left after 5 resets and dispose`);
  }
  w.dispose();
});

test('resetState restarts the state but keeps the step clock: the next step equals a fresh optimizer’s first', t => {
  const w = tf.variable(tf.tensor1d([0.5, 0.5, 0.5]));
  const opt = tp.momentum(0.1, 0.9);
  for (let i = 0; i < 3; i++) step(opt, w);
  const iterations = opt.iterations;
  opt.resetState();
  t.is(opt.iterations, iterations);
  const start = Array.from(w.dataSync());
  step(opt, w);
  const after = Array.from(w.dataSync());
  // Recomputed by hand: a fresh momentum's first step is w − lr·∇, ∇ = 2(w − target).
  const target = [1, -2, 3];
  after.forEach((v, i) => t.true(Math.abs(v - (start[i] - 0.1 * 2 * (start[i] - target[i]))) < 1e-6, `coordinate ${i}`));
  opt.dispose();
  w.dispose();
});
