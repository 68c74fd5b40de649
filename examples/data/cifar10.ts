import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkDataDir, testLimitOf, trainLimitOf, type Dataset, type LimitOptions, type Split } from './dataset.js';

/** Bytes per pixel plane of a CIFAR-10 image (32 × 32). */
const PLANE = 32 * 32;
/** Bytes per CIFAR-10 image (3 planes: red, green, blue). */
const IMAGE = 3 * PLANE;
/** Bytes per record of the CIFAR-10 binary version: 1 label byte, then the image in CHW order. */
export const CIFAR10_RECORD_BYTES = 1 + IMAGE;

/** Where the official binary version of CIFAR-10 can be downloaded. */
export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';

/** File names of the five training batches and the test batch of the binary version. */
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
/** File name of the test batch of the binary version. */
export const CIFAR10_TEST_FILE = 'test_batch.bin';

/** CIFAR-10 class names, indexed by label. */
export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const HOW_TO_GET = `Download ${CIFAR10_URL}, unpack it (tar xzf), and pass --data-dir pointing at the cifar-10-batches-bin folder (with ${CIFAR10_TRAIN_FILES.join(', ')} and ${CIFAR10_TEST_FILE}).`;

/** One CIFAR-10 binary batch: its name (for errors) and its bytes. */
export interface CifarBatch {
  /** File name or path, used in error messages. */
  file: string;
  /** The raw file contents. */
  bytes: Uint8Array;
}

/** Number of records in a batch after checking it is not empty and its length is a whole number of records; throws naming the file otherwise. */
export function cifarRecordCount({ file, bytes }: CifarBatch): number {
  // 0 bytes is a whole number of records too, but an empty batch is a failed download or unpack.
  if (bytes.length === 0)
    throw new Error(`${file}: empty file (0 bytes); a CIFAR-10 batch holds 10,000 records of ${CIFAR10_RECORD_BYTES} bytes. ${HOW_TO_GET}`);
  if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
    throw new Error(
      `${file}: ${bytes.length} bytes is not a multiple of the ${CIFAR10_RECORD_BYTES}-byte CIFAR-10 record (truncated, or not the binary version? The Python/MATLAB versions are not supported)`,
    );
  }
  return bytes.length / CIFAR10_RECORD_BYTES;
}

/**
 * Parses CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes, stored as the 1024 red, then
 * 1024 green, then 1024 blue values of a 32×32 image, row-major) into one {@link Split}, converted to
 * HWC per example (NHWC overall) and scaled from 0..255 to [0, 1]. Records are taken in batch order;
 * `max` keeps only the first `max`. Every batch must be a whole number of records and every label of
 * every batch must be below 10; errors name the file and the record.
 */
export function parseCifarBatches(batches: CifarBatch[], max?: number): Split {
  const counts = batches.map(cifarRecordCount);
  for (let b = 0; b < batches.length; b++) {
    const { file, bytes } = batches[b];
    for (let r = 0; r < counts[b]; r++) {
      const label = bytes[r * CIFAR10_RECORD_BYTES];
      if (label > 9) throw new Error(`${file}: record ${r} has label ${label}; CIFAR-10 labels are 0..9 (not the CIFAR-10 binary version?)`);
    }
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const count = max != null ? Math.min(max, total) : total;
  const x = new Float32Array(count * IMAGE);
  const labels = new Uint8Array(count);
  let n = 0;
  for (let b = 0; b < batches.length && n < count; b++) {
    const bytes = batches[b].bytes;
    for (let r = 0; r < counts[b] && n < count; r++, n++) {
      const base = r * CIFAR10_RECORD_BYTES;
      labels[n] = bytes[base];
      const out = n * IMAGE;
      for (let c = 0; c < 3; c++) {
        const plane = base + 1 + c * PLANE;
        for (let p = 0; p < PLANE; p++) x[out + p * 3 + c] = bytes[plane + p] / 255;
      }
    }
  }
  return { x, labels, count, shape: [32, 32, 3] };
}

/** `dir` itself, or `dir/cifar-10-batches-bin` when the files are there (the folder the tarball unpacks to). */
function batchesDir(dir: string): string {
  const nested = join(dir, 'cifar-10-batches-bin');
  return !existsSync(join(dir, CIFAR10_TEST_FILE)) && existsSync(join(nested, CIFAR10_TEST_FILE)) ? nested : dir;
}

/**
 * CIFAR-10 from the official binary version in `dir` (`data_batch_1.bin` … `data_batch_5.bin`: 50,000 training
 * images; `test_batch.bin`: 10,000 test images). `dir` may be the unpacked `cifar-10-batches-bin` folder or
 * its parent. Images are 32×32×3, NHWC, in [0, 1]. `trainLimit` (or `limit`) and `testLimit` keep only the first
 * examples; training batches beyond the limit are then not read (but must exist).
 *
 * Throws, saying where to download the data ({@link CIFAR10_URL}) and to pass `--data-dir`, when `dir` is
 * missing, is a file or lacks a file; and naming the file when a batch is empty, is not a whole number of
 * records or has a label ≥ 10.
 */
export async function loadCifar10(opts: { dir?: string } & LimitOptions): Promise<Dataset> {
  if (!opts.dir) throw new Error(`cifar10: no data directory given. ${HOW_TO_GET}`);
  checkDataDir(opts.dir, 'cifar10', HOW_TO_GET);
  const dir = batchesDir(opts.dir);
  const missing = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].filter(f => !existsSync(join(dir, f)));
  if (missing.length) throw new Error(`cifar10: missing ${missing.join(', ')} in ${dir}. ${HOW_TO_GET}`);
  const read = (name: string): CifarBatch => {
    const file = join(dir, name);
    return { file, bytes: readFileSync(file) };
  };
  const trainLimit = trainLimitOf(opts);
  const trainBatches: CifarBatch[] = [];
  let have = 0;
  for (const name of CIFAR10_TRAIN_FILES) {
    if (trainLimit != null && have >= trainLimit) break;
    const batch = read(name);
    have += cifarRecordCount(batch);
    trainBatches.push(batch);
  }
  const train = parseCifarBatches(trainBatches, trainLimit);
  const test = parseCifarBatches([read(CIFAR10_TEST_FILE)], testLimitOf(opts));
  return { name: 'cifar10', train, test, inputShape: [32, 32, 3], numClasses: 10, classNames: CIFAR10_CLASSES.slice() };
}
