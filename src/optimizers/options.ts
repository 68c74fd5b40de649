import type { TeleportReport } from '../core/report.js';
import {
  extendOptionTable,
  OPTION_SPECS,
  optionChecks,
  resolveOptions,
  type OptionSpec,
  type ResolvedTeleportOptions,
  type TeleportOptions,
} from '../teleport/options.js';
import { compileSchedule, type Schedule } from './schedule.js';
import { DEFAULT_RECOVERY_STEPS } from './growth_budget.js';

const { number, oneOf, fn } = optionChecks;

/** What happens to the inner optimizer's state after a teleport (dissertation §5.4.1). */
export type StatePolicy = 'transform' | 'keep' | 'reset';

/** Options of a teleporting optimizer: the teleport options plus when to teleport and what it reports to. */
export interface TeleportOptimizerOptions extends TeleportOptions {
  /** When to teleport, in optimizer steps (batches): `{ atSteps: [...] }`, `{ every, start = every, stop? }`, or `'auto'` (with `objective: 'lookahead'`: teleport when the predicted gain beats the measured cost). Without one the wrapper never teleports. */
  schedule?: Schedule;
  /**
   * 'transform' (default): carry momentum and accumulators along the group action where that is
   * exact (all slots for rescale; first moments for GL), keep the rest; 'keep': leave the state;
   * 'reset': start the inner optimizer afresh.
   */
  stateAfterTeleport?: StatePolicy;
  /** Called after every teleport with its report. */
  onTeleport?: (report: TeleportReport) => void;
  /**
   * Where exact groups get ∇L: 'step' (default) reuses the gradient the optimizer step just computed
   * (no extra pass; the teleport happens inside the step, Algorithm 1); 'data' computes it on each
   * `data` batch after the step (one backward pass per batch; less noisy with large teleport batches).
   */
  gradientSource?: 'step' | 'data';
  /**
   * Steps over which a spent growth budget recovers in full. Default 500: a schedule every e steps
   * settles at caps of maxTotalGrowth^(e/500) per teleport (every 5: 1.4 %; every 50: 15 %), so long
   * runs keep teleporting while teleports cannot compound faster than maxTotalGrowth per 500 steps.
   * `Infinity`: the budget never recovers (versions ≤ 0.2: teleport k gets maxTotalGrowth^(2^-(k+1)),
   * so from about the sixth on every teleport is a no-op).
   */
  growthRecoverySteps?: number;
  /**
   * The clock `schedule: 'auto'` times steps and teleports with, in milliseconds. Default
   * `performance.now`; tests inject their own so decisions do not depend on the machine's speed.
   */
  clock?: () => number;
}

/** The options only the teleporting optimizers read (when to teleport, what happens to their state). */
const OPTIMIZER_SPECS: Record<string, OptionSpec> = {
  schedule: {
    serialized: true,
    scope: 'optimizer',
    // Checked here; the user's object is kept (compileSchedule reads it again), its normalized form saved.
    check: v => {
      compileSchedule(v as Schedule);
      return v;
    },
    toConfig: v => compileSchedule(v as Schedule).config,
  },
  stateAfterTeleport: { default: 'transform', serialized: true, scope: 'optimizer', check: oneOf('stateAfterTeleport', ['transform', 'keep', 'reset']) },
  onTeleport: { serialized: false, scope: 'optimizer', check: fn('onTeleport', '(report) => void') },
  gradientSource: { default: 'step', serialized: true, scope: 'optimizer', check: oneOf('gradientSource', ['step', 'data']) },
  clock: { serialized: false, scope: 'optimizer', check: fn('clock', '() => milliseconds') },
  growthRecoverySteps: {
    default: DEFAULT_RECOVERY_STEPS,
    serialized: true,
    scope: 'optimizer',
    check: number('growthRecoverySteps', { min: 1, allowInfinity: true }),
  },
};

extendOptionTable(OPTIMIZER_SPECS);

export { OPTION_SPECS };

type Defaulted = keyof ResolvedTeleportOptions | 'stateAfterTeleport' | 'gradientSource' | 'growthRecoverySteps';

/** The defaults of every option that has one (read off the table). */
export const DEFAULTS = Object.freeze(
  Object.fromEntries(
    Object.entries(OPTION_SPECS)
      .filter(([, s]) => s.default !== undefined)
      .map(([k, s]) => [k, s.default]),
  ),
) as Readonly<Required<Pick<TeleportOptimizerOptions, Defaulted & keyof TeleportOptimizerOptions>>>;

/** Options of a teleporting optimizer with every default filled in. */
export type ResolvedOptions = TeleportOptimizerOptions &
  ResolvedTeleportOptions &
  Required<Pick<TeleportOptimizerOptions, 'stateAfterTeleport' | 'gradientSource' | 'growthRecoverySteps'>>;

/** Checks a teleporting optimizer's options against the table and fills in defaults. */
export function resolveOptimizerOptions(options: TeleportOptimizerOptions): ResolvedOptions {
  return resolveOptions(options, 'optimizer') as ResolvedOptions;
}
