import { existsSync, statSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '../../src/core/random.js';

/**
 * One split of a labelled image dataset, held in plain typed arrays (no tensors until
 * {@link toTensors} is called).
 */
export interface Split {
  /** Pixel values scaled to [0, 1], example after example, each example in HWC (so the whole split NHWC) order. */
  x: Float32Array;
  /** One class index per example, aligned with `x`. */
  labels: Uint8Array;
  /** Number of examples; `x.length === count * size(shape)` and `labels.length === count`. */
  count: number;
  /** Shape of one example, e.g. `[28, 28, 1]` or `[32, 32, 3]`. */
  shape: number[];
}

/** A labelled image dataset with a train and a test split, as returned by every loader in `examples/data/`. */
export interface Dataset {
  /** Short human-readable name, e.g. `'mnist'` or `'cifar10'`. */
  name: string;
  /** Training examples. */
  train: Split;
  /** Held-out examples. */
  test: Split;
  /** Shape of one example (height, width, channels), the same as `train.shape`. */
  inputShape: number[];
  /** Number of classes; every label is in `0 .. numClasses − 1`. */
  numClasses: number;
  /** Optional names of the classes, indexed by label. */
  classNames?: string[];
}

/** Options shared by the loaders for capping the number of examples read into each split. */
export interface LimitOptions {
  /** Keep at most this many training examples (the first ones in file / split order). Alias of `trainLimit`. */
  limit?: number;
  /** Keep at most this many training examples; wins over `limit` when both are given. */
  trainLimit?: number;
  /** Keep at most this many test examples. */
  testLimit?: number;
}

/** The training cap of {@link LimitOptions} (`trainLimit`, else `limit`), validated. */
export function trainLimitOf(opts: LimitOptions): number | undefined {
  return checkLimit(opts.trainLimit ?? opts.limit, opts.trainLimit != null ? 'trainLimit' : 'limit');
}

/** The test cap of {@link LimitOptions}, validated. */
export function testLimitOf(opts: LimitOptions): number | undefined {
  return checkLimit(opts.testLimit, 'testLimit');
}

/**
 * Throws unless `dir` is an existing directory, saying which is wrong: missing, or a file (a data file passed
 * as --data-dir instead of its folder). `name` prefixes the message and `hint` ends it (how to get the data).
 */
export function checkDataDir(dir: string, name: string, hint: string): void {
  if (!existsSync(dir)) throw new Error(`${name}: data directory ${dir} does not exist. ${hint}`);
  if (!statSync(dir).isDirectory())
    throw new Error(`${name}: data directory ${dir} is a file, not a directory; --data-dir takes the folder that holds the data files. ${hint}`);
}

function checkLimit(n: number | undefined, what: string): number | undefined {
  if (n == null) return undefined;
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative integer, got ${n}`);
  return n;
}

/** Number of values in one example of `split` (product of `split.shape`). */
export function exampleSize(split: Pick<Split, 'shape'>): number {
  return split.shape.reduce((a, b) => a * b, 1);
}

/**
 * Tensors of a split. `x` is `[count, ...shape]` (NHWC), or `[count, size]` with `flatten`.
 * `y` is one-hot float32 `[count, numClasses]` unless `oneHot: false`, in which case it is int32 `[count]`.
 * `numClasses` defaults to 10. The caller owns (and must dispose) both tensors.
 */
export function toTensors(split: Split, opts: { flatten?: boolean; oneHot?: boolean; numClasses?: number } = {}): { x: tf.Tensor; y: tf.Tensor } {
  const size = exampleSize(split);
  const numClasses = opts.numClasses ?? 10;
  if (split.x.length !== split.count * size) {
    throw new Error(`toTensors: split has ${split.x.length} values but count ${split.count} × example size ${size} = ${split.count * size}`);
  }
  if (split.labels.length !== split.count) throw new Error(`toTensors: split has ${split.labels.length} labels for ${split.count} examples`);
  const bad = split.labels.findIndex(l => l >= numClasses);
  if (bad >= 0) throw new Error(`toTensors: label ${split.labels[bad]} at index ${bad} is not below numClasses ${numClasses}`);
  const x = tf.tensor(split.x, opts.flatten ? [split.count, size] : [split.count, ...split.shape], 'float32');
  const labels = tf.tensor1d(Int32Array.from(split.labels), 'int32');
  if (opts.oneHot === false) return { x, y: labels };
  const y = tf.tidy(() => tf.cast(tf.oneHot(labels, numClasses), 'float32'));
  labels.dispose();
  return { x, y };
}

/** A contiguous part of a split: `count` examples from `start` (fewer at the end). Copies the data. */
export function subset(split: Split, start: number, count: number): Split {
  const size = exampleSize(split);
  const from = Math.max(0, Math.min(split.count, start));
  const end = Math.max(from, Math.min(split.count, from + count));
  return {
    x: split.x.slice(from * size, end * size),
    labels: split.labels.slice(from, end),
    count: end - from,
    shape: split.shape.slice(),
  };
}

/** The first `n` examples of a split (the split itself, uncopied, when `n` is undefined or ≥ its count). */
export function takeSplit(split: Split, n?: number): Split {
  return n == null || n >= split.count ? split : subset(split, 0, n);
}

/** A seeded permutation of `0 .. n−1` (Fisher–Yates driven by {@link SeededRandom}); the same for the same `n` and `seed`. */
export function seededPermutation(n: number, seed: number): number[] {
  const random = new SeededRandom(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** A new split holding the examples `order[0], order[1], …` of `split` (indices may repeat or be a subset). */
export function reorder(split: Split, order: ArrayLike<number>): Split {
  const size = exampleSize(split);
  const x = new Float32Array(order.length * size);
  const labels = new Uint8Array(order.length);
  for (let dst = 0; dst < order.length; dst++) {
    const src = order[dst];
    if (!Number.isInteger(src) || src < 0 || src >= split.count) throw new Error(`reorder: index ${src} is outside 0..${split.count - 1}`);
    x.set(split.x.subarray(src * size, (src + 1) * size), dst * size);
    labels[dst] = split.labels[src];
  }
  return { x, labels, count: order.length, shape: split.shape.slice() };
}

/** The split with its examples shuffled by a seeded permutation (images and labels stay aligned). Copies the data. */
export function shuffleSplit(split: Split, seed: number): Split {
  return reorder(split, seededPermutation(split.count, seed));
}

/** One mini-batch yielded by {@link batches}. */
export interface BatchRange {
  /** Position of the batch's first example in the epoch order (inclusive). */
  start: number;
  /** Position after the batch's last example in the epoch order (exclusive). */
  end: number;
  /** The example indices of this batch, `end − start` of them, usable with `tf.gather` or {@link reorder}. */
  indices: Int32Array;
}

/**
 * Mini-batches covering one epoch of `split`: consecutive ranges `[start, end)` of at most `batchSize`
 * positions (the last one may be shorter). Without `seed` the indices are `start .. end−1` in order; with a
 * seed, positions index a {@link seededPermutation} of the examples, so the epoch is shuffled the same way for
 * the same seed.
 */
export function* batches(split: Pick<Split, 'count'>, batchSize: number, seed?: number): Generator<BatchRange> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batches: batchSize must be a positive integer, got ${batchSize}`);
  const order = seed == null ? null : Int32Array.from(seededPermutation(split.count, seed));
  for (let start = 0; start < split.count; start += batchSize) {
    const end = Math.min(split.count, start + batchSize);
    const indices = order ? order.slice(start, end) : Int32Array.from({ length: end - start }, (_, i) => start + i);
    yield { start, end, indices };
  }
}
