import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset, Split } from './dataset.js';

const RECORD = 1 + 32 * 32 * 3;
const HOW_TO_GET = 'Download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it, and pass --data-dir pointing at the folder with data_batch_1.bin … data_batch_5.bin and test_batch.bin.';

/** Parses CIFAR-10 binary records (label byte + 3072 bytes, CHW) into an NHWC split in [0, 1]. */
export function parseCifarBatches(buffers: Array<{ file: string; bytes: Uint8Array }>, max?: number): Split {
  let total = 0;
  for (const { file, bytes } of buffers) {
    if (bytes.length % RECORD !== 0) throw new Error(`${file}: ${bytes.length} bytes is not a whole number of ${RECORD}-byte CIFAR-10 records (truncated or not the binary version?)`);
    total += bytes.length / RECORD;
  }
  const count = max != null ? Math.min(max, total) : total;
  const x = new Float32Array(count * 3072);
  const labels = new Uint8Array(count);
  let n = 0;
  for (const { file, bytes } of buffers) {
    for (let r = 0; r < bytes.length / RECORD && n < count; r++, n++) {
      const base = r * RECORD;
      const label = bytes[base];
      if (label > 9) throw new Error(`${file}: record ${r} has label ${label}; CIFAR-10 labels are 0..9`);
      labels[n] = label;
      for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) x[n * 3072 + p * 3 + c] = bytes[base + 1 + c * 1024 + p] / 255;
    }
  }
  return { x, labels, count, shape: [32, 32, 3] };
}

/** CIFAR-10 from the official binary batches in `dir`. */
export async function loadCifar10(opts: { dir?: string; trainLimit?: number; testLimit?: number }): Promise<Dataset> {
  if (!opts.dir) throw new Error(`cifar10: no data directory. ${HOW_TO_GET}`);
  if (!existsSync(opts.dir)) throw new Error(`cifar10: ${opts.dir} does not exist. ${HOW_TO_GET}`);
  const read = (name: string) => {
    const file = join(opts.dir!, name);
    if (!existsSync(file)) throw new Error(`cifar10: missing ${file}. ${HOW_TO_GET}`);
    return { file, bytes: new Uint8Array(readFileSync(file)) };
  };
  const train = parseCifarBatches([1, 2, 3, 4, 5].map(i => read(`data_batch_${i}.bin`)), opts.trainLimit);
  const test = parseCifarBatches([read('test_batch.bin')], opts.testLimit);
  return { name: 'cifar10', train, test, inputShape: [32, 32, 3], numClasses: 10 };
}
