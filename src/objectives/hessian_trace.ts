import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { applyActions } from '../groups/apply.js';
import { badOption } from '../core/errors.js';
import type { Objective } from './types.js';

/** Largest parameter count {@link hessianTraceOf} accepts by default: it costs one Hessian-vector product per parameter. */
export const HESSIAN_TRACE_MAX_PARAMS = 2000;

const replaced = (list: readonly Tensor[], i: number, t: Tensor): Tensor[] => {
  const out = list.slice();
  out[i] = t;
  return out;
};

function checkSize(params: readonly Tensor[], maxParams: number): void {
  const count = params.reduce((s, p) => s + p.size, 0);
  if (count > maxParams) {
    throw badOption(
      `the exact Hessian trace costs one Hessian-vector product per parameter; this model has ${count} (> ${maxParams}). Use trace from 'tfjs-teleport/hessian' (Hutchinson) to measure it`,
    );
  }
}

/**
 * The exact trace of the Hessian of `loss` at `params`, Σ_k ∂²L/∂p_k² over every entry of every
 * parameter: one Hessian-vector product (nested autodiff) with each unit vector, so it suits small
 * models (at most `maxParams` entries). The value is exact for every activation the structure reader
 * supports; its derivative in `params` needs third derivatives of the loss, which tfjs tapes through
 * relu, leakyRelu, linear and MSE but may cut through tanh/sigmoid/softmax (`src/structure/second_order.ts`
 * is exact to second order only): it is exact along weights that reach the loss through the former.
 *
 * ```ts
 * const tr = hessianTraceOf(p => tf.losses.meanSquaredError(y, tf.matMul(x, p[0])), [w]);
 * ```
 */
export function hessianTraceOf(loss: (params: readonly Tensor[]) => Scalar, params: readonly Tensor[], maxParams = HESSIAN_TRACE_MAX_PARAMS): Scalar {
  checkSize(params, maxParams);
  return tf.tidy(() => {
    const terms: Scalar[] = [];
    params.forEach((p, i) => {
      // ∂L/∂pᵢ as a function of pᵢ (the others fixed), then ∂/∂pᵢ[k] of its k-th entry.
      const gradOf = (q: Tensor) => tf.grad((r: Tensor) => loss(replaced(params, i, r)))(q);
      for (let k = 0; k < p.size; k++) {
        const e = tf.reshape(tf.oneHot(tf.tensor1d([k], 'int32'), p.size), p.shape);
        const hv = tf.grad((q: Tensor) => tf.sum(tf.mul(gradOf(q), e)))(p);
        terms.push(tf.sum(tf.mul(hv, e)));
      }
    });
    return tf.addN(terms) as Scalar;
  });
}

/**
 * `objective: 'hessianTrace'`: Tr ∇²L(g·w) of the loss on the teleport batch, over every trainable
 * parameter (exact, by {@link hessianTraceOf}; small models). Teleport with `direction: 'minimize'`
 * for a point of the orbit with smaller average curvature (Sareen et al. §6.1: on the split group the
 * trace is smallest at the even split). Its θ-gradient is exact when the weights the group moves
 * reach the loss through relu, leakyRelu or linear activations and MSE (the split group before a linear
 * output layer, whatever the hidden activation: tested against central differences); see {@link hessianTraceOf}.
 * Its ascent takes 'fixed' normalized steps of length `lr`: on the split group one step moves copy 0's
 * share of a 2-way split by lr·√((α₀² + α₁²)/2), so it ends up to half a step from the even split
 * (from (0.3, 0.7) at lr 0.3: 0.441 after 50 steps); `lineSearch: true` halves overshooting steps.
 *
 * ```ts
 * const wide = split(model, { layer: 0, neurons: [1], coefficients: [0.9, 0.1] });
 * wide.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
 * await tp.teleport(wide, { x, y }, { group: 'split', objective: 'hessianTrace', direction: 'minimize' });
 * ```
 */
export const hessianTrace: Objective = {
  name: 'hessianTrace',
  description: 'Tr ∇²L over every trainable parameter, exact (one Hessian-vector product per parameter: small models); needs data',
  needs: 'loss',
  value: ctx => {
    if (ctx.loss == null) throw badOption("objective 'hessianTrace' needs the loss on a teleport batch: pass `data`");
    checkSize(ctx.params, HESSIAN_TRACE_MAX_PARAMS); // before any ascent
    return thetas => hessianTraceOf(ctx.loss!, applyActions(ctx.actions, ctx.params, thetas));
  },
};
