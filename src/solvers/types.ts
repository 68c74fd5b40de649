import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { ClosedForm } from '../objectives/types.js';
import type { GlGramForm } from '../objectives/gl_gram.js';
import type { GradNormStructure } from './hvp_ascent.js';

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
   * A (preconditioned) gradient norm on the evaluate route, in pieces: lets a solver get ∇θ from a
   * finite-difference Hessian-vector product instead of nested autodiff. Null when not applicable.
   */
  gradNorm?: GradNormStructure | null;
  /**
   * The plain gradient norm of GL on linear pairs on the transport route, reduced to Gram matrices
   * (objectives/gl_gram.ts). Null when not applicable (other groups, preconditioned norms, layers
   * that are not plain linear dense pairs).
   */
  glGram?: GlGramForm | null;
  /**
   * Every action builds its element with `glElement` (GL, gl-data, gl-pinv; `SiteAction.glChart`):
   * θ may be moved in the chart G·exp(T) at the current element (solvers/chart_ascent.ts).
   */
  glChart?: boolean;
}

/** A way to find θ. Solvers are registered in solvers/registry.ts and picked by `applies`. */
export interface Solver {
  readonly name: string;
  /** Whether this solver takes the problem (the first registered one that does solves it). */
  applies(problem: SolveProblem): boolean;
  /** Finds θ; never returns a point worse than the identity. */
  solve(problem: SolveProblem, options: SolverOptions): SolverResult;
}
