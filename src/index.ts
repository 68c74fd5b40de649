/**
 * tfjs-teleport: symmetry teleportation for TensorFlow.js.
 *
 * Drop-in optimizers (`sgd`, `momentum`, `adagrad`, `rmsprop`, `adam`, `wrap`) that teleport a
 * model's weights along loss-invariant group orbits on a schedule, and a one-off `teleport()`.
 * @packageDocumentation
 */
export { TeleportOptimizer } from './optimizers/teleport_optimizer.js';
export { wrap, sgd, momentum, adagrad, rmsprop, adam } from './optimizers/factories.js';
export { compileSchedule, type Schedule, type CompiledSchedule } from './optimizers/schedule.js';
export type { ScheduleDecision } from './optimizers/auto_schedule.js';
export { recreate as freshOptimizerLike } from './optimizers/inner_state.js';
export { teleport } from './one_off/teleport.js';
export { TeleportError, UnsupportedLayerError, NoOrbitError, type TeleportErrorKind, type RejectionKind } from './core/errors.js';
export { Teleporter } from './teleport/teleporter.js';
export type { TeleportReport, TeleportMetrics } from './core/report.js';
export type { TeleportOptions, Batch, TeleportData, GroupOption } from './teleport/options.js';
export { DEFAULTS, OPTION_SPECS, type TeleportOptimizerOptions, type StatePolicy } from './optimizers/options.js';
export { runTeleport, applyActions, transportGradients, type TeleportSettings, type TeleportOutcome, type TeleportInput } from './teleport/engine.js';
export { guard, type GuardInput, type GuardResult, type ParamConstraint } from './teleport/guard.js';
export { planTeleport, MODEL_GROUPS, type TeleportPlan } from './teleport/plan.js';
export { readModel, type ModelStructure, type Site, type ChainLayer } from './structure/read_model.js';
export { resolveLoss, SUPPORTED_LOSSES, type LossFunction, type ResolvedLoss } from './structure/losses.js';
export { gradNormSq, gradNorm, preconditionedGradNorm } from './objectives/grad_norm.js';
export { registerObjective, getObjective, objectiveNames, OBJECTIVES, type ObjectiveName } from './objectives/registry.js';
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
} from './objectives/types.js';
export { lookahead } from './objectives/lookahead.js';
export {
  curvatureObjective,
  curveCurvature,
  curveDerivatives,
  curveDerivativesByAutodiff,
  drawCurves,
  meanCurvature,
  type CurvatureObjectiveOptions,
} from './objectives/curvature.js';
export { hessianTrace, hessianTraceOf, HESSIAN_TRACE_MAX_PARAMS } from './objectives/hessian_trace.js';
export { sharpnessObjective, sharpnessOf, unitDirection, type SharpnessObjectiveOptions, type SharpnessSpec } from './objectives/sharpness.js';
export { DEFAULT_PROBES, hessianVectorProducts, rademacherProbe, traceSharpnessAt } from './objectives/sharpness_trace.js';
export { ascend, tensorAscent } from './solvers/tensor_ascent.js';
export { ascendClosedForm, closedFormAscent } from './solvers/closed_form_ascent.js';
export { ascendGlGram, ascendGlGram64, glGramAscent, gramElementMatrices, type GramElement } from './solvers/gl_gram_ascent.js';
export { glGramEvaluate, glGramForm, type GlGramForm, type GramEvaluation, type GramTerm } from './objectives/gl_gram.js';
export { ascendGradNorm, evaluateGradNorm, hvpAscent, type GradNormStructure } from './solvers/hvp_ascent.js';
export { ascendInChart, chartAscent } from './solvers/chart_ascent.js';
export { registerSolver, solverFor } from './solvers/registry.js';
export { guardedAscent, lengthToCap, type AscentSpace, type Evaluation } from './solvers/step_rule.js';
export type { Solver, SolveProblem, SolverOptions, SolverResult, StepRule } from './solvers/types.js';
export { registerGroup, getGroup, groupNames, type GroupEntry, type GroupBuildContext } from './groups/registry.js';
export type { SiteAction, SlotKind, Exactness } from './groups/types.js';
export { SeededRandom } from './core/random.js';
export { split, merge, type SplitOptions, type SplitWithOptimizer, type MergeOptions, type MergeResult, type LayerMerge } from './surgery/index.js';
export * as groups from './groups/index.js';
export * as problems from './problems/index.js';
export * as linalg from './linalg/index.js';
export * as metrics from './metrics/index.js';
export * as hessian from './hessian/index.js';
export * as meta from './meta/index.js';
