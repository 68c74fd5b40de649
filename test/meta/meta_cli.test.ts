import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDirs } from '../cli_helpers.js';

const tmp = tempDirs('meta-cli-');

test('meta-train then meta-test with tiny settings: teleporters saved, every arm and its ablation compared, the table agrees with the runs', t => {
  const models = join(tmp(), 'models');
  const train = runCli([
    'meta-train',
    '--trajectories',
    '1',
    '--steps',
    '4',
    '--unroll',
    '2',
    '--hidden',
    '4',
    '--validation',
    '1',
    '--tele-trajectories',
    '1',
    '--tele-hidden',
    '2',
    '--quiet',
    '--backend',
    'cpu',
    '--out',
    models,
  ]);
  t.is(train.code, 0, train.stderr);
  for (const f of [
    'teleporter-update.json',
    'teleporter-update.weights.bin',
    'teleporter-lr-teleport.json',
    'teleporter-update-teleport.json',
    'teleporter-teleport.json',
    'training.json',
    'summary.md',
  ]) {
    t.true(existsSync(join(models, f)), f);
  }
  const training = JSON.parse(readFileSync(join(models, 'training.json'), 'utf8'));
  t.true(training.gd.lr > 0 && training.gd.grid.some((g: { stable: boolean }) => !g.stable), 'the GD search found the edge of stability');
  const out = join(tmp(), 'test');
  const r = runCli(['meta-test', '--models', models, '--tasks', '2', '--steps', '4', '--quiet', '--backend', 'cpu', '--out', out]);
  t.is(r.code, 0, r.stderr);
  for (const f of ['runs.csv', 'runs.json', 'summary.md', 'loss_vs_step.png', 'loss_vs_time.png']) t.true(existsSync(join(out, f)), f);
  const { runs } = JSON.parse(readFileSync(join(out, 'runs.json'), 'utf8')) as { runs: Array<{ arm: string; task: number; losses: number[] }> };
  const arms = [...new Set(runs.map(x => x.arm))];
  t.deepEqual(
    arms.sort(),
    [
      'GD',
      'LSTM(lr, tele)',
      'LSTM(lr, tele) (tele off)',
      'LSTM(update)',
      'LSTM(update, tele)',
      'LSTM(update, tele) (tele off)',
      'GD + LSTM(tele)',
      'GD + LSTM(tele) (tele off)',
      'GD + ascent teleport (core, step 0)',
    ].sort(),
  );
  // GD + LSTM(tele) runs GD at --tele-fraction (0.5) of the searched step size; with its teleports off it is that GD.
  const tele = training.teleporters.find((x: { learn: string }) => x.learn === 'teleport');
  t.is(tele.baseLr, Number((training.gd.lr * 0.5).toPrecision(3)));
  t.is(tele.architecture, 'coordinatewise');
  // Same unseen task for every arm: the same starting loss.
  for (const task of [0, 1]) {
    const starts = runs.filter(x => x.task === task).map(x => x.losses[0]);
    t.true(starts.every(s => s === starts[0]));
  }
  // The table's GD row, recomputed from the runs.
  const gd = runs.filter(x => x.arm === 'GD');
  const to10 = gd.map(x => x.losses.findIndex(l => l <= 0.1 * x.losses[0])).filter(i => i >= 0);
  const summary = readFileSync(join(out, 'summary.md'), 'utf8');
  const row = summary.split('\n').find(l => l.startsWith('| GD |'))!;
  const cell = row.split('|')[3].trim();
  const m = to10.reduce((a, b) => a + b, 0) / to10.length;
  const sd = to10.length > 1 ? Math.sqrt(to10.reduce((a, b) => a + (b - m) ** 2, 0) / (to10.length - 1)) : 0;
  t.is(cell, to10.length ? `${m.toFixed(1)} ± ${sd.toFixed(1)} (${to10.length}/2)` : '— (0/2)');
  t.regex(summary, /What the teleports contribute/);
});

test('meta CLI bad input: exit 2 with a message naming the fix', t => {
  const a = runCli(['meta-train', '--steps', '5', '--unroll', '2', '--out', join(tmp(), 'x')]);
  t.is(a.code, 2);
  t.regex(a.stderr, /--steps \(5\) must be a multiple of --unroll \(2\)/);
  const b = runCli(['meta-test', '--models', join(tmp(), 'nothing-here')]);
  t.is(b.code, 2);
  t.regex(b.stderr, /no training\.json there; pass the output folder of meta-train/);
  const c = runCli(['meta-train', '--learn', 'update,tele', '--out', join(tmp(), 'y')]);
  t.is(c.code, 2);
  t.regex(c.stderr, /unknown value 'tele'/);
  const d = runCli(['meta-train', '--tele-fraction', '1.5', '--out', join(tmp(), 'z')]);
  t.is(d.code, 2);
  t.regex(d.stderr, /--tele-fraction must be in \(0, 1\]/);
});
