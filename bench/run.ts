/**
 * `npm run bench`: runs the benchmarks and writes bench/results/<name>.json, <name>.md and a
 * README.md that summarizes every result present.
 *
 *   npm run bench                          # all, full size (~30 min on 2 cores; divergence ~16 of them)
 *   npm run bench -- --quick               # all, reduced (~2 min)
 *   npm run bench -- --only cost,memory    # a subset (names: cost, memory, backend, regression, mnist, divergence, hessian, curvature-cost, pays, nullspace)
 *   npm run bench -- --only curvature-cost # curvature and sharpness teleports on the §5.2.3 MLP
 *   npm run bench -- --only pays --quick   # where teleports pay: the matrix of bench/pays.ts (full: about an hour)
 *   npm run bench -- --only nullspace      # null-space teleports against gl-data (MLP 784-32-32-10, digits)
 *   npm run bench -- --backend cpu         # time on cpu instead of wasm + fixes
 *   npm run bench -- --backend wasm-nofix  # diagnostic: wasm without src/backend/wasm_fixes.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { machineInfo, resultHeader, setupBackend, wasmFixSwitch, writeResult, type BenchContext, type BenchResult } from './common.js';
import { writeReadme } from './readme.js';
import type { Bench } from './types.js';

/** Benchmarks in run order; imported lazily so one missing dependency does not stop the others. */
const BENCHES: Record<string, () => Promise<Bench>> = {
  cost: async () => (await import('./cost.js')).runCost,
  memory: async () => (await import('./memory.js')).runMemory,
  backend: async () => (await import('./backend.js')).runBackend,
  regression: async () => (await import('./regression.js')).runRegression,
  mnist: async () => (await import('./mnist.js')).runMnist,
  divergence: async () => (await import('./divergence.js')).runDivergence,
  hessian: async () => (await import('./hessian.js')).runHessian,
  'curvature-cost': async () => (await import('./curvature_cost.js')).runCurvatureCostBench,
  pays: async () => (await import('./pays.js')).runPays,
  nullspace: async () => (await import('./nullspace.js')).runNullspace,
};

function usage(): string {
  return `usage: npm run bench -- [--only ${Object.keys(BENCHES).join(',')}] [--quick] [--backend wasm|cpu|wasm-nofix]`;
}

function parseArgs(argv: string[]): { only: string[]; quick: boolean; backend?: string } {
  let only = Object.keys(BENCHES);
  let quick = false;
  let backend: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++i];
      if (v == null) throw new Error(`${a} needs a value\n${usage()}`);
      return v;
    };
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      only = value()
        .split(',')
        .map(s => s.trim())
        .filter(Boolean);
      const bad = only.filter(n => !(n in BENCHES));
      if (bad.length || only.length === 0)
        throw new Error(`--only: unknown benchmark ${bad.join(', ') || "''"}; choose from ${Object.keys(BENCHES).join(', ')}`);
    } else if (a === '--backend' || a.startsWith('--backend=')) {
      backend = value();
      if (!['wasm', 'cpu', 'wasm-nofix'].includes(backend)) throw new Error(`--backend must be wasm, cpu or wasm-nofix, got ${backend}`);
    } else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${usage()}`);
  }
  // Keep the documented order whatever order --only lists.
  return { only: Object.keys(BENCHES).filter(n => only.includes(n)), quick, backend };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await setupBackend(args.backend);
  const started = performance.now();
  console.log(`bench: ${args.only.join(', ')}${args.quick ? ' (quick)' : ''}; backend: ${backend.note}`);
  const failures: string[] = [];
  for (const name of args.only) {
    const t0 = performance.now();
    const log = (m: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}`);
    log(`${name}: start`);
    try {
      const bench = await BENCHES[name]();
      const ctx: BenchContext = { quick: args.quick, backend, log };
      const machine = machineInfo();
      const before = tf.memory().numTensors;
      const out = await bench(ctx);
      // Benchmarks that switch backends switch back; make sure before counting.
      if (tf.getBackend() !== backend.name) await tf.setBackend(backend.name);
      const after = tf.memory().numTensors;
      const result: BenchResult = {
        name,
        title: out.title,
        backend,
        quick: args.quick,
        startedAt: new Date(Date.now() - (performance.now() - t0)).toISOString(),
        seconds: (performance.now() - t0) / 1000,
        machine,
        tfjs: tf.version_core,
        tensors: { before, after, leaked: after - before, ...(out.knownLeaks && out.knownLeaks.count > 0 ? { explained: out.knownLeaks } : {}) },
        headline: out.headline,
        targets: out.targets,
        data: out.data,
      };
      const files = writeResult(result, `${resultHeader(result)}\n${out.body}`);
      log(`${name}: done in ${result.seconds.toFixed(0)} s; tensors ${before} → ${after}; wrote ${files.md}`);
      for (const h of out.headline) log(`  ${h}`);
      for (const t of out.targets) log(`  target ${t.met ? 'MET   ' : 'MISSED'} ${t.name} (${t.target}): ${t.measured}`);
    } catch (err) {
      failures.push(name);
      console.error(`bench ${name} failed:`, err);
    } finally {
      // Whatever a benchmark did, the next one starts on the timing backend with its fixes on.
      if (backend.wasmFixes) wasmFixSwitch()?.on();
      if (tf.getBackend() !== backend.name) await tf.setBackend(backend.name);
    }
  }
  const readme = writeReadme();
  console.log(`bench: done in ${((performance.now() - started) / 1000).toFixed(0)} s; summary in ${readme}`);
  if (failures.length) {
    console.error(`bench: failed: ${failures.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch(err => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 2;
});
