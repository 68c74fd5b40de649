/**
 * `tfjs-teleport/metrics`: measurements of a minimum that users call directly: sharpness φ
 * (dissertation eq. 5.1) and the curvature ψ of the orbit through w (eq. 5.2).
 * ```ts
 * import { sharpness } from 'tfjs-teleport/metrics';
 * const phi = sharpness(model, { x, y }, { seed: 1 });
 * ```
 * @packageDocumentation
 */
export * from './metrics/index.js';
