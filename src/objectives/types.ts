import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction, SlotKind } from '../groups/types.js';

/**
 * A diagonal preconditioner, one tensor per parameter (null: weight 1). For AdaGrad it is
 * (ε + accumulator)^(-1/2), for RMSProp (ε + ms)^(-1/2), for Adam (ε + √v̂)⁻¹.
 */
export type Preconditioner = ReadonlyArray<Tensor | null>;

/** How the sharpness objective estimates φ: see `sharpnessEstimator` in the teleport options. */
export type SharpnessEstimator = 'auto' | 'trace' | 'directions';

/**
 * Teleport options that objectives read (`ctx.options`): part of the teleport options. Each is
 * declared with its objective ({@link Objective.options}: default and check), and typed here; an
 * objective of your own can add its field by declaration merging
 * (`declare module 'tfjs-teleport' { interface ObjectiveSettings { myOption?: number } }`).
 */
export interface ObjectiveSettings {
  /**
   * How `objective: 'sharpness'` estimates φ. 'trace': L(w) + mean(t²)/(2n)·tr H(g·w) with
   * `sharpnessProbes` Hutchinson probes taken once at w (exact linear groups: rescale, GL); 'directions':
   * eq. 5.1 itself, |T|·|D| forward and backward passes per ascent step; 'auto' (default): 'trace' where
   * it applies, else 'directions'.
   */
  sharpnessEstimator?: SharpnessEstimator;
  /** Hutchinson probes of the 'trace' sharpness estimator, and as many held out to confirm its move (one gradient pass each, per teleport). Default 4. */
  sharpnessProbes?: number;
  /**
   * Steps of the inner optimizer `objective: 'lookahead'` looks ahead: 1 (default) uses the second-order
   * model of one step (one Hessian-vector product per evaluation); k > 1 unrolls k steps.
   */
  lookaheadSteps?: number;
}

/** Held-out teleport data as losses: on all of it, and on each of its parts (up to 16 rows, one row each). */
export interface HeldOut {
  /** The loss on all held-out rows, as a function of the parameters. */
  loss: (params: readonly Tensor[]) => Scalar;
  /** The same loss on each part of the held-out rows (for a standard error). */
  parts: ReadonlyArray<(params: readonly Tensor[]) => Scalar>;
}

/** The update rules of tfjs's built-in optimizers (tfjs-core src/optimizers/*), as the lookahead objective unrolls them. */
export type InnerRule = 'sgd' | 'momentum' | 'adagrad' | 'rmsprop' | 'adam';

/**
 * The optimizer that takes the steps after a teleport, as plain values: which update rule, its learning
 * rate and constants, and its state per parameter. Built by `innerStepOf` (optimizers/inner_state.ts,
 * which knows where each tfjs optimizer keeps its slots); read, never changed, by objectives that
 * declare `needsInnerStep`. Tensors are borrowed from the optimizer or owned by this value
 * ({@link InnerStep.dispose} frees the owned ones).
 *
 * State names by rule: momentum `velocity`; adagrad `accumulator`; rmsprop `meanSquare`, `moment` and
 * (centered) `meanGrad`; adam `m`, `v`. Constants: momentum `momentum`, `nesterov` (0/1); adam `beta1`,
 * `beta2`, `epsilon`, `accBeta1`, `accBeta2` (the running powers before the next step); rmsprop
 * `decay`, `momentum`, `epsilon`, `centered` (0/1); adagrad `epsilon`.
 */
export interface InnerStep {
  rule: InnerRule;
  learningRate: number;
  constants: Readonly<Record<string, number>>;
  /** State tensors per parameter (the teleport's parameter order), by name, with how each moves along an orbit. */
  state: ReadonlyArray<{ name: string; kind: SlotKind; values: readonly Tensor[] }>;
  /**
   * Whether the state moves with the weights when they teleport: true inside a teleporting optimizer
   * that carries it ('transform' on an exact group); false when it stays as it is ('keep', a one-off
   * teleport, which never changes the optimizer). A 'reset' optimizer gives the fresh state here.
   */
  movesWithWeights: boolean;
  /** Frees the tensors this value made (zeros for slots the optimizer has not created yet). */
  dispose(): void;
}

/** A teleport option an objective reads: its default and its check (see {@link Objective.options}). */
export interface ObjectiveOptionSpec {
  default?: unknown;
  /** Throws a 'bad-option' TeleportError naming the fix (see `optionChecks`); returns the value to use. */
  check?: (value: unknown) => unknown;
}

/**
 * What an objective can draw on. Tensors are borrowed. `gradientAt` hides the route: for exact
 * groups it transports the step's gradient (∇L(g·w) = J⁻ᵀ∇L(w), no pass over data); otherwise it
 * differentiates the batch loss at g·w (so second-order autodiff flows back into θ).
 */
export interface ObjectiveContext {
  actions: readonly SiteAction[];
  /** Current parameter values (w), in the order the actions index. */
  params: readonly Tensor[];
  /** Parameter indices some action changes. */
  touched: readonly number[];
  route: 'transport' | 'evaluate';
  /** ∇L at w when known (the optimizer step's gradient or the batch gradient). */
  gradient: ReadonlyArray<Tensor | null> | null;
  /** The loss on the teleport batch as a pure function of the parameters, when a batch is given. */
  loss: ((params: readonly Tensor[]) => Scalar) | null;
  /** The inner optimizer's diagonal preconditioner, when the objective asked for one. */
  preconditioner: Preconditioner | null;
  /**
   * The same batch loss with tensors added to layers' pre-activations (layer index → n×units tensor),
   * when the teleport acts on a model: its gradient in a shift at zero is ∂L/∂Z of that layer.
   */
  shiftedLoss?: ((params: readonly Tensor[], shift: ReadonlyMap<number, Tensor>) => Scalar) | null;
  /**
   * The teleport's seeded random stream (uniform in [0, 1)), for objectives with random parts
   * (curves, directions): draw them once in `value(ctx)` so the objective is a fixed function of θ.
   */
  random?: () => number;
  /** The teleport's objective options (estimators and their sizes). */
  options?: ObjectiveSettings;
  /** The optimizer that takes the next steps, for objectives that declare `needsInnerStep`. */
  innerStep?: InnerStep | null;
  /**
   * The loss on held-out teleport data and on its parts (pure functions of the parameters), for
   * objectives that declare `heldOut`: their `confirm` measures the move there, never on the data the
   * search used; the parts give the noise of that measurement.
   */
  heldOut?: HeldOut | null;
  /** ∇L at g(θ)·w on the touched parameters (null elsewhere). Differentiable in θ. */
  gradientAt(thetas: readonly Tensor[]): Array<Tensor | null>;
}

/**
 * An objective in closed form on float64 vectors (one per action), for diagonal actions: the
 * solver then runs without touching weight-sized tensors.
 */
export interface ClosedForm {
  /** Length of each action's θ vector. */
  widths: number[];
  /** The objective at the float64 vectors `s` (one per action) and its gradient in each. */
  evaluate(s: readonly Float64Array[]): { value: number; grads: Float64Array[] };
  /** The value alone, when it is cheaper than {@link ClosedForm.evaluate} (measurements that never step). */
  value?(s: readonly Float64Array[]): number;
}

/** See {@link Objective.family}. */
export type ObjectiveFamily = 'gradientNorm' | 'curvature' | 'sharpness' | 'other';

/** What solvers may know of an objective: its declared traits, never its identity. */
export type ObjectiveTraits = Pick<Objective, 'name' | 'needs' | 'usesPreconditioner' | 'family' | 'stepRule'>;

/**
 * What a teleport optimizes over the group parameters θ. Register new entries in
 * objectives/registry.ts.
 */
export interface Objective {
  readonly name: string;
  /** One line for errors and docs. */
  readonly description: string;
  /** 'gradient': works from ∇L (any route); 'loss': needs the loss on a teleport batch. */
  readonly needs: 'gradient' | 'loss';
  /** Whether it needs every action's Lie-algebra action (`SiteAction.algebra`: rescale, GL), checked at construction. */
  readonly needsAlgebra?: boolean;
  /**
   * Whether it reads the inner optimizer's preconditioner: a teleporting optimizer then builds one from
   * its inner optimizer's state and hands it over as `ctx.preconditioner` (null for optimizers without one).
   */
  readonly usesPreconditioner?: boolean;
  /** Whether it reads the inner optimizer's update rule and state ({@link ObjectiveContext.innerStep}). */
  readonly needsInnerStep?: boolean;
  /** Whether the teleport batch is split: half for the search, half held out for `confirm`. */
  readonly heldOut?: boolean;
  /**
   * What kind of quantity it is, for solvers and measurements that specialise: 'gradientNorm' means the
   * value is Σ over the touched parameters of A∘(∇L)², with A the preconditioner when
   * `usesPreconditioner` (else 1), so solvers may use the Gram form (plain norm, GL) or a
   * Hessian-vector product of two gradients, and the report's ‖∇L‖² is the objective itself.
   * Default 'other': only the general solvers apply.
   */
  readonly family?: ObjectiveFamily;
  /**
   * The step rule `stepRule: 'auto'` means for this objective on each route, from the identity (a random
   * start always gets 'fixed'). Default 'fixed': long steps jump over interior optima.
   */
  readonly stepRule?: Partial<Record<'transport' | 'evaluate', 'fixed' | 'budget'>>;
  /**
   * Ends an ascent whose accepted step improved the objective by less than this fraction of |objective
   * at the identity| (the solvers' `stallTolerance` option). Default 0: every step is taken.
   */
  readonly stallTolerance?: number;
  /**
   * The teleport options it reads, by name (they arrive in `ctx.options`): declared here once, they
   * are checked, defaulted, saved by getConfig and accepted by every teleport like the built-in
   * options. Type them in {@link ObjectiveSettings}.
   */
  readonly options?: Readonly<Record<string, ObjectiveOptionSpec>>;
  /** The objective as a differentiable function of θ. */
  value(ctx: ObjectiveContext): (thetas: readonly Tensor[]) => Scalar;
  /** A closed form for the same value, when one exists in this context (else null). */
  closedForm?(ctx: ObjectiveContext): ClosedForm | null;
  /**
   * For objectives that optimize an estimate (the 'trace' sharpness): the same estimate from fresh,
   * held-out randomness at the identity and at θ, and the standard error of its change. The ascent can
   * exploit its own estimate's noise; the engine rejects an element ('no-improvement') unless the
   * held-out change goes the asked way by more than twice its standard error.
   * Null when the objective is exact in this context.
   */
  confirm?(ctx: ObjectiveContext): ((thetas: readonly Tensor[]) => { before: number; after: number; stderr: number }) | null;
}
