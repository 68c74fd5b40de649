import { badOption } from '../core/errors.js';

/**
 * When to teleport, counted in optimizer steps (calls to applyGradients, i.e. batches in model.fit).
 * A teleport "at step t" happens before the inner optimizer's t-th update (0-based), as in
 * Algorithm 1, line 2.
 * - `{ atSteps: [100, 500] }`: exactly those steps.
 * - `{ every: 100, start?: 100, stop?: 1000 }`: steps start, start+every, … below stop; start
 *   defaults to `every` (teleporting before any training helps least, dissertation Fig. 4.8a).
 * - `'auto'`: the optimizer decides, teleporting only when the predicted gain over the next steps
 *   exceeds the measured cost (optimizers/auto_schedule.ts; docs/lookahead.md).
 */
export type Schedule = { atSteps: number[] } | { every: number; start?: number; stop?: number } | 'auto';

const isStep = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 0;

/** A checked schedule. */
export interface CompiledSchedule {
  /** Whether a teleport is scheduled at `step`. */
  isDue(step: number): boolean;
  /** How many teleports the schedule holds at steps before `step` (the index of the one at `step`). */
  countBefore(step: number): number;
  /** The last (at most) `limit` scheduled steps before `step`, in increasing order. */
  stepsBefore(step: number, limit: number): number[];
  /** True for `'auto'`: the optimizer decides when (isDue is then always false). */
  auto?: boolean;
  describe: string;
  config: Schedule | null;
}

/** Checks a schedule and returns a `isDue(step)` test; bad schedules throw an error that names the fix. */
export function compileSchedule(schedule: Schedule | undefined | null): CompiledSchedule {
  if (schedule == null) return { isDue: () => false, countBefore: () => 0, stepsBefore: () => [], describe: 'never', config: null };
  if (schedule === 'auto') return { isDue: () => false, countBefore: () => 0, stepsBefore: () => [], auto: true, describe: 'automatic', config: 'auto' };
  if (typeof schedule !== 'object' || Array.isArray(schedule)) {
    throw badOption(`bad schedule ${JSON.stringify(schedule)}: use { atSteps: [t1, t2, ...] }, { every: N, start?, stop? } or 'auto'`);
  }
  const s = schedule as Record<string, unknown>;
  if ('atSteps' in s && 'every' in s) {
    throw badOption(`bad schedule ${JSON.stringify(schedule)}: give either atSteps or every, not both`);
  }
  if ('atSteps' in s) {
    const extra = Object.keys(s).filter(k => k !== 'atSteps');
    if (extra.length) throw badOption(`bad schedule: unknown key(s) ${extra.join(', ')} next to atSteps; use { atSteps: [...] } or { every, start?, stop? }`);
    const steps = s.atSteps;
    if (!Array.isArray(steps) || !steps.every(isStep)) {
      throw badOption(`bad schedule ${JSON.stringify(schedule)}: atSteps must be an array of non-negative integers, e.g. { atSteps: [100, 500] }`);
    }
    const set = new Set(steps as number[]);
    const sorted = [...set].sort((a, b) => a - b);
    return {
      isDue: step => set.has(step),
      countBefore: step => sorted.filter(t => t < step).length,
      stepsBefore: (step, limit) => sorted.filter(t => t < step).slice(-limit),
      describe: `at steps ${[...set].join(', ')}`,
      config: { atSteps: [...set].sort((a, b) => a - b) },
    };
  }
  if ('every' in s) {
    const every = s.every;
    if (typeof every !== 'number' || !Number.isInteger(every) || every <= 0) {
      throw badOption(`bad schedule ${JSON.stringify(schedule)}: every must be a positive integer number of steps, e.g. { every: 100 }`);
    }
    const start = s.start ?? every;
    const stop = s.stop ?? null;
    if (!isStep(start)) throw badOption(`bad schedule ${JSON.stringify(schedule)}: start must be a non-negative integer step`);
    if (stop != null && (!isStep(stop) || (stop as number) <= (start as number))) {
      throw badOption(`bad schedule ${JSON.stringify(schedule)}: stop must be an integer step greater than start (${start})`);
    }
    const unknown = Object.keys(s).filter(k => !['every', 'start', 'stop'].includes(k));
    if (unknown.length) throw badOption(`bad schedule: unknown key(s) ${unknown.join(', ')}; use { every, start?, stop? } or { atSteps }`);
    const st = start as number;
    return {
      isDue: step => step >= st && (stop == null || step < (stop as number)) && (step - st) % every === 0,
      countBefore: step => Math.max(0, Math.ceil((Math.min(step, (stop as number | null) ?? Infinity) - st) / every)),
      stepsBefore: (step, limit) => {
        const count = Math.max(0, Math.ceil((Math.min(step, (stop as number | null) ?? Infinity) - st) / every));
        return Array.from({ length: Math.min(count, limit) }, (_, i) => st + (count - Math.min(count, limit) + i) * every);
      },
      describe: `every ${every} steps from ${st}${stop != null ? ` to ${stop}` : ''}`,
      config: stop != null ? { every, start: st, stop: stop as number } : { every, start: st },
    };
  }
  throw badOption(`bad schedule ${JSON.stringify(schedule)}: use { atSteps: [t1, t2, ...] } or { every: N, start?, stop? }`);
}
