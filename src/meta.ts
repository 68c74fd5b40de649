/**
 * `tfjs-teleport/meta` (experimental: may change in a minor release): learning to teleport
 * (dissertation §5.5). A learned optimizer whose LSTMs give the local update and a group element,
 * meta-trained by unrolled optimization on a family of tasks.
 * ```ts
 * import { MetaTeleporter, regressionFamily } from 'tfjs-teleport/meta';
 * const teleporter = new MetaTeleporter({ hidden: 32 });
 * const family = regressionFamily();
 * ```
 * @packageDocumentation
 */
export * from './meta/index.js';
