import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import type { Split } from './dataset.js';

/** Magic number of an IDX file of unsigned bytes with one dimension (labels). */
export const IDX_LABELS_MAGIC = 0x00000801;
/** Magic number of an IDX file of unsigned bytes with three dimensions (images: count, rows, columns). */
export const IDX_IMAGES_MAGIC = 0x00000803;

/** A parsed IDX file of unsigned bytes. */
export interface IdxArray {
  /** The magic number, {@link IDX_LABELS_MAGIC} or {@link IDX_IMAGES_MAGIC}. */
  magic: number;
  /** The dimensions from the header, e.g. `[60000, 28, 28]`. */
  dims: number[];
  /** The `product(dims)` data bytes, row-major. */
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = { 0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };

const hex32 = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
const kindOf = (magic: number) => (magic === IDX_LABELS_MAGIC ? 'labels' : 'images');

/** True when `bytes` start with the gzip magic `1f 8b`. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses IDX bytes, gzipped or not (gzip is detected by its magic `1f 8b`, not by the file name).
 * The header is big-endian: a 32-bit magic number, then one uint32 per dimension. Only the two unsigned-byte
 * formats of MNIST are accepted: {@link IDX_LABELS_MAGIC} (1 dimension) and {@link IDX_IMAGES_MAGIC}
 * (3 dimensions). With `expectedMagic`, the file must have exactly that magic number.
 *
 * Throws, naming `file` and the problem, on: a gzip stream that does not decompress, a bad or unsupported
 * magic number, a magic number of the wrong kind, a truncated header, a zero image dimension, or a data
 * length that does not match the dimensions.
 */
export function parseIdx(bytes: Uint8Array, file = 'IDX data', expectedMagic?: number): IdxArray {
  let buf = bytes;
  if (isGzip(buf)) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new Error(`${file}: starts with the gzip magic but does not decompress (${(e as Error).message}); the file is probably truncated or corrupt`);
    }
  }
  if (buf.length < 4) throw new Error(`${file}: ${buf.length} bytes is too short for an IDX header (needs a 4-byte magic number)`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const magic = view.getUint32(0, false);
  const expectation =
    expectedMagic != null
      ? `expected ${hex32(expectedMagic)} (IDX ${kindOf(expectedMagic)}, unsigned bytes)`
      : `expected ${hex32(IDX_LABELS_MAGIC)} (labels) or ${hex32(IDX_IMAGES_MAGIC)} (images)`;
  if (buf[0] !== 0 || buf[1] !== 0 || !(buf[2] in TYPE_NAMES) || buf[3] < 1) {
    throw new Error(`${file}: bad magic number ${hex32(magic)}, not an IDX file; ${expectation}`);
  }
  if (buf[2] !== 0x08) {
    throw new Error(`${file}: IDX element type ${TYPE_NAMES[buf[2]]} (magic ${hex32(magic)}) is not supported; ${expectation}`);
  }
  if (magic !== IDX_LABELS_MAGIC && magic !== IDX_IMAGES_MAGIC) {
    throw new Error(`${file}: IDX file with ${buf[3]} dimensions (magic ${hex32(magic)}) is not supported; ${expectation}`);
  }
  if (expectedMagic != null && magic !== expectedMagic) {
    throw new Error(
      `${file}: magic number ${hex32(magic)} is an IDX ${kindOf(magic)} file with ${buf[3]} dimension${buf[3] === 1 ? '' : 's'}; ${expectation} — wrong file?`,
    );
  }
  const rank = buf[3];
  const offset = 4 + 4 * rank;
  if (buf.length < offset) throw new Error(`${file}: header truncated: ${rank} dimensions need ${offset} header bytes but the file has ${buf.length}`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  if (rank === 3 && (dims[1] === 0 || dims[2] === 0)) throw new Error(`${file}: image size ${dims[1]}×${dims[2]} has a zero dimension`);
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = buf.length - offset;
  if (actual !== expected) {
    const why = actual < expected ? `truncated: ${expected - actual} bytes missing` : `${actual - expected} trailing bytes`;
    throw new Error(`${file}: dimensions [${dims.join(', ')}] need ${expected} data bytes but the file has ${actual} (${why})`);
  }
  return { magic, dims, data: buf.subarray(offset, offset + expected) };
}

/** Reads and parses an IDX file (plain or gzipped) from disk; see {@link parseIdx}. */
export function readIdx(path: string, expectedMagic?: number): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read IDX file (${(e as Error).message})`);
  }
  return parseIdx(bytes, path, expectedMagic);
}

/**
 * Pairs an IDX images file with an IDX labels file into a {@link Split}: pixels scaled from 0..255 to
 * [0, 1], shape `[rows, cols, 1]`. Checks that both files have the right magic number, that they hold at
 * least one image, that the image and label counts agree, and that every kept label is below `numClasses`
 * (default 10). `limit` keeps only the first `limit` examples (both files are still read and validated whole).
 */
export function readIdxSplit(imagesPath: string, labelsPath: string, opts: { limit?: number; numClasses?: number } = {}): Split {
  const images = readIdx(imagesPath, IDX_IMAGES_MAGIC);
  const labels = readIdx(labelsPath, IDX_LABELS_MAGIC);
  return idxToSplit(images, labels, imagesPath, labelsPath, opts);
}

/**
 * The in-memory part of {@link readIdxSplit}: validates an already parsed images/labels pair (names are used
 * in error messages) and converts it to a {@link Split}.
 */
export function idxToSplit(
  images: IdxArray,
  labels: IdxArray,
  imagesName: string,
  labelsName: string,
  opts: { limit?: number; numClasses?: number } = {},
): Split {
  if (images.magic !== IDX_IMAGES_MAGIC || images.dims.length !== 3) {
    throw new Error(`${imagesName}: expected IDX images with 3 dimensions (count, rows, cols), got [${images.dims.join(', ')}]`);
  }
  if (labels.magic !== IDX_LABELS_MAGIC || labels.dims.length !== 1) {
    throw new Error(`${labelsName}: expected IDX labels with 1 dimension (count), got [${labels.dims.join(', ')}]`);
  }
  const [n, rows, cols] = images.dims;
  // An empty split cannot be trained or evaluated on; say so here rather than fail later in training.
  if (n === 0) throw new Error(`${imagesName}: holds 0 images (dimensions [0, ${rows}, ${cols}]); the file is incomplete — download it again`);
  if (n !== labels.dims[0]) {
    throw new Error(`label count mismatch: ${imagesName} has ${n} images but ${labelsName} has ${labels.dims[0]} labels`);
  }
  const numClasses = opts.numClasses ?? 10;
  const count = opts.limit == null ? n : Math.min(n, opts.limit);
  const size = rows * cols;
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const l = labels.data[i];
    if (l >= numClasses) throw new Error(`${labelsName}: label ${l} at index ${i} is not a class 0..${numClasses - 1}`);
    out[i] = l;
  }
  const x = new Float32Array(count * size);
  const src = images.data;
  for (let i = 0; i < x.length; i++) x[i] = src[i] / 255;
  return { x, labels: out, count, shape: [rows, cols, 1] };
}
