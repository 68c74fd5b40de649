import type { Tensor } from '@tensorflow/tfjs-core';
import { badOption } from './errors.js';

/**
 * A teleport batch: inputs and targets, shaped as for model.fit; arrays (in `model.inputs` and
 * `model.outputs` order) for a model with several inputs or outputs.
 */
export interface Batch {
  x: Tensor | Tensor[];
  y: Tensor | Tensor[];
}

/** The batch's inputs as a list (one entry per model input). */
export function inputsOf(b: Batch): Tensor[] {
  return Array.isArray(b.x) ? b.x : [b.x];
}

/** The batch's targets as a list (one entry per model output). */
export function targetsOf(b: Batch): Tensor[] {
  return Array.isArray(b.y) ? b.y : [b.y];
}

/** The number of examples in a batch (its first input's first dimension). */
export function rowsOf(b: Batch): number {
  return inputsOf(b)[0].shape[0];
}

/** Checks that a batch is {x, y} tensors (or arrays of them) with one common, non-zero number of rows. */
export function checkBatchRows(b: Batch, what: string): void {
  const isT = (t: unknown) => Array.isArray((t as Tensor | undefined)?.shape);
  const ok = (v: unknown) => isT(v) || (Array.isArray(v) && v.length > 0 && v.every(isT));
  if (b == null || !ok(b.x) || !ok(b.y))
    throw badOption(`${what}: data must be {x, y} tensors (arrays of them for several inputs or outputs), or an array of such batches`);
  const n = rowsOf(b);
  const rows = [...inputsOf(b), ...targetsOf(b)].map(t => t.shape[0]);
  if (rows.some(r => r !== n))
    throw badOption(`${what}: a batch has ${n} inputs but ${rows.find(r => r !== n)} targets (or inputs); every x and y must have the same first dimension`);
  if (n === 0) throw badOption(`${what}: a batch is empty (0 rows)`);
}
