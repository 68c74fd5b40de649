import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { matMul64 } from '../linalg/dense64.js';
import type { Site } from '../structure/read_model.js';

/**
 * The gradient-norm objective of GL on linear pairs, reduced to small matrices.
 *
 * GL moves gradients as ∇W ← g_jᵀ·∇W·g_k⁻ᵀ, where k is the site whose first layer W is (W·g_k) and j
 * the site whose second layer it is (g_j⁻¹·W); a bias of site k moves as ∇b ← ∇b·g_k⁻ᵀ. So
 * ‖∇L(g·w)‖² over the touched parameters is a sum of three kinds of terms:
 * - `right` (a parameter only on the first side of site k): ‖Z·g_k⁻ᵀ‖² = tr(g_k⁻¹·A·g_k⁻ᵀ), A = ZᵀZ (h_k×h_k);
 * - `left` (only on the second side of site j): ‖g_jᵀ·Y‖² = tr(g_jᵀ·B·g_j), B = Y·Yᵀ (h_j×h_j);
 * - `pair` (a kernel between two sites, j then k): ‖g_jᵀ·X·g_k⁻ᵀ‖², X = ∇W itself (h_j×h_k).
 * The matrices are computed once with backend ops (one matmul per parameter) and downloaded in one
 * transfer; after that the objective at any element is h×h float64 work, no tensors.
 */
export interface GramTerm {
  kind: 'right' | 'left' | 'pair';
  /** Site whose gᵀ multiplies on the left (`left`, `pair`), else null. */
  left: number | null;
  /** Site whose g⁻ᵀ multiplies on the right (`right`, `pair`), else null. */
  right: number | null;
  /** Row-major [rows, cols]: A, B or X. */
  x: Float64Array;
  rows: number;
  cols: number;
  /**
   * For `right` and `left` terms whose matrix has low rank: F [r, h] (row-major) with A = FᵀF
   * (F = Z) or B = FᵀF (F = Yᵀ), r < h. Then x is A or B as well.
   */
  factor?: { f: Float64Array; r: number };
}

/** The reduced objective: one width per site and its terms. */
export interface GlGramForm {
  widths: number[];
  terms: GramTerm[];
}

/** Objective value and, per site, its gradient w.r.t. a right-multiplied element g·exp(T) at T = 0. */
export interface GramEvaluation {
  value: number;
  /** Per site, row-major h×h, symmetric: d/dT of the objective at g·exp(T), T = 0. */
  local: Float64Array[];
}

/**
 * Builds the reduced objective from the step's gradient (tensors borrowed; one download).
 * Throws when a parameter a site acts on has no gradient.
 *
 * ```ts
 * const form = glGramForm([site], grads); // site: a linear dense-dense pair
 * glGramEvaluate(form, [null], [null]).value; // ‖∇L‖² over the touched parameters
 * ```
 */
export function glGramForm(sites: readonly Site[], grads: ReadonlyArray<Tensor | null>): GlGramForm {
  const rightOf = new Map<number, number>();
  const leftOf = new Map<number, number>();
  sites.forEach((s, k) => {
    rightOf.set(s.inKernel, k);
    if (s.inBias != null) rightOf.set(s.inBias, k);
    if (s.outKernel != null) leftOf.set(s.outKernel, k);
  });
  const params = [...new Set([...rightOf.keys(), ...leftOf.keys()])].sort((a, b) => a - b);
  const shapes: GramTerm[] = [];
  const factorRows: number[] = [];
  const flat = tf.tidy(() => {
    const rightSum = new Map<number, Tensor>();
    const leftSum = new Map<number, Tensor>();
    const pairs: Tensor[] = [];
    const factors = new Map<number, Tensor[]>();
    const factorsLeft = new Map<number, Tensor[]>();
    for (const p of params) {
      const g = grads[p];
      if (g == null) throw new Error(`tfjs-teleport: no gradient for parameter ${p} that gl acts on`);
      const m = (g.rank === 1 ? tf.reshape(g, [1, -1]) : g) as tf.Tensor2D;
      const r = rightOf.get(p);
      const l = leftOf.get(p);
      if (r != null && l != null) {
        pairs.push(m);
        shapes.push({ kind: 'pair', left: l, right: r, x: new Float64Array(0), rows: sites[l].width, cols: sites[r].width });
      } else if (r != null) {
        const a = tf.matMul(m, m, true, false);
        rightSum.set(r, rightSum.has(r) ? tf.add(rightSum.get(r)!, a) : a);
        factors.set(r, [...(factors.get(r) ?? []), m]);
      } else {
        const b = tf.matMul(m, m, false, true);
        leftSum.set(l!, leftSum.has(l!) ? tf.add(leftSum.get(l!)!, b) : b);
        factorsLeft.set(l!, [...(factorsLeft.get(l!) ?? []), tf.transpose(m)]);
      }
    }
    const parts: Tensor[] = [...pairs];
    // A thin factor (fewer rows than units: the last layer's kernel, a lone bias) is kept besides the
    // Gram: rotating it costs r·h² instead of h³.
    const withFactor = (fs: Tensor[], h: number) => {
      const r = fs.reduce((n, f) => n + f.shape[0], 0);
      if (r >= h) return 0;
      parts.push(tf.reshape(fs.length === 1 ? fs[0] : tf.concat(fs, 0), [-1]));
      return r;
    };
    for (const [k, a] of rightSum) {
      parts.push(a);
      shapes.push({ kind: 'right', left: null, right: k, x: new Float64Array(0), rows: sites[k].width, cols: sites[k].width });
      factorRows.push(withFactor(factors.get(k)!, sites[k].width));
    }
    for (const [k, b] of leftSum) {
      parts.push(b);
      shapes.push({ kind: 'left', left: k, right: null, x: new Float64Array(0), rows: sites[k].width, cols: sites[k].width });
      factorRows.push(withFactor(factorsLeft.get(k)!, sites[k].width));
    }
    return tf.concat(parts.map(t => tf.reshape(t, [-1])));
  });
  const data = flat.dataSync();
  flat.dispose();
  let offset = 0;
  let gramIndex = 0;
  for (const t of shapes) {
    t.x = Float64Array.from(data.subarray(offset, offset + t.rows * t.cols));
    offset += t.rows * t.cols;
    if (t.kind === 'pair') continue;
    const r = factorRows[gramIndex++];
    if (r > 0) {
      t.factor = { f: Float64Array.from(data.subarray(offset, offset + r * t.cols)), r };
      offset += r * t.cols;
    }
  }
  return { widths: sites.map(s => s.width), terms: shapes };
}

const trace = (m: Float64Array, n: number) => {
  let t = 0;
  for (let i = 0; i < n; i++) t += m[i * n + i];
  return t;
};

const addScaled = (into: Float64Array, m: Float64Array, scale: number) => {
  for (let i = 0; i < into.length; i++) into[i] += scale * m[i];
};

/**
 * The objective at the elements g (per site; null = identity) with their inverses, and its gradient
 * in the right-multiplied chart g·exp(T) (at the identity: the gradient in θ of g = exp(θ)). Plain
 * products of the stored matrices: the reference the solver's eigenbasis evaluation is tested against.
 *
 * ```ts
 * const { value, local } = glGramEvaluate(form, [g], [gInv]); // g, gInv: row-major h×h
 * ```
 */
export function glGramEvaluate(form: GlGramForm, gs: ReadonlyArray<Float64Array | null>, gInvs: ReadonlyArray<Float64Array | null>): GramEvaluation {
  const local = form.widths.map(h => new Float64Array(h * h));
  let value = 0;
  for (const t of form.terms) {
    if (t.kind === 'right') {
      const k = t.right!;
      const h = t.rows;
      const gi = gInvs[k];
      const m = gi == null ? t.x : matMul64(matMul64(gi, t.x, h, h, h), gi, h, h, h, false, true);
      value += trace(m, h);
      addScaled(local[k], m, -2);
    } else if (t.kind === 'left') {
      const j = t.left!;
      const h = t.rows;
      const g = gs[j];
      const m = g == null ? t.x : matMul64(matMul64(g, t.x, h, h, h, true), g, h, h, h);
      value += trace(m, h);
      addScaled(local[j], m, 2);
    } else {
      const j = t.left!;
      const k = t.right!;
      const { rows, cols } = t;
      let y = t.x;
      if (gs[j] != null) y = matMul64(gs[j]!, y, rows, rows, cols, true);
      if (gInvs[k] != null) y = matMul64(y, gInvs[k]!, rows, cols, cols, false, true);
      for (const v of y) value += v * v;
      addScaled(local[j], matMul64(y, y, rows, cols, rows, false, true), 2);
      addScaled(local[k], matMul64(y, y, cols, rows, cols, true, false), -2);
    }
  }
  return { value, local };
}
