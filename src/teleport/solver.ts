import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';

/** Settings of the ascent on the group parameters. */
export interface SolverOptions {
  /** Ascent steps on θ. */
  steps: number;
  /** Step size. */
  lr: number;
  /** Maximize (Algorithm 1) or minimize the objective. */
  direction: 'maximize' | 'minimize';
  /** Step along ∇θ/‖∇θ‖ (lr is then a distance in group-parameter space) instead of ∇θ. */
  normalize: boolean;
  /** Backtrack (halve the step) whenever a step does not improve the objective. */
  lineSearch: boolean;
  /** When maximizing: never let objective / objectiveBefore exceed this ratio (steps that would are halved). */
  maxGrowth: number;
  /** Halvings allowed per step before the ascent stops early. */
  maxBacktracks: number;
}

export interface SolverResult {
  /** Final group parameters (kept: the caller disposes them). */
  thetas: Tensor[];
  objectiveBefore: number;
  objectiveAfter: number;
  stepsTaken: number;
  backtracks: number;
  /** Set when the ascent hit a non-finite value at the start. */
  aborted?: string;
}

/**
 * Gradient ascent (or descent) on group parameters θ of `objective`, guarded: a step whose objective
 * or θ-gradient is not finite, that breaks the growth cap, or (with line search) does not improve, is
 * halved and retried. Every evaluation is one `tf.valueAndGrads` call inside a tidy scope; only the
 * current θ survives between steps.
 */
export function ascend(objective: (thetas: Tensor[]) => Scalar, init: Tensor[], opts: SolverOptions): SolverResult {
  const sign = opts.direction === 'maximize' ? 1 : -1;
  const evaluate = (thetas: Tensor[]) =>
    tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...ts: Tensor[]) => objective(ts))(thetas);
      // One sync checks both: 0·NaN and 0·Inf are NaN.
      let check: Tensor = value;
      for (const g of grads) check = tf.add(check, tf.mul(0, tf.sum(g)));
      return { value, grads, check };
    });

  let thetas = init.map(t => tf.keep(t.clone()));
  let current = evaluate(thetas);
  const f0 = current.check.dataSync()[0];
  if (!Number.isFinite(f0)) {
    tf.dispose([current.value, current.grads, current.check]);
    return { thetas, objectiveBefore: f0, objectiveAfter: f0, stepsTaken: 0, backtracks: 0, aborted: 'the objective or its gradient is not finite at the start (NaN or Inf in the gradients or weights)' };
  }
  let fCur = f0;
  let lr = opts.lr;
  let stepsTaken = 0;
  let backtracks = 0;
  const capOk = (v: number) => sign < 0 || Math.abs(f0) === 0 || v / f0 <= opts.maxGrowth;
  for (let k = 0; k < opts.steps; k++) {
    let accepted = false;
    for (let bt = 0; bt <= opts.maxBacktracks; bt++) {
      const candidate = tf.tidy(() => {
        let scale: Tensor | number = sign * lr;
        if (opts.normalize) {
          let sq: Tensor = tf.scalar(0);
          for (const g of current.grads) sq = tf.add(sq, tf.sum(tf.square(g)));
          scale = tf.div(sign * lr, tf.add(tf.sqrt(sq), 1e-30));
        }
        return thetas.map((t, i) => tf.add(t, tf.mul(scale, current.grads[i])));
      });
      const next = evaluate(candidate);
      const v = next.check.dataSync()[0];
      const improves = sign > 0 ? v >= fCur : v <= fCur;
      if (Number.isFinite(v) && capOk(v) && (!opts.lineSearch || improves)) {
        tf.dispose([thetas, current.value, current.grads, current.check]);
        thetas = candidate;
        current = next;
        fCur = v;
        accepted = true;
        stepsTaken++;
        break;
      }
      tf.dispose([candidate, next.value, next.grads, next.check]);
      backtracks++;
      lr /= 2;
    }
    if (!accepted) break;
    // At the growth cap there is nothing left to gain; further steps would only backtrack.
    if (sign > 0 && f0 > 0 && fCur >= 0.999 * opts.maxGrowth * f0) break;
  }
  tf.dispose([current.value, current.grads, current.check]);
  return { thetas, objectiveBefore: f0, objectiveAfter: fCur, stepsTaken, backtracks };
}
