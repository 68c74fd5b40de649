import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { resizeSlots, type SlotResize } from '../optimizers/inner_state.js';
import { isTeleportOptimizer } from '../optimizers/teleport_optimizer.js';
import { readModel } from '../structure/read_model.js';
import { densePairAt, rebuildWithUnits } from '../structure/resize.js';
import { describeActivations } from '../structure/activations.js';
import { badOption, UnsupportedLayerError } from '../core/errors.js';

/** Options of {@link split}. */
export interface SplitOptions {
  /** The Dense layer whose units are split: its name, or its index in `model.layers`. A Dense layer must read its units next. */
  layer: string | number;
  /** Indices of the units to split (distinct, in 0…units−1). */
  neurons: readonly number[];
  /** Copies each unit becomes (≥ 2). Default 2. */
  ways?: number;
  /**
   * One coefficient per copy, summing to 1 (the same for every split unit). Default: even, 1/ways each.
   * `'post'`: the outgoing weights are split by them (any finite values). `'pre'`: the incoming
   * weights and bias are split by them (each > 0).
   */
  coefficients?: readonly number[];
  /**
   * `'post'` (default, any activation): copies keep the incoming weights and bias, the outgoing
   * weights are split. `'pre'` (positively homogeneous activations only: linear, relu, leakyRelu):
   * the incoming weights and bias are split, copies keep the outgoing weights.
   */
  mode?: 'post' | 'pre';
  /**
   * An optimizer whose state belongs to `model` (its slots are by position in `model.trainableWeights`,
   * as `model.fit` and `minimize(f, …, model.trainableWeights)` create them): a tp wrapper or a plain
   * tf optimizer. `split` then returns a new optimizer too.
   */
  optimizer?: Optimizer;
}

/** What {@link split} returns when given an optimizer. */
export interface SplitWithOptimizer<O extends Optimizer> {
  /** The wider model (not compiled). */
  model: LayersModel;
  /**
   * A new optimizer of the same class, config and step count, its slots split consistently with the
   * weights (a tp wrapper comes back as a new wrapper with the same options, bound to the new model).
   */
  optimizer: O;
}

/**
 * Splits units of a Dense layer into copies without changing the network's function (Sareen et al.
 * §3.3–3.4): a NEW, wider model; the input model is untouched.
 *
 * Post-activation (any activation): each copy k of unit j keeps j's incoming weights and bias, and
 * gets α_k times its outgoing weights (Σα = 1). Pre-activation (`mode: 'pre'`, σ(λz) = λσ(z) for
 * λ > 0): copy k gets d_k times the incoming weights and bias (d_k > 0, Σd = 1), and j's outgoing
 * weights. Copy 0 stays at index j; the other copies are appended after the layer's units, in the
 * order of `neurons`, then of k.
 *
 * With `optimizer`, its state is split the way the gradient splits (Theorem 5.1: the gradient of a
 * duplicated weight's copy k is α_k times the original's; split weights keep theirs) and a new
 * optimizer is returned with the model: `{ model, optimizer }`. RMSProp's momentum of updates is scaled by
 * α·√(d + ε)/√(α²d + ε) at the current d = ms (ms − mg² centered): exact for a one-step state or ε = 0;
 * after several steps off by at most δ/(1 − δ)·Σ|terms|, δ = |1 − α²|·ε/(α²·D + ε), D the smallest d
 * over the momentum's memory (docs/surgery.md).
 *
 * ```ts
 * const wider = split(model, { layer: 'hidden', neurons: [0, 3], ways: 2, coefficients: [0.3, 0.7] });
 * const { model: m2, optimizer: opt2 } = split(model, { layer: 0, neurons: [1], optimizer });
 * m2.compile({ optimizer: opt2, loss: 'meanSquaredError' });
 * ```
 */
export function split(model: LayersModel, options: SplitOptions & { optimizer?: undefined }): LayersModel;
export function split<O extends Optimizer>(model: LayersModel, options: SplitOptions & { optimizer: O }): SplitWithOptimizer<O>;
export function split(model: LayersModel, options: SplitOptions): LayersModel | SplitWithOptimizer<Optimizer> {
  if (options == null || typeof options !== 'object')
    throw badOption('split(model, { layer, neurons, ways?, coefficients?, mode?, optimizer? }) needs options');
  const pair = densePairAt(model, options.layer);
  const mode = options.mode ?? 'post';
  if (mode !== 'post' && mode !== 'pre') throw badOption(`mode must be 'post' or 'pre', got ${String(mode)}`);
  if (mode === 'pre' && !pair.positivelyHomogeneous) {
    throw new UnsupportedLayerError(
      `a pre-activation split needs σ(λz) = λσ(z) for λ > 0, but '${pair.layer}' feeds '${pair.next}' through ${describeActivations(pair.activations)}; ` +
        "use mode: 'post' (any activation), or linear, relu or leakyRelu activations",
    );
  }
  const ways = options.ways ?? options.coefficients?.length ?? 2;
  if (!Number.isInteger(ways) || ways < 2) throw badOption(`ways must be an integer ≥ 2 (copies per unit), got ${String(options.ways)}`);
  const coefficients = checkCoefficients(options.coefficients ?? Array.from({ length: ways }, () => 1 / ways), ways, mode);
  const neurons = checkNeurons(options.neurons, pair.width, pair.layer);

  const plan = unitPlan(pair.width, neurons, coefficients);
  const layer = model.getLayer(pair.layer);
  const next = model.getLayer(pair.next);
  const structure = readModel(model);
  const chainIndex = (name: string) => structure.layers.findIndex(l => l.name === name);
  const first = structure.layers[chainIndex(pair.layer)];
  const second = structure.layers[chainIndex(pair.next)];

  // Post: incoming weights duplicated (gradient × α), outgoing split (value × α). Pre: the reverse.
  const inValue = mode === 'pre' ? plan.coef : plan.ones;
  const outValue = mode === 'post' ? plan.coef : plan.ones;
  const weights = tf.tidy(() => {
    const [kernel, bias] = layer.getWeights();
    const [nextKernel, ...nextRest] = next.getWeights();
    const src = tf.tensor1d(plan.source, 'int32');
    const newKernel = tf.mul(tf.gather(kernel, src, 1), tf.tensor2d(inValue, [1, plan.source.length]));
    const newBias = bias != null ? [tf.mul(tf.gather(bias, src), tf.tensor1d(inValue))] : [];
    const newNext = tf.mul(tf.gather(nextKernel, src, 0), tf.tensor2d(outValue, [plan.source.length, 1]));
    return { [pair.layer]: [newKernel, ...newBias], [pair.next]: [newNext, ...nextRest.map(t => tf.clone(t))] };
  });
  const wider = rebuildWithUnits(model, { [pair.layer]: plan.source.length }, weights);
  tf.dispose(Object.values(weights).flat());

  if (options.optimizer == null) return wider;

  const inGrad = mode === 'post' ? plan.coef : plan.ones;
  const outGrad = mode === 'pre' ? plan.coef : plan.ones;
  const changes: SlotResize[] = [];
  const add = (position: number | undefined, axis: number, factor: number[]) => {
    if (position != null) changes.push({ position, axis, source: plan.source, gradientFactor: factor });
  };
  add(first.kernel, 1, inGrad);
  add(first.bias, 0, inGrad);
  add(second.kernel, 0, outGrad);
  const newNames = wider.trainableWeights.map(w => (w.read() as Variable).name);
  const opt = options.optimizer;
  const wrapper = isTeleportOptimizer(opt) ? opt : null;
  const inner = resizeSlots(wrapper?.inner ?? opt, changes, structure.variables, newNames);
  return { model: wider, optimizer: wrapper != null ? wrapper.rebind(inner, wider) : inner };
}

/** New unit k comes from old unit source[k] with coefficient coef[k] (1 for units not split). */
function unitPlan(width: number, neurons: readonly number[], coefficients: readonly number[]): { source: number[]; coef: number[]; ones: number[] } {
  const source = Array.from({ length: width }, (_, i) => i);
  const coef = source.map(() => 1);
  for (const j of neurons) coef[j] = coefficients[0];
  for (const j of neurons) {
    for (let k = 1; k < coefficients.length; k++) {
      source.push(j);
      coef.push(coefficients[k]);
    }
  }
  return { source, coef, ones: source.map(() => 1) };
}

function checkNeurons(neurons: readonly number[] | undefined, width: number, layer: string): number[] {
  if (!Array.isArray(neurons) || neurons.length === 0) throw badOption(`neurons must be a non-empty array of unit indices of '${layer}' (0…${width - 1})`);
  const seen = new Set<number>();
  for (const j of neurons) {
    if (!Number.isInteger(j) || j < 0 || j >= width) throw badOption(`neuron index ${String(j)} is out of range: '${layer}' has units 0…${width - 1}`);
    if (seen.has(j)) throw badOption(`neuron index ${j} is given twice; to make more copies of one unit use ways (e.g. ways: 3)`);
    seen.add(j);
  }
  return [...neurons];
}

function checkCoefficients(c: readonly number[], ways: number, mode: 'post' | 'pre'): number[] {
  if (!Array.isArray(c) || c.length !== ways)
    throw badOption(`coefficients must hold one number per copy: ${ways} (ways), got ${Array.isArray(c) ? c.length : String(c)}`);
  if (!c.every(Number.isFinite)) throw badOption(`coefficients must be finite numbers, got [${c.join(', ')}]`);
  const sum = c.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-6) throw badOption(`coefficients must sum to 1 (so the function is kept), got [${c.join(', ')}] summing to ${sum}`);
  if (mode === 'pre' && c.some(x => x <= 0)) {
    throw badOption(`a pre-activation split needs positive coefficients d (σ(d·z) = d·σ(z) only for d > 0), got [${c.join(', ')}]`);
  }
  return [...c];
}
