import test from 'ava';
import { runCliAsync, tempDirs } from '../cli_helpers.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const cli = (args: string[]) => runCliAsync(args, 120_000);
const tempDir = tempDirs('tp-generalization-');

const tiny = [
  '--seeds',
  '2',
  '--warm-epochs',
  '1',
  '--epochs',
  '1',
  '--train-limit',
  '60',
  '--test-limit',
  '40',
  '--teleport-examples',
  '20',
  '--teleport-steps',
  '3',
  '--directions',
  '2',
  '--backend',
  'cpu',
  '--quiet',
];
const ARMS = ['none', 'curvature-up', 'curvature-down', 'sharpness-down', 'random'];

test('generalization (tiny): per-arm CSV/JSON, loss curves and a summary with the verdict', async t => {
  const out = join(tempDir(), 'gen');
  const r = await cli(['generalization', ...tiny, '--out', out]);
  t.is(r.code, 0, r.stderr);
  for (const f of ['runs.csv', 'runs.json', 'summary.md']) t.true(existsSync(join(out, f)), f);
  for (const opt of ['sgd', 'adagrad'])
    for (const split of ['train_loss', 'test_loss', 'train_loss_vs_none', 'test_loss_vs_none'])
      for (const ext of ['png', 'svg']) t.true(existsSync(join(out, `${opt}_${split}.${ext}`)), `${opt}_${split}.${ext}`);
  const csv = readFileSync(join(out, 'runs.csv'), 'utf8').trim().split('\n');
  t.is(csv[0], 'optimizer,arm,seed,epoch,train_loss,test_loss,accepted,psi_before,psi_after,phi_before,phi_after,displacement');
  // 2 optimizers × 5 arms × 2 seeds × (1 + 1 epochs)
  t.is(csv.length, 1 + 2 * 5 * 2 * 2);
  const json = JSON.parse(readFileSync(join(out, 'runs.json'), 'utf8'));
  t.is(json.runs.length, 2 * 5 * 2);
  for (const run of json.runs) {
    t.true(ARMS.includes(run.arm));
    t.is(run.trainLoss.length, 2);
    t.true(run.testLoss.every(Number.isFinite));
    t.true(Number.isFinite(run.psiAfter) && Number.isFinite(run.phiAfter));
    if (run.arm === 'none') {
      t.is(run.psiAfter, run.psiBefore);
      t.is(run.displacement, 0);
    }
  }
  // The arms start from the same warm weights: ψ before is shared per seed and optimizer.
  const up = json.runs.filter((r: { arm: string; accepted: boolean }) => r.arm === 'curvature-up' && r.accepted);
  for (const r of up) t.true(r.psiAfter > r.psiBefore, 'curvature-up raises ψ');
  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  t.regex(md, /## Verdict/);
  t.regex(md, /curvature-up vs none: test loss difference [+-]\d/);
  t.regex(md, /training loss [\d.]+ at the teleport/);
  t.regex(md, /sharpness-down vs random/);
  t.regex(md, /## sgd/);
  t.regex(md, /## adagrad/);
  t.regex(md, /ψ before → after/);
});

test('generalization: bad flags exit 2 naming the flag, before training, and write nothing', async t => {
  const dir = tempDir();
  const cases = [
    ['--seeds', '0', /--seeds must be an integer ≥ 1/],
    ['--warm-epochs', '1.5', /--warm-epochs must be an integer ≥ 1/],
    ['--epochs', '0', /--epochs must be an integer ≥ 1/],
    ['--teleport-lr', '-1', /--teleport-lr must be a positive number/],
    ['--directions', '0', /--directions must be an integer ≥ 1/],
    ['--lr', 'adam=0.1', /--lr: unknown optimizer 'adam'/],
    ['--train-limit', '0', /--train-limit must be a positive integer/],
  ] as const;
  const results = await Promise.all(
    cases.map(([flag, value]) => cli(['generalization', ...tiny.filter(a => a !== '--quiet'), flag, value, '--out', join(dir, 'x')])),
  );
  results.forEach((r, i) => {
    t.is(r.code, 2, `${cases[i][0]} ${cases[i][1]}: ${r.stderr}`);
    t.regex(r.stderr, cases[i][2]);
    t.notRegex(r.stderr, /backend:/, 'fails before choosing a backend (not quiet, so it would say)');
  });
  t.false(existsSync(join(dir, 'x')));
});
