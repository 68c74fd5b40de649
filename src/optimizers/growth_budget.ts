/** Earlier teleports the budget replays: each halves what is left, so older ones weigh less than 2^-64. */
export const BUDGET_MEMORY = 64;

/** Default steps over which a spent growth budget recovers in full (the `growthRecoverySteps` option). */
export const DEFAULT_RECOVERY_STEPS = 500;

/**
 * The growth cap of a teleport at `step` under a run-wide budget that recovers as training goes on.
 *
 * The budget is log(maxTotalGrowth), in units of log ‖∇L‖²-growth. Every teleport may use half of what is
 * left (never more than log maxGrowth) and is assumed to use all it may; between teleports the budget
 * refills at log(maxTotalGrowth) per `recoverySteps` steps, up to its full size. So the teleports of
 * any window of `recoverySteps` steps together grow the objective by at most about maxTotalGrowth², a
 * long run keeps teleporting (a schedule every e steps settles at caps of maxTotalGrowth^(e/recoverySteps)),
 * and `recoverySteps: Infinity` is the budget of versions ≤ 0.2, which spends itself: caps
 * maxTotalGrowth^(2^-(k+1)) for teleport k. A pure function of the teleport steps, so a checkpoint
 * (which holds the step) resumes it exactly.
 *
 * ```ts
 * recoveringCap({ maxGrowth: 2, maxTotalGrowth: 4, recoverySteps: 500, step: 60, earlier: [10, 20, 30, 40, 50] });
 * ```
 */
export function recoveringCap(o: { maxGrowth: number; maxTotalGrowth: number; recoverySteps: number; step: number; earlier: readonly number[] }): number {
  if (!Number.isFinite(o.maxTotalGrowth)) return o.maxGrowth;
  const full = Math.log(o.maxTotalGrowth);
  const perStep = Number.isFinite(o.recoverySteps) && o.recoverySteps > 0 ? full / o.recoverySteps : 0;
  const most = Math.log(o.maxGrowth);
  let left = full;
  o.earlier.forEach((t, i) => {
    left -= Math.min(left / 2, most);
    const next = i + 1 < o.earlier.length ? o.earlier[i + 1] : o.step;
    left = Math.min(full, left + perStep * Math.max(0, next - t));
  });
  return Math.max(1, Math.exp(Math.min(left / 2, most)));
}
