/**
 * Measurements of a minimum that users call directly (dissertation §5.2): sharpness φ (eq. 5.1) and
 * the curvature ψ of the orbit through w (eq. 5.2). Both read the model's current weights, change
 * nothing and dispose every tensor they make.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { curveCurvature, curveDerivatives, curveDerivativesByAutodiff, drawCurves, DEFAULT_CURVES } from '../objectives/curvature.js';
import { drawSeed, resolveSharpnessSpec, sharpnessOf, type SharpnessSpec } from '../objectives/sharpness.js';
import type { LossFunction } from '../structure/losses.js';
import { modelLoss } from '../structure/model_loss.js';
import { readModel, type ModelStructure } from '../structure/read_model.js';
import { badOption } from '../core/errors.js';
import { type Batch, checkBatchRows, rowsOf } from '../core/batch.js';
import { planTeleport } from '../teleport/plan.js';
import { SeededRandom } from '../core/random.js';
import { checkFiniteBatches } from '../core/finite.js';

export { DEFAULT_CURVES } from '../objectives/curvature.js';
export { DEFAULT_DIRECTIONS, DEFAULT_DISPLACEMENTS } from '../objectives/sharpness.js';

/** Data for a measurement: one batch, or several (averaged, weighted by their number of rows). */
export type MetricData = Batch | readonly Batch[];

function batchesOf(data: MetricData | null | undefined, what: string): Batch[] {
  const list = data == null ? [] : Array.isArray(data) ? [...data] : [data as Batch];
  for (const b of list) checkBatchRows(b, what);
  checkFiniteBatches(what, list);
  return list;
}

/** The training loss on a batch (data loss + weight penalties) as a pure function of the parameters. */
function lossOn(
  structure: ModelStructure,
  model: LayersModel,
  batch: Batch,
  loss: string | LossFunction | undefined,
  what: string,
): (params: readonly Tensor[]) => Scalar {
  const spec = loss ?? model.loss;
  if (spec == null) throw badOption(`${what}: the model is not compiled; pass the \`loss\` option (e.g. 'meanSquaredError')`);
  return modelLoss(structure, spec).on(batch);
}

/** Options of {@link sharpness}. */
export interface SharpnessOptions extends SharpnessSpec {
  /** Seed of the random directions. Default 0 (the same directions as a teleport with `seed: 0`). */
  seed?: number;
  /** Loss; default the one given to model.compile. */
  loss?: string | LossFunction;
}

/**
 * Sharpness φ(w, T, D) = (1/|T||D|) Σ_t Σ_d L(w + t·d) (dissertation eq. 5.1): the training loss
 * averaged over |D| random directions uniform on the unit sphere of all trainable parameters, at each
 * displacement t ∈ T. Defaults are the dissertation's: T = 0.001, 0.011, …, 0.191 and |D| = 200.
 * With several batches, the per-batch values are averaged weighted by rows (for a mean loss, the value
 * on the concatenated batch). Costs |T|·|D| forward passes per batch.
 * ```ts
 * const phi = metrics.sharpness(model, { x, y }, { seed: 1 });
 * ```
 */
export function sharpness(model: LayersModel, data: MetricData, options: SharpnessOptions = {}): number {
  const what = 'metrics.sharpness';
  const batches = batchesOf(data, what);
  if (batches.length === 0) throw badOption(`${what}: give at least one batch {x, y}`);
  const spec = resolveSharpnessSpec(options);
  const structure = readModel(model);
  const seed = drawSeed(new SeededRandom(options.seed ?? 0).source);
  const rows = batches.reduce((n, b) => n + rowsOf(b), 0);
  let total = 0;
  for (const b of batches) {
    const loss = lossOn(structure, model, b, options.loss, what);
    total += (rowsOf(b) / rows) * tf.tidy(() => sharpnessOf(loss, structure.variables, seed, spec).dataSync()[0]);
  }
  return total;
}

/** Options of {@link curvature}. */
export interface CurvatureOptions {
  /** Number of random curves k. Default 1 (the dissertation's). */
  curves?: number;
  /** The group whose orbits are measured: 'auto' (default), 'rescale', 'gl', 'gl-data', 'gl-pinv'. */
  group?: string;
  /** Seed of the random Lie-algebra elements. Default 0 (the same curves as a teleport with `seed: 0`). */
  seed?: number;
  /** 'error' (default) or 'skip' layer pairs the group cannot act on. */
  onUnsupported?: 'error' | 'skip';
}

/**
 * Curvature ψ(w, k) = (1/k) Σ_i κ(γ_{M_i}, 0) (dissertation eq. 5.2): the mean curvature at t = 0 of
 * the orbit curves γ(t) = exp(tM)·w, with M a random element of the Lie algebra of the group on every
 * layer pair it acts on (all pairs move together), entries standard normal, and
 * κ = sqrt(‖γ'‖²‖γ''‖² − (γ'·γ'')²)/‖γ'‖³. γ' and γ'' are exact: from the Lie-algebra action for
 * rescale (diagonal M) and GL on linear pairs (exact for every input; `data` is not used), by nested
 * autodiff of the action for data-dependent GL (built on each batch; the values are averaged weighted
 * by rows). The value does not depend on the scale of M (κ is invariant under t → ct).
 * ```ts
 * const psi = metrics.curvature(model, { x, y }, { group: 'rescale', curves: 5, seed: 1 });
 * ```
 */
export function curvature(model: LayersModel, data: MetricData | null, options: CurvatureOptions = {}): number {
  const what = 'metrics.curvature';
  const k = options.curves ?? DEFAULT_CURVES;
  if (!Number.isInteger(k) || k < 1) throw badOption(`${what}: curves must be a positive integer, got ${k}`);
  const structure = readModel(model);
  const plan = planTeleport(structure, options.group ?? 'auto', options.onUnsupported ?? 'error');
  const batches = batchesOf(data, what);
  if (plan.dataDependent && batches.length === 0) throw badOption(`${what}: group '${plan.group}' is data-dependent: give a batch {x, y}`);
  const params = structure.variables;
  const random = new SeededRandom(options.seed ?? 0).source;
  const rows = batches.reduce((n, b) => n + rowsOf(b), 0);
  const runs: Array<{ x?: Tensor | Tensor[]; weight: number }> = plan.dataDependent
    ? batches.map(b => ({ x: b.x, weight: rowsOf(b) / rows }))
    : [{ weight: 1 }];
  let drawn: ReturnType<typeof drawCurves> | null = null;
  let total = 0;
  for (const run of runs) {
    const actions = plan.build(params, run.x);
    try {
      drawn ??= drawCurves(actions, random, k);
      const curves = drawn;
      const value = tf.tidy(() => {
        const kappas = curves.map(ms => {
          const m = ms.map(e => tf.tensor(e.values, e.shape));
          const { d1, d2 } = actions.every(a => a.algebra != null) ? curveDerivatives(actions, params, m) : curveDerivativesByAutodiff(actions, params, m);
          return curveCurvature(d1, d2);
        });
        return tf.div(tf.addN(kappas), k).dataSync()[0];
      });
      total += run.weight * value;
    } finally {
      actions.forEach(a => a.dispose?.());
    }
  }
  return total;
}
