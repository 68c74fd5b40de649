import type { Tensor } from '@tensorflow/tfjs-core';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

/**
 * The top-r right singular vectors of a (n×h, n small), as float64 columns of length h: eigenvectors
 * of the n×n Gram matrix a·aᵀ mapped back by aᵀ. Directions whose singular value is round-off (σ² below
 * 1e-10 of the largest) are left out, so fewer than r may come back (none for a zero matrix).
 *
 * ```ts
 * const cols = topRowSpace(a, 16); // up to 16 orthonormal h-vectors spanning a's main row directions
 * ```
 */
export function topRowSpace(a: Tensor, r: number): Float64Array[] {
  const [n, h] = a.shape;
  const values = a.dataSync();
  const am = new Matrix(Array.from({ length: n }, (_, i) => Array.from(values.subarray(i * h, (i + 1) * h))));
  const eig = new EigenvalueDecomposition(am.mmul(am.transpose()), { assumeSymmetric: true });
  const order = eig.realEigenvalues.map((l, i) => [l, i] as const).sort((p, q) => q[0] - p[0]);
  const top = order[0]?.[0] ?? 0;
  if (!(top > 0)) return [];
  const at = am.transpose();
  return order
    .filter(([l]) => l > 1e-10 * top)
    .slice(0, r)
    .map(([l, i]) => Float64Array.from(at.mmul(Matrix.columnVector(eig.eigenvectorMatrix.getColumn(i))).getColumn(0), x => x / Math.sqrt(l)));
}
