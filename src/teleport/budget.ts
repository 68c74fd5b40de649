/**
 * The growth budget one-off teleports share. Each `tp.teleport` call is capped by `maxGrowth`, but
 * back-to-back calls compound: 200 of them grew ‖∇L‖² by 1e38. So the growth of every one-off teleport
 * on the same model (or parameter list, keyed by its first variable) is multiplied up here, and a call
 * may only use what is left of `maxTotalGrowth` (default maxGrowth², as for a run's scheduled teleports).
 * Held in a WeakMap: nothing keeps a model alive, nothing is saved with it.
 */
import type { OneOffBudget, TeleportReport } from '../core/report.js';

export type { OneOffBudget } from '../core/report.js';

const budgets = new WeakMap<object, OneOffBudget>();
const DEFAULT_MAX_GROWTH_SQ = 4;

/** The budget of a target so far (a fresh one when it never teleported). A copy. */
export function budgetOf(target: object): OneOffBudget {
  const b = budgets.get(target);
  return b ? { ...b } : { growth: 1, maxTotalGrowth: DEFAULT_MAX_GROWTH_SQ, teleports: 0, drift: 0 };
}

/** Forgets a target's one-off teleports (e.g. after training moved it far from where they ran). */
export function resetBudget(target: object): void {
  budgets.delete(target);
}

/** The growth cap of the next one-off teleport: maxGrowth, within what the budget has left. */
export function capFor(target: object, maxGrowth: number, maxTotalGrowth: number): number {
  return Math.max(1, Math.min(maxGrowth, maxTotalGrowth / budgetOf(target).growth));
}

/** Adds a one-off teleport's outcome to its target's budget; returns the budget after it. */
export function record(target: object, report: TeleportReport, maxTotalGrowth: number): OneOffBudget {
  const b = budgetOf(target);
  b.maxTotalGrowth = maxTotalGrowth;
  if (report.accepted) {
    b.teleports++;
    b.drift += report.relativeLossDrift ?? 0;
    if (report.direction === 'maximize' && report.objectiveBefore > 0) b.growth *= Math.max(1, report.objectiveAfter / report.objectiveBefore);
  }
  budgets.set(target, b);
  return { ...b };
}
