import * as tp from '../../../src/index.js';
import * as tpAdvanced from '../../../src/advanced.js';
import { ACTIVATIONS, type ActivationName } from '../../train/models.js';
import { defaultLearningRate, MLP_DEFAULTS, OPTIMIZERS, PROBLEMS, problemDefaults, type OptimizerName, type ProblemName } from './problems.js';

/** Everything one playground run needs (the backend is chosen separately). */
export interface PlaygroundSettings {
  problem: ProblemName;
  optimizer: OptimizerName;
  lr: number;
  steps: number;
  /**
   * 2-D functions: rotations through the function's bijection, 'so2' (ascent from the identity),
   * 'so2-random' (from a random angle, as in the dissertation) or 'on' (SO(n) by expm); MLP: a
   * registered model group.
   */
  group: string;
  /** A registered objective (tp.objectiveNames()). */
  objective: string;
  schedule: tp.Schedule;
  ascentSteps: number;
  ascentLr: number;
  normalize: boolean;
  maxGrowth: number;
  maxTotalGrowth: number;
  /** The drift guard: largest relative loss change a teleport may cause. */
  maxLossDrift: number;
  seed: number;
  widths: number[];
  activation: ActivationName;
  batchSize: number;
}

/** Groups that rotate a test function's parameter vector through its bijection. */
export const FUNCTION_GROUPS = ['so2', 'so2-random', 'on'] as const;

/** The groups offered for a problem: rotations for the 2-D functions, the library's model groups for the MLP. */
export function groupChoices(problem: ProblemName): string[] {
  if (problem !== 'mlp') return [...FUNCTION_GROUPS];
  // Read from the registry, so groups registered later appear; 'suggested: false' ones need a special model state.
  return tp.groupNames().filter(name => tpAdvanced.getGroup(name).suggested !== false);
}

/** The objectives offered: every registered one (another module may register more, e.g. 'lookahead'). */
export function objectiveChoices(): string[] {
  return tp.objectiveNames();
}

/** The form's starting values for a problem and optimizer. */
export function defaultSettings(problem: ProblemName = 'rosenbrock', optimizer: OptimizerName = 'sgd'): PlaygroundSettings {
  const d = problemDefaults(problem);
  return {
    problem,
    optimizer,
    lr: defaultLearningRate(problem, optimizer),
    steps: d.steps,
    group: d.group,
    objective: tp.DEFAULTS.objective,
    schedule: d.schedule,
    ascentSteps: d.ascentSteps,
    ascentLr: d.ascentLr,
    normalize: d.normalize,
    maxGrowth: d.maxGrowth,
    maxTotalGrowth: d.maxTotalGrowth,
    maxLossDrift: tp.DEFAULTS.maxLossDrift,
    seed: 1,
    ...MLP_DEFAULTS,
  };
}

/** A setting the playground cannot run with; the message names the fix. */
export class SettingsError extends Error {
  override name = 'SettingsError';
}

function positive(name: string, v: unknown, integer = false): void {
  if (typeof v !== 'number' || !(v > 0) || (integer && !Number.isInteger(v)) || (!integer && !Number.isFinite(v))) {
    throw new SettingsError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
  }
}

function oneOf(name: string, v: unknown, choices: readonly string[]): void {
  if (typeof v !== 'string' || !choices.includes(v)) throw new SettingsError(`${name} must be one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
}

/**
 * The problem's defaults overlaid with `given`, checked. Teleport options (schedule, objective, growth
 * caps, …) are checked again by the library when the optimizer is made, with its own errors.
 */
export function resolveSettings(given: Partial<PlaygroundSettings>): PlaygroundSettings {
  const problem = given.problem ?? 'rosenbrock';
  oneOf('problem', problem, PROBLEMS);
  const optimizer = given.optimizer ?? 'sgd';
  oneOf('optimizer', optimizer, OPTIMIZERS);
  const known = new Set(Object.keys(defaultSettings()));
  const unknown = Object.keys(given).filter(k => !known.has(k));
  if (unknown.length) throw new SettingsError(`unknown setting(s) ${unknown.join(', ')}; settings: ${[...known].join(', ')}`);
  const s: PlaygroundSettings = { ...defaultSettings(problem, optimizer), ...given };
  positive('lr', s.lr);
  positive('steps', s.steps, true);
  positive('ascentLr', s.ascentLr);
  positive('maxLossDrift', s.maxLossDrift);
  if (!Number.isInteger(s.ascentSteps) || s.ascentSteps < 0) throw new SettingsError(`ascentSteps must be a non-negative integer, got ${s.ascentSteps}`);
  if (!Number.isInteger(s.seed) || s.seed < 0) throw new SettingsError(`seed must be a non-negative integer, got ${s.seed}`);
  oneOf('group', s.group, groupChoices(problem));
  oneOf('objective', s.objective, objectiveChoices());
  tpAdvanced.compileSchedule(s.schedule);
  if (problem === 'mlp') {
    if (!Array.isArray(s.widths) || s.widths.length === 0)
      throw new SettingsError(`widths must be a list of hidden layer widths such as [32] or [512, 512], got ${JSON.stringify(s.widths)}`);
    for (const w of s.widths) positive('each hidden width', w, true);
    positive('batchSize', s.batchSize, true);
    oneOf('activation', s.activation, ACTIVATIONS);
  }
  return s;
}

/** "every 50" / "every 100 from 100 to 1000" / "at 5, 10" / "auto" ⇄ a schedule, for the form's text field. */
export function parseSchedule(text: string): tp.Schedule {
  const t = text.trim().toLowerCase();
  const every = /^every\s+(\d+)(?:\s+from\s+(\d+))?(?:\s+to\s+(\d+))?$/.exec(t);
  if (every) {
    const s: { every: number; start?: number; stop?: number } = { every: Number(every[1]) };
    if (every[2] != null) s.start = Number(every[2]);
    if (every[3] != null) s.stop = Number(every[3]);
    return s;
  }
  const at = /^at\s+([\d\s,]+)$/.exec(t);
  if (at)
    return {
      atSteps: at[1]
        .split(/[\s,]+/)
        .filter(Boolean)
        .map(Number),
    };
  if (t === 'auto') return 'auto';
  throw new SettingsError(`schedule "${text}": write "every N", "every N from S to E", "at 5, 10, 20" or "auto" (the optimizer decides)`);
}

export function formatSchedule(s: tp.Schedule): string {
  if (s === 'auto') return 'auto';
  if ('atSteps' in s) return `at ${s.atSteps.join(', ')}`;
  return `every ${s.every}${s.start != null ? ` from ${s.start}` : ''}${s.stop != null ? ` to ${s.stop}` : ''}`;
}
