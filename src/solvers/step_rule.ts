import type { Tensor } from '@tensorflow/tfjs-core';
import type { SolverOptions, SolverResult, StepRule } from './types.js';

/**
 * A point of the search space with its objective value and gradient. `P` is the representation
 * (tensors, or float64 vectors for closed forms); the space owns and frees what it makes.
 */
export interface Evaluation<P> {
  point: P;
  value: number;
  /** ‖∇θ‖², for normalized steps. */
  gradNormSq: number;
  /**
   * Set by spaces whose gradient is finite exactly when the value is (and costs more than the value):
   * acceptance then reads this instead of `gradNormSq`, which is read only to take the next step.
   */
  gradientFinite?: boolean;
}

/** The operations the shared ascent needs from a search space. */
export interface AscentSpace<P> {
  /** Objective and gradient at `point`; non-finite values are reported as NaN, not thrown. */
  evaluate(point: P): Evaluation<P>;
  /** point + scale·∇θ at an evaluated point (a new point). */
  move(from: Evaluation<P>, scale: number): P;
  /** Frees an evaluation (its gradient) and, unless `keepPoint`, its point. */
  release(e: Evaluation<P>, keepPoint?: boolean): void;
}

/** Where a guarded ascent ended: the best point it saw, with the objective there and at the start. */
export interface AscentOutcome<P> {
  best: P;
  objectiveBefore: number;
  objectiveAfter: number;
  stepsTaken: number;
  backtracks: number;
  aborted?: string;
  /** No step was taken and every one tried had a non-finite objective: lr is far too long for this objective. */
  blewUp?: boolean;
}

/**
 * Where along a step the objective meets `cap`, from what the step already knows: φ(0) = `from`,
 * φ'(0) = `slope` (the directional derivative, ‖∇θ‖ for a normalized step) and φ(len) = `to` > cap.
 * log φ is fitted by the parabola through (0, ln from) with slope slope/from and through (len, ln to),
 * and the step goes to where the parabola reaches ln cap. For a log-convex φ (a sum of exponentials,
 * as rescale's closed form) the answer lies between the log-linear chord's crossing (never past the
 * cap) and the tangent's, and is exact for a single exponential. Kept within [len/16, 0.95·len]; the
 * step's acceptance rules judge the result either way (an overshoot is shortened again).
 *
 * ```ts
 * // φ(t) = 2·e^{1.3t}: from 2 (slope 2.6) to φ(1) ≈ 7.3, the cap 3 is met at t = ln(1.5)/1.3
 * const t = lengthToCap(2, 2.6, 2 * Math.exp(1.3), 3, 1); // ≈ 0.312
 * ```
 */
export function lengthToCap(from: number, slope: number, to: number, cap: number, len: number): number {
  if (!(from > 0 && to > cap && cap > from)) return len / 2;
  const a = Math.log(from);
  const rise = Math.log(cap) - a;
  const total = Math.log(to) - a;
  const chord = (len * rise) / total;
  const b = slope > 0 && Number.isFinite(slope) ? slope / from : 0;
  const c = (total - b * len) / (len * len);
  let t = chord;
  if (b > 0 && c > 0)
    t = (2 * rise) / (b + Math.sqrt(b * b + 4 * c * rise)); // the parabola's root, in a cancellation-free form
  else if (b > 0 && c <= 0) t = rise / b; // log φ is (locally) linear or concave: the tangent
  return Math.min(0.95 * len, Math.max(len / 16, t));
}

/** A step shortened for the cap aims a little below it: a fit that misses by a few per cent then still lands inside. */
const AIM = 0.9;

/**
 * Where a step shortened for the cap aims, as a multiple of the objective at the identity: 90 % of the
 * cap, or for caps near 1 (where 90 % of the cap is below the start: a recovered budget's small caps)
 * 90 % of the rise the cap allows.
 */
export function capAim(maxGrowth: number): number {
  const rise = 1 + AIM * (maxGrowth - 1);
  return AIM * maxGrowth > 1 + (maxGrowth - 1) / 2 ? AIM * maxGrowth : rise;
}

const NOT_FINITE = 'the objective or its gradient is not finite at the start (NaN or Inf in the gradients or weights)';

/**
 * The one step rule every ascent solver follows:
 * - steps of size lr along ∇θ (or ∇θ/‖∇θ‖ with `normalize`), signed by the direction;
 * - a step whose value or gradient is not finite, that breaks the growth cap (objective / objective
 *   at the identity ≤ maxGrowth when maximizing) or, with `lineSearch`, does not improve, is halved
 *   and retried up to maxBacktracks times; then the search stops;
 * - the best point seen is returned, never a worse one: fixed-size steps can jump past a sharp peak;
 * - with `stepRule: 'budget'` (normalized steps) each step instead tries the whole distance left of
 *   lr·steps and must improve (as with `lineSearch`); a step over the growth cap is shortened by
 *   {@link lengthToCap} (aiming at `capAim`: 90 % of the cap, or of the rise for caps near 1) rather than halved; once such a step lands within
 *   20 % of the cap the ascent ends.
 * Points passed in (`start`, `identity`) are handed over to the space; the returned `best` belongs to
 * the caller.
 * `identity` is evaluated when the search starts elsewhere (random SO(2) angles): the objective
 * before is always the one at the current weights, and the identity competes for best.
 */
export function guardedAscent<P>(space: AscentSpace<P>, start: P, identity: P | null, opts: SolverOptions): AscentOutcome<P> {
  const sign = opts.direction === 'maximize' ? 1 : -1;
  const atIdentity = identity != null ? space.evaluate(identity) : null;
  let current = space.evaluate(start);
  const f0 = (atIdentity ?? current).value;
  if (!Number.isFinite(f0) || !Number.isFinite(current.value)) {
    const kept = atIdentity ?? current;
    if (atIdentity != null) space.release(current, false);
    space.release(kept, true);
    return { best: kept.point, objectiveBefore: f0, objectiveAfter: f0, stepsTaken: 0, backtracks: 0, aborted: NOT_FINITE };
  }
  const capOk = (v: number) => sign < 0 || f0 <= 0 || v / f0 <= opts.maxGrowth;
  // The 'budget' rule: each step tries the distance left of lr·steps (normalized steps only).
  const budgeted = opts.stepRule === 'budget' && opts.normalize;
  const budget = opts.lr * opts.steps;
  let travelled = 0;
  const better = (a: number, b: number) => (sign > 0 ? a > b : a < b);

  // The best point so far; it may be `current` itself (then released only when both move on).
  let best: Evaluation<P> = atIdentity != null && !(capOk(current.value) && better(current.value, atIdentity.value)) ? atIdentity : current;
  if (atIdentity != null && best !== atIdentity) space.release(atIdentity, false);
  let lr = opts.lr;
  let stepsTaken = 0;
  let backtracks = 0;
  let finiteTries = 0;
  // Frees an evaluation once nothing refers to it any more.
  const retire = (e: Evaluation<P>) => {
    if (e !== best && e !== current) space.release(e, false);
  };

  for (let k = 0; k < opts.steps; k++) {
    let moved = false;
    let aimedAtCap = false;
    let stepGain = 0;
    if (budgeted) {
      if (budget - travelled <= 1e-9 * budget) break;
      lr = budget - travelled;
    }
    for (let bt = 0; bt <= opts.maxBacktracks; bt++) {
      const scale = (sign * lr) / (opts.normalize ? Math.sqrt(current.gradNormSq) + 1e-30 : 1);
      const next = space.evaluate(space.move(current, scale));
      const finiteValue = Number.isFinite(next.value);
      if (finiteValue) finiteTries++;
      // A long ('budget') step must improve: it spends the distance that several short ones would.
      // The gradient is read last: a space may compute it lazily, so rejected points skip it.
      const ok =
        finiteValue &&
        capOk(next.value) &&
        (!(opts.lineSearch || budgeted) || !better(current.value, next.value)) &&
        (next.gradientFinite ?? Number.isFinite(next.gradNormSq));
      if (ok) {
        const previous = current;
        const previousBest = best;
        stepGain = sign * (next.value - previous.value);
        current = next;
        if (better(current.value, best.value)) best = current;
        retire(previous);
        if (previousBest !== previous) retire(previousBest);
        moved = true;
        stepsTaken++;
        travelled += lr;
        break;
      }
      aimedAtCap = budgeted && finiteValue && !capOk(next.value);
      const shorter = aimedAtCap ? lengthToCap(current.value, Math.sqrt(current.gradNormSq), next.value, capAim(opts.maxGrowth) * f0, lr) : lr / 2;
      space.release(next, false);
      backtracks++;
      lr = shorter;
    }
    if (!moved) break;
    // A stalled search: the last step gained less than the tolerance (the best point is kept).
    if (opts.stallTolerance != null && opts.stallTolerance > 0 && stepGain < opts.stallTolerance * Math.abs(f0)) break;
    // At the growth cap there is nothing left to gain; further steps would only backtrack.
    if (sign > 0 && f0 > 0 && best.value >= 0.999 * opts.maxGrowth * f0) break;
    // A step shortened to meet the cap that got within 20 % of it: more steps would each cost two
    // evaluations (overshoot, shortened step) for the last few per cent.
    if (aimedAtCap && sign > 0 && f0 > 0 && best.value >= 0.8 * opts.maxGrowth * f0) break;
  }
  if (current !== best) space.release(current, false);
  space.release(best, true);
  const blewUp = stepsTaken === 0 && backtracks > 0 && finiteTries === 0;
  return { best: best.point, objectiveBefore: f0, objectiveAfter: best.value, stepsTaken, backtracks, ...(blewUp ? { blewUp } : {}) };
}

/**
 * A solver's step rule: `'auto'` (or unset) becomes the solver's own default, anything else stays.
 *
 * ```ts
 * withStepRule({ ...settings, stepRule: 'auto' }, 'budget').stepRule; // 'budget'
 * ```
 */
export function withStepRule(opts: SolverOptions, auto: Exclude<StepRule, 'auto'>): SolverOptions {
  return { ...opts, stepRule: opts.stepRule == null || opts.stepRule === 'auto' ? auto : opts.stepRule };
}

/**
 * The {@link SolverResult} of an ascent: its counts and objective values, with the θ the solver reports
 * (the best point itself, or tensors made from it).
 *
 * ```ts
 * return solverResult(guardedAscent(space, start, null, withStepRule(opts, 'fixed')), thetas);
 * ```
 */
export function solverResult(r: AscentOutcome<unknown>, thetas: Tensor[]): SolverResult {
  return {
    thetas,
    objectiveBefore: r.objectiveBefore,
    objectiveAfter: r.objectiveAfter,
    stepsTaken: r.stepsTaken,
    backtracks: r.backtracks,
    aborted: r.aborted,
    ...(r.blewUp ? { blewUp: true } : {}),
  };
}
