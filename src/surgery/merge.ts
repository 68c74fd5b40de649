import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { densePairs, rebuildWithUnits as rebuild } from '../structure/resize.js';
import { badOption } from '../core/errors.js';

/** Options of {@link merge}. */
export interface MergeOptions {
  /**
   * Two units are copies when their incoming weights and bias differ by at most
   * `tolerance · max(1, largest |weight|)` (entrywise); an outgoing row is zero when its largest
   * |entry| is at most `tolerance`. Default 1e-5.
   */
  tolerance?: number;
}

/** What {@link merge} did to one Dense layer. */
export interface LayerMerge {
  layer: string;
  widthBefore: number;
  widthAfter: number;
  /**
   * Groups of copies merged into their first unit (old indices, first = kept), with each unit's
   * scale relative to the kept one (1 for copies; c > 0 for positively proportional units of a
   * pre-activation split, merged when the activations are positively homogeneous).
   */
  groups: Array<{ units: number[]; scales: number[] }>;
  /** Old indices of units dropped because nothing reads them (zero outgoing weights) or they output 0. */
  dropped: number[];
}

/** What {@link merge} returns. */
export interface MergeResult {
  /** The narrower model (a new model, not compiled; the input is untouched). */
  model: LayersModel;
  /** One entry per Dense layer that changed, in chain order. */
  merged: LayerMerge[];
}

interface DenseWeights {
  kernel: number[][];
  bias: number[] | null;
}

/**
 * Contracts a model to a smaller one with the same function (the inverse of {@link split}; Simsek et
 * al.'s replicated and zero-type units): in every Dense layer read by a next Dense layer, units with
 * the same incoming weights and bias (within `tolerance`) become one unit whose outgoing weights are
 * their sum; with positively homogeneous activations (linear, relu, leakyRelu) units whose incoming
 * weights and bias are positive multiples c of another's merge too (outgoing weights summed with
 * weights c), and units with all-zero incoming weights and bias (output 0) are dropped; then units
 * whose outgoing weights are zero are dropped (one unit is always kept). `merge(split(m))` has m's
 * widths and function.
 *
 * ```ts
 * const { model: narrow, merged } = merge(split(model, { layer: 0, neurons: [2] }));
 * console.log(merged); // [{ layer: 'dense_1', widthBefore: 6, widthAfter: 5, groups: [{ units: [2, 5], scales: [1, 1] }], dropped: [] }]
 * ```
 */
export function merge(model: LayersModel, options: MergeOptions = {}): MergeResult {
  const tolerance = options.tolerance ?? 1e-5;
  if (typeof tolerance !== 'number' || !(tolerance >= 0) || !Number.isFinite(tolerance)) {
    throw badOption(`tolerance must be a finite number ≥ 0, got ${String(options.tolerance)}`);
  }
  const pairs = densePairs(model);
  const weights = new Map<string, DenseWeights>();
  const read = (name: string): DenseWeights => {
    let w = weights.get(name);
    if (w == null) {
      const [k, b] = model.getLayer(name).getWeights();
      w = { kernel: k.arraySync() as number[][], bias: b != null ? (b.arraySync() as number[]) : null };
      weights.set(name, w);
    }
    return w;
  };
  const merged: LayerMerge[] = [];
  const units: Record<string, number> = {};
  for (const pair of pairs) {
    const first = read(pair.layer);
    const second = read(pair.next);
    const result = contract(first, second, pair.positivelyHomogeneous, tolerance);
    if (result.kept.length === pair.width) continue;
    first.kernel = first.kernel.map(row => result.kept.map(j => row[j]));
    if (first.bias != null) first.bias = result.kept.map(j => first.bias![j]);
    second.kernel = result.kept.map(j => second.kernel[j]);
    units[pair.layer] = result.kept.length;
    merged.push({ layer: pair.layer, widthBefore: pair.width, widthAfter: result.kept.length, groups: result.groups, dropped: result.dropped });
  }
  const tensors: Record<string, Tensor[]> = {};
  for (const [name, w] of weights) {
    const rest = model
      .getLayer(name)
      .getWeights()
      .slice(w.bias != null ? 2 : 1);
    tensors[name] = [tf.tensor2d(w.kernel), ...(w.bias != null ? [tf.tensor1d(w.bias)] : []), ...rest.map(t => tf.clone(t))];
  }
  const narrow = rebuild(model, units, tensors);
  tf.dispose(Object.values(tensors).flat());
  return { model: narrow, merged };
}

/** Decides which units of `first` stay; sums outgoing rows of merged units into `second` in place. */
function contract(
  first: DenseWeights,
  second: DenseWeights,
  homogeneous: boolean,
  tol: number,
): { kept: number[]; groups: Array<{ units: number[]; scales: number[] }>; dropped: number[] } {
  const width = second.kernel.length;
  const incoming = (j: number) => [...first.kernel.map(row => row[j]), ...(first.bias != null ? [first.bias[j]] : [])];
  const maxAbs = (v: number[]) => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
  const reps: Array<{ unit: number; u: number[]; norm2: number; members: number[]; scales: number[] }> = [];
  const dropped: number[] = [];
  for (let j = 0; j < width; j++) {
    const u = incoming(j);
    if (homogeneous && maxAbs(u) <= tol) {
      dropped.push(j); // σ(0) = 0: the unit outputs nothing
      continue;
    }
    const scale = Math.max(1, maxAbs(u));
    let joined = false;
    for (const r of reps) {
      const c = homogeneous ? u.reduce((s, x, i) => s + x * r.u[i], 0) / r.norm2 : 1;
      if (!(c > 0)) continue;
      if (u.every((x, i) => Math.abs(x - c * r.u[i]) <= tol * scale)) {
        second.kernel[r.unit] = second.kernel[r.unit].map((v, k) => v + c * second.kernel[j][k]);
        r.members.push(j);
        r.scales.push(c);
        joined = true;
        break;
      }
    }
    if (!joined) reps.push({ unit: j, u, norm2: u.reduce((s, x) => s + x * x, 0), members: [j], scales: [1] });
  }
  let kept = reps.map(r => r.unit);
  const silent = kept.filter(j => maxAbs(second.kernel[j]) <= tol);
  if (silent.length === kept.length) silent.shift(); // keep one unit: a Dense layer needs at least one
  kept = kept.filter(j => !silent.includes(j));
  if (kept.length === 0) kept = [dropped.shift() ?? 0];
  dropped.push(...silent);
  return {
    kept,
    groups: reps.filter(r => r.members.length > 1).map(r => ({ units: r.members, scales: r.scales })),
    dropped: dropped.sort((a, b) => a - b),
  };
}
