import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import type { Bijection } from '../problems/test_functions.js';
import type { SiteAction } from './types.js';
import { expm } from './linalg.js';

/**
 * SO(2) acting on a [2] parameter vector through a bijection: x' = φ⁻¹(R(θ)·φ(x)) (dissertation
 * eq. 4.7/4.10). Exact everywhere when L depends on ‖φ(x)‖ only (Rosenbrock, Booth, quadratics).
 * θ starts at a random angle in [0, π) as in the dissertation's Booth experiment, or at `initAngle`.
 */
export function so2(bijection: Bijection, opts: { where?: string; initAngle?: 'random' | number } = {}): SiteAction {
  return {
    group: 'so2',
    where: opts.where ?? 'parameter vector (2-d, through φ)',
    exactness: 'everywhere',
    touches: [0],
    init: random => tf.scalar(typeof opts.initAngle === 'number' ? opts.initAngle : Math.PI * random()),
    act: (params, theta) => {
      const u = bijection.forward(params[0] as Tensor1D);
      const c = tf.cos(theta);
      const s = tf.sin(theta);
      const u1 = tf.reshape(tf.slice(u, [0], [1]), []);
      const u2 = tf.reshape(tf.slice(u, [1], [1]), []);
      const rotated = tf.stack([tf.sub(tf.mul(c, u1), tf.mul(s, u2)), tf.add(tf.mul(s, u1), tf.mul(c, u2))]) as Tensor1D;
      return [bijection.inverse(rotated), ...params.slice(1)];
    },
  };
}

/**
 * SO(n) acting through a bijection: x' = φ⁻¹(Q·φ(x)) with Q = exp(S), S skew-symmetric from
 * n(n−1)/2 parameters (zeros = identity).
 */
export function orthogonal(bijection: Bijection, n: number, opts: { where?: string } = {}): SiteAction {
  const pairs: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push([i, j]);
  // S = Σ_k θ_k (e_i e_jᵀ − e_j e_iᵀ), as one matMul with a constant basis (differentiable in θ).
  const basis = new Float32Array(pairs.length * n * n);
  pairs.forEach(([i, j], k) => {
    basis[k * n * n + i * n + j] = 1;
    basis[k * n * n + j * n + i] = -1;
  });
  const skew = (theta: Tensor): Tensor2D =>
    tf.reshape(tf.matMul(tf.reshape(theta, [1, pairs.length]), tf.tensor2d(basis, [pairs.length, n * n])), [n, n]) as Tensor2D;
  return {
    group: 'on',
    where: opts.where ?? `parameter vector (${n}-d, through φ)`,
    exactness: 'everywhere',
    touches: [0],
    init: () => tf.zeros([pairs.length]),
    act: (params, theta) => {
      const u = bijection.forward(params[0] as Tensor1D);
      const q = expm(skew(theta));
      const rotated = tf.reshape(tf.matMul(q, tf.reshape(u, [n, 1])), [n]) as Tensor1D;
      return [bijection.inverse(rotated), ...params.slice(1)];
    },
  };
}
