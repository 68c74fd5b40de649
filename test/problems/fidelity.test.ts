import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDirs } from '../cli_helpers.js';
import { loadFlatDataset } from '../../examples/data/flat.js';
import { buildMlp } from '../../examples/train/models.js';
import { trainCorrelationModel } from '../../examples/commands/correlation.js';

// Like for like with the dissertation's reference code (issue 21, "what a user sees").

const tempDir = tempDirs('tp-fidelity-');

test.before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

/** Booth by hand: f = (x + 2y − 7)² + (2x + y − 5)². */
const booth = ([x, y]: number[]) => (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2;
const boothGrad = ([x, y]: number[]) => {
  const a = x + 2 * y - 7;
  const b = 2 * x + y - 5;
  return [2 * a + 4 * b, 4 * a + 2 * b];
};

test('test-functions: Booth teleports before step index 4, as the reference code, and ends at its 9.45e-4', t => {
  const out = join(tempDir(), 'tf');
  const r = runCli(['test-functions', '--functions', 'booth', '--backend', 'cpu', '--quiet', '--out', out]);
  t.is(r.code, 0, r.stderr);
  const { setting, teleport } = JSON.parse(readFileSync(join(out, 'booth.json'), 'utf8'));
  t.deepEqual(setting.teleportAt, [4]);
  t.is(teleport.teleports.length, 1);
  t.is(teleport.teleports[0].step, 4);
  t.true(teleport.teleports[0].accepted);
  const final = teleport.losses[teleport.losses.length - 1];
  // The reference code's final loss after 10 steps of GD 0.08 with one teleport before step index 4.
  t.true(Math.abs(final - 9.45e-4) < 0.01e-4, `final loss ${final}`);
  // Independently: from the teleported point, six plain GD steps (indices 4..9) by hand reach the same loss.
  let p: number[] = teleport.points[teleport.teleportIndices[0]];
  t.is(teleport.teleportIndices[0], 5, 'start, 4 steps, then the teleported point');
  for (let k = 4; k < 10; k++) {
    const g = boothGrad(p);
    p = [p[0] - setting.lr * g[0], p[1] - setting.lr * g[1]];
  }
  t.true(Math.abs(booth(p) - final) <= 1e-3 * final + 1e-7, `${booth(p)} vs ${final}`);
});

test('correlation: the training loss is measured on the same examples as φ', async t => {
  const out = join(tempDir(), 'corr');
  // 1100 training examples: φ (and now the training loss) use the first 1000.
  const r = runCli(
    [
      'correlation',
      '--models',
      '3',
      '--epochs',
      '1',
      '--train-limit',
      '1100',
      '--test-limit',
      '50',
      '--directions',
      '2',
      '--backend',
      'cpu',
      '--quiet',
      '--out',
      out,
    ],
    200_000,
  );
  t.is(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(join(out, 'models.json'), 'utf8'));
  t.is(json.scale.metricExamples, 1000);
  const row = json.models.find((m: { seed: number }) => m.seed === 1);
  // Retrain seed 1 as the command does and compute the cross-entropy by hand on both example sets.
  const { train, test: te } = await loadFlatDataset('mnist', undefined, 1100, 50);
  const model = buildMlp({ inputSize: 784, widths: [16, 10], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed: 1 });
  trainCorrelationModel(model, train.x, train.y, 1, 0.01, 1, () => {});
  const p = (model.predict(train.x) as tf.Tensor).arraySync() as number[][];
  const y = train.y.arraySync() as number[][];
  const ce = (n: number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s -= y[i].reduce((acc, v, c) => acc + v * Math.log(Math.max(p[i][c], 1e-7)), 0);
    return s / n;
  };
  const onPhiExamples = ce(1000);
  const onAll = ce(1100);
  t.true(Math.abs(onAll - onPhiExamples) > 5e-4, 'the two example sets give different losses (the test can tell them apart)');
  t.log({ onPhiExamples, onAll, reported: row.trainLoss });
  t.true(Math.abs(row.trainLoss - onPhiExamples) < 2e-5 * onPhiExamples, `${row.trainLoss} vs ${onPhiExamples} (all examples: ${onAll})`);
  tf.dispose([train.x, train.y, te.x, te.y]);
  model.dispose();
});
