import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { applyWasmFixes } from '../../../src/backend/wasm_fixes.js';

/** The backends the page offers, in the order it tries them at start. */
export const BACKENDS = ['webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

// The build copies the wasm binaries of @tensorflow/tfjs-backend-wasm next to the page, under wasm/.
setWasmPaths(new URL('wasm/', document.baseURI).href);

let fixesSummary = '';

/**
 * Switches tfjs to `name`; on wasm with the project's kernel fixes (src/backend/wasm_fixes.ts), as
 * the CLI and the benchmarks use it. Throws when the backend cannot start here (e.g. no WebGL).
 */
export async function useBackend(name: string): Promise<string> {
  if (!(BACKENDS as readonly string[]).includes(name)) throw new Error(`unknown backend '${name}': choose one of ${BACKENDS.join(', ')}`);
  if (name === 'wasm' && fixesSummary === '') fixesSummary = applyWasmFixes().summary;
  if (!(await tf.setBackend(name))) throw new Error(`backend '${name}' failed to initialize in this browser${name === 'webgl' ? ' (no WebGL?)' : ''}`);
  await tf.ready();
  return tf.getBackend();
}

/** The first backend of {@link BACKENDS} (or `preferred`) that starts. */
export async function startBackend(preferred?: string | null): Promise<string> {
  const order = preferred ? [preferred, ...BACKENDS.filter(b => b !== preferred)] : [...BACKENDS];
  const failures: string[] = [];
  for (const name of order) {
    try {
      return await useBackend(name);
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  throw new Error(`no tfjs backend starts here: ${failures.join('; ')}`);
}

/** One line about the backend in use: its name, and on wasm the kernel fixes and the SIMD/threads flags. */
export function describeBackend(): string {
  const name = tf.getBackend();
  if (name === 'wasm') {
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
    const threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 'threads' : 'no threads';
    return `wasm (${simd}, ${threads}; ${fixesSummary})`;
  }
  if (name === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl && info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : 'renderer unknown';
    return `webgl (WebGL ${tf.env().getNumber('WEBGL_VERSION')}, ${renderer})`;
  }
  return name;
}
