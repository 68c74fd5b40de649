/**
 * `tfjs-teleport/groups`: symmetry groups as site actions, pure functions of tensors. Pass them as
 * the `group` option to teleport a plain parameter list (SO(2)/O(n) through a bijection, for the test
 * functions), or build a registered group's actions from them.
 * ```ts
 * import { so2 } from 'tfjs-teleport/groups';
 * import { booth } from 'tfjs-teleport/problems';
 * const x = tf.variable(tf.tensor1d([5, -5]));
 * await tp.teleport([x], ([p]) => booth.loss(p as tf.Tensor1D), { group: so2(booth.bijection) });
 * ```
 * @packageDocumentation
 */
export { so2, orthogonal, type Bijection, type So2Options, type OrthogonalOptions } from './groups/so2.js';
export { rescaleAction } from './groups/rescale.js';
export { glAction } from './groups/gl.js';
export { glDataActions, type GlDataVariant, type GlDataRank } from './groups/gl_data.js';
export type { SiteAction, SlotKind, Exactness, GlDataBatchSpace } from './groups/types.js';
