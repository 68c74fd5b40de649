import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { getObjective } from '../objectives/registry.js';
import { withSecondOrderGradients } from '../structure/second_order_scope.js';
import { objectiveContext, type TeleportInput, type TeleportSettings } from './engine.js';

/** What one evaluation of the objective at the identity says a search could gain. */
export interface TeleportProbe {
  /** The objective at the current weights (θ = identity). */
  value: number;
  /** ‖∇θ objective‖ at the identity. */
  gradNorm: number;
  /**
   * The search's predicted improvement relative to |value|, from the slope ‖∇θ‖ over the path a search
   * may take (length D = lr · steps for normalized steps; lr · steps · ‖∇θ‖ for plain ones): D·‖∇θ‖/|value|
   * (a linear model), or, when maximizing a positive value, the log-linear model's e^{D·‖∇θ‖/value} − 1
   * capped by the growth cap (maxGrowth − 1). Optimistic where the objective bends down along the path
   * (interior optima, backtracks); it underestimates only where it grows faster than exponentially.
   */
  relativeGain: number;
  /** Evaluations a full search makes at most: the identity, `steps` ascent steps, the guard's fresh measurement, the held-out check. */
  evaluationsPerSearch: number;
  /** Time of the one evaluation (by `clock`), without the setup a search pays once (split, actions, ∇L(w)). */
  evaluationMs: number;
}

/**
 * One evaluation of the teleport's objective and its θ-gradient at the identity (the search's own
 * first evaluation, nothing else), and the gain a full search could reach from there. Changes
 * nothing; every tensor it makes is freed.
 */
export function probeTeleport(input: TeleportInput, settings: TeleportSettings, clock: () => number = () => performance.now()): TeleportProbe {
  // The outer tidy frees what the objective's setup may keep (it has no release hook).
  return withSecondOrderGradients(() =>
    tf.tidy(() => {
      const objective = getObjective(settings.objective);
      const ctx = objectiveContext(input, objective, settings, false);
      const value = objective.value(ctx);
      const identity = tf.tidy(() => input.actions.map(a => (a.randomInit ? tf.zerosLike(a.init(input.random)) : a.init(input.random))));
      try {
        const started = clock();
        const both = tf.tidy(() => {
          const r = tf.valueAndGrads((...ts: Tensor[]) => value(ts))(identity);
          return tf.stack([r.value, tf.sqrt(tf.addN([tf.scalar(0), ...r.grads.map(g => tf.sum(tf.square(g)))]))]);
        });
        const [f0, gradNorm] = both.dataSync();
        const evaluationMs = clock() - started;
        both.dispose();
        // The objective's slope times the path's length, relative to |F(0)|: a linear model, or, for a
        // positive objective, a log-linear one (F(t) = F(0)·e^{t·slope/F(0)}: rescale's objectives
        // grow like sums of exponentials, which the linear model underestimates).
        const path = settings.normalize ? settings.lr * settings.steps : settings.lr * settings.steps * gradNorm;
        const linear = (path * gradNorm) / Math.max(Math.abs(f0), 1e-12);
        let relativeGain = linear;
        if (settings.direction === 'maximize' && f0 > 0) relativeGain = Math.min(Math.expm1(linear), settings.maxGrowth - 1);
        if (!Number.isFinite(f0) || !Number.isFinite(gradNorm)) relativeGain = NaN;
        return { value: f0, gradNorm, relativeGain, evaluationsPerSearch: settings.steps + 3, evaluationMs };
      } finally {
        tf.dispose(identity);
      }
    }),
  );
}
