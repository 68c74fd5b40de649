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

/** F(s) and ∂F/∂s for the closed-form rescale objective; `s` holds one vector per site. */
export function rescaleObjective(terms: readonly Term[], s: readonly Float64Array[]): { value: number; grads: Float64Array[] } {
  const grads = s.map(v => new Float64Array(v.length));
  let value = 0;
  for (const t of terms) {
    const u = new Float64Array(t.rows).fill(1);
    const v = new Float64Array(t.cols).fill(1);
    if (t.rowSite != null) s[t.rowSite].forEach((x, r) => (u[r] = Math.exp(2 * x)));
    if (t.colSite != null) s[t.colSite].forEach((x, c) => (v[c] = Math.exp(-2 * x)));
    const rows = t.rows;
    const cols = t.cols;
    const q = t.q;
    const qv = new Float64Array(rows); // Q·v
    const qtu = new Float64Array(cols); // Qᵀ·u
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      const base = r * cols;
      const ur = u[r];
      for (let c = 0; c < cols; c++) {
        const x = q[base + c];
        acc += x * v[c];
        qtu[c] += x * ur;
      }
      qv[r] = acc;
      value += ur * acc;
    }
    if (t.rowSite != null) for (let r = 0; r < t.rows; r++) grads[t.rowSite][r] += 2 * u[r] * qv[r];
    if (t.colSite != null) for (let c = 0; c < t.cols; c++) grads[t.colSite][c] -= 2 * v[c] * qtu[c];
  }
  return { value, grads };
}
