import * as tf from '@tensorflow/tfjs-core';
import { applyWasmFixes } from '../src/backend/wasm_fixes.js';

const CHOICES = ['node-gpu', 'node', 'wasm', 'cpu'] as const;

async function tryNode(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks a tfjs backend: tfjs-node-gpu, then tfjs-node, then wasm (with the kernel fixes of
 * src/backend/wasm_fixes.ts applied), then cpu; `preference` forces one. Returns the backend's name.
 */
export async function selectBackend(preference?: string, log: (msg: string) => void = () => {}): Promise<string> {
  tf.enableProdMode();
  if (preference != null && !(CHOICES as readonly string[]).includes(preference)) {
    throw new Error(`unknown backend '${preference}'; valid choices: ${CHOICES.join(', ')}`);
  }
  const want = (b: string) => preference == null || preference === b;
  if (want('node-gpu') && (await tryNode('@tensorflow/tfjs-node-gpu'))) {
    await tf.setBackend('tensorflow');
    log('backend: tensorflow (tfjs-node-gpu)');
    return 'tensorflow';
  }
  if (preference === 'node-gpu') throw new Error('backend node-gpu: @tensorflow/tfjs-node-gpu is not installed (npm install @tensorflow/tfjs-node-gpu)');
  if (want('node') && (await tryNode('@tensorflow/tfjs-node'))) {
    await tf.setBackend('tensorflow');
    log('backend: tensorflow (tfjs-node)');
    return 'tensorflow';
  }
  if (preference === 'node') throw new Error('backend node: @tensorflow/tfjs-node is not installed (npm install @tensorflow/tfjs-node)');
  if (want('wasm')) {
    await import('@tensorflow/tfjs-backend-wasm');
    // Fast transposed matmuls, Conv2DBackpropFilter and a correct MaxPoolGrad (src/backend/wasm_fixes.ts).
    applyWasmFixes();
    if (await tf.setBackend('wasm')) {
      log('backend: wasm (with wasm kernel fixes)');
      return 'wasm';
    }
    if (preference === 'wasm') throw new Error('backend wasm could not be initialized');
  }
  await import('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  log('backend: cpu');
  return 'cpu';
}
