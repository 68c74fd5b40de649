import * as tf from '@tensorflow/tfjs-core';
import { rememberGlElement } from '../groups/gl.js';
import { matMul64, scaledOuter64, symEig64 } from '../linalg/dense64.js';
import { glGramEvaluate, type GlGramForm } from '../objectives/gl_gram.js';
import { guardedAscent, type AscentOutcome, type AscentSpace, type Evaluation } from './step_rule.js';
import type { Solver, SolverOptions, SolverResult } from './types.js';

/** A point: per site g and g⁻¹ in float64 (null: the identity), and θ when it lies on the first ray. */
interface GramPoint {
  gs: Array<Float64Array | null>;
  gInvs: Array<Float64Array | null>;
  /** θ with exp(θ) = g exactly: set on the identity and on points one move away from it. */
  theta: Float64Array[] | null;
}

interface GramEval extends Evaluation<GramPoint> {
  local: Float64Array[];
}

function gramSpace(form: GlGramForm): AscentSpace<GramPoint> {
  return {
    evaluate(point) {
      const { value, local } = glGramEvaluate(form, point.gs, point.gInvs);
      let sq = 0;
      for (const m of local) for (const x of m) sq += x * x;
      return { point, value: Number.isFinite(value) ? value : Number.NaN, gradNormSq: Number.isFinite(sq) ? sq : Number.NaN, local } as GramEval;
    },
    // g ← g·exp(scale·D) with D the (symmetric) gradient in the chart at g: one symmetric
    // eigendecomposition per site gives exp(±scale·D) exactly as Q·diag(e^{±scale·λ})·Qᵀ.
    move(from, scale) {
      const { point, local } = from as GramEval;
      const atIdentity = point.gs.every(g => g == null);
      const gs: Float64Array[] = [];
      const gInvs: Float64Array[] = [];
      form.widths.forEach((h, k) => {
        const { values, q } = symEig64(local[k], h);
        const e = scaledOuter64(
          q,
          values.map(v => Math.exp(scale * v)),
          h,
        );
        const eInv = scaledOuter64(
          q,
          values.map(v => Math.exp(-scale * v)),
          h,
        );
        const g = point.gs[k];
        const gi = point.gInvs[k];
        gs.push(g == null ? e : matMul64(g, e, h, h, h));
        gInvs.push(gi == null ? eInv : matMul64(eInv, gi, h, h, h));
      });
      return { gs, gInvs, theta: atIdentity ? local.map(m => m.map(x => scale * x)) : null };
    },
    release() {},
  };
}

/**
 * θ with exp(θ) giving the same objective as g: θ itself on the first ray, else θ = ½·log(g·gᵀ)
 * (symmetric). The objective depends on g only through g·gᵀ (an orthogonal factor on the right of g
 * cancels in every term), so exp(θ) = (g·gᵀ)^{1/2} has exactly g's value.
 */
function finalElement(point: GramPoint, widths: readonly number[]): Array<{ theta: Float64Array; g: Float64Array; gInv: Float64Array }> {
  return widths.map((h, k) => {
    const g = point.gs[k];
    if (g == null) {
      const eye = new Float64Array(h * h);
      for (let i = 0; i < h; i++) eye[i * h + i] = 1;
      return { theta: new Float64Array(h * h), g: eye, gInv: eye };
    }
    if (point.theta != null) return { theta: point.theta[k], g, gInv: point.gInvs[k]! };
    const { values, q } = symEig64(matMul64(g, g, h, h, h, false, true), h);
    return {
      theta: scaledOuter64(
        q,
        values.map(v => 0.5 * Math.log(v)),
        h,
      ),
      g: scaledOuter64(
        q,
        values.map(v => Math.sqrt(v)),
        h,
      ),
      gInv: scaledOuter64(
        q,
        values.map(v => 1 / Math.sqrt(v)),
        h,
      ),
    };
  });
}

/** Per site, in float64: θ and the element it stands for, g = exp(θ) and g⁻¹ = exp(−θ). */
export interface GramElement {
  theta: Float64Array;
  g: Float64Array;
  gInv: Float64Array;
}

/**
 * {@link ascendGlGram} without the tensors: the step rule's outcome and the float64 elements found.
 *
 * ```ts
 * const { outcome, elements } = ascendGlGram64(glGramForm(sites, grads), settings);
 * ```
 */
export function ascendGlGram64(form: GlGramForm, opts: SolverOptions): { outcome: AscentOutcome<unknown>; elements: GramElement[] } {
  const stepRule = opts.stepRule == null || opts.stepRule === 'auto' ? 'budget' : opts.stepRule;
  const start: GramPoint = { gs: form.widths.map(() => null), gInvs: form.widths.map(() => null), theta: null };
  const outcome = guardedAscent(gramSpace(form), start, null, { ...opts, stepRule });
  return { outcome, elements: finalElement(outcome.best, form.widths) };
}

/**
 * The guarded ascent ({@link guardedAscent}: same growth cap, backtracking, best iterate) for the
 * gradient norm of GL on linear pairs, on the Gram-reduced objective ({@link glGramForm}) in float64:
 * no tensor ops per step. Each step right-multiplies every site's element by exp(scale·D), D the
 * objective's gradient in the chart g·exp(T) at the current g (symmetric; at the identity it is the
 * gradient in θ of exp(θ)), computed exactly through one symmetric eigendecomposition. So the first
 * step is the autodiff solver's first step (θ = scale·∇θ at the identity, g = exp(θ)); later steps
 * follow the chart at the current point rather than θ's coordinates. `stepRule` 'auto' or unset
 * means 'budget'. The returned θ are float32 tensors with exp(θ) giving the found objective; their
 * float64 elements are remembered for `glElement` (no series needed to apply them).
 *
 * ```ts
 * const r = ascendGlGram(glGramForm(sites, grads), settings);
 * ```
 */
export function ascendGlGram(form: GlGramForm, opts: SolverOptions): SolverResult {
  const { outcome: r, elements } = ascendGlGram64(form, opts);
  const thetas = elements.map(({ theta, g, gInv }, k) => {
    const h = form.widths[k];
    const t = tf.keep(tf.tensor2d(Float32Array.from(theta), [h, h]));
    rememberGlElement(t, Float32Array.from(g), Float32Array.from(gInv));
    return t;
  });
  return {
    thetas,
    objectiveBefore: r.objectiveBefore,
    objectiveAfter: r.objectiveAfter,
    stepsTaken: r.stepsTaken,
    backtracks: r.backtracks,
    aborted: r.aborted,
  };
}

/** Picked for the gradient norm of GL on linear pairs with a known gradient, from the identity. */
export const glGramAscent: Solver = {
  name: 'gl gram ascent',
  applies: problem => problem.glGram != null && !problem.randomStart,
  solve: (problem, opts) => ascendGlGram(problem.glGram!, opts),
};
