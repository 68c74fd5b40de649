/**
 * tfjs-teleport: symmetry teleportation for TensorFlow.js. This root entry is the stable surface
 * (semver): the teleporting optimizers, the one-off `teleport()`, the errors, the option and
 * report types, and the registries a user extends. Research tools and internals live under
 * subpaths: `tfjs-teleport/surgery`, `/metrics`, `/hessian`, `/problems`, `/groups` (stable) and
 * `tfjs-teleport/advanced`, `/meta` (experimental: they may change in a minor release).
 *
 * @example
 * ```ts
 * import * as tp from 'tfjs-teleport';
 * model.compile({ optimizer: tp.adam(1e-3, { model, schedule: { every: 50 } }), loss: 'meanSquaredError' });
 * ```
 * @packageDocumentation
 */
export { TeleportOptimizer } from './optimizers/teleport_optimizer.js';
export { wrap, sgd, momentum, adagrad, rmsprop, adam } from './optimizers/factories.js';
export type { Schedule } from './optimizers/schedule.js';
export type { ScheduleDecision } from './optimizers/auto_schedule.js';
export { teleport } from './one_off/teleport.js';
export { TeleportError, UnsupportedLayerError, NoOrbitError, type TeleportErrorKind, type RejectionKind } from './core/errors.js';
export type { TeleportReport, TeleportMetrics } from './core/report.js';
export type { OneOffBudget } from './teleport/budget.js';
export type { TeleportOptions, Batch, TeleportData, GroupOption } from './teleport/options.js';
export { DEFAULTS, type TeleportOptimizerOptions, type StatePolicy } from './optimizers/options.js';
export { registerObjective, objectiveNames, type ObjectiveName } from './objectives/registry.js';
export type {
  Objective,
  ObjectiveContext,
  ObjectiveSettings,
  ClosedForm,
  Preconditioner,
  SharpnessEstimator,
  InnerStep,
  InnerRule,
  HeldOut,
  ObjectiveFamily,
  ObjectiveOptionSpec,
  ObjectiveTraits,
} from './objectives/types.js';
export { registerGroup, groupNames, type GroupEntry, type GroupBuildContext } from './groups/registry.js';
export type { SiteAction, SlotKind, Exactness } from './groups/types.js';
export { registerSolver } from './solvers/registry.js';
export type { Solver, SolveProblem, SolverOptions, SolverResult, StepRule, SolveContext, PreparedSolve } from './solvers/types.js';
