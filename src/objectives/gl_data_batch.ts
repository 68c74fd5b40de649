import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { GlDataBatchSpace } from '../groups/types.js';
import { invertActivation } from '../structure/activations.js';
import type { ObjectiveContext, ObjectiveTraits } from './types.js';

/**
 * The plain gradient-norm objective ‖∇L(g·w)‖² (over the touched parameters, weight 1) of gl-data
 * teleports, computed in batch space: n×h and n×n matrices, no product with a first layer's inputs
 * and no second-order autodiff. Exact where the action is exact on the batch (H of full row rank).
 *
 * For a chain of sites (layers ℓ₀ → ℓ₁ → … → ℓ_m, site k = (ℓ_k, ℓ_{k+1}), activations A_k = σ(Z_k)):
 * on the batch the action gives A_k' = A_k·g_k and Z_k' = σ⁻¹(A_k·g_k) (k < m), Z_m unchanged, so the
 * loss above ℓ_m and δ_m = ∂L/∂Z_m are unchanged (δ_m is taken once, by first-order autodiff of the
 * loss with a shift of Z_m). The second kernel of site k becomes g_k⁻¹·(W_{k+1} + ΔW_{k+1}), where
 * ΔW_{k+1} = P_{k+1}ᵀ·D_{k+1} is the correction of the site above (P its (H⁺)ᵀ without the bias column,
 * D = σ⁻¹(A'·) − σ⁻¹(A)). Backward: δ_k = ((δ_{k+1}·W_{k+1}ᵀ + (δ_{k+1}·D_{k+1}ᵀ)·P_{k+1})·g_k⁻ᵀ) ∘ σ'(Z_k'),
 * and each layer's kernel (and touched bias) gradient is Ĥᵀ·δ with Ĥ its input (with a ones column),
 * so its squared norm is Σ (Ĥ·Ĥᵀ) ∘ (δ·δᵀ).
 */
export interface GlDataBatchObjective {
  /** ‖∇L(g·w)‖² over the touched parameters, differentiable in θ (first-order autodiff). */
  value(thetas: readonly Tensor[]): Scalar;
  dispose(): void;
}

/** Σ (a·aᵀ [+ 1]) ∘ (δ·δᵀ): ‖[a, 1]ᵀ·δ‖² without forming the h×h gradient. */
function gramTerm(gram: Tensor, delta: Tensor): Tensor {
  return tf.sum(tf.mul(gram, tf.matMul(delta, delta, false, true)));
}

/**
 * The batch-space objective for this context, or null where it is not exact: another objective family
 * or a preconditioned one, another route, actions other than gl-data, sites that are not one chain, a
 * batch larger than a layer's inputs, a model without a shiftable loss, or (checked at θ = 0 against
 * first-order autodiff of the real loss) any other disagreement beyond 1e-4 relative.
 *
 * ```ts
 * const fast = glDataBatchObjective(ctx, traits); // inside a solver's prepare
 * fast?.value(thetas); // equals gradNorm.value(ctx)(thetas)
 * ```
 */
export function glDataBatchObjective(ctx: ObjectiveContext, traits: ObjectiveTraits): GlDataBatchObjective | null {
  if (traits.family !== 'gradientNorm' || traits.usesPreconditioner === true) return null;
  if (ctx.route !== 'evaluate' || ctx.loss == null || ctx.shiftedLoss == null) return null;
  const spaces = ctx.actions.map(a => a.batchSpace);
  if (spaces.length === 0 || spaces.some(s => s == null || !s.exact)) return null;
  // Bottom site first; each site's second layer must be the next one's first layer.
  const order = spaces.map((_, i) => i).sort((a, b) => spaces[a]!.inLayer - spaces[b]!.inLayer);
  const chain = order.map(i => spaces[i]!) as GlDataBatchSpace[];
  for (let k = 1; k < chain.length; k++) if (chain[k].inLayer !== chain[k - 1].outLayer || chain[k].inKernel !== chain[k - 1].outKernel) return null;
  // What it sums must be exactly what the generic objective sums.
  const touched = new Set<number>(chain.flatMap(s => [s.inKernel, ...(s.inBias != null ? [s.inBias] : []), s.outKernel]));
  if (touched.size !== ctx.touched.length || !ctx.touched.every(i => touched.has(i))) return null;
  const m = chain.length;
  const top = chain[m - 1];
  const params = ctx.params;
  const n = chain[0].sigmaZ.shape[0];
  const consts = tf.tidy(() => {
    const units = params[top.outKernel].shape[1]!;
    const shiftedLoss = ctx.shiftedLoss!;
    // δ_m = ∂L/∂Z_m at w (first order), constant on the orbit.
    const deltaTop = tf.grad((e: Tensor) => shiftedLoss(params, new Map([[top.outLayer, e]])))(tf.zeros([n, units]));
    // δ_m·W_mᵀ is constant too; the other kernels are kept transposed (a plain product per evaluation).
    const topBack = tf.matMul(deltaTop, tf.transpose(params[top.outKernel]));
    const kernelsT = chain.slice(0, m - 1).map(s => tf.transpose(params[s.outKernel]));
    // (H⁺)ᵀ without the bias column: the rows of the correction that land in the kernel.
    const pinvKernelT = chain.map(s => (s.inBias != null ? tf.slice(s.hPinvT, [0, 0], [n, s.hPinvT.shape[1]! - 1]) : s.hPinvT.clone()));
    return { deltaTop, topBack, kernelsT, pinvKernelT, ones: tf.ones([n, n]) };
  });
  const owned = [consts.deltaTop, consts.topBack, consts.ones, ...consts.pinvKernelT, ...consts.kernelsT];

  const value = (thetas: readonly Tensor[]): Scalar =>
    tf.tidy(() => {
      const els = chain.map((s, k) => s.products(thetas[order[k]]));
      const acts = chain.map((s, k) => els[k].right(s.sigmaZ)); // A_k·g_k
      const corr = chain.map((s, k) => tf.sub(invertActivation(s.activation, acts[k]), s.zRound)); // D_k
      const terms: Tensor[] = [];
      let deltaAbove = consts.deltaTop; // δ_{k+1}
      // The top layer's kernel: input A_{m−1}·g, δ_m unchanged.
      terms.push(gramTerm(tf.matMul(acts[m - 1], acts[m - 1], false, true), deltaAbove));
      for (let k = m - 1; k >= 0; k--) {
        const s = chain[k];
        let back = k === m - 1 ? consts.topBack : tf.matMul(deltaAbove, consts.kernelsT[k]);
        if (k < m - 1) back = tf.add(back, tf.matMul(tf.matMul(deltaAbove, corr[k + 1], false, true), consts.pinvKernelT[k + 1]));
        // ·g⁻ᵀ as (g⁻¹·backᵀ)ᵀ: the element's own product.
        const dA = tf.transpose(els[k].invLeft(tf.transpose(back)));
        const delta = s.activation.kind === 'leakyRelu' ? tf.mul(dA, tf.step(acts[k], s.activation.alpha ?? 0.3)) : dA;
        // Layer ℓ_k's input: the batch's (bottom) or A_{k−1}·g_{k−1}; its bias is touched when it has one.
        const gram = k === 0 ? s.inputGram : tf.matMul(acts[k - 1], acts[k - 1], false, true);
        terms.push(gramTerm(k > 0 && s.inBias != null ? tf.add(gram, consts.ones) : gram, delta));
        deltaAbove = delta;
      }
      return tf.addN(terms) as Scalar;
    });

  // The check that makes "exact" a measured fact here: at θ = 0 the value must be the real ‖∇L‖².
  const zeros = tf.tidy(() => ctx.actions.map(a => tf.zerosLike(a.init(() => 0))));
  const [fast, real] = tf.tidy(() => {
    const grads = tf.grads((...ps: Tensor[]) => {
      const full = params.slice();
      ctx.touched.forEach((idx, j) => (full[idx] = ps[j]));
      return ctx.loss!(full);
    })(ctx.touched.map(i => params[i]));
    return [value(zeros).dataSync()[0], tf.addN(grads.map(g => tf.sum(tf.square(g)))).dataSync()[0]];
  });
  tf.dispose(zeros);
  if (!(Number.isFinite(fast) && Math.abs(fast - real) <= 1e-4 * Math.abs(real))) {
    tf.dispose(owned);
    return null;
  }
  return { value, dispose: () => tf.dispose(owned) };
}
