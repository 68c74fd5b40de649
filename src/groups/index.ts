/** Symmetry groups as site actions (pure functions of tensors). */
export { rescaleAction } from './rescale.js';
export { glAction, glElement } from './gl.js';
export { glDataActions, type GlDataVariant } from './gl_data.js';
export { so2, orthogonal } from './so2.js';
export { expm } from './linalg.js';
export { pinv, pinvConstant, inverse } from './pinv.js';
export type { SiteAction, SlotKind, Exactness } from './types.js';
