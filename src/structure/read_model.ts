import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { UnsupportedLayerError } from '../core/errors.js';
import type { ParamConstraint } from '../core/types.js';
import { type ForwardOptions, type ForwardResult, forward, logitLayers } from './forward.js';
import { type AnyLayer, type AnyRegularizer, type ChainLayer, describeLayer } from './layers.js';
import { findSites, type Site } from './sites.js';

export type { ChainLayer } from './layers.js';
export type { Site } from './sites.js';
export type { ForwardOptions, ForwardResult } from './forward.js';

/** What the structure reader makes of a tfjs-layers model. */
export interface ModelStructure {
  modelName: string;
  /** Names of the model's trainable weights, in `model.trainableWeights` order (the parameter list). */
  paramNames: string[];
  /** The tf.Variables behind those weights. */
  variables: Variable[];
  /** The model's layers in topological order (InputLayers left out), each with the layers it reads. */
  layers: ChainLayer[];
  /** For each model output, the index of the layer that produces it. */
  outputs: number[];
  /** Number of model inputs (a batch's `x` is an array of that many tensors when more than one). */
  inputCount: number;
  sites: Site[];
  /** Layer pairs where no group could be placed, with the reason. */
  unsupported: string[];
  /** The (first) output ends in a softmax that a cross-entropy loss can fuse. */
  finalSoftmax: boolean;
  /** Per output: it ends in a softmax that a cross-entropy loss can fuse. */
  finalSoftmaxes: boolean[];
  /** Per parameter: its layer's constraint (nonNeg, maxNorm, …), checked after every teleport. */
  constraints: Array<ParamConstraint | null>;
  /**
   * The weight regularizers' penalty (kernelRegularizer, biasRegularizer) in the given parameters,
   * the part of the training loss beyond the data loss; null when the model has none.
   */
  regularization(params: readonly Tensor[]): Scalar | null;
  /**
   * A pure forward pass in the given parameters (dropout is the identity; BatchNormalization uses the
   * batch's statistics as `fit` does, unless `normalization: 'moving'`), built from ops that support
   * second derivatives. With `logits`, a final softmax is left out. `x` is an array for a
   * multi-input model.
   */
  forward(params: readonly Tensor[], x: Tensor | readonly Tensor[], opts?: ForwardOptions): ForwardResult;
}

/**
 * Reads a Sequential or functional tfjs-layers model as a graph: layers (with their inputs), the
 * parameter list, and the sites where groups act.
 */
export function readModel(model: LayersModel): ModelStructure {
  const { raw, inputs, outputs } = graphOf(model);
  const trainable = model.trainableWeights;
  const variables = trainable.map(w => w.read() as Variable);
  const paramNames = variables.map(v => v.name);
  const indexOf = (layer: AnyLayer, suffix: string): number | undefined => {
    // originalName keeps '/kernel' when a loaded model's variable names were made unique ('…/kernel_1').
    const w = layer.trainableWeights.find(v => (v.originalName ?? v.name).endsWith(suffix));
    if (w == null) return undefined;
    const i = paramNames.indexOf((w.read() as Variable).name);
    return i < 0 ? undefined : i;
  };

  const layers: ChainLayer[] = raw.map((layer, i) => describeLayer(layer, indexOf, inputs[i]));
  const { sites, unsupported } = findSites(layers, raw, outputs);
  const logits = logitLayers(layers, outputs);
  const finalSoftmaxes = outputs.map(o => {
    let i = o;
    while (i >= 0 && layers[i].kind === 'dropout') i = layers[i].inputs[0];
    return logits.has(i);
  });

  // Constraints and regularizers, aligned with the parameter list.
  const constraints: Array<ParamConstraint | null> = variables.map(() => null);
  const regularizers: Array<AnyRegularizer | null> = variables.map(() => null);
  for (const layer of raw) {
    for (const w of layer.trainableWeights) {
      const i = paramNames.indexOf((w.read() as Variable).name);
      if (i < 0) continue;
      if (w.constraint != null) constraints[i] = x => w.constraint!.apply(x);
      const suffix = w.originalName ?? w.name;
      const reg = suffix.endsWith('/kernel')
        ? layer.kernelRegularizer
        : suffix.endsWith('/bias')
          ? layer.biasRegularizer
          : suffix.endsWith('/gamma')
            ? layer.gammaRegularizer
            : suffix.endsWith('/beta')
              ? layer.betaRegularizer
              : null;
      if (reg != null) regularizers[i] = reg;
    }
  }
  const regularized = regularizers.some(r => r != null);

  return {
    modelName: model.name,
    paramNames,
    variables,
    layers,
    outputs,
    inputCount: model.inputs.length,
    sites,
    unsupported,
    finalSoftmax: finalSoftmaxes[0],
    finalSoftmaxes,
    constraints,
    regularization: params => (regularized ? (tf.addN(regularizers.flatMap((r, i) => (r != null ? [r.apply(params[i])] : []))) as Scalar) : null),
    forward: (params, x, opts = {}) => forward(layers, outputs, params, x, opts),
  };
}

/**
 * The model's layers in topological order with, per layer, where it reads from (layer indices, or
 * −1 − k for model input k), and the layer of each output. Shared layers (applied more than once)
 * are refused: a teleport would change every use.
 */
function graphOf(model: LayersModel): { raw: AnyLayer[]; inputs: number[][]; outputs: number[] } {
  const all = model.layers as unknown as AnyLayer[];
  const raw = all.filter(l => l.getClassName() !== 'InputLayer');
  // A layer applied more than once shares its weights between uses: moving them for one use would
  // change the others, so no group is exact there.
  for (const layer of raw) {
    const uses = layer.inboundNodes?.length ?? 0;
    if (uses > 1) {
      throw new UnsupportedLayerError(
        `layer '${layer.name}' is used ${uses} times (shared weights, e.g. layer.apply(layer.apply(x)) or one layer in two models); ` +
          'a teleport would change every use. Give each use its own layer, or teleport a model that uses it once.',
      );
    }
  }
  if (model.getClassName() === 'Sequential') {
    return { raw, inputs: raw.map((_, i) => [i - 1]), outputs: [raw.length - 1] };
  }
  const container = model as unknown as { inputLayers: AnyLayer[]; outputLayers: AnyLayer[] };
  const index = new Map(raw.map((l, i) => [l, i]));
  container.inputLayers.forEach((l, k) => index.set(l, -1 - k));
  const inputs = raw.map(layer => {
    const inbound = layer.inboundNodes?.[0]?.inboundLayers ?? [];
    return inbound.map(src => {
      const i = index.get(src);
      if (i == null)
        throw new UnsupportedLayerError(`layer '${layer.name}' reads from '${src.name}', which is not part of model '${model.name}' (a nested model?)`);
      return i;
    });
  });
  // model.layers is in topological order; check, since the forward pass relies on it.
  inputs.forEach((ins, i) => {
    if (ins.some(j => j >= i)) throw new UnsupportedLayerError(`layer '${raw[i].name}' reads a layer listed after it; cannot order model '${model.name}'`);
  });
  const outputs = container.outputLayers.map(l => {
    const i = index.get(l);
    if (i == null || i < 0) throw new UnsupportedLayerError(`an output of model '${model.name}' is an input layer; nothing to teleport there`);
    return i;
  });
  return { raw, inputs, outputs };
}
