/**
 * Opt-in fixes for problems of the tfjs 4.22 wasm backend (`@tensorflow/tfjs-backend-wasm`) that
 * make training slow, impossible or wrong:
 *
 * - **matmul**: `BatchMatMul` (and `_FusedMatMul`) run 10–25× slower when `transposeA` or
 *   `transposeB` is set, and backprop through every dense layer sets them. The fix materializes
 *   the transpose with wasm's own `Transpose` kernel, then runs the original kernel untransposed.
 * - **conv2dBackpropFilter**: `Conv2DBackpropFilter` is not registered on wasm
 *   (tensorflow/tfjs#8474), so no Conv2D model can train there. The fix adds an im2col
 *   implementation: patches are gathered in JS straight into the wasm heap and multiplied with the
 *   output gradient by wasm's `BatchMatMul` kernel.
 * - **conv2dBackpropInput**: wasm's own `Conv2DBackpropInput` is correct but 5–10× slower than the
 *   forward convolution for layers with many channels (64×14×14×32→64: 300 ms against 26 ms). The
 *   fix replaces it with one wasm matmul plus a col2im scatter in JS.
 * - **maxPoolGrad**: wasm's `MaxPoolGrad` sends the gradient to the wrong cell when every value of
 *   a pooling window is negative (e.g. leakyRelu before max-pool). The fix routes each window's
 *   gradient to its argmax, first maximum in row-major order on ties, like the cpu backend.
 * - **slice**: wasm's `Slice` copies the whole input off the heap before taking each slice, so row
 *   batches sliced from a large tensor cost the tensor, not the batch (250 batches of 32 rows from
 *   8000×784: 5 s). The fix copies only the slice, from a heap view.
 *
 * Nothing happens on import; call {@link applyWasmFixes}.
 * @packageDocumentation
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util, slice_util, util } from '@tensorflow/tfjs-core';

type TensorInfo = tf.TensorInfo;
type KernelConfig = tf.KernelConfig;
type KernelFunc = tf.KernelFunc;
type NamedAttrMap = tf.NamedAttrMap;
type NamedTensorInfoMap = Parameters<KernelFunc>[0]['inputs'];

/** The fixes {@link applyWasmFixes} can install. */
export interface WasmFixOptions {
  /** Fast transposed `BatchMatMul` and `_FusedMatMul`. Default true. */
  matmul?: boolean;
  /** Add the missing `Conv2DBackpropFilter` kernel. Default true. */
  conv2dBackpropFilter?: boolean;
  /** Replace the slow `Conv2DBackpropInput` kernel with a matmul + col2im one. Default true. */
  conv2dBackpropInput?: boolean;
  /** Replace `MaxPoolGrad` with one that routes gradients to the argmax. Default true. */
  maxPoolGrad?: boolean;
  /** Replace `Slice` with one that copies only the slice (stock wasm copies the whole input first). Default true. */
  slice?: boolean;
}

/** What {@link applyWasmFixes} did. Kernel names are tfjs kernel names such as `'BatchMatMul'`. */
export interface WasmFixReport {
  /** Whether the wasm backend (or any wasm kernel) was registered with tfjs-core. */
  wasmRegistered: boolean;
  /** Kernels this call replaced or added. */
  patched: string[];
  /** Requested kernels that an earlier call had already patched (left as they were). */
  alreadyPatched: string[];
  /** Requested fixes that were not installed, each with its reason. */
  skipped: { kernel: string; reason: string }[];
  /** Every kernel currently patched by this module, after this call. */
  active: string[];
  /** One human-readable line summarizing the above. */
  summary: string;
}

const WASM = 'wasm';

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): backend_util.TypedArray;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** A patched kernel: what was registered before (null if nothing) and what we registered. */
interface Patch {
  original: KernelConfig | null;
  replacement: KernelConfig;
}

const patches = new Map<string, Patch>();

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function requireKernel(name: string): KernelConfig {
  const k = tf.getKernel(name, WASM) as KernelConfig | undefined;
  if (k == null) throw new Error(`wasm_fixes: kernel '${name}' is not registered for the wasm backend`);
  return k;
}

function runKernel(name: string, inputs: NamedTensorInfoMap, backend: WasmBackend, attrs: NamedAttrMap): TensorInfo {
  const out = requireKernel(name).kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm_fixes: kernel '${name}' returned several outputs`);
  return out;
}

/** Float32 view of a tensor's data on the wasm heap. Take views only after the last allocation: a heap growth detaches them. */
function heapF32(backend: WasmBackend, info: TensorInfo): Float32Array {
  const v = backend.typedArrayFromHeap(info);
  if (!(v instanceof Float32Array)) throw new Error(`wasm_fixes: expected float32 data, got ${info.dtype}`);
  return v;
}

/**
 * The transpose of the last two axes of `x`, materialized. When one of those axes has size 1 the
 * memory layout is unchanged, so the same data is returned with the swapped shape (no copy).
 */
function transposeLastTwo(x: TensorInfo, backend: WasmBackend, temps: TensorInfo[]): TensorInfo {
  const r = x.shape.length;
  const rows = x.shape[r - 2];
  const cols = x.shape[r - 1];
  const shape = [...x.shape.slice(0, -2), cols, rows];
  if (rows === 1 || cols === 1) return { dataId: x.dataId, shape, dtype: x.dtype };
  const perm = [...Array(r - 2).keys(), r - 1, r - 2];
  const t = runKernel('Transpose', { x }, backend, { perm });
  temps.push(t);
  return t;
}

// ---------------------------------------------------------------------------------------------
// (a) matmul: transpose first, then the original kernel without transpose flags
// ---------------------------------------------------------------------------------------------

function untransposedMatMul(original: KernelConfig): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const a = inputs.a;
    const b = inputs.b;
    const transposeA = Boolean(attrs?.transposeA);
    const transposeB = Boolean(attrs?.transposeB);
    if ((!transposeA && !transposeB) || a == null || b == null || a.shape.length < 2 || b.shape.length < 2) {
      return original.kernelFunc({ inputs, backend, attrs });
    }
    const wb = backend as WasmBackend;
    const temps: TensorInfo[] = [];
    try {
      const a2 = transposeA ? transposeLastTwo(a, wb, temps) : a;
      const b2 = transposeB ? transposeLastTwo(b, wb, temps) : b;
      return original.kernelFunc({
        inputs: { ...inputs, a: a2, b: b2 },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const t of temps) wb.disposeData(t.dataId);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// (b) Conv2DBackpropFilter: im2col in JS, product in wasm
// ---------------------------------------------------------------------------------------------

/** Upper bound on the im2col buffer (float32 elements, 64 MB); larger batches are done in chunks. */
const MAX_COL_ELEMENTS = 1 << 24;
/** Output positions gathered per block before they are written transposed into the im2col buffer. */
const BLOCK = 128;

/** Attributes both conv backprop kernels receive (tfjs-core's Conv2DBackprop{Filter,Input}Attrs). */
type ConvBackpropAttrs = {
  strides: number | [number, number];
  pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape?: [number, number, number, number];
  inputShape?: [number, number, number, number];
};

/** Checks dtypes and layout and computes the conv geometry both backprop kernels share. */
function convBackpropInfo(
  kernel: string,
  a: ConvBackpropAttrs,
  dtypes: string[],
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
) {
  if (dtypes.some(d => d !== 'float32')) throw new Error(`${kernel} on wasm supports float32 only, got ${dtypes.join(' and ')}`);
  const dataFormat = backend_util.convertConv2DDataFormat(a.dataFormat ?? 'NHWC');
  if (dataFormat !== 'channelsLast') {
    throw new Error(`wasm backend ${kernel} does not support dataFormat:'${dataFormat}'. Please use 'channelsLast'.`);
  }
  return backend_util.computeConv2DInfo(xShape, filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, dataFormat);
}

function conv2DBackpropFilter({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const wb = backend as WasmBackend;
  const x = inputs.x;
  const dy = inputs.dy;
  if (x == null || dy == null) throw new Error('Conv2DBackpropFilter: inputs x and dy are required');
  const a = (attrs ?? {}) as ConvBackpropAttrs;
  const info = convBackpropInfo('Conv2DBackpropFilter', a, [x.dtype, dy.dtype], x.shape as [number, number, number, number], a.filterShape!);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const patchLen = filterHeight * filterWidth * inChannels; // K: one im2col column per filter tap and input channel
  const perImage = outHeight * outWidth;
  const filterShape = [filterHeight, filterWidth, inChannels, outChannels];

  if (patchLen === 0 || outChannels === 0 || batchSize * perImage === 0) {
    const out = wb.makeOutput(filterShape, 'float32');
    heapF32(wb, out).fill(0);
    return out;
  }

  // dW[K, CO] = colsT[K, N] @ dy[N, CO], where colsT[k, m] is the input under filter tap k for output
  // position m = (b, oy, ox). This orientation keeps the matrix that xnnpack packs (the right-hand
  // one) small. colsT is built in blocks of BLOCK positions: patch rows are gathered with contiguous
  // copies into a small buffer, then written transposed. Batches whose colsT would exceed
  // MAX_COL_ELEMENTS are done in chunks of images and summed.
  const chunk = Math.max(1, Math.min(batchSize, Math.floor(MAX_COL_ELEMENTS / (patchLen * perImage))));
  const xImage = inHeight * inWidth * inChannels;
  const xRow = inWidth * inChannels;
  const tapRow = filterWidth * inChannels;
  const block = new Float32Array(BLOCK * patchLen);

  let acc: TensorInfo | null = null; // [K, CO]
  try {
    for (let b0 = 0; b0 < batchSize; b0 += chunk) {
      const b1 = Math.min(batchSize, b0 + chunk);
      const n = (b1 - b0) * perImage;
      const temps: TensorInfo[] = [];
      try {
        let dyRows: TensorInfo; // dy of this chunk as [N, CO]
        if (b0 === 0 && b1 === batchSize) {
          dyRows = { dataId: dy.dataId, shape: [n, outChannels], dtype: 'float32' };
        } else {
          dyRows = wb.makeOutput([n, outChannels], 'float32');
          temps.push(dyRows);
          heapF32(wb, dyRows).set(heapF32(wb, dy).subarray(b0 * perImage * outChannels, b1 * perImage * outChannels));
        }
        const colsT = wb.makeOutput([patchLen, n], 'float32');
        temps.push(colsT);
        const xv = heapF32(wb, x); // views only after the last allocation
        const cv = heapF32(wb, colsT);
        let m0 = 0; // first position of the current block
        let j = 0; // positions gathered in the block
        const flush = () => {
          for (let k = 0; k < patchLen; k++) {
            const dst = k * n + m0;
            for (let i = 0, src = k; i < j; i++, src += patchLen) cv[dst + i] = block[src];
          }
          m0 += j;
          j = 0;
        };
        for (let b = b0; b < b1; b++) {
          const xb = b * xImage;
          for (let oy = 0; oy < outHeight; oy++) {
            const iy0 = oy * strideHeight - padTop;
            for (let ox = 0; ox < outWidth; ox++) {
              const ix0 = ox * strideWidth - padLeft;
              const fwLo = Math.max(0, -ix0);
              const fwHi = Math.min(filterWidth, inWidth - ix0);
              let p = j * patchLen;
              for (let fh = 0; fh < filterHeight; fh++, p += tapRow) {
                const iy = iy0 + fh;
                if (iy < 0 || iy >= inHeight || fwLo >= fwHi) {
                  block.fill(0, p, p + tapRow);
                  continue;
                }
                if (fwLo > 0) block.fill(0, p, p + fwLo * inChannels);
                const src = xb + iy * xRow + (ix0 + fwLo) * inChannels;
                const len = (fwHi - fwLo) * inChannels;
                const dst = p + fwLo * inChannels;
                if (len >= 16) {
                  block.set(xv.subarray(src, src + len), dst);
                } else {
                  for (let i = 0; i < len; i++) block[dst + i] = xv[src + i];
                }
                if (fwHi < filterWidth) block.fill(0, p + fwHi * inChannels, p + tapRow);
              }
              if (++j === BLOCK) flush();
            }
          }
        }
        if (j > 0) flush();
        const part = runKernel('BatchMatMul', { a: colsT, b: dyRows }, wb, { transposeA: false, transposeB: false });
        if (acc == null) {
          acc = part;
        } else {
          const av = heapF32(wb, acc);
          const pv = heapF32(wb, part);
          for (let i = 0; i < av.length; i++) av[i] += pv[i];
          wb.disposeData(part.dataId);
        }
      } finally {
        for (const t of temps) wb.disposeData(t.dataId);
      }
    }
  } catch (e) {
    if (acc != null) wb.disposeData(acc.dataId);
    throw e;
  }
  const result = acc as TensorInfo;
  return { dataId: result.dataId, shape: filterShape, dtype: 'float32' };
}

// ---------------------------------------------------------------------------------------------
// (b') Conv2DBackpropInput: matmul in wasm, col2im in JS
// ---------------------------------------------------------------------------------------------

function conv2DBackpropInput({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const wb = backend as WasmBackend;
  const dy = inputs.dy;
  const filter = inputs.filter;
  if (dy == null || filter == null) throw new Error('Conv2DBackpropInput: inputs dy and filter are required');
  const a = (attrs ?? {}) as ConvBackpropAttrs;
  const info = convBackpropInfo('Conv2DBackpropInput', a, [dy.dtype, filter.dtype], a.inputShape!, filter.shape as [number, number, number, number]);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const patchLen = filterHeight * filterWidth * inChannels;
  const perImage = outHeight * outWidth;

  const dx = wb.makeOutput(info.inShape, 'float32');
  heapF32(wb, dx).fill(0);
  if (patchLen === 0 || outChannels === 0 || batchSize * perImage === 0) return dx;

  // dCols[N, K] = dy[N, CO] @ W^T[CO, K], then each row of dCols is added back onto the input
  // cells its patch came from (col2im). Chunks of images bound the size of dCols.
  const chunk = Math.max(1, Math.min(batchSize, Math.floor(MAX_COL_ELEMENTS / (patchLen * perImage))));
  const xImage = inHeight * inWidth * inChannels;
  const xRow = inWidth * inChannels;
  const tapRow = filterWidth * inChannels;
  const temps: TensorInfo[] = [];
  try {
    const wT = runKernel('Transpose', { x: { dataId: filter.dataId, shape: [patchLen, outChannels], dtype: 'float32' } }, wb, { perm: [1, 0] });
    temps.push(wT);
    for (let b0 = 0; b0 < batchSize; b0 += chunk) {
      const b1 = Math.min(batchSize, b0 + chunk);
      const n = (b1 - b0) * perImage;
      const chunkTemps: TensorInfo[] = [];
      try {
        let dyRows: TensorInfo;
        if (b0 === 0 && b1 === batchSize) {
          dyRows = { dataId: dy.dataId, shape: [n, outChannels], dtype: 'float32' };
        } else {
          dyRows = wb.makeOutput([n, outChannels], 'float32');
          chunkTemps.push(dyRows);
          heapF32(wb, dyRows).set(heapF32(wb, dy).subarray(b0 * perImage * outChannels, b1 * perImage * outChannels));
        }
        const dCols = runKernel('BatchMatMul', { a: dyRows, b: wT }, wb, { transposeA: false, transposeB: false });
        chunkTemps.push(dCols);
        const dxv = heapF32(wb, dx); // views only after the last allocation
        const cv = heapF32(wb, dCols);
        let p = 0;
        for (let b = b0; b < b1; b++) {
          const xb = b * xImage;
          for (let oy = 0; oy < outHeight; oy++) {
            const iy0 = oy * strideHeight - padTop;
            for (let ox = 0; ox < outWidth; ox++) {
              const ix0 = ox * strideWidth - padLeft;
              const fwLo = Math.max(0, -ix0);
              const fwHi = Math.min(filterWidth, inWidth - ix0);
              for (let fh = 0; fh < filterHeight; fh++, p += tapRow) {
                const iy = iy0 + fh;
                if (iy < 0 || iy >= inHeight || fwLo >= fwHi) continue;
                const dst = xb + iy * xRow + (ix0 + fwLo) * inChannels;
                const src = p + fwLo * inChannels;
                const len = (fwHi - fwLo) * inChannels;
                for (let i = 0; i < len; i++) dxv[dst + i] += cv[src + i];
              }
            }
          }
        }
      } finally {
        for (const t of chunkTemps) wb.disposeData(t.dataId);
      }
    }
  } catch (e) {
    wb.disposeData(dx.dataId);
    throw e;
  } finally {
    for (const t of temps) wb.disposeData(t.dataId);
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// (c) MaxPoolGrad: gradient to the argmax of each window
// ---------------------------------------------------------------------------------------------

function maxPoolGrad({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const wb = backend as WasmBackend;
  const dy = inputs.dy;
  const x = inputs.input;
  if (dy == null || x == null) throw new Error('MaxPoolGrad: inputs dy and input are required');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`MaxPoolGrad on wasm supports float32 only, got ${x.dtype} and ${dy.dtype}`);
  }
  const a = (attrs ?? {}) as {
    filterSize: number | [number, number];
    strides: number | [number, number];
    pad: 'same' | 'valid' | number | backend_util.ExplicitPadding;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = backend_util.computePool2DInfo(x.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const { batchSize, inHeight, inWidth, inChannels: channels, outHeight, outWidth, strideHeight, strideWidth } = info;
  const fH = info.effectiveFilterHeight;
  const fW = info.effectiveFilterWidth;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  util.assert(
    util.arraysEqual(dy.shape, [batchSize, outHeight, outWidth, channels]),
    () => `MaxPoolGrad: dy shape ${dy.shape} does not match the pooled shape ${[batchSize, outHeight, outWidth, channels]}`,
  );

  const dx = wb.makeOutput(x.shape, 'float32');
  const xv = heapF32(wb, x);
  const dyv = heapF32(wb, dy);
  const dxv = heapF32(wb, dx);
  dxv.fill(0);
  const best = new Float32Array(channels);
  const bestAt = new Int32Array(channels);
  let g = 0; // index into dy, in NHWC order
  for (let b = 0; b < batchSize; b++) {
    const xb = b * inHeight * inWidth * channels;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - padTop;
      const yLo = Math.max(0, y0);
      const yHi = Math.min(inHeight, y0 + fH);
      for (let ox = 0; ox < outWidth; ox++, g += channels) {
        const x0 = ox * strideWidth - padLeft;
        const xLo = Math.max(0, x0);
        const xHi = Math.min(inWidth, x0 + fW);
        best.fill(-Infinity);
        bestAt.fill(-1);
        // Row-major scan with a strict '>': the first maximum wins ties, as on the cpu backend.
        for (let iy = yLo; iy < yHi; iy++) {
          for (let ix = xLo; ix < xHi; ix++) {
            const base = xb + (iy * inWidth + ix) * channels;
            for (let c = 0; c < channels; c++) {
              const v = xv[base + c];
              if (v > best[c]) {
                best[c] = v;
                bestAt[c] = base + c;
              }
            }
          }
        }
        for (let c = 0; c < channels; c++) {
          const at = bestAt[c];
          if (at >= 0) dxv[at] += dyv[g + c];
        }
      }
    }
  }
  return dx;
}

// ---------------------------------------------------------------------------------------------
// (d) Slice: copy only the slice, straight from the heap
// ---------------------------------------------------------------------------------------------

/**
 * Stock wasm `Slice` first copies the WHOLE input off the heap (`readSync`) and then the slice out of
 * that copy, so every mini-batch that `model.evaluate` / `model.predict` slices from a large array
 * costs a copy of the entire array (a 2,000-row batch of 32 from 8,000×784 inputs copies 25 MB). This
 * kernel allocates the output first, then reads the input through a heap view (taken after the
 * allocation, which may grow the heap) and copies only the slice: one run per contiguous stretch of
 * the last axis. Strings go to the original kernel.
 */
function sliceKernel(original: KernelConfig): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    if (x == null || x.dtype === 'string') return original.kernelFunc({ inputs, backend, attrs });
    const [begin, size] = slice_util.parseSliceParams(x, attrs?.begin as number[], attrs?.size as number[]);
    const wb = backend as WasmBackend;
    const out = wb.makeOutput(size, x.dtype);
    const total = util.sizeFromShape(size);
    if (total === 0) return out;
    const from = wb.typedArrayFromHeap(x);
    const to = wb.typedArrayFromHeap(out);
    const strides = util.computeStrides(x.shape);
    if (slice_util.isSliceContinous(x.shape, begin, size)) {
      const offset = slice_util.computeFlatOffset(begin, strides);
      to.set(from.subarray(offset, offset + total));
      return out;
    }
    // Walk the output's leading indices (all axes but the last) like an odometer; copy one run each.
    const rank = size.length;
    const run = size[rank - 1];
    const index = new Array<number>(rank - 1).fill(0);
    for (let written = 0; written < total; written += run) {
      let offset = begin[rank - 1];
      for (let d = 0; d < rank - 1; d++) offset += (begin[d] + index[d]) * strides[d];
      to.set(from.subarray(offset, offset + run), written);
      for (let d = rank - 2; d >= 0; d--) {
        if (++index[d] < size[d]) break;
        index[d] = 0;
      }
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------

function wasmRegistered(): boolean {
  return tf.findBackendFactory(WASM) != null || tf.getKernelsForBackend(WASM).length > 0;
}

function install(name: string, original: KernelConfig | null, kernelFunc: KernelFunc): void {
  const replacement: KernelConfig = {
    kernelName: name,
    backendName: WASM,
    kernelFunc,
    // Keep the original's setup (it binds the wasm function the kernel calls) and disposal.
    ...(original?.setupFunc ? { setupFunc: original.setupFunc } : {}),
    ...(original?.disposeFunc ? { disposeFunc: original.disposeFunc } : {}),
  };
  if (original != null) tf.unregisterKernel(name, WASM);
  tf.registerKernel(replacement);
  patches.set(name, { original, replacement });
}

/**
 * Installs the wasm kernel fixes (all of them by default) in tfjs-core's kernel registry.
 *
 * Call it after importing `@tensorflow/tfjs-backend-wasm`, before or after `tf.setBackend('wasm')`;
 * it takes effect for the next kernel call. It is idempotent: kernels patched by an earlier call are
 * left alone (reported in `alreadyPatched`), and options only choose what to add (use
 * {@link removeWasmFixes} to undo). If the wasm backend is not registered it changes nothing and
 * says so in the report. `Conv2DBackpropFilter` is only added when wasm has none of its own.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core';
 * import '@tensorflow/tfjs-backend-wasm';
 * import { applyWasmFixes } from 'tfjs-teleport/wasm-fixes';
 *
 * const report = applyWasmFixes();   // or applyWasmFixes({ maxPoolGrad: false })
 * console.log(report.summary);
 * await tf.setBackend('wasm');
 * ```
 */
export function applyWasmFixes(options: WasmFixOptions = {}): WasmFixReport {
  const { matmul = true, conv2dBackpropFilter = true, conv2dBackpropInput = true, maxPoolGrad: fixMaxPool = true, slice = true } = options;
  const patched: string[] = [];
  const alreadyPatched: string[] = [];
  const skipped: { kernel: string; reason: string }[] = [];

  if (!wasmRegistered()) {
    return {
      wasmRegistered: false,
      patched,
      alreadyPatched,
      skipped,
      active: [...patches.keys()],
      summary: "wasm backend is not registered (import '@tensorflow/tfjs-backend-wasm' first): no kernels patched",
    };
  }

  const wanted: { name: string; make: (original: KernelConfig | null) => KernelFunc | string }[] = [];
  if (matmul) {
    for (const name of ['BatchMatMul', '_FusedMatMul']) {
      wanted.push({ name, make: orig => (orig == null ? `wasm has no ${name} kernel to speed up` : untransposedMatMul(orig)) });
    }
  }
  if (conv2dBackpropFilter) {
    wanted.push({
      name: 'Conv2DBackpropFilter',
      make: orig => (orig == null ? conv2DBackpropFilter : 'wasm already has a Conv2DBackpropFilter kernel; left as it is'),
    });
  }
  if (conv2dBackpropInput) wanted.push({ name: 'Conv2DBackpropInput', make: () => conv2DBackpropInput });
  if (fixMaxPool) wanted.push({ name: 'MaxPoolGrad', make: () => maxPoolGrad });
  if (slice) wanted.push({ name: 'Slice', make: orig => (orig == null ? 'wasm has no Slice kernel to replace' : sliceKernel(orig)) });

  for (const { name, make } of wanted) {
    const prev = patches.get(name);
    if (prev != null) {
      if (tf.getKernel(name, WASM) === prev.replacement) {
        alreadyPatched.push(name);
        continue;
      }
      // Someone re-registered this kernel behind our back: patch whatever is registered now.
      patches.delete(name);
    }
    const original = (tf.getKernel(name, WASM) as KernelConfig | undefined) ?? null;
    const fn = make(original);
    if (typeof fn === 'string') {
      skipped.push({ kernel: name, reason: fn });
      continue;
    }
    install(name, original, fn);
    patched.push(name);
  }

  const parts = [
    patched.length ? `patched ${patched.join(', ')}` : 'nothing new patched',
    alreadyPatched.length ? `already patched ${alreadyPatched.join(', ')}` : '',
    skipped.length ? `skipped ${skipped.map(s => `${s.kernel} (${s.reason})`).join(', ')}` : '',
  ].filter(s => s !== '');
  return { wasmRegistered: true, patched, alreadyPatched, skipped, active: [...patches.keys()], summary: `wasm fixes: ${parts.join('; ')}` };
}

/**
 * Undoes {@link applyWasmFixes}: re-registers the original wasm kernels it replaced and unregisters
 * the ones it added. A kernel that someone else re-registered after the fix is left untouched.
 * Safe to call when no fixes are applied.
 *
 * @example
 * ```ts
 * import '@tensorflow/tfjs-backend-wasm';
 * import { applyWasmFixes, removeWasmFixes } from 'tfjs-teleport/wasm-fixes';
 *
 * applyWasmFixes();
 * await tf.setBackend('wasm');
 * // ... train ...
 * removeWasmFixes(); // stock tfjs-backend-wasm kernels again
 * ```
 */
export function removeWasmFixes(): void {
  for (const [name, { original, replacement }] of patches) {
    const current = tf.getKernel(name, WASM) as KernelConfig | undefined;
    if (current === replacement) {
      tf.unregisterKernel(name, WASM);
      if (original != null) tf.registerKernel(original);
    }
  }
  patches.clear();
}
