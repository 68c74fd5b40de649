import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SeededRandom } from '../util/random.js';

function uniform(shape: number[], random: SeededRandom): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => random.next());
}

/**
 * The dissertation's regression data (§4.6.1): X 5×4 and Y 8×4 uniform in [0, 1], here row-major
 * (tfjs convention): x [4 samples, 5 features], y [4, 8]. Deterministic per seed on every backend.
 */
export function regressionData(seed = 0): { x: Tensor2D; y: Tensor2D } {
  const random = new SeededRandom(0x5eed ^ seed);
  return { x: tf.tensor2d(uniform([4, 5], random), [4, 5]), y: tf.tensor2d(uniform([4, 8], random), [4, 8]) };
}

/**
 * The dissertation's three-layer regression network (§4.6.1): Y ≈ W3·σ(W2·σ(W1·X)), no biases,
 * σ = LeakyReLU(0.1), weights uniform in [0, 1]. Row-major: Dense kernels [5,6], [6,7], [7,8], each
 * hidden Dense followed by a LeakyReLU layer. Weights are set from the seed, backend-independent.
 */
export function regressionModel(seed = 0, opts: { widths?: number[]; alpha?: number } = {}): LayersModel {
  const widths = opts.widths ?? [5, 6, 7, 8];
  const alpha = opts.alpha ?? 0.1;
  const model = tfl.sequential();
  for (let i = 1; i < widths.length; i++) {
    model.add(tfl.layers.dense({ units: widths[i], useBias: false, inputShape: i === 1 ? [widths[0]] : undefined }));
    if (i < widths.length - 1) model.add(tfl.layers.leakyReLU({ alpha }));
  }
  const random = new SeededRandom(0xabc ^ (seed * 2654435761));
  const values = model.getWeights().map(w => tf.tensor(uniform(w.shape, random), w.shape));
  model.setWeights(values); // setWeights copies; the temporaries are ours to free
  tf.dispose(values);
  return model;
}

/**
 * The paper's loss ‖Y − Ŷ‖² (squared Frobenius norm, summed over the batch), as a tfjs loss
 * `(yTrue, yPred) => Scalar` for model.compile or the teleport `loss` option. Mean squared error is
 * this divided by n·8 = 32, so learning rates for MSE are 32× the paper's.
 */
export function sumSquaredError(yTrue: Tensor, yPred: Tensor): Scalar {
  return tf.sum(tf.square(tf.sub(yTrue, yPred))) as Scalar;
}
