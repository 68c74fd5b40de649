import * as tf from '@tensorflow/tfjs-core';
import { withSecondOrderGradients } from '../structure/second_order_scope.js';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { badOption } from '../core/errors.js';
import type { LstmState } from './lstm.js';

/** Per-coordinate input features of the coordinate-wise m1 (see {@link coordinateFeatures}). */
export const M1_FEATURES = 4;
/** Per-entry input features of the coordinate-wise m2 (see {@link groupEntryFeatures}). */
export const M2_FEATURES = 5;

/** p of the log-magnitude preprocessing (Andrychowicz et al. 2016, appendix A): magnitudes below e^{−p} switch to a linear form. */
const P = 10;

/**
 * Features of N values x [N, 1] that exist for any N: x / rms(x), the log-magnitude/sign preprocessing
 * (log max(|x|, e^{−p}) / p and sign(x), or e^p·x below e^{−p}) and the shared log(rms(x)) / 10.
 * Differentiable in x (the sign is piecewise constant; the log never sees a value below e^{−p}).
 *
 * ```ts
 * const f = coordinateFeatures(tf.tensor2d([[3], [-0.5]])); // [2, 4]
 * ```
 */
export function coordinateFeatures(x: Tensor2D): Tensor2D {
  const rms = tf.sqrt(tf.add(tf.mean(tf.square(x)), 1e-30));
  const abs = tf.abs(x);
  const big = tf.greaterEqual(abs, Math.exp(-P));
  const logMag = tf.div(tf.log(tf.maximum(abs, Math.exp(-P))), P);
  const signLike = tf.where(big, tf.sign(x), tf.mul(x, Math.exp(P)));
  const shared = tf.mul(tf.onesLike(x), tf.div(tf.log(rms), 10));
  return tf.concat([tf.div(x, rms), logMag, signLike, shared], 1) as Tensor2D;
}

/**
 * Features of the entries of θ ∈ R^{blocks×n×n} for the coordinate-wise m2, [blocks·n·n, 5]: the
 * {@link coordinateFeatures} of d, the derivative of the teleport objective ‖∇L‖² in θ at the identity,
 * and a 1 on the diagonal entries (θ_ii scales a neuron, θ_ij mixes two), so any width has them.
 */
export function groupEntryFeatures(d: Tensor, blocks: number, n: number): Tensor2D {
  const col = tf.reshape(d, [blocks * n * n, 1]) as Tensor2D;
  const diag = tf.reshape(tf.tile(tf.reshape(tf.eye(n), [1, n * n]), [blocks, 1]), [blocks * n * n, 1]);
  return tf.concat([coordinateFeatures(col), diag], 1) as Tensor2D;
}

/**
 * ∂‖∇L(g·w)‖²/∂θ at θ = 0 (g = exp θ, the family's exact action), [blocks, n, n]: the direction in
 * which teleporting raises the squared gradient norm, computed by autodiff (second order) through the
 * action. It is an input, like the gradient in learning-to-learn's coordinate-wise optimizer: it is
 * computed from a copy of the parameters' values, so the meta-gradient does not flow through it (that
 * would be third order). Reads the values back (`dataSync`), a stall on GPU backends.
 *
 * ```ts
 * const task = meta.regressionFamily({ width: 4 }).sample(1);
 * const d = meta.objectiveDerivative(task.params, task.loss, task.act!, 1, 4); // [1, 4, 4]
 * ```
 */
export function objectiveDerivative(
  params: readonly Tensor[],
  loss: (p: readonly Tensor[]) => Scalar,
  act: (p: readonly Tensor[], theta: Tensor) => Tensor[],
  blocks: number,
  n: number,
): Tensor {
  // A second derivative of the family's own loss (and action): their tf.leakyRelu/tf.maximum need the comparisons' zero gradients.
  return withSecondOrderGradients(() =>
    tf.tidy(() => {
      const ps = params.map(p => tf.tensor(p.dataSync(), p.shape, 'float32'));
      const gradNormSq = (theta: Tensor) => {
        const moved = act(ps, theta);
        const gs = tf.grads((...qs: Tensor[]) => loss(qs))(moved);
        return tf.addN(gs.map(g => tf.sum(tf.square(g)))) as Scalar;
      };
      return tf.grad(gradNormSq)(tf.zeros([blocks, n, n]));
    }),
  );
}

/**
 * A shared LSTM's state for `rows` coordinates: a fresh state is [1, hidden] zeros, tiled to every
 * row on first use; a carried state must already have `rows` rows.
 */
export function fitState(state: LstmState, rows: number, what: string): LstmState {
  const have = state.h[0].shape[0];
  if (have === rows) return state;
  if (have !== 1) throw badOption(`MetaTeleporter: ${what}'s state has ${have} rows but this step has ${rows} coordinates (reset the state between tasks)`);
  const tile = (t: Tensor2D) => tf.tile(t, [rows, 1]) as Tensor2D;
  return { h: state.h.map(tile), c: state.c.map(tile) };
}
