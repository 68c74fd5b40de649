import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { rememberExplicitGlElement, useGlChart } from '../groups/gl.js';
import { expmPair } from '../linalg/expm.js';
import { taylorDegreeFor } from '../linalg/expm_options.js';
import { guardedAscent, solverResult, withStepRule, type AscentSpace, type Evaluation } from './step_rule.js';
import { gradientSpace } from './tensor_ascent.js';
import type { Solver, SolverOptions, SolverResult } from './types.js';

/**
 * A point of the chart ascent: per site the element G reached and G⁻¹ (products of exact steps), the
 * sum of the steps taken (θ ≈ log G to first order: what the solver reports), and a zero tensor
 * registered as the chart coordinate T at G (see `useGlChart`). All owned by the point.
 */
interface ChartPoint {
  g: Tensor2D[];
  gInv: Tensor2D[];
  theta: Tensor[];
  coords: Tensor[];
}

interface ChartEvaluation extends Evaluation<ChartPoint> {
  grads: Tensor[];
}

function chartPoint(g: Tensor2D[], gInv: Tensor2D[], theta: Tensor[]): ChartPoint {
  const coords = g.map(x => tf.zerosLike(x));
  coords.forEach((t, k) => useGlChart(t, { g: g[k], gInv: gInv[k] }));
  return { g, gInv, theta, coords };
}

const disposePoint = (p: ChartPoint) => tf.dispose([...p.g, ...p.gInv, ...p.theta, ...p.coords]);

function chartSpace(objective: (thetas: Tensor[]) => Scalar): AscentSpace<ChartPoint> {
  // The objective and its gradient at the chart coordinates, as the θ-ascent evaluates at θ.
  const atCoords = gradientSpace(coords => tf.valueAndGrads((...ts: Tensor[]) => objective(ts))(coords));
  return {
    evaluate(point) {
      const { value, gradNormSq, grads } = atCoords.evaluate(point.coords) as Evaluation<Tensor[]> & { grads: Tensor[] };
      return { point, value, gradNormSq, grads } as ChartEvaluation;
    },
    // G ← G·exp(scale·∇T), G⁻¹ ← exp(−scale·∇T)·G⁻¹: one series per site and step, forward only.
    move(from, scale) {
      const { point, grads, gradNormSq } = from as ChartEvaluation;
      // Every site's step is at most |scale|·‖∇T‖ long (Frobenius): short steps need a lower degree.
      const bound = Math.abs(scale) * Math.sqrt(gradNormSq);
      const series = bound <= 0.5 ? { degree: taylorDegreeFor(bound) } : {};
      const moved = tf.tidy(() => {
        const steps = grads.map(x => tf.mul(scale, x) as Tensor2D);
        const pairs = steps.map(st => expmPair(st, series));
        return {
          g: point.g.map((x, k) => tf.matMul(x, pairs[k].pos)),
          gInv: point.gInv.map((x, k) => tf.matMul(pairs[k].neg, x)),
          theta: point.theta.map((x, k) => tf.add(x, steps[k])),
        };
      });
      return chartPoint(moved.g as Tensor2D[], moved.gInv as Tensor2D[], moved.theta);
    },
    release(e, keepPoint) {
      tf.dispose((e as ChartEvaluation).grads);
      if (!keepPoint) disposePoint(e.point);
    },
  };
}

/**
 * Guarded ascent ({@link guardedAscent}) for actions whose element comes from `glElement` (GL,
 * gl-data, gl-pinv), in the chart G·exp(T) at the current element G: each evaluation is the
 * objective and its gradient at T = 0, where G·(I + T) and (I − T)·G⁻¹ have exp's value and first
 * derivative, so autodiff runs through two products per site instead of the series exp(T), exp(−T)
 * (and its second-order pass on the evaluate route); each accepted or tried step multiplies G by the
 * exact exp(scale·∇T) (one series per site, forward only). The first step is the plain θ-ascent's
 * (the chart at the identity is θ itself); later steps follow the chart at the current element, as
 * the Gram solver's do. The result θ is the sum of the steps (log G to first order), recorded with
 * the exact G and G⁻¹ so that acting with it applies G (`rememberExplicitGlElement`); a guard that
 * halves θ gets exp(θ/2), a valid element of its own. `stepRule` 'auto' (or unset) means 'fixed'.
 *
 * ```ts
 * const r = ascendInChart(objective, init, settings); // init: zero h×h θ per site
 * ```
 */
export function ascendInChart(objective: (thetas: Tensor[]) => Scalar, init: readonly Tensor[], opts: SolverOptions): SolverResult {
  const settings = withStepRule(opts, 'fixed');
  const start = chartPoint(
    init.map(t => tf.eye(t.shape[0]) as Tensor2D),
    init.map(t => tf.eye(t.shape[0]) as Tensor2D),
    init.map(t => t.clone()),
  );
  const r = guardedAscent(chartSpace(objective), start, null, settings);
  const best = r.best;
  best.theta.forEach((theta, k) =>
    rememberExplicitGlElement(theta, { g: Float32Array.from(best.g[k].dataSync()), gInv: Float32Array.from(best.gInv[k].dataSync()) }),
  );
  tf.dispose([...best.g, ...best.gInv, ...best.coords]);
  return solverResult(r, best.theta);
}

const NAME = 'chart ascent';

/**
 * Picked for every teleport whose actions all build their element with `glElement` (GL, gl-data,
 * gl-pinv) and start at the identity, when no cheaper solver applies (the Gram solver for GL's
 * plain gradient norm, the finite-difference one when asked for).
 *
 * ```ts
 * solverFor(problem).name; // 'chart ascent' for a gl-data teleport
 * ```
 */
export const chartAscent: Solver = {
  name: NAME,
  prepare(problem) {
    const actions = problem.context?.actions ?? [];
    // Every action builds its element with `glElement` (`SiteAction.glChart`): θ may move in the chart G·exp(T).
    if (problem.randomStart || actions.length === 0 || !actions.every(a => a.glChart === true)) return null;
    return { name: NAME, exact: false, solve: opts => ascendInChart(problem.objective, problem.init, opts) };
  },
};
