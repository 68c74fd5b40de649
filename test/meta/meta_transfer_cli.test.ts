import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDirs } from '../cli_helpers.js';

const tmp = tempDirs('meta-transfer-cli-');

test('meta-transfer with tiny settings: one teleporter runs at every width and depth; the table agrees with the runs', t => {
  const out = join(tmp(), 'out');
  const r = runCli([
    'meta-transfer',
    '--trajectories',
    '1',
    '--steps',
    '2',
    '--unroll',
    '2',
    '--hidden',
    '3',
    '--validation',
    '1',
    '--train-width',
    '4',
    '--widths',
    '3,4,6',
    '--depths',
    '3',
    '--tasks',
    '2',
    '--test-steps',
    '3',
    '--quiet',
    '--backend',
    'cpu',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  for (const f of ['teleporter-coordinatewise.json', 'runs.csv', 'transfer.json', 'summary.md', 'loss_w6_d2.png', 'loss_w4_d3.png'])
    t.true(existsSync(join(out, f)), f);
  const { settings } = JSON.parse(readFileSync(join(out, 'transfer.json'), 'utf8')) as {
    settings: Array<{ name: string; width: number; depth: number; gdLr: number; runs: Array<{ arm: string; task: number; losses: number[] }> }>;
  };
  t.deepEqual(
    settings.map(s => [s.width, s.depth]),
    [
      [3, 2],
      [4, 2],
      [6, 2],
      [4, 3],
    ],
  );
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  for (const s of settings) {
    const mine = s.runs.filter(x => x.arm === 'coordinate-wise teleporter');
    t.is(mine.length, 2, s.name);
    t.is(mine[0].losses[0], s.runs.find(x => x.arm.startsWith('GD ('))!.losses[0]);
    // Every arm starts from the same task.
    for (const task of [0, 1]) {
      const starts = s.runs.filter(x => x.task === task).map(x => x.losses[0]);
      t.true(starts.every(v => v === starts[0]));
    }
    // The table's final L/L₀ for the teleporter, recomputed from the runs.
    const ratio = mine.reduce((a, x) => a + x.losses[3] / x.losses[0], 0) / mine.length;
    const ran = mine.every(x => x.losses.length === 4 && Number.isFinite(x.losses[3]));
    const row = summary.split('\n').find(l => l.startsWith(`| ${s.name} | coordinate-wise teleporter |`))!;
    t.is(row.split('|')[4].trim(), ran ? ratio.toExponential(2) : '—');
  }
  t.regex(summary, /Teleporter vs tuned GD, per setting/);
});

test('meta-transfer bad input: exit 2 with a message naming the fix', t => {
  const a = runCli(['meta-transfer', '--widths', '10,x', '--out', join(tmp(), 'x')]);
  t.is(a.code, 2);
  t.regex(a.stderr, /--widths: a comma list of integers ≥ 1/);
  const b = runCli(['meta-transfer', '--depths', '1', '--out', join(tmp(), 'y')]);
  t.is(b.code, 2);
  t.regex(b.stderr, /--depths: a comma list of integers ≥ 2/);
});
