import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadMnist, loadFashionMnist } from '../data/mnist.js';
import { loadCifar10 } from '../data/cifar10.js';
import { toTensors } from '../data/dataset.js';
import { regressionData, regressionLossOf, regressionModel, type RegressionLossName } from '../../src/problems/regression.js';
import { buildCnn, buildMlp, type ActivationName } from './models.js';
import type { Split } from './runner.js';
import type * as tpAdvanced from '../../src/advanced.js';

/** Datasets the CLI knows. */
export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10', 'regression'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** A task ready to train: tensors, a seeded model builder and the loss. */
export interface Task {
  name: DatasetName;
  description: string;
  train: Split;
  val?: Split;
  buildModel: (seed: number) => LayersModel;
  loss: string | tpAdvanced.LossFunction;
  classification: boolean;
  dispose(): void;
}

export interface TaskOptions {
  dataset: DatasetName;
  dataDir?: string;
  widths: number[];
  activation: ActivationName;
  alpha: number;
  trainLimit?: number;
  testLimit?: number;
  /** Seed of the regression data (the paper draws X and Y once). */
  dataSeed?: number;
  /** Loss of the regression task: 'sse' = ‖Y − Ŷ‖² (default), 'half-sse' = ½‖Y − Ŷ‖² (the reference code's). */
  regressionLoss?: RegressionLossName;
}

function limited(split: Split, limit?: number): Split {
  if (limit == null || limit >= split.x.shape[0]) return split;
  const out = { x: tf.slice(split.x, 0, limit), y: tf.slice(split.y, 0, limit) };
  tf.dispose([split.x, split.y]);
  return out;
}

/** Loads a dataset (no network) and pairs it with the model the dissertation uses on it. */
export async function loadTask(o: TaskOptions): Promise<Task> {
  if (o.dataset === 'regression') {
    const { x, y } = regressionData(o.dataSeed ?? 0);
    return {
      name: 'regression',
      description: `dissertation §4.6.1: ${o.regressionLoss === 'half-sse' ? '½' : ''}‖Y − W3·σ(W2·σ(W1·X))‖²${o.regressionLoss === 'half-sse' ? " (the reference code's loss)" : ''}, W1 6×5, W2 7×6, W3 8×7, X 5×4, LeakyReLU(0.1), full-batch`,
      train: { x, y },
      buildModel: seed => regressionModel(seed),
      loss: regressionLossOf(o.regressionLoss ?? 'sse'),
      classification: false,
      dispose: () => tf.dispose([x, y]),
    };
  }
  const ds =
    o.dataset === 'mnist'
      ? await loadMnist({ dir: o.dataDir })
      : o.dataset === 'fashion-mnist'
        ? await loadFashionMnist({ dir: o.dataDir })
        : await loadCifar10({ dir: o.dataDir, trainLimit: o.trainLimit, testLimit: o.testLimit });
  const flatten = o.dataset !== 'cifar10';
  const train = limited(toTensors(ds.train, { flatten, oneHot: true }) as Split, o.trainLimit);
  const val = limited(toTensors(ds.test, { flatten, oneHot: true }) as Split, o.testLimit);
  const inputSize = ds.inputShape.reduce((a: number, b: number) => a * b, 1);
  const buildModel =
    o.dataset === 'cifar10'
      ? (seed: number) =>
          buildCnn({ inputShape: ds.inputShape as [number, number, number], filters: [16, 32], hidden: o.widths[0] ?? 64, classes: ds.numClasses, seed })
      : (seed: number) => buildMlp({ inputSize, widths: o.widths, classes: ds.numClasses, activation: o.activation, alpha: o.alpha, seed });
  return {
    name: o.dataset,
    description:
      o.dataset === 'cifar10'
        ? `CIFAR-10 CNN conv16-pool-conv32-pool-dense${o.widths[0] ?? 64}-10 (relu), ${train.x.shape[0]} train / ${val.x.shape[0]} test`
        : `${o.dataset} MLP ${inputSize}-${o.widths.join('-')}-${ds.numClasses} (${o.activation}${o.activation === 'leakyRelu' ? ' ' + o.alpha : ''}), ${train.x.shape[0]} train / ${val.x.shape[0]} test`,
    train,
    val,
    buildModel,
    loss: 'categoricalCrossentropy',
    classification: true,
    dispose: () => tf.dispose([train.x, train.y, val.x, val.y]),
  };
}
