import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import type { ParamConstraint, RejectionKind } from '../core/types.js';
import { applyActions } from '../groups/apply.js';

export type { ParamConstraint } from '../core/types.js';

/** What the guard checks a group element against. */
export interface GuardInput {
  actions: readonly SiteAction[];
  /** w (borrowed). */
  params: readonly Tensor[];
  /** The solver's group element (handed over: the guard disposes what it replaces). */
  thetas: Tensor[];
  /** The loss that training minimizes, on the teleport batch (null: no batch, drift not measured). */
  loss: ((params: readonly Tensor[]) => Scalar) | null;
  lossBefore: number | null;
  /** The objective at the identity, and a fresh measurement of it at θ. */
  objectiveBefore: number;
  /** Measures the objective afresh at θ. */
  measure(thetas: readonly Tensor[]): number;
  direction: 'maximize' | 'minimize';
  /** Largest accepted objectiveAfter / objectiveBefore when maximizing. */
  maxGrowth: number;
  maxLossDrift: number;
  maxShrinks: number;
  /** Per parameter: the layer's constraint, if any. */
  constraints?: ReadonlyArray<ParamConstraint | null> | null;
  /** When true, finite θ guarantees finite weights (rescale multiplies by exp(θ)): skip the weight-sized check. */
  finiteFromTheta?: boolean;
  /**
   * The model's outputs on held-out rows (rows the batch-exact actions were not built from), as a
   * function of the parameters; with `maxHeldOutChange`, the guard bounds their relative change.
   */
  heldOutOutputs?: ((params: readonly Tensor[]) => Tensor[]) | null;
  /** Largest accepted ‖f(g·w) − f(w)‖ / ‖f(w)‖ on the held-out rows (Frobenius, all outputs). */
  maxHeldOutChange?: number;
}

/** What the guard decided, with the element and weights it ended at. */
export interface GuardResult {
  accepted: boolean;
  rejection?: { kind: RejectionKind; message: string };
  /** The final element (kept; caller disposes). */
  thetas: Tensor[];
  /** g·w when accepted (kept; caller owns; untouched entries are clones), else null. */
  params: Tensor[] | null;
  lossAfter: number | null;
  relativeLossDrift: number | null;
  objectiveAfter: number;
  shrinks: number;
  /** Relative change of the outputs on the held-out rows at the last element checked (null: none measured). */
  heldOutChange: number | null;
}

export { applyActions } from '../groups/apply.js';

const scalarOf = (t: Tensor) => t.dataSync()[0];

/** Indices of parameters whose constrained value differs from the value itself. */
function violatedConstraints(params: readonly Tensor[], constraints: ReadonlyArray<ParamConstraint | null>, touched: ReadonlySet<number>): number[] {
  const bad: number[] = [];
  constraints.forEach((c, i) => {
    if (c == null || !touched.has(i)) return;
    const gap = tf.tidy(() => {
      const p = params[i];
      return scalarOf(tf.div(tf.max(tf.abs(tf.sub(c(p), p))), tf.add(1, tf.max(tf.abs(p)))));
    });
    if (!(gap <= 1e-5)) bad.push(i);
  });
  return bad;
}

/**
 * The guard every teleport route goes through: apply g, then accept only if the weights are finite,
 * the loss on the batch moved by at most `maxLossDrift`, the outputs on held-out rows (when given) by
 * at most `maxHeldOutChange`, no layer constraint is violated, and a fresh
 * measurement of the objective shows an improvement within the growth cap. A failing element is
 * halved (θ ← θ/2, towards the identity) up to `maxShrinks` times, then the teleport is rejected and
 * nothing is changed. An element that does not improve the objective is rejected at once.
 */
export function guard(input: GuardInput): GuardResult {
  const held = input.heldOutOutputs;
  // The held-out outputs at w, flattened into one vector, kept while the guard halves θ.
  const reference = held != null ? tf.tidy(() => flatOutputs(held(input.params))) : null;
  try {
    return guardLoop(input, reference);
  } finally {
    reference?.dispose();
  }
}

const flatOutputs = (outs: Tensor[]) => tf.concat(outs.map(o => tf.reshape(o, [-1])));

/** ‖f(w') − f(w)‖ / ‖f(w)‖ over every output on the held-out rows. */
function relativeOutputChange(outputs: (params: readonly Tensor[]) => Tensor[], reference: Tensor, candidate: readonly Tensor[]): number {
  return tf.tidy(() => {
    const [diff, ref] = tf.stack([tf.norm(tf.sub(flatOutputs(outputs(candidate)), reference)), tf.norm(reference)]).dataSync();
    return diff / Math.max(ref, 1e-12);
  });
}

function guardLoop(input: GuardInput, reference: Tensor | null): GuardResult {
  const { actions, params, loss, lossBefore } = input;
  let heldOutChange: number | null = null;
  const touched = new Set(actions.flatMap(a => a.touches));
  const sign = input.direction === 'maximize' ? 1 : -1;
  let thetas = input.thetas;
  for (let shrinks = 0; ; shrinks++) {
    const candidate = tf.tidy(() => applyActions(actions, params, thetas).map(t => (params.includes(t) ? t.clone() : t)));
    let failure: { kind: RejectionKind; message: string } | null = null;
    let lossAfter: number | null = null;
    let drift: number | null = null;
    let objectiveAfter = NaN;
    const finite = input.finiteFromTheta
      ? thetas.every(t => t.dataSync().every(v => Number.isFinite(Math.exp(Math.abs(v)))))
      : tf.tidy(() => Number.isFinite(scalarOf(tf.addN(candidate.map(p => tf.sum(p))))));
    if (!finite) failure = { kind: 'not-finite', message: 'the teleported weights are not finite' };
    // Actions exact only in a limit bound their own error without data (BatchNormalization's ε).
    const bound = failure == null ? Math.max(0, ...actions.map((a, i) => a.inexactness?.(thetas[i]) ?? 0)) : 0;
    if (bound > input.maxLossDrift) {
      failure = {
        kind: 'drift',
        message: `the scale before a normalization layer changes its output by up to ${bound.toExponential(2)} (its ε no longer negligible against the scaled variance), above maxLossDrift ${input.maxLossDrift}`,
      };
    }
    if (failure == null && loss != null && lossBefore != null) {
      lossAfter = tf.tidy(() => scalarOf(loss(candidate)));
      drift = Math.abs(lossAfter - lossBefore) / Math.max(Math.abs(lossBefore), 1e-12);
      if (!Number.isFinite(drift)) failure = { kind: 'not-finite', message: 'the loss on the teleport batch is not finite after the teleport' };
      else if (drift > input.maxLossDrift)
        failure = { kind: 'drift', message: `relative loss drift ${drift.toExponential(2)} exceeds maxLossDrift ${input.maxLossDrift}` };
    }
    // Batch-exact actions change the outputs off the batch: bound that change on held-out rows.
    if (failure == null && reference != null && input.heldOutOutputs != null) {
      heldOutChange = relativeOutputChange(input.heldOutOutputs, reference, candidate);
      const bound = input.maxHeldOutChange ?? Infinity;
      if (!Number.isFinite(heldOutChange)) failure = { kind: 'not-finite', message: 'the outputs on the held-out rows are not finite after the teleport' };
      else if (heldOutChange > bound)
        failure = {
          kind: 'drift',
          message: `the outputs on the held-out rows changed by ${heldOutChange.toExponential(2)} (relative), above maxHeldOutChange ${bound}`,
        };
    }
    if (failure == null && input.constraints) {
      const bad = violatedConstraints(candidate, input.constraints, touched);
      if (bad.length) failure = { kind: 'constraint', message: `the teleported weights violate the layer constraint of parameter(s) ${bad.join(', ')}` };
    }
    if (failure == null) {
      objectiveAfter = input.measure(thetas);
      const f0 = input.objectiveBefore;
      if (!Number.isFinite(objectiveAfter)) failure = { kind: 'not-finite', message: 'the objective is not finite after the teleport' };
      else if (!(sign * (objectiveAfter - f0) > 0)) {
        // Halving moves towards the identity; it cannot make a non-improving element improve.
        tf.dispose(candidate);
        const how = shrinks > 0 ? ` after ${shrinks} halving(s) for the guard` : '';
        return reject(
          thetas,
          shrinks,
          lossAfter,
          drift,
          heldOutChange,
          objectiveAfter,
          'no-improvement',
          `no group element improved the objective (${f0.toPrecision(6)} → ${objectiveAfter.toPrecision(6)}${how}); try a smaller lr or more steps`,
        );
      } else if (sign > 0 && f0 > 0 && objectiveAfter / f0 > input.maxGrowth * (1 + 1e-4)) {
        failure = { kind: 'growth', message: `growth ${(objectiveAfter / f0).toPrecision(4)} exceeds the cap ${input.maxGrowth}` };
      }
    }
    if (failure == null) {
      return { accepted: true, thetas, params: candidate, lossAfter, relativeLossDrift: drift, objectiveAfter, shrinks, heldOutChange };
    }
    tf.dispose(candidate);
    if (shrinks >= input.maxShrinks) {
      const message = shrinks > 0 ? `${failure.message} even after ${shrinks} halvings of the group element` : failure.message;
      return reject(thetas, shrinks, lossAfter, drift, heldOutChange, objectiveAfter, failure.kind, message);
    }
    const halved = thetas.map(t => tf.keep(tf.mul(t, 0.5)));
    tf.dispose(thetas);
    thetas = halved;
  }
}

function reject(
  thetas: Tensor[],
  shrinks: number,
  lossAfter: number | null,
  drift: number | null,
  heldOutChange: number | null,
  objectiveAfter: number,
  kind: RejectionKind,
  message: string,
): GuardResult {
  return { accepted: false, rejection: { kind, message }, thetas, params: null, lossAfter, relativeLossDrift: drift, objectiveAfter, shrinks, heldOutChange };
}
