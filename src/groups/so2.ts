import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import type { SiteAction } from './types.js';
import { expm } from '../linalg/index.js';

/**
 * A change of variables u = φ(x) in which a test function's loss is a function of ‖u‖ only, so every
 * rotation R of u leaves it unchanged and g·x = φ⁻¹(R·φ(x)) is an exact symmetry (dissertation
 * Prop. 4.4.1). Both maps take and return [dim] float32 tensors and are built from ops whose second
 * derivatives tfjs can take (slice, reshape, stack, add, sub, mul, square, matMul), so
 * ‖∇L(g·x)‖² can be differentiated in the group parameters by nested `tf.grad`.
 */
export interface Bijection {
  /** u = φ(x). */
  forward(x: Tensor1D): Tensor1D;
  /** x = φ⁻¹(u); φ⁻¹(φ(x)) = x up to float32 round-off. */
  inverse(u: Tensor1D): Tensor1D;
}

/** Options of {@link so2}. */
export interface So2Options {
  /** Label for reports and errors (default: "parameter vector (2-d, through φ)"). */
  where?: string;
  /**
   * Starting angle θ₀ of the ascent: `'random'` (default) draws it uniformly in [0, π) from the
   * teleport's seeded stream, as in the dissertation's Booth experiment (§4.6.1); a number starts
   * there (0 is the identity).
   */
  initAngle?: 'random' | number;
}

function checkVector(x: Tensor | undefined, n: number, group: string): Tensor1D {
  if (x == null || x.size !== n) {
    throw new Error(
      `tfjs-teleport: ${group} acts on a parameter vector of ${n} numbers (params[0]), got ${x == null ? 'nothing' : `shape [${x.shape.join(', ')}]`}`,
    );
  }
  return (x.rank === 1 ? x : tf.reshape(x, [n])) as Tensor1D;
}

/**
 * SO(2) acting on a 2-d parameter vector (params[0]) through a bijection u = φ(x):
 * x' = φ⁻¹(R(θ)·φ(x)), R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]] (dissertation eq. 4.7 / 4.10).
 * Exact everywhere when L is a function of ‖φ(x)‖ (Rosenbrock, Booth, 2-d quadratics in
 * `problems/`). θ is a scalar tensor; `act` is differentiable in θ to second order (cos, sin, mul,
 * add and the bijection's ops), so the solver can maximize ‖∇L(g·x)‖² by nested autodiff.
 *
 * No `transportGradient`: ∇L(g·x) = J_g(x)⁻ᵀ·∇L(x) needs the point x itself (J_g depends on x for a
 * nonlinear φ such as Rosenbrock's), and {@link SiteAction.transportGradient} receives only the
 * gradient and θ. The solver therefore evaluates ∇L at g·x by autodiff (the 'evaluate' route).
 *
 * ```ts
 * const x = tf.variable(tf.tensor1d([5, -5]));
 * await tp.teleport([x], ([p]) => booth.loss(p as tf.Tensor1D), { group: so2(booth.bijection) });
 * ```
 */
export function so2(bijection: Bijection, opts: So2Options = {}): SiteAction {
  const initAngle = opts.initAngle ?? 'random';
  if (initAngle !== 'random' && !(typeof initAngle === 'number' && Number.isFinite(initAngle))) {
    throw new Error(`tfjs-teleport: so2: initAngle must be 'random' or a finite number of radians (got ${String(initAngle)})`);
  }
  return {
    group: 'so2',
    where: opts.where ?? 'parameter vector (2-d, through φ)',
    exactness: 'everywhere',
    touches: [0],
    randomInit: initAngle !== 0,
    init: random => tf.scalar(initAngle === 'random' ? Math.PI * random() : initAngle),
    act: (params, theta) => {
      const x = checkVector(params[0], 2, 'so2');
      const u = bijection.forward(x);
      const angle = tf.reshape(theta, []);
      const c = tf.cos(angle);
      const s = tf.sin(angle);
      const u1 = tf.reshape(tf.slice(u, [0], [1]), []);
      const u2 = tf.reshape(tf.slice(u, [1], [1]), []);
      const rotated = tf.stack([tf.sub(tf.mul(c, u1), tf.mul(s, u2)), tf.add(tf.mul(s, u1), tf.mul(c, u2))]) as Tensor1D;
      const moved = bijection.inverse(rotated);
      return [params[0].rank === 1 ? moved : tf.reshape(moved, params[0].shape), ...params.slice(1)];
    },
  };
}

/** Options of {@link orthogonal}. */
export interface OrthogonalOptions {
  /** Label for reports and errors (default: "parameter vector (n-d, through φ)"). */
  where?: string;
}

/**
 * SO(n) acting on an n-d parameter vector (params[0]) through a bijection: x' = φ⁻¹(Q·φ(x)) with
 * Q = exp(S) ({@link expm}) and S skew-symmetric, S = Σ_{i<j} θ_k (e_i e_jᵀ − e_j e_iᵀ), from
 * n(n−1)/2 parameters θ (init zeros: the identity). Exact everywhere when L is a function of ‖φ(x)‖
 * (e.g. `quadratic(A, b)` of any dimension). Group name 'on'.
 *
 * exp of a skew matrix reaches exactly SO(n), the rotations; the reflections in O(n) also preserve L
 * but are not connected to the identity, so gradient ascent on θ could not reach them anyway.
 * No `transportGradient` (see {@link so2}): the solver uses nested autodiff.
 *
 * ```ts
 * const q = quadratic([[3, 1, 0], [1, 2, 0], [0, 0, 1]]);
 * await tp.teleport([v], ([p]) => q.loss(p as tf.Tensor1D), { group: orthogonal(q.bijection, 3) });
 * ```
 */
export function orthogonal(bijection: Bijection, n: number, opts: OrthogonalOptions = {}): SiteAction {
  if (!Number.isInteger(n) || n < 2) {
    throw new Error(`tfjs-teleport: orthogonal(bijection, n): n must be an integer ≥ 2, the length of the parameter vector (got ${n})`);
  }
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
      if (theta.size !== pairs.length) {
        throw new Error(`tfjs-teleport: orthogonal(…, ${n}) takes ${pairs.length} group parameters, got a tensor of shape [${theta.shape.join(', ')}]`);
      }
      const x = checkVector(params[0], n, `orthogonal(…, ${n})`);
      const u = bijection.forward(x);
      const q = expm(skew(theta));
      const rotated = tf.reshape(tf.matMul(q, tf.reshape(u, [n, 1])), [n]) as Tensor1D;
      const moved = bijection.inverse(rotated);
      return [params[0].rank === 1 ? moved : tf.reshape(moved, params[0].shape), ...params.slice(1)];
    },
  };
}
