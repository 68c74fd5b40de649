import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import { UnsupportedLayerError } from '../core/errors.js';
import { type ActivationSpec, activationFromConfig } from './activations.js';

// tfjs-layers' Layer type is not exported from its root in a way we can import as a value; we only
// read public fields, typed loosely here.
export interface AnyWeight {
  name: string;
  originalName: string;
  read(): Variable;
  constraint?: { apply(x: Tensor): Tensor } | null;
}
export interface AnyRegularizer {
  apply(x: Tensor): Scalar;
}
export interface AnyLayer {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  trainableWeights: AnyWeight[];
  weights: AnyWeight[];
  trainable: boolean;
  inboundNodes?: Array<{ inboundLayers: AnyLayer[] }>;
  outputShape?: Array<number | null> | Array<Array<number | null>>;
  kernelRegularizer?: AnyRegularizer | null;
  biasRegularizer?: AnyRegularizer | null;
  gammaRegularizer?: AnyRegularizer | null;
  betaRegularizer?: AnyRegularizer | null;
  activityRegularizer?: AnyRegularizer | null;
}

/** How a merge layer combines its inputs. */
export type MergeKind = 'add' | 'subtract' | 'multiply' | 'average' | 'maximum' | 'minimum' | 'concatenate';

/** One layer of the model graph, in the terms the functional forward pass needs. */
export interface ChainLayer {
  name: string;
  className: string;
  kind:
    | 'dense'
    | 'conv2d'
    | 'batchNorm'
    | 'layerNorm'
    | 'activation'
    | 'maxPool'
    | 'avgPool'
    | 'flatten'
    | 'globalAvgPool'
    | 'globalMaxPool'
    | 'dropout'
    | 'reshape'
    | 'merge';
  /**
   * Where the layer reads from: indices into the structure's layer list (≥ 0), or −1 − k for the
   * model's k-th input. A chain has `inputs = [i − 1]`.
   */
  inputs: number[];
  /** Rank of the layer's output (batch axis included). */
  outRank: number;
  /**
   * Index into the structure's parameter list (trainable weights): the kernel of Dense/Conv2D, the
   * scale γ of BatchNormalization/LayerNormalization.
   */
  kernel?: number;
  /** The bias of Dense/Conv2D, the offset β of a normalization layer. */
  bias?: number;
  /** The weights of a frozen layer (trainable = false): constants of the forward pass. */
  frozenKernel?: Tensor;
  frozenBias?: Tensor;
  /** The layer has an activity regularizer (a penalty on its output). */
  activityRegularized?: boolean;
  /** The layer's own activation (dense, conv2d) or the activation it is (activation layers). */
  activation?: ActivationSpec;
  strides?: [number, number];
  padding?: 'same' | 'valid';
  dilation?: [number, number];
  poolSize?: [number, number];
  /** Output units (Dense), filters (Conv2D) or normalized channels (BatchNormalization, LayerNormalization). */
  units?: number;
  /** BatchNormalization's moving statistics (non-trainable; a teleport moves them with the scale). */
  movingMean?: Variable;
  movingVariance?: Variable;
  epsilon?: number;
  /** LayerNormalization: the normalized axes (positive, batch axis 0). */
  normAxes?: number[];
  merge?: MergeKind;
  /** Concatenate: the axis (positive). */
  concatAxis?: number;
  /** Reshape: the target shape without the batch axis. */
  targetShape?: number[];
}

/** Looks up a layer's trainable weight by name suffix in the parameter list. */
export type IndexOf = (layer: AnyLayer, suffix: string) => number | undefined;

function pair(v: unknown, fallback: number): [number, number] {
  if (Array.isArray(v)) return [Number(v[0]), Number(v[1] ?? v[0])];
  if (v == null) return [fallback, fallback];
  return [Number(v), Number(v)];
}

/** A frozen layer's weight by suffix, read as a constant (trainable weights come from the parameter list). */
function frozenWeight(layer: AnyLayer, suffix: string): Tensor | undefined {
  if (layer.trainable && layer.trainableWeights.length > 0) return undefined;
  return layer.weights.find(w => (w.originalName ?? w.name).endsWith(suffix))?.read();
}

function weightVariable(layer: AnyLayer, suffix: string): Variable | undefined {
  return layer.weights.find(w => (w.originalName ?? w.name).endsWith(suffix))?.read();
}

/** The rank of a layer's (single) output, from its built output shape. */
function outputRank(layer: AnyLayer): number {
  const shape = layer.outputShape;
  if (shape == null || shape.length === 0) return 0;
  return Array.isArray(shape[0]) ? (shape[0] as unknown[]).length : shape.length;
}

const MERGES: Record<string, MergeKind> = {
  Add: 'add',
  Subtract: 'subtract',
  Multiply: 'multiply',
  Average: 'average',
  Maximum: 'maximum',
  Minimum: 'minimum',
  Concatenate: 'concatenate',
};

const SUPPORTED = [
  'Dense',
  'Conv2D',
  'BatchNormalization',
  'LayerNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'Softmax',
  'MaxPooling2D',
  'AveragePooling2D',
  'Flatten',
  'Reshape',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Dropout',
  ...Object.keys(MERGES),
];

/** Describes one tfjs-layers layer; `inputs` is filled in by the caller. A layer class we cannot run is an error naming it. */
export function describeLayer(layer: AnyLayer, indexOf: IndexOf, inputs: number[]): ChainLayer {
  const chain = describeLayerKind(layer, indexOf, { name: layer.name, className: layer.getClassName(), inputs, outRank: outputRank(layer) });
  if (chain.kind === 'dense' || chain.kind === 'conv2d') {
    if (chain.kernel == null) chain.frozenKernel = frozenWeight(layer, '/kernel');
    if (chain.bias == null) chain.frozenBias = frozenWeight(layer, '/bias');
  }
  if (chain.kind === 'batchNorm' || chain.kind === 'layerNorm') {
    if (chain.kernel == null) chain.frozenKernel = frozenWeight(layer, '/gamma');
    if (chain.bias == null) chain.frozenBias = frozenWeight(layer, '/beta');
  }
  if (layer.activityRegularizer != null) chain.activityRegularized = true;
  return chain;
}

type Base = Pick<ChainLayer, 'name' | 'className' | 'inputs' | 'outRank'>;

function describeLayerKind(layer: AnyLayer, indexOf: IndexOf, base: Base): ChainLayer {
  const cls = base.className;
  const cfg = layer.getConfig();
  if (cls in MERGES) {
    const merge = MERGES[cls];
    if (merge !== 'concatenate') return { ...base, kind: 'merge', merge };
    const axis = Number(cfg.axis ?? -1);
    return { ...base, kind: 'merge', merge, concatAxis: axis < 0 ? axis + base.outRank : axis };
  }
  switch (cls) {
    case 'Dense':
      return {
        ...base,
        kind: 'dense',
        kernel: indexOf(layer, '/kernel'),
        bias: indexOf(layer, '/bias'),
        activation: activationFromConfig(cfg.activation),
        units: Number(cfg.units),
      };
    case 'Conv2D': {
      if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') {
        throw new UnsupportedLayerError(`Conv2D '${layer.name}' uses dataFormat '${String(cfg.dataFormat)}'; only channelsLast (NHWC) is supported`);
      }
      return {
        ...base,
        kind: 'conv2d',
        kernel: indexOf(layer, '/kernel'),
        bias: indexOf(layer, '/bias'),
        activation: activationFromConfig(cfg.activation),
        strides: pair(cfg.strides, 1),
        padding: cfg.padding === 'same' ? 'same' : 'valid',
        dilation: pair(cfg.dilationRate, 1),
        units: Number(cfg.filters),
      };
    }
    case 'BatchNormalization': {
      const axis = Number(cfg.axis ?? -1);
      if (axis !== -1 && axis !== base.outRank - 1) {
        return unsupportedLayer(layer, `BatchNormalization over axis ${axis} is not supported; only the channels-last axis (-1)`);
      }
      const movingMean = weightVariable(layer, '/moving_mean');
      const movingVariance = weightVariable(layer, '/moving_variance');
      if (movingMean == null || movingVariance == null) return unsupportedLayer(layer, 'BatchNormalization without moving statistics (not built?)');
      return {
        ...base,
        kind: 'batchNorm',
        kernel: cfg.scale === false ? undefined : indexOf(layer, '/gamma'),
        bias: cfg.center === false ? undefined : indexOf(layer, '/beta'),
        movingMean,
        movingVariance,
        epsilon: Number(cfg.epsilon ?? 1e-3),
        units: movingMean.shape[0],
      };
    }
    case 'LayerNormalization': {
      const raw = Array.isArray(cfg.axis) ? (cfg.axis as number[]) : [Number(cfg.axis ?? -1)];
      const normAxes = raw.map(a => (a < 0 ? a + base.outRank : a)).sort((a, b) => a - b);
      const gamma = weightVariable(layer, '/gamma') ?? weightVariable(layer, '/beta');
      return {
        ...base,
        kind: 'layerNorm',
        kernel: cfg.scale === false ? undefined : indexOf(layer, '/gamma'),
        bias: cfg.center === false ? undefined : indexOf(layer, '/beta'),
        epsilon: Number(cfg.epsilon ?? 1e-3),
        normAxes,
        units: gamma?.shape.reduce((a, b) => a * b, 1),
      };
    }
    case 'Activation':
      return { ...base, kind: 'activation', activation: activationFromConfig(cfg.activation) };
    case 'ReLU':
      if (cfg.maxValue != null) return unsupportedLayer(layer, 'ReLU with maxValue is not positively homogeneous');
      return { ...base, kind: 'activation', activation: { kind: 'relu' } };
    case 'LeakyReLU':
      return { ...base, kind: 'activation', activation: { kind: 'leakyRelu', alpha: Number(cfg.alpha ?? 0.3) } };
    case 'Softmax':
      return { ...base, kind: 'activation', activation: { kind: 'softmax' } };
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') return unsupportedLayer(layer, 'only channelsLast pooling is supported');
      return {
        ...base,
        kind: cls === 'MaxPooling2D' ? 'maxPool' : 'avgPool',
        poolSize: pair(cfg.poolSize, 2),
        strides: pair(cfg.strides ?? cfg.poolSize, 2),
        padding: cfg.padding === 'same' ? 'same' : 'valid',
      };
    case 'Flatten':
      return { ...base, kind: 'flatten' };
    case 'Reshape':
      return { ...base, kind: 'reshape', targetShape: (cfg.targetShape as number[]).map(Number) };
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      if (cfg.dataFormat != null && cfg.dataFormat !== 'channelsLast') return unsupportedLayer(layer, 'only channelsLast pooling is supported');
      return { ...base, kind: cls === 'GlobalAveragePooling2D' ? 'globalAvgPool' : 'globalMaxPool' };
    case 'Dropout':
      return { ...base, kind: 'dropout' };
    default:
      return unsupportedLayer(layer, `layer class ${cls} is not supported (supported: ${SUPPORTED.join(', ')})`);
  }
}

function unsupportedLayer(layer: AnyLayer, reason: string): never {
  throw new UnsupportedLayerError(`cannot read layer '${layer.name}': ${reason}`);
}
