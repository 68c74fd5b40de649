/**
 * Small dense float64 kernels on row-major `Float64Array`s (plain loops in i-k-j order), for the
 * h×h work of GL teleports. Nothing here allocates tensors.
 */
import { symmetricEigenNumbers } from './float64.js';

/**
 * C = op(A)·op(B) for row-major A, B; `ta`/`tb` transpose them. Shapes: op(A) is [m, k], op(B) is [k, n].
 *
 * ```ts
 * matMul64(Float64Array.of(1, 2, 3, 4), Float64Array.of(1, 0, 0, 1), 2, 2, 2); // [1, 2, 3, 4]
 * ```
 */
export function matMul64(a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta = false, tb = false): Float64Array {
  const c = new Float64Array(m * n);
  const bt = tb ? transpose64(b, n, k) : b; // now [k, n]
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const x = ta ? a[p * m + i] : a[i * k + p];
      if (x === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j] += x * bt[bp + j];
    }
  }
  return c;
}

/** The transpose of a row-major [rows, cols] matrix. */
export function transpose64(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/** Q·diag(d)·Qᵀ for a row-major [n, n] Q. */
export function scaledOuter64(q: Float64Array, d: Float64Array, n: number): Float64Array {
  const qd = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qd[i * n + j] = q[i * n + j] * d[j];
  return matMul64(qd, q, n, n, n, false, true);
}

/**
 * Eigendecomposition of a symmetric row-major [n, n] matrix: A = Q·diag(values)·Qᵀ, Q row-major with
 * eigenvectors as columns (float64, via {@link symmetricEigenNumbers}).
 */
export function symEig64(a: Float64Array, n: number): { values: Float64Array; q: Float64Array } {
  const rows = Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, (i + 1) * n)));
  const { values, vectors } = symmetricEigenNumbers(rows);
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) q[i * n + j] = vectors[i][j];
  return { values: Float64Array.from(values), q };
}
