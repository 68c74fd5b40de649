/**
 * tanh, sigmoid, softmax, log-softmax, relu, leaky ReLU, ELU and maximum whose second derivatives tfjs gets right.
 *
 * tfjs 4.22 saves a kernel's output for its gradient as a clone taped *before* the kernel itself, so
 * when a gradient is differentiated again (nested `tf.grads`/`tf.variableGrads`) the path through a
 * saved output is silently cut: d²/dx² tanh(x), sigmoid, exp, softmax and logSoftmax come out as if the
 * saved output were a constant (for Σ c·tanh(x) the Hessian is exactly 0). Saved *inputs* are taped
 * after their producer and stay connected. These versions compute the same values and first
 * derivatives, but their gradients are recomputed from the saved input, so second derivatives (HVPs,
 * Hessians, gradient-norm objectives) are exact. Third derivatives are not.
 *
 * tf.leakyRelu, tf.prelu, tf.maximum (and relu6, clipByValue, selu) fail outright when differentiated
 * twice outside tp's own second-order calls ("gradient function not found for Greater": tfjs has no
 * gradient for comparisons; tfjs-teleport/hessian, tfjs-teleport/meta and teleports supply a zero one while they run), and
 * tf.elu fails everywhere (no gradient for EluGrad). `leakyRelu`, `relu`, `elu` and `maximum` here are
 * built from ops whose second derivatives tfjs has, so they work in any nested tf.grads.
 *
 * ```ts
 * const loss = () => tf.sum(hessian.secondOrder.tanh(tf.matMul(x, w))) as tf.Scalar; // not tf.tanh
 * hessian.full({ params: [w], loss });
 * ```
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';

type Save = (tensors: Tensor[]) => void;

/** A unary op with the value `f(x)` and the gradient `dy ↦ df(x, dy)` computed from the saved input x. */
function fromInput(f: (x: Tensor) => Tensor, df: (x: Tensor, dy: Tensor) => Tensor): (x: Tensor) => Tensor {
  const op = tf.customGrad(((x: Tensor, save: Save) => {
    save([x]);
    return { value: f(x), gradFunc: (dy: Tensor, saved: Tensor[]) => df(saved[0], dy) };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return x => op(x);
}

/** tanh with d/dx = 1 − tanh(x)², recomputed from x. */
export const tanh = fromInput(
  x => tf.tanh(x),
  (x, dy) => tf.mul(dy, tf.sub(1, tf.square(tf.tanh(x)))),
);

/** The logistic sigmoid with d/dx = σ(x)(1 − σ(x)), recomputed from x. */
export const sigmoid = fromInput(
  x => tf.sigmoid(x),
  (x, dy) => {
    const s = tf.sigmoid(x);
    return tf.mul(dy, tf.mul(s, tf.sub(1, s)));
  },
);

/** softmax over the last axis, with the vector-Jacobian product s ∘ (dy − Σ dy ∘ s) recomputed from x. */
export const softmax = fromInput(
  x => tf.softmax(x),
  (x, dy) => {
    const s = tf.softmax(x);
    return tf.mul(s, tf.sub(dy, tf.sum(tf.mul(dy, s), -1, true)));
  },
);

/** log-softmax over the last axis, with the vector-Jacobian product dy − softmax(x)·Σ dy recomputed from x. */
export const logSoftmax = fromInput(
  x => tf.logSoftmax(x),
  (x, dy) => tf.sub(dy, tf.mul(tf.softmax(x), tf.sum(dy, -1, true))),
);

/** relu (tfjs's own: its gradient uses Step, whose zero gradient tfjs has). */
export const relu = (x: Tensor): Tensor => tf.relu(x);

/** Leaky ReLU as relu(x) − α·relu(−x): the same values as tf.leakyRelu (exactly), second-order safe. Default α 0.2, as tfjs. */
export const leakyRelu = (x: Tensor, alpha = 0.2): Tensor => tf.sub(tf.relu(x), tf.mul(alpha, tf.relu(tf.neg(x))));

/** max(a, b) as b + relu(a − b) (broadcasting as tf.maximum; equal to it up to one rounding), second-order safe. */
export const maximum = (a: Tensor, b: Tensor): Tensor => tf.add(b, tf.relu(tf.sub(a, b)));

/** ELU (α = 1, as tf.elu) with d/dx = step(x) + (1 − step(x))·exp(−relu(−x)), recomputed from x. */
export const elu = fromInput(
  x => tf.elu(x),
  (x, dy) => {
    const positive = tf.step(x, 0);
    return tf.mul(dy, tf.add(positive, tf.mul(tf.sub(1, positive), tf.exp(tf.neg(tf.relu(tf.neg(x)))))));
  },
);
