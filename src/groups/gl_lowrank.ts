import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { expmPair } from '../linalg/expm.js';
import { taylorDegreeFor } from '../linalg/expm_options.js';
import { derivedRandom, gaussian } from '../core/random.js';

/** The Euclidean norm by a loop (Math.hypot(...v) spreads h arguments: slow for long vectors). */
const norm2 = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
};

/**
 * An orthonormal h×r basis V (float32; float64 Gram–Schmidt): the given `start` columns (orthonormalized,
 * dependent ones dropped) completed by directions drawn from a stream derived from `keys`, so the same
 * keys give the same basis on every backend.
 *
 * ```ts
 * const v = lowRankBasis(512, 8, [siteIndex]); // [512, 8]
 * ```
 */
export function lowRankBasis(h: number, r: number, keys: readonly number[], start: readonly ArrayLike<number>[] = []): Tensor2D {
  if (!Number.isInteger(r) || r < 1 || r > h) throw new Error(`tfjs-teleport: lowRankBasis needs 1 ≤ r ≤ h (${h}), got ${r}`);
  const random = derivedRandom(0x6c72, h, r, ...keys).source;
  const cols: Float64Array[] = [];
  const add = (c: Float64Array) => {
    const norm0 = norm2(c);
    // Two passes of modified Gram–Schmidt: orthogonal to float64 round-off even for r close to h.
    for (let pass = 0; pass < 2; pass++) {
      for (const q of cols) {
        let dot = 0;
        for (let i = 0; i < h; i++) dot += q[i] * c[i];
        for (let i = 0; i < h; i++) c[i] -= dot * q[i];
      }
    }
    const norm = norm2(c);
    if (norm > 1e-6 * norm0 && norm > 0) cols.push(c.map(x => x / norm)); // else (numerically) inside the span
  };
  for (const c of start) if (cols.length < r) add(Float64Array.from(c));
  while (cols.length < r) add(Float64Array.from({ length: h }, () => gaussian(random)));
  const out = new Float32Array(h * r);
  for (let j = 0; j < r; j++) for (let i = 0; i < h; i++) out[i * r + j] = cols[j][i];
  return tf.tensor2d(out, [h, r]);
}

/**
 * The rank-r element of GL(h) with fixed orthonormal basis V (h×r) and parameter θ (h×r):
 * g = I + U·Vᵀ, g⁻¹ = I + U⁻·Vᵀ, with A = Vᵀθ (r×r), W = θ − V·A (the part of θ orthogonal to V) and
 * U = V·(e^A − I) + W, U⁻ = V·(e^{−A} − I) − W·e^{−A}.
 * In the basis [V, V⊥] g is block lower triangular, [[e^A, 0], [V⊥ᵀ·W, I]], so its inverse needs only
 * the r×r exponential pair (exact inverse, no solve; Woodbury's I − U(I + VᵀU)⁻¹Vᵀ with I + VᵀU = e^A).
 * The elements I + U·Vᵀ for one V form a subgroup of GL(h) of dimension h·r; θ = 0 is the identity, and
 * g = I + θ·Vᵀ to first order, so a gradient in θ is never zero where the dense one is not along V.
 * Differentiable in θ; cost O(h·r²) plus the r×r series, against O(h³) for a dense exp(θ).
 *
 * ```ts
 * const { u, uInv } = lowRankGlElement(theta, v); // g = I + u·vᵀ, g⁻¹ = I + uInv·vᵀ
 * ```
 */
export function lowRankGlElement(theta: Tensor, basis: Tensor2D): { u: Tensor2D; uInv: Tensor2D } {
  return tf.tidy(() => {
    const t = theta as Tensor2D;
    const a = tf.matMul(basis, t, true, false) as Tensor2D; // r×r
    const w = tf.sub(t, tf.matMul(basis, a)) as Tensor2D;
    // A short A (an ascent step's) needs a low Taylor degree: fewer tiny kernels per evaluation.
    const { pos, neg } = expmPair(a, { degree: taylorDegreeFor(tf.norm(a).dataSync()[0]) });
    const eye = tf.eye(a.shape[0]);
    const u = tf.add(tf.matMul(basis, tf.sub(pos, eye) as Tensor2D), w) as Tensor2D;
    const uInv = tf.sub(tf.matMul(basis, tf.sub(neg, eye) as Tensor2D), tf.matMul(w, neg)) as Tensor2D;
    return { u, uInv };
  });
}

/** How an element acts by products: m·g and g⁻¹·m, never forming g. */
export interface LowRankProducts {
  /** m·g for m (n×h). */
  right(m: Tensor2D): Tensor2D;
  /** g⁻¹·m for m (h×k). */
  invLeft(m: Tensor2D): Tensor2D;
}

/**
 * The products of the rank-r element of θ with basis V on one side: 'row' is g = I + U·Vᵀ (g − I maps
 * into any direction but reads only V), 'col' its transpose g = I + V·Uᵀ (g − I maps into V only),
 * with U, U⁻ from {@link lowRankGlElement}. Each product costs O(r·(rows + cols)·h); differentiable in θ.
 *
 * ```ts
 * const { right, invLeft } = lowRankProducts(theta, v, 'col'); // right(a) = a·g, invLeft(w) = g⁻¹·w
 * ```
 */
export function lowRankProducts(theta: Tensor, basis: Tensor2D, side: 'row' | 'col'): LowRankProducts {
  const { u, uInv } = lowRankGlElement(theta, basis);
  if (side === 'row') {
    return {
      right: m => tf.add(m, tf.matMul(tf.matMul(m, u), basis, false, true)) as Tensor2D,
      invLeft: m => tf.add(m, tf.matMul(uInv, tf.matMul(basis, m, true, false))) as Tensor2D,
    };
  }
  return {
    right: m => tf.add(m, tf.matMul(tf.matMul(m, basis), u, false, true)) as Tensor2D,
    invLeft: m => tf.add(m, tf.matMul(basis, tf.matMul(uInv, m, true, false))) as Tensor2D,
  };
}
