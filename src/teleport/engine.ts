import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import { gradNormSq, type ObjectiveName, type Preconditioner } from '../objectives/grad_norm.js';
import { ascend, type SolverOptions } from './solver.js';
import { ascendRescale, rescaleObjective, rescaleTerms } from './rescale_fast.js';

/** Everything that decides how one teleport searches and what it accepts. */
export interface TeleportSettings extends SolverOptions {
  objective: ObjectiveName;
  /** Largest accepted |L(g·w) − L(w)| / |L(w)| on the teleport batch. */
  maxLossDrift: number;
  /** How many times a teleport that drifts too far is halved (θ ← θ/2) before it is rejected. */
  maxShrinks: number;
}

/** The state a teleport starts from. Tensors are borrowed, never disposed here. */
export interface TeleportInput {
  /** Current parameter values, in the order the actions index. */
  params: readonly Tensor[];
  /** Site actions, in application order. */
  actions: readonly SiteAction[];
  /** ∇L at `params`, when known: exact groups then need no forward or backward pass. */
  grads?: ReadonlyArray<Tensor | null> | null;
  /** The loss on the teleport batch as a pure function of the parameters (second-order safe). */
  loss?: ((params: readonly Tensor[]) => Scalar) | null;
  /** For 'preconditionedGradNorm'. */
  preconditioner?: Preconditioner | null;
  random: () => number;
}

/** What a teleport did; a plain object (see {@link TeleportReport} for the public fields). */
export interface TeleportOutcome {
  accepted: boolean;
  reason?: string;
  /** New parameter values (kept; caller owns them), null when rejected. */
  params: Tensor[] | null;
  /**
   * ∇L at the new parameters from the transport route, else null. Entries for parameters no action
   * touches are the caller's own gradient tensors (not copies): dispose only the others.
   */
  grads: Tensor[] | null;
  /** The group element found (kept; caller disposes), for moving optimizer state. */
  thetas: Tensor[];
  route: 'transport' | 'evaluate';
  objectiveBefore: number;
  objectiveAfter: number;
  gradNormSqBefore: number;
  gradNormSqAfter: number;
  lossBefore: number | null;
  lossAfter: number | null;
  relativeLossDrift: number | null;
  ascentSteps: number;
  backtracks: number;
  shrinks: number;
}

/** Applies every site action in order. */
export function applyActions(actions: readonly SiteAction[], params: readonly Tensor[], thetas: readonly Tensor[]): Tensor[] {
  let out = params.slice();
  actions.forEach((a, i) => {
    out = a.act(out, thetas[i]);
  });
  return out;
}

/** ∇L(g·w) from ∇L(w) through every site's J⁻ᵀ. */
export function transportGradients(actions: readonly SiteAction[], grads: ReadonlyArray<Tensor | null>, thetas: readonly Tensor[]): Array<Tensor | null> {
  let out = grads.slice() as Array<Tensor | null>;
  actions.forEach((a, i) => {
    out = a.transportGradient!(out as Tensor[], thetas[i]);
  });
  return out;
}

function lossGradients(loss: (p: readonly Tensor[]) => Scalar, params: readonly Tensor[], indices: readonly number[]): Array<Tensor | null> {
  // Gradients only for the parameters some action touches keep the objective's size honest.
  const grads = tf.grads((...ps: Tensor[]) => {
    const full = params.slice();
    indices.forEach((idx, k) => (full[idx] = ps[k]));
    return loss(full);
  })(indices.map(i => params[i]));
  const out: Array<Tensor | null> = params.map(() => null);
  indices.forEach((idx, k) => (out[idx] = grads[k]));
  return out;
}

const scalarOf = (t: Tensor) => t.dataSync()[0];

/**
 * One teleport: finds g by guarded ascent on the objective, applies it, measures the loss drift on
 * the teleport batch (when a loss is given), halves g until the drift is within bounds, or rejects.
 * Never throws for numerical trouble: a NaN/Inf start or a drift it cannot fix gives
 * `accepted: false` with a reason, and the caller keeps its weights.
 */
export function runTeleport(input: TeleportInput, settings: TeleportSettings): TeleportOutcome {
  const { actions, params } = input;
  const transport = input.grads != null && actions.every(a => a.transportGradient != null);
  if (!transport && input.loss == null) {
    throw new Error('tfjs-teleport: this group needs the loss on a teleport batch (give `data`), or a gradient with an exact group');
  }
  const precond = settings.objective === 'preconditionedGradNorm' ? input.preconditioner ?? null : null;
  const touched = [...new Set(actions.flatMap(a => a.touches))].sort((a, b) => a - b);
  const onlyTouched = (gs: ReadonlyArray<Tensor | null>) => gs.map((g, i) => (touched.includes(i) ? g : null));

  // The objective in θ. Transport: closed form from the known gradient. Evaluate: the gradient at
  // g·w by autodiff of the loss, then differentiated once more in θ (nested tf.grads).
  const objective = transport
    ? (thetas: Tensor[]) => gradNormSq(onlyTouched(transportGradients(actions, input.grads!, thetas)), precond)
    : (thetas: Tensor[]) => gradNormSq(lossGradients(input.loss!, applyActions(actions, params, thetas), touched), precond);

  // Rescale has a closed-form objective: solve it on small vectors instead of weight-sized tensors.
  const closedForm = transport && actions.every(a => a.diagonal != null);
  let solved;
  let plainTerms: ReturnType<typeof rescaleTerms> | null = null;
  const sites = closedForm ? actions.map(a => a.diagonal!) : [];
  if (closedForm) {
    const terms = rescaleTerms(sites, input.grads!, precond);
    // The plain ‖∇L‖² before and after come from the same closed form (no weight-sized pass).
    plainTerms = precond == null ? terms : rescaleTerms(sites, input.grads!, null);
    solved = ascendRescale(terms, sites.map(s => s.width), settings);
  } else {
    const init = tf.tidy(() => actions.map(a => a.init(input.random)));
    solved = ascend(objective, init, settings);
    tf.dispose(init);
  }
  const base = {
    route: (transport ? 'transport' : 'evaluate') as 'transport' | 'evaluate',
    objectiveBefore: solved.objectiveBefore,
    ascentSteps: solved.stepsTaken,
    backtracks: solved.backtracks,
  };
  const plainNormSq = (gs: ReadonlyArray<Tensor | null>) => tf.tidy(() => scalarOf(gradNormSq(onlyTouched(gs))));
  const gradsAt = (p: readonly Tensor[]) => lossGradients(input.loss!, p, touched);

  const closedNormSq = (s: Float64Array[]) => rescaleObjective(plainTerms!, s).value;
  const gradNormSqBefore = plainTerms ? closedNormSq(sites.map(x => new Float64Array(x.width))) : transport
    ? plainNormSq(input.grads!)
    : tf.tidy(() => scalarOf(gradNormSq(gradsAt(params))));
  if (solved.aborted) {
    return { ...base, accepted: false, reason: solved.aborted, params: null, grads: null, thetas: solved.thetas, objectiveAfter: NaN, gradNormSqBefore, gradNormSqAfter: NaN, lossBefore: null, lossAfter: null, relativeLossDrift: null, shrinks: 0 };
  }

  const lossBefore = input.loss != null ? tf.tidy(() => scalarOf(input.loss!(params))) : null;
  if (lossBefore != null && !Number.isFinite(lossBefore)) {
    return { ...base, accepted: false, reason: 'the loss on the teleport batch is not finite before the teleport', params: null, grads: null, thetas: solved.thetas, objectiveAfter: NaN, gradNormSqBefore, gradNormSqAfter: NaN, lossBefore, lossAfter: null, relativeLossDrift: null, shrinks: 0 };
  }

  let thetas = solved.thetas;
  let shrinks = 0;
  for (;;) {
    const newParams = tf.tidy(() => applyActions(actions, params, thetas).map(t => (params.includes(t) ? t.clone() : t)));
    const lossAfter = input.loss != null ? tf.tidy(() => scalarOf(input.loss!(newParams))) : null;
    const drift = lossBefore != null && lossAfter != null ? Math.abs(lossAfter - lossBefore) / Math.max(Math.abs(lossBefore), 1e-12) : null;
    // Rescale multiplies finite weights by exp(θ): finite θ and finite scales suffice (no weight-sized pass).
    const finiteParams = closedForm
      ? thetas.every(t => t.dataSync().every(v => Number.isFinite(Math.exp(Math.abs(v)))))
      : tf.tidy(() => Number.isFinite(scalarOf(tf.sum(newParams.map(p => tf.sum(p)).reduce((a, b) => tf.add(a, b))))));
    const ok = finiteParams && (drift == null || (Number.isFinite(drift) && drift <= settings.maxLossDrift));
    if (ok) {
      const grads = transport ? (tf.tidy(() => transportGradients(actions, input.grads!, thetas).map((g, i) => g ?? tf.zerosLike(params[i]))) as Tensor[]) : null;
      const gradNormSqAfter = plainTerms ? closedNormSq(thetas.map(t => Float64Array.from(t.dataSync()))) : transport ? plainNormSq(grads!) : tf.tidy(() => scalarOf(gradNormSq(gradsAt(newParams))));
      const objectiveAfter = shrinks === 0 ? solved.objectiveAfter : tf.tidy(() => scalarOf(objective(thetas)));
      return { ...base, accepted: true, params: newParams, grads, thetas, objectiveAfter, gradNormSqBefore, gradNormSqAfter, lossBefore, lossAfter, relativeLossDrift: drift, shrinks };
    }
    tf.dispose(newParams);
    if (shrinks >= settings.maxShrinks) {
      const reason = !finiteParams
        ? 'the teleported weights are not finite'
        : `relative loss drift ${drift!.toExponential(2)} exceeds maxLossDrift ${settings.maxLossDrift} even after ${shrinks} halvings of the group element`;
      return { ...base, accepted: false, reason, params: null, grads: null, thetas, objectiveAfter: NaN, gradNormSqBefore, gradNormSqAfter: NaN, lossBefore, lossAfter, relativeLossDrift: drift, shrinks };
    }
    const halved = thetas.map(t => tf.keep(tf.mul(t, 0.5)));
    tf.dispose(thetas);
    thetas = halved;
    shrinks++;
  }
}
