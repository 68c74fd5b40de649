import test from 'ava';
import { runCli, runCliAsync, tempDirs } from '../cli_helpers.js';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const cli = (args: string[]) => runCli(args, 120_000);
const cliAsync = (args: string[]) => runCliAsync(args, 120_000);
const tempDir = tempDirs('tp-correlation-');

const tiny = ['--models', '3', '--epochs', '1', '--train-limit', '100', '--test-limit', '60', '--directions', '2', '--backend', 'cpu', '--quiet'];

test('correlation (tiny): writes models.csv/json, summary.md with r and the paper values, and scatter plots', t => {
  const out = join(tempDir(), 'corr');
  const r = cli(['correlation', ...tiny, '--out', out]);
  t.is(r.code, 0, r.stderr);
  for (const f of ['models.csv', 'models.json', 'summary.md', 'phi_vs_test_loss.png', 'phi_vs_test_loss.svg', 'psi_vs_test_loss.png', 'psi_vs_test_loss.svg']) {
    t.true(existsSync(join(out, f)), f);
  }
  const csv = readFileSync(join(out, 'models.csv'), 'utf8').trim().split('\n');
  t.is(csv[0], 'seed,train_loss,test_loss,gap,phi,psi,test_accuracy,seconds');
  t.is(csv.length, 4);
  for (const line of csv.slice(1)) {
    const [seed, train, testLoss, gap, phi, psi] = line.split(',').map(Number);
    t.true(Number.isInteger(seed));
    t.true(Math.abs(gap - (testLoss - train)) < 1e-9);
    t.true(Number.isFinite(phi) && Number.isFinite(psi));
  }
  const json = JSON.parse(readFileSync(join(out, 'models.json'), 'utf8'));
  t.is(json.models.length, 3);
  t.deepEqual(json.paper, { phi: 0.704, psi: -0.05 });
  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  t.regex(md, /Pearson r/);
  t.regex(md, /95 % CI/);
  t.regex(md, /0\.704/);
  t.regex(md, /-0\.050/);
  t.regex(md, /r with training loss/);
  t.regex(md, /gap/);
  t.regex(md, /N = 3 models the intervals are wide/);
  t.regex(md, /3 models × 1 epoch on 100 examples/);
});

test('correlation: bad flags exit 2 naming the flag, before training, and write nothing', async t => {
  const dir = tempDir();
  const cases = [
    ['--models', '2', /--models must be an integer ≥ 3/],
    ['--epochs', '0', /--epochs must be an integer ≥ 1/],
    ['--directions', '1.5', /--directions must be an integer ≥ 1/],
    ['--curves', '0', /--curves must be an integer ≥ 1/],
    ['--train-limit', '0', /--train-limit must be a positive integer/],
    ['--test-limit', '-3', /--test-limit must be a positive integer/],
    ['--seed', '-1', /--seed must be an integer ≥ 0/],
    ['--dataset', 'imagenet', /dataset/],
  ] as const;
  const results = await Promise.all(cases.map(([flag, value]) => cliAsync(['correlation', ...tiny, flag, value, '--out', join(dir, 'x')])));
  cases.forEach(([flag, value, pattern], i) => {
    const r = results[i];
    t.is(r.code, 2, `${flag} ${value}: ${r.stderr}`);
    t.regex(r.stderr, pattern);
    t.notRegex(r.stderr, /seed \d+: train/);
  });
  t.deepEqual(readdirSync(dir), []);
});
