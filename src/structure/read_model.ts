import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { UnsupportedLayerError } from '../core/errors.js';
import type { ParamConstraint } from '../core/types.js';
import { type ActivationSpec, activationFromConfig, applyActivation, describeActivations, isBijective, isPositivelyHomogeneous } from './activations.js';

// tfjs-layers' Layer type is not exported from its root in a way we can import as a value; we only
// read public fields, typed loosely here.
interface AnyWeight {
  name: string;
  originalName: string;
  read(): Variable;
  constraint?: { apply(x: Tensor): Tensor } | null;
}
interface AnyRegularizer {
  apply(x: Tensor): Scalar;
}
interface AnyLayer {
  name: string;
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  trainableWeights: AnyWeight[];
  weights: AnyWeight[];
  trainable: boolean;
  inboundNodes?: Array<{ inboundLayers: AnyLayer[] }>;
  kernelRegularizer?: AnyRegularizer | null;
  biasRegularizer?: AnyRegularizer | null;
  activityRegularizer?: AnyRegularizer | null;
}

/** One layer of the chain, in the terms the functional forward pass needs. */
export interface ChainLayer {
  name: string;
  className: string;
  kind: 'dense' | 'conv2d' | 'activation' | 'maxPool' | 'avgPool' | 'flatten' | 'globalAvgPool' | 'dropout';
  /** Index into the structure's parameter list (trainable weights). */
  kernel?: number;
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
  units?: number;
}

/**
 * Hidden units (or channels) between two parametrized layers: the place where a group element acts.
 * Row-major convention: the first layer's kernel columns (last axis) and bias, and the second
 * layer's kernel rows (input axis; for conv → flatten → dense, every `channelStride`-th row).
 */
export interface Site {
  kind: 'dense-dense' | 'conv-conv' | 'conv-dense';
  where: string;
  /** Number of hidden units / channels h. */
  width: number;
  inKernel: number;
  inBias: number | null;
  outKernel: number;
  /** Chain indices of the two parametrized layers. */
  inLayer: number;
  outLayer: number;
  /** Activations between them (the first layer's own, then standalone activation layers). */
  activations: ActivationSpec[];
  /** Class names of shape or pooling layers passed through. */
  through: string[];
  /** conv → dense through flatten: rows r of the dense kernel with r % channelStride === c belong to channel c. */
  channelStride: number;
  /** σ(λz) = λσ(z) for every activation on the way, and only positive-scaling-commuting layers between. */
  positivelyHomogeneous: boolean;
  /** Nothing nonlinear between: GL acts exactly for every input. */
  linear: boolean;
  /** One bijective activation and nothing else (dense-dense): data-dependent GL can act. */
  bijective: ActivationSpec | null;
}

/** What the structure reader makes of a tfjs-layers model. */
export interface ModelStructure {
  modelName: string;
  /** Names of the model's trainable weights, in `model.trainableWeights` order (the parameter list). */
  paramNames: string[];
  /** The tf.Variables behind those weights. */
  variables: Variable[];
  layers: ChainLayer[];
  sites: Site[];
  /** Layer pairs where no group could be placed, with the reason. */
  unsupported: string[];
  /** The model ends in a softmax that a cross-entropy loss can fuse. */
  finalSoftmax: boolean;
  /** Per parameter: its layer's constraint (nonNeg, maxNorm, …), checked after every teleport. */
  constraints: Array<ParamConstraint | null>;
  /**
   * The weight regularizers' penalty (kernelRegularizer, biasRegularizer) in the given parameters,
   * the part of the training loss beyond the data loss; null when the model has none.
   */
  regularization(params: readonly Tensor[]): Scalar | null;
  /**
   * A pure forward pass in the given parameters (inference mode: dropout is the identity), built
   * from ops that support second derivatives. With `logits`, a final softmax is left out.
   */
  forward(params: readonly Tensor[], x: Tensor, opts?: { logits?: boolean; collect?: boolean }): ForwardResult;
}

/** The output of a pure forward pass, and with `collect` what each chain layer saw. */
export interface ForwardResult {
  output: Tensor;
  /** With `collect`: per chain layer, its input and (dense/conv) its output before its own activation. */
  inputs?: Tensor[];
  preActivations?: Array<Tensor | null>;
}

const PASS_THROUGH_HOMOGENEOUS = new Set(['maxPool', 'avgPool', 'dropout']);

/** Reads a Sequential or chain-shaped functional tfjs-layers model. */
export function readModel(model: LayersModel): ModelStructure {
  const raw = chainOf(model);
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

  const layers: ChainLayer[] = raw.map(layer => describeLayer(layer, indexOf));
  const { sites, unsupported } = findSites(layers, raw);
  const last = [...layers].reverse().find(l => l.kind === 'dense' || l.kind === 'conv2d' || l.kind === 'activation');
  const finalSoftmax = last?.activation?.kind === 'softmax';

  // Constraints and regularizers, aligned with the parameter list.
  const constraints: Array<ParamConstraint | null> = variables.map(() => null);
  const regularizers: Array<AnyRegularizer | null> = variables.map(() => null);
  for (const layer of raw) {
    for (const w of layer.trainableWeights) {
      const i = paramNames.indexOf((w.read() as Variable).name);
      if (i < 0) continue;
      if (w.constraint != null) constraints[i] = x => w.constraint!.apply(x);
      const suffix = w.originalName ?? w.name;
      const reg = suffix.endsWith('/kernel') ? layer.kernelRegularizer : suffix.endsWith('/bias') ? layer.biasRegularizer : null;
      if (reg != null) regularizers[i] = reg;
    }
  }
  const regularized = regularizers.some(r => r != null);

  return {
    modelName: model.name,
    paramNames,
    variables,
    layers,
    sites,
    unsupported,
    finalSoftmax,
    constraints,
    regularization: params => (regularized ? (tf.addN(regularizers.flatMap((r, i) => (r != null ? [r.apply(params[i])] : []))) as Scalar) : null),
    forward: (params, x, opts = {}) => forward(layers, params, x, opts),
  };
}

/** Throws an UnsupportedLayerError for a model with several inputs or outputs (every route checks this first). */
export function checkSingleInputOutput(model: LayersModel): void {
  const ins = model.inputs.length;
  const outs = model.outputs.length;
  if (ins === 1 && outs === 1) return;
  const which = ins !== 1 ? 'multi-input' : 'multi-output';
  throw new UnsupportedLayerError(
    `model '${model.name}' has ${ins} inputs and ${outs} outputs: ${which} models are not supported (only single-input, single-output chains); teleport a single-input sub-model, or train this one with the plain optimizer`,
  );
}

function chainOf(model: LayersModel): AnyLayer[] {
  const all = model.layers as unknown as AnyLayer[];
  const layers = all.filter(l => l.getClassName() !== 'InputLayer');
  checkSingleInputOutput(model);
  // A layer applied more than once shares its weights between uses: moving them for one use would
  // change the others, so no group is exact there.
  for (const layer of layers) {
    const uses = layer.inboundNodes?.length ?? 0;
    if (uses > 1) {
      throw new UnsupportedLayerError(
        `layer '${layer.name}' is used ${uses} times (shared weights, e.g. layer.apply(layer.apply(x)) or one layer in two models); ` +
          'a teleport would change every use. Give each use its own layer, or teleport a model that uses it once.',
      );
    }
  }
  // Functional models must be a plain chain: each layer fed by exactly the layer before it.
  if (model.getClassName() !== 'Sequential') {
    for (let i = 1; i < layers.length; i++) {
      const nodes = layers[i].inboundNodes ?? [];
      const inbound = nodes.length === 1 ? nodes[0].inboundLayers : [];
      if (inbound.length !== 1 || inbound[0] !== layers[i - 1]) {
        throw new UnsupportedLayerError(
          `layer '${layers[i].name}' is not fed by '${layers[i - 1].name}' alone; only chain-shaped models (Sequential, or functional chains) are supported`,
        );
      }
    }
  }
  return layers;
}

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

function describeLayer(layer: AnyLayer, indexOf: (l: AnyLayer, s: string) => number | undefined): ChainLayer {
  const chain = describeLayerKind(layer, indexOf);
  if (chain.kind === 'dense' || chain.kind === 'conv2d') {
    if (chain.kernel == null) chain.frozenKernel = frozenWeight(layer, '/kernel');
    if (chain.bias == null) chain.frozenBias = frozenWeight(layer, '/bias');
  }
  if (layer.activityRegularizer != null) chain.activityRegularized = true;
  return chain;
}

function describeLayerKind(layer: AnyLayer, indexOf: (l: AnyLayer, s: string) => number | undefined): ChainLayer {
  const cls = layer.getClassName();
  const cfg = layer.getConfig();
  const base = { name: layer.name, className: cls };
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
    case 'GlobalAveragePooling2D':
      return { ...base, kind: 'globalAvgPool' };
    case 'Dropout':
      return { ...base, kind: 'dropout' };
    default:
      return unsupportedLayer(
        layer,
        `layer class ${cls} is not supported (supported: Dense, Conv2D, Activation, ReLU, LeakyReLU, Softmax, MaxPooling2D, AveragePooling2D, Flatten, GlobalAveragePooling2D, Dropout)`,
      );
  }
}

function unsupportedLayer(layer: AnyLayer, reason: string): never {
  throw new UnsupportedLayerError(`cannot read layer '${layer.name}': ${reason}`);
}

function findSites(layers: ChainLayer[], raw: AnyLayer[]): { sites: Site[]; unsupported: string[] } {
  const sites: Site[] = [];
  const unsupported: string[] = [];
  const paramIdx = layers.map((l, i) => (l.kind === 'dense' || l.kind === 'conv2d' ? i : -1)).filter(i => i >= 0);
  for (let p = 0; p + 1 < paramIdx.length; p++) {
    const a = paramIdx[p];
    const b = paramIdx[p + 1];
    const first = layers[a];
    const second = layers[b];
    const label = `${first.name} → ${second.name}`;
    if (first.kernel == null || second.kernel == null || !raw[a].trainable || !raw[b].trainable) {
      unsupported.push(`${label}: a layer is frozen (trainable = false); teleports only move trainable weights`);
      continue;
    }
    // A weight penalty is not invariant under the group: the training loss would change.
    const penalized = [
      raw[a].kernelRegularizer != null ? `${first.name}'s kernelRegularizer` : null,
      raw[a].biasRegularizer != null && first.bias != null ? `${first.name}'s biasRegularizer` : null,
      raw[b].kernelRegularizer != null ? `${second.name}'s kernelRegularizer` : null,
      first.activityRegularized ? `${first.name}'s activityRegularizer` : null,
    ].filter((x): x is string => x != null);
    if (penalized.length) {
      unsupported.push(
        `${label}: ${penalized.join(' and ')} penalize the weights the group moves, so the training loss is not invariant (remove the regularizer there to teleport this pair)`,
      );
      continue;
    }
    const activations: ActivationSpec[] = [first.activation ?? { kind: 'linear' }];
    const through: string[] = [];
    let flattened = false;
    for (let k = a + 1; k < b; k++) {
      const l = layers[k];
      if (l.kind === 'activation') activations.push(l.activation!);
      else {
        through.push(l.className);
        if (l.kind === 'flatten' || l.kind === 'globalAvgPool') flattened = true;
      }
    }
    const kind =
      first.kind === 'dense' && second.kind === 'dense'
        ? 'dense-dense'
        : first.kind === 'conv2d' && second.kind === 'conv2d'
          ? 'conv-conv'
          : first.kind === 'conv2d' && second.kind === 'dense' && flattened
            ? 'conv-dense'
            : null;
    if (kind == null) {
      unsupported.push(`${label}: no symmetry is implemented between ${first.className} and ${second.className}${flattened ? '' : ' without a Flatten'}`);
      continue;
    }
    const homogeneous =
      activations.every(isPositivelyHomogeneous) &&
      layers.slice(a + 1, b).every(l => l.kind === 'activation' || PASS_THROUGH_HOMOGENEOUS.has(l.kind) || l.kind === 'flatten' || l.kind === 'globalAvgPool');
    const nonlinear = activations.filter(x => x.kind !== 'linear');
    const onlyActivations = through.every(c => c === 'Flatten') && kind === 'dense-dense';
    const linear = nonlinear.length === 0 && onlyActivations;
    const bijective =
      onlyActivations && nonlinear.length <= 1 && (nonlinear.length === 0 || isBijective(nonlinear[0])) ? (nonlinear[0] ?? { kind: 'linear' }) : null;
    const width = first.units!;
    sites.push({
      kind,
      where: `${label} (${width} ${first.kind === 'conv2d' ? 'channels' : 'units'}, ${describeActivations(activations)}${through.length ? ', through ' + through.join(', ') : ''})`,
      width,
      inKernel: first.kernel,
      inBias: first.bias ?? null,
      outKernel: second.kernel,
      inLayer: a,
      outLayer: b,
      activations,
      through,
      channelStride: kind === 'conv-dense' ? width : 1,
      positivelyHomogeneous: homogeneous,
      linear,
      bijective,
    });
  }
  return { sites, unsupported };
}

/** A layer's weight: from the parameter list when trainable, else the frozen constant. */
function weightOf(params: readonly Tensor[], index: number | undefined, frozen: Tensor | undefined): Tensor | undefined {
  return index != null ? params[index] : frozen;
}

function forward(layers: ChainLayer[], params: readonly Tensor[], x: Tensor, opts: { logits?: boolean; collect?: boolean }): ForwardResult {
  const inputs: Tensor[] = [];
  const pre: Array<Tensor | null> = [];
  let h = x;
  const lastActivating = (() => {
    for (let i = layers.length - 1; i >= 0; i--) {
      const k = layers[i].kind;
      if (k === 'dense' || k === 'conv2d' || k === 'activation') return i;
    }
    return -1;
  })();
  layers.forEach((l, i) => {
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
      case 'maxPool':
        h = tf.maxPool(h as tf.Tensor4D, l.poolSize!, l.strides!, l.padding!);
        break;
      case 'avgPool':
        h = tf.avgPool(h as tf.Tensor4D, l.poolSize!, l.strides!, l.padding!);
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case 'globalAvgPool':
        h = tf.mean(h, [1, 2]);
        break;
      case 'dropout':
      case 'activation':
        break;
    }
    if (opts.collect) pre.push(z);
    const act = l.activation;
    if (act != null && !(opts.logits && i === lastActivating && act.kind === 'softmax')) h = applyActivation(act, h);
  });
  return opts.collect ? { output: h, inputs, preActivations: pre } : { output: h };
}
