import type { Tensor } from '@tensorflow/tfjs-core';
import type { Site } from '../structure/read_model.js';
import type { ActivationSpec } from '../structure/activations.js';

/**
 * How far a group action preserves the loss.
 * - `everywhere`: L(g·w, X) = L(w, X) for every input X (rescale, GL with a linear activation, SO(2) on
 *   a test function). The gradient at g·w follows from the gradient at w in closed form.
 * - `batch`: exact only on the teleport batch the action was built from (data-dependent GL).
 */
export type Exactness = 'everywhere' | 'batch';

/**
 * How an optimizer slot moves when the weights move along the orbit.
 * - `gradient`: first moments (momentum, Adam's m): transported like a gradient, J⁻ᵀ·s.
 * - `squared`: second moments (AdaGrad accumulator, RMSProp ms, Adam's v): like a squared gradient;
 *   exact only for diagonal actions (rescale).
 * - `update`: buffers of past weight updates (RMSProp's momentum): like a tangent vector, J·s.
 */
export type SlotKind = 'gradient' | 'squared' | 'update';

/**
 * One group acting at one place of a parameter list (a layer pair of a network, or a whole parameter
 * vector). Everything here is a pure function of tensors: arrays go in, new arrays come out, and
 * entries the action does not touch are passed through unchanged (same tensor object). Callers own
 * disposal (they run these inside `tf.tidy`).
 *
 * `theta` parameterizes the group element; `init` gives its starting value (the identity for
 * rescale and GL, a random angle for SO(2)).
 */
export interface SiteAction {
  /** Group name as users spell it: 'rescale', 'gl', 'gl-data', 'gl-pinv', 'so2', ... */
  readonly group: string;
  /** Where it acts, for reports and errors, e.g. "dense_1 → dense_2 (16 units)". */
  readonly where: string;
  readonly exactness: Exactness;
  /** Indices (into the parameter list) of the tensors this action changes. */
  readonly touches: readonly number[];
  /**
   * Further parameters whose gradient the action changes without changing them, which the objective
   * must see (a null-space move of one layer changes only the gradients of the layers below it).
   */
  readonly measured?: readonly number[];
  /**
   * Starting group parameters. `random` returns uniform numbers in [0, 1) from a seeded stream.
   * θ = 0 (zeros of the same shape) is always the identity element: `act(params, 0)` returns params.
   */
  init(random: () => number): Tensor;
  /** True when `init` is not the identity (a random SO(2) angle): the solver compares both. */
  readonly randomInit?: boolean;
  /** Parameters after acting with the element θ. Differentiable in θ (first order at least). */
  act(params: readonly Tensor[], theta: Tensor): Tensor[];
  /**
   * ∇L(g·w) = J_g⁻ᵀ·∇L(w) (dissertation Prop. 4.5.1). Only for `everywhere` actions, where it lets a
   * teleport run without any forward or backward pass. Differentiable in θ.
   */
  transportGradient?(grads: readonly Tensor[], theta: Tensor): Tensor[];
  /**
   * The Lie-algebra action for linear actions (rescale, GL): d/dt act(v, t·m) at t = 0, a linear map
   * of `v` (a parameter list or a tangent vector along it). Entries it does not touch come back null,
   * as do null inputs. Curves γ(t) = exp(tM)·w then have γ'(0) = dρ(M)w and γ''(0) = dρ(M)²w.
   * Absent for data-dependent actions, which are not linear in w.
   */
  algebra?(v: ReadonlyArray<Tensor | null>, m: Tensor): Array<Tensor | null>;
  /**
   * Moves optimizer slots (aligned with the parameter list; `null` where a parameter has no slot)
   * along the action. Returns undefined when that kind of slot cannot be moved exactly.
   */
  transportSlots?(kind: SlotKind, slots: ReadonlyArray<Tensor | null>, theta: Tensor): Array<Tensor | null> | undefined;
  /**
   * Set by per-unit rescaling: the site it scales. Lets the solver use the closed-form objective
   * (objectives/rescale_closed_form.ts) instead of tensor autodiff.
   */
  readonly diagonal?: Site;
  /**
   * Set by GL on a linear dense pair: the site. Lets the solver use the Gram-reduced gradient norm
   * (objectives/gl_gram.ts) instead of tensor autodiff.
   */
  readonly linearPair?: Site;
  /**
   * Set by actions that build their element g = exp(θ) (and g⁻¹) with `glElement` (GL, gl-data,
   * gl-pinv): a solver may then move θ in the chart G·exp(T) at its current element G
   * (solvers/chart_ascent.ts), whose gradient at T = 0 needs no matrix series.
   */
  readonly glChart?: boolean;
  /**
   * Set by low-rank actions whose basis a solver may pick from one gradient sample (gl-data with a
   * `glDataRank`; solvers/sketch_ascent.ts): `probe()` gives a zero θ of its own shape (the caller
   * disposes it) at which the objective's gradient is a sketch; `choose(gradient)` picks the basis
   * from it, once, before the ascent. Without it the action keeps a random basis.
   */
  readonly sketch?: {
    /** A zero θ of the probe's shape (the caller disposes it): the objective's gradient there is the sketch. */
    probe(): Tensor;
    /** Picks the basis from the gradient at the probe θ (only the first call counts). */
    choose(gradient: Tensor): void;
  };
  /**
   * Set by gl-data (eq. 4.13) on a dense pair: the constants its action is built from, so the
   * gradient-norm objective can be computed in batch space (objectives/gl_data_batch.ts) instead of
   * by nested autodiff through the whole network.
   */
  readonly batchSpace?: GlDataBatchSpace;
  /**
   * Moves the model's non-trainable state that must follow the weights for the action to keep the
   * function (BatchNormalization's moving mean and variance, after a scale of the layer before it).
   * Called once, with the accepted element, when a teleport is applied to the model's variables.
   */
  moveBuffers?(theta: Tensor): void;
  /**
   * For actions exact only in a limit (the scale before BatchNormalization, exact as its ε → 0): a
   * data-free bound on the relative change of the outputs the action is meant to keep, at θ. The
   * guard treats a bound above `maxLossDrift` like a measured drift (it halves θ), so a teleport
   * without a batch (inside `fit`) stays honest too.
   */
  inexactness?(theta: Tensor): number;
  /** Frees constants the action holds (data-dependent actions keep batch activations). */
  dispose?(): void;
}

/**
 * What a gl-data action keeps of its teleport batch (n rows), row-major: the site's first layer has
 * input H (with a bias column when it has a bias), pre-activation Z and activation σ. On the batch the
 * action makes the activations σ(Z)·g and the first layer's pre-activation σ⁻¹(σ(Z)·g); the second
 * kernel becomes g⁻¹·W₂. Tensors are owned by the action (freed by its `dispose`).
 */
export interface GlDataBatchSpace {
  /** Layer indices (structure's layer list) of the pair. */
  inLayer: number;
  outLayer: number;
  /** Parameter indices of the first kernel, its bias (null: none) and the second kernel. */
  inKernel: number;
  inBias: number | null;
  outKernel: number;
  /** The activation between (linear or leakyRelu). */
  activation: ActivationSpec;
  /** σ(Z) at the starting weights, n×h. */
  sigmaZ: Tensor;
  /** σ⁻¹(σ(Z)), n×h: the action's correction is H⁺·(σ⁻¹(σ(Z)·g) − this). */
  zRound: Tensor;
  /** (H⁺)ᵀ, n×(d + 1) with a bias (else n×d). */
  hPinvT: Tensor;
  /** H itself, n×(d + 1) with a bias (else n×d). */
  input: Tensor;
  /** Whether H has full row rank n ≤ its columns (else the action is a least-squares fit, not exact on the batch). */
  exact: boolean;
  /** m·g (m n×h) and g⁻¹·m (m h×k) for the element θ, differentiable in θ. */
  products(theta: Tensor): {
    /** m·g, for m n×h. */
    right(m: Tensor): Tensor;
    /** g⁻¹·m, for m h×k. */
    invLeft(m: Tensor): Tensor;
  };
}
