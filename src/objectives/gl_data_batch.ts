import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { GlDataBatchSpace } from '../groups/types.js';
import { invertActivation } from '../structure/activations.js';
import type { ObjectiveContext, ObjectiveTraits } from './types.js';

/** The Euclidean norm by a loop (Math.hypot(...v) spreads h arguments: slow for long vectors). */
const norm2 = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
};

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
 * and each layer's kernel (and touched bias) gradient is Ĥᵀ·δ with Ĥ its input (with a ones column).
 * Its squared norm is Σ (Ĥ·Ĥᵀ) ∘ (δ·δᵀ), a sum of n×n products that can cancel in float32 when the
 * inputs' rows are alike (MNIST pixels, mostly positive activations). So each constant input is
 * factored once in float64, Aᵀ = Q·R (Q h×n orthonormal, R n×n): the bottom layer's term is ‖R·δ‖²,
 * and an activation moved by g gives ‖gᵀQ·R·δ‖² = Σ (B·Bᵀ) ∘ (M·Mᵀ) with B = Qᵀ·g, M = R·δ, where
 * B·Bᵀ is I at g = I: a sum its diagonal dominates. (On the Fig. 4.6 MLP both forms give the cpu's
 * generic value to a few 1e-6; the factored one guards the cases where the Gram's would not.)
 */
export interface GlDataBatchObjective {
  /** ‖∇L(g·w)‖² over the touched parameters, differentiable in θ (first-order autodiff). */
  value(thetas: readonly Tensor[]): Scalar;
  dispose(): void;
}

/**
 * A = Rᵀ·Qᵀ for a row-major n×h matrix A (float64 Gram–Schmidt over its rows, twice): Q h×n with
 * orthonormal (or zero, for dependent rows) columns, R n×n upper triangular, as float32 tensors.
 */
function rowFactor(a: Tensor): { qT: Tensor; r: Tensor } {
  const [n, h] = a.shape as [number, number];
  const data = a.dataSync();
  const q: Float64Array[] = [];
  const r = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from(data.subarray(i * h, (i + 1) * h));
    const norm0 = norm2(v);
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        let dot = 0;
        for (let c = 0; c < h; c++) dot += q[j][c] * v[c];
        for (let c = 0; c < h; c++) v[c] -= dot * q[j][c];
        r[j * n + i] += dot;
      }
    }
    const norm = norm2(v);
    const independent = norm > 1e-10 * norm0 && norm > 0;
    r[i * n + i] = independent ? norm : 0;
    q.push(independent ? v.map(x => x / norm) : new Float64Array(h));
  }
  const qT = new Float32Array(n * h);
  q.forEach((col, i) => qT.set(col, i * h));
  return { qT: tf.tensor2d(qT, [n, h]), r: tf.tensor2d(Float32Array.from(r), [n, n]) };
}

const sumSq = (t: Tensor) => tf.sum(tf.square(t));

/**
 * The sites of this context as one chain, bottom first (with each site's index among the actions),
 * when the batch-space form is exact for it; else null: another objective family or a preconditioned
 * one, another route, actions other than gl-data, sites that are not one chain, a batch larger than a
 * layer's inputs, a model without a shiftable loss, or touched parameters other than the ones it sums.
 * Cheap: no tensor is made.
 */
export function glDataBatchChain(ctx: ObjectiveContext, traits: ObjectiveTraits): { chain: GlDataBatchSpace[]; order: number[] } | null {
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
  return { chain, order };
}

/**
 * The batch-space objective for this context, or null where it is not exact ({@link glDataBatchChain})
 * or where (checked at θ = 0 against first-order autodiff of the real loss) it disagrees with the real
 * ‖∇L‖² beyond 1e-3 relative (`realAtW`: that ‖∇L(w)‖² over the touched parameters when the caller has
 * measured it, else measured here). Holds tensors until `dispose()`.
 *
 * ```ts
 * const fast = glDataBatchObjective(ctx, traits); // inside a solver's solve
 * fast?.value(thetas); // equals gradNorm.value(ctx)(thetas)
 * ```
 */
export function glDataBatchObjective(ctx: ObjectiveContext, traits: ObjectiveTraits, realAtW?: number | null): GlDataBatchObjective | null {
  const found = glDataBatchChain(ctx, traits);
  if (found == null) return null;
  const { chain, order } = found;
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
    return { deltaTop, topBack, kernelsT, pinvKernelT };
  });
  // Float64 factors of the constant inputs: the bottom layer's H, and each site's σ(Z).
  const bottom = rowFactor(chain[0].input);
  const acts = chain.map(s => rowFactor(s.sigmaZ));
  const owned = [consts.deltaTop, consts.topBack, ...consts.pinvKernelT, ...consts.kernelsT, bottom.qT, bottom.r, ...acts.flatMap(f => [f.qT, f.r])];

  const value = (thetas: readonly Tensor[]): Scalar =>
    tf.tidy(() => {
      const els = chain.map((s, k) => s.products(thetas[order[k]]));
      const moved = chain.map((s, k) => els[k].right(s.sigmaZ)); // A_k·g_k
      const corr = chain.map((s, k) => tf.sub(invertActivation(s.activation, moved[k]), s.zRound)); // D_k
      const terms: Tensor[] = [];
      // ‖(A_k·g_k)ᵀ·δ‖² through A_k = Rᵀ·Qᵀ (see the top of this file).
      const movedTerm = (k: number, delta: Tensor) => {
        const b = els[k].right(acts[k].qT);
        const mm = tf.matMul(acts[k].r, delta);
        return tf.sum(tf.mul(tf.matMul(b, b, false, true), tf.matMul(mm, mm, false, true)));
      };
      let deltaAbove = consts.deltaTop; // δ_{k+1}
      // The top layer's kernel: input A_{m−1}·g, δ_m unchanged.
      terms.push(movedTerm(m - 1, deltaAbove));
      for (let k = m - 1; k >= 0; k--) {
        const s = chain[k];
        let back = k === m - 1 ? consts.topBack : tf.matMul(deltaAbove, consts.kernelsT[k]);
        if (k < m - 1) back = tf.add(back, tf.matMul(tf.matMul(deltaAbove, corr[k + 1], false, true), consts.pinvKernelT[k + 1]));
        // ·g⁻ᵀ as (g⁻¹·backᵀ)ᵀ: the element's own product.
        const dA = tf.transpose(els[k].invLeft(tf.transpose(back)));
        const delta = s.activation.kind === 'leakyRelu' ? tf.mul(dA, tf.step(moved[k], s.activation.alpha ?? 0.3)) : dA;
        if (k === 0) {
          terms.push(sumSq(tf.matMul(bottom.r, delta))); // ‖Hᵀ·δ‖², the bias column inside H
        } else {
          terms.push(movedTerm(k - 1, delta));
          if (s.inBias != null) terms.push(sumSq(tf.sum(delta, 0)));
        }
        deltaAbove = delta;
      }
      return tf.addN(terms) as Scalar;
    });

  // The check that makes "exact" a measured fact here: at θ = 0 the value must be the real ‖∇L‖². The
  // tolerance is the backend's: wasm's own gradient of the Fig. 4.6 MLP is 1.4e-4 off the cpu's (this
  // form is within 2.3e-6 of the cpu there), while a missing term or a wrong δ is far larger.
  const zeros = tf.tidy(() => ctx.actions.map(a => tf.zerosLike(a.init(() => 0))));
  const fast = tf.tidy(() => value(zeros).dataSync()[0]);
  const real =
    realAtW ??
    tf.tidy(() => {
      const grads = tf.grads((...ps: Tensor[]) => {
        const full = params.slice();
        ctx.touched.forEach((idx, j) => (full[idx] = ps[j]));
        return ctx.loss!(full);
      })(ctx.touched.map(i => params[i]));
      return tf.addN(grads.map(g => tf.sum(tf.square(g)))).dataSync()[0];
    });
  tf.dispose(zeros);
  if (!(Number.isFinite(fast) && Math.abs(fast - real) <= 1e-3 * Math.abs(real))) {
    tf.dispose(owned);
    return null;
  }
  return { value, dispose: () => tf.dispose(owned) };
}
