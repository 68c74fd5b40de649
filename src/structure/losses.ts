import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { badOption } from '../core/errors.js';
import { logSoftmax } from './second_order.js';

/** A loss as `(yTrue, yPred) => Scalar`, the shape tfjs-layers' compile() accepts. */
export type LossFunction = (yTrue: Tensor, yPred: Tensor) => Scalar | Tensor;

/**
 * The loss a teleport evaluates on its batch. When `logits` is true the model's final softmax is
 * folded into the loss (log-softmax cross-entropy) so second derivatives are stable and exist.
 */
export interface ResolvedLoss {
  name: string;
  /** True when `compute` expects the final layer's pre-softmax output. */
  logits: boolean;
  /** The mean loss of a batch. */
  compute(yTrue: Tensor, output: Tensor): Scalar;
}

const ALIASES: Record<string, string> = {
  mse: 'meanSquaredError',
  mean_squared_error: 'meanSquaredError',
  categorical_crossentropy: 'categoricalCrossentropy',
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  mae: 'meanAbsoluteError',
  mean_absolute_error: 'meanAbsoluteError',
};

/** Loss identifiers whose second derivatives tfjs can take, as used here. */
export const SUPPORTED_LOSSES = ['meanSquaredError', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy'];

/**
 * Resolves the loss a teleport uses: the `loss` option if given, else the one passed to
 * `model.compile`. `finalSoftmax` says whether the model ends in a softmax that can be fused.
 */
export function resolveLoss(loss: unknown, finalSoftmax: boolean): ResolvedLoss {
  if (Array.isArray(loss)) {
    if (loss.length !== 1) throw badOption('models with several outputs/losses are not supported; pass a single `loss`');
    return resolveLoss(loss[0], finalSoftmax);
  }
  if (typeof loss === 'function') {
    const fn = loss as LossFunction;
    return { name: fn.name || 'custom', logits: false, compute: (y, p) => tf.mean(fn(y, p)) as Scalar };
  }
  if (typeof loss !== 'string') {
    throw badOption(
      'no loss to teleport with. Compile the model first (model.compile({loss, ...})) ' +
        "or pass a `loss` option ('meanSquaredError', 'categoricalCrossentropy', or a function (yTrue, yPred) => Scalar).",
    );
  }
  const name = ALIASES[loss] ?? loss;
  switch (name) {
    case 'meanSquaredError':
      return { name, logits: false, compute: (y, p) => tf.mean(tf.square(tf.sub(y, p))) as Scalar };
    case 'categoricalCrossentropy':
      return crossEntropy(name, finalSoftmax, y => y);
    case 'sparseCategoricalCrossentropy':
      return crossEntropy(name, finalSoftmax, (y, classes) => tf.oneHot(tf.cast(tf.reshape(y, [-1]), 'int32'), classes));
    default:
      throw badOption(
        `loss '${loss}' is not supported for teleport evaluation. Supported: ${SUPPORTED_LOSSES.join(', ')}; ` +
          'or pass your own `loss` function (yTrue, yPred) => Scalar.',
      );
  }
}

function crossEntropy(name: string, fuse: boolean, toOneHot: (y: Tensor, classes: number) => Tensor): ResolvedLoss {
  if (fuse) {
    return {
      name,
      logits: true,
      compute: (y, logits) => {
        const classes = logits.shape[logits.shape.length - 1];
        const target = toOneHot(y, classes);
        return tf.neg(tf.mean(tf.sum(tf.mul(target, logSoftmax(logits)), -1))) as Scalar;
      },
    };
  }
  // Probabilities from a non-softmax output: log(p + ε) rather than a clip, whose gradient has none.
  return {
    name,
    logits: false,
    compute: (y, p) => {
      const classes = p.shape[p.shape.length - 1];
      const target = toOneHot(y, classes);
      return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.log(tf.add(p, 1e-7))), -1))) as Scalar;
    },
  };
}
