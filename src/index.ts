/**
 * tfjs-teleport: symmetry teleportation for TensorFlow.js.
 *
 * Drop-in optimizers (`sgd`, `momentum`, `adagrad`, `rmsprop`, `adam`, `wrap`) that teleport a
 * model's weights along loss-invariant group orbits on a schedule, and a one-off `teleport()`.
 * @packageDocumentation
 */
export { TeleportOptimizer, type TeleportOptimizerOptions, type StatePolicy } from './optimizers/teleport_optimizer.js';
export { wrap, sgd, momentum, adagrad, rmsprop, adam } from './optimizers/factories.js';
export { compileSchedule, type Schedule } from './optimizers/schedule.js';
export { recreate as freshOptimizerLike } from './optimizers/inner_state.js';
export { teleport, TeleportError } from './teleport/teleport.js';
export { Teleporter, type TeleportReport } from './teleport/teleporter.js';
export { DEFAULTS, type TeleportOptions, type Batch, type TeleportData, type GroupOption } from './teleport/options.js';
export { runTeleport, applyActions, transportGradients, type TeleportSettings, type TeleportOutcome } from './teleport/engine.js';
export { ascend, type SolverOptions, type SolverResult } from './teleport/solver.js';
export { planTeleport, MODEL_GROUPS, type TeleportPlan } from './teleport/plan.js';
export { readModel, type ModelStructure, type Site, type ChainLayer } from './structure/read_model.js';
export { resolveLoss, SUPPORTED_LOSSES, type LossFunction, type ResolvedLoss } from './structure/losses.js';
export { gradNormSq, OBJECTIVES, type ObjectiveName, type Preconditioner } from './objectives/grad_norm.js';
export type { SiteAction, SlotKind, Exactness } from './groups/types.js';
export { SeededRandom } from './util/random.js';
export * as groups from './groups/index.js';
export * as problems from './problems/index.js';
export * as linalg from './linalg/index.js';
