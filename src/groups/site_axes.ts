import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { PairSite } from '../structure/sites.js';

/**
 * Multiplies the hidden-unit axis of the first layer's kernel (its last axis, for Dense [d, h] and
 * Conv2D [kh, kw, c, h] alike) or bias by a per-unit factor f: [h].
 */
export function scaleOutputs(t: Tensor, f: Tensor): Tensor {
  return tf.mul(t, f);
}

/**
 * Multiplies the hidden-unit axis of the second layer's kernel by f: [h]. Dense [h, u]: rows;
 * Conv2D [kh, kw, h, c]: input channels; Dense after flatten [P·h, u]: every h-th row, starting at c.
 */
export function scaleInputs(site: PairSite, t: Tensor, f: Tensor): Tensor {
  const h = site.width;
  switch (site.kind) {
    case 'dense-dense':
      return tf.mul(t, tf.reshape(f, [h, 1]));
    case 'conv-conv':
      return tf.mul(t, tf.reshape(f, [1, 1, h, 1]));
    case 'conv-dense': {
      const [rows, units] = t.shape;
      if (rows % h !== 0) throw new Error(`tfjs-teleport: ${site.where}: dense kernel rows ${rows} are not a multiple of ${h} channels`);
      // Channel c owns rows c, c+h, c+2h, … (NHWC flatten). Tile the small factor rather than
      // reshaping the kernel: on wasm a reshaped result keeps its data's old rank.
      void units;
      return tf.mul(t, tf.reshape(tf.tile(f, [rows / h]), [rows, 1]));
    }
  }
}

/** Returns a copy of `list` with entries replaced. */
export function replaced<T>(list: readonly T[], changes: Array<[number, T]>): T[] {
  const out = list.slice();
  for (const [i, v] of changes) out[i] = v;
  return out;
}

/** `result` where `touches` lists an index and the input there was not null; null elsewhere. */
export function onlyTouched<T>(touches: readonly number[], input: ReadonlyArray<T | null>, result: ReadonlyArray<T | null>): Array<T | null> {
  return input.map((v, i) => (v != null && touches.includes(i) ? result[i] : null));
}
