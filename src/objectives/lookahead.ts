import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import { applyActions } from '../groups/apply.js';
import { optionChecks } from '../core/checks.js';
import { badOption } from '../core/errors.js';
import type { HeldOut, InnerStep, Objective, ObjectiveContext } from './types.js';

/** Default number of inner-optimizer steps the 'lookahead' objective looks ahead. */
export const DEFAULT_LOOKAHEAD_STEPS = 1;

type Loss = (params: readonly Tensor[]) => Scalar;
/** State tensors by name (see {@link InnerStep}), one per parameter. */
type State = Record<string, Tensor[]>;

/** Stops nothing from flowing but gradients: a copy the tape does not connect to its source. */
const detached = (t: Tensor): Tensor => tf.tensor(t.dataSync(), t.shape, t.dtype);
const dot = (a: readonly Tensor[], b: readonly Tensor[]): Scalar => tf.addN(a.map((x, i) => tf.sum(tf.mul(x, b[i])))) as Scalar;
const normOf = (ts: readonly Tensor[]): number => Math.sqrt(tf.tidy(() => dot(ts, ts).dataSync()[0]));

/**
 * One update of `step`'s rule from gradient `g` and state `s`, exactly as tfjs 4.22 computes it
 * (tfjs-core src/optimizers/*): the change of the weights (w ← w + delta), the next state and
 * constants. Plain tensor code, differentiable in its inputs. Adam's √v̂ is taken of max(v̂, 1e-30) so
 * a weight whose gradient is exactly zero gives a zero derivative, not 0/0 (the value is unchanged).
 */
export function innerUpdate(
  step: InnerStep,
  constants: Readonly<Record<string, number>>,
  s: State,
  g: readonly Tensor[],
): { delta: Tensor[]; state: State; constants: Record<string, number> } {
  const lr = step.learningRate;
  const c = { ...constants };
  const next: State = {};
  let delta: Tensor[];
  switch (step.rule) {
    case 'sgd':
      delta = g.map(x => tf.mul(x, -lr));
      break;
    case 'momentum': {
      next.velocity = g.map((x, i) => tf.add(tf.mul(s.velocity[i], c.momentum), x));
      delta = g.map((x, i) => tf.mul(c.nesterov ? tf.add(x, tf.mul(next.velocity[i], c.momentum)) : next.velocity[i], -lr));
      break;
    }
    case 'adagrad': {
      next.accumulator = g.map((x, i) => tf.add(s.accumulator[i], tf.square(x)));
      delta = g.map((x, i) => tf.mul(tf.div(x, tf.sqrt(tf.add(next.accumulator[i], c.epsilon))), -lr));
      break;
    }
    case 'rmsprop': {
      next.meanSquare = g.map((x, i) => tf.add(tf.mul(s.meanSquare[i], c.decay), tf.mul(tf.square(x), 1 - c.decay)));
      let denominator: Tensor[];
      if (c.centered) {
        next.meanGrad = g.map((x, i) => tf.add(tf.mul(s.meanGrad[i], c.decay), tf.mul(x, 1 - c.decay)));
        denominator = next.meanSquare.map((ms, i) => tf.sqrt(tf.sub(ms, tf.add(tf.square(next.meanGrad[i]), c.epsilon))));
      } else {
        denominator = next.meanSquare.map(ms => tf.sqrt(tf.add(ms, c.epsilon)));
      }
      next.moment = g.map((x, i) => tf.add(tf.mul(s.moment[i], c.momentum), tf.div(tf.mul(x, lr), denominator[i])));
      delta = next.moment.map(m => tf.neg(m));
      break;
    }
    case 'adam': {
      next.m = g.map((x, i) => tf.add(tf.mul(s.m[i], c.beta1), tf.mul(x, 1 - c.beta1)));
      next.v = g.map((x, i) => tf.add(tf.mul(s.v[i], c.beta2), tf.mul(tf.square(x), 1 - c.beta2)));
      const m1 = 1 - c.accBeta1;
      const m2 = 1 - c.accBeta2;
      delta = next.m.map((m, i) => tf.mul(tf.div(tf.div(m, m1), tf.add(tf.sqrt(tf.maximum(tf.div(next.v[i], m2), 1e-30)), c.epsilon)), -lr));
      c.accBeta1 *= c.beta1;
      c.accBeta2 *= c.beta2;
      break;
    }
  }
  return { delta, state: next, constants: c };
}

/** The optimizer's state as it is at w (no teleport). */
function stateAtW(step: InnerStep): State {
  return Object.fromEntries(step.state.map(e => [e.name, e.values.slice()]));
}

/**
 * The optimizer's state after the teleport to g(θ)·w. When it moves with the weights (the teleporting
 * optimizer's 'transform' policy): each slot kind through every action's `transportSlots`, a kind an
 * action cannot carry exactly (second moments under GL) staying as it was; otherwise as it is at w
 * (a one-off teleport, 'keep'). Differentiable in θ.
 */
export function transportedState(actions: readonly SiteAction[], step: InnerStep, thetas: readonly Tensor[]): State {
  if (!step.movesWithWeights) return stateAtW(step);
  const out: State = {};
  for (const { name, kind, values } of step.state) {
    let moved: Array<Tensor | null> | undefined = values.slice();
    actions.forEach((a, i) => {
      moved = moved && a.transportSlots ? a.transportSlots(kind, moved, thetas[i]) : undefined;
    });
    out[name] = (moved ?? values.slice()) as Tensor[];
  }
  return out;
}

/** ∇L at `params`, every parameter; differentiable in `params` when `loss` is second-order safe. */
function gradientOf(loss: Loss, params: readonly Tensor[]): Tensor[] {
  return tf.grads((...ps: Tensor[]) => loss(ps))(params.slice());
}

/**
 * The weights after `k` steps of the inner rule from `params` with state `state`, the first from the
 * gradient `first` (null: computed), on `loss`. Differentiable in its inputs (nested autodiff).
 */
export function unroll(loss: Loss, step: InnerStep, params: readonly Tensor[], state: State, first: readonly Tensor[] | null, k: number): Tensor[] {
  let w = params.slice();
  let s = state;
  let c: Record<string, number> = { ...step.constants };
  for (let i = 0; i < k; i++) {
    const g = i === 0 && first != null ? first : gradientOf(loss, w);
    const u = innerUpdate(step, c, s, g);
    w = w.map((p, j) => tf.add(p, u.delta[j]));
    s = { ...s, ...u.state };
    c = u.constants;
  }
  return w;
}

/** True when every action is exact everywhere and diagonal (rescale): there J⁻¹ = J⁻ᵀ, the gradient transport. */
const diagonalExact = (actions: readonly SiteAction[]) =>
  actions.length > 0 && actions.every(a => a.exactness === 'everywhere' && a.diagonal != null && a.transportGradient != null);
const exact = (actions: readonly SiteAction[]) => actions.length > 0 && actions.every(a => a.exactness === 'everywhere' && a.transportGradient != null);

function transport(actions: readonly SiteAction[], v: readonly Tensor[], thetas: readonly Tensor[]): Tensor[] {
  let out = v.slice();
  actions.forEach((a, i) => {
    out = a.transportGradient!(out, thetas[i]);
  });
  return out;
}

/**
 * H·v at `at` by a forward difference of gradients, (∇L(at + εv) − ∇L(at))/ε with ε‖v‖ = 1e-3·max(‖at‖, 1):
 * one backward pass (∇L(at) is given). Detached: no gradient flows through it.
 */
function hessianTimes(loss: Loss, at: readonly Tensor[], gradAt: readonly Tensor[], v: readonly Tensor[]): Tensor[] {
  const size = normOf(v);
  if (!(size > 0)) return v.map(x => tf.zerosLike(x));
  const eps = (1e-3 * Math.max(normOf(at), 1)) / size;
  return tf.tidy(() => {
    const moved = at.map((p, i) => tf.add(p, tf.mul(v[i], eps)));
    return gradientOf(loss, moved).map((g, i) => detached(tf.div(tf.sub(g, gradAt[i]), eps)));
  });
}

/**
 * vᵀH v as a function of v whose gradient is 2·H v, with H v measured once on detached copies: the
 * value of the quadratic form and its exact derivative in v for a fixed H, from one Hessian-vector product.
 */
function quadraticForm(loss: Loss, at: readonly Tensor[], gradAt: readonly Tensor[], v: readonly Tensor[]): Scalar {
  const fixed = v.map(detached);
  const hv = hessianTimes(loss, at, gradAt, fixed);
  const q = dot(fixed, hv).dataSync()[0];
  return tf.sub(tf.mul(2, dot(v, hv)), q) as Scalar;
}

function innerStepOfContext(ctx: ObjectiveContext): InnerStep {
  if (ctx.innerStep == null) {
    throw badOption(
      "objective 'lookahead' needs the optimizer that takes the next steps: inside a teleporting optimizer it is the inner one; for tp.teleport pass it, e.g. { objective: 'lookahead', optimizer }",
    );
  }
  return ctx.innerStep;
}

const stepsOf = (ctx: ObjectiveContext) => ctx.options?.lookaheadSteps ?? DEFAULT_LOOKAHEAD_STEPS;

/**
 * Δ_k(θ) = L(g·w) − L(w_k), the decrease of the teleport-batch loss over the next k steps of the inner
 * optimizer's own rule started at g(θ)·w with its state moved along (see {@link transportedState}).
 *
 * k = 1 is the second-order model of the one step u = delta(∇L(g·w), state):
 * Δ₁ = −∇Lᵀu − ½ uᵀH u, which for SGD, AdaGrad and RMSProp without momentum is
 * η‖∇L‖²_P − ½η²·∇LᵀPHP∇L (P the preconditioner of that step). The step u is the rule's own, so
 * momentum's velocity and Adam's first moment are in it; what the model ignores is the loss's third
 * and higher derivatives along u (a large step at the edge of stability is where they matter; the
 * guard then measures real steps). H u costs one Hessian-vector product per evaluation. For per-unit
 * rescale (exact, J diagonal, J⁻¹ = J⁻ᵀ) H is carried along the orbit exactly, uᵀH(g·w)u =
 * (J⁻ᵀu)ᵀH(w)(J⁻ᵀu), so the θ-derivative sees how the curvature grows with the gradient; for other
 * groups H is measured at g·w and held fixed when differentiating in θ (the value is exact, the
 * ascent direction leaves out ∂H/∂θ).
 *
 * k > 1 unrolls the rule: k − 1 gradients by nested autodiff, differentiable in θ.
 */
function lookaheadValue(ctx: ObjectiveContext): (thetas: readonly Tensor[]) => Scalar {
  const step = innerStepOfContext(ctx);
  const loss = ctx.loss;
  if (loss == null) throw badOption("objective 'lookahead' needs the loss on a teleport batch: pass the `data` option");
  const k = stepsOf(ctx);
  const { actions, params } = ctx;
  const isExact = exact(actions);
  const diagonal = diagonalExact(actions);
  // ∇L(w) and L(w), once: exact groups transport the first and keep the second.
  // As arrays: no tensor outlives the teleport (the objective has no release hook).
  const gradValues = tf.tidy(() => gradientOf(loss, params).map(g => g.dataSync().slice()));
  const lossW = tf.tidy(() => loss(params).dataSync()[0]);
  return thetas => {
    const gradW = gradValues.map((v, i) => tf.tensor(v, params[i].shape));
    const moved = applyActions(actions, params, thetas);
    const grad = isExact ? transport(actions, gradW, thetas) : gradientOf(loss, moved);
    const state = transportedState(actions, step, thetas);
    const start = isExact ? tf.scalar(lossW) : loss(moved);
    if (k > 1) return tf.sub(start, loss(unroll(loss, step, moved, state, grad, k))) as Scalar;
    const { delta } = innerUpdate(step, step.constants, state, grad);
    const first = tf.neg(dot(grad, delta));
    let quad: Scalar;
    if (diagonal) {
      quad = quadraticForm(loss, params, gradW, transport(actions, delta, thetas));
    } else {
      const at = moved.map(detached);
      const gradAt = tf.tidy(() => gradientOf(loss, at).map(detached));
      quad = quadraticForm(loss, at, gradAt, delta);
      tf.dispose([at, gradAt]);
    }
    return tf.sub(first, tf.mul(0.5, quad)) as Scalar;
  };
}

/** Mean and standard error of a sample. */
function meanAndError(xs: readonly number[]): { mean: number; stderr: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, stderr: 0 };
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1);
  return { mean, stderr: Math.sqrt(variance / xs.length) };
}

/**
 * The measured k-step decrease on held-out data, from w and from g(θ)·w: k real steps of the inner
 * rule on all the held-out data, then each part's loss against its loss at w. `before` and `after`
 * are the mean decreases over the parts; `stderr` the standard error of their difference.
 */
export function heldOutLookahead(
  actions: readonly SiteAction[],
  params: readonly Tensor[],
  step: InnerStep,
  heldOut: HeldOut,
  k: number,
): (thetas: readonly Tensor[]) => { before: number; after: number; stderr: number } {
  const lossesAt = (ps: readonly Tensor[]) => Array.from(tf.stack(heldOut.parts.map(c => c(ps))).dataSync());
  const atW = tf.tidy(() => lossesAt(params));
  const fromW = tf.tidy(() => lossesAt(unroll(heldOut.loss, step, params, stateAtW(step), null, k)));
  return thetas =>
    tf.tidy(() => {
      const moved = applyActions(actions, params, thetas);
      const fromG = lossesAt(unroll(heldOut.loss, step, moved, transportedState(actions, step, thetas), null, k));
      const diff = meanAndError(fromG.map((l, i) => fromW[i] - l));
      const before = meanAndError(fromW.map((l, i) => atW[i] - l)).mean;
      const after = meanAndError(fromG.map((l, i) => atW[i] - l)).mean;
      return { before, after, stderr: diff.stderr };
    });
}

/**
 * The loss decrease over the next `lookaheadSteps` steps of the optimizer that will take them (its
 * rule, learning rate and state, moved with the teleport): the quantity a gradient-norm teleport is a
 * proxy for. Needs the teleport batch (half of it is held out to confirm the move with real steps)
 * and the inner step ({@link ObjectiveContext.innerStep}).
 */
export const lookahead: Objective = {
  name: 'lookahead',
  description: 'the training-loss decrease over the next lookaheadSteps steps of the optimizer that takes them (its rule, learning rate and state)',
  needs: 'loss',
  needsInnerStep: true,
  heldOut: true,
  // Each evaluation costs a Hessian-vector product (or k unrolled steps), several training steps on a
  // small model: a step that gains under 2 % of the k-step decrease ends the search (the guard and the
  // held-out check judge the best point found, unchanged).
  stallTolerance: 0.02,
  options: { lookaheadSteps: { default: DEFAULT_LOOKAHEAD_STEPS, check: optionChecks.number('lookaheadSteps', { integer: true, min: 1 }) } },
  value: lookaheadValue,
  confirm: ctx => {
    if (ctx.heldOut == null || ctx.heldOut.parts.length === 0) return null;
    return heldOutLookahead(ctx.actions, ctx.params, innerStepOfContext(ctx), ctx.heldOut, stepsOf(ctx));
  },
};
