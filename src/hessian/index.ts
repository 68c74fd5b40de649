/**
 * Hessian diagnostics (`tfjs-teleport/hessian`): Hessian-vector products, the top eigenvalues by Lanczos, the
 * trace by Hutchinson, the full Hessian of small models, and spectrum statistics (pdet, κ, ω). Every
 * function reads the current weights, leaves them exactly as they were, and disposes what it makes.
 */
export type { HessianTarget } from './target.js';
export { hvp, type HvpOptions, type HvpMethod } from './hvp.js';
export { topEigenvalues, type TopEigenvaluesOptions, type TopEigenvaluesResult } from './lanczos.js';
export { trace, type TraceOptions, type TraceResult } from './trace.js';
export { full, type FullOptions, type FullHessian } from './full.js';
export { stats, type StatsOptions, type SpectrumStats } from './stats.js';
/** tanh, sigmoid, softmax, logSoftmax with correct second derivatives (tfjs's own lose them): use them in `loss` closures. */
export * as secondOrder from '../structure/second_order.js';
