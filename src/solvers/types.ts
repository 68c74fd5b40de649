import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { ClosedForm, ObjectiveContext, ObjectiveTraits } from '../objectives/types.js';

/** Settings of the search on the group parameters θ. */
export interface SolverOptions {
  /** Ascent steps on θ. */
  steps: number;
  /** Step size. */
  lr: number;
  /** Maximize (Algorithm 1) or minimize the objective. */
  direction: 'maximize' | 'minimize';
  /** Step along ∇θ/‖∇θ‖ (lr is then a distance in group-parameter space) instead of ∇θ. */
  normalize: boolean;
  /** Backtrack (halve the step) whenever a step does not improve the objective. */
  lineSearch: boolean;
  /** When maximizing: never let objective / objectiveBefore exceed this ratio (steps that would are halved). */
  maxGrowth: number;
  /** Halvings allowed per step before the ascent stops early. */
  maxBacktracks: number;
  /**
   * How long each step is (only with `normalize`; plain gradient steps are always 'fixed'):
   * - 'fixed': every step has length lr (`steps` steps, a path of length up to lr·steps);
   * - 'budget': every step tries the whole distance left of lr·steps; a step that breaks the growth
   *   cap is shortened to where a parabola fitted to the log of the objective along it meets the cap
   *   (exact for a single exponential; rescale's closed form is a sum of them), other failures halve it; a shortened step that lands within 10 % of the cap ends the ascent.
   *   Same acceptance rules, far fewer evaluations (2 when the cap is not reached, about 3 when it is);
   * - 'auto' (default): in a teleport, 'budget' for the gradient-norm objectives of exact groups with
   *   a known gradient (rescale, GL: the transport route) starting at the identity, 'fixed' elsewhere
   *   (data-dependent GL, random starts, curvature and sharpness); called directly, `ascendClosedForm` takes 'budget' and `ascend` 'fixed'.
   */
  stepRule?: StepRule;
  /**
   * End the ascent after an accepted step that improves the objective by less than this fraction of
   * |objective at the identity| (a stalled search: more steps cost evaluations for little). Default 0
   * (never). Set by objectives whose evaluations are dear (the objective's `stallTolerance`).
   */
  stallTolerance?: number;
}

/** See {@link SolverOptions.stepRule}. */
export type StepRule = 'auto' | 'fixed' | 'budget';

/** What a solver found. */
export interface SolverResult {
  /** The best group parameters seen (kept: the caller disposes them). */
  thetas: Tensor[];
  /** The objective at the identity element (θ = 0), i.e. at the current weights. */
  objectiveBefore: number;
  /** The objective at `thetas`. */
  objectiveAfter: number;
  stepsTaken: number;
  backtracks: number;
  /** Set when the objective or its gradient is not finite where the search starts. */
  aborted?: string;
  /** Set when no step was taken because every step tried (lr, then halved) had a non-finite objective. */
  blewUp?: boolean;
}

/**
 * What a solver may build its own structure from: the teleport's objective context (actions, params,
 * route, gradient, loss, preconditioner; tensors borrowed), the objective's traits, and two helpers.
 */
export interface SolveContext extends ObjectiveContext {
  /** The objective's declared traits (family, preconditioner use, step rules), never its identity. */
  traits: ObjectiveTraits;
  /** How a gradient-norm objective's ∇θ is wanted on the evaluate route (see `hessianVector` in the options). */
  hessianVector: 'difference' | 'autodiff';
  /** w(θ): the parameter list after acting with θ (differentiable in θ). */
  act(thetas: readonly Tensor[]): Tensor[];
  /** ∇L at a parameter list for the touched indices (null elsewhere), by autodiff of the batch loss; null without a loss. */
  lossGradient: ((params: readonly Tensor[]) => Array<Tensor | null>) | null;
  /** ‖∇L(w)‖² over the touched parameters when the engine has measured it before the search (else null or absent). */
  gradNormSqAtW?: number | null;
}

/**
 * One search problem: the objective as a differentiable function of θ, an optional closed form on
 * float64 vectors, and where to start. θ = 0 is always the identity element.
 */
export interface SolveProblem {
  /** The objective as a differentiable function of θ (one tensor per action). */
  objective: (thetas: Tensor[]) => Scalar;
  closedForm: ClosedForm | null;
  /** Starting θ (the identity for most groups; a random element for SO(2)). Borrowed. */
  init: Tensor[];
  /** True when `init` is not the identity: the identity is then evaluated too, and kept if better. */
  randomStart: boolean;
  /**
   * The teleport the problem comes from (absent for a bare search on θ): solvers that specialise
   * (the Gram form of GL, the finite-difference Hessian-vector product, the GL chart) read it in
   * their `prepare`.
   */
  context?: SolveContext;
}

/** A solver bound to one problem, with whatever structure it built for it. */
export interface PreparedSolve {
  /** The solver's name. */
  readonly name: string;
  /** Runs the search with these settings; never returns a point worse than the identity. */
  solve(options: SolverOptions): SolverResult;
  /**
   * True when the result's `objectiveAfter` is the objective's exact value at the returned θ (a closed
   * form or the Gram form, in float64): the guard then takes it without a second evaluation there.
   */
  readonly exact: boolean;
}

/**
 * A way to find θ. Solvers are registered in solvers/registry.ts; the first whose `prepare` builds
 * something for a problem solves it.
 */
export interface Solver {
  readonly name: string;
  /** Builds this solver's structure for `problem` (a Gram form, a Hessian-vector structure, …), or declines with null. */
  prepare(problem: SolveProblem): PreparedSolve | null;
}
