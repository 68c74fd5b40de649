import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Preconditioner } from '../objectives/types.js';
import { guardedAscent, solverResult, withStepRule, type AscentSpace } from './step_rule.js';
import { gradientSpace } from './tensor_ascent.js';
import { sketchBases } from './sketch_ascent.js';
import type { Solver, SolverOptions, SolverResult } from './types.js';

/**
 * A (preconditioned) gradient-norm objective on the evaluate route, in the pieces the
 * finite-difference solver needs: F(θ) = Σ_{i ∈ touched} Σ A_i ∘ (∇_i L(w(θ)))².
 */
export interface GradNormStructure {
  /** w(θ): the parameter list after acting with θ (differentiable in θ to first order). */
  act(thetas: readonly Tensor[]): Tensor[];
  /** ∇L at a parameter list for the `touched` indices (null elsewhere), by first-order autodiff. */
  gradient(params: readonly Tensor[]): Array<Tensor | null>;
  /** Parameter indices the actions change (the norm runs over these). */
  touched: readonly number[];
  /** The diagonal preconditioner A (null: the plain norm). */
  weights: Preconditioner | null;
}

/**
 * Relative size of the finite-difference perturbation: w + ε·u with ε·‖u‖ = 2⁻¹⁴·(‖w‖ + 1). Measured
 * on a gl-data MLP with leaky ReLU (test/solvers/hvp.test.ts): the θ-gradient agrees with nested autodiff to
 * 2–6e-4 relative at 2⁻¹³…2⁻¹⁶, to 2–6e-3 at 2⁻¹⁸ (float32 cancellation), while at 2⁻¹⁰ the difference
 * step crossed a kink of the activation at 2 of 6 points of an ascent path (errors of 210–280 %):
 * across a kink the difference is a secant, not the Hessian. Smaller steps make that rarer, never
 * impossible; the step rule still judges every step by the objective itself.
 * At the benchmark's sizes it is far off: on 784-128-128-10 leaky ReLU with a batch of 100 (wasm,
 * 2026-12-01) the θ-gradient had relative error 3.5–4.3 (cosine 0.35–0.53 with nested autodiff) at
 * θ = 0 and at |θ| ≤ 0.01; on 784-16-16-10 with 17 rows 3e-3 at θ = 0 but 1.0 at |θ| ≤ 0.01. Nor was
 * it faster: one ascent step cost 8.5 training steps against 7.1 for nested autodiff (same run, same
 * number of steps). Hence `hessianVector: 'autodiff'` is the default; this route is kept, tested in
 * lockstep with nested autodiff on a small model, for smooth objectives and for measurements.
 */
const REL_STEP = 2 ** -14;

/**
 * F(θ) and ∇θF without nested autodiff. With w' = w(θ), g = ∇L(w') and u = A∘g (touched entries):
 * F = Σ g·u and ∇_{w'}F = 2·H(w')·u, where the Hessian-vector product is a forward difference of two
 * gradients, H·u ≈ (∇L(w' + ε·u) − ∇L(w'))/ε; then ∇θF = J_θᵀ·(2·H·u), one first-order backward pass
 * through the action. Two gradient passes and one pass through the action, against a nested
 * second-order pass for {@link ascend}. Only the value and the gradients survive (kept: the caller
 * disposes them, also inside a tidy).
 *
 * ```ts
 * const { value, grads } = evaluateGradNorm(structure, thetas); // F(θ) and ∇θF, caller disposes
 * ```
 */
export function evaluateGradNorm(structure: GradNormStructure, thetas: readonly Tensor[]): { value: Tensor; grads: Tensor[] } {
  const { touched, weights } = structure;
  let value: Tensor | null = null;
  const norm = (ts: Tensor[]) => tf.sqrt(tf.addN([tf.scalar(0), ...ts.map(t => tf.sum(tf.square(t)))]));
  const grads = tf.tidy(() =>
    // One pass through the action: w(θ) is formed on the tape, its values are copied into constants
    // (no path back to θ), and everything else is first order on those constants.
    tf.grads((...ts: Tensor[]) => {
      const moved = structure.act(ts);
      const w = moved.map((t, i) => (touched.includes(i) ? tf.tensor(t.dataSync(), t.shape, t.dtype) : t));
      const g = structure.gradient(w);
      const u = touched.map(i => (weights?.[i] != null ? tf.mul(weights[i]!, g[i]!) : g[i]!));
      value = tf.keep(tf.addN([tf.scalar(0), ...touched.map((i, k) => tf.sum(tf.mul(g[i]!, u[k])))]));
      // ε as a tensor: no download. A zero gradient gives u = 0 and ε finite (the 1e-30 floor).
      const eps = tf.div(tf.mul(REL_STEP, tf.add(norm(touched.map(i => w[i])), 1)), tf.add(norm(u), 1e-30));
      const shifted = w.slice();
      touched.forEach((i, k) => (shifted[i] = tf.add(w[i], tf.mul(eps, u[k]))));
      const g2 = structure.gradient(shifted);
      const cotangent = touched.map(i => tf.mul(2, tf.div(tf.sub(g2[i]!, g[i]!), eps)));
      return tf.addN([tf.scalar(0), ...touched.map((i, k) => tf.sum(tf.mul(moved[i], cotangent[k])))]);
    })(thetas as Tensor[]),
  );
  return { value: value!, grads };
}

/** θ as tensors; one {@link evaluateGradNorm} and one two-number download per evaluation. */
function hvpSpace(structure: GradNormStructure): AscentSpace<Tensor[]> {
  return gradientSpace(point => evaluateGradNorm(structure, point));
}

/**
 * The guarded ascent ({@link guardedAscent}) on a gradient-norm objective with ∇θ by a
 * finite-difference Hessian-vector product ({@link evaluateGradNorm}). Starts at `init` (borrowed);
 * `stepRule` 'auto' (or unset) means 'fixed'.
 *
 * ```ts
 * const r = ascendGradNorm({ act, gradient, touched: [0, 1, 2], weights: null }, init, settings);
 * ```
 */
export function ascendGradNorm(structure: GradNormStructure, init: readonly Tensor[], opts: SolverOptions): SolverResult {
  const settings = withStepRule(opts, 'fixed');
  const start = tf.tidy(() => init.map(t => t.clone()));
  const r = guardedAscent(hvpSpace(structure), start, null, settings);
  return solverResult(r, r.best);
}

const NAME = 'finite-difference Hessian-vector ascent';

/**
 * Picked for gradient-norm objectives (family 'gradientNorm', preconditioned or not) on the evaluate
 * route (data-dependent GL) when the teleport's `hessianVector` is 'difference' (not the default) and
 * the search starts at the identity: `prepare` builds the {@link GradNormStructure} from the context.
 *
 * ```ts
 * tp.solverFor(problem).name === tp.hvpAscent.name; // for a gl-data teleport with hessianVector: 'difference'
 * ```
 */
export const hvpAscent: Solver = {
  name: NAME,
  prepare(problem) {
    const c = problem.context;
    if (c == null || problem.randomStart || c.route !== 'evaluate' || c.lossGradient == null) return null;
    if (c.traits.family !== 'gradientNorm' || c.hessianVector !== 'difference') return null;
    const structure: GradNormStructure = { act: c.act, gradient: c.lossGradient, touched: c.touched, weights: c.preconditioner };
    return {
      name: NAME,
      exact: false,
      solve: opts => {
        sketchBases(problem); // low-rank gl-data: the basis first (one autodiff evaluation), as the default route does
        return ascendGradNorm(structure, problem.init, opts);
      },
    };
  },
};
