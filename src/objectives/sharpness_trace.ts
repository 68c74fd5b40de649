import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import { siteParams } from '../structure/sites.js';
import { badOption } from '../core/errors.js';
import { derivedRandom } from '../core/random.js';
import { rescaleObjective, rescaleTerms } from './rescale_closed_form.js';
import type { ClosedForm } from './types.js';

/** Default number of Hutchinson probes of the Hessian-trace sharpness estimator (as many more are held out). */
export const DEFAULT_PROBES = 4;

/**
 * Probe `index` of the stream keyed by `seed`: entries ±1 with equal probability (Rademacher), split
 * into one array per parameter. E[z zᵀ] = I, so E[zᵀAz] = tr(A). The same (seed, index) always gives
 * the same probe, and a different one from `unitDirection`'s direction of the same (seed, index).
 * ```ts
 * const z = tp.rademacherProbe(1, 0, model.trainableWeights.map(w => w.read().size));
 * ```
 */
export function rademacherProbe(seed: number, index: number, sizes: readonly number[]): Float32Array[] {
  const random = derivedRandom(seed, index, 0x7ace).source;
  return sizes.map(n => Float32Array.from({ length: n }, () => (random() < 0.5 ? -1 : 1)));
}

/**
 * H·z_k for several probes by forward differences of gradients, (∇L(w + εz_k) − ∇L(w)) / ε with
 * ε = `step`: K + 1 backward passes for K probes (the gradient at w is shared). Not nested autodiff:
 * tfjs 4.22 takes no second derivative through tf.logSoftmax (so through no softmax cross-entropy),
 * and on these networks its nested gradients disagreed with differences even for a linear MLP. The
 * O(ε) term, ε/2·∇³L[z, z], is odd in z, so it adds noise but no bias to the Hutchinson estimate
 * E[zᵀHz]. With piecewise-linear activations the difference also sees the kinks a displacement of
 * size ε‖z‖ crosses, as φ's own displacements do: the sharpness objective sets ε‖z‖ = sqrt(mean t²).
 * Returns plain arrays (no tensors outlive the call).
 * ```ts
 * const [hz] = hessianVectorProducts(loss, params, [params.map(p => new Float32Array(p.size).fill(1))], 1e-3);
 * ```
 */
export function hessianVectorProducts(
  loss: (params: readonly Tensor[]) => Scalar,
  params: readonly Tensor[],
  zs: readonly (readonly Float32Array[])[],
  step: number,
): Float32Array[][] {
  if (!(step > 0) || !Number.isFinite(step)) throw badOption(`hessianVectorProducts: step must be a positive finite number, got ${step}`);
  const gradAt = (ps: readonly Tensor[]) => tf.grads((...qs: Tensor[]) => loss(qs))(ps.slice());
  // Tensors in, arrays out; no tidy returns a typed array (tf.tidy walks what it returns, element by element).
  const base = tf.tidy(() => gradAt(params));
  try {
    return zs.map(z => {
      const diffs = tf.tidy(() => {
        const moved = params.map((p, i) => tf.add(p, tf.mul(step, tf.tensor(z[i], p.shape))));
        return gradAt(moved).map((g, i) => tf.div(tf.sub(g, base[i]), step));
      });
      const out = diffs.map(d => d.dataSync() as Float32Array);
      tf.dispose(diffs);
      return out;
    });
  } finally {
    tf.dispose(base);
  }
}

/** Mean of t² over the displacements. */
export function meanSquare(displacements: readonly number[]): number {
  return displacements.reduce((s, t) => s + t * t, 0) / displacements.length;
}

/**
 * The second-order (Hessian-trace) estimate of sharpness φ (eq. 5.1) along an exact orbit, as a
 * function of the group element θ:
 *
 *   φ̂(g·w) = L(w) + (mean t²)/(2n) · (1/K) Σ_k ⟨J⁻ᵀz_k, J⁻ᵀ(H(w)z_k)⟩  ≈  L(w) + (mean t²)/(2n) · tr H(g·w)
 *
 * Why: for directions d uniform on the unit sphere of the n parameters, E[L(w + t·d)] = L(w) +
 * (t²/2n)·tr H(w) + O(t⁴) (the first-order term has mean zero). On an orbit where L(g·v) = L(v) for
 * every v and g acts linearly with matrix J, H(g·w) = J⁻ᵀH(w)J⁻¹, so tr H(g·w) = tr(J⁻¹J⁻ᵀH(w)) =
 * E_z[(J⁻ᵀz)·(J⁻ᵀHz)] for Rademacher z (Hutchinson), and J⁻ᵀ is each action's `transportGradient`.
 * The K products H(w)z_k are computed once, at w, by a central difference of gradients at the
 * displacements' scale ({@link hessianVectorProducts}, ε·‖z‖ = sqrt(mean t²)): every later evaluation costs only the transport,
 * no pass over data. The probes are common random numbers, so φ̂ is a smooth deterministic function of θ.
 *
 * `hvps[k]` is H(w)·`probes[k]`, both per parameter; `lossAtW` is L(w); `n` the parameter count.
 * ```ts
 * const hvps = hessianVectorProducts(loss, params, probes, Math.sqrt(meanT2 / n));
 * const phiHat = tp.traceSharpnessAt(actions, thetas, params, probes, hvps, loss(params).dataSync()[0], meanT2, n);
 * ```
 */
export function traceSharpnessAt(
  actions: readonly SiteAction[],
  thetas: readonly Tensor[],
  params: readonly Tensor[],
  probes: readonly (readonly Float32Array[])[],
  hvps: readonly (readonly Float32Array[])[],
  lossAtW: number,
  meanT2: number,
  n: number,
): Scalar {
  return tf.tidy(() => {
    const transport = (v: readonly Float32Array[]) => {
      let out: Tensor[] = v.map((a, i) => tf.tensor(a, params[i].shape));
      actions.forEach((a, i) => {
        out = a.transportGradient!(out, thetas[i]);
      });
      return out;
    };
    const terms = probes.map((z, k) => {
      const tz = transport(z);
      const tv = transport(hvps[k]);
      return tf.addN(tz.map((t, i) => tf.sum(tf.mul(t, tv[i])))) as Scalar;
    });
    const trace = tf.div(tf.addN(terms), probes.length);
    return tf.add(lossAtW, tf.mul(meanT2 / (2 * n), trace)) as Scalar;
  });
}

/**
 * Whether the trace estimator applies: every action exact everywhere, linear in w (it has a
 * Lie-algebra action: rescale, GL) and with a gradient transport. SO(2) through a nonlinear bijection
 * is exact but not linear, so H(g·w) ≠ J⁻ᵀH(w)J⁻¹ there.
 */
export function traceApplies(actions: readonly SiteAction[]): boolean {
  return actions.length > 0 && actions.every(a => a.exactness === 'everywhere' && a.algebra != null && a.transportGradient != null);
}

/** Checks the number of probes. */
export function checkProbes(probes: number): number {
  if (!Number.isInteger(probes) || probes < 1) throw badOption(`sharpnessProbes must be a positive integer, got ${probes}`);
  return probes;
}

/** What the 'trace' estimator computes once per teleport, at w. */
export interface TraceSetup {
  probes: Float32Array[][];
  /** H(w)·probes[k]. */
  hvps: Float32Array[][];
  lossAtW: number;
  meanT2: number;
  /** Number of parameters. */
  n: number;
}

/**
 * The 'trace' estimate in closed form for per-unit rescale actions: J⁻ᵀ is diagonal there, so
 * (1/K)Σ_k ⟨J⁻ᵀz_k, J⁻ᵀHz_k⟩ = Σ_i p_i / c_i(θ)² with p = (1/K)Σ_k z_k∘Hz_k and c_i the factor
 * parameter i is scaled by, the same form as the rescale gradient norm with p in place of g²
 * (rescale_closed_form.ts). The ascent then runs on vectors of unit scales in plain JavaScript.
 * Returns null unless every action is a per-unit rescale.
 */
export function traceClosedForm(actions: readonly SiteAction[], params: readonly Tensor[], setup: TraceSetup): ClosedForm | null {
  if (!actions.every(a => a.diagonal != null)) return null;
  const sites = actions.map(a => a.diagonal!);
  const inTerms = new Set(sites.flatMap(siteParams));
  const p = params.map((w, i) => {
    const out = new Float32Array(w.size);
    setup.probes.forEach((z, k) => {
      const z_ = z[i];
      const v = setup.hvps[k][i];
      for (let j = 0; j < out.length; j++) out[j] += (z_[j] * v[j]) / setup.probes.length;
    });
    return out;
  });
  const constant = p.reduce((acc, v, i) => (inTerms.has(i) ? acc : acc + v.reduce((a, b) => a + b, 0)), 0);
  const ones = params.map(w => tf.onesLike(w));
  const weights = p.map((v, i) => tf.tensor(v, params[i].shape));
  const terms = rescaleTerms(sites, ones, weights);
  tf.dispose([ones, weights]);
  const scale = setup.meanT2 / (2 * setup.n);
  return {
    widths: sites.map(s => s.width),
    evaluate: s => {
      const r = rescaleObjective(terms, s);
      return { value: setup.lossAtW + scale * (r.value + constant), grads: r.grads.map(g => g.map(x => x * scale)) };
    },
  };
}
