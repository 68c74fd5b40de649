import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D } from '@tensorflow/tfjs-core';
import type { Bijection } from '../groups/so2.js';
import { symmetricEigenNumbers } from '../linalg/index.js';

/** The change of variables of a test function; defined with the group that acts through it. */
export type { Bijection };

/**
 * A test function of a parameter vector, with the bijection that reveals its rotational symmetry.
 * For every function in this module, `loss(x)` equals ‖bijection.forward(x)‖² exactly (constant
 * factor 1).
 */
export interface TestFunction {
  /** 'rosenbrock', 'booth' or 'quadratic'. */
  name: string;
  /** Length of the parameter vector. */
  dim: number;
  /** L(x) for a [dim] tensor, as a scalar tensor (second-order differentiable); equals ‖φ(x)‖². */
  loss(x: Tensor1D): Scalar;
  /** L at a plain point, in float64: for plotting level sets and as a reference in tests. */
  lossAt(x: number[]): number;
  /** The change of variables in which L = ‖u‖². */
  bijection: Bijection;
  /** The global minimizer (L = 0 there). */
  minimum: number[];
  /** Starting point used by the dissertation's experiments (§4.6.1), or minimum + 1 for quadratics. */
  defaultStart: number[];
}

/** Entry i of a [n] tensor as a scalar tensor (slice + reshape: differentiable to any order). */
const pick = (x: Tensor1D, i: number) => tf.reshape(tf.slice(x, [i], [1]), []);

/**
 * The 2-d Rosenbrock function L = 100(x₁² − x₂)² + (x₁ − 1)² (dissertation eq. 4.3), minimum 0 at
 * (1, 1), start (−1, −1). Bijection (eq. 4.6): u = φ(x) = (10(x₁² − x₂), x₁ − 1), so L = ‖u‖², and
 * x = φ⁻¹(u) = (u₂ + 1, (u₂ + 1)² − 0.1·u₁).
 *
 * φ⁻¹ squares a coordinate: far from the valley (|x₁| ≫ 1) float32 cancellation in x₂ limits the
 * round-trip accuracy to about (x₁)²·1e-7 absolute.
 *
 * ```ts
 * const l = rosenbrock.loss(tf.tensor1d([-1, -1])); // 404
 * ```
 */
export const rosenbrock: TestFunction = {
  name: 'rosenbrock',
  dim: 2,
  loss: x =>
    tf.tidy(() => {
      const x1 = pick(x, 0);
      const x2 = pick(x, 1);
      return tf.add(tf.mul(100, tf.square(tf.sub(tf.square(x1), x2))), tf.square(tf.sub(x1, 1))) as Scalar;
    }),
  lossAt: ([a, b]) => 100 * (a * a - b) ** 2 + (a - 1) ** 2,
  bijection: {
    forward: x =>
      tf.tidy(() => {
        const x1 = pick(x, 0);
        const x2 = pick(x, 1);
        return tf.stack([tf.mul(10, tf.sub(tf.square(x1), x2)), tf.sub(x1, 1)]) as Tensor1D;
      }),
    inverse: u =>
      tf.tidy(() => {
        const u1 = pick(u, 0);
        const a = tf.add(pick(u, 1), 1);
        return tf.stack([a, tf.sub(tf.square(a), tf.mul(0.1, u1))]) as Tensor1D;
      }),
  },
  minimum: [1, 1],
  defaultStart: [-1, -1],
};

/**
 * The Booth function L = (x₁ + 2x₂ − 7)² + (2x₁ + x₂ − 5)² (dissertation eq. 4.4), minimum 0 at
 * (1, 3), start (5, −5). Bijection: u = φ(x) = (x₁ + 2x₂ − 7, 2x₁ + x₂ − 5), so L = ‖u‖², with the
 * exact inverse of eq. 4.9, x = (−u₁/3 + 2u₂/3 + 1, 2u₁/3 − u₂/3 + 3).
 *
 * ```ts
 * const l = booth.loss(tf.tensor1d([5, -5])); // 520
 * ```
 */
export const booth: TestFunction = {
  name: 'booth',
  dim: 2,
  loss: x => tf.tidy(() => tf.sum(tf.square(booth.bijection.forward(x))) as Scalar),
  lossAt: ([a, b]) => (a + 2 * b - 7) ** 2 + (2 * a + b - 5) ** 2,
  bijection: {
    forward: x =>
      tf.tidy(() => {
        const x1 = pick(x, 0);
        const x2 = pick(x, 1);
        return tf.stack([tf.sub(tf.add(x1, tf.mul(2, x2)), 7), tf.sub(tf.add(tf.mul(2, x1), x2), 5)]) as Tensor1D;
      }),
    inverse: u =>
      tf.tidy(() => {
        const u1 = pick(u, 0);
        const u2 = pick(u, 1);
        return tf.stack([tf.add(tf.add(tf.mul(-1 / 3, u1), tf.mul(2 / 3, u2)), 1), tf.add(tf.sub(tf.mul(2 / 3, u1), tf.mul(1 / 3, u2)), 3)]) as Tensor1D;
      }),
  },
  minimum: [1, 3],
  defaultStart: [5, -5],
};

/**
 * A positive-definite quadratic of any dimension n, L = ½(x − b)ᵀA(x − b), minimum 0 at b (default
 * the origin), start b + 1.
 *
 * Bijection: u = φ(x) = (A/2)^{1/2}(x − b), x = φ⁻¹(u) = (A/2)^{−1/2}u + b, so L = ‖u‖² exactly
 * (the same constant factor 1 as Rosenbrock and Booth). In terms of the symmetric square root of A
 * itself this is u = A^{1/2}(x − b)/√2, i.e. L = ½‖A^{1/2}(x − b)‖²; the scale does not change the
 * symmetry, since rotations commute with it. The symmetric square root and its inverse are computed
 * once, in float64, from the eigen-decomposition A = V·diag(w)·Vᵀ (`symmetricEigenNumbers`):
 * (A/2)^{±1/2} = V·diag((w/2)^{±1/2})·Vᵀ; each call of `forward`/`inverse` applies them as constant
 * float32 tensors with one matMul.
 *
 * Throws if A is not square, not symmetric or not positive definite, or if b has the wrong length.
 *
 * ```ts
 * const q = quadratic([[3, 1], [1, 2]], [1, -1]);
 * q.loss(tf.tensor1d([2, 0])); // ½·[1, 1]·A·[1, 1]ᵀ = 3.5
 * ```
 */
export function quadratic(a: number[][], b?: number[]): TestFunction {
  const n = a.length;
  if (n === 0 || a.some(row => row.length !== n)) {
    throw new Error(`tfjs-teleport: quadratic(A): A must be a non-empty square matrix (got ${n} rows of lengths ${a.map(r => r.length).join(', ')})`);
  }
  if (a.some(row => row.some(v => !Number.isFinite(v)))) throw new Error('tfjs-teleport: quadratic(A): A has a non-finite entry');
  const center = b ?? new Array<number>(n).fill(0);
  if (center.length !== n || center.some(v => !Number.isFinite(v))) {
    throw new Error(`tfjs-teleport: quadratic(A, b): b must be ${n} finite numbers (got [${center.join(', ')}])`);
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (Math.abs(a[i][j] - a[j][i]) > 1e-12 * (1 + Math.abs(a[i][j])))
        throw new Error(`tfjs-teleport: quadratic(A): A must be symmetric (A[${i}][${j}] ≠ A[${j}][${i}])`);
    }
  }
  const { values, vectors } = symmetricEigenNumbers(a);
  const largest = Math.max(...values.map(Math.abs));
  if (values.some(w => !(w > 1e-14 * largest))) {
    throw new Error(`tfjs-teleport: quadratic(A): A must be positive definite (eigenvalues ${values.map(w => w.toPrecision(4)).join(', ')})`);
  }
  const root = (pow: number) =>
    Array.from({ length: n }, (_, i) =>
      Array.from({ length: n }, (__, j) => {
        let s = 0;
        for (let k = 0; k < n; k++) s += vectors[i][k] * (values[k] / 2) ** pow * vectors[j][k];
        return s;
      }),
    );
  const s = root(0.5);
  const sInv = root(-0.5);
  const lossAt = (x: number[]) => {
    let total = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) total += 0.5 * (x[i] - center[i]) * a[i][j] * (x[j] - center[j]);
    return total;
  };
  // Constants are made inside each call's tidy scope: nothing outlives a call, on any backend.
  const mv = (m: number[][], x: Tensor1D) => tf.reshape(tf.matMul(tf.tensor2d(m), tf.reshape(x, [n, 1])), [n]) as Tensor1D;
  const bijection: Bijection = {
    forward: x => tf.tidy(() => mv(s, tf.sub(x, tf.tensor1d(center)) as Tensor1D)),
    inverse: u => tf.tidy(() => tf.add(mv(sInv, u), tf.tensor1d(center)) as Tensor1D),
  };
  return {
    name: 'quadratic',
    dim: n,
    loss: x => tf.tidy(() => tf.sum(tf.square(bijection.forward(x))) as Scalar),
    lossAt,
    bijection,
    minimum: center.slice(),
    defaultStart: center.map(c => c + 1),
  };
}
