import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor1D } from '@tensorflow/tfjs-core';

/**
 * A change of variables u = φ(x) in which the loss is a function of ‖u‖ only, so every rotation of u
 * leaves it unchanged (dissertation Prop. 4.4.1). Both maps are built from ops with second
 * derivatives in tfjs.
 */
export interface Bijection {
  forward(x: Tensor1D): Tensor1D;
  inverse(u: Tensor1D): Tensor1D;
}

/** A test function of a parameter vector, with the bijection that reveals its rotational symmetry. */
export interface TestFunction {
  name: string;
  dim: number;
  /** L(x) for a [dim] tensor; equals ‖φ(x)‖² (see `bijection`). */
  loss(x: Tensor1D): Scalar;
  /** L at a plain point, for plotting level sets. */
  lossAt(x: number[]): number;
  bijection: Bijection;
  minimum: number[];
  defaultStart: number[];
}

const pick = (x: Tensor1D, i: number) => tf.reshape(tf.slice(x, [i], [1]), []);

/**
 * Rosenbrock, L = 100(x₁² − x₂)² + (x₁ − 1)² (eq. 4.3), with u = (10(x₁² − x₂), x₁ − 1) so L = ‖u‖² and
 * x = (u₂ + 1, (u₂ + 1)² − 0.1·u₁) (eq. 4.6).
 */
export const rosenbrock: TestFunction = {
  name: 'rosenbrock',
  dim: 2,
  loss: x => tf.tidy(() => {
    const x1 = pick(x, 0);
    const x2 = pick(x, 1);
    return tf.add(tf.mul(100, tf.square(tf.sub(tf.square(x1), x2))), tf.square(tf.sub(x1, 1))) as Scalar;
  }),
  lossAt: ([a, b]) => 100 * (a * a - b) ** 2 + (a - 1) ** 2,
  bijection: {
    forward: x => tf.tidy(() => {
      const x1 = pick(x, 0);
      const x2 = pick(x, 1);
      return tf.stack([tf.mul(10, tf.sub(tf.square(x1), x2)), tf.sub(x1, 1)]) as Tensor1D;
    }),
    inverse: u => tf.tidy(() => {
      const u1 = pick(u, 0);
      const a = tf.add(pick(u, 1), 1);
      return tf.stack([a, tf.sub(tf.square(a), tf.mul(0.1, u1))]) as Tensor1D;
    }),
  },
  minimum: [1, 1],
  defaultStart: [-1, -1],
};

/**
 * Booth, L = (x₁ + 2x₂ − 7)² + (2x₁ + x₂ − 5)² (eq. 4.4), with u = (x₁ + 2x₂ − 7, 2x₁ + x₂ − 5) so
 * L = ‖u‖², and its exact inverse (eq. 4.9).
 */
export const booth: TestFunction = {
  name: 'booth',
  dim: 2,
  loss: x => tf.tidy(() => tf.sum(tf.square(booth.bijection.forward(x))) as Scalar),
  lossAt: ([a, b]) => (a + 2 * b - 7) ** 2 + (2 * a + b - 5) ** 2,
  bijection: {
    forward: x => tf.tidy(() => {
      const x1 = pick(x, 0);
      const x2 = pick(x, 1);
      return tf.stack([tf.sub(tf.add(x1, tf.mul(2, x2)), 7), tf.sub(tf.add(tf.mul(2, x1), x2), 5)]) as Tensor1D;
    }),
    inverse: u => tf.tidy(() => {
      const u1 = pick(u, 0);
      const u2 = pick(u, 1);
      return tf.stack([
        tf.add(tf.add(tf.mul(-1 / 3, u1), tf.mul(2 / 3, u2)), 1),
        tf.add(tf.sub(tf.mul(2 / 3, u1), tf.mul(1 / 3, u2)), 3),
      ]) as Tensor1D;
    }),
  },
  minimum: [1, 3],
  defaultStart: [5, -5],
};

/** Symmetric eigen-decomposition by cyclic Jacobi rotations (float64): A = V·diag(w)·Vᵀ. */
function jacobiEigen(a: number[][]): { values: number[]; vectors: number[][] } {
  const n = a.length;
  const m = a.map(r => r.slice());
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i][j] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p][q]) < 1e-300) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k][p];
          const mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq;
          m[k][q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p][k];
          const mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk;
          m[q][k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p];
          const vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: m.map((r, i) => r[i]), vectors: v };
}

/**
 * A positive-definite quadratic L = ½(x − b)ᵀA(x − b), with u = (A/2)^{1/2}(x − b) so L = ‖u‖²: any
 * rotation of u keeps L. Throws if A is not symmetric positive definite.
 */
export function quadratic(a: number[][], b?: number[]): TestFunction {
  const n = a.length;
  const center = b ?? new Array(n).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    if (Math.abs(a[i][j] - a[j][i]) > 1e-12 * (1 + Math.abs(a[i][j]))) throw new Error('tfjs-teleport: quadratic(A): A must be symmetric');
  }
  const { values, vectors } = jacobiEigen(a);
  if (values.some(w => w <= 0)) throw new Error('tfjs-teleport: quadratic(A): A must be positive definite');
  const root = (pow: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => {
    let s = 0;
    for (let k = 0; k < n; k++) s += vectors[i][k] * Math.pow(values[k] / 2, pow) * vectors[j][k];
    return s;
  }));
  const s = root(0.5);
  const sInv = root(-0.5);
  const lossAt = (x: number[]) => {
    let total = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) total += 0.5 * (x[i] - center[i]) * a[i][j] * (x[j] - center[j]);
    return total;
  };
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
