import test from 'ava';
import { runCli, runCliAsync, tempDirs } from '../cli_helpers.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeComparison } from '../../examples/report/write_outputs.js';
import { checkOutDir, writeAllOrNothing } from '../../examples/report/out_dir.js';
import type { RunRecord } from '../../examples/report/types.js';

// Bad input must exit with status 2 and a message naming the problem and the fix, before any
// training starts ("train loss" is logged after each run), and leave nothing behind.

const cli = (args: string[]) => runCli(args);

const tempDir = tempDirs('tp-bad-input-');

/** A quick regression comparison (one optimizer, one arm, two epochs) writing to `out`. */
const tinyRegression = (out: string) => [
  'regression',
  '--optimizers',
  'sgd',
  '--variants',
  'baseline',
  '--seeds',
  '1',
  '--epochs',
  '2',
  '--backend',
  'cpu',
  '--out',
  out,
];

/** IDX bytes: big-endian magic and dims, then the data. */
function idxBytes(magic: number, dims: number[], data: number[] = []): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** The four MNIST IDX files with `trainCount` training and 2 test images of 2×2 pixels. */
function writeMnistDir(dir: string, trainCount: number) {
  for (const [prefix, n] of [
    ['train', trainCount],
    ['t10k', 2],
  ] as const) {
    writeFileSync(
      join(dir, `${prefix}-images-idx3-ubyte`),
      idxBytes(
        0x803,
        [n, 2, 2],
        Array.from({ length: 4 * n }, (_, i) => i % 256),
      ),
    );
    writeFileSync(
      join(dir, `${prefix}-labels-idx1-ubyte`),
      idxBytes(
        0x801,
        [n],
        Array.from({ length: n }, (_, i) => i % 10),
      ),
    );
  }
}

/** The six CIFAR-10 batches, two records each. */
function writeCifarDir(dir: string) {
  for (const name of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) {
    writeFileSync(
      join(dir, name),
      new Uint8Array(2 * 3073).map((_, i) => (i % 3073 === 0 ? 1 : i % 256)),
    );
  }
}

test('--out that is an existing file, or lies under one, is refused before training', t => {
  const parent = tempDir();
  const file = join(parent, 'results');
  writeFileSync(file, 'keep me');
  const r = cli(tinyRegression(file));
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--out .*results is an existing file, not a folder; pass a folder path \(new or empty\) or remove the file/);
  t.notRegex(r.stderr, /train loss/);
  const r2 = cli(tinyRegression(join(file, 'sub')));
  t.is(r2.code, 2, r2.stderr);
  t.regex(r2.stderr, /--out .*results.sub: .*results is a file, so no folder can be made under it; pass another --out/);
  t.notRegex(r2.stderr, /train loss/);
  t.is(readFileSync(file, 'utf8'), 'keep me');
  t.deepEqual(readdirSync(parent), ['results']);
});

test('--out that is a non-empty folder is refused before training, naming what it holds', t => {
  const out = tempDir();
  writeFileSync(join(out, 'runs.json'), 'previous run');
  mkdirSync(join(out, 'runs'));
  const r = cli(tinyRegression(out));
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--out .* is not empty \(it holds runs, runs\.json\); .*Pass a new or empty folder, or remove the old outputs first/);
  t.notRegex(r.stderr, /train loss/);
  t.deepEqual(readdirSync(out).sort(), ['runs', 'runs.json']);
  t.is(readFileSync(join(out, 'runs.json'), 'utf8'), 'previous run');
});

test('a run into a new nested --out leaves only that folder behind (no temporary folder)', t => {
  const parent = tempDir();
  const r = cli(tinyRegression(join(parent, 'a', 'b')));
  t.is(r.code, 0, r.stderr);
  t.deepEqual(readdirSync(parent), ['a']);
  t.deepEqual(readdirSync(join(parent, 'a')), ['b']);
  t.true(existsSync(join(parent, 'a', 'b', 'runs.json')));
  t.true(existsSync(join(parent, 'a', 'b', 'runs', 'sgd-baseline-seed1.csv')));
  t.regex(r.stderr, new RegExp(`wrote \\d+ files to ${join(parent, 'a', 'b').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('--train-limit 0 and --test-limit 0 name the flag instead of a bad teleport schedule', t => {
  for (const flag of ['--train-limit', '--test-limit']) {
    const parent = tempDir();
    const r = cli(['compare', flag, '0', '--backend', 'cpu', '--out', join(parent, 'out')]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, new RegExp(`${flag} must be a positive integer \\(the number of (training|test) examples to use\\), got 0; omit it to use them all`));
    t.notRegex(r.stderr, /bad schedule/);
    t.deepEqual(readdirSync(parent), []);
  }
});

test('IDX files with 0 training images are named, and nothing is written', t => {
  const data = tempDir();
  writeMnistDir(data, 0);
  const parent = tempDir();
  const r = cli(['compare', '--data-dir', data, '--backend', 'cpu', '--out', join(parent, 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /train-images-idx3-ubyte: holds 0 images \(dimensions \[0, 2, 2\]\); the file is incomplete — download it again/);
  t.notRegex(r.stderr, /bad schedule/);
  t.deepEqual(readdirSync(parent), []);
});

test('a 0-byte data_batch_1.bin is refused, and nothing is written', t => {
  const data = tempDir();
  writeCifarDir(data);
  writeFileSync(join(data, 'data_batch_1.bin'), new Uint8Array(0));
  const parent = tempDir();
  const r = cli([
    'cifar10',
    '--data-dir',
    data,
    '--train-limit',
    '2',
    '--test-limit',
    '2',
    '--epochs',
    '1',
    '--teleport-epochs',
    '0.5',
    '--seeds',
    '1',
    '--backend',
    'cpu',
    '--out',
    join(parent, 'out'),
  ]);
  t.is(r.code, 2, r.stderr);
  t.regex(
    r.stderr,
    /data_batch_1\.bin: empty file \(0 bytes\); a CIFAR-10 batch holds 10,000 records of 3073 bytes\. Download https:\/\/www\.cs\.toronto\.edu/,
  );
  t.notRegex(r.stderr, /train loss/);
  t.deepEqual(readdirSync(parent), []);
});

test('--data-dir pointing at a file says it is a file, not that it does not exist', t => {
  const data = tempDir();
  writeMnistDir(data, 2);
  const parent = tempDir();
  const r = cli(['compare', '--data-dir', join(data, 'train-images-idx3-ubyte'), '--backend', 'cpu', '--out', join(parent, 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /mnist: data directory .*train-images-idx3-ubyte is a file, not a directory; --data-dir takes the folder that holds the data files/);
  t.notRegex(r.stderr, /does not exist/);
  t.deepEqual(readdirSync(parent), []);
});

test('test-functions: an unknown function is refused before the others write their outputs', t => {
  const parent = tempDir();
  const r = cli(['test-functions', '--functions', 'booth,nope', '--backend', 'cpu', '--out', join(parent, 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--functions: unknown value 'nope'; valid choices: rosenbrock, booth/);
  t.notRegex(r.stderr, /booth: final loss/);
  t.deepEqual(readdirSync(parent), []);
});

test('a negative --teleport-epochs is named instead of a bad schedule', t => {
  const parent = tempDir();
  const r = cli(['regression', '--teleport-epochs', '1,-1', '--backend', 'cpu', '--out', join(parent, 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--teleport-epochs must be epochs ≥ 0 after which to teleport, got 1,-1/);
  t.notRegex(r.stderr, /bad schedule|train loss/);
  t.deepEqual(readdirSync(parent), []);
});

test('a --teleport-epochs at or past --epochs is refused instead of training without a teleport', t => {
  const parent = tempDir();
  const r = cli(['regression', '--epochs', '3', '--teleport-epochs', '1,3', '--backend', 'cpu', '--out', join(parent, 'out')]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--teleport-epochs 3 would never teleport: the run stops after --epochs 3/);
  t.notRegex(r.stderr, /train loss/);
  t.deepEqual(readdirSync(parent), []);
});

test('sweep: bad counts are refused before any worker starts', t => {
  const cases: Array<[string[], RegExp]> = [
    [['--workers', '0'], /--workers must be a positive integer, got 0/],
    [['--seeds', '0'], /--seeds must be a positive integer, got 0/],
    [['--teleport-epoch', '1.5'], /--teleport-epoch must be a step ≥ 0 \(an integer\), got 1\.5/],
    [['--target', '2'], /--target must be a fraction of the initial loss between 0 and 1, got 2/],
  ];
  for (const [args, message] of cases) {
    const parent = tempDir();
    const r = cli(['sweep', '--steps', '1', '--lrs', '0.1', '--backend', 'cpu', '--out', join(parent, 'out'), ...args]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, message);
    t.notRegex(r.stderr, /sweep: \d+ cells/);
    t.deepEqual(readdirSync(parent), []);
  }
});

test('checkOutDir: an empty --out is refused (it would name the working folder)', t => {
  for (const out of ['', ' ']) t.throws(() => checkOutDir(out), { message: /--out is empty; pass a folder path \(new or empty\), or omit --out/ });
});

/** A run record small enough to write quickly. */
function tinyRun(): RunRecord {
  return {
    optimizer: 'sgd',
    variant: 'baseline',
    seed: 1,
    label: 'sgd baseline',
    points: [0, 1].map(i => ({ epoch: i, step: i, seconds: i, trainLoss: 1 / (i + 1), gradNormSq: 1 })),
    teleports: [],
    totalSeconds: 1,
    teleportSeconds: 0,
  };
}

test('writeComparison: a failure part way (after the run CSVs) leaves no output folder and no temporary folder', async t => {
  const parent = tempDir();
  const out = join(parent, 'new', 'out');
  // A BigInt in the config makes runs.json fail to serialize after the per-run files were written.
  const e = await t.throwsAsync(writeComparison(out, [tinyRun()], { title: 't', config: { big: 1n } }));
  t.regex(e!.message, /could not write the outputs to .*out, so none were kept: .*BigInt/);
  t.deepEqual(readdirSync(parent), []);
});

test('writeAllOrNothing: the outputs appear only when all were written; an empty --out folder is replaced', async t => {
  const parent = tempDir();
  const out = join(parent, 'out');
  mkdirSync(out);
  await t.throwsAsync(
    writeAllOrNothing(out, async dir => {
      writeFileSync(join(dir, 'first.csv'), '1');
      throw new Error('disk full');
    }),
    { message: /could not write the outputs to .*out, so none were kept: disk full/ },
  );
  t.deepEqual(readdirSync(parent), ['out']);
  t.deepEqual(readdirSync(out), []);
  const files = await writeAllOrNothing(out, async dir => {
    writeFileSync(join(dir, 'a.csv'), '1');
    return [join(dir, 'a.csv')];
  });
  t.deepEqual(files, [join(out, 'a.csv')]);
  t.deepEqual(readdirSync(parent), ['out']);
  t.is(readFileSync(join(out, 'a.csv'), 'utf8'), '1');
});

test('writeAllOrNothing: a new output folder gets the permissions of any new folder, not those of a private temporary one', async t => {
  const parent = tempDir();
  mkdirSync(join(parent, 'plain'));
  await writeAllOrNothing(join(parent, 'out'), async () => []);
  t.is(statSync(join(parent, 'out')).mode, statSync(join(parent, 'plain')).mode);
});

test('a default --teleport-epochs adapts to --epochs 1 (teleports inside the run, says where); a given one is still refused', async t => {
  const [compare, regression, given] = await Promise.all([
    runCliAsync([
      'compare',
      '--epochs',
      '1',
      '--train-limit',
      '40',
      '--test-limit',
      '10',
      '--seeds',
      '1',
      '--optimizers',
      'sgd',
      '--variants',
      'teleport',
      '--backend',
      'cpu',
      '--out',
      join(tempDir(), 'out'),
    ]),
    runCliAsync([
      'regression',
      '--epochs',
      '1',
      '--seeds',
      '1',
      '--optimizers',
      'sgd',
      '--variants',
      'teleport',
      '--backend',
      'cpu',
      '--out',
      join(tempDir(), 'out'),
    ]),
    runCliAsync(['compare', '--epochs', '1', '--teleport-epochs', '1', '--backend', 'cpu', '--out', join(tempDir(), 'out')]),
  ]);
  t.is(compare.code, 0, compare.stderr);
  t.regex(
    compare.stderr,
    /teleport at step 1 \(epoch 0\.5\), the middle of the run \(the default --teleport-epochs 1 is not inside --epochs 1; set --teleport-epochs to choose\)/,
  );
  t.regex(compare.stderr, /sgd\/teleport\/seed 1: .*, [1-9]\d*\/[1-9]\d* teleports accepted/);
  t.is(regression.code, 0, regression.stderr);
  t.regex(regression.stderr, /teleport at step 0 \(epoch 0\), the middle of the run \(the default --teleport-epochs 5 is not inside --epochs 1/);
  t.regex(regression.stderr, /sgd\/teleport\/seed 1: .*, 1\/1 teleports accepted/);
  t.is(given.code, 2, given.stderr);
  t.regex(given.stderr, /--teleport-epochs 1 would never teleport: the run stops after --epochs 1/);
});

test('every bad number flag is refused by name with the value given, exit 2, before anything runs', async t => {
  const cases: Array<[string[], RegExp]> = [
    [['compare', '--teleport-lr', 'abc'], /--teleport-lr must be a number, got 'abc'/],
    [['compare', '--teleport-lr=abc'], /--teleport-lr must be a number, got 'abc'/],
    [['compare', '--teleport-lr', '-1'], /--teleport-lr must be a positive number, got -1/],
    [['compare', '--lr', 'abc'], /--lr must be a positive number, or per optimizer name=rate \(e\.g\. sgd=0\.05,adam=0\.001\), got 'abc'/],
    [['compare', '--optimizers', 'sgd,,adam'], /--optimizers has an empty item in 'sgd,,adam'; separate the values with single commas/],
    [['compare', '--teleport-epochs', '0.5,,1'], /--teleport-epochs has an empty item in '0\.5,,1'/],
    [['compare', '--epochs', 'ten'], /--epochs must be a number, got 'ten'/],
    [['compare', '--alpha', 'x'], /--alpha must be a number, got 'x'/],
    [['compare', '--batch-size', '0'], /--batch-size must be an integer ≥ 1, got 0/],
    [['compare', '--teleport-steps', '0'], /--teleport-steps must be an integer ≥ 1, got 0/],
    [['compare', '--teleport-max-growth', '0'], /--teleport-max-growth must be a positive number or Infinity .*, got 0/],
    [['compare', '--teleport-batches', '2.5'], /--teleport-batches must be an integer ≥ 1, got 2\.5/],
    [['mnist', '--teleport-batch-size', 'many'], /--teleport-batch-size must be a number, got 'many'/],
    [['regression', '--teleport-lr', 'abc'], /--teleport-lr must be a number, got 'abc'/],
    [['sweep', '--workers', 'x'], /--workers must be a number, got 'x'/],
    [['generalization', '--teleport-lr', 'abc'], /--teleport-lr must be a number, got 'abc'/],
    [['correlation', '--models', 'x'], /--models must be a number, got 'x'/],
    [['width-study', '--depth', 'x'], /--depth must be a number, got 'x'/],
    [['meta-train', '--steps', 'x'], /--steps must be a number, got 'x'/],
    [['meta-transfer', '--hidden', 'x'], /--hidden must be a number, got 'x'/],
    [['meta-diagnose', '--max-growth', 'x'], /--max-growth must be a number, got 'x'/],
    [['test-functions', '--seed', 'x'], /--seed must be a number, got 'x'/],
  ];
  const results = await Promise.all(
    cases.map(async ([args]) => {
      const parent = tempDir();
      return { parent, r: await runCliAsync([...args, '--backend', 'cpu', '--out', join(parent, 'out')]) };
    }),
  );
  results.forEach(({ parent, r }, i) => {
    const [args, message] = cases[i];
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, message, args.join(' '));
    t.notRegex(r.stderr, /train loss|unknown optimizer|NaN/, args.join(' '));
    t.deepEqual(readdirSync(parent), [], args.join(' '));
  });
});
