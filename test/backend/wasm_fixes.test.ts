import test from 'ava';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers'; // also registers the gradients
import { applyWasmFixes, removeWasmFixes } from '../../src/backend/wasm_fixes.js';
import { SeededRandom } from '../../src/core/random.js';

// Backends are global state: every test here is serial.

const FIXED = ['BatchMatMul', '_FusedMatMul', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Slice'];

function values(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = new SeededRandom(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * r.next();
  return v;
}
const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const rnd = (shape: number[], seed: number, lo = -1, hi = 1) => tf.tensor(values(size(shape), seed, lo, hi), shape);

/** Runs `f` on cpu and on wasm (with whatever kernels are registered) and returns both results. */
async function onCpuAndWasm(f: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map(o => o.dataSync() as Float32Array);
    });
  };
  const cpu = await run('cpu');
  const wasm = await run('wasm');
  return { cpu, wasm };
}

/** max |a - b| / max(1, max |a|) over a list of arrays. */
function relMaxDiff(ref: Float32Array[], got: Float32Array[]): number {
  let worst = 0;
  ref.forEach((r, k) => {
    const g = got[k];
    if (g.length !== r.length) throw new Error(`length ${g.length} != ${r.length}`);
    let scale = 1;
    for (const v of r) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < r.length; i++) {
      const d = Number.isNaN(r[i]) && Number.isNaN(g[i]) ? 0 : Math.abs(r[i] - g[i]);
      worst = Math.max(worst, Number.isNaN(d) ? Infinity : d / scale);
    }
  });
  return worst;
}

test.before(async () => {
  tf.enableProdMode();
  await tf.setBackend('wasm');
  await tf.ready();
  applyWasmFixes();
});

test.after.always(async () => {
  removeWasmFixes();
  await tf.setBackend('cpu');
});

test.serial('applyWasmFixes reports what it patched and is idempotent', t => {
  removeWasmFixes();
  const first = applyWasmFixes();
  t.true(first.wasmRegistered);
  t.deepEqual([...first.patched].sort(), [...FIXED].sort());
  t.deepEqual(first.alreadyPatched, []);
  t.deepEqual(first.skipped, []);
  t.regex(first.summary, /patched/);
  const configs = FIXED.map(k => tf.getKernel(k, 'wasm'));
  const second = applyWasmFixes();
  t.deepEqual(second.patched, []);
  t.deepEqual([...second.alreadyPatched].sort(), [...FIXED].sort());
  t.deepEqual([...second.active].sort(), [...FIXED].sort());
  t.deepEqual(
    FIXED.map(k => tf.getKernel(k, 'wasm')),
    configs,
    'a second call must not re-register anything',
  );
});

test.serial('options choose the fixes; a later call adds the rest', t => {
  removeWasmFixes();
  const only = applyWasmFixes({ matmul: false, conv2dBackpropInput: false, maxPoolGrad: false, slice: false });
  t.deepEqual(only.patched, ['Conv2DBackpropFilter']);
  t.deepEqual(only.active, ['Conv2DBackpropFilter']);
  const rest = applyWasmFixes();
  t.deepEqual([...rest.patched].sort(), ['BatchMatMul', 'Conv2DBackpropInput', 'MaxPoolGrad', 'Slice', '_FusedMatMul']);
  t.deepEqual(rest.alreadyPatched, ['Conv2DBackpropFilter']);
});

test.serial('removeWasmFixes restores the original kernels', t => {
  removeWasmFixes();
  const stock = new Map(FIXED.map(k => [k, tf.getKernel(k, 'wasm') as tf.KernelConfig | undefined]));
  t.is(stock.get('Conv2DBackpropFilter'), undefined, 'tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter');
  t.truthy(stock.get('BatchMatMul'));
  applyWasmFixes();
  for (const k of FIXED) {
    t.truthy(tf.getKernel(k, 'wasm'), k);
    t.not(tf.getKernel(k, 'wasm'), stock.get(k), `${k} should be replaced`);
  }
  // The replacement keeps the original setup (it binds the wasm function the original calls).
  t.is(tf.getKernel('BatchMatMul', 'wasm').setupFunc, stock.get('BatchMatMul')!.setupFunc);
  removeWasmFixes();
  for (const k of FIXED) t.is(tf.getKernel(k, 'wasm') as tf.KernelConfig | undefined, stock.get(k), `${k} should be the original again`);
  removeWasmFixes(); // twice is harmless
  t.is(tf.getKernel('Conv2DBackpropFilter', 'wasm') as tf.KernelConfig | undefined, undefined);
  applyWasmFixes();
});

test.serial('applyWasmFixes re-patches a kernel that was swapped back behind its back', t => {
  removeWasmFixes();
  const stock = tf.getKernel('MaxPoolGrad', 'wasm');
  applyWasmFixes();
  const ours = tf.getKernel('MaxPoolGrad', 'wasm');
  tf.unregisterKernel('MaxPoolGrad', 'wasm'); // e.g. a benchmark switching the fixes off by hand
  tf.registerKernel(stock);
  const again = applyWasmFixes();
  t.deepEqual(again.patched, ['MaxPoolGrad']);
  t.not(tf.getKernel('MaxPoolGrad', 'wasm'), stock);
  tf.unregisterKernel('MaxPoolGrad', 'wasm'); // and on again by hand
  tf.registerKernel(ours);
  removeWasmFixes(); // the hand-registered copy is not the current replacement: left alone
  t.is(tf.getKernel('MaxPoolGrad', 'wasm'), ours);
  tf.unregisterKernel('MaxPoolGrad', 'wasm');
  tf.registerKernel(stock);
  applyWasmFixes();
});

test.serial('without the wasm backend applyWasmFixes is a no-op that says so', t => {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = [
    "import '@tensorflow/tfjs-core';",
    "import '@tensorflow/tfjs-backend-cpu';",
    "const { applyWasmFixes } = await import('./src/backend/wasm_fixes.ts');",
    'console.log(JSON.stringify(applyWasmFixes()));',
  ].join('\n');
  const res = spawnSync(process.execPath, ['--import=tsx', '--input-type=module', '-e', script], {
    cwd: join(here, '..', '..'),
    encoding: 'utf8',
  });
  t.is(res.status, 0, res.stderr);
  const report = JSON.parse(res.stdout.trim().split('\n').pop()!);
  t.false(report.wasmRegistered);
  t.deepEqual(report.patched, []);
  t.deepEqual(report.active, []);
  t.regex(report.summary, /not registered/);
});

test.serial('matmul: every transpose combination and batch shape matches cpu', async t => {
  applyWasmFixes();
  // [a shape before transposes, b shape before transposes] as [rows, inner] x [inner, cols]
  const cases: { a: number[]; b: number[] }[] = [
    { a: [7, 5], b: [5, 6] },
    { a: [3, 7, 5], b: [3, 5, 6] },
    { a: [3, 7, 5], b: [1, 5, 6] },
    { a: [1, 7, 5], b: [4, 5, 6] },
    { a: [2, 3, 4, 5], b: [2, 3, 5, 2] },
    { a: [9, 1], b: [1, 4] }, // size-1 axes: transposes are pure reshapes
    { a: [1, 8], b: [8, 1] },
    { a: [33, 64], b: [64, 17] },
  ];
  let seed = 1;
  for (const { a, b } of cases) {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const swap = (s: number[]) => [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]];
        const aShape = ta ? swap(a) : a;
        const bShape = tb ? swap(b) : b;
        const av = values(size(aShape), seed++);
        const bv = values(size(bShape), seed++);
        const { cpu, wasm } = await onCpuAndWasm(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), ta, tb));
        const d = relMaxDiff(cpu, wasm);
        t.true(d <= 1e-4, `a=${aShape} b=${bShape} transposeA=${ta} transposeB=${tb}: rel diff ${d}`);
      }
    }
  }
});

test.serial('fused matmul (bias + activation) with transposes matches cpu', async t => {
  applyWasmFixes();
  let seed = 100;
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      for (const activation of ['linear', 'relu'] as const) {
        const aShape = ta ? [6, 9] : [9, 6];
        const bShape = tb ? [4, 6] : [6, 4];
        const av = values(size(aShape), seed++);
        const bv = values(size(bShape), seed++);
        const biasV = values(4, seed++);
        const { cpu, wasm } = await onCpuAndWasm(() =>
          tf.fused.matMul({
            a: tf.tensor2d(av, aShape as [number, number]),
            b: tf.tensor2d(bv, bShape as [number, number]),
            transposeA: ta,
            transposeB: tb,
            bias: tf.tensor1d(biasV),
            activation,
          }),
        );
        const d = relMaxDiff(cpu, wasm);
        t.true(d <= 1e-4, `transposeA=${ta} transposeB=${tb} ${activation}: rel diff ${d}`);
      }
    }
  }
});

test.serial('matmul gradients (transposed products in backprop) match cpu', async t => {
  applyWasmFixes();
  const av = values(5 * 7, 7);
  const bv = values(7 * 3, 8);
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b))))([tf.tensor2d(av, [5, 7]), tf.tensor2d(bv, [7, 3])]),
  );
  t.true(relMaxDiff(cpu, wasm) <= 1e-4);
});

interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
}

test.serial('Conv2DBackpropFilter and Conv2DBackpropInput: tf.grads through tf.conv2d match cpu', async t => {
  applyWasmFixes();
  const cases: ConvCase[] = [
    { x: [1, 8, 8, 1], f: [3, 3, 1, 2], strides: 1, pad: 'valid' },
    { x: [2, 9, 7, 3], f: [3, 2, 3, 4], strides: [2, 1], pad: 'same' },
    { x: [3, 10, 11, 2], f: [5, 4, 2, 3], strides: [3, 2], pad: 'valid' },
    { x: [2, 6, 6, 4], f: [1, 1, 4, 5], strides: 2, pad: 'same' },
    { x: [2, 7, 8, 3], f: [4, 4, 3, 2], strides: 2, pad: 'same' }, // even filter, uneven 'same' padding
    {
      x: [2, 5, 6, 2],
      f: [3, 3, 2, 3],
      strides: 1,
      pad: [
        [0, 0],
        [1, 2],
        [2, 0],
        [0, 0],
      ],
    },
    { x: [1, 4, 4, 2], f: [4, 4, 2, 3], strides: 1, pad: 'valid' }, // filter covers the image
    { x: [4, 12, 12, 16], f: [3, 3, 16, 8], strides: 1, pad: 'same' }, // long contiguous copies
  ];
  let seed = 200;
  for (const c of cases) {
    const xv = values(size(c.x), seed++);
    const fv = values(size(c.f), seed++);
    const yShape = tf.tidy(() => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.f) as tf.Tensor4D, c.strides, c.pad).shape);
    const wv = values(size(yShape), seed++);
    const { cpu, wasm } = await onCpuAndWasm(() =>
      tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, c.pad), tf.tensor(wv, yShape))))([
        tf.tensor4d(xv, c.x),
        tf.tensor4d(fv, c.f),
      ]),
    );
    const dx = relMaxDiff([cpu[0]], [wasm[0]]);
    const df = relMaxDiff([cpu[1]], [wasm[1]]);
    t.true(dx <= 1e-4, `input grad x=${c.x} f=${c.f} strides=${c.strides} pad=${JSON.stringify(c.pad)}: rel diff ${dx}`);
    t.true(df <= 1e-4, `filter grad x=${c.x} f=${c.f} strides=${c.strides} pad=${JSON.stringify(c.pad)}: rel diff ${df}`);
  }
});

/**
 * Gradients of sum(conv2d(x, f, 1, 'same') * dy) with an odd square filter, by plain loops in
 * float64 (the cpu backend's conv backprop kernels take tens of seconds at the size used below).
 */
function loopConvGrads(xv: Float32Array, xs: number[], fv: Float32Array, fs: number[], dyv: Float32Array): [Float64Array, Float64Array] {
  const [n, h, w, ci] = xs;
  const [k, , , co] = fs;
  const pad = (k - 1) / 2;
  const dx = new Float64Array(xv.length);
  const dW = new Float64Array(fv.length);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < h; oy++) {
      for (let ox = 0; ox < w; ox++) {
        const g = ((b * h + oy) * w + ox) * co;
        for (let fh = 0; fh < k; fh++) {
          const iy = oy + fh - pad;
          if (iy < 0 || iy >= h) continue;
          for (let fw = 0; fw < k; fw++) {
            const ix = ox + fw - pad;
            if (ix < 0 || ix >= w) continue;
            const xi = ((b * h + iy) * w + ix) * ci;
            const wi = (fh * k + fw) * ci * co;
            for (let c = 0; c < ci; c++) {
              const xval = xv[xi + c];
              let acc = 0;
              for (let o = 0; o < co; o++) {
                dW[wi + c * co + o] += xval * dyv[g + o];
                acc += fv[wi + c * co + o] * dyv[g + o];
              }
              dx[xi + c] += acc;
            }
          }
        }
      }
    }
  }
  return [dx, dW];
}

test.serial('conv backprop on batches larger than the im2col limit (chunked) matches a plain-loop reference', async t => {
  applyWasmFixes();
  // 8 images x 64x64 positions x 576 patch values > 2^24: the batch is split into chunks.
  const xs: [number, number, number, number] = [8, 64, 64, 64];
  const fs: [number, number, number, number] = [3, 3, 64, 2];
  const ys = [8, 64, 64, 2];
  const xv = values(size(xs), 901);
  const fv = values(size(fs), 902);
  const dyv = values(size(ys), 903);
  const refData = loopConvGrads(xv, xs, fv, fs, dyv).map(r => Float32Array.from(r));
  await tf.setBackend('wasm');
  const got = tf.tidy(() =>
    tf
      .grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), tf.tensor(dyv, ys))))([
        tf.tensor4d(xv, xs),
        tf.tensor4d(fv, fs),
      ])
      .map(g => g.dataSync() as Float32Array),
  );
  t.true(relMaxDiff([refData[0]], [got[0]]) <= 1e-4, 'input gradient');
  t.true(relMaxDiff([refData[1]], [got[1]]) <= 1e-4, 'filter gradient');
});

test.serial('Conv2DBackpropFilter is missing on stock wasm (the bug this fixes)', async t => {
  removeWasmFixes();
  try {
    await tf.setBackend('wasm');
    const err = t.throws(() =>
      tf.tidy(() =>
        tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(rnd([1, 4, 4, 1], 1) as tf.Tensor4D, f as tf.Tensor4D, 1, 'same')))(rnd([2, 2, 1, 1], 2) as tf.Tensor4D),
      ),
    );
    t.regex(err!.message, /Conv2DBackpropFilter/);
  } finally {
    applyWasmFixes();
  }
});

/** Inputs with all-negative windows, ties and zeros, NHWC [1, 6, 6, 2]. */
function poolInput(): { v: Float32Array; shape: [number, number, number, number] } {
  const shape: [number, number, number, number] = [2, 6, 6, 2];
  const v = values(size(shape), 300, -3, 1); // mostly negative
  // Channel 0 of image 0: all-negative everywhere. Channel 1 of image 0: many ties.
  for (let i = 0; i < 36; i++) {
    v[i * 2] = -1 - ((i * 7) % 11) / 3;
    v[i * 2 + 1] = i % 3 === 0 ? -0.5 : -2;
  }
  // Image 1, channel 0: exact ties at 0 inside windows.
  for (let i = 0; i < 36; i += 4) v[72 + i * 2] = 0;
  return { v, shape };
}

test.serial('MaxPoolGrad matches cpu, including all-negative windows and ties', async t => {
  applyWasmFixes();
  const { v, shape } = poolInput();
  const configs: { f: number | [number, number]; s: number | [number, number]; pad: 'same' | 'valid' }[] = [
    { f: 2, s: 2, pad: 'valid' },
    { f: 3, s: 1, pad: 'same' }, // overlapping windows
    { f: 3, s: 2, pad: 'same' },
    { f: [2, 3], s: [1, 2], pad: 'valid' },
    { f: 4, s: 3, pad: 'same' },
  ];
  let seed = 400;
  for (const c of configs) {
    const outShape = tf.tidy(() => tf.maxPool(tf.zeros(shape) as tf.Tensor4D, c.f, c.s, c.pad).shape);
    const wv = values(size(outShape), seed++);
    const { cpu, wasm } = await onCpuAndWasm(() =>
      tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(x as tf.Tensor4D, c.f, c.s, c.pad), tf.tensor(wv, outShape))))(tf.tensor4d(v, shape)),
    );
    const d = relMaxDiff(cpu, wasm);
    t.true(d <= 1e-6, `filter=${c.f} strides=${c.s} pad=${c.pad}: rel diff ${d}`);
  }
  // leakyRelu before max-pool, the case that breaks stock wasm.
  const { cpu, wasm } = await onCpuAndWasm(() =>
    tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.maxPool(tf.leakyRelu(x as tf.Tensor4D, 0.2), 2, 2, 'valid'))))(tf.tensor4d(v, shape)),
  );
  t.true(relMaxDiff(cpu, wasm) <= 1e-6);
});

test.serial('stock wasm MaxPoolGrad is wrong on an all-negative window (the bug this fixes)', async t => {
  const x = [-3, -1, -2, -5, -4, -6, -0.5, -7, 1, 2, -1, -1, 3, 0, -2, -9];
  const f = () =>
    tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, 2, 2, 'valid'), tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]))))(
      tf.tensor4d(x, [1, 4, 4, 1]),
    );
  removeWasmFixes();
  let stock: { cpu: Float32Array[]; wasm: Float32Array[] };
  try {
    stock = await onCpuAndWasm(f);
  } finally {
    applyWasmFixes();
  }
  const fixed = await onCpuAndWasm(f);
  t.deepEqual(Array.from(fixed.cpu[0]), [0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 3, 0, 0, 0]);
  t.deepEqual(Array.from(fixed.wasm[0]), Array.from(fixed.cpu[0]));
  t.notDeepEqual(Array.from(stock.wasm[0]), Array.from(stock.cpu[0]), 'stock tfjs-backend-wasm 4.22 MaxPoolGrad was expected to be wrong here');
});

test.serial('Slice matches cpu for every rank 1–5, contiguous or not, float32, int32 and bool, empty slices included', async t => {
  applyWasmFixes();
  const cases: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
    { shape: [10], begin: [3], size: [4] },
    { shape: [7, 5], begin: [2, 0], size: [3, 5] }, // whole rows: contiguous
    { shape: [7, 5], begin: [1, 1], size: [4, 3] },
    { shape: [4, 6, 5], begin: [1, 2, 1], size: [2, 3, 4] },
    { shape: [3, 4, 5, 6], begin: [0, 1, 2, 3], size: [3, 2, 2, 3] },
    { shape: [2, 3, 4, 5, 3], begin: [1, 0, 1, 2, 1], size: [1, 3, 2, 2, 2] },
    { shape: [6, 4], begin: [2, 1], size: [0, 3] },
    { shape: [6, 4], begin: [0, 0], size: [-1, -1] },
  ];
  for (const [k, c] of cases.entries()) {
    for (const dtype of ['float32', 'int32', 'bool'] as const) {
      const make = () => {
        const v = values(size(c.shape), 900 + k, -5, 5);
        return tf.tensor(dtype === 'float32' ? v : Int32Array.from(v, x => (dtype === 'bool' ? Number(x > 0) : Math.round(x))), c.shape, dtype);
      };
      const got = await onCpuAndWasm(() => tf.cast(tf.slice(make(), c.begin, c.size), 'float32'));
      t.deepEqual(Array.from(got.wasm[0]), Array.from(got.cpu[0]), `case ${k} ${dtype}`);
    }
  }
});

test.serial('stock wasm Slice copies its whole input off the heap for every slice; the fixed one makes no download (the cost this fixes)', async t => {
  await tf.setBackend('wasm');
  const x = rnd([400, 784], 11);
  const backend = tf.backend() as unknown as { readSync(id: object): unknown };
  const downloads = (f: () => void) => {
    const original = backend.readSync;
    let n = 0;
    backend.readSync = function (this: unknown, id: object) {
      n++;
      return original.call(this, id);
    };
    try {
      f();
    } finally {
      backend.readSync = original;
    }
    return n;
  };
  // model.evaluate / predict slice their inputs into batches like this.
  const batches = () => tf.tidy(() => void [0, 32, 64, 96].map(b => tf.slice(x, [b, 0], [32, 784])));
  removeWasmFixes();
  let stock: number;
  try {
    stock = downloads(batches);
  } finally {
    applyWasmFixes();
  }
  t.is(stock, 4, 'stock tfjs-backend-wasm 4.22 was expected to read the whole input once per slice');
  t.is(downloads(batches), 0);
  x.dispose();
});

function convNet(): tfl.Sequential {
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [12, 12, 2], filters: 4, kernelSize: 3, padding: 'same' }),
      tfl.layers.leakyReLU({ alpha: 0.2 }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 6, kernelSize: 3, strides: 1, padding: 'valid', activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  m.setWeights(m.getWeights().map((w, i) => rnd(w.shape, 500 + i, -0.5, 0.5)));
  m.compile({ optimizer: tf.train.sgd(0.5), loss: 'categoricalCrossentropy' });
  return m;
}

async function trainOn(backend: string): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const model = convNet();
  const n = 10;
  const x = rnd([n, 12, 12, 2], 600);
  const labels = Array.from({ length: n }, (_, i) => (i * 7) % 3);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
  await model.fit(x, y, { epochs: 3, batchSize: n, shuffle: false, verbose: 0 });
  const weights = model.getWeights().map(w => w.dataSync() as Float32Array);
  tf.dispose([x, y]);
  model.dispose();
  return weights;
}

test.serial('a conv-pool-conv-pool-dense model trains on wasm with the fixes like on cpu', async t => {
  applyWasmFixes();
  const cpu = await trainOn('cpu');
  const wasm = await trainOn('wasm');
  const initial = convNet()
    .getWeights()
    .map(w => w.dataSync() as Float32Array);
  t.true(relMaxDiff(initial, cpu) > 1e-3, 'training should move the weights');
  let worst = 0;
  cpu.forEach((c, i) => {
    for (let j = 0; j < c.length; j++) worst = Math.max(worst, Math.abs(c[j] - wasm[i][j]));
  });
  t.true(worst <= 1e-4, `max abs weight diff after 3 steps: ${worst}`);
});

test.serial('fixed kernels leak no tensors and no wasm buffers', async t => {
  applyWasmFixes();
  await tf.setBackend('wasm');
  const backend = tf.backend() as unknown as { numDataIds(): number };
  const a = rnd([3, 20, 30], 1);
  const b = rnd([3, 40, 20], 2);
  const bias = rnd([40], 3);
  const x = rnd([8, 64, 64, 64], 4) as tf.Tensor4D; // im2col of 8 x 4096 x 576 > 2^24 elements: chunked
  const f = rnd([3, 3, 64, 2], 5) as tf.Tensor4D;
  const p = rnd([2, 9, 9, 3], 6, -2, 0) as tf.Tensor4D;
  const round = () => {
    tf.tidy(() => {
      tf.matMul(a, b, true, true).dataSync();
      tf.matMul(tf.slice(a, [0, 0, 0], [3, 20, 1]), tf.slice(a, [0, 0, 0], [3, 20, 4]), true, false).dataSync(); // size-1 transpose: no copy
      tf.fused.matMul({ a: a as tf.Tensor3D, b: b as tf.Tensor3D, transposeA: true, transposeB: true, bias, activation: 'relu' }).dataSync();
      tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.slice(x, [0, 0, 0, 0], [2, 16, 16, 3]), w as tf.Tensor4D, 2, 'same')))(
        rnd([3, 3, 3, 4], 7) as tf.Tensor4D,
      ).dataSync();
      tf.grads((v: tf.Tensor, w: tf.Tensor) => tf.sum(tf.conv2d(v as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')))([x, f]).forEach(g => g.dataSync());
      tf.grad((v: tf.Tensor) => tf.sum(tf.maxPool(v as tf.Tensor4D, 3, 2, 'same')))(p).dataSync();
    });
  };
  round(); // warm-up
  const tensors = tf.memory().numTensors;
  const ids = backend.numDataIds();
  for (let i = 0; i < 3; i++) round();
  t.is(tf.memory().numTensors, tensors);
  t.is(backend.numDataIds(), ids, 'wasm data ids (heap buffers) must not grow');
  tf.dispose([a, b, bias, x, f, p]);
});
