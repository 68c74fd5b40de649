/**
 * GD's largest stable step size on a family's tasks, and from it the learned optimizer's base step
 * (`baseLr: 'auto'`): a teleporter starts as GD at η₀, and its heads scale η₀, so η₀ far below the edge
 * of stability leaves an untrained (or validation-kept) teleporter worse than plain, well-tuned GD.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { TeleportError } from '../core/errors.js';
import type { MetaTask } from './family.js';

/** The grid: 10^(e/4) for e = −24 … −4 (1e-6 … 0.1), rounded to 3 digits. */
const GRID = Array.from({ length: 21 }, (_, i) => Number((10 ** ((i - 24) / 4)).toPrecision(3)));
/** Where the search starts (1e-4), walking up or down the grid from there. */
const START = 8;

/**
 * Plain gradient descent with step size `lr` for `steps` steps: the loss before each step and after
 * the last. With `stopAbove`, the run stops at the first loss above that bound or not finite (it can
 * no longer be stable), so unstable step sizes cost a few steps.
 */
export function gdLosses(task: MetaTask, lr: number, steps: number, stopAbove = Number.POSITIVE_INFINITY): number[] {
  let params = task.params.map(p => tf.clone(p));
  const losses: number[] = [];
  try {
    for (let t = 0; t <= steps; t++) {
      const l = tf.tidy(() => task.loss(params).dataSync()[0]);
      losses.push(l);
      if (t === steps || !Number.isFinite(l) || l > stopAbove) break;
      const next = tf.tidy(() => {
        const grads = tf.grads((...ps: Tensor[]) => task.loss(ps))(params);
        return params.map((p, i) => tf.sub(p, tf.mul(lr, grads[i])));
      });
      tf.dispose(params);
      params = next;
    }
  } finally {
    tf.dispose(params);
  }
  return losses;
}

/** Stable: every loss finite and never above the start, and the last one below it. */
export function isStable(losses: readonly number[], steps: number): boolean {
  return losses.length === steps + 1 && losses.every(l => Number.isFinite(l) && l <= losses[0]) && losses[steps] < losses[0];
}

/** What the search found (reported by `MetaTeleporter.train` and `calibrate`). */
export interface StableLrSearch {
  /** The largest grid step size at which GD is stable on every task. */
  lr: number;
  /** Every step size tried, in the order tried, and whether GD was stable at it. */
  grid: Array<{ lr: number; stable: boolean }>;
  /** Tasks and steps of each run. */
  tasks: number;
  steps: number;
}

/**
 * The largest step size of the grid ×10^¼ (1e-6 … 0.1) at which GD is stable on every task for
 * `steps` steps (the dissertation's "largest learning rate that does not lead to divergence"):
 * starting at 1e-4 it walks up while stable, or down until stable. Stability is monotone in the step
 * size on these problems, so this finds what a scan of the whole grid would, in a few runs.
 *
 * ```ts
 * const tasks = [1, 2, 3].map(s => meta.regressionFamily().sample(s));
 * const { lr } = meta.largestStableLr(tasks, 60);
 * ```
 */
export function largestStableLr(tasks: readonly MetaTask[], steps: number): StableLrSearch {
  const grid: StableLrSearch['grid'] = [];
  const stableAt = (i: number) => {
    const lr = GRID[i];
    const ok = tasks.every(task => {
      const l0 = tf.tidy(() => task.loss(task.params).dataSync()[0]);
      return isStable(gdLosses(task, lr, steps, l0), steps);
    });
    grid.push({ lr, stable: ok });
    return ok;
  };
  let i = START;
  if (stableAt(i)) {
    while (i + 1 < GRID.length && stableAt(i + 1)) i++;
  } else {
    do i--;
    while (i >= 0 && !stableAt(i));
  }
  if (i < 0) {
    throw new TeleportError(
      `gradient descent is unstable on these tasks at every step size from ${GRID[0]} to ${GRID[GRID.length - 1]}: give baseLr a number`,
      'not-finite',
    );
  }
  return { lr: GRID[i], grid, tasks: tasks.length, steps };
}

/** How `baseLr: 'auto'` was chosen: half of GD's largest stable step size on training tasks. */
export interface BaseLrChoice {
  /** η₀ = largestStableLr / 2 (3 significant digits). */
  baseLr: number;
  largestStableLr: number;
  /** The step sizes tried and whether GD was stable at each. */
  grid: StableLrSearch['grid'];
  tasks: number;
  steps: number;
}
