/** Symmetry groups as site actions (pure functions of tensors). */
export { rescaleAction } from './rescale.js';
export { glAction, glElement } from './gl.js';
export { glDataActions, type GlDataVariant } from './gl_data.js';
// so2 pending
export { expm } from './linalg.js';
export { pinv, pinvConstant, inverse } from './pinv.js';
export type { SiteAction, SlotKind, Exactness } from './types.js';
