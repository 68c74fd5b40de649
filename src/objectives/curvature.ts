import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import { applyActions } from '../groups/apply.js';
import { badOption } from '../core/errors.js';
import { gaussian, SeededRandom } from '../core/random.js';
import { curvatureClosedForm } from './curvature_closed_form.js';
import type { Objective, ObjectiveContext } from './types.js';

/** The dissertation's number of random curves for ψ (§5.2.3: "we average over k = 1 curves"). */
export const DEFAULT_CURVES = 1;

export { gaussian } from '../core/random.js';

/**
 * One random Lie-algebra element per action, entries standard normal, shaped like the action's
 * group parameters (rescale: a vector, the diagonal of M; GL: an h×h matrix), drawn in action order.
 * Returns plain arrays with their shapes, so the draw makes no tensors.
 */
export function drawAlgebra(actions: readonly SiteAction[], random: () => number): Array<{ shape: number[]; values: Float32Array }> {
  return actions.map(a => {
    const shape = tf.tidy(() => a.init(() => 0).shape);
    const values = new Float32Array(shape.reduce((p, q) => p * q, 1));
    for (let i = 0; i < values.length; i++) values[i] = gaussian(random);
    return { shape, values };
  });
}

/** `k` curves, each one Lie-algebra element per action (the draws of `drawAlgebra` in turn). */
export function drawCurves(actions: readonly SiteAction[], random: () => number, k: number): Array<Array<{ shape: number[]; values: Float32Array }>> {
  return Array.from({ length: k }, () => drawAlgebra(actions, random));
}

function addInto(sum: Array<Tensor | null>, part: ReadonlyArray<Tensor | null>): void {
  part.forEach((t, i) => {
    if (t != null) sum[i] = sum[i] == null ? t : tf.add(sum[i]!, t);
  });
}

/** dρ(M)·v = Σ_i dρ_i(M_i)·v over the sites (null where no site moves a parameter). */
function algebraAction(actions: readonly SiteAction[], v: ReadonlyArray<Tensor | null>, ms: readonly Tensor[]): Array<Tensor | null> {
  const out: Array<Tensor | null> = v.map(() => null);
  actions.forEach((a, i) => addInto(out, a.algebra!(v, ms[i])));
  return out;
}

/**
 * γ'(0) and γ''(0) of the curve γ(t) = exp(tM)·w for linear actions (rescale, GL), exactly:
 * γ' = dρ(M)w, γ'' = dρ(M)²w with dρ(M) = Σ_i dρ_i(M_i). The sites act on different axes of a
 * shared kernel (rows for one pair, columns for the next), so their actions commute and the square
 * holds, cross terms 2·dρ_i(M_i)dρ_j(M_j)w included. Entries no site moves are null.
 */
export function curveDerivatives(
  actions: readonly SiteAction[],
  params: readonly Tensor[],
  ms: readonly Tensor[],
): { d1: Array<Tensor | null>; d2: Array<Tensor | null> } {
  const missing = actions.find(a => a.algebra == null);
  if (missing) throw badOption(`curvature needs a linear group action: '${missing.group}' at ${missing.where} has none (use curveDerivativesByAutodiff)`);
  const d1 = algebraAction(actions, params, ms);
  const d2 = algebraAction(actions, d1, ms);
  return { d1, d2 };
}

/**
 * γ'(0) and γ''(0) of t ↦ applyActions(actions, params, t·M) for any action that is twice
 * differentiable in its parameters (data-dependent GL included), by nested reverse-mode autodiff:
 * with a dummy co-vector u, γ^(k)(0) = ∇_u [d^k/dt^k Σ u·γ(t)]_{t=0}. Slower than
 * {@link curveDerivatives}; not differentiable further (a measurement, not an objective). Limitation of
 * tfjs: a nested tf.grad does not see tensors a kernel saves from its own output (tf.exp, tf.sigmoid), so an
 * action that applies such an op to t (rescale's exp(t·m)) throws here; GL's expm and the data-dependent
 * actions (matMul, relu) are fine, and the tests check them against finite differences.
 */
export function curveDerivativesByAutodiff(
  actions: readonly SiteAction[],
  params: readonly Tensor[],
  ms: readonly Tensor[],
): { d1: Array<Tensor | null>; d2: Array<Tensor | null> } {
  const touched = [...new Set(actions.flatMap(a => a.touches))].sort((a, b) => a - b);
  const pairing = (t: Tensor, us: readonly Tensor[]): Scalar => {
    const moved = applyActions(
      actions,
      params,
      ms.map(m => tf.mul(t, m)),
    );
    return tf.addN(touched.map((idx, k) => tf.sum(tf.mul(us[k], moved[idx])))) as Scalar;
  };
  const zero = tf.scalar(0);
  const us = touched.map(i => tf.zerosLike(params[i]));
  const first = tf.grads((...u: Tensor[]) => tf.grad((t: Tensor) => pairing(t, u))(zero) as Scalar)(us);
  const second = tf.grads((...u: Tensor[]) => tf.grad((t: Tensor) => tf.grad((s: Tensor) => pairing(s, u))(t))(zero) as Scalar)(us);
  const d1: Array<Tensor | null> = params.map(() => null);
  const d2: Array<Tensor | null> = params.map(() => null);
  touched.forEach((idx, k) => {
    d1[idx] = first[k];
    d2[idx] = second[k];
  });
  tf.dispose([zero, ...us]);
  return { d1, d2 };
}

const dot = (a: ReadonlyArray<Tensor | null>, b: ReadonlyArray<Tensor | null>): Scalar =>
  tf.addN([tf.scalar(0), ...a.map((t, i) => (t != null && b[i] != null ? tf.sum(tf.mul(t, b[i]!)) : null)).filter((t): t is Scalar => t != null)]) as Scalar;

/**
 * κ = sqrt(‖γ'‖²‖γ''‖² − (γ'·γ'')²) / ‖γ'‖³ from the two derivatives, each a list of tensors (one
 * curve in a product space). Computed as ‖γ'' − (γ'·γ''/‖γ'‖²)γ'‖ / ‖γ'‖², the same value without
 * the cancellation of two large products.
 */
export function curveCurvature(d1: ReadonlyArray<Tensor | null>, d2: ReadonlyArray<Tensor | null>): Scalar {
  return tf.tidy(() => {
    const a = dot(d1, d1);
    const c = dot(d1, d2);
    const ratio = tf.div(c, a);
    const perp = d2.map((t, i) => (t == null ? null : d1[i] == null ? t : tf.sub(t, tf.mul(ratio, d1[i]!))));
    // The tiny floor keeps the gradient of the square root finite on a straight curve.
    return tf.div(tf.sqrt(tf.add(dot(perp, perp), 1e-30)), a) as Scalar;
  });
}

/** ψ (eq. 5.2): the mean curvature at t = 0 of the curves exp(tM_i)·w, for linear actions. */
export function meanCurvature(actions: readonly SiteAction[], params: readonly Tensor[], curves: ReadonlyArray<readonly Tensor[]>): Scalar {
  return tf.tidy(() => {
    const kappas = curves.map(ms => {
      const { d1, d2 } = curveDerivatives(actions, params, ms);
      return curveCurvature(d1, d2);
    });
    return tf.div(tf.addN(kappas), curves.length) as Scalar;
  });
}

/** Options of the curvature objective. */
export interface CurvatureObjectiveOptions {
  /** Registered name. Default 'curvature'. */
  name?: string;
  /** Number of random curves k. Default 1 (the dissertation's). */
  curves?: number;
}

/**
 * The curvature objective ψ(g(θ)·w) (dissertation eq. 5.2, Algorithm 2) for exact linear groups
 * (rescale, GL on linear pairs, 'auto'). The k Lie-algebra elements are drawn once per teleport from
 * its seeded stream, before anything else draws: a one-off `tp.teleport(..., { seed })` uses the same
 * curves as `metrics.curvature(..., { seed })`. Needs neither data nor a gradient; data, when
 * given, lets the drift guard measure the loss.
 */
export function curvatureObjective(options: CurvatureObjectiveOptions = {}): Objective {
  const k = options.curves ?? DEFAULT_CURVES;
  if (!Number.isInteger(k) || k < 1) throw badOption(`curves must be a positive integer, got ${k}`);
  // One draw per teleport, shared by the closed form and the tensor form of one context.
  const draws = new WeakMap<ObjectiveContext, ReturnType<typeof drawCurves>>();
  const drawnFor = (ctx: ObjectiveContext) => {
    const known = draws.get(ctx);
    if (known) return known;
    const unsupported = ctx.actions.find(a => a.algebra == null);
    if (unsupported) {
      throw badOption(
        `objective 'curvature' needs a linear group action (rescale, gl, auto); '${unsupported.group}' at ${unsupported.where} is data-dependent. curvature from 'tfjs-teleport/metrics' measures it; teleporting for it is not supported`,
      );
    }
    const drawn = drawCurves(ctx.actions, ctx.random ?? new SeededRandom(0).source, k);
    draws.set(ctx, drawn);
    return drawn;
  };
  return {
    name: options.name ?? 'curvature',
    description: `ψ, the mean curvature of ${k} random orbit curve(s) exp(tM)·w at t = 0 (eq. 5.2)`,
    needs: 'gradient',
    needsAlgebra: true,
    value: ctx => {
      const drawn = drawnFor(ctx);
      return thetas =>
        tf.tidy(() => {
          const curves = drawn.map(ms => ms.map(m => tf.tensor(m.values, m.shape)));
          return meanCurvature(ctx.actions, applyActions(ctx.actions, ctx.params, thetas), curves);
        });
    },
    // Rescale: the same ψ in float64 on vectors of unit scales (curvature_closed_form.ts).
    closedForm: ctx => curvatureClosedForm(ctx.actions, ctx.params, drawnFor(ctx)),
  };
}

/** ψ with the dissertation's k = 1 curve, as `objective: 'curvature'`. */
export const curvature: Objective = curvatureObjective();
