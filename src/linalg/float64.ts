/**
 * Float64 linear algebra on plain arrays, for constants computed outside tfjs and as references in
 * tests. The decompositions come from ml-matrix (LU, SVD, symmetric eigendecomposition); these thin
 * wrappers take and return plain arrays (`number[][]`, or row-major `Float64Array`) so that callers
 * never depend on ml-matrix's types. Nothing here is differentiable: for tensors see ./tensor.ts.
 */
import { EigenvalueDecomposition, LuDecomposition, Matrix, SingularValueDecomposition } from 'ml-matrix';
import { checkExpmOptions, squarings, type ExpmOptions } from './expm_options.js';

/** A dense matrix as rows of numbers (float64). */
export type Matrix64 = number[][];

function checkRect(a: Matrix64, fn: string): { rows: number; cols: number } {
  const rows = a.length;
  const cols = rows > 0 ? a[0].length : 0;
  if (rows === 0 || cols === 0 || a.some(row => row.length !== cols)) {
    throw new Error(`tfjs-teleport: ${fn} needs a non-empty rectangular matrix (got ${rows} rows of lengths ${a.map(r => r.length).join(', ')})`);
  }
  return { rows, cols };
}

function checkSquare(a: Matrix64, fn: string): number {
  const { rows, cols } = checkRect(a, fn);
  if (rows !== cols) throw new Error(`tfjs-teleport: ${fn} needs a square matrix (got ${rows}×${cols})`);
  return rows;
}

/**
 * Inverse of a square matrix in float64, from ml-matrix's LU decomposition with partial pivoting.
 * Returns null when the matrix is numerically singular: a pivot of magnitude at most
 * n·1e-13·max|a_ij| (the test the earlier Gauss–Jordan code applied to the same pivots).
 *
 * Two forms: rows in, rows out; or a row-major flat array of n·n numbers with its size n.
 *
 * ```ts
 * invertNumbers([[2, 1], [1, 1]]); // [[1, -1], [-1, 2]]
 * invertNumbers(new Float64Array([2, 1, 1, 1]), 2); // Float64Array [1, -1, -1, 2]
 * ```
 */
export function invertNumbers(a: Matrix64): Matrix64 | null;
export function invertNumbers(a: Float64Array | number[], n: number): Float64Array | null;
export function invertNumbers(a: Matrix64 | Float64Array | number[], n?: number): Matrix64 | Float64Array | null {
  const flat = n != null;
  let m: Matrix;
  if (flat) {
    const values = a as Float64Array | number[];
    if (!Number.isInteger(n) || n < 1 || values.length !== n * n) {
      throw new Error(`tfjs-teleport: invertNumbers(a, n): a must hold n·n numbers (n = ${n}, got ${values.length})`);
    }
    m = new Matrix(n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, values[i * n + j]);
  } else {
    checkSquare(a as Matrix64, 'invertNumbers');
    m = new Matrix(a as Matrix64);
  }
  const size = m.rows;
  let scale = 0;
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) scale = Math.max(scale, Math.abs(m.get(i, j)));
  const tiny = Math.max(scale, 1e-300) * size * 1e-13;
  const lu = new LuDecomposition(m);
  const u = lu.upperTriangularMatrix;
  for (let j = 0; j < size; j++) if (Math.abs(u.get(j, j)) <= tiny) return null;
  const inv = lu.solve(Matrix.eye(size));
  if (!flat) return inv.to2DArray();
  const out = new Float64Array(size * size);
  for (let i = 0; i < size; i++) for (let j = 0; j < size; j++) out[i * size + j] = inv.get(i, j);
  return out;
}

/** Thin singular value decomposition A = U·diag(s)·Vᵀ of an [r, c] matrix, k = min(r, c). */
export interface Svd {
  /** [r, k], orthonormal columns. */
  u: Matrix64;
  /** k singular values, largest first, all ≥ 0. */
  s: number[];
  /** [c, k], orthonormal columns. */
  v: Matrix64;
}

/**
 * Thin SVD in float64 (ml-matrix's one-sided Golub–Kahan–Reinsch SVD; wide matrices are transposed
 * first). A = U·diag(s)·Vᵀ with s sorted largest first.
 *
 * ```ts
 * const { s } = svdNumbers([[3, 0], [0, -2], [0, 0]]); // [3, 2]
 * ```
 */
export function svdNumbers(a: Matrix64): Svd {
  const { rows, cols } = checkRect(a, 'svdNumbers');
  const k = Math.min(rows, cols);
  const d = new SingularValueDecomposition(new Matrix(a), { autoTranspose: true });
  const take = (m: Matrix, n: number) => Array.from({ length: n }, (_, i) => Array.from({ length: k }, (__, j) => m.get(i, j)));
  return { u: take(d.leftSingularVectors, rows), s: d.diagonal.slice(0, k), v: take(d.rightSingularVectors, cols) };
}

/** Options of {@link pinvNumbers}. */
export interface PinvOptions {
  /**
   * Singular values at most rcond·s_max are treated as zero (default max(r, c)·2⁻⁵², the LAPACK and
   * NumPy rule). Raise it to cut off noise, e.g. about 1e-7 for data that was float32.
   */
  rcond?: number;
}

/**
 * Moore–Penrose pseudo-inverse A⁺ ([c, r]) of any [r, c] matrix in float64, rank deficient or not,
 * from the SVD: A⁺ = V·diag(1/s)·Uᵀ over the singular values above the cutoff. It satisfies
 * A·A⁺·A = A, A⁺·A·A⁺ = A⁺, and A·A⁺, A⁺·A symmetric.
 *
 * ```ts
 * pinvNumbers([[1, 1], [1, 1]]); // [[0.25, 0.25], [0.25, 0.25]]
 * ```
 */
export function pinvNumbers(a: Matrix64, opts: PinvOptions = {}): Matrix64 {
  const { rows, cols } = checkRect(a, 'pinvNumbers');
  const rcond = opts.rcond ?? Math.max(rows, cols) * Number.EPSILON;
  if (!(rcond >= 0)) throw new Error(`tfjs-teleport: pinvNumbers: rcond must be ≥ 0 (got ${rcond})`);
  const { u, s, v } = svdNumbers(a);
  const cutoff = rcond * (s[0] ?? 0);
  const inv = s.map(x => (x > cutoff && x > 0 ? 1 / x : 0));
  const out: Matrix64 = Array.from({ length: cols }, () => new Array<number>(rows).fill(0));
  for (let k = 0; k < s.length; k++) {
    if (inv[k] === 0) continue;
    for (let i = 0; i < cols; i++) {
      const vik = v[i][k] * inv[k];
      if (vik === 0) continue;
      for (let j = 0; j < rows; j++) out[i][j] += vik * u[j][k];
    }
  }
  return out;
}

/** Eigendecomposition A = V·diag(values)·Vᵀ of a symmetric matrix. */
export interface SymmetricEigen {
  /** The n eigenvalues, smallest first. */
  values: number[];
  /** [n, n]; column k (vectors[i][k] over i) is the unit eigenvector of values[k]. */
  vectors: Matrix64;
}

/**
 * Eigendecomposition of a real symmetric matrix in float64 (ml-matrix: Householder tridiagonal
 * reduction and the implicit QL algorithm). Only the symmetry of A is assumed, not checked: the
 * lower triangle is what is read. Eigenvalues come sorted ascending, eigenvectors orthonormal.
 *
 * ```ts
 * const { values, vectors } = symmetricEigenNumbers([[2, 1], [1, 2]]); // values [1, 3]
 * ```
 */
export function symmetricEigenNumbers(a: Matrix64): SymmetricEigen {
  const n = checkSquare(a, 'symmetricEigenNumbers');
  const d = new EigenvalueDecomposition(new Matrix(a), { assumeSymmetric: true });
  const values = d.realEigenvalues;
  const vecs = d.eigenvectorMatrix;
  const order = values.map((_, k) => k).sort((p, q) => values[p] - values[q]);
  return {
    values: order.map(k => values[k]),
    vectors: Array.from({ length: n }, (_, i) => order.map(k => vecs.get(i, k))),
  };
}

/**
 * The same scaling-and-squaring exponential as {@link expm}, in float64 on plain arrays: a reference
 * for tests and for constants computed outside tfjs. ml-matrix (6.15) has no matrix exponential, so
 * the Taylor polynomial and the squarings are written here, with ml-matrix's products; checked in
 * test/linalg/linalg.test.ts against exp through {@link symmetricEigenNumbers} for symmetric matrices and
 * against closed-form rotations (agreement to ~1e-14).
 *
 * ```ts
 * const q = expmNumbers([[0, -Math.PI / 2], [Math.PI / 2, 0]]); // ≈ [[0, -1], [1, 0]]
 * ```
 */
export function expmNumbers(t: Matrix64, opts: ExpmOptions = {}): Matrix64 {
  const { degree, maxNorm } = checkExpmOptions(opts);
  const n = t.length;
  if (t.some(row => row.length !== n))
    throw new Error(`tfjs-teleport: expmNumbers needs a square matrix (got ${n} rows of lengths ${t.map(r => r.length).join(', ')})`);
  if (n === 0) return [];
  const m = new Matrix(t);
  const s = squarings(m.norm('frobenius'), maxNorm);
  const a = m.mul(2 ** -s);
  let term = Matrix.eye(n);
  const sum = Matrix.eye(n);
  for (let k = 1; k <= degree; k++) {
    term = term.mmul(a).div(k);
    sum.add(term);
  }
  let out = sum;
  for (let i = 0; i < s; i++) out = out.mmul(out);
  return out.to2DArray();
}
