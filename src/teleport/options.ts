import type { Optimizer, Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SiteAction } from '../groups/types.js';
import { getGroup } from '../groups/registry.js';
import { DEFAULT_GL_DATA_RANK } from '../groups/gl_data.js';
import { getObjective, objectiveOptionSpecs } from '../objectives/registry.js';
import type { ObjectiveSettings } from '../objectives/types.js';
import type { LossFunction } from '../structure/losses.js';
import type { TeleportSettings } from './engine.js';
import type { StepRule } from '../solvers/types.js';
import { badOption, show } from '../core/errors.js';
import { optionChecks } from '../core/checks.js';

import type { Batch } from '../core/batch.js';

export type { Batch } from '../core/batch.js';

/** Teleport data: one batch, several (teleported on one after another), or a function of the step. */
export type TeleportData = Batch | Batch[] | ((step: number) => Batch | Batch[]);

/**
 * The group to teleport with: a registered name ('auto', 'rescale', 'gl', 'gl-data', 'gl-pinv', 'nullspace', …)
 * for a model's layer pairs, or site actions built by hand (e.g. `so2(bijection)`).
 */
export type GroupOption = string | SiteAction | SiteAction[];

/** Options shared by {@link teleport} and the teleporting optimizers (defaults in {@link DEFAULTS}). */
export interface TeleportOptions extends ObjectiveSettings {
  /** The tfjs-layers model whose layer pairs the group acts on. Needed for named groups. */
  model?: LayersModel;
  /**
   * A registered group name: 'auto' (default: GL where the activation between two Dense layers is linear,
   * rescale elsewhere), 'rescale', 'gl', 'gl-data', 'gl-pinv', 'split' (duplicated units, after `split`
   * from `tfjs-teleport/surgery`), or any added with `registerGroup`; or site actions such as `so2(…)`
   * from `tfjs-teleport/groups`.
   */
  group?: GroupOption;
  /**
   * Default 'gradNorm' (‖∇L‖², Algorithm 1). 'preconditionedGradNorm' (‖∇L‖²_A with the inner optimizer's
   * AdaGrad/RMSProp/Adam second moments, eq. 5.7); 'curvature' (ψ, eq. 5.2; rescale/GL) and 'sharpness'
   * (φ, eq. 5.1, needs `data`) are the minimum's shape; 'hessianTrace' (Tr ∇²L, exact, small models,
   * needs `data`); or any added with `registerObjective`.
   */
  objective?: string;
  /** Default 'maximize' (faster training); 'minimize' moves to flatter points of the orbit. */
  direction?: 'maximize' | 'minimize';
  /** Ascent steps on the group element. Default 10. */
  steps?: number;
  /** Step size of the ascent. Default 0.1 (with `normalize`), i.e. a distance in group-parameter space. */
  lr?: number;
  /** Normalized gradient steps (default true); false gives plain gradient ascent as in the dissertation. */
  normalize?: boolean;
  /** Halve steps that do not improve the objective. Default false. */
  lineSearch?: boolean;
  /**
   * Cap on objectiveAfter / objectiveBefore when maximizing, for one teleport event (shared by its
   * batches). Default 2: a larger gradient needs a learning rate that can take it.
   */
  maxGrowth?: number;
  /** Halvings per ascent step before stopping early. Default 4. */
  maxBacktracks?: number;
  /**
   * Step lengths of a normalized ascent. 'fixed': `steps` steps of length lr. 'budget': each step tries
   * the whole distance left of lr·steps and is shortened to meet the growth cap (few evaluations).
   * Default 'auto': 'budget' for gradNorm/preconditionedGradNorm on exact groups with a known gradient
   * (rescale, GL, in the optimizer step), 'fixed' for data-dependent groups, random starts and the
   * curvature/sharpness objectives.
   */
  stepRule?: StepRule;
  /**
   * How a data-dependent teleport (gl-data, gl-pinv) differentiates ‖∇L‖² in θ: 'autodiff' (default)
   * by nested tf.grads; 'difference' by a finite-difference Hessian-vector product of two gradients
   * (experimental: measured no faster on wasm, and off by far where the difference step crosses kinks
   * of leaky ReLU, as it does at realistic sizes; see src/solvers/hvp_ascent.ts).
   */
  hessianVector?: 'difference' | 'autodiff';
  /**
   * The element group 'gl-data' moves with: a rank r (default 16) for g = I + U·Vᵀ with a fixed
   * orthonormal basis V of r hidden directions per layer pair (θ is h×r; exact inverse; an ascent step
   * costs O(h·r·(n + h)) instead of the dense element's O(h³)), or 'dense' for all of GL(h) (θ h×h).
   * A rank at least the layer's width is the dense element. Exact on the batch either way.
   */
  glDataRank?: number | 'dense';
  /** Largest relative change of the training loss on the teleport batch a teleport may cause. Default 1e-4. */
  maxLossDrift?: number;
  /** Halvings of the group element tried before a teleport the guard refuses is rejected. Default 3. */
  maxShrinks?: number;
  /**
   * Batch-exact groups keep the loss on the rows their action is built from, not elsewhere: the guard
   * holds out the last `heldOutFraction` of each teleport batch and bounds ‖f(g·w) − f(w)‖ / ‖f(w)‖,
   * the relative change of the model's outputs on those rows, by this (halving θ, then refusing).
   * Default 0.1, about the change one SGD step makes to the outputs (measured on tuning seeds,
   * docs/reach.md §3); `Infinity` only reports the change.
   */
  maxHeldOutChange?: number;
  /**
   * Fraction of each teleport batch (its last ⌊n·f⌋ rows) that a batch-exact group does not build
   * its action from, so the guard can measure the change off the batch (`maxHeldOutChange`). Default
   * 0.25 for 'nullspace', 0 for 'gl-data' and 'gl-pinv' (their exactness needs the batch as given;
   * pass a fraction to guard them too). 0 turns the held-out check off. Objectives that hold half the
   * batch out already ('lookahead') use that half.
   */
  heldOutFraction?: number;
  /**
   * Gradient-norm teleports (objectives 'gradNorm', 'preconditionedGradNorm') inside a teleporting
   * optimizer with teleport `data`: the teleport is accepted only if `confirmSteps` real steps of the
   * optimizer's own update rule, on the held-out half of the teleport batch, decrease the loss at
   * least as much from g·w as from w. A larger gradient is a proxy for faster descent; at large
   * learning rates the curvature grows with it and the next steps get worse, which this catches
   * (docs/pays.md). Costs about 2·(k + 1) gradient passes on the held-out rows, and the search uses
   * the other half of the batch. Default 0 (off): on the pays matrix's tuning seeds one confirmed step
   * did not prevent the harm of repeated teleports at the best learning rate (docs/pays.md). No effect
   * without teleport data or an optimizer; 'lookahead' confirms its own moves.
   */
  confirmSteps?: number;
  /** Teleport batches: `{x, y}`, an array, or `(step) => batches`. Required by data-dependent groups (gl-data, gl-pinv); used by exact groups to measure drift. */
  data?: TeleportData;
  /** Loss for model-based teleports: 'meanSquaredError', 'categoricalCrossentropy', 'sparseCategoricalCrossentropy' or `(yTrue, yPred) => Scalar`; default: the loss given to model.compile. */
  loss?: string | LossFunction;
  /** Loss of a plain parameter list (no model): `(params) => Scalar`. */
  lossOfParams?: (params: Tensor[]) => Scalar;
  /** 'error' (default) or 'skip' (with a warning) layer pairs the group cannot act on. */
  onUnsupported?: 'error' | 'skip';
  /** Seed for random group initializations (SO(2) angles, curves, probes). Default 0; the teleport at step t draws from a stream derived from (seed, t). */
  seed?: number;
  /**
   * Cap on the growth of ‖∇L‖² (the maximized objective) that teleports may cause together (the product
   * of their growth ratios). Default maxGrowth² (4 with the default maxGrowth); `Infinity` lifts it.
   * - Scheduled teleports of a run: each may use half of what is left (never more than maxGrowth), and
   *   the budget refills at maxTotalGrowth per `growthRecoverySteps` steps (default 500), so long runs
   *   keep teleporting while the teleports of any window of S steps stay within maxTotalGrowth^(1 + S/500).
   * - One-off `tp.teleport` calls on the same model share one budget: each may use what the earlier
   *   ones left, then they are skipped (rejection 'growth'); read it with `tp.teleport.budget(model)`,
   *   start afresh with `tp.teleport.resetBudget(model)` (e.g. after training).
   */
  maxTotalGrowth?: number;
  /**
   * For a one-off `tp.teleport` with `objective: 'lookahead'`: the optimizer that will take the next
   * steps (any tf.train or tp optimizer of the five built-in kinds). Its learning rate and state are
   * read, never changed. A teleporting optimizer uses its own inner optimizer instead.
   */
  optimizer?: Optimizer;
}

type AnyOptions = Record<string, unknown>;

/** One option: its default, its check, whether getConfig saves it, and who reads it. */
export interface OptionSpec {
  default?: unknown;
  /** Throws a 'bad-option' TeleportError naming the fix; returns the value to use. */
  check?: (value: unknown, all: Record<string, unknown>) => unknown;
  /** Saved by getConfig (JSON values only). A function decides per value (e.g. a loss name, not a loss function). */
  serialized: boolean | ((value: unknown) => boolean);
  /** The saved form of a value, when it is not the value itself (a schedule's normalized config). */
  toConfig?: (value: unknown) => unknown;
  scope: 'teleport' | 'optimizer';
}

const isFn = (v: unknown) => typeof v === 'function';
const { number, oneOf, boolean, fn } = optionChecks;
const isSiteAction = (v: unknown) => v != null && typeof v === 'object' && isFn((v as SiteAction).act) && isFn((v as SiteAction).init);

/** The value checks of the option table, for options added by `extendOptionTable`. */
export { optionChecks } from '../core/checks.js';

/**
 * The one table of options: defaults, checks and serialization all come from here. The teleporting
 * optimizers add theirs (optimizers/options.ts) with `extendOptionTable`.
 */
export const OPTION_SPECS: Record<string, OptionSpec> = {
  model: {
    serialized: false,
    scope: 'teleport',
    check: v => {
      if (v == null || typeof v !== 'object' || !Array.isArray((v as LayersModel).layers))
        throw badOption('option model must be a tfjs-layers model (tf.sequential() or tf.model())');
      return v;
    },
  },
  group: {
    default: 'auto',
    serialized: v => typeof v === 'string',
    scope: 'teleport',
    check: v => {
      if (typeof v === 'string') return getGroup(v).name;
      const list = Array.isArray(v) ? v : [v];
      if (list.length === 0) throw badOption('option group is an empty list of site actions');
      if (!list.every(isSiteAction))
        throw badOption(`option group must be a group name or site actions (e.g. so2(...) from 'tfjs-teleport/groups'), got ${show(v)}`);
      return v;
    },
  },
  objective: { default: 'gradNorm', serialized: true, scope: 'teleport', check: v => getObjective(String(v)).name },
  direction: { default: 'maximize', serialized: true, scope: 'teleport', check: oneOf('direction', ['maximize', 'minimize']) },
  steps: { default: 10, serialized: true, scope: 'teleport', check: number('steps', { integer: true }) },
  lr: { default: 0.1, serialized: true, scope: 'teleport', check: number('lr', { minExclusive: true }) },
  normalize: { default: true, serialized: true, scope: 'teleport', check: boolean('normalize') },
  lineSearch: { default: false, serialized: true, scope: 'teleport', check: boolean('lineSearch') },
  maxGrowth: { default: 2, serialized: true, scope: 'teleport', check: number('maxGrowth (a ratio of squared gradient norms)', { min: 1 }) },
  maxBacktracks: { default: 4, serialized: true, scope: 'teleport', check: number('maxBacktracks', { integer: true }) },
  stepRule: { default: 'auto', serialized: true, scope: 'teleport', check: oneOf('stepRule', ['auto', 'fixed', 'budget']) },
  hessianVector: { default: 'autodiff', serialized: true, scope: 'teleport', check: oneOf('hessianVector', ['difference', 'autodiff']) },
  glDataRank: {
    default: DEFAULT_GL_DATA_RANK,
    serialized: true,
    scope: 'teleport',
    check: v => {
      if (v === 'dense' || (typeof v === 'number' && Number.isInteger(v) && v >= 1)) return v;
      throw badOption(
        `option glDataRank must be a positive integer (the rank r of gl-data's element g = I + U·Vᵀ, e.g. ${DEFAULT_GL_DATA_RANK}) or 'dense' (all of GL(h)), got ${show(v)}`,
      );
    },
  },
  maxLossDrift: { default: 1e-4, serialized: true, scope: 'teleport', check: number('maxLossDrift', { minExclusive: true }) },
  maxShrinks: { default: 3, serialized: true, scope: 'teleport', check: number('maxShrinks', { integer: true }) },
  maxHeldOutChange: {
    default: 0.1,
    serialized: true,
    scope: 'teleport',
    check: number('maxHeldOutChange (a relative change of the outputs on held-out rows)', { minExclusive: true, allowInfinity: true }),
  },
  confirmSteps: {
    default: 0,
    serialized: true,
    scope: 'teleport',
    check: number('confirmSteps (real optimizer steps on held-out rows that must confirm a gradient-norm teleport; 0 for none)', { integer: true }),
  },
  // No default value: unset means 0.25 for 'nullspace' and 0 for the other groups (Teleporter.heldOutRows).
  heldOutFraction: {
    serialized: true,
    scope: 'teleport',
    check: v => {
      if (typeof v !== 'number' || !(v >= 0 && v < 1))
        throw badOption(`option heldOutFraction must be a number in [0, 1) (the share of each teleport batch held out), got ${show(v)}`);
      return v;
    },
  },
  data: {
    serialized: false,
    scope: 'teleport',
    check: v => {
      if (!isFn(v)) batchList(v as Batch | Batch[]);
      return v;
    },
  },
  loss: {
    serialized: v => typeof v === 'string',
    scope: 'teleport',
    check: v => {
      if (typeof v !== 'string' && !isFn(v))
        throw badOption(`option loss must be a loss name such as 'meanSquaredError' or a function (yTrue, yPred) => Scalar, got ${show(v)}`);
      return v;
    },
  },
  lossOfParams: { serialized: false, scope: 'teleport', check: fn('lossOfParams', '(params) => Scalar') },
  onUnsupported: { default: 'error', serialized: true, scope: 'teleport', check: oneOf('onUnsupported', ['error', 'skip']) },
  seed: { default: 0, serialized: true, scope: 'teleport', check: number('seed', { integer: true }) },
  optimizer: {
    serialized: false,
    scope: 'teleport',
    check: v => {
      if (v == null || typeof (v as Optimizer).applyGradients !== 'function')
        throw badOption(
          `option optimizer must be a tfjs optimizer (e.g. tf.train.adam(0.01)), the one that takes the steps after the teleport; got ${show(v)}`,
        );
      return v;
    },
  },
  // No default value: unset means maxGrowth², read where the budget is kept (TeleportOptimizer.growthCapAt, teleport/budget.ts).
  maxTotalGrowth: { serialized: true, scope: 'teleport', check: number('maxTotalGrowth', { min: 1, allowInfinity: true }) },
};

/** The options objectives declare (`Objective.options`), as entries of the option table. */
function objectiveSpecs(): Record<string, OptionSpec> {
  return Object.fromEntries(
    Object.entries(objectiveOptionSpecs()).map(([key, spec]) => [key, { default: spec.default, check: spec.check, serialized: true, scope: 'teleport' }]),
  );
}

// The built-in objectives' options are in the exported table (and DEFAULTS); objectives registered
// later are read from the registry at each resolve.
Object.assign(OPTION_SPECS, objectiveSpecs());

/** The whole table: the options above, the optimizers' (extendOptionTable) and every registered objective's. */
function optionTable(): Record<string, OptionSpec> {
  const later = Object.entries(objectiveSpecs()).filter(([key]) => !(key in OPTION_SPECS));
  return { ...OPTION_SPECS, ...Object.fromEntries(later) };
}

/** The options that have a default in the table (see `DEFAULTS`). */
export type Defaulted =
  | 'group'
  | 'objective'
  | 'direction'
  | 'steps'
  | 'lr'
  | 'normalize'
  | 'lineSearch'
  | 'maxGrowth'
  | 'maxBacktracks'
  | 'stepRule'
  | 'hessianVector'
  | 'maxLossDrift'
  | 'maxShrinks'
  | 'maxHeldOutChange'
  | 'confirmSteps'
  | 'onUnsupported'
  | 'seed';

/** Teleport options with every default filled in. */
export type ResolvedTeleportOptions = TeleportOptions & Required<Pick<TeleportOptions, Defaulted>>;

/**
 * Adds options read by a layer above (the teleporting optimizers' schedule, state policy, …) to the
 * one table, so that checks, defaults, serialization and the errors for a misplaced option all come
 * from it, without this module knowing them.
 */
export function extendOptionTable(specs: Record<string, OptionSpec>): void {
  for (const [key, spec] of Object.entries(specs)) {
    if (key in OPTION_SPECS && OPTION_SPECS[key] !== spec) throw new Error(`option '${key}' is in the option table already`);
    OPTION_SPECS[key] = spec;
  }
}

function closest(name: string, names: string[]): string | null {
  const lower = name.toLowerCase();
  return names.find(n => n.toLowerCase() === lower) ?? names.find(n => n.toLowerCase().startsWith(lower.slice(0, 4))) ?? null;
}

/**
 * Checks options against the table and fills in defaults. Unknown names, bad values and a
 * teleport-only call given optimizer options all throw errors that say what to pass instead.
 */
export function resolveOptions<O extends TeleportOptions>(options: O, scope: 'teleport' | 'optimizer'): O & ResolvedTeleportOptions {
  const given = options as AnyOptions;
  const table = optionTable();
  const known = Object.keys(table);
  for (const key of Object.keys(given)) {
    if (given[key] === undefined) continue;
    const spec = table[key];
    if (spec == null) {
      const hint = closest(key, known);
      throw badOption(`unknown option '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}. Options: ${known.join(', ')}`);
    }
    if (spec.scope === 'optimizer' && scope === 'teleport')
      throw badOption(`option '${key}' belongs to the teleporting optimizers (tp.sgd, tp.adam, …), not to a one-off teleport()`);
  }
  const out: AnyOptions = { ...given };
  for (const [key, spec] of Object.entries(table)) {
    const v = given[key] ?? spec.default;
    if (v === undefined) continue;
    out[key] = spec.check ? spec.check(v, given) : v;
  }
  return out as unknown as O & ResolvedTeleportOptions;
}

/** Resolved options bound to another model (checked as the `model` option is). */
export function withModel<R extends ResolvedTeleportOptions>(o: R, model: LayersModel): R {
  return { ...o, model: OPTION_SPECS.model.check!(model, {}) as LayersModel };
}

/** The solver, objective and guard settings of resolved options. */
export function settingsOf(o: ResolvedTeleportOptions): TeleportSettings {
  return {
    objective: o.objective,
    direction: o.direction,
    steps: o.steps,
    lr: o.lr,
    normalize: o.normalize,
    lineSearch: o.lineSearch,
    maxGrowth: o.maxGrowth,
    maxBacktracks: o.maxBacktracks,
    stepRule: o.stepRule,
    hessianVector: o.hessianVector,
    maxLossDrift: o.maxLossDrift,
    maxShrinks: o.maxShrinks,
    maxHeldOutChange: o.maxHeldOutChange,
    confirmSteps: o.confirmSteps,
    // Every option an objective declares, whichever objective runs (each reads its own).
    objectiveOptions: Object.fromEntries(Object.keys(objectiveOptionSpecs()).map(key => [key, (o as unknown as AnyOptions)[key]])) as ObjectiveSettings,
  };
}

/** Validates options and fills defaults, returning the engine's settings (kept for existing callers). */
export function resolveSettings(o: TeleportOptions): TeleportSettings {
  return settingsOf(resolveOptions(o, 'optimizer'));
}

/** The serializable part of resolved options, for getConfig. */
export function optionsToConfig(o: ResolvedTeleportOptions): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(optionTable())) {
    const v = (o as unknown as AnyOptions)[key];
    if (v === undefined) continue;
    const save = typeof spec.serialized === 'function' ? spec.serialized(v) : spec.serialized;
    if (save) config[key] = spec.toConfig ? spec.toConfig(v) : v;
  }
  return config;
}

/** Options back from {@link optionsToConfig}'s output (unknown keys are ignored, for forward compatibility). */
export function optionsFromConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: AnyOptions = {};
  for (const [key, spec] of Object.entries(optionTable())) {
    const v = config[key];
    if (v === undefined || v === null) continue;
    if (spec.serialized !== false) out[key] = v;
  }
  return out;
}

/** Normalizes `data` at a step to a list of batches, checking their form. */
export function batchesAt(data: TeleportData | undefined, step: number): Batch[] {
  if (data == null) return [];
  return batchList(typeof data === 'function' ? data(step) : data);
}

function batchList(d: Batch | Batch[]): Batch[] {
  const list = Array.isArray(d) ? d : [d];
  for (const b of list) {
    const tensors = (v: unknown) => isTensor(v) || (Array.isArray(v) && v.length > 0 && v.every(isTensor));
    const ok = b != null && typeof b === 'object' && tensors(b.x) && tensors(b.y);
    if (!ok) throw badOption('teleport data must be {x, y} batches of tensors (or an array of them, or a function of the step returning them)');
  }
  return list;
}

function isTensor(t: unknown): t is Tensor {
  return t != null && typeof t === 'object' && Array.isArray((t as Tensor).shape) && typeof (t as Tensor).dataSync === 'function';
}
