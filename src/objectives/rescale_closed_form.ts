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
  return rescaleTermSets(sites, grads, [preconditioner])[0];
}

/**
 * The terms for several weightings A of the same gradients at once (e.g. the preconditioned
 * objective and the plain ‖∇L‖² the report measures): ∇L² is squared once per parameter.
 *
 * ```ts
 * const [weighted, plain] = rescaleTermSets(sites, grads, [adamPreconditioner, null]);
 * ```
 */
export function rescaleTermSets(sites: readonly Site[], grads: ReadonlyArray<Tensor | null>, weightings: ReadonlyArray<Preconditioner | null>): Term[][] {
  const colOf = new Map<number, number>();
  const rowOf = new Map<number, number>();
  sites.forEach((s, k) => {
    colOf.set(s.inKernel, k);
    if (s.inBias != null) colOf.set(s.inBias, k);
    if (s.outKernel != null) rowOf.set(s.outKernel, k);
  });
  const params = [...new Set([...colOf.keys(), ...rowOf.keys()])].sort((a, b) => a - b);
  // reduced[set][k]: the [rows, cols] matrix of params[k] under weightings[set].
  const reduced = tf.tidy(() => {
    const sets = weightings.map(() => [] as Tensor[]);
    params.forEach(p => {
      const g = grads[p];
      if (g == null) throw new Error(`tfjs-teleport: no gradient for parameter ${p} that rescale acts on`);
      const sq = tf.square(g);
      const row = rowOf.get(p);
      weightings.forEach((a, k) => {
        const ap = a?.[p];
        sets[k].push(reduceTerm(ap != null ? tf.mul(ap, sq) : sq, row != null ? sites[row] : null, colOf.has(p)));
      });
    });
    return sets;
  });
  // Downloads outside tidy (it would walk a typed array entry by entry); on wasm a download is a copy.
  const out = reduced.map(set =>
    set.map((t, i) => {
      const p = params[i];
      const [rows, cols] = t.shape as [number, number];
      return { q: Float64Array.from(t.dataSync()), rows, cols, rowSite: rowOf.get(p) ?? null, colSite: colOf.get(p) ?? null };
    }),
  );
  tf.dispose(reduced.flat());
  return out;
}

/** exp(c·x) of every entry of every vector (one Math.exp per site unit and evaluation). */
function expAll(s: readonly Float64Array[], c: number): Float64Array[] {
  return s.map(v => {
    const out = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = Math.exp(c * v[i]);
    return out;
  });
}

/** Σ_c q[base + c]·v[c]: one row of a row-major matrix times a vector (four independent accumulators). */
function rowDot(q: Float64Array, base: number, v: Float64Array, n: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let c = 0;
  for (; c + 3 < n; c += 4) {
    a0 += q[base + c] * v[c];
    a1 += q[base + c + 1] * v[c + 1];
    a2 += q[base + c + 2] * v[c + 2];
    a3 += q[base + c + 3] * v[c + 3];
  }
  for (; c < n; c++) a0 += q[base + c] * v[c];
  return a0 + a1 + (a2 + a3);
}

/**
 * F(s) and ∂F/∂s for the closed-form rescale objective; `s` holds one vector per site.
 * Per term with u = exp(2·s_row), v = exp(−2·s_col): F += uᵀ·Q·v, ∂F/∂s_row = 2·u∘(Q·v),
 * ∂F/∂s_col = −2·v∘(Qᵀ·u). One pass over each Q, row by row over contiguous memory, gives Q·v and
 * Qᵀ·u together; the exponentials are taken once per site, not per term.
 */
export function rescaleObjective(terms: readonly Term[], s: readonly Float64Array[]): { value: number; grads: Float64Array[] } {
  const grads = s.map(v => new Float64Array(v.length));
  const up = expAll(s, 2);
  const down = expAll(s, -2);
  let value = 0;
  for (const t of terms) {
    const { rows, cols, q } = t;
    const { u, v } = termScales(t, up, down);
    const gRow = t.rowSite != null ? grads[t.rowSite] : null;
    // Qᵀ·u, accumulated along the same pass (only when the columns belong to a site).
    const qtu = t.colSite != null ? new Float64Array(cols) : null;
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      const ur = u[r];
      let qv = 0;
      if (qtu != null) {
        // Two accumulators: independent chains of multiply-adds run in parallel.
        let qv2 = 0;
        let c = 0;
        for (; c + 1 < cols; c += 2) {
          const x0 = q[base + c];
          const x1 = q[base + c + 1];
          qv += x0 * v[c];
          qv2 += x1 * v[c + 1];
          qtu[c] += x0 * ur;
          qtu[c + 1] += x1 * ur;
        }
        if (c < cols) {
          const x = q[base + c];
          qv += x * v[c];
          qtu[c] += x * ur;
        }
        qv += qv2;
      } else {
        qv = rowDot(q, base, v, cols);
      }
      value += ur * qv;
      if (gRow != null) gRow[r] += 2 * ur * qv;
    }
    if (qtu != null) {
      const gCol = grads[t.colSite!];
      for (let c = 0; c < cols; c++) gCol[c] -= 2 * v[c] * qtu[c];
    }
  }
  return { value, grads };
}

/**
 * F(s) alone (no gradient): one multiply-add per entry of Q, for measurements (the report's
 * ‖∇L‖² before and after) that never step.
 *
 * ```ts
 * const before = rescaleValue(terms, sites.map(z => new Float64Array(z.width)));
 * ```
 */
export function rescaleValue(terms: readonly Term[], s: readonly Float64Array[]): number {
  const up = expAll(s, 2);
  const down = expAll(s, -2);
  let value = 0;
  for (const t of terms) {
    const { rows, cols, q } = t;
    const { u, v } = termScales(t, up, down);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      value += u[r] * rowDot(q, base, v, cols);
    }
  }
  return value;
}

/** A term's row and column scales, exp(2·s_row) and exp(−2·s_col); ones on a side with no site. */
function termScales(t: Term, up: readonly Float64Array[], down: readonly Float64Array[]): { u: Float64Array; v: Float64Array } {
  return { u: t.rowSite != null ? up[t.rowSite] : ones(t.rows), v: t.colSite != null ? down[t.colSite] : ones(t.cols) };
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
