/**
 * `tfjs-teleport/advanced` (experimental: may change in a minor release): the engine's parts for
 * research and for extending the library beyond the registries: the teleport engine and guard,
 * model reading and losses, the built-in objectives and solvers, the schedule compiler, the option
 * table, seeded random numbers and the tensor/float64 linear algebra (`linalg`).
 * ```ts
 * import { readModel, planTeleport } from 'tfjs-teleport/advanced';
 * const plan = planTeleport(readModel(model), 'auto');
 * ```
 * @packageDocumentation
 */
export { compileSchedule, type CompiledSchedule } from './optimizers/schedule.js';
export { disposeOptimizer, recreate as freshOptimizerLike } from './optimizers/inner_state.js';
export { Teleporter, type TeleportRun } from './teleport/teleporter.js';
export type { TeleportProbe } from './teleport/probe.js';
export type { NamedTensor } from './optimizers/teleport_optimizer.js';
export type { OptionSpec, Defaulted, ResolvedTeleportOptions } from './teleport/options.js';
export { OPTION_SPECS, type ResolvedOptions } from './optimizers/options.js';
export { runTeleport, applyActions, transportGradients, type TeleportSettings, type TeleportOutcome, type TeleportInput } from './teleport/engine.js';
export { guard, type GuardInput, type GuardResult, type ParamConstraint } from './teleport/guard.js';
export { planTeleport, MODEL_GROUPS, type TeleportPlan } from './teleport/plan.js';
export { readModel, type ModelStructure, type Site, type ChainLayer, type ForwardResult, type ForwardOptions } from './structure/read_model.js';
export type { MergeKind } from './structure/layers.js';
export type { ActivationSpec } from './structure/activations.js';
export { resolveLoss, SUPPORTED_LOSSES, type LossFunction, type ResolvedLoss } from './structure/losses.js';
export { getObjective, OBJECTIVES, BUILT_IN_OBJECTIVES } from './objectives/registry.js';
export { gradNormSq, gradNorm, preconditionedGradNorm } from './objectives/grad_norm.js';
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
export { glGramEvaluate, glGramForm, type GlGramForm, type GramEvaluation, type GramTerm } from './objectives/gl_gram.js';
export { getGroup } from './groups/registry.js';
export { glElement, rememberExplicitGlElement, useGlChart, type ExplicitElement } from './groups/gl.js';
export { solverFor } from './solvers/registry.js';
export { ascend, tensorAscent } from './solvers/tensor_ascent.js';
export { ascendClosedForm, closedFormAscent } from './solvers/closed_form_ascent.js';
export { ascendGlGram, ascendGlGram64, glGramAscent, gramElementMatrices, type GramElement } from './solvers/gl_gram_ascent.js';
export { ascendGradNorm, evaluateGradNorm, hvpAscent, type GradNormStructure } from './solvers/hvp_ascent.js';
export { ascendInChart, chartAscent } from './solvers/chart_ascent.js';
export { guardedAscent, lengthToCap, type AscentSpace, type AscentOutcome, type Evaluation } from './solvers/step_rule.js';
export { SeededRandom } from './core/random.js';
/** Linear algebra: differentiable `expm`, `inverse`, `pinv` on tensors; float64 inverse, pseudo-inverse, SVD and symmetric eigendecomposition on plain arrays. */
export * as linalg from './linalg/index.js';
