import type { Tensor } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { badOption, UnsupportedLayerError } from '../core/errors.js';
import { type ActivationSpec, isPositivelyHomogeneous } from './activations.js';
import { readModel } from './read_model.js';
import { consumersOf } from './sites.js';

/**
 * A Dense layer whose units can change in number, with the next Dense layer that reads them: what
 * `split` and `merge` act on. Only elementwise layers (activations, dropout) may sit between.
 */
export interface DensePair {
  /** The Dense layer's name and index in `model.layers`. */
  layer: string;
  layerIndex: number;
  /** The next Dense layer (whose kernel rows belong to the units). */
  next: string;
  /** Number of units. */
  width: number;
  /** The activations applied to the units (the layer's own, then activation layers between). */
  activations: ActivationSpec[];
  /** σ(λz) = λσ(z) for λ > 0 along the way (linear, relu, leakyRelu): pre-activation splits apply. */
  positivelyHomogeneous: boolean;
}

const ELEMENTWISE = new Set(['activation', 'dropout']);

/**
 * Every Dense → Dense pair of a chain model (Sequential or functional chain) with only elementwise
 * layers between, in chain order.
 */
export function densePairs(model: LayersModel): DensePair[] {
  const structure = readModel(model);
  const names = model.layers.map(l => l.name);
  const out: DensePair[] = [];
  const chain = structure.layers;
  const consumers = consumersOf(chain);
  // In a graph, layer k + 1 must read layer k alone and be its only reader (the units go nowhere else).
  const linked = (k: number) => consumers[k].length === 1 && consumers[k][0] === k + 1 && chain[k + 1].inputs.length === 1 && !structure.outputs.includes(k);
  for (let a = 0; a < chain.length; a++) {
    if (chain[a].kind !== 'dense') continue;
    let b = a + 1;
    while (b < chain.length && ELEMENTWISE.has(chain[b].kind) && linked(b - 1)) b++;
    if (b >= chain.length || chain[b].kind !== 'dense' || !linked(b - 1)) continue;
    const activations = [chain[a].activation ?? { kind: 'linear' }, ...chain.slice(a + 1, b).flatMap(l => (l.activation ? [l.activation] : []))];
    out.push({
      layer: chain[a].name,
      layerIndex: names.indexOf(chain[a].name),
      next: chain[b].name,
      width: chain[a].units!,
      activations,
      positivelyHomogeneous: activations.every(isPositivelyHomogeneous),
    });
  }
  return out;
}

/**
 * The Dense → Dense pair whose first layer is `layer` (a name, or an index into `model.layers`);
 * a clear error when it is not a Dense layer or no Dense layer reads its units.
 */
export function densePairAt(model: LayersModel, layer: string | number): DensePair {
  const names = model.layers.map(l => l.name);
  let name: string;
  if (typeof layer === 'number') {
    if (!Number.isInteger(layer) || layer < 0 || layer >= names.length) {
      throw badOption(`layer index ${layer} is out of range: model '${model.name}' has layers 0…${names.length - 1} (${names.join(', ')})`);
    }
    name = names[layer];
  } else if (typeof layer === 'string') {
    if (!names.includes(layer)) throw badOption(`model '${model.name}' has no layer '${layer}'; its layers are ${names.join(', ')}`);
    name = layer;
  } else {
    throw badOption(`\`layer\` must be a Dense layer's name or its index in model.layers, got ${String(layer)}`);
  }
  const pairs = densePairs(model);
  const pair = pairs.find(p => p.layer === name);
  if (pair != null) return pair;
  const cls = model.layers[names.indexOf(name)].getClassName();
  const choices = pairs.length ? `layers that can be resized: ${pairs.map(p => `'${p.layer}' (index ${p.layerIndex})`).join(', ')}` : 'this model has none';
  if (cls !== 'Dense') throw new UnsupportedLayerError(`layer '${name}' is a ${cls}, not a Dense layer; ${choices}`);
  throw new UnsupportedLayerError(
    `Dense layer '${name}' has no next Dense layer reading its units (it is the last one, or a non-elementwise layer follows); ${choices}`,
  );
}

/**
 * A new model with the same architecture as `model` except the number of units of some Dense
 * layers, and the given weights (per layer name, in `layer.getWeights()` order; layers not listed
 * keep copies of their weights). The input model is not touched; the new one is not compiled.
 */
export function rebuildWithUnits(model: LayersModel, units: Record<string, number>, weights: Record<string, Tensor[]>): LayersModel {
  const config = JSON.parse(JSON.stringify(model.getConfig())) as { layers: Array<{ className: string; config: Record<string, unknown> }> };
  for (const entry of config.layers) {
    const name = String(entry.config.name);
    if (name in units) entry.config.units = units[name];
  }
  const sequential = model.getClassName() === 'Sequential';
  const rebuilt = sequential
    ? (tfl.Sequential.fromConfig(tfl.Sequential, config as never) as LayersModel)
    : (tfl.LayersModel.fromConfig(tfl.LayersModel, config as never) as LayersModel);
  for (const layer of rebuilt.layers) {
    const given = weights[layer.name];
    const source = model.getLayer(layer.name);
    layer.setWeights(given ?? source.getWeights());
  }
  return rebuilt;
}
