import type { RejectionKind } from './types.js';

/**
 * What a teleport measured, shared by the engine's outcome and the public {@link TeleportReport}.
 * Losses and norms are on the teleport batch, or, for exact groups inside an optimizer step without
 * `data`, from the step's own gradient (the loss fields are then null).
 */
export interface TeleportMetrics {
  accepted: boolean;
  /** Why a teleport was rejected (weights and optimizer state are then unchanged). */
  reason?: string;
  /** The kind of rejection, for code that reacts to it. */
  rejection?: RejectionKind;
  /** 'transport': from the known gradient, no extra pass; 'evaluate': loss evaluated on the batch. */
  route: 'transport' | 'evaluate';
  /** The objective at w (the identity element) and at the accepted g·w (NaN when rejected). */
  objectiveBefore: number;
  objectiveAfter: number;
  /** ‖∇L‖² over the parameters the group acts on (its sites' kernels and biases), before and after. */
  gradNormSqBefore: number;
  gradNormSqAfter: number;
  /** ‖∇L‖² over every trainable parameter, to compare with your own measurement. */
  fullGradNormSqBefore: number;
  fullGradNormSqAfter: number;
  lossBefore: number | null;
  lossAfter: number | null;
  /** |lossAfter − lossBefore| / |lossBefore|, null when no batch was available to measure it. */
  relativeLossDrift: number | null;
  ascentSteps: number;
  backtracks: number;
  /** Halvings of the group element the guard needed. */
  shrinks: number;
  /**
   * For objectives that confirm their move on held-out data: the held-out measurement at w and at
   * g·w, and the standard error of its change (an element is accepted only if the change goes the
   * asked way by more than twice that). For 'lookahead': the measured loss decrease over the next
   * `lookaheadSteps` real steps of the inner optimizer from w (before) and from g·w (after).
   */
  heldOutBefore?: number;
  heldOutAfter?: number;
  heldOutStderr?: number;
  /**
   * Batch-exact groups (nullspace; gl-data and gl-pinv when asked): ‖f(g·w) − f(w)‖ / ‖f(w)‖, the
   * relative change of the model's outputs on the held-out rows of the teleport batch (rows the
   * action was not built from; see the `heldOutFraction` option), at the last element the guard
   * checked. Bounded by `maxHeldOutChange`.
   */
  heldOutOutputChange?: number;
}

/** What one teleport did: its metrics plus where and when it ran. A plain, JSON-safe object. */
export interface TeleportReport extends TeleportMetrics {
  /** Optimizer step at which it ran (null for a one-off teleport). */
  step: number | null;
  group: string;
  objective: string;
  direction: 'maximize' | 'minimize';
  /** Where the group acted. */
  sites: string[];
  /** The cap on ‖∇L‖² growth this teleport had (maxGrowth, or what the run's budget left). */
  growthCap: number;
  /** What happened to the inner optimizer's state ('keep', 'reset', 'transform', or 'transform (partial: …)'). */
  state?: string;
  /** Index of the teleport batch, when several are given. */
  batch?: number;
  /** Wall time of the teleport in milliseconds. */
  ms: number;
  /** One-off teleports (`tp.teleport`) only: the model's shared growth budget after this call (see `tp.teleport.budget`). */
  budget?: OneOffBudget;
}

/** Metrics of a teleport that has measured nothing yet (NaN numbers, null losses), to fill in. */
export function emptyMetrics(route: TeleportMetrics['route']): TeleportMetrics {
  return {
    accepted: false,
    route,
    objectiveBefore: NaN,
    objectiveAfter: NaN,
    gradNormSqBefore: NaN,
    gradNormSqAfter: NaN,
    fullGradNormSqBefore: NaN,
    fullGradNormSqAfter: NaN,
    lossBefore: null,
    lossAfter: null,
    relativeLossDrift: null,
    ascentSteps: 0,
    backtracks: 0,
    shrinks: 0,
  };
}

/** What the one-off teleports of one model have used of their budget (`tp.teleport.budget(model)`). */
export interface OneOffBudget {
  /** Product of the objective growths of the accepted maximizing teleports since the last reset (1 = none). */
  growth: number;
  /** The cap on `growth` the latest call used (maxTotalGrowth, or maxGrowth² when unset). */
  maxTotalGrowth: number;
  /** Accepted teleports since the last reset. */
  teleports: number;
  /** Sum of their relative loss drifts on their batches (each ≤ maxLossDrift; drift adds up across calls). */
  drift: number;
}
