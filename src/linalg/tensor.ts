import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';
import { invertNumbers } from './float64.js';

/**
 * Moore–Penrose pseudo-inverse of a full-rank [r, c] matrix, computed in float64 on the CPU:
 * Aᵀ(AAᵀ)⁻¹ when r ≤ c (a right inverse: A·A⁺ = I), (AᵀA)⁻¹Aᵀ otherwise. A constant (no gradient).
 * Throws when A is rank deficient (the Gram matrix has a pivot below k·1e-13 of its largest entry,
 * see {@link invertNumbers}), naming the shape; for a rank-deficient matrix use `pinvNumbers`.
 *
 * The normal equations (Gram matrix assembled here, inverted by ml-matrix's LU), not ml-matrix's SVD
 * pseudo-inverse, on purpose; measured by bench/linalg_pinv.ts (Node 20, ml-matrix 6.15.1): the SVD
 * takes 3–5× as long at 20×785 and 128×785 (H = [batch, inputs + 1] as gl-data builds it; the ratio
 * varies by run).
 * The Gram matrix squares the condition number κ, yet the float32 result is as close to the float64
 * SVD pseudo-inverse as that one rounded to float32 (relative error 4e-8 at κ = 1e2…1e5; 7e-6 at
 * κ = 1e6, where rounding the SVD result gives 4e-8), and at every κ measured far below κ·2⁻²⁴, the error
 * that float32 rounding of A itself already puts into A⁺.
 */
export function pinvConstant(a: Tensor2D): Tensor2D {
  const [r, c] = a.shape;
  const v = a.dataSync();
  const wide = r <= c;
  const k = wide ? r : c;
  // Gram matrix in float64.
  const gram = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let s = 0;
      if (wide) for (let t = 0; t < c; t++) s += v[i * c + t] * v[j * c + t];
      else for (let t = 0; t < r; t++) s += v[t * c + i] * v[t * c + j];
      gram[i * k + j] = s;
      gram[j * k + i] = s;
    }
  }
  const inv = invertNumbers(gram, k);
  if (inv == null) throw new Error(`tfjs-teleport: pseudo-inverse of a ${r}×${c} matrix failed: it is rank deficient`);
  const out = new Float32Array(c * r); // A⁺ is [c, r]
  if (wide) {
    // A⁺ = Aᵀ·inv: out[t][i] = Σ_j A[j][t]·inv[j][i]
    for (let t = 0; t < c; t++)
      for (let i = 0; i < r; i++) {
        let s = 0;
        for (let j = 0; j < r; j++) s += v[j * c + t] * inv[j * r + i];
        out[t * r + i] = s;
      }
  } else {
    // A⁺ = inv·Aᵀ: out[i][t] = Σ_j inv[i][j]·A[t][j]
    for (let i = 0; i < c; i++)
      for (let t = 0; t < r; t++) {
        let s = 0;
        for (let j = 0; j < c; j++) s += inv[i * c + j] * v[t * c + j];
        out[i * r + t] = s;
      }
  }
  return tf.tensor2d(out, [c, r]);
}

/**
 * Differentiable inverse of a square matrix: forward in float64 on the CPU (ml-matrix's LU, through
 * {@link invertNumbers}), backward by d(X⁻¹) = −X⁻¹·dX·X⁻¹, i.e. ∂/∂X = −X⁻ᵀ·dY·X⁻ᵀ. A singular
 * input gives NaNs (the teleport solver treats those as an abort).
 */
export const inverse: (x: Tensor2D) => Tensor2D = tf.customGrad(((x: Tensor2D, save: tf.GradSaveFunc) => {
  const n = x.shape[0];
  const inv = invertNumbers(Float64Array.from(x.dataSync()), n);
  const value = inv == null ? (tf.fill([n, n], NaN) as Tensor2D) : tf.tensor2d(Float32Array.from(inv), [n, n]);
  save([value]);
  return {
    value,
    gradFunc: (dy: Tensor2D, saved: tf.Tensor[]) => {
      const invT = tf.transpose(saved[0]);
      return tf.neg(tf.matMul(tf.matMul(invT, dy), invT));
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor2D) => Tensor2D;

/** Differentiable pseudo-inverse of a full-rank matrix through {@link inverse}. */
export function pinv(a: Tensor2D): Tensor2D {
  const [r, c] = a.shape;
  if (r <= c) return tf.matMul(a, inverse(tf.matMul(a, a, false, true) as Tensor2D), true, false) as Tensor2D;
  return tf.matMul(inverse(tf.matMul(a, a, true, false) as Tensor2D), a, false, true) as Tensor2D;
}
