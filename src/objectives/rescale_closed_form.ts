import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { Site } from '../structure/read_model.js';
import type { Preconditioner } from './types.js';

/**
 * The rescale objective in closed form, solved on the CPU.
 *
 * Under rescale with log-scales s (λ = exp(s)), each gradient entry is multiplied by
 * exp(−s_col) (the unit it feeds, first layer) and exp(+s_row) (the unit it reads, second layer). So
 * ‖∇L(g·w)‖²_A = Σ_p Σ_{r,c} Q_p[r, c]·exp(2·s_row[r])·exp(−2·s_col[c]), where Q_p is A∘∇L² of
 * parameter p summed over every axis but its two unit axes. The Q_p are computed once (a few
 * weight-sized tensor ops and one download); the ascent then runs on vectors of length h in plain
 * JavaScript with exact gradients (solvers/closed_form_ascent.ts). This is what makes an exact
 * teleport cost a fraction of a training step.
 */
export interface Term {
  q: Float64Array; // [rows, cols], row-major
  rows: number;
  cols: number;
  rowSite: number | null; // index into sites: factor exp(2·s) on rows
  colSite: number | null; // factor exp(−2·s) on cols
  /** Qᵀ, row-major: filled on first use by the evaluation. */
  qt?: Float64Array;
}

/** Reduces A∘g² of one parameter to its [rows, cols] unit matrix (a tensor). */
function reduceTerm(w: Tensor, rowSite: Site | null, hasCol: boolean): Tensor {
  const last = w.shape[w.shape.length - 1];
  let m: Tensor;
  if (rowSite == null) {
    m = tf.sum(tf.reshape(w, [-1, last]), 0, true); // [1, last]
  } else if (rowSite.kind === 'dense-dense') {
    m = tf.reshape(w, [rowSite.width, -1]);
  } else if (rowSite.kind === 'conv-conv') {
    m = tf.sum(w, [0, 1]); // [kh, kw, cin, cout] → [cin, cout]
  } else {
    m = tf.sum(tf.reshape(w, [-1, rowSite.width, last]), 0); // [P·C, u] → [C, u]
  }
  if (!hasCol) m = tf.sum(m, -1, true);
  return m;
}

/** Builds the closed-form terms for rescale sites from gradients (and an optional preconditioner). */
export function rescaleTerms(sites: readonly Site[], grads: ReadonlyArray<Tensor | null>, preconditioner: Preconditioner | null): Term[] {
  const colOf = new Map<number, number>();
  const rowOf = new Map<number, number>();
  sites.forEach((s, k) => {
    colOf.set(s.inKernel, k);
    if (s.inBias != null) colOf.set(s.inBias, k);
    rowOf.set(s.outKernel, k);
  });
  const params = [...new Set([...colOf.keys(), ...rowOf.keys()])].sort((a, b) => a - b);
  const tensors = tf.tidy(() =>
    params.map(p => {
      const g = grads[p];
      if (g == null) throw new Error(`tfjs-teleport: no gradient for parameter ${p} that rescale acts on`);
      const a = preconditioner?.[p];
      const w = a != null ? tf.mul(a, tf.square(g)) : tf.square(g);
      const row = rowOf.get(p);
      return reduceTerm(w, row != null ? sites[row] : null, colOf.has(p));
    }),
  );
  const terms = tensors.map((t, i) => {
    const p = params[i];
    const [rows, cols] = t.shape as [number, number];
    return { q: Float64Array.from(t.dataSync()), rows, cols, rowSite: rowOf.get(p) ?? null, colSite: colOf.get(p) ?? null };
  });
  tf.dispose(tensors);
  return terms;
}

/** exp(c·x) of every entry of every vector (one Math.exp per site unit and evaluation). */
function expAll(s: readonly Float64Array[], c: number): Float64Array[] {
  return s.map(v => {
    const out = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = Math.exp(c * v[i]);
    return out;
  });
}

/** Σ_c q[base + c]·v[c]: one row of a row-major matrix times a vector. */
function dotRow(q: Float64Array, base: number, v: Float64Array, n: number): number {
  let acc = 0;
  for (let c = 0; c < n; c++) acc += q[base + c] * v[c];
  return acc;
}

/**
 * F(s) and ∂F/∂s for the closed-form rescale objective; `s` holds one vector per site.
 * Per term with u = exp(2·s_row), v = exp(−2·s_col): F += uᵀ·Q·v, ∂F/∂s_row = 2·u∘(Q·v),
 * ∂F/∂s_col = −2·v∘(Qᵀ·u). Both products are row-by-row dot products over contiguous memory (Qᵀ is
 * stored once, by {@link rescaleTerms}), the exponentials are taken once per site, not per term.
 */
export function rescaleObjective(terms: readonly Term[], s: readonly Float64Array[]): { value: number; grads: Float64Array[] } {
  const grads = s.map(v => new Float64Array(v.length));
  const up = expAll(s, 2);
  const down = expAll(s, -2);
  let value = 0;
  for (const t of terms) {
    const { rows, cols, q } = t;
    const u = t.rowSite != null ? up[t.rowSite] : ones(rows);
    const v = t.colSite != null ? down[t.colSite] : ones(cols);
    const gRow = t.rowSite != null ? grads[t.rowSite] : null;
    for (let r = 0; r < rows; r++) {
      const qv = dotRow(q, r * cols, v, cols);
      value += u[r] * qv;
      if (gRow != null) gRow[r] += 2 * u[r] * qv;
    }
    if (t.colSite != null) {
      const gCol = grads[t.colSite];
      const qt = transposed(t);
      for (let c = 0; c < cols; c++) gCol[c] -= 2 * v[c] * dotRow(qt, c * rows, u, rows);
    }
  }
  return { value, grads };
}

const ONES = new Map<number, Float64Array>();
/** A shared vector of ones (never written to). */
function ones(n: number): Float64Array {
  let o = ONES.get(n);
  if (o == null) {
    o = new Float64Array(n).fill(1);
    ONES.set(n, o);
  }
  return o;
}

/** Qᵀ of a term, row-major (computed once and cached on the term). */
function transposed(t: Term): Float64Array {
  if (t.qt == null) {
    const { rows, cols, q } = t;
    const qt = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) qt[c * rows + r] = q[r * cols + c];
    t.qt = qt;
  }
  return t.qt;
}
