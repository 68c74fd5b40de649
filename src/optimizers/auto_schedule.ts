/** One decision of `schedule: 'auto'`: what it predicted, what a teleport costs, what it did, and what it measured later. */
export interface ScheduleDecision {
  /** Optimizer step of the decision (a teleport happens after that step's update). */
  step: number;
  /**
   * Training steps a teleport would save over the steps until the next decision: that many steps ×
   * the relative gain in the k-step loss decrease the lookahead guard measured on held-out data (from
   * g·w against from w). NaN when no search ran; negative when the best element found loses.
   */
  predictedGain: number;
  /**
   * The probe's prediction, in training steps: (steps until the next decision) × the relative gain of
   * the k-step decrease a full search could reach, from one evaluation of the objective and its
   * θ-gradient at the current weights (src/teleport/probe.ts). NaN when no probe ran.
   */
  probedGain: number;
  /**
   * What a full search costs, in training steps: the mean measured time of full searches (their probe
   * included) ÷ the mean measured step time (a whole step when training runs through `minimize`);
   * before any search was timed, the probe's time plus (evaluations a search makes − 1) × the time of
   * its one evaluation.
   */
  cost: number;
  /** Whether a teleport was applied. */
  taken: boolean;
  /** Why: the gain against the cost, a rejection by the guard, a back-off, or the stop. */
  reason: string;
  /**
   * For a taken teleport, measured at the next decision: the training steps it saved, from the loss on
   * the teleport batch, (steps since) × (decrease per step after ÷ decrease per step before − 1). The
   * loss slows down as training goes on, so this errs on the side of "did not pay". Null until then,
   * or when there was no trend before to compare with.
   */
  measuredGain: number | null;
  /** Steps until the next decision (the adapted cadence). */
  nextIn: number;
}

/** Settings of the automatic schedule (fixed; see docs/lookahead.md). */
export const AUTO_SCHEDULE = Object.freeze({
  /** Steps before the first decision, and the shortest cadence. */
  minEvery: 20,
  /** The longest cadence a back-off reaches. */
  maxEvery: 1280,
  /** Consecutive decisions that did not pay after which it stops for the run. */
  stopAfter: 5,
});

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/**
 * The state of `schedule: 'auto'`: when to decide next, the cost of a teleport in training steps, and
 * the decisions so far. The optimizer feeds it step times, the teleport-batch loss at each decision and
 * each teleport's time and measured held-out gain; it answers whether to search, whether a found
 * element is worth applying, and adapts its cadence: shorter after a teleport that paid (down to
 * {@link AUTO_SCHEDULE}.minEvery), doubled after one that did not or a decision not to teleport, and
 * stopped after {@link AUTO_SCHEDULE}.stopAfter such decisions in a row. All in memory: a checkpoint
 * restores the step, not this state; `setWeights` calls {@link AutoSchedule.restart}, so a restored
 * optimizer starts adapting afresh from the restored step.
 */
export class AutoSchedule {
  readonly decisions: ScheduleDecision[] = [];
  /** Steps at which teleports were applied (for the growth budget). */
  readonly takenSteps: number[] = [];
  private nextCheck: number | null = null;
  private every: number = AUTO_SCHEDULE.minEvery;
  private failures = 0;
  private stopped = false;
  private stepMs: number[] = [];
  private teleportMs: number[] = [];
  /** A full search's time estimated from the last probe, until a search has been timed. */
  private estimatedMs: number | null = null;
  /** The teleport-batch loss at the last two decisions. */
  private trend: Array<{ step: number; loss: number }> = [];

  /**
   * Starts adapting afresh at `step` (after a checkpoint is restored): the next decision one shortest
   * cadence later, a new loss trend, no back-off. Measured times and the decisions so far are kept;
   * teleports at or after `step` leave the budget's memory.
   */
  restart(step: number): void {
    this.nextCheck = null;
    this.every = AUTO_SCHEDULE.minEvery;
    this.failures = 0;
    this.stopped = false;
    this.trend = [];
    const kept = this.takenSteps.filter(t => t < step);
    this.takenSteps.splice(0, this.takenSteps.length, ...kept);
  }

  /** Records the time of one optimizer update (the wrapped optimizer's applyGradients). */
  recordStep(ms: number): void {
    this.stepMs.push(ms);
    if (this.stepMs.length > 50) this.stepMs.shift();
  }

  /** Whether a decision is due after the update of `step`. */
  isDue(step: number): boolean {
    if (this.stopped) return false;
    this.nextCheck ??= step + AUTO_SCHEDULE.minEvery;
    return step >= this.nextCheck;
  }

  /** A teleport's cost in training steps, with `currentMs` (a teleport being timed) counted in. */
  cost(currentMs?: number): number {
    const step = mean(this.stepMs);
    const teleports = currentMs != null ? [...this.teleportMs, currentMs] : this.teleportMs;
    const ms = teleports.length > 0 ? mean(teleports) : (this.estimatedMs ?? 0);
    return step > 0 ? ms / step : 0;
  }

  /**
   * Whether the probe's prediction warrants a full search: the gain it predicts over the steps to the
   * next decision (`relativeGain` × that many steps) against a full search's cost. Before any search
   * was timed, a search is estimated from the probe: its time (`probeMs`, setup included) plus
   * `evaluations` − 1 more evaluations of `evaluationMs` each. Returns the predicted gain in training
   * steps, the cost, and the reason to skip (null: search).
   */
  preview(relativeGain: number, probeMs: number, evaluationMs: number, evaluations: number): { probedGain: number; cost: number; skip: string | null } {
    if (this.teleportMs.length === 0) this.estimatedMs = probeMs + evaluationMs * Math.max(0, evaluations - 1);
    const probedGain = this.every * relativeGain;
    const cost = this.cost();
    // A prediction that is not a number (a non-finite objective) does not skip: the search reports it.
    const skip =
      Number.isFinite(probedGain) && probedGain <= cost
        ? `probe: predicted gain ${probedGain.toPrecision(3)} steps ≤ cost of a search ${cost.toPrecision(3)} steps; no search`
        : null;
    return { probedGain, cost, skip };
  }

  /** Steps until the next decision. */
  get horizon(): number {
    return this.every;
  }

  /**
   * Starts the decision at `step` with the teleport-batch loss now: measures the previous taken
   * teleport's gain and says whether to search. The first decision only records the loss trend.
   */
  begin(step: number, loss: number): boolean {
    const last = this.decisions.at(-1);
    if (last?.taken && this.trend.length >= 2) {
      const [before, at] = this.trend.slice(-2);
      const rateBefore = (before.loss - at.loss) / Math.max(1, at.step - before.step);
      const rateAfter = (at.loss - loss) / Math.max(1, step - at.step);
      if (rateBefore > 0) {
        last.measuredGain = (step - at.step) * (rateAfter / rateBefore - 1);
        if (!(last.measuredGain > last.cost)) this.failed();
        else this.failures = 0;
      }
    }
    this.trend.push({ step, loss });
    if (this.trend.length > 2) this.trend.shift();
    if (this.trend.length < 2) {
      this.decide(step, { predictedGain: NaN, probedGain: NaN, taken: false, reason: 'measuring the loss trend before the first teleport' }, false);
      return false;
    }
    if (this.stopped) {
      this.decide(
        step,
        { predictedGain: NaN, probedGain: NaN, taken: false, reason: `stopped: ${AUTO_SCHEDULE.stopAfter} decisions in a row did not pay` },
        false,
      );
      return false;
    }
    return true;
  }

  /**
   * Whether a found element whose held-out lookahead gain is `relativeGain` (decrease from g·w ÷
   * decrease from w − 1) pays, with `elapsedMs` spent on it so far: the reason it does not, or null.
   */
  judge(relativeGain: number, elapsedMs: number): { predictedGain: number; cost: number; refusal: string | null } {
    const predictedGain = this.every * relativeGain;
    const cost = this.cost(elapsedMs);
    const refusal = predictedGain > cost ? null : `predicted gain ${predictedGain.toPrecision(3)} steps ≤ cost ${cost.toPrecision(3)} steps`;
    return { predictedGain, cost, refusal };
  }

  /**
   * Ends the decision at `step` after a search that took `ms` (its probe included), or, with
   * `skipped`, after a probe alone (its time is not a search's: it does not enter the cost).
   */
  finish(step: number, ms: number, outcome: { predictedGain: number; probedGain: number; taken: boolean; reason: string; skipped?: boolean }): void {
    if (!outcome.skipped) {
      this.teleportMs.push(ms);
      if (this.teleportMs.length > 20) this.teleportMs.shift();
    }
    if (outcome.taken) this.takenSteps.push(step);
    this.decide(step, outcome, outcome.taken);
  }

  private failed(): void {
    this.failures++;
    this.every = Math.min(AUTO_SCHEDULE.maxEvery, this.every * 2);
    if (this.failures >= AUTO_SCHEDULE.stopAfter) this.stopped = true;
  }

  private decide(step: number, d: { predictedGain: number; probedGain: number; taken: boolean; reason: string; skipped?: boolean }, taken: boolean): void {
    // A decision not to teleport (after a search, or a probe that skipped it) backs off.
    const searched = d.skipped === true || Number.isFinite(d.predictedGain) || d.reason.startsWith('rejected');
    if (!taken && searched) this.failed();
    // A teleport that paid (measured at this decision) earns a shorter cadence.
    const previous = this.decisions.at(-1);
    if (taken && previous?.taken && previous.measuredGain != null && previous.measuredGain > previous.cost) {
      this.every = Math.max(AUTO_SCHEDULE.minEvery, Math.floor(this.every / 2));
    }
    this.nextCheck = step + this.every;
    const reason = this.stopped ? `${d.reason}; stopping: ${AUTO_SCHEDULE.stopAfter} decisions in a row did not pay` : d.reason;
    this.decisions.push({
      step,
      predictedGain: d.predictedGain,
      probedGain: d.probedGain,
      cost: this.cost(),
      taken,
      reason,
      measuredGain: null,
      nextIn: this.stopped ? Infinity : this.every,
    });
  }
}
