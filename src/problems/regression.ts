import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SeededRandom } from '../core/random.js';

function uniform(shape: number[], random: SeededRandom): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => random.next());
}

/**
 * The dissertation's regression data (§4.6.1): X ∈ R^{5×4} and Y ∈ R^{8×4}, uniform in [0, 1), here
 * row-major (tfjs convention, one sample per row): `x` [4 samples, 5 features], `y` [4, 8]. Drawn
 * from {@link SeededRandom} (x first, then y), so they are the same for a seed on every backend.
 *
 * ```ts
 * const { x, y } = regressionData(0);
 * ```
 */
export function regressionData(seed = 0): { x: Tensor2D; y: Tensor2D } {
  const random = new SeededRandom(0x5eed ^ seed);
  return { x: tf.tensor2d(uniform([4, 5], random), [4, 5]), y: tf.tensor2d(uniform([4, 8], random), [4, 8]) };
}

/** Options of {@link regressionModel}. */
export interface RegressionModelOptions {
  /** Layer widths, input first (default [5, 6, 7, 8]: kernels 5×6, 6×7, 7×8). */
  widths?: number[];
  /** Negative slope of the LeakyReLU layers (default 0.1). */
  alpha?: number;
}

/**
 * The dissertation's three-layer regression network (§4.6.1): Ŷ = W₃σ(W₂σ(W₁X)), no biases,
 * σ = LeakyReLU(0.1), weights uniform in [0, 1). In tfjs's row-major convention: a Sequential of
 * linear Dense layers without bias, kernels [5, 6], [6, 7], [7, 8], each hidden Dense followed by a
 * `leakyReLU({ alpha })` layer; the last Dense is linear. So `model.predict(x)` is
 * leaky(leaky(x·K₁)·K₂)·K₃ with Kᵢ = Wᵢᵀ.
 *
 * The kernels are drawn from {@link SeededRandom} (first layer first) and set with `setWeights`, so
 * a seed gives the same model on every backend. The model is not compiled: compile it with
 * {@link sumSquaredError} for the paper's loss, or with {@link regressionLoss} (see there for the
 * learning-rate scale).
 *
 * ```ts
 * const model = regressionModel(0);
 * model.compile({ optimizer: tf.train.sgd(1e-4), loss: sumSquaredError });
 * ```
 */
export function regressionModel(seed = 0, opts: RegressionModelOptions = {}): LayersModel {
  const widths = opts.widths ?? [5, 6, 7, 8];
  const alpha = opts.alpha ?? 0.1;
  if (widths.length < 2 || widths.some(w => !Number.isInteger(w) || w < 1)) {
    throw new Error(`tfjs-teleport: regressionModel: widths must be at least two positive integers, input first (got [${widths.join(', ')}])`);
  }
  if (!Number.isFinite(alpha)) throw new Error(`tfjs-teleport: regressionModel: alpha must be a finite number (got ${alpha})`);
  const model = tfl.sequential();
  for (let i = 1; i < widths.length; i++) {
    model.add(tfl.layers.dense({ units: widths[i], useBias: false, activation: 'linear', inputShape: i === 1 ? [widths[0]] : undefined }));
    if (i < widths.length - 1) model.add(tfl.layers.leakyReLU({ alpha }));
  }
  const random = new SeededRandom(0xabc ^ (seed * 2654435761));
  const values = model.getWeights().map(w => tf.tensor(uniform(w.shape, random), w.shape));
  model.setWeights(values); // setWeights copies; the temporaries are ours to free
  tf.dispose(values);
  return model;
}

/**
 * The paper's loss ‖Y − Ŷ‖²_F (squared Frobenius norm, summed over samples and outputs), as a tfjs
 * loss `(yTrue, yPred) => Scalar`: usable in `model.compile({ loss: sumSquaredError })` and as the
 * teleport `loss` option. With this loss the dissertation's learning rates apply unchanged (GD 1e-4,
 * AdaGrad 1e-1).
 */
export function sumSquaredError(yTrue: Tensor, yPred: Tensor): Scalar {
  return tf.tidy(() => tf.sum(tf.square(tf.sub(yTrue, yPred))) as Scalar);
}

/**
 * The reference code's loss ½‖Y − Ŷ‖²_F: half of {@link sumSquaredError}, so its gradient is half
 * as large and the paper's learning rates (GD 1e-4, AdaGrad 1e-1) take the reference code's step, not
 * twice it. Use it to compare like for like with the dissertation's released code; ‖∇L‖² (the
 * teleport objective) is a quarter of sumSquaredError's.
 *
 * ```ts
 * model.compile({ optimizer: tf.train.sgd(1e-4), loss: problems.halfSumSquaredError });
 * ```
 */
export function halfSumSquaredError(yTrue: Tensor, yPred: Tensor): Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.sum(tf.square(tf.sub(yTrue, yPred)))) as Scalar);
}

/** The two sum-of-squares losses of the regression by name: 'sse' = ‖Y − Ŷ‖² (the text), 'half-sse' = ½‖Y − Ŷ‖² (the reference code). */
export type RegressionLossName = 'sse' | 'half-sse';

/** {@link sumSquaredError} or {@link halfSumSquaredError} by name. */
export function regressionLossOf(name: RegressionLossName): (yTrue: Tensor, yPred: Tensor) => Scalar {
  return name === 'half-sse' ? halfSumSquaredError : sumSquaredError;
}

/**
 * The tfjs built-in loss closest to the paper's: `'meanSquaredError'`, for
 * `model.compile({ loss: regressionLoss })`.
 *
 * lossScale: mean squared error averages over the n samples and the 8 outputs, so
 * MSE = ‖Y − Ŷ‖²_F / (n·8) = ‖Y − Ŷ‖²_F / 32 for the 4-sample data. Its gradients are 32× smaller,
 * so plain GD with MSE needs a learning rate 32× the paper's (3.2e-3 for the paper's 1e-4) to follow
 * the same trajectory; the teleport objective ‖∇L‖² is 32² = 1024× smaller, so an unnormalized
 * ascent on it needs a 1024× larger teleport learning rate. Adaptive optimizers (AdaGrad, Adam) are
 * nearly scale-invariant, apart from their ε. Use {@link sumSquaredError} to keep the paper's numbers.
 */
export const regressionLoss = 'meanSquaredError' as const;
