import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { applyActions } from '../groups/apply.js';
import { optionChecks } from '../core/checks.js';
import { badOption } from '../core/errors.js';
import { derivedRandom, gaussian, SeededRandom } from '../core/random.js';
import {
  checkProbes,
  DEFAULT_PROBES,
  hessianVectorProducts,
  meanSquare,
  rademacherProbe,
  traceApplies,
  traceClosedForm,
  traceSharpnessAt,
  type TraceSetup,
} from './sharpness_trace.js';
import type { Objective, ObjectiveContext, SharpnessEstimator } from './types.js';

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
  /**
   * How φ is estimated. 'directions': eq. 5.1 itself, |T|·|D| forward and backward passes per ascent
   * step. 'trace': its second-order expectation L(w) + mean(t²)/(2n)·tr H(g·w), tr H by Hutchinson
   * probes computed once at w and carried along the orbit (exact, linear groups only: rescale, GL).
   * 'auto': 'trace' where it applies, else 'directions'. Default: 'directions' when `directions` is
   * given here (only that estimator uses it), else the teleport's `sharpnessEstimator` option ('auto').
   */
  estimator?: SharpnessEstimator;
  /** Hutchinson probes of the 'trace' estimator. Default: the teleport's `sharpnessProbes` option (4). */
  probes?: number;
}

/**
 * The sharpness objective φ(g(θ)·w) (dissertation eq. 5.1) on the teleport batch, by one of two
 * estimators (see {@link SharpnessObjectiveOptions.estimator}):
 * - 'trace' (the default on rescale and GL): φ̂ = L(w) + mean(t²)/(2n)·tr H(g·w), the expectation of
 *   eq. 5.1 over uniform directions to second order in t, with tr H from K Rademacher probes
 *   (Hutchinson) whose Hessian-vector products are taken once at w and transported exactly along the
 *   orbit ({@link traceSharpnessAt}). Cost: K Hessian-vector products per teleport, then no pass over
 *   data per ascent step. Its values are close to φ, not equal (no |D| finite-direction noise, no
 *   O(t⁴) terms, K-probe noise in tr H).
 * - 'directions': eq. 5.1 itself, with the directions of `metrics.sharpness(..., { seed })` (a
 *   one-off `tp.teleport(..., { seed })` averages over the same directions). It costs |T|·|D| forward
 *   and backward passes per ascent step (4000 at the defaults): register a cheaper variant with
 *   `registerObjective(sharpnessObjective({ name, directions, displacements }))` (giving `directions` picks this estimator).
 *
 * Both read one seed drawn from the teleport's stream before anything else draws.
 * ```ts
 * tp.registerObjective(sharpnessObjective({ name: 'sharpness16', probes: 16 }));
 * await tp.teleport(model, { x, y }, { group: 'rescale', objective: 'sharpness16', direction: 'minimize' });
 * ```
 */
export function sharpnessObjective(options: SharpnessObjectiveOptions = {}): Objective {
  const spec = resolveSharpnessSpec(options);
  const name = options.name ?? 'sharpness';
  if (options.probes != null) checkProbes(options.probes);
  // One set-up per teleport (the engine asks for the closed form and the tensor form of one context).
  const setups = new WeakMap<ObjectiveContext, { seed: number; trace: TraceSetup | null; heldOut: TraceSetup | null }>();
  const setupOf = (ctx: ObjectiveContext) => {
    const known = setups.get(ctx);
    if (known) return known;
    if (ctx.loss == null) throw badOption(`objective '${name}' needs the loss on teleport batches: pass the \`data\` option`);
    const seed = drawSeed(ctx.random ?? new SeededRandom(0).source);
    const estimator = options.estimator ?? (options.directions != null ? 'directions' : (ctx.options?.sharpnessEstimator ?? 'auto'));
    const exact = traceApplies(ctx.actions);
    if (estimator === 'trace' && !exact) {
      const bad = ctx.actions.find(a => a.exactness !== 'everywhere' || a.algebra == null || a.transportGradient == null);
      throw badOption(
        `objective '${name}' with sharpnessEstimator 'trace' needs an exact linear group (rescale, gl, auto); '${bad?.group}' at ${bad?.where} is not one. Use sharpnessEstimator: 'directions' (eq. 5.1 itself)`,
      );
    }
    let trace: TraceSetup | null = null;
    let heldOut: TraceSetup | null = null;
    if (estimator !== 'directions' && exact) {
      const loss = ctx.loss;
      const k = checkProbes(options.probes ?? ctx.options?.sharpnessProbes ?? DEFAULT_PROBES);
      const sizes = ctx.params.map(p => p.size);
      const n = sizes.reduce((a, b) => a + b, 0);
      const meanT2 = meanSquare(spec.displacements);
      const lossAtW = tf.tidy(() => loss(ctx.params).dataSync()[0]);
      // Probes 0…k−1 drive the ascent; probes k…2k−1 are held out to confirm its result.
      const setupFrom = (first: number): TraceSetup => {
        const probes = Array.from({ length: k }, (_, j) => rademacherProbe(seed, first + j, sizes));
        // ε‖z‖ = sqrt(mean t²): the curvature at the scale of φ's displacements (‖z‖ = √n for ±1 entries).
        const hvps = hessianVectorProducts(loss, ctx.params, probes, Math.sqrt(meanT2 / n));
        return { probes, hvps, lossAtW, meanT2, n };
      };
      trace = setupFrom(0);
      heldOut = setupFrom(k);
    }
    const made = { seed, trace, heldOut };
    setups.set(ctx, made);
    return made;
  };
  return {
    name,
    options: SHARPNESS_OPTIONS,
    description: `φ, the mean loss over ${spec.directions} random unit directions × ${spec.displacements.length} displacements (eq. 5.1), or its Hessian-trace estimate on exact linear groups; needs data`,
    needs: 'loss',
    value: ctx => {
      const { seed, trace } = setupOf(ctx);
      const loss = ctx.loss!;
      if (trace == null) return thetas => tf.tidy(() => sharpnessOf(loss, applyActions(ctx.actions, ctx.params, thetas), seed, spec));
      return thetas => traceSharpnessAt(ctx.actions, thetas, ctx.params, trace.probes, trace.hvps, trace.lossAtW, trace.meanT2, trace.n);
    },
    closedForm: ctx => {
      const { trace } = setupOf(ctx);
      return trace == null ? null : traceClosedForm(ctx.actions, ctx.params, trace);
    },
    confirm: ctx => {
      const { heldOut } = setupOf(ctx);
      if (heldOut == null) return null;
      // One estimate per held-out probe: their mean is the held-out estimate, their spread its error.
      const single = heldOut.probes.map((z, k) => ({ ...heldOut, probes: [z], hvps: [heldOut.hvps[k]] }));
      const forms = single.map(one => traceClosedForm(ctx.actions, ctx.params, one));
      const at = (k: number, thetas: readonly Tensor[] | null): number => {
        const closed = forms[k];
        if (closed != null)
          return closed.evaluate(closed.widths.map((h, i) => (thetas == null ? new Float64Array(h) : Float64Array.from(thetas[i].dataSync())))).value;
        const one = single[k];
        return tf.tidy(() => {
          const th = thetas ?? ctx.actions.map(a => tf.zerosLike(a.init(() => 0)));
          return traceSharpnessAt(ctx.actions, th, ctx.params, one.probes, one.hvps, one.lossAtW, one.meanT2, one.n).dataSync()[0];
        });
      };
      return thetas => {
        const before = single.map((_, k) => at(k, null));
        const after = single.map((_, k) => at(k, thetas));
        const diffs = after.map((v, k) => v - before[k]);
        const m = diffs.length;
        const mean = diffs.reduce((s, d) => s + d, 0) / m;
        const variance = m > 1 ? diffs.reduce((s, d) => s + (d - mean) ** 2, 0) / (m - 1) : 0;
        const avg = (v: number[]) => v.reduce((s, x) => s + x, 0) / m;
        return { before: avg(before), after: avg(after), stderr: Math.sqrt(variance / m) };
      };
    },
  };
}

/** The teleport options every sharpness objective reads (typed in ObjectiveSettings). */
const SHARPNESS_OPTIONS = {
  sharpnessEstimator: { default: 'auto', check: optionChecks.oneOf('sharpnessEstimator', ['auto', 'trace', 'directions']) },
  sharpnessProbes: { default: DEFAULT_PROBES, check: optionChecks.number('sharpnessProbes', { integer: true, min: 1 }) },
} as const;

/** φ with the dissertation's T and |D| = 200, as `objective: 'sharpness'` (estimator from the teleport's options). */
export const sharpness: Objective = sharpnessObjective();
