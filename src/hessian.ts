/**
 * `tfjs-teleport/hessian`: Hessian diagnostics of a model or a plain loss: Hessian-vector products,
 * the top eigenvalues by Lanczos, the trace by Hutchinson, the full Hessian of small models and
 * spectrum statistics (pdet, κ, ω); `secondOrder` has activations whose second derivatives are right.
 * ```ts
 * import * as hessian from 'tfjs-teleport/hessian';
 * const { values } = hessian.topEigenvalues({ model, data: { x, y } }, 3);
 * ```
 * @packageDocumentation
 */
export * from './hessian/index.js';
