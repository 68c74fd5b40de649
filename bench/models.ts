/** Models and a training step shared by the timing benchmarks. */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { buildCnn, buildMlp, type ActivationName } from '../examples/train/models.js';

export type BenchActivation = Extract<ActivationName, 'relu' | 'leakyRelu' | 'linear'>;

export interface ModelSpec {
  kind: 'mlp' | 'cnn';
  label: string;
  inputShape: number[];
  hidden?: number;
  activation?: BenchActivation;
  build(seed: number): LayersModel;
}

/** The MLP 784-h-h-10 (softmax output); leakyRelu as a LeakyReLU(0.1) layer, as the examples build it. */
export function mlpSpec(h: number, activation: BenchActivation): ModelSpec {
  return {
    kind: 'mlp',
    label: `MLP 784-${h}-${h}-10 ${activation}`,
    inputShape: [784],
    hidden: h,
    activation,
    build: seed => buildMlp({ inputSize: 784, widths: [h, h], classes: 10, activation, alpha: 0.1, seed }),
  };
}

/** conv(8, 3×3, relu) → max-pool → conv(16, 3×3, relu) → max-pool → flatten → dense(32, relu) → dense(10, softmax), 28×28×1 input. */
export function cnnSpec(): ModelSpec {
  return {
    kind: 'cnn',
    label: 'CNN 28×28×1 c8-p-c16-p-d32-10 relu',
    inputShape: [28, 28, 1],
    build: seed => buildCnn({ inputShape: [28, 28, 1], filters: [8, 16], hidden: 32, classes: 10, seed }),
  };
}

/** Cross-entropy on the softmax output, as examples/train/runner.ts computes it. */
export function crossEntropy(y: tf.Tensor, p: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.add(p, 1e-7))), -1))) as tf.Scalar;
}

/** One training step: optimizer.minimize on the batch, synced (dataSync of the returned loss). */
export function trainStep(optimizer: tf.Optimizer, model: LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  // An explicit variable list keeps the optimizer's slot positions equal to model.trainableWeights.
  const cost = optimizer.minimize(() => crossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), true, variablesOf(model));
  const v = cost!.dataSync()[0];
  cost!.dispose();
  return v;
}

/** The model's trainable variables, in order. */
export function variablesOf(model: LayersModel): tf.Variable[] {
  return model.trainableWeights.map(w => w.read() as tf.Variable);
}

/** Copies of the current weights, and a function that puts them back. */
export function snapshot(model: LayersModel): { restore(): void; dispose(): void } {
  const vars = variablesOf(model);
  const saved = vars.map(v => tf.keep(v.clone()));
  return {
    restore: () => vars.forEach((v, i) => v.assign(saved[i])),
    dispose: () => tf.dispose(saved),
  };
}
