/**
 * Why `pinvConstant` solves the normal equations (Gram matrix + ml-matrix LU) instead of calling
 * ml-matrix's SVD pseudo-inverse: speed ratio at the shapes gl-data uses (H = [batch, inputs + 1]),
 * and accuracy against a float64 SVD reference as the condition number κ grows.
 *
 *   npx tsx bench/linalg_pinv.ts
 *
 * Reports ratios measured in this run, no bare absolute times.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { pinvConstant, pinvNumbers, svdNumbers, type Matrix64 } from '../src/linalg/index.js';
import { SeededRandom } from '../src/core/random.js';

function randomMatrix(rows: number, cols: number, seed: number): Matrix64 {
  const r = new SeededRandom(seed);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => r.next() - 0.5));
}

/** A float32-representable [rows, cols] matrix with singular values spread log-evenly over [1/κ, 1]. */
function conditioned(rows: number, cols: number, kappa: number, seed: number): Matrix64 {
  const { u, v } = svdNumbers(randomMatrix(rows, cols, seed));
  const k = Math.min(rows, cols);
  const s = Array.from({ length: k }, (_, i) => kappa ** (-i / (k - 1)));
  return Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (__, j) => Math.fround(s.reduce((acc, sk, q) => acc + u[i][q] * sk * v[j][q], 0))),
  );
}

function msPer(f: () => void, reps: number): number {
  f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

const relErr = (a: Matrix64, ref: Matrix64) => {
  let num = 0;
  let den = 0;
  ref.forEach((row, i) =>
    row.forEach((v, j) => {
      num = Math.max(num, Math.abs(a[i][j] - v));
      den = Math.max(den, Math.abs(v));
    }),
  );
  return num / den;
};

async function main(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  console.log('speed: time(SVD pseudo-inverse) / time(pinvConstant)');
  for (const [r, c] of [
    [20, 785],
    [128, 785],
    [128, 65],
    [32, 33],
  ]) {
    const a = randomMatrix(r, c, r * 1000 + c);
    const t = tf.tensor2d(a);
    const gram = msPer(() => tf.dispose(pinvConstant(t as tf.Tensor2D)), 3);
    const svd = msPer(() => pinvNumbers(a), 3);
    t.dispose();
    console.log(`  ${r}×${c}: ${(svd / gram).toFixed(1)}×`);
  }
  console.log('accuracy: max relative error against the float64 SVD pseudo-inverse (20×30)');
  console.log('  κ        pinvConstant (float32 out)   SVD rounded to float32   κ·2⁻²⁴ (float32 sensitivity)');
  for (const kappa of [1e2, 1e4, 1e5, 1e6]) {
    const a = conditioned(20, 30, kappa, 7);
    const ref = pinvNumbers(a);
    const t = tf.tensor2d(a);
    let mine = NaN;
    try {
      const p = pinvConstant(t as tf.Tensor2D);
      mine = relErr(p.arraySync() as Matrix64, ref);
      p.dispose();
    } catch {
      // rejected as rank deficient
    }
    t.dispose();
    const rounded = relErr(
      ref.map(row => row.map(Math.fround)),
      ref,
    );
    console.log(
      `  ${kappa.toExponential(0)}    ${Number.isNaN(mine) ? 'rejected' : mine.toExponential(1)}                      ${rounded.toExponential(1)}                  ${(kappa * 2 ** -24).toExponential(1)}`,
    );
  }
}

await main();
