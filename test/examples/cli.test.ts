import test from 'ava';
import { runCli } from '../cli_helpers.js';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = runCli;

test('an unknown dataset exits non-zero naming the valid choices', t => {
  const r = cli(['compare', '--dataset', 'imagenet']);
  t.not(r.code, 0);
  t.regex(r.stderr, /imagenet/);
  t.regex(r.stderr, /mnist.*fashion-mnist.*cifar10.*regression/);
});

test('an unknown optimizer exits non-zero naming the valid choices', t => {
  const r = cli(['compare', '--optimizers', 'sgd,lion', '--quiet']);
  t.not(r.code, 0);
  t.regex(r.stderr, /'lion'.*valid choices: sgd, momentum, adagrad, rmsprop, adam/);
});

test('bad numeric flags exit non-zero with a clear message', t => {
  const r = cli(['compare', '--epochs', '0', '--quiet']);
  t.not(r.code, 0);
  t.regex(r.stderr, /--epochs must be a positive integer/);
  const r2 = cli(['compare', '--lr', 'sgd=-1', '--quiet']);
  t.not(r2.code, 0);
  t.regex(r2.stderr, /learning rate of sgd must be positive/);
  const r3 = cli(['compare', '--dataset', 'cifar10', '--data-dir', '/nonexistent', '--quiet']);
  t.not(r3.code, 0);
  t.regex(r3.stderr, /cifar-10-binary|data-dir/i);
});

test('every subcommand has --help', t => {
  for (const c of ['compare', 'mnist', 'fashion-mnist', 'cifar10', 'regression', 'test-functions', 'sweep', 'correlation', 'generalization']) {
    const r = cli([c, '--help']);
    t.is(r.code, 0, c);
    t.regex(r.stdout, /--out/, c);
  }
});

test('compare end to end on tiny MNIST: CSV, JSON, PNG, SVG and Markdown hold the run numbers', t => {
  const out = mkdtempSync(join(tmpdir(), 'tp-compare-'));
  const r = cli([
    'compare',
    '--dataset',
    'mnist',
    '--optimizers',
    'sgd,adam',
    '--epochs',
    '1',
    '--seeds',
    '1',
    '--train-limit',
    '300',
    '--test-limit',
    '100',
    '--teleport-epochs',
    '0.5',
    '--teleport-batches',
    '2',
    '--teleport-batch-size',
    '50',
    '--backend',
    'cpu',
    '--out',
    out,
    '--quiet',
  ]);
  t.is(r.code, 0, r.stderr);
  const files = readdirSync(out);
  for (const ext of ['.png', '.svg', '.md', '.json'])
    t.true(
      files.some(f => f.endsWith(ext)),
      `${ext} in ${files}`,
    );
  const runFiles = readdirSync(join(out, 'runs'));
  t.true(runFiles.some(f => f.endsWith('.csv')));
  t.is(runFiles.filter(f => f.endsWith('.json')).length, 6); // 2 optimizers × 3 variants × 1 seed
  const { runs } = JSON.parse(readFileSync(join(out, 'runs.json'), 'utf8'));
  const tele = runs.find((x: { optimizer: string; variant: string }) => x.optimizer === 'sgd' && x.variant === 'teleport');
  t.is(tele.teleports.length, 2);
  t.true(tele.teleports.every((e: { relativeLossDrift: number }) => Math.abs(e.relativeLossDrift) <= 1e-4));
  const csv = readFileSync(join(out, 'runs', 'sgd-teleport-seed1.csv'), 'utf8')
    .trim()
    .split('\n');
  t.is(csv[0], 'epoch,step,seconds,trainLoss,valLoss,valAccuracy,gradNormSq');
  const lastRow = csv[csv.length - 1].split(',');
  const lastPoint = tele.points[tele.points.length - 1];
  t.is(Number(lastRow[3]), lastPoint.trainLoss);
  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  t.true(md.includes('sgd'));
  t.true(md.includes(lastPoint.trainLoss.toPrecision(3).slice(0, 4)) || md.includes('teleport'));
  const png = readFileSync(join(out, 'train_loss_vs_epoch.png'));
  t.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  t.true(existsSync(join(out, 'train_loss_vs_epoch.svg')));

  // Step resolution: 300 examples, batch 20 → 15 steps in the one epoch, a point per step (window
  // 1), the teleport at step round(0.5 × 15) = 8 marked there.
  t.is(tele.fineWindow, 1);
  t.deepEqual(
    tele.fine.map((p: { step: number }) => p.step),
    Array.from({ length: 16 }, (_, i) => i),
  );
  t.true(tele.fine.length - 1 > tele.points.length - 1, 'more than one point per epoch');
  t.deepEqual(
    tele.points.map((p: { epoch: number }) => p.epoch),
    [0, 1],
    'per-epoch records unchanged',
  );
  t.deepEqual(
    tele.teleports.map((e: { step: number; epoch: number }) => [e.step, e.epoch]),
    [
      [8, 8 / 15],
      [8, 8 / 15],
    ],
  );
  const steps = readFileSync(join(out, 'runs', 'sgd-teleport-seed1-steps.csv'), 'utf8')
    .trim()
    .split('\n');
  t.is(steps[0], 'epoch,step,seconds,trainLoss');
  t.is(steps.length, 1 + 16);
  t.is(Number(steps[9].split(',')[1]), 8);
  t.true(md.includes('steps to 0.5×L₀'), md);
  for (const f of ['train_loss_vs_step.png', 'train_loss_vs_step.svg']) t.true(existsSync(join(out, f)), f);
  t.true(readFileSync(join(out, 'train_loss_vs_step.svg'), 'utf8').includes('optimizer step'));
});

test('test-functions: Booth with one SO(2) teleport ends lower than plain gradient descent, and draws it', t => {
  const out = mkdtempSync(join(tmpdir(), 'tp-tf-'));
  const r = cli(['test-functions', '--functions', 'booth', '--backend', 'cpu', '--out', out, '--quiet']);
  t.is(r.code, 0, r.stderr);
  const { plain, teleport } = JSON.parse(readFileSync(join(out, 'booth.json'), 'utf8'));
  const last = (xs: number[]) => xs[xs.length - 1];
  t.is(teleport.teleports.length, 1);
  t.true(teleport.teleports[0].accepted);
  t.true(last(teleport.losses) < last(plain.losses), `${last(teleport.losses)} vs ${last(plain.losses)}`);
  for (const f of ['booth_trajectory.png', 'booth_trajectory.svg', 'booth_grad_vs_loss.png', 'summary.md']) t.true(existsSync(join(out, f)), f);
});
