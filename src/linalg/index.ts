/**
 * Linear algebra shared by groups, problems and the curvature tools, in one place.
 * - Tensor level (tfjs ops or customGrad, so gradients flow): {@link expm}, {@link expmPair}, {@link inverse},
 *   {@link pinv}; and the float64 constant {@link pinvConstant}.
 * - Float64 on plain arrays, from ml-matrix behind thin wrappers: {@link invertNumbers},
 *   {@link pinvNumbers}, {@link svdNumbers}, {@link symmetricEigenNumbers}, and the reference
 *   exponential {@link expmNumbers}.
 * - Flat float64 kernels on row-major Float64Arrays (GL's h×h work, no ml-matrix): {@link matMul64},
 *   {@link symEig64}, {@link scaledOuter64}, {@link transpose64}; the same products on the tfjs backend
 *   (float32, much faster from about 32³ multiply-adds): {@link matMulOn}, {@link scaledOuterOn}.
 */
export { expm, expmPair, type ExpmOptions } from './expm.js';
export { taylorDegreeFor } from './expm_options.js';
export { inverse, pinv, pinvConstant } from './tensor.js';
export {
  invertNumbers,
  pinvNumbers,
  svdNumbers,
  symmetricEigenNumbers,
  expmNumbers,
  type Matrix64,
  type Svd,
  type PinvOptions,
  type SymmetricEigen,
} from './float64.js';
export { matMul64, scaledOuter64, symEig64, transpose64 } from './dense64.js';
export { matMulOn, scaledOuterOn, BACKEND_PRODUCT_MIN_FLOPS, type ProductEngine } from './products.js';
