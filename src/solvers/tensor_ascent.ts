import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { guardedAscent, solverResult, withStepRule, type AscentSpace, type Evaluation } from './step_rule.js';
import type { Solver, SolverOptions, SolverResult } from './types.js';

interface TensorEvaluation extends Evaluation<Tensor[]> {
  grads: Tensor[];
}

/**
 * A search space of θ as tensors, from a function giving the objective and its θ-gradient at a point:
 * one call and one two-number download (value, ‖∇θ‖²) per evaluation. Shared by the autodiff ascent and
 * the finite-difference Hessian-vector ascent (hvp_ascent.ts), which differ only in how they get ∇θ.
 */
export function gradientSpace(valueAndGrads: (point: Tensor[]) => { value: Tensor; grads: Tensor[] }): AscentSpace<Tensor[]> {
  return {
    evaluate(point) {
      const { grads, both } = tf.tidy(() => {
        const r = valueAndGrads(point);
        const sq = tf.addN([tf.scalar(0), ...r.grads.map(g => tf.sum(tf.square(g)))]);
        const both = tf.stack([r.value, sq]);
        r.value.dispose(); // it may be kept (tf.keep) by the caller's function, so tidy alone would not free it
        return { grads: r.grads, both };
      });
      const [value, gradNormSq] = both.dataSync();
      both.dispose();
      return { point, value, gradNormSq, grads } as TensorEvaluation;
    },
    move(from, scale) {
      const { point, grads } = from as TensorEvaluation;
      return tf.tidy(() => point.map((t, i) => tf.add(t, tf.mul(scale, grads[i]))));
    },
    release(e, keepPoint) {
      tf.dispose((e as TensorEvaluation).grads);
      if (!keepPoint) tf.dispose(e.point);
    },
  };
}

/** θ as tensors; each evaluation is one `tf.valueAndGrads`. */
function tensorSpace(objective: (thetas: Tensor[]) => Scalar): AscentSpace<Tensor[]> {
  return gradientSpace(point => tf.valueAndGrads((...ts: Tensor[]) => objective(ts))(point));
}

/**
 * Guarded gradient ascent (or descent) on group parameters θ of a differentiable objective, with the
 * shared step rule ({@link guardedAscent}): the best θ seen is returned, kept (the caller disposes).
 * `stepRule` 'auto' (or unset) means 'fixed' here.
 */
export function ascend(objective: (thetas: Tensor[]) => Scalar, init: readonly Tensor[], opts: SolverOptions, randomStart = false): SolverResult {
  const clone = (ts: readonly Tensor[]) => tf.tidy(() => ts.map(t => t.clone()));
  const identity = randomStart ? tf.tidy(() => init.map(t => tf.zerosLike(t))) : null;
  const settings = withStepRule(opts, 'fixed');
  const r = guardedAscent(tensorSpace(objective), clone(init), identity, settings);
  return solverResult(r, r.best);
}

/** The general solver: autodiff on the objective in θ (nested autodiff on the evaluate route). */
export const tensorAscent: Solver = {
  name: 'ascent',
  prepare: problem => ({ name: 'ascent', exact: false, solve: opts => ascend(problem.objective, problem.init, opts, problem.randomStart) }),
};
