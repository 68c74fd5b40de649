/** The comparison runs of `meta-test`: gradient descent and the trained teleporters, on tasks of a family. */
import * as tf from '@tensorflow/tfjs-core';
import * as tpMeta from '../../src/meta.js';

/** One arm's run on one task: the loss before each step and after the last, and wall-clock ms at each. */
export interface ArmRun {
  arm: string;
  task: number;
  losses: number[];
  ms: number[];
  /** Largest relative loss change caused by any single group action (teleporting arms). */
  maxTeleportDrift?: number;
}

/** Plain gradient descent with step size `lr` for `steps` steps. */
export function gdRun(task: tpMeta.MetaTask, lr: number, steps: number): { losses: number[]; ms: number[] } {
  let params = task.params.map(p => tf.clone(p));
  const losses: number[] = [];
  const ms: number[] = [];
  const t0 = performance.now();
  for (let t = 0; t <= steps; t++) {
    losses.push(tpMeta.lossValue(task, params));
    ms.push(performance.now() - t0);
    if (t === steps || !Number.isFinite(losses[t])) break;
    const next = tf.tidy(() => {
      const grads = tf.grads((...ps: tf.Tensor[]) => task.loss(ps))(params);
      return params.map((p, i) => tf.sub(p, tf.mul(lr, grads[i])));
    });
    tf.dispose(params);
    params = next;
  }
  tf.dispose(params);
  return { losses, ms };
}

/** Stable: every loss finite and never above the start, and the last one below it (the library's test). */
export const stable = tpMeta.isStable;

/**
 * The largest step size of a grid (×10^¼ apart, 1e-6 … 1e-1) at which GD is stable on every task; the
 * dissertation's "largest learning rate that does not lead to divergence". The library's search
 * (`tp.meta.largestStableLr`, also behind `baseLr: 'auto'`).
 */
export function largestStableLr(tasks: readonly tpMeta.MetaTask[], steps: number): { lr: number; grid: Array<{ lr: number; stable: boolean }> } {
  const { lr, grid } = tpMeta.largestStableLr(tasks, steps);
  return { lr, grid };
}

/** The first step at which the loss is at or below `fraction` of the initial loss, or null. */
export function stepsTo(losses: readonly number[], fraction: number): number | null {
  const i = losses.findIndex(l => l <= fraction * losses[0]);
  return i < 0 ? null : i;
}

/** Display names in the dissertation's style. */
export const ARM_NAMES: Record<tpMeta.MetaLearn, string> = {
  update: 'LSTM(update)',
  'lr+teleport': 'LSTM(lr, tele)',
  'update+teleport': 'LSTM(update, tele)',
  teleport: 'GD + LSTM(tele)',
};
