/**
 * `tfjs-teleport/surgery`: width changes that keep the function: `split` copies units (and resizes
 * an optimizer's slots to match), `merge` folds duplicated units back.
 * ```ts
 * import { split } from 'tfjs-teleport/surgery';
 * const wider = split(model, { layer: 'hidden', neurons: [0, 3] });
 * ```
 * @packageDocumentation
 */
export * from './surgery/index.js';
