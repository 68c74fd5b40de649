import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { UnsupportedLayerError } from '../core/errors.js';
import * as secondOrder from './second_order.js';

/** An elementwise activation as the structure reader sees it. */
export interface ActivationSpec {
  /** tfjs-layers identifier: 'linear', 'relu', 'leakyRelu', 'tanh', 'sigmoid', 'softmax', 'elu', ... */
  kind: string;
  /** Negative slope for leakyRelu. */
  alpha?: number;
}

const POSITIVELY_HOMOGENEOUS = new Set(['linear', 'relu', 'leakyRelu']);

/** σ(λz) = λσ(z) for λ > 0: what the rescale group needs. */
export function isPositivelyHomogeneous(a: ActivationSpec): boolean {
  return POSITIVELY_HOMOGENEOUS.has(a.kind) && (a.kind !== 'leakyRelu' || (a.alpha ?? 0) >= 0);
}

/** σ is a bijection of R with an inverse we can apply: what data-dependent GL (eq. 4.13) needs. */
export function isBijective(a: ActivationSpec): boolean {
  return a.kind === 'linear' || (a.kind === 'leakyRelu' && (a.alpha ?? 0) > 0);
}

/**
 * Applies σ with ops whose second derivatives tfjs can take (nested `tf.grads`): tf.leakyRelu's
 * gradient uses `Greater`, which has no gradient, so leaky ReLU is written as relu(z) − α·relu(−z);
 * tanh, sigmoid and softmax come from ./second_order.ts (tfjs cuts the second derivative through a
 * saved output). elu has no second derivative in tfjs (EluGrad).
 */
export function applyActivation(a: ActivationSpec, z: Tensor): Tensor {
  switch (a.kind) {
    case 'linear':
      return z;
    case 'relu':
      return tf.relu(z);
    case 'leakyRelu': {
      const alpha = a.alpha ?? 0.3;
      return tf.sub(tf.relu(z), tf.mul(alpha, tf.relu(tf.neg(z))));
    }
    case 'tanh':
      return secondOrder.tanh(z);
    case 'sigmoid':
      return secondOrder.sigmoid(z);
    case 'softmax':
      return secondOrder.softmax(z);
    case 'elu':
      return tf.elu(z);
    case 'selu':
      return tf.selu(z);
    case 'softplus':
      return tf.softplus(z);
    case 'relu6':
      return tf.relu6(z);
    default:
      throw new UnsupportedLayerError(`activation '${a.kind}' is not supported by the functional forward pass`);
  }
}

/** σ⁻¹ for bijective activations (see {@link isBijective}). */
export function invertActivation(a: ActivationSpec, y: Tensor): Tensor {
  if (a.kind === 'linear') return y;
  if (a.kind === 'leakyRelu' && (a.alpha ?? 0.3) > 0) {
    const alpha = a.alpha ?? 0.3;
    return tf.sub(tf.relu(y), tf.mul(1 / alpha, tf.relu(tf.neg(y))));
  }
  throw new UnsupportedLayerError(`activation '${a.kind}' has no inverse; data-dependent GL needs linear or leakyRelu`);
}

/** Reads the activation a tfjs-layers layer config names (identifiers arrive camel- or snake-cased). */
export function activationFromConfig(identifier: unknown): ActivationSpec {
  if (identifier == null) return { kind: 'linear' };
  const name = String(identifier);
  const normalized = name === 'leaky_relu' ? 'leakyRelu' : name === 'hard_sigmoid' ? 'hardSigmoid' : name;
  return { kind: normalized };
}

/** Describes a chain of activations for messages, e.g. "relu ∘ leakyRelu(0.1)". */
export function describeActivations(chain: readonly ActivationSpec[]): string {
  const parts = chain.filter(a => a.kind !== 'linear').map(a => (a.kind === 'leakyRelu' ? `leakyRelu(${a.alpha})` : a.kind));
  return parts.length === 0 ? 'linear' : parts.join(' ∘ ');
}
