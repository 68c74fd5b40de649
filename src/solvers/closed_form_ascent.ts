import * as tf from '@tensorflow/tfjs-core';
import { rememberRescaleTheta } from '../groups/rescale.js';
import type { ClosedForm } from '../objectives/types.js';
import { guardedAscent, solverResult, withStepRule, type AscentSpace, type Evaluation } from './step_rule.js';
import type { Solver, SolverOptions, SolverResult } from './types.js';

interface VectorEvaluation extends Evaluation<Float64Array[]> {
  grads: Float64Array[];
}

/** θ as float64 vectors on the CPU; nothing to free. */
function vectorSpace(form: ClosedForm): AscentSpace<Float64Array[]> {
  return {
    evaluate(point) {
      const { value, grads } = form.evaluate(point);
      let sq = 0;
      for (const g of grads) for (const x of g) sq += x * x;
      return { point, value, gradNormSq: sq, grads } as VectorEvaluation;
    },
    move(from, scale) {
      const { point, grads } = from as VectorEvaluation;
      return point.map((v, i) => v.map((x, j) => x + scale * grads[i][j]));
    },
    release() {},
  };
}

/**
 * The same guarded ascent as {@link ascend}, on an objective's closed form (rescale: vectors of
 * length h instead of weight-sized tensors). Starts at the identity (θ = 0). `stepRule` 'auto' (or
 * unset) means 'budget' here: the closed form's logarithm is convex along every step, so few long
 * steps reach what ten short ones do.
 *
 * ```ts
 * const r = ascendClosedForm({ widths: [2], evaluate: s => ({ value: Math.exp(s[0][0]), grads: [Float64Array.of(Math.exp(s[0][0]), 0)] }) }, settings);
 * ```
 */
export function ascendClosedForm(form: ClosedForm, opts: SolverOptions): SolverResult {
  const settings = withStepRule(opts, 'budget');
  const r = guardedAscent(
    vectorSpace(form),
    form.widths.map(h => new Float64Array(h)),
    null,
    settings,
  );
  const thetas = r.best.map(v => {
    const values = Float32Array.from(v);
    const theta = tf.keep(tf.tensor1d(values));
    // Rescale (the closed form's group) then forms exp(±θ) from these numbers, not with kernels.
    rememberRescaleTheta(theta, values);
    return theta;
  });
  return solverResult(r, thetas);
}

const NAME = 'closed-form ascent';

/**
 * Picked whenever the objective has a closed form in this context and the search starts at the
 * identity. Its final value is the closed form's own, exact at θ.
 */
export const closedFormAscent: Solver = {
  name: NAME,
  prepare(problem) {
    const form = problem.closedForm;
    if (form == null || problem.randomStart) return null;
    return { name: NAME, exact: true, solve: opts => ascendClosedForm(form, opts) };
  },
};
