/** Finiteness checks of user inputs: bad data is refused up front with the input named, before anything moves. */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { TeleportError } from './errors.js';

/** True when every entry of `t` is finite (one reduction, one number downloaded; integer tensors always are). */
export function allFinite(t: Tensor): boolean {
  if (t.dtype !== 'float32' && t.dtype !== 'complex64') return true;
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}

/**
 * Throws a TeleportError of kind 'not-finite' naming the first of `inputs` that holds NaN or Inf,
 * e.g. `metrics.sharpness: data[0].x contains NaN or Inf; …`.
 *
 * ```ts
 * checkFinite('hessian.hvp', [['v[0]', v[0]]], 'give a finite direction');
 * ```
 */
export function checkFinite(what: string, inputs: ReadonlyArray<readonly [string, Tensor]>, fix: string): void {
  for (const [name, t] of inputs) {
    if (!allFinite(t)) throw new TeleportError(`${what}${what ? ': ' : ''}${name} contains NaN or Inf; ${fix}`, 'not-finite');
  }
}

/** The same for a batch list: names `data[i].x` / `data[i].y` (`data[i].x[k]` for a model with several inputs). */
export function checkFiniteBatches(what: string, batches: ReadonlyArray<{ x: Tensor | Tensor[]; y: Tensor | Tensor[] }>): void {
  const named = (name: string, v: Tensor | Tensor[]) => (Array.isArray(v) ? v.map((t, k) => [`${name}[${k}]`, t] as const) : [[name, v] as const]);
  checkFinite(
    what,
    batches.flatMap((b, i) => [...named(`data[${i}].x`, b.x), ...named(`data[${i}].y`, b.y)]),
    'clean the data first (nothing was measured or changed)',
  );
}
