/**
 * Shared pieces of the benchmarks: backend setup (wasm + fixes, or cpu), interleaved timing with
 * warm-up and medians, Markdown helpers and the result files under bench/results/.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

/** Where results are written: bench/results, or BENCH_RESULTS_DIR (two runs side by side without clobbering). */
export const RESULTS_DIR = process.env.BENCH_RESULTS_DIR || join(dirname(fileURLToPath(import.meta.url)), 'results');

/** What every benchmark reports about where it ran. */
export interface BackendInfo {
  /** tf.getBackend() while timing. */
  name: string;
  /** Whether src/backend/wasm_fixes.ts was applied. */
  wasmFixes: boolean;
  simd: boolean | null;
  /** Plain words: why this backend, what is missing. */
  note: string;
}

interface WasmFixesModule {
  applyWasmFixes: (...args: unknown[]) => unknown;
}

let fixesModule: WasmFixesModule | null | undefined;

/** Loads src/backend/wasm_fixes.ts if it exists (it is written by another team member). */
export async function loadWasmFixes(): Promise<WasmFixesModule | null> {
  if (fixesModule !== undefined) return fixesModule;
  const here = dirname(fileURLToPath(import.meta.url));
  const path = join(here, '..', 'src', 'backend', 'wasm_fixes.ts');
  if (!existsSync(path)) {
    fixesModule = null;
    return null;
  }
  // A variable specifier keeps tsc from resolving the module while it may not exist yet.
  const spec = '../src/backend/wasm_fixes.js';
  const mod = (await import(spec)) as Partial<WasmFixesModule>;
  fixesModule = typeof mod.applyWasmFixes === 'function' ? (mod as WasmFixesModule) : null;
  return fixesModule;
}

/** Kernel configs of a backend by name, to tell what a fix module changed. */
export function kernelSnapshot(backend: string): Map<string, tf.KernelConfig> {
  return new Map(tf.getKernelsForBackend(backend).map(k => [k.kernelName, k]));
}

/** Kernels the wasm fixes replaced or added, with the originals, so they can be switched off and on. */
export interface FixSwitch {
  changed: string[];
  added: string[];
  off(): void;
  on(): void;
}

let fixSwitch: FixSwitch | null = null;
let fixSummary = '';

/** The switch recorded when the fixes were applied (null when they were not). */
export function wasmFixSwitch(): FixSwitch | null {
  return fixSwitch;
}

/**
 * Timing backend for the benchmarks: wasm with src/backend/wasm_fixes.ts applied; cpu when that
 * module is missing (wasm without its fixes lacks Conv2DBackpropFilter and runs transposed matmuls
 * 10-25x slower, so its timings would measure the bug, not teleports). `prefer` forces one.
 */
export async function setupBackend(prefer?: string): Promise<BackendInfo> {
  tf.enableProdMode();
  const fixes = await loadWasmFixes();
  if (prefer === 'cpu' || (prefer == null && fixes == null)) {
    await tf.setBackend('cpu');
    await tf.ready();
    const note =
      prefer === 'cpu'
        ? 'cpu (forced with --backend cpu)'
        : 'cpu: src/backend/wasm_fixes.ts is missing, and wasm without its fixes has no Conv2DBackpropFilter and slow transposed matmuls; timings fell back to the cpu backend';
    return { name: 'cpu', wasmFixes: false, simd: null, note };
  }
  await tf.setBackend('wasm');
  await tf.ready();
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  if (fixes == null || prefer === 'wasm-nofix') {
    return {
      name: 'wasm',
      wasmFixes: false,
      simd,
      note: fixes == null ? 'wasm WITHOUT fixes (src/backend/wasm_fixes.ts missing)' : 'wasm without fixes (forced)',
    };
  }
  if (fixSwitch == null) {
    const before = kernelSnapshot('wasm');
    const report = (await fixes.applyWasmFixes()) as { summary?: string } | undefined;
    fixSummary = typeof report?.summary === 'string' ? report.summary : '';
    const after = kernelSnapshot('wasm');
    const changed = [...after.keys()].filter(k => before.has(k) && before.get(k) !== after.get(k));
    const added = [...after.keys()].filter(k => !before.has(k));
    // Idempotent: switching to the state it is already in does nothing.
    const put = (name: string, config: tf.KernelConfig | undefined) => {
      if (tf.getKernel(name, 'wasm') != null) tf.unregisterKernel(name, 'wasm');
      if (config != null) tf.registerKernel(config);
    };
    let on = true;
    fixSwitch = {
      changed,
      added,
      off() {
        if (!on) return;
        for (const k of [...changed, ...added]) put(k, before.get(k));
        on = false;
      },
      on() {
        if (on) return;
        for (const k of [...changed, ...added]) put(k, after.get(k));
        on = true;
      },
    };
  }
  return {
    name: 'wasm',
    wasmFixes: true,
    simd,
    note: `wasm (SIMD ${simd ? 'on' : 'off'}, single thread) with src/backend/wasm_fixes.ts applied (kernels replaced: ${fixSwitch.changed.join(', ') || 'none'}; added: ${fixSwitch.added.join(', ') || 'none'}${fixSummary ? `; applyWasmFixes: ${fixSummary}` : ''})`,
  };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Times a synchronous function (which must sync its own results, e.g. with dataSync). */
export function timeMs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

export interface Timed {
  samples: number[];
  median: number;
  p25: number;
  p75: number;
}

export function summarizeSamples(samples: number[]): Timed {
  return { samples: samples.map(s => Number(s.toFixed(4))), median: median(samples), p25: quantile(samples, 0.25), p75: quantile(samples, 0.75) };
}

/**
 * Runs every function `reps` times, interleaved round by round (the order rotates each round so no
 * function always runs right after the same neighbour), after `warmup` untimed rounds. `before`
 * runs untimed before each call (e.g. to restore weights). Returns the per-function samples in ms.
 */
export function interleaved(fns: Record<string, () => void>, opts: { reps: number; warmup?: number; before?: (name: string) => void }): Record<string, Timed> {
  const names = Object.keys(fns);
  const samples: Record<string, number[]> = Object.fromEntries(names.map(n => [n, []]));
  const rounds = (opts.warmup ?? 1) + opts.reps;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length];
      opts.before?.(name);
      const ms = timeMs(fns[name]);
      if (r >= (opts.warmup ?? 1)) samples[name].push(ms);
    }
  }
  return Object.fromEntries(names.map(n => [n, summarizeSamples(samples[n])]));
}

/** Repetitions that fit a time budget, given one call's time, clamped to [min, max]. */
export function repsFor(msPerRound: number, budgetMs: number, min: number, max: number): number {
  if (!(msPerRound > 0)) return max;
  return Math.max(min, Math.min(max, Math.floor(budgetMs / msPerRound)));
}

/** One target of the issue, as met or missed, with the numbers. */
export interface TargetResult {
  name: string;
  target: string;
  measured: string;
  met: boolean;
  /** Why it is missed and what would close it; or a caveat when met. */
  note?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  backend: BackendInfo;
  quick: boolean;
  startedAt: string;
  seconds: number;
  machine: { node: string; cpus: number; cpuModel: string; platform: string; loadAverageAtStart: number[] };
  tfjs: string;
  /** tf.memory().numTensors before and after the whole benchmark. */
  tensors: { before: number; after: number; leaked: number; explained?: { count: number; reason: string } };
  headline: string[];
  targets: TargetResult[];
  data: unknown;
}

export function machineInfo(): BenchResult['machine'] {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    platform: `${os.platform()} ${os.arch()}`,
    loadAverageAtStart: os.loadavg().map(v => Number(v.toFixed(2))),
  };
}

/** File name (without extension) of a benchmark's results: its name with '-' as '_' (`curvature-cost` → curvature_cost). */
export function resultFileBase(name: string): string {
  return name.replace(/-/g, '_');
}

/** Writes bench/results/<name>.json and <name>.md (see {@link resultFileBase}). */
export function writeResult(result: BenchResult, markdown: string): { json: string; md: string } {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = join(RESULTS_DIR, `${resultFileBase(result.name)}.json`);
  const md = join(RESULTS_DIR, `${resultFileBase(result.name)}.md`);
  writeFileSync(json, JSON.stringify(result, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2) + '\n');
  writeFileSync(md, markdown.endsWith('\n') ? markdown : markdown + '\n');
  return { json, md };
}

/** The common header of every result page: backend, machine, leak check, targets. */
export function resultHeader(r: BenchResult): string {
  const lines: string[] = [];
  lines.push(`# ${r.title}`);
  lines.push('');
  lines.push(`- Backend: **${r.backend.name}**${r.backend.wasmFixes ? ' + wasm fixes' : ''}. ${r.backend.note}`);
  lines.push(
    `- Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.platform}, Node ${r.machine.node}, tfjs ${r.tfjs}; load average at start ${r.machine.loadAverageAtStart.join(' / ')} (other jobs were running: compare ratios measured in one run, not absolute times).`,
  );
  lines.push(
    `- Run: ${r.startedAt}, ${r.seconds.toFixed(0)} s${r.quick ? ', **--quick** (reduced grid; numbers are indicative only)' : ''}. Reproduce: \`npm run bench -- --only ${r.name}${r.quick ? ' --quick' : ''}\`.`,
  );
  const ex = r.tensors.explained;
  const leakText =
    r.tensors.leaked === 0
      ? 'no leak'
      : ex && ex.count === r.tensors.leaked
        ? `${r.tensors.leaked} left behind, all explained: ${ex.reason}`
        : `**${r.tensors.leaked} leaked**${ex ? ` (${ex.count} of them explained: ${ex.reason})` : ''}`;
  lines.push(`- Tensor leak check: tf.memory().numTensors ${r.tensors.before} before, ${r.tensors.after} after the whole benchmark (${leakText}).`);
  lines.push('');
  if (r.headline.length) {
    lines.push('## Headline');
    lines.push('');
    for (const h of r.headline) lines.push(`- ${h}`);
    lines.push('');
  }
  if (r.targets.length) {
    lines.push('## Targets');
    lines.push('');
    lines.push(
      table(
        ['target', 'goal', 'measured', 'met?', 'notes'],
        r.targets.map(t => [t.name, t.target, t.measured, t.met ? 'yes' : '**no**', t.note ?? '']),
        3,
      ),
    );
    lines.push('');
  }
  return lines.join('\n');
}

/** A Markdown table; columns from `rightFrom` on are right-aligned. */
export function table(header: string[], rows: string[][], rightFrom = 1): string {
  const esc = (c: string) => String(c).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map((_, i) => (i < rightFrom ? '---' : '---:')).join(' | ')} |`,
    ...rows.map(r => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** 3 significant digits; exponent for very large or small values. */
export function fmt(x: number | null | undefined, digits = 3): string {
  if (x == null) return '—';
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(digits - 1);
  return String(Number(x.toPrecision(digits)));
}

export function fmtRatio(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return '—';
  return `${x < 0.01 ? x.toExponential(1) : x < 10 ? x.toFixed(x < 0.1 ? 3 : 2) : x.toFixed(1)}×`;
}

/**
 * Collects the library's process warnings (e.g. gl-data on a batch larger than a layer's inputs)
 * instead of printing each, so a benchmark can report them once.
 */
export function collectWarnings<T>(fn: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const seen = new Map<string, number>();
  const original = process.emitWarning;
  process.emitWarning = ((w: string | Error) => {
    const msg = typeof w === 'string' ? w : w.message;
    seen.set(msg, (seen.get(msg) ?? 0) + 1);
  }) as typeof process.emitWarning;
  return fn()
    .then(value => ({ value, warnings: [...seen.entries()].map(([m, n]) => (n > 1 ? `${m} (×${n})` : m)) }))
    .finally(() => {
      process.emitWarning = original;
    });
}

/** A seeded uniform tensor (deterministic on every backend). */
export function seededUniform(shape: number[], seed: number, lo = 0, hi = 1): tf.Tensor {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * next();
  return tf.tensor(v, shape);
}

/** A seeded one-hot label batch. */
export function seededOneHot(n: number, classes: number, seed: number): tf.Tensor {
  return tf.tidy(() => {
    const u = seededUniform([n], seed, 0, classes);
    return tf.cast(tf.oneHot(tf.cast(tf.floor(u), 'int32'), classes), 'float32');
  });
}

/** Options every benchmark module receives. */
export interface BenchContext {
  quick: boolean;
  backend: BackendInfo;
  log: (msg: string) => void;
}
