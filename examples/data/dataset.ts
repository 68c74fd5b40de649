import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom } from '../../src/util/random.js';

/** One split of a labelled image dataset, in plain typed arrays (no tensors until asked). */
export interface Split {
  /** Pixel values in [0, 1], example after example, each in NHWC order. */
  x: Float32Array;
  labels: Uint8Array;
  count: number;
  /** Shape of one example, e.g. [28, 28, 1]. */
  shape: number[];
}

/** A labelled dataset with a train and a test split. */
export interface Dataset {
  name: string;
  train: Split;
  test: Split;
  inputShape: number[];
  numClasses: number;
}

/** Tensors of a split: x as [count, ...shape] (or [count, size] with `flatten`), y one-hot or int labels. */
export function toTensors(split: Split, opts: { flatten?: boolean; oneHot?: boolean; numClasses?: number } = {}): { x: tf.Tensor; y: tf.Tensor } {
  const size = split.shape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(split.x, opts.flatten ? [split.count, size] : [split.count, ...split.shape], 'float32');
  const labels = tf.tensor1d(Int32Array.from(split.labels), 'int32');
  if (opts.oneHot === false) return { x, y: labels };
  const y = tf.tidy(() => tf.cast(tf.oneHot(labels, opts.numClasses ?? 10), 'float32'));
  labels.dispose();
  return { x, y };
}

/** A contiguous part of a split (copies). */
export function subset(split: Split, start: number, count: number): Split {
  const size = split.shape.reduce((a, b) => a * b, 1);
  const end = Math.min(split.count, start + count);
  return { x: split.x.slice(start * size, end * size), labels: split.labels.slice(start, end), count: end - start, shape: split.shape.slice() };
}

/** A seeded permutation of 0..n−1 (Fisher–Yates). */
export function seededPermutation(n: number, seed: number): number[] {
  const random = new SeededRandom(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** The split with its examples reordered by `order`. */
export function reorder(split: Split, order: number[]): Split {
  const size = split.shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(order.length * size);
  const labels = new Uint8Array(order.length);
  order.forEach((src, dst) => {
    x.set(split.x.subarray(src * size, (src + 1) * size), dst * size);
    labels[dst] = split.labels[src];
  });
  return { x, labels, count: order.length, shape: split.shape.slice() };
}
