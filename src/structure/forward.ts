import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { UnsupportedLayerError } from '../core/errors.js';
import { applyActivation } from './activations.js';
import type { ChainLayer } from './layers.js';

/** Options of the pure forward pass. */
export interface ForwardOptions {
  /**
   * Leave out the softmax of every output that ends in one (a cross-entropy loss fuses it); per
   * output with an array.
   */
  logits?: boolean | readonly boolean[];
  /** Keep each layer's (first) input and, for Dense/Conv2D, its output before its own activation. */
  collect?: boolean;
  /**
   * BatchNormalization statistics: 'batch' (default) normalizes with the batch's own mean and
   * variance, as `fit` does in its training step (the gradient a teleport transports is that one);
   * 'moving' uses the moving statistics, as `predict` does.
   */
  normalization?: 'batch' | 'moving';
  /**
   * Per layer index, a tensor added to that Dense/Conv2D layer's output before its own activation: the
   * loss's gradient in it at zero is ∂L/∂Z of that layer (the gl-data batch-space objective reads it).
   */
  shift?: ReadonlyMap<number, Tensor>;
}

/** The outputs of a pure forward pass, and with `collect` what each layer saw. */
export interface ForwardResult {
  /** The first output (the only one of a single-output model). */
  output: Tensor;
  /** Every output, in `model.outputs` order. */
  outputs: Tensor[];
  /** With `collect`: per layer, its (first) input and (dense/conv) its output before its own activation. */
  inputs?: Tensor[];
  preActivations?: Array<Tensor | null>;
}

/** A layer's weight: from the parameter list when trainable, else the frozen constant. */
function weightOf(params: readonly Tensor[], index: number | undefined, frozen: Tensor | undefined): Tensor | undefined {
  return index != null ? params[index] : frozen;
}

/**
 * The layer of each output whose softmax a fused cross-entropy leaves out: the output layer itself,
 * or the layer it reads through dropout.
 */
export function logitLayers(layers: readonly ChainLayer[], outputs: readonly number[]): Set<number> {
  const out = new Set<number>();
  for (let i of outputs) {
    while (i >= 0 && layers[i].kind === 'dropout') i = layers[i].inputs[0];
    if (i >= 0 && layers[i].activation?.kind === 'softmax') out.add(i);
  }
  return out;
}

/** Normalizes over `axes` with the given statistics, then γ·n + β (γ, β broadcast on the last axis). */
function normalize(h: Tensor, mean: Tensor, variance: Tensor, epsilon: number, gamma?: Tensor, beta?: Tensor): Tensor {
  let y = tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, epsilon)));
  if (gamma != null) y = tf.mul(y, gamma);
  if (beta != null) y = tf.add(y, beta);
  return y;
}

function merge(l: ChainLayer, xs: Tensor[]): Tensor {
  switch (l.merge!) {
    case 'add':
      return tf.addN(xs);
    case 'subtract':
      return tf.sub(xs[0], xs[1]);
    case 'multiply':
      return xs.slice(1).reduce((a, b) => tf.mul(a, b), xs[0]);
    case 'average':
      return tf.div(tf.addN(xs), xs.length);
    case 'maximum':
      return xs.slice(1).reduce((a, b) => tf.maximum(a, b), xs[0]);
    case 'minimum':
      return xs.slice(1).reduce((a, b) => tf.minimum(a, b), xs[0]);
    case 'concatenate':
      return tf.concat(xs, l.concatAxis!);
  }
}

/**
 * A pure forward pass of the model graph in the given parameters (dropout is the identity), built
 * from ops that support second derivatives. `layers` are in topological order.
 */
export function forward(
  layers: readonly ChainLayer[],
  outputs: readonly number[],
  params: readonly Tensor[],
  x: Tensor | readonly Tensor[],
  opts: ForwardOptions = {},
): ForwardResult {
  const xs = Array.isArray(x) ? (x as Tensor[]) : [x as Tensor];
  const values: Tensor[] = [];
  const inputs: Tensor[] = [];
  const pre: Array<Tensor | null> = [];
  const read = (i: number): Tensor => {
    if (i >= 0) return values[i];
    const k = -1 - i;
    if (xs[k] == null) throw new UnsupportedLayerError(`the model has more inputs than the ${xs.length} given`);
    return xs[k];
  };
  const fused = outputs.filter((_, k) => (Array.isArray(opts.logits) ? opts.logits[k] : opts.logits === true));
  const logits = logitLayers(layers, fused);
  layers.forEach((l, i) => {
    const ins = l.inputs.map(read);
    let h = ins[0];
    if (opts.collect) inputs.push(h);
    let z: Tensor | null = null;
    switch (l.kind) {
      case 'dense': {
        if (h.rank !== 2) throw new UnsupportedLayerError(`Dense '${l.name}' gets a rank-${h.rank} input; only rank-2 inputs to Dense are supported`);
        z = tf.matMul(h, weightOf(params, l.kernel, l.frozenKernel)!);
        const bias = weightOf(params, l.bias, l.frozenBias);
        if (bias != null) z = tf.add(z, bias);
        h = z;
        break;
      }
      case 'conv2d': {
        z = tf.conv2d(h as tf.Tensor4D, weightOf(params, l.kernel, l.frozenKernel) as tf.Tensor4D, l.strides!, l.padding!, 'NHWC', l.dilation!);
        const bias = weightOf(params, l.bias, l.frozenBias);
        if (bias != null) z = tf.add(z, bias);
        h = z;
        break;
      }
      case 'batchNorm': {
        const gamma = weightOf(params, l.kernel, l.frozenKernel);
        const beta = weightOf(params, l.bias, l.frozenBias);
        if (opts.normalization === 'moving') {
          h = normalize(h, l.movingMean!, l.movingVariance!, l.epsilon!, gamma, beta);
        } else {
          const axes = Array.from({ length: h.rank - 1 }, (_, k) => k);
          const { mean, variance } = tf.moments(h, axes, true);
          h = normalize(h, mean, variance, l.epsilon!, gamma, beta);
        }
        break;
      }
      case 'layerNorm': {
        const { mean, variance } = tf.moments(h, l.normAxes!, true);
        const shape = h.shape.map((d, k) => (l.normAxes!.includes(k) ? d : 1)).slice(1);
        const gamma = weightOf(params, l.kernel, l.frozenKernel);
        const beta = weightOf(params, l.bias, l.frozenBias);
        h = normalize(h, mean, variance, l.epsilon!, gamma && tf.reshape(gamma, shape), beta && tf.reshape(beta, shape));
        break;
      }
      case 'maxPool':
        h = tf.maxPool(h as tf.Tensor4D, l.poolSize!, l.strides!, l.padding!);
        break;
      case 'avgPool':
        h = tf.avgPool(h as tf.Tensor4D, l.poolSize!, l.strides!, l.padding!);
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case 'reshape':
        h = tf.reshape(h, [h.shape[0], ...l.targetShape!]);
        break;
      case 'globalAvgPool':
        h = tf.mean(h, [1, 2]);
        break;
      case 'globalMaxPool':
        h = tf.max(h, [1, 2]);
        break;
      case 'merge':
        h = merge(l, ins);
        break;
      case 'dropout':
      case 'activation':
        break;
    }
    if (z != null && opts.shift?.has(i)) {
      z = tf.add(z, opts.shift.get(i)!);
      h = z;
    }
    if (opts.collect) pre.push(z);
    const act = l.activation;
    if (act != null && !(logits.has(i) && act.kind === 'softmax')) h = applyActivation(act, h);
    values.push(h);
  });
  const outs = outputs.map(read);
  return opts.collect ? { output: outs[0], outputs: outs, inputs, preActivations: pre } : { output: outs[0], outputs: outs };
}
