import * as tf from '@tensorflow/tfjs-core';
import { applyWasmFixes } from '../src/backend/wasm_fixes.js';

/** Values `selectBackend` accepts; 'tensorflow' means tfjs-node-gpu or tfjs-node, whichever loads. */
export const BACKEND_CHOICES = ['tensorflow', 'node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

const NODE_PACKAGES = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
} as const;

/**
 * Loads tfjs-node(-gpu) and switches to its 'tensorflow' backend. Returns null on success, else why
 * it failed. The package is an optional peer dependency: a variable specifier keeps TypeScript from
 * requiring it, and a missing package only makes the import throw.
 */
async function tryNode(pkg: string): Promise<string | null> {
  try {
    const spec: string = pkg;
    await import(spec);
  } catch (e) {
    const code = (e as { code?: string }).code;
    return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? 'is not installed' : `failed to load (${(e as Error).message})`;
  }
  try {
    if (tf.findBackendFactory('tensorflow') == null) {
      return 'loaded, but registered no "tensorflow" backend with this copy of @tensorflow/tfjs-core (version mismatch?)';
    }
    if (!(await tf.setBackend('tensorflow'))) return 'loaded, but its backend failed to initialize';
    return null;
  } catch (e) {
    return `loaded, but its backend failed to initialize (${(e as Error).message})`;
  }
}

async function tryWasm(): Promise<string | null> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    applyWasmFixes();
    if (!(await tf.setBackend('wasm'))) return 'the wasm module failed to initialize';
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

async function useCpu(): Promise<void> {
  await import('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend('cpu'))) throw new Error('backend cpu: @tensorflow/tfjs-backend-cpu failed to initialize');
}

/**
 * Picks and activates a tfjs backend, calls `tf.enableProdMode()`, and returns the backend's name
 * (`'tensorflow'`, `'wasm'` or `'cpu'`).
 *
 * Without `preference` it takes the first that works of tfjs-node-gpu, tfjs-node (optional peer
 * dependencies, skipped silently when not installed), wasm (with {@link applyWasmFixes}), then cpu.
 * `preference` forces one of `'tensorflow'` (node-gpu or node), `'node-gpu'`, `'node'`, `'wasm'`,
 * `'cpu'` and throws, saying how to install it, when it is unavailable.
 *
 * @example
 * ```ts
 * const name = await selectBackend(undefined, console.log); // "backend: wasm (with wasm kernel fixes)"
 * await selectBackend('node');                               // throws unless @tensorflow/tfjs-node is installed
 * ```
 */
export async function selectBackend(preference?: string, log: (msg: string) => void = () => {}): Promise<string> {
  if (preference != null && !(BACKEND_CHOICES as readonly string[]).includes(preference)) {
    throw new Error(`unknown backend '${preference}'; valid choices: ${BACKEND_CHOICES.join(', ')}`);
  }
  tf.enableProdMode();
  const want = (b: BackendChoice) => preference == null || preference === b || (preference === 'tensorflow' && (b === 'node-gpu' || b === 'node'));
  const failures: string[] = [];

  for (const kind of ['node-gpu', 'node'] as const) {
    if (!want(kind)) continue;
    const pkg = NODE_PACKAGES[kind];
    const why = await tryNode(pkg);
    if (why == null) {
      log(`backend: tensorflow (${pkg.replace('@tensorflow/', '')})`);
      return 'tensorflow';
    }
    failures.push(`${pkg} ${why}`);
    if (preference === kind) {
      throw new Error(`backend '${kind}' is unavailable: ${pkg} ${why}. Install it with: npm install ${pkg}${kind === 'node-gpu' ? ' (needs CUDA)' : ''}`);
    }
  }
  if (preference === 'tensorflow') {
    throw new Error(
      `backend 'tensorflow' is unavailable (${failures.join('; ')}). Install one of: npm install @tensorflow/tfjs-node, npm install @tensorflow/tfjs-node-gpu (CUDA)`,
    );
  }

  if (want('wasm')) {
    const why = await tryWasm();
    if (why == null) {
      log('backend: wasm (with wasm kernel fixes)');
      return 'wasm';
    }
    if (preference === 'wasm') {
      throw new Error(`backend 'wasm' is unavailable: ${why}. Install it with: npm install @tensorflow/tfjs-backend-wasm`);
    }
    log(`backend: wasm unavailable (${why}); falling back to cpu`);
  }

  try {
    await useCpu();
  } catch (e) {
    throw new Error(`backend 'cpu' is unavailable: ${(e as Error).message}. Install it with: npm install @tensorflow/tfjs-backend-cpu`);
  }
  log('backend: cpu');
  return 'cpu';
}
