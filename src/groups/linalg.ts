import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D } from '@tensorflow/tfjs-core';

/** Matrix exponential by scaling and squaring with a Taylor series (differentiable tf ops). */
export function expm(t: Tensor2D, opts: { degree?: number } = {}): Tensor2D {
  const n = t.shape[0];
  const norm = tf.tidy(() => tf.norm(t).dataSync()[0]);
  const s = norm > 0.5 ? Math.ceil(Math.log2(norm / 0.5)) : 0;
  const a = s > 0 ? tf.div(t, 2 ** s) : t;
  const degree = opts.degree ?? 10;
  let term: Tensor2D = tf.eye(n);
  let sum: Tensor2D = term;
  for (let k = 1; k <= degree; k++) {
    term = tf.div(tf.matMul(term, a), k) as Tensor2D;
    sum = tf.add(sum, term) as Tensor2D;
  }
  for (let i = 0; i < s; i++) sum = tf.matMul(sum, sum);
  return sum;
}
