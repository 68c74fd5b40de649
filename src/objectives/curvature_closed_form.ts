import type { Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import { rescaleObjective, rescaleTerms, type Term } from './rescale_closed_form.js';
import type { ClosedForm } from './types.js';

/** One Lie-algebra element per action, as drawn by `drawCurves` (plain arrays). */
export type AlgebraDraw = ReadonlyArray<{ shape: number[]; values: Float32Array }>;

/**
 * ψ (eq. 5.2) in closed form for per-unit rescale actions, solved on the CPU in float64.
 *
 * At g·w, with entry i of the weights scaled by c_i(θ) = exp(θ_col − θ_row) (the unit it feeds, the
 * unit it reads) and the diagonal algebra element M acting on it by μ_i = m_col − m_row, the orbit
 * curve has γ' = μ∘(c∘w) and γ'' = μ²∘(c∘w), so with A_p(θ) = Σ_i μ_i^p c_i(θ)² w_i²:
 * ‖γ'‖² = A₂, γ'·γ'' = A₃, ‖γ''‖² = A₄ and κ = sqrt(A₂A₄ − A₃²)/A₂^{3/2} (the same value as
 * curveCurvature, cross terms between pairs included: μ of a shared kernel entry sums both pairs).
 * Each A_p has the form of the rescale gradient norm (rescale_closed_form.ts) with μ^p·w² in place
 * of g² and the opposite sign of θ (weights scale with λ, gradients with 1/λ), so the ascent costs a
 * few loops over vectors of unit scales and never touches a tensor.
 * Returns null unless every action is a per-unit rescale.
 */
export function curvatureClosedForm(actions: readonly SiteAction[], params: readonly Tensor[], curves: readonly AlgebraDraw[]): ClosedForm | null {
  if (actions.length === 0 || !actions.every(a => a.diagonal != null)) return null;
  const sites = actions.map(a => a.diagonal!);
  // Σ of w² over every axis but the two unit axes: the rescale terms of "gradients" w.
  const base = rescaleTerms(sites, params, null);
  const withPower = (ms: AlgebraDraw, p: number): Term[] =>
    base.map(t => {
      const q = new Float64Array(t.q.length);
      for (let r = 0; r < t.rows; r++) {
        const mr = t.rowSite != null ? ms[t.rowSite].values[r] : 0;
        for (let c = 0; c < t.cols; c++) {
          const mu = (t.colSite != null ? ms[t.colSite].values[c] : 0) - mr;
          q[r * t.cols + c] = t.q[r * t.cols + c] * mu ** p;
        }
      }
      return { ...t, q };
    });
  const perCurve = curves.map(ms => [2, 3, 4].map(p => withPower(ms, p)));
  const widths = sites.map(s => s.width);
  return {
    widths,
    evaluate: s => {
      const neg = s.map(v => v.map(x => -x));
      const grads = widths.map(h => new Float64Array(h));
      let value = 0;
      for (const [t2, t3, t4] of perCurve) {
        // A_p(θ) = F_p(−θ); dA_p/dθ = −∇F_p(−θ).
        const [a2, a3, a4] = [t2, t3, t4].map(t => rescaleObjective(t, neg));
        const n = Math.max(a2.value * a4.value - a3.value * a3.value, 1e-300);
        const root = Math.sqrt(n);
        const kappa = root / a2.value ** 1.5;
        value += kappa / perCurve.length;
        // dκ = (A₄dA₂ + A₂dA₄ − 2A₃dA₃)/(2√N·A₂^{3/2}) − (3/2)·√N·A₂^{−5/2}·dA₂
        const c2 = a4.value / (2 * root * a2.value ** 1.5) - 1.5 * root * a2.value ** -2.5;
        const c4 = a2.value / (2 * root * a2.value ** 1.5);
        const c3 = (-2 * a3.value) / (2 * root * a2.value ** 1.5);
        grads.forEach((g, k) => {
          for (let j = 0; j < g.length; j++) g[j] -= (c2 * a2.grads[k][j] + c3 * a3.grads[k][j] + c4 * a4.grads[k][j]) / perCurve.length;
        });
      }
      return { value, grads };
    },
  };
}
