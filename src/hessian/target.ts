/**
 * What a Hessian is taken of: a compiled tfjs-layers model on data, or a loss closure over variables.
 * Both become one list of variables and a list of weighted scalar losses (one per batch).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { modelLoss } from '../structure/model_loss.js';
import { readModel } from '../structure/read_model.js';
import { TeleportError, badOption } from '../core/errors.js';
import { type Batch, checkBatchRows, rowsOf } from '../core/batch.js';
import { checkFinite, checkFiniteBatches } from '../core/finite.js';

/**
 * The function whose Hessian is measured, in one of two forms:
 * - `{ model, data }`: the model's compiled loss (plus its weight regularizers) on `data`, one batch
 *   `{x, y}` or several (their losses averaged, weighted by rows: equal-sized batches give the plain
 *   mean, which is the loss on the concatenated data), in the model's trainable weights;
 * - `{ params, loss }`: any scalar `loss()` that reads the variables `params`.
 *
 * ```ts
 * const target: hessian.HessianTarget = { model, data: { x, y } };
 * const other: hessian.HessianTarget = { params: [w], loss: () => tf.sum(tf.square(w)) as tf.Scalar };
 * ```
 */
export type HessianTarget =
  | {
      /** A compiled tfjs-layers model (its compiled loss plus weight regularizers). */
      model: LayersModel;
      /** One batch, or several (losses averaged, weighted by rows). */
      data: Batch | Batch[];
    }
  | {
      /** The variables the Hessian is taken in. */
      params: Variable[];
      /** A scalar loss closure over `params`. */
      loss: () => Scalar;
    };

/** A target reduced to variables and weighted per-batch losses. */
export interface ResolvedTarget {
  params: Variable[];
  /** Shapes and sizes of the parameters, and their total n. */
  shapes: number[][];
  sizes: number[];
  n: number;
  /** The loss is Σ weight·loss(): one term per batch. */
  terms: Array<{ weight: number; loss: () => Scalar }>;
}

/** Checks a target and reduces it to variables and weighted losses. `what` names the caller in errors. */
export function resolveTarget(target: HessianTarget, what: string): ResolvedTarget {
  if (target == null || typeof target !== 'object') throw badOption(`${what}: target must be { model, data } or { params, loss }`);
  if ('model' in target && target.model != null) return modelTarget(target.model, target.data, what);
  if ('params' in target && target.params != null) {
    const { params, loss } = target;
    if (!Array.isArray(params) || params.length === 0 || !params.every(p => p instanceof tf.Variable))
      throw badOption(`${what}: params must be a non-empty array of tf.Variable`);
    if (typeof loss !== 'function') throw badOption(`${what}: loss must be a function () => tf.Scalar reading params`);
    const untrainable = params.filter(p => !p.trainable).map(p => p.name);
    if (untrainable.length > 0) throw badOption(`${what}: params ${untrainable.join(', ')} are not trainable; make them trainable or leave them out`);
    checkFinite(
      what,
      params.map((p, i) => [`params[${i}] (${p.name})`, p] as const),
      'the Hessian is measured at the current values: set finite ones first',
    );
    return finiteLoss(withShapes(params, [{ weight: 1, loss }]), what);
  }
  throw badOption(`${what}: target must be { model, data } or { params, loss }`);
}

function withShapes(params: Variable[], terms: ResolvedTarget['terms']): ResolvedTarget {
  const shapes = params.map(p => [...p.shape]);
  const sizes = params.map(p => p.size);
  return { params, shapes, sizes, n: sizes.reduce((a, b) => a + b, 0), terms };
}

function modelTarget(model: LayersModel, data: Batch | Batch[], what: string): ResolvedTarget {
  const batches = data == null ? [] : Array.isArray(data) ? data : [data];
  if (batches.length === 0) throw badOption(`${what}: give data, one batch {x, y} or an array of them`);
  for (const b of batches) checkBatchRows(b, what);
  checkFiniteBatches(what, batches);
  if (model.loss == null) throw badOption(`${what}: the model is not compiled; call model.compile({ loss, optimizer }) first`);
  const structure = readModel(model);
  if (structure.variables.length === 0) throw badOption(`${what}: the model has no trainable weights`);
  const resolved = modelLoss(structure, model.loss);
  const rows = batches.reduce((n, b) => n + rowsOf(b), 0);
  const terms = batches.map(b => {
    const loss = resolved.on(b);
    return { weight: rowsOf(b) / rows, loss: (): Scalar => loss(structure.variables) };
  });
  return finiteLoss(withShapes(structure.variables, terms), what);
}

/**
 * Checks the loss is finite at the current weights (one forward pass per term): a NaN there would
 * otherwise come back as NaN estimates, or as a raw error from deep inside the eigen-solver.
 */
function finiteLoss(t: ResolvedTarget, what: string): ResolvedTarget {
  t.terms.forEach((term, i) => {
    const value = tf.tidy(() => term.loss().dataSync()[0]);
    if (!Number.isFinite(value)) {
      const where = t.terms.length > 1 ? ` on data[${i}]` : '';
      throw new TeleportError(`${what}: the loss${where} is ${value} at the current weights; check the weights (and data) for NaN/Inf`, 'not-finite');
    }
  });
  return t;
}

/** Splits a flat float64 vector into float32 tensors of the parameters' shapes (caller disposes). */
export function toTensors(t: ResolvedTarget, flat: Float64Array): Tensor[] {
  let offset = 0;
  return t.shapes.map((shape, i) => {
    const part = Float32Array.from(flat.subarray(offset, offset + t.sizes[i]));
    offset += t.sizes[i];
    return tf.tensor(part, shape);
  });
}

/** Concatenates tensors shaped like the parameters into one float64 vector (does not dispose them). */
export function toFlat(t: ResolvedTarget, parts: readonly Tensor[]): Float64Array {
  const out = new Float64Array(t.n);
  let offset = 0;
  parts.forEach((p, i) => {
    out.set(p.dataSync() as Float32Array, offset);
    offset += t.sizes[i];
  });
  return out;
}
