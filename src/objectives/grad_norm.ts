import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { ClosedForm, Objective, ObjectiveContext, Preconditioner } from './types.js';
import type { Site } from '../structure/read_model.js';
import { rescaleObjective, rescaleTermSets, rescaleTerms, rescaleValue, type Term } from './rescale_closed_form.js';

export type { Preconditioner } from './types.js';

/** Σ_i Σ A_i ∘ g_i²: the squared (preconditioned) gradient norm, as a differentiable scalar. */
export function gradNormSq(grads: ReadonlyArray<Tensor | null>, preconditioner?: Preconditioner | null): Scalar {
  return tf.tidy(() => {
    let total: Tensor = tf.scalar(0);
    grads.forEach((g, i) => {
      if (g == null) return;
      const sq = tf.square(g);
      const a = preconditioner?.[i];
      total = tf.add(total, tf.sum(a != null ? tf.mul(a, sq) : sq));
    });
    return total as Scalar;
  });
}

/** The rescale closed form of ‖∇L‖²_A, when every action is a per-unit rescale and ∇L is known. */
function formOf(sites: Site[], terms: Term[]): ClosedForm {
  return { widths: sites.map(s => s.width), evaluate: s => rescaleObjective(terms, s), value: s => rescaleValue(terms, s) };
}

/**
 * The plain form built alongside a preconditioned one from the same context (same squares, same
 * download): the engine asks for both, the report's ‖∇L‖² needs the plain one.
 */
const plainAlongside = new WeakMap<ObjectiveContext, ClosedForm>();

function rescaleClosedForm(ctx: ObjectiveContext, preconditioner: Preconditioner | null): ClosedForm | null {
  if (ctx.route !== 'transport' || ctx.gradient == null || !ctx.actions.every(a => a.diagonal != null)) return null;
  const sites = ctx.actions.map(a => a.diagonal!);
  if (preconditioner == null) {
    const known = plainAlongside.get(ctx);
    if (known != null) return known;
    return formOf(sites, rescaleTerms(sites, ctx.gradient, null));
  }
  const [weighted, plain] = rescaleTermSets(sites, ctx.gradient, [preconditioner, null]);
  plainAlongside.set(ctx, formOf(sites, plain));
  return formOf(sites, weighted);
}

/** ‖∇L(g·w)‖² on the parameters the group touches (dissertation Algorithm 1, line 3). */
export const gradNorm: Objective = {
  name: 'gradNorm',
  description: '‖∇L‖² (Algorithm 1)',
  needs: 'gradient',
  family: 'gradientNorm',
  // Unbounded along the orbit: long steps to the growth cap cost few evaluations (from the step's gradient).
  stepRule: { transport: 'budget' },
  value: ctx => thetas => gradNormSq(ctx.gradientAt(thetas)),
  closedForm: ctx => rescaleClosedForm(ctx, null),
};

/** ‖∇L(g·w)‖²_A with the inner optimizer's diagonal preconditioner A (dissertation eq. 5.7). */
export const preconditionedGradNorm: Objective = {
  name: 'preconditionedGradNorm',
  description: "‖∇L‖²_A with the inner optimizer's AdaGrad/RMSProp/Adam second moments (eq. 5.7)",
  needs: 'gradient',
  usesPreconditioner: true,
  family: 'gradientNorm',
  stepRule: { transport: 'budget' },
  value: ctx => thetas => gradNormSq(ctx.gradientAt(thetas), ctx.preconditioner),
  closedForm: ctx => rescaleClosedForm(ctx, ctx.preconditioner),
};
