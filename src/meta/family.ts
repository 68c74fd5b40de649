import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import { glElement } from '../groups/gl.js';
import { pinvConstant } from '../linalg/tensor.js';
import { applyActivation, invertActivation } from '../structure/activations.js';
import { badOption, show } from '../core/errors.js';
import { SeededRandom } from '../core/random.js';

/**
 * One optimization problem a meta-teleporter runs on: starting parameters, their loss, and (for the
 * teleport modes) the exact group action that leaves the loss unchanged. Owns its tensors: call
 * `dispose()` when done.
 */
export interface MetaTask {
  /** Starting parameters (the task owns them). */
  readonly params: readonly Tensor[];
  /** The loss of a parameter list; differentiable to second order (the unrolled training needs ∇ of ∇). */
  loss(params: readonly Tensor[]): Scalar;
  /**
   * The group action: parameters after acting with θ, a [blocks, n, n] Lie-algebra element (θ = 0 is the
   * identity). Exact: loss(act(p, θ)) = loss(p) up to float32 round-off. Absent: only `learn: 'update'`.
   */
  act?(params: readonly Tensor[], theta: Tensor): Tensor[];
  /** The group's shape when the task has an action: `blocks` GL(n) elements (θ is [blocks, n, n]). */
  readonly group?: { blocks: number; n: number };
  /** The task's data when it has any (the regression families: X and Y, n×n), for independent checks. */
  readonly data?: { x: Tensor; y: Tensor };
  /** Frees the task's tensors. */
  dispose(): void;
}

/** A distribution of tasks: `sample(seed)` draws one (the same seed, the same task). */
export interface MetaFamily {
  readonly name: string;
  /** The group's shape: `blocks` GL(n) elements (absent: the family has no group). */
  readonly group?: { blocks: number; n: number };
  /** The task for `seed` (the caller disposes it). */
  sample(seed: number): MetaTask;
}

/** A user's family: the issue's `{ init(seed) → Variable[], loss(params) → Scalar }`, optionally with a group. */
export interface UserFamily {
  name?: string;
  /** Starting parameters for a seed. The teleporter reads their values and disposes them. */
  init(seed: number): Tensor[];
  /** The loss of a parameter list, differentiable to second order. */
  loss(params: readonly Tensor[]): Scalar;
  /** The group: `blocks` GL(n) elements and their exact action (θ = 0 is the identity). */
  group?: {
    blocks: number;
    n: number;
    /** The parameters after acting with θ ([blocks, n, n]). */
    act(params: readonly Tensor[], theta: Tensor): Tensor[];
  };
}

/** Family names the teleporter knows. */
export type FamilyName = 'twoLayerRegression' | 'multiLayerRegression';

/** Standard normal numbers from a seeded stream (Box–Muller). */
function normals(count: number, random: SeededRandom): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(random.next(), 1e-12);
    const v = random.next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Options of {@link regressionFamily}. */
export interface RegressionFamilyOptions {
  /** Number of weight matrices (2: the dissertation's W₂σ(W₁X)). Default 2. */
  depth?: number;
  /** n: every W, X and Y is n×n. Default 20. */
  width?: number;
  /** LeakyReLU slope. Default 0.1. */
  alpha?: number;
}

/**
 * The dissertation's meta-learning task (§5.5), in its column convention: L = ‖Y − W_d σ(⋯σ(W₁X))‖²_F
 * with W_k, X, Y ∈ R^{n×n} standard normal (drawn from the seed), σ = LeakyReLU(α). The group is
 * data-dependent GL(n) at every hidden layer (eq. C.12), exact on X because X is square and invertible:
 * W_k ← W_k + (σ⁻¹(g·σ(Z_k)) − Z_k)·H_{k−1}⁻¹, W_{k+1} ← W_{k+1}·g⁻¹, g = exp(θ_k), applied top layer
 * first so that every layer's input moves by the element below it (H⁻¹ in float64, a constant: for
 * depth > 2 the deeper inputs' inverses get no gradient, which only affects meta-gradients, not exactness).
 *
 * ```ts
 * const task = meta.regressionFamily({ depth: 2, width: 20 }).sample(7);
 * const l = task.loss(task.params);
 * ```
 */
export function regressionFamily(opts: RegressionFamilyOptions = {}): MetaFamily {
  const depth = opts.depth ?? 2;
  const n = opts.width ?? 20;
  const alpha = opts.alpha ?? 0.1;
  if (!Number.isInteger(depth) || depth < 2) throw badOption(`regressionFamily: depth must be an integer ≥ 2 (got ${show(depth)})`);
  if (!Number.isInteger(n) || n < 1) throw badOption(`regressionFamily: width must be a positive integer (got ${show(n)})`);
  if (!(alpha > 0 && alpha < 1)) throw badOption(`regressionFamily: alpha must be in (0, 1) so that LeakyReLU is invertible (got ${show(alpha)})`);
  const act = { kind: 'leakyRelu', alpha };
  const forward = (params: readonly Tensor[], x: Tensor2D) => {
    const inputs: Tensor2D[] = [x];
    let h = x;
    for (let k = 0; k < depth - 1; k++) {
      h = applyActivation(act, tf.matMul(params[k] as Tensor2D, h)) as Tensor2D;
      inputs.push(h);
    }
    return { out: tf.matMul(params[depth - 1] as Tensor2D, h), inputs };
  };
  return {
    name: depth === 2 ? 'twoLayerRegression' : `regression(depth ${depth}, width ${n})`,
    group: { blocks: depth - 1, n },
    sample(seed: number): MetaTask {
      if (!Number.isFinite(seed)) throw badOption(`regressionFamily: seed must be a finite number (got ${show(seed)})`);
      const random = new SeededRandom(0x7e1e ^ Math.imul(seed >>> 0, 2654435761));
      const x = tf.tensor2d(normals(n * n, random), [n, n]);
      const y = tf.tensor2d(normals(n * n, random), [n, n]);
      const params = Array.from({ length: depth }, () => tf.tensor2d(normals(n * n, random), [n, n]));
      const xInv = pinvConstant(x);
      const loss = (p: readonly Tensor[]): Scalar => tf.tidy(() => tf.sum(tf.square(tf.sub(y, forward(p, x).out))) as Scalar);
      return {
        params,
        loss,
        group: { blocks: depth - 1, n },
        data: { x, y },
        act(p: readonly Tensor[], theta: Tensor): Tensor[] {
          return tf.tidy(() => {
            const out = [...p];
            // Top hidden layer first: the inverse of its input is taken at the parameters before any move.
            const { inputs } = forward(p, x);
            const inv = inputs.slice(0, depth - 1).map((h, k) => (k === 0 ? xInv : pinvConstant(h)));
            for (let k = depth - 2; k >= 0; k--) {
              const { g, gInv } = glElement(tf.squeeze(tf.slice(theta, [k, 0, 0], [1, n, n]), [0]));
              const z = tf.matMul(out[k] as Tensor2D, inputs[k]);
              const sz = applyActivation(act, z) as Tensor2D;
              const moved = tf.sub(invertActivation(act, tf.matMul(g, sz)), invertActivation(act, sz));
              out[k] = tf.add(out[k], tf.matMul(moved as Tensor2D, inv[k]));
              out[k + 1] = tf.matMul(out[k + 1] as Tensor2D, gInv);
            }
            return out;
          });
        },
        dispose: () => tf.dispose([x, y, xInv, ...params]),
      };
    },
  };
}

/** Wraps a user's `{ init, loss, group? }` as a {@link MetaFamily}. */
export function userFamily(user: UserFamily): MetaFamily {
  if (typeof user?.init !== 'function' || typeof user?.loss !== 'function') {
    throw badOption("a meta family must be 'twoLayerRegression', 'multiLayerRegression' or an object { init(seed) → Tensor[], loss(params) → Scalar }");
  }
  const group = user.group;
  if (group != null && (!Number.isInteger(group.blocks) || group.blocks < 1 || !Number.isInteger(group.n) || group.n < 1 || typeof group.act !== 'function')) {
    throw badOption('a meta family group must be { blocks: positive integer, n: positive integer, act(params, theta) }');
  }
  return {
    name: user.name ?? 'custom',
    group: group == null ? undefined : { blocks: group.blocks, n: group.n },
    sample(seed: number): MetaTask {
      const made = user.init(seed);
      if (!Array.isArray(made) || made.length === 0)
        throw badOption(`meta family '${user.name ?? 'custom'}': init(seed) must return a non-empty array of tensors`);
      const params = made.map(t => tf.clone(t));
      tf.dispose(made);
      return {
        params,
        loss: p => user.loss(p),
        act: group == null ? undefined : (p, theta) => group.act(p, theta),
        group: group == null ? undefined : { blocks: group.blocks, n: group.n },
        dispose: () => tf.dispose(params),
      };
    },
  };
}

/** A family from its name or a user object. */
export function resolveFamily(family: FamilyName | MetaFamily | UserFamily): MetaFamily {
  if (family === 'twoLayerRegression') return regressionFamily({ depth: 2 });
  if (family === 'multiLayerRegression') return regressionFamily({ depth: 3 });
  if (typeof family === 'string') throw badOption(`unknown meta family ${show(family)}: use 'twoLayerRegression', 'multiLayerRegression' or { init, loss }`);
  if (typeof (family as MetaFamily)?.sample === 'function') return family as MetaFamily;
  return userFamily(family as UserFamily);
}
