/**
 * Small dense float64 kernels on row-major `Float64Array`s (plain loops in i-k-j order), for the
 * h×h work of GL teleports. Nothing here allocates tensors.
 */

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

/**
 * The transpose of a row-major [rows, cols] matrix.
 *
 * ```ts
 * transpose64(Float64Array.of(1, 2, 3, 4, 5, 6), 2, 3); // [1, 4, 2, 5, 3, 6]
 * ```
 */
export function transpose64(a: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/**
 * Q·diag(d)·Qᵀ for a row-major [n, n] Q (an eigendecomposition put back together, or a function of
 * a symmetric matrix: exp(θ) = Q·diag(e^λ)·Qᵀ).
 *
 * ```ts
 * scaledOuter64(Float64Array.of(1, 0, 0, 1), Float64Array.of(2, 3), 2); // [2, 0, 0, 3]
 * ```
 */
export function scaledOuter64(q: Float64Array, d: Float64Array, n: number): Float64Array {
  const qd = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qd[i * n + j] = q[i * n + j] * d[j];
  return matMul64(qd, q, n, n, n, false, true);
}

/**
 * Eigendecomposition of a symmetric row-major [n, n] matrix: A = Q·diag(values)·Qᵀ, Q row-major with
 * the unit eigenvectors as columns, values in no particular order. Householder reduction to
 * tridiagonal form, then the implicit QL iteration with Wilkinson-free shifts (the EISPACK tred2/tql2
 * scheme), on flat Float64Arrays: several times faster than the same algorithm on nested arrays.
 * Only the lower triangle's symmetry is assumed. Checked against {@link symmetricEigenNumbers}
 * (ml-matrix) in test/solvers/gl_gram.test.ts.
 *
 * ```ts
 * const { values, q } = symEig64(Float64Array.of(2, 1, 1, 2), 2); // values {1, 3}
 * ```
 */
export function symEig64(a: Float64Array, n: number): { values: Float64Array; q: Float64Array } {
  if (a.length !== n * n) throw new Error(`tfjs-teleport: symEig64 needs n·n = ${n * n} numbers, got ${a.length}`);
  const v = Float64Array.from(a); // V[i][j] = v[i * n + j]
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(v, d, e, n);
  // The QL sweeps rotate pairs of V's columns: work on Vᵀ so that they are contiguous rows.
  const w = transpose64(v, n, n);
  qlImplicit(w, d, e, n);
  return { values: d, q: transpose64(w, n, n) };
}

function tridiagonalize(v: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) d[j] = v[(n - 1) * n + j];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[(i - 1) * n + j];
        v[i * n + j] = 0;
        v[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[j * n + i] = f;
        g = e[j] + v[j * n + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[k * n + j] * d[k];
          e[k] += v[k * n + j] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) v[k * n + j] -= f * e[k] + g * d[k];
        d[j] = v[(i - 1) * n + j];
        v[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  // Accumulate the transformations.
  for (let i = 0; i < n - 1; i++) {
    v[(n - 1) * n + i] = v[i * n + i];
    v[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[k * n + i + 1] / h;
      for (let j = 0; j <= i; j++) {
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[k * n + i + 1] * v[k * n + j];
        for (let k = 0; k <= i; k++) v[k * n + j] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[(n - 1) * n + j];
    v[(n - 1) * n + j] = 0;
  }
  v[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e); w holds Vᵀ (row i = eigenvector i at the end). */
function qlImplicit(w: Float64Array, d: Float64Array, e: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n) {
      if (Math.abs(e[m]) <= eps * tst1) break;
      m++;
    }
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new Error('tfjs-teleport: symEig64 did not converge (non-finite or non-symmetric input?)');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const ri = i * n;
          const rj = (i + 1) * n;
          for (let k = 0; k < n; k++) {
            const x = w[rj + k];
            w[rj + k] = s * w[ri + k] + c * x;
            w[ri + k] = c * w[ri + k] - s * x;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}
