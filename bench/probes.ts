/**
 * Probes of library bugs the benchmarks hit, run in a child process (`node --import tsx
 * bench/probes.ts <probe> <backend>`) so that a failure path that leaks tensors cannot spoil the
 * leak check of the benchmark that asks. Prints one JSON line: { ok, detail, leakedTensors }.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ProbeResult {
  probe: string;
  backend: string;
  ok: boolean;
  detail: string;
  leakedTensors: number;
}

/** Runs a probe in a child process; never throws. */
export function runProbe(probe: string, backend: string): ProbeResult {
  const here = dirname(fileURLToPath(import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'probes.ts'), probe, backend], {
    cwd: join(here, '..'),
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = (child.stdout ?? '')
    .trim()
    .split('\n')
    .filter(l => l.startsWith('{'))
    .pop();
  if (!line) return { probe, backend, ok: false, detail: `probe process failed: ${(child.stderr ?? '').slice(0, 300)}`, leakedTensors: NaN };
  return JSON.parse(line) as ProbeResult;
}

async function main(): Promise<void> {
  const [probe, backend = 'cpu'] = process.argv.slice(2);
  const { setupBackend } = await import('./common.js');
  await setupBackend(backend === 'wasm' ? undefined : backend);
  const tp = await import('../src/index.js');
  const { regressionData, regressionModel, sumSquaredError } = await import('../src/problems/regression.js');
  const before = tf.memory().numTensors;
  let ok = true;
  let detail = '';
  if (probe === 'gl-data-bias-free') {
    // gl-data on the dissertation's bias-free regression model, batch passed as is.
    const { x, y } = regressionData(1);
    let model: ReturnType<typeof regressionModel> | null = null;
    tf.tidy(() => {
      model = regressionModel(1);
    });
    try {
      const report = await tp.teleport(model!, { x, y }, { group: 'gl-data', loss: sumSquaredError });
      ok = !x.isDisposed;
      detail = x.isDisposed ? `teleport returned (accepted ${report.accepted}) but disposed the caller's batch x` : `ok (accepted ${report.accepted})`;
    } catch (err) {
      ok = false;
      detail = `${x.isDisposed ? "the teleport disposed the caller's batch x, then threw: " : 'threw: '}${String((err as Error).message ?? err).slice(0, 200)}`;
    }
    model!.dispose();
    tf.dispose([x, y]);
  } else if (probe === 'regression-model-leak') {
    regressionModel(1).dispose();
    const leaked = tf.memory().numTensors - before;
    ok = leaked === 0;
    detail = ok ? 'ok' : `regressionModel(seed) followed by model.dispose() leaves ${leaked} tensors alive`;
  } else {
    throw new Error(`unknown probe ${probe}`);
  }
  const result: ProbeResult = { probe, backend: tf.getBackend(), ok, detail, leakedTensors: tf.memory().numTensors - before };
  console.log(JSON.stringify(result));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch(err => {
    console.log(JSON.stringify({ probe: process.argv[2], backend: process.argv[3], ok: false, detail: String(err?.message ?? err), leakedTensors: NaN }));
  });
}
