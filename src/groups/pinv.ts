import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';

/**
 * Inverse of a square matrix in float64 by Gauss–Jordan elimination with partial pivoting.
 * Returns null when the matrix is numerically singular.
 */
export function invertNumbers(a: Float64Array | number[], n: number): Float64Array | null {
  const m = new Float64Array(n * 2 * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) m[i * 2 * n + j] = a[i * n + j];
    m[i * 2 * n + n + i] = 1;
  }
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]));
  const tiny = Math.max(scale, 1e-300) * n * 1e-13;
  const w = 2 * n;
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r * w + col]) > Math.abs(m[pivot * w + col])) pivot = r;
    if (Math.abs(m[pivot * w + col]) <= tiny) return null;
    if (pivot !== col) {
      for (let j = 0; j < w; j++) {
        const t = m[col * w + j];
        m[col * w + j] = m[pivot * w + j];
        m[pivot * w + j] = t;
      }
    }
    const inv = 1 / m[col * w + col];
    for (let j = 0; j < w; j++) m[col * w + j] *= inv;
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r * w + col];
      if (f === 0) continue;
      for (let j = 0; j < w; j++) m[r * w + j] -= f * m[col * w + j];
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = m[i * w + n + j];
  return out;
}

/**
 * Moore–Penrose pseudo-inverse of a full-rank [r, c] matrix, computed in float64 on the CPU:
 * Aᵀ(AAᵀ)⁻¹ when r ≤ c (a right inverse: A·A⁺ = I), (AᵀA)⁻¹Aᵀ otherwise. A constant (no gradient).
 * Throws when A is rank deficient, naming the shape.
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
    for (let t = 0; t < c; t++) for (let i = 0; i < r; i++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += v[j * c + t] * inv[j * r + i];
      out[t * r + i] = s;
    }
  } else {
    // A⁺ = inv·Aᵀ: out[i][t] = Σ_j inv[i][j]·A[t][j]
    for (let i = 0; i < c; i++) for (let t = 0; t < r; t++) {
      let s = 0;
      for (let j = 0; j < c; j++) s += inv[i * c + j] * v[t * c + j];
      out[i * r + t] = s;
    }
  }
  return tf.tensor2d(out, [c, r]);
}

/**
 * Differentiable inverse of a square matrix: forward in float64 on the CPU, backward by
 * d(X⁻¹) = −X⁻¹·dX·X⁻¹, i.e. ∂/∂X = −X⁻ᵀ·dY·X⁻ᵀ. A singular input gives NaNs (the teleport
 * solver treats those as an abort).
 */
export const inverse: (x: Tensor2D) => Tensor2D = tf.customGrad(((x: Tensor2D, save: tf.GradSaveFunc) => {
  const n = x.shape[0];
  const inv = invertNumbers(Float64Array.from(x.dataSync()), n);
  const value = inv == null ? tf.fill([n, n], NaN) as Tensor2D : tf.tensor2d(Float32Array.from(inv), [n, n]);
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
