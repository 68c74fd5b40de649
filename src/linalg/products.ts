import * as tf from '@tensorflow/tfjs-core';
import { matMul64, transpose64 } from './dense64.js';

/**
 * Where the GL solver's dense h×h products run:
 * - `'float64'`: plain JavaScript loops in float64 ({@link matMul64}), exact to float64 rounding;
 * - `'backend'`: the registered tfjs backend's float32 matmul (wasm: SIMD), one upload per operand
 *   and one download, results widened back to float64;
 * - `'auto'`: the backend once a product has at least {@link BACKEND_PRODUCT_MIN_FLOPS} multiply-adds
 *   (there it is 4–15× faster than the JavaScript loops on wasm, 20–40× at 128³–512³), float64 below (where the upload,
 *   kernel dispatch and download cost more than the loops).
 *
 * The products only feed the ascent's objective values, directions and intermediate bases, whose
 * inputs (the gradients) are float32 anyway; exactness of a teleport rests on its final element being
 * Q·diag(e^{±μ})·Qᵀ with Q from a float64 eigendecomposition, whatever precision the products had.
 */
export type ProductEngine = 'float64' | 'backend' | 'auto';

/**
 * Multiply-adds from which `'auto'` sends a product to the backend: 32³. Measured on wasm (2-core
 * machine, square products): 32³ takes 42 µs there against 185 µs in the loops, 64³ 60 µs against
 * 820 µs; at 24³ and below the upload, dispatch and download cost more than the loops.
 */
export const BACKEND_PRODUCT_MIN_FLOPS = 32 * 32 * 32;

/** op(A)·op(B) on the tfjs backend in float32 (operands transposed in JavaScript: some backends' transposed matmuls are slow). */
function matMulBackend(a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta: boolean, tb: boolean): Float64Array {
  const av = tf.tensor2d(Float32Array.from(ta ? transpose64(a, k, m) : a), [m, k]);
  const bv = tf.tensor2d(Float32Array.from(tb ? transpose64(b, n, k) : b), [k, n]);
  const c = tf.matMul(av, bv);
  // Downloaded outside any tidy: tidy walks a returned typed array entry by entry.
  const out = Float64Array.from(c.dataSync());
  tf.dispose([av, bv, c]);
  return out;
}

/**
 * C = op(A)·op(B) for row-major float64 matrices (op(A) is [m, k], op(B) is [k, n]), on the engine
 * chosen by `engine` (see {@link ProductEngine}).
 *
 * ```ts
 * matMulOn('auto', a, b, 128, 128, 128); // on the backend: float32 products, float64 result
 * matMulOn('float64', a, b, 2, 2, 2, false, true); // A·Bᵀ in JavaScript
 * ```
 */
export function matMulOn(engine: ProductEngine, a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta = false, tb = false): Float64Array {
  const onBackend = engine === 'backend' || (engine === 'auto' && m * k * n >= BACKEND_PRODUCT_MIN_FLOPS);
  return onBackend ? matMulBackend(a, b, m, k, n, ta, tb) : matMul64(a, b, m, k, n, ta, tb);
}

/**
 * Q·diag(d)·Qᵀ for a row-major [n, n] Q, the product on `engine` (see {@link scaledOuter64}).
 *
 * ```ts
 * scaledOuterOn('float64', Float64Array.of(1, 0, 0, 1), Float64Array.of(2, 3), 2); // [2, 0, 0, 3]
 * ```
 */
export function scaledOuterOn(engine: ProductEngine, q: Float64Array, d: Float64Array, n: number): Float64Array {
  const qd = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qd[i * n + j] = q[i * n + j] * d[j];
  return matMulOn(engine, qd, q, n, n, n, false, true);
}
