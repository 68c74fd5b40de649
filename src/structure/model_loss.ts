import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import { badOption } from '../core/errors.js';
import { type Batch, inputsOf, targetsOf } from '../core/batch.js';
import { resolveLoss, type ResolvedLoss } from './losses.js';
import type { ModelStructure } from './read_model.js';

/** A model's training loss on a batch, one resolved loss per output. */
export interface ModelLoss {
  /** Per output, in `model.outputs` order. */
  perOutput: ResolvedLoss[];
  /**
   * Σ over outputs of each output's loss (tfjs-layers sums the outputs' losses with weight 1: it does
   * not implement `lossWeights`), plus the weight regularizers' penalty, in the given parameters.
   */
  on(batch: Batch): (params: readonly Tensor[], shift?: ReadonlyMap<number, Tensor>) => Scalar;
}

/**
 * Resolves the loss of a model with one or several outputs: `spec` is the `loss` option or
 * `model.loss` (one loss for every output, or an array with one per output).
 */
export function modelLoss(structure: ModelStructure, spec: unknown): ModelLoss {
  const n = structure.outputs.length;
  let specs: unknown[];
  if (Array.isArray(spec) && n > 1) {
    if (spec.length !== n)
      throw badOption(`model '${structure.modelName}' has ${n} outputs but ${spec.length} losses; give one loss per output (or one for all)`);
    specs = spec;
  } else {
    specs = Array.from({ length: n }, () => spec);
  }
  const perOutput = specs.map((s, k) => resolveLoss(s, structure.finalSoftmaxes[k]));
  const logits = perOutput.map(l => l.logits);
  return {
    perOutput,
    on: batch => {
      const x = inputsOf(batch);
      const y = targetsOf(batch);
      if (x.length !== structure.inputCount || y.length !== n) {
        throw badOption(
          `model '${structure.modelName}' has ${structure.inputCount} input(s) and ${n} output(s); a batch gives ${x.length} x and ${y.length} y tensors (use arrays in model.inputs / model.outputs order)`,
        );
      }
      // `shift`: tensors added to layers' pre-activations (see ForwardOptions.shift), for ∂L/∂Z.
      return (params, shift) => {
        const { outputs } = structure.forward(params, x.length === 1 ? x[0] : x, { logits, ...(shift != null ? { shift } : {}) });
        const terms = perOutput.map((l, k) => l.compute(y[k], outputs[k]));
        const data = terms.length === 1 ? terms[0] : (tf.addN(terms) as Scalar);
        const penalty = structure.regularization(params);
        return penalty == null ? data : (tf.add(data, penalty) as Scalar);
      };
    },
  };
}
