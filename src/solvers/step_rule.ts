import type { SolverOptions } from './types.js';

/**
 * A point of the search space with its objective value and gradient. `P` is the representation
 * (tensors, or float64 vectors for closed forms); the space owns and frees what it makes.
 */
export interface Evaluation<P> {
  point: P;
  value: number;
  /** ‖∇θ‖², for normalized steps. */
  gradNormSq: number;
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

export interface AscentOutcome<P> {
  best: P;
  objectiveBefore: number;
  objectiveAfter: number;
  stepsTaken: number;
  backtracks: number;
  aborted?: string;
}

const NOT_FINITE = 'the objective or its gradient is not finite at the start (NaN or Inf in the gradients or weights)';

/**
 * The one step rule every ascent solver follows:
 * - steps of size lr along ∇θ (or ∇θ/‖∇θ‖ with `normalize`), signed by the direction;
 * - a step whose value or gradient is not finite, that breaks the growth cap (objective / objective
 *   at the identity ≤ maxGrowth when maximizing) or, with `lineSearch`, does not improve, is halved
 *   and retried up to maxBacktracks times; then the search stops;
 * - the best point seen is returned, never a worse one: fixed-size steps can jump past a sharp peak.
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
  const better = (a: number, b: number) => (sign > 0 ? a > b : a < b);

  // The best point so far; it may be `current` itself (then released only when both move on).
  let best: Evaluation<P> = atIdentity != null && !(capOk(current.value) && better(current.value, atIdentity.value)) ? atIdentity : current;
  if (atIdentity != null && best !== atIdentity) space.release(atIdentity, false);
  let lr = opts.lr;
  let stepsTaken = 0;
  let backtracks = 0;
  // Frees an evaluation once nothing refers to it any more.
  const retire = (e: Evaluation<P>) => {
    if (e !== best && e !== current) space.release(e, false);
  };

  for (let k = 0; k < opts.steps; k++) {
    let moved = false;
    for (let bt = 0; bt <= opts.maxBacktracks; bt++) {
      const scale = (sign * lr) / (opts.normalize ? Math.sqrt(current.gradNormSq) + 1e-30 : 1);
      const next = space.evaluate(space.move(current, scale));
      const ok =
        Number.isFinite(next.value) && Number.isFinite(next.gradNormSq) && capOk(next.value) && (!opts.lineSearch || !better(current.value, next.value));
      if (ok) {
        const previous = current;
        const previousBest = best;
        current = next;
        if (better(current.value, best.value)) best = current;
        retire(previous);
        if (previousBest !== previous) retire(previousBest);
        moved = true;
        stepsTaken++;
        break;
      }
      space.release(next, false);
      backtracks++;
      lr /= 2;
    }
    if (!moved) break;
    // At the growth cap there is nothing left to gain; further steps would only backtrack.
    if (sign > 0 && f0 > 0 && best.value >= 0.999 * opts.maxGrowth * f0) break;
  }
  if (current !== best) space.release(current, false);
  space.release(best, true);
  return { best: best.point, objectiveBefore: f0, objectiveAfter: best.value, stepsTaken, backtracks };
}
