import * as tf from '@tensorflow/tfjs-core';
import type { Tensor, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import type { SeededRandom } from '../core/random.js';

/** The recurrent state of a two-layer LSTM: hidden and cell state of each layer, each [1, hidden]. */
export interface LstmState {
  h: Tensor2D[];
  c: Tensor2D[];
}

/** Uniform in [−limit, limit) from a seeded stream. */
export function uniformValues(count: number, limit: number, random: SeededRandom): Float32Array {
  return Float32Array.from({ length: count }, () => (2 * random.next() - 1) * limit);
}

/**
 * A two-layer LSTM built from tfjs-core ops, its weights plain `tf.Variable`s (so the unrolled loss's
 * gradient with respect to them is an ordinary `tf.variableGrads`). Layer k: gates = [x, h]·W_k + b_k,
 * split as input, forget, cell, output; c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c'). Glorot-uniform
 * weights from the seeded stream, forget bias 1.
 *
 * ```ts
 * const lstm = new Lstm('m1', 5, 8, new SeededRandom(0));
 * const { out, state } = lstm.step(tf.ones([1, 5]), lstm.zeroState());
 * ```
 */
export class Lstm {
  readonly weights: Variable[];

  constructor(
    readonly name: string,
    readonly inputSize: number,
    readonly hidden: number,
    random: SeededRandom,
  ) {
    this.weights = [];
    for (let layer = 0; layer < 2; layer++) {
      const rows = (layer === 0 ? inputSize : hidden) + hidden;
      const limit = Math.sqrt(6 / (rows + 4 * hidden));
      const bias = new Float32Array(4 * hidden);
      bias.fill(1, hidden, 2 * hidden); // forget gate
      this.weights.push(tf.variable(tf.tensor2d(uniformValues(rows * 4 * hidden, limit, random), [rows, 4 * hidden]), true, `${name}/lstm${layer}/kernel`));
      this.weights.push(tf.variable(tf.tensor1d(bias), true, `${name}/lstm${layer}/bias`));
    }
  }

  /** Zeros for every layer's h and c (the caller disposes them, or passes them to `step`). */
  zeroState(): LstmState {
    return { h: [tf.zeros([1, this.hidden]), tf.zeros([1, this.hidden])], c: [tf.zeros([1, this.hidden]), tf.zeros([1, this.hidden])] };
  }

  /** One step: the top layer's output [1, hidden] and the new state. Pure tensor ops (run it in a tidy). */
  step(x: Tensor, state: LstmState): { out: Tensor2D; state: LstmState } {
    const h: Tensor2D[] = [];
    const c: Tensor2D[] = [];
    let input = x as Tensor2D;
    for (let layer = 0; layer < 2; layer++) {
      const gates = tf.add(tf.matMul(tf.concat([input, state.h[layer]], 1), this.weights[2 * layer] as Tensor2D), this.weights[2 * layer + 1]);
      const [i, f, g, o] = tf.split(gates, 4, 1);
      const cNew = tf.add(tf.mul(tf.sigmoid(f), state.c[layer]), tf.mul(tf.sigmoid(i), tf.tanh(g))) as Tensor2D;
      const hNew = tf.mul(tf.sigmoid(o), tf.tanh(cNew)) as Tensor2D;
      h.push(hNew);
      c.push(cNew);
      input = hNew;
    }
    return { out: input, state: { h, c } };
  }
}
