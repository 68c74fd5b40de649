/**
 * `tfjs-teleport/problems`: the dissertation's test functions (Rosenbrock, Booth, quadratics) with
 * their bijections, and the multi-layer regression problem, as plain functions.
 * ```ts
 * import { rosenbrock } from 'tfjs-teleport/problems';
 * ```
 * @packageDocumentation
 */
export * from './problems/index.js';
