import * as tf from '@tensorflow/tfjs-core';
import { rememberGlElement } from '../groups/gl.js';
import { scaledOuter64, symEig64 } from '../linalg/dense64.js';
import { matMulOn, scaledOuterOn, type ProductEngine } from '../linalg/products.js';
import { glGramForm, type GlGramForm, type GramTerm } from '../objectives/gl_gram.js';
import { guardedAscent, solverResult, withStepRule, type AscentOutcome, type AscentSpace, type Evaluation } from './step_rule.js';
import type { Solver, SolverOptions, SolverResult } from './types.js';

/**
 * One term of the objective written in a frame's bases: a `pair`'s X̂ = R_jᵀ·X·R_k, or a Gram term's
 * Â = Rᵀ·A·R through its diagonal (all a value needs) and, on demand, the whole matrix (for the
 * gradient); thin Gram terms keep their rotated factor F̂ = F·R instead (Â = F̂ᵀ·F̂).
 */
interface FrameTerm {
  kind: GramTerm['kind'];
  left: number | null;
  right: number | null;
  rows: number;
  cols: number;
  diag: Float64Array | null;
  full(): Float64Array;
  factor: { f: Float64Array; r: number } | null;
}

/**
 * Where a ray of the ascent starts: per site an orthonormal basis R (null: the standard one), the
 * element g₀ reached before the ray (null: the identity), and the objective's terms at g₀ in the bases R.
 */
interface Frame {
  widths: readonly number[];
  /** Where the h×h products run (see {@link ProductEngine}). */
  engine: ProductEngine;
  bases: Array<Float64Array | null>;
  g0: Array<Float64Array | null>;
  terms: FrameTerm[];
  /** g₀ is the identity everywhere: points of this frame are exp(θ) with θ = R·diag(μ)·Rᵀ. */
  fromIdentity: boolean;
}

/** A point: g = g₀·R·diag(e^μ)·Rᵀ per site (μ per site, in the frame's basis). */
interface GramPoint {
  frame: Frame;
  mu: Float64Array[];
}

interface GramEval extends Evaluation<GramPoint> {
  /** Per site, the gradient in the chart g·exp(T) at T = 0, in the frame's basis (symmetric). */
  local(): Float64Array[];
  /** The frame of rays leaving this point (one eigendecomposition per site, made once). */
  next?: { frame: Frame; nu: Float64Array[] };
}

const expScaled = (v: Float64Array, c: number) => v.map(x => Math.exp(c * x));

function lazy<T>(make: () => T): () => T {
  let v: T | undefined;
  return () => (v ??= make());
}

function diagOf(m: Float64Array, n: number): Float64Array {
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = m[i * n + i];
  return d;
}

/** Column sums of squares of a row-major [r, h] matrix: diag(FᵀF). */
function colSquares(f: Float64Array, r: number, h: number): Float64Array {
  const d = new Float64Array(h);
  for (let i = 0; i < r; i++) for (let j = 0; j < h; j++) d[j] += f[i * h + j] ** 2;
  return d;
}

/** The form's terms in the standard bases. */
function startTerms(terms: readonly GramTerm[]): FrameTerm[] {
  return terms.map(t => ({
    kind: t.kind,
    left: t.left,
    right: t.right,
    rows: t.rows,
    cols: t.cols,
    diag: t.kind === 'pair' ? null : diagOf(t.x, t.rows),
    full: () => t.x,
    factor: t.factor ?? null,
  }));
}

/** e^{±μ} that multiplies a Gram term's units: e^{−μ} on the first side of a site (`right`), e^{μ} on the second. */
const gramScale = (t: FrameTerm, mu: readonly Float64Array[]) => (t.kind === 'right' ? expScaled(mu[t.right!], -1) : expScaled(mu[t.left!], 1));

/** The objective at a point: O(h²) per term, no products (the frame holds the rotated terms). */
function valueAt(p: GramPoint): number {
  let value = 0;
  for (const t of p.frame.terms) {
    if (t.kind === 'pair') {
      const x = t.full();
      const ej = expScaled(p.mu[t.left!], 2);
      const ek = expScaled(p.mu[t.right!], -2);
      for (let a = 0; a < t.rows; a++) for (let b = 0; b < t.cols; b++) value += x[a * t.cols + b] ** 2 * ej[a] * ek[b];
    } else {
      const e = gramScale(t, p.mu);
      for (let a = 0; a < t.rows; a++) value += t.diag![a] * e[a] * e[a];
    }
  }
  return value;
}

/** A term's matrix at a point, in the frame's basis: the frame's, scaled entrywise by e^{±μ}. */
function scaledFull(t: FrameTerm, mu: readonly Float64Array[], engine: ProductEngine): Float64Array {
  if (t.kind === 'pair') {
    const x = t.full();
    const eL = expScaled(mu[t.left!], 1);
    const eR = expScaled(mu[t.right!], -1);
    return x.map((v, i) => v * eL[Math.floor(i / t.cols)] * eR[i % t.cols]);
  }
  const e = gramScale(t, mu);
  if (t.factor != null) {
    const fs = scaledFactor(t, e);
    return matMulOn(engine, fs, fs, t.rows, t.factor.r, t.rows, true, false);
  }
  return t.full().map((v, i) => v * e[Math.floor(i / t.rows)] * e[i % t.rows]);
}

const scaledFactor = (t: FrameTerm, e: Float64Array) => t.factor!.f.map((v, i) => v * e[i % t.rows]);

/** d/dT at 0 of the objective at g·exp(T), per site, in the frame's basis. */
function localGradient(p: GramPoint): Float64Array[] {
  const local = p.frame.widths.map(h => new Float64Array(h * h));
  const add = (into: Float64Array, m: Float64Array, c: number) => {
    for (let i = 0; i < into.length; i++) into[i] += c * m[i];
  };
  for (const t of p.frame.terms) {
    const x = scaledFull(t, p.mu, p.frame.engine);
    if (t.kind === 'right') add(local[t.right!], x, -2);
    else if (t.kind === 'left') add(local[t.left!], x, 2);
    else {
      add(local[t.left!], matMulOn(p.frame.engine, x, x, t.rows, t.cols, t.rows, false, true), 2);
      add(local[t.right!], matMulOn(p.frame.engine, x, x, t.cols, t.rows, t.cols, true, false), -2);
    }
  }
  return local;
}

/** The terms at point p, rotated into the bases R·V (V per site, orthonormal). */
function rotatedTerms(p: GramPoint, vs: readonly Float64Array[]): FrameTerm[] {
  const engine = p.frame.engine;
  const mm = (a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta = false, tb = false) => matMulOn(engine, a, b, m, k, n, ta, tb);
  return p.frame.terms.map(t => {
    const base = { kind: t.kind, left: t.left, right: t.right, rows: t.rows, cols: t.cols };
    if (t.kind === 'pair') {
      const x = mm(mm(vs[t.left!], scaledFull(t, p.mu, engine), t.rows, t.rows, t.cols, true), vs[t.right!], t.rows, t.cols, t.cols);
      return { ...base, diag: null, full: () => x, factor: null };
    }
    const h = t.rows;
    const v = vs[(t.kind === 'right' ? t.right : t.left)!];
    if (t.factor != null) {
      const { r } = t.factor;
      const f = mm(scaledFactor(t, gramScale(t, p.mu)), v, r, h, h);
      return { ...base, diag: colSquares(f, r, h), full: lazy(() => mm(f, f, h, r, h, true, false)), factor: { f, r } };
    }
    const sv = mm(scaledFull(t, p.mu, engine), v, h, h, h);
    const diag = new Float64Array(h);
    for (let i = 0; i < h; i++) for (let a = 0; a < h; a++) diag[a] += v[i * h + a] * sv[i * h + a];
    return { ...base, diag, full: lazy(() => mm(v, sv, h, h, h, true)), factor: null };
  });
}

/** g per site at a point, in float64 (products: used off the first ray only). */
function elementAt(p: GramPoint): Array<Float64Array | null> {
  return p.frame.widths.map((h, k) => {
    const r = p.frame.bases[k];
    const g0 = p.frame.g0[k];
    if (r == null) return g0;
    const e = scaledOuterOn(p.frame.engine, r, expScaled(p.mu[k], 1), h);
    return g0 == null ? e : matMulOn(p.frame.engine, g0, e, h, h, h);
  });
}

function gramSpace(widths: readonly number[], engine: ProductEngine): AscentSpace<GramPoint> {
  return {
    evaluate(point) {
      const value = valueAt(point);
      let local: Float64Array[] | null = null;
      let sq: number | null = null;
      const e: GramEval = {
        point,
        value: Number.isFinite(value) ? value : Number.NaN,
        local: () => (local ??= localGradient(point)),
        // Every term is a sum of squares (or a PSD form) times finite exponentials: a finite value
        // bounds every entry, so the gradient is finite exactly when the value is.
        gradientFinite: Number.isFinite(value),
        // Read by the step rule only for steps it would otherwise accept: rejected (over-cap) trial
        // points never pay for the gradient.
        get gradNormSq() {
          if (sq == null) {
            let s = 0;
            for (const m of e.local()) for (const x of m) s += x * x;
            sq = Number.isFinite(s) ? s : Number.NaN;
          }
          return sq;
        },
      };
      return e;
    },
    // g ← g·exp(scale·D), D the symmetric chart gradient: with D = V·diag(ν)·Vᵀ (one symmetric
    // eigendecomposition per site, in the frame's basis, made once per point), the new ray's frame
    // has basis R·V and the point is μ = scale·ν: every point along the ray costs O(h²).
    move(from, scale) {
      const ev = from as GramEval;
      if (ev.next == null) {
        const p = ev.point;
        const local = ev.local();
        const eig = widths.map((h, k) => symEig64(local[k], h));
        const vs = eig.map(x => x.q);
        const atStart = p.mu.every(m => m.every(x => x === 0));
        const terms = rotatedTerms(p, vs);
        const g0 = atStart ? p.frame.g0 : elementAt(p);
        const frame: Frame = {
          widths,
          engine,
          bases: widths.map((h, k) => (p.frame.bases[k] == null ? vs[k] : matMulOn(engine, p.frame.bases[k]!, vs[k], h, h, h))),
          g0,
          terms,
          fromIdentity: p.frame.fromIdentity && atStart,
        };
        ev.next = { frame, nu: eig.map(x => x.values) };
      }
      return { frame: ev.next.frame, mu: ev.next.nu.map(v => v.map(x => scale * x)) };
    },
    release() {},
  };
}

/**
 * Per site, the element found as θ = Q·diag(μ)·Qᵀ (Q orthonormal, row-major; null: θ = 0): then
 * g = Q·diag(e^μ)·Qᵀ and g⁻¹ = Q·diag(e^{−μ})·Qᵀ exactly.
 *
 * ```ts
 * const { theta, g, gInv } = gramElementMatrices(elements[0], h);
 * ```
 */
export interface GramElement {
  q: Float64Array | null;
  mu: Float64Array;
}

/**
 * θ for the best point: on the first ray θ = R·diag(μ)·Rᵀ itself; further out θ = ½·log(g·gᵀ)
 * (symmetric). The objective depends on each g only through g·gᵀ (an orthogonal factor on the right of
 * g cancels in every term), so exp(θ) = (g·gᵀ)^{1/2} has exactly g's value.
 */
function finalElement(p: GramPoint): GramElement[] {
  if (p.frame.fromIdentity) return p.frame.widths.map((_, k) => ({ q: p.frame.bases[k], mu: p.mu[k] }));
  const gs = elementAt(p);
  return p.frame.widths.map((h, k) => {
    const g = gs[k];
    if (g == null) return { q: null, mu: new Float64Array(h) };
    const { values, q } = symEig64(matMulOn(p.frame.engine, g, g, h, h, h, false, true), h);
    return { q, mu: values.map(v => 0.5 * Math.log(v)) };
  });
}

/**
 * θ, g and g⁻¹ of a {@link GramElement} as float64 row-major matrices (for tests and references).
 *
 * ```ts
 * const { g, gInv } = gramElementMatrices({ q: null, mu: new Float64Array(3) }, 3); // identities
 * ```
 */
export function gramElementMatrices(e: GramElement, h: number): { theta: Float64Array; g: Float64Array; gInv: Float64Array } {
  if (e.q == null) {
    const eye = new Float64Array(h * h);
    for (let i = 0; i < h; i++) eye[i * h + i] = 1;
    return { theta: new Float64Array(h * h), g: eye, gInv: eye.slice() };
  }
  return { theta: scaledOuter64(e.q, e.mu, h), g: scaledOuter64(e.q, expScaled(e.mu, 1), h), gInv: scaledOuter64(e.q, expScaled(e.mu, -1), h) };
}

/**
 * {@link ascendGlGram} without the tensors: the step rule's outcome and the elements found (float64).
 * `engine` says where the h×h products run ('auto': the backend for large ones, see {@link ProductEngine});
 * eigendecompositions are always float64.
 *
 * ```ts
 * const { outcome, elements } = ascendGlGram64(glGramForm(sites, grads), settings);
 * ```
 */
export function ascendGlGram64(
  form: GlGramForm,
  opts: SolverOptions,
  engine: ProductEngine = 'auto',
): { outcome: AscentOutcome<unknown>; elements: GramElement[] } {
  const settings = withStepRule(opts, 'budget');
  const frame: Frame = {
    widths: form.widths,
    engine,
    bases: form.widths.map(() => null),
    g0: form.widths.map(() => null),
    terms: startTerms(form.terms),
    fromIdentity: true,
  };
  const start: GramPoint = { frame, mu: form.widths.map(h => new Float64Array(h)) };
  const outcome = guardedAscent(gramSpace(form.widths, engine), start, null, settings);
  return { outcome, elements: finalElement(outcome.best) };
}

/**
 * The guarded ascent ({@link guardedAscent}: same growth cap, backtracking, best iterate) for the
 * gradient norm of GL on linear pairs, on the Gram-reduced objective ({@link glGramForm}) in float64:
 * no tensor ops per step. Each step right-multiplies every site's element by exp(scale·D), D the
 * objective's gradient in the chart g·exp(T) at the current g (symmetric; at the identity it is the
 * gradient in θ of exp(θ)), through one symmetric eigendecomposition per site and step; along a step
 * the objective is a sum of exponentials in the step length, O(h²) per evaluation. So the first step
 * is the autodiff solver's first step (θ = scale·∇θ at the identity, g = exp(θ)); later steps follow
 * the chart at the current point rather than θ's coordinates. `stepRule` 'auto' or unset means
 * 'budget'. The returned θ are float32 tensors whose elements exp(±θ) are remembered in factored form
 * for `glElement` (two h×h products on the backend, no series).
 *
 * ```ts
 * const r = ascendGlGram(glGramForm(sites, grads), settings);
 * ```
 */
export function ascendGlGram(form: GlGramForm, opts: SolverOptions, engine: ProductEngine = 'auto'): SolverResult {
  const { outcome: r, elements } = ascendGlGram64(form, opts, engine);
  const thetas = elements.map((e, k) => {
    const h = form.widths[k];
    if (e.q == null) return tf.keep(tf.zeros([h, h]));
    const q32 = Float32Array.from(e.q);
    // Kept: the caller owns the solver's θ even when it solves inside a tidy.
    const theta = tf.keep(
      tf.tidy(() => {
        const q = tf.tensor2d(q32, [h, h]);
        return tf.matMul(tf.mul(q, tf.tensor1d(Float32Array.from(e.mu))), q, false, true);
      }),
    );
    rememberGlElement(theta, { q: q32, pos: Float32Array.from(expScaled(e.mu, 1)), neg: Float32Array.from(expScaled(e.mu, -1)) });
    return theta;
  });
  return solverResult(r, thetas);
}

const NAME = 'gl gram ascent';

/**
 * Picked for the plain gradient norm (family 'gradientNorm' without a preconditioner) of GL on
 * linear pairs with a known gradient (the transport route), from the identity: `prepare` reduces the
 * objective to Gram matrices ({@link glGramForm}); everything else falls through to the next solver.
 * Its final value is the Gram form's float64 value, exact at θ.
 *
 * ```ts
 * solverFor(problem).name; // 'gl gram ascent' for a GL teleport of gradNorm from the step's gradient
 * ```
 */
export const glGramAscent: Solver = {
  name: NAME,
  prepare(problem) {
    const c = problem.context;
    if (c == null || problem.randomStart || c.route !== 'transport' || c.gradient == null) return null;
    if (c.traits.family !== 'gradientNorm' || c.traits.usesPreconditioner) return null;
    if (c.actions.length === 0 || !c.actions.every(a => a.linearPair != null)) return null;
    const form = glGramForm(
      c.actions.map(a => a.linearPair!),
      c.gradient,
    );
    return { name: NAME, exact: true, solve: opts => ascendGlGram(form, opts) };
  },
};
