import { glDataBatchChain, glDataBatchObjective } from '../objectives/gl_data_batch.js';
import { ascendInChart } from './chart_ascent.js';
import { allSketch, sketchBases } from './sketch_ascent.js';
import { ascend } from './tensor_ascent.js';
import type { Solver } from './types.js';

const NAME = 'gl-data batch-space ascent';

/**
 * For gl-data teleports on the plain gradient norm: the same search as `sketched low-rank ascent`
 * (the default low-rank element) or `chart ascent` (`glDataRank: 'dense'`), but every evaluation
 * of ‖∇L(g·w)‖² and its θ-gradient is the batch-space closed form (objectives/gl_data_batch.ts: n×h and
 * n×n matrices, first-order autodiff) instead of nested autodiff through the whole network. Declines
 * (the generic solvers then run) wherever that form is not exact; where it does not match the real
 * objective at the current weights, the same search runs on the generic objective. The guard still measures the result with the generic objective.
 *
 * ```ts
 * tp.solverFor(problem).name; // 'gl-data batch-space ascent' for a default gl-data teleport of an MLP
 * ```
 */
export const glDataBatchAscent: Solver = {
  name: NAME,
  prepare(problem) {
    const c = problem.context;
    // The finite-difference route is the user's explicit choice.
    if (c == null || c.traits == null || problem.randomStart || c.hessianVector === 'difference') return null;
    if (c.actions.length === 0 || c.actions.some(a => a.batchSpace == null)) return null;
    // The dense element moves in the chart G·exp(T) as its own solver does; the low-rank one sketches first.
    const chart = c.actions.every(a => a.glChart === true);
    if (!chart && c.actions.some(a => a.glChart === true)) return null;
    if (!chart && !allSketch(c.actions)) return null;
    // Structure only here (no tensors: `solverFor` may be asked without solving); the form is built in `solve`.
    if (glDataBatchChain(c, c.traits) == null) return null;
    // When the form fails its check at θ = 0, the generic objective runs the same search (and the name says so).
    let name = NAME;
    return {
      get name() {
        return name;
      },
      exact: false,
      solve: opts => {
        const fast = glDataBatchObjective(c, c.traits, c.gradNormSqAtW);
        if (fast == null) name = chart ? 'chart ascent' : 'sketched low-rank ascent';
        const objective = fast?.value ?? problem.objective;
        try {
          if (chart) return ascendInChart(objective, problem.init, opts);
          sketchBases({ ...problem, objective });
          return ascend(objective, problem.init, opts);
        } finally {
          fast?.dispose();
        }
      },
    };
  },
};
