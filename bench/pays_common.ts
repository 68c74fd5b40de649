/** Small shared pieces of the pays benchmark: a synced training step, weight snapshots, t-intervals. */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { crossEntropy, variablesOf } from './models.js';

export { crossEntropy, variablesOf };
export { median } from './common.js';

/** One synced training step on a batch; returns the batch loss. */
export function trainStepOn(optimizer: tf.Optimizer, model: LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  const cost = optimizer.minimize(() => crossEntropy(y, model.apply(x, { training: true }) as tf.Tensor), true, variablesOf(model));
  const v = cost!.dataSync()[0];
  cost!.dispose();
  return v;
}

/** Saves the current weights on demand and puts them back. */
export function snapshotOf(model: LayersModel): { save(): void; restore(): void; dispose(): void } {
  const vars = variablesOf(model);
  let saved: tf.Tensor[] = [];
  return {
    save() {
      tf.dispose(saved);
      saved = vars.map(v => tf.keep(v.clone()));
    },
    restore() {
      vars.forEach((v, i) => v.assign(saved[i]));
    },
    dispose() {
      tf.dispose(saved);
      saved = [];
    },
  };
}

/** Two-sided 97.5 % quantiles of Student's t by degrees of freedom (1–30); the normal 1.96 beyond. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function tQuantile975(df: number): number {
  if (df < 1) return NaN;
  return df <= T975.length ? T975[df - 1] : 1.96;
}

/** Mean with a 95 % t-interval over the finite values (null mean when there are none). */
export interface Interval {
  mean: number | null;
  lo: number | null;
  hi: number | null;
  /** Values that went in (finite ones) out of all given. */
  n: number;
  of: number;
}

export function tInterval(values: readonly (number | null)[]): Interval {
  const xs = values.filter((v): v is number => v != null && Number.isFinite(v));
  if (xs.length === 0) return { mean: null, lo: null, hi: null, n: 0, of: values.length };
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean: m, lo: null, hi: null, n: 1, of: values.length };
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
  const half = tQuantile975(xs.length - 1) * (sd / Math.sqrt(xs.length));
  return { mean: m, lo: m - half, hi: m + half, n: xs.length, of: values.length };
}
