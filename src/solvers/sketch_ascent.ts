import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { ascend } from './tensor_ascent.js';
import type { Solver, SolveProblem } from './types.js';
import type { SiteAction } from '../groups/types.js';

const NAME = 'sketched low-rank ascent';

/** Whether every action can pick its low-rank basis (`SiteAction.sketch`), and there is one. */
export function allSketch(actions: readonly SiteAction[]): boolean {
  return actions.length > 0 && actions.every(a => a.sketch != null);
}

/**
 * Lets every action with a `sketch` pick its basis from the objective's gradient at its probe θ (one
 * nested-autodiff evaluation); a no-op when none has one, or when the sketch is not finite (the
 * random bases stay). Any solver may call it before its ascent.
 *
 * ```ts
 * sketchBases(problem); // then ascend from problem.init
 * ```
 */
export function sketchBases(problem: SolveProblem): void {
  const actions = problem.context?.actions ?? [];
  if (!allSketch(actions)) return;
  const probes = actions.map(a => a.sketch!.probe());
  let grads: Tensor[] = [];
  try {
    grads = tf.tidy(() => tf.grads((...ts: Tensor[]) => problem.objective(ts))(probes));
    // Outside any tidy: the bases the actions make must outlive this call.
    if (grads.every(g => tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0] === 1))) actions.forEach((a, k) => a.sketch!.choose(grads[k]));
  } finally {
    tf.dispose([...probes, ...grads]);
  }
}

/**
 * For low-rank actions that can pick their basis (`SiteAction.sketch`: gl-data with `glDataRank`):
 * one gradient evaluation at each action's probe θ, from which each picks its basis (the main
 * directions of the dense element's gradient), then the plain θ-ascent ({@link ascend}) in that basis.
 * One evaluation more than the ascent alone; a non-finite sketch keeps the random bases.
 *
 * ```ts
 * solverFor(problem).name; // 'sketched low-rank ascent' for a gl-data teleport with glDataRank 16
 * ```
 */
export const sketchAscent: Solver = {
  name: NAME,
  prepare(problem) {
    if (problem.randomStart || !allSketch(problem.context?.actions ?? [])) return null;
    return {
      name: NAME,
      exact: false,
      solve: opts => {
        sketchBases(problem);
        return ascend(problem.objective, problem.init, opts);
      },
    };
  },
};
