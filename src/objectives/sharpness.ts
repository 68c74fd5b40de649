import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { applyActions } from '../teleport/guard.js';
import { badOption } from '../teleport/errors.js';
import { derivedRandom, SeededRandom } from '../util/random.js';
import { gaussian } from './curvature.js';
import type { Objective } from './types.js';

/** The dissertation's displacements T = 0.001, 0.011, …, 0.191 (§5.2.3). */
export const DEFAULT_DISPLACEMENTS: readonly number[] = Object.freeze(Array.from({ length: 20 }, (_, i) => Math.round((0.001 + 0.01 * i) * 1e6) / 1e6));
/** The dissertation's number of random directions |D| = 200 (§5.2.3). */
export const DEFAULT_DIRECTIONS = 200;

/** Which directions and displacements φ averages over. */
export interface SharpnessSpec {
  /** Displacements T. Default {@link DEFAULT_DISPLACEMENTS}. */
  displacements?: readonly number[];
  /** Number of random unit directions |D|. Default {@link DEFAULT_DIRECTIONS}. */
  directions?: number;
}

/** Checks a spec and fills in the defaults. */
export function resolveSharpnessSpec(spec: SharpnessSpec): { displacements: number[]; directions: number } {
  const displacements = [...(spec.displacements ?? DEFAULT_DISPLACEMENTS)];
  const directions = spec.directions ?? DEFAULT_DIRECTIONS;
  if (displacements.length === 0 || !displacements.every(Number.isFinite))
    throw badOption(`displacements must be a non-empty list of finite numbers, got ${JSON.stringify(spec.displacements)}`);
  if (!Number.isInteger(directions) || directions < 1) throw badOption(`directions must be a positive integer, got ${directions}`);
  return { displacements, directions };
}

/** A 32-bit seed drawn from a uniform stream (how φ's directions are keyed). */
export function drawSeed(random: () => number): number {
  return Math.floor(random() * 4294967296) >>> 0;
}

/**
 * Direction `index` of the stream keyed by `seed`: uniform on the unit sphere of the whole parameter
 * space (a standard normal vector over every parameter, normalized in float64), split into one array
 * per parameter. The same (seed, index) always gives the same direction.
 */
export function unitDirection(seed: number, index: number, sizes: readonly number[]): Float32Array[] {
  const r = derivedRandom(seed, index);
  const random = r.source;
  let sq = 0;
  const raw = sizes.map(n => {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      v[i] = gaussian(random);
      sq += v[i] * v[i];
    }
    return v;
  });
  const inv = 1 / Math.sqrt(sq);
  return raw.map(v => Float32Array.from(v, x => x * inv));
}

/**
 * φ(w, T, D) = (1/|T||D|) Σ_{t∈T} Σ_{d∈D} L(w + t·d) (dissertation eq. 5.1), with the directions of
 * {@link unitDirection} keyed by `seed`. Differentiable in `params`.
 */
export function sharpnessOf(loss: (params: readonly Tensor[]) => Scalar, params: readonly Tensor[], seed: number, spec: SharpnessSpec = {}): Scalar {
  const { displacements, directions } = resolveSharpnessSpec(spec);
  const sizes = params.map(p => p.size);
  return tf.tidy(() => {
    const terms: Scalar[] = [];
    for (let j = 0; j < directions; j++) {
      const dir = unitDirection(seed, j, sizes).map((v, i) => tf.tensor(v, params[i].shape));
      for (const t of displacements) terms.push(loss(params.map((p, i) => tf.add(p, tf.mul(t, dir[i])))));
    }
    return tf.div(tf.addN(terms), terms.length) as Scalar;
  });
}

/** Options of the sharpness objective. */
export interface SharpnessObjectiveOptions extends SharpnessSpec {
  /** Registered name. Default 'sharpness'. */
  name?: string;
}

/**
 * The sharpness objective φ(g(θ)·w) (dissertation eq. 5.1) on the teleport batch. Its directions are
 * keyed by one seed drawn from the teleport's stream before anything else draws, so a one-off
 * `tp.teleport(..., { seed })` averages over the same directions as `tp.metrics.sharpness(..., { seed })`.
 * It costs |T|·|D| forward passes (and their backward) per ascent step: register a cheaper variant with
 * `registerObjective(sharpnessObjective({ name, directions, displacements }))`.
 */
export function sharpnessObjective(options: SharpnessObjectiveOptions = {}): Objective {
  const spec = resolveSharpnessSpec(options);
  return {
    name: options.name ?? 'sharpness',
    description: `φ, the mean loss over ${spec.directions} random unit directions × ${spec.displacements.length} displacements (eq. 5.1); needs data`,
    needs: 'loss',
    value: ctx => {
      if (ctx.loss == null) throw badOption(`objective '${options.name ?? 'sharpness'}' needs the loss on teleport batches: pass the \`data\` option`);
      const seed = drawSeed(ctx.random ?? new SeededRandom(0).source);
      const loss = ctx.loss;
      return thetas => tf.tidy(() => sharpnessOf(loss, applyActions(ctx.actions, ctx.params, thetas), seed, spec));
    },
  };
}

/** φ with the dissertation's T and |D| = 200, as `objective: 'sharpness'`. */
export const sharpness: Objective = sharpnessObjective();
