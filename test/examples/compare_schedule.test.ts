import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDirs } from '../cli_helpers.js';
import { parseSchedule } from '../../examples/commands/compare.js';
import { plannedSteps, type TeleportSpec } from '../../examples/train/runner.js';

const tempDir = tempDirs('tp-schedule-');

const spec = (over: Partial<TeleportSpec>): TeleportSpec => ({
  atSteps: [7],
  group: 'rescale',
  objective: 'gradNorm',
  steps: 1,
  lr: 0.1,
  batchCount: 1,
  batchSize: 20,
  ...over,
});

test("compare --schedule: 'epochs', 'every:N' and 'auto'; anything else names the choices", t => {
  t.is(parseSchedule('epochs'), null);
  t.deepEqual(parseSchedule('every:50'), { every: 50 });
  t.is(parseSchedule('auto'), 'auto');
  for (const bad of ['every:0', 'every:', 'sometimes', 'every:-3'])
    t.throws(() => parseSchedule(bad), { message: /--schedule must be 'epochs', 'every:N' .* or 'auto'/ }, bad);
});

test('the reset control resets where the teleport arm teleports: atSteps, every N steps, or the given steps for auto', t => {
  t.deepEqual(plannedSteps(spec({}), 100), [7]);
  // Every 30 steps from step 30, below the run's 100 steps: 30, 60, 90 (counted by hand).
  t.deepEqual(plannedSteps(spec({ schedule: { every: 30 } }), 100), [30, 60, 90]);
  t.deepEqual(plannedSteps(spec({ schedule: { every: 30, start: 10, stop: 50 } }), 100), [10, 40]);
  t.deepEqual(plannedSteps(spec({ schedule: 'auto' }), 100), []);
  t.deepEqual(plannedSteps(spec({ schedule: 'auto', resetSteps: [20, 61] }), 100), [20, 61]);
});

test('compare --schedule every:N teleports every N steps (regression, full batch: one step per epoch)', t => {
  const out = join(tempDir(), 'every');
  const r = runCli([
    'regression',
    '--optimizers',
    'sgd',
    '--variants',
    'teleport,reset',
    '--seeds',
    '1',
    '--epochs',
    '8',
    '--schedule',
    'every:3',
    '--backend',
    'cpu',
    '--quiet',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  const { runs } = JSON.parse(readFileSync(join(out, 'runs.json'), 'utf8'));
  const tele = runs.find((x: { variant: string }) => x.variant === 'teleport');
  t.deepEqual(
    tele.teleports.map((e: { step: number }) => e.step),
    [3, 6],
  );
  const bad = runCli(['regression', '--schedule', 'sometimes', '--backend', 'cpu', '--quiet', '--out', join(tempDir(), 'bad')]);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /--schedule must be/);
});
