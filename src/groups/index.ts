/** Symmetry groups as site actions (pure functions of tensors). */
export { rescaleAction } from './rescale.js';
export { glAction, glElement, rememberExplicitGlElement, useGlChart, type ExplicitElement } from './gl.js';
export { glDataActions, type GlDataVariant, type GlDataRank } from './gl_data.js';
export { normScaleAction } from './norm_scale.js';
export { nullspaceActions, nullSpaceProjector, NULLSPACE_RCOND } from './nullspace.js';
export { so2, orthogonal, type Bijection, type So2Options, type OrthogonalOptions } from './so2.js';
export { expm, pinv, pinvConstant, inverse } from '../linalg/index.js';
export type { SiteAction, SlotKind, Exactness } from './types.js';
