import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { halfSumSquaredError, regressionData, sumSquaredError } from '../../src/problems/regression.js';
import { loadTask } from '../../examples/train/datasets.js';
import { trainRegressionArms } from '../../bench/regression_train.js';
import { runCli, tempDirs } from '../cli_helpers.js';

test.before(async () => {
  await tf.setBackend('cpu');
});

const tempDir = tempDirs('tp-half-sse-');

test('halfSumSquaredError is ½‖Y − Ŷ‖², recomputed by a plain loop', t => {
  const { x: _x, y } = regressionData(3);
  const yHat = tf.randomUniform(y.shape, -1, 1, 'float32', 7);
  const a = y.dataSync();
  const b = yHat.dataSync();
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  const half = halfSumSquaredError(y, yHat);
  t.true(Math.abs(half.dataSync()[0] - 0.5 * sum) <= 1e-5 * sum);
  tf.dispose([_x, y, yHat, half]);
});

test("the regression task trains on the reference's ½‖·‖² when asked, and on ‖·‖² by default", async t => {
  const before = tf.memory().numTensors;
  const plain = await loadTask({ dataset: 'regression', widths: [], activation: 'leakyRelu', alpha: 0.1 });
  const half = await loadTask({ dataset: 'regression', widths: [], activation: 'leakyRelu', alpha: 0.1, regressionLoss: 'half-sse' });
  const model = plain.buildModel(1);
  const p = model.predict(plain.train.x) as tf.Tensor;
  const lossOf = (task: typeof plain) => tf.tidy(() => (task.loss as (a: tf.Tensor, b: tf.Tensor) => tf.Scalar)(task.train.y, p).dataSync()[0]);
  const reference = tf.tidy(() => sumSquaredError(plain.train.y, p).dataSync()[0]);
  t.is(lossOf(plain), reference);
  t.true(Math.abs(lossOf(half) - reference / 2) <= 1e-6 * reference);
  t.regex(half.description, /½‖Y/);
  tf.dispose(p);
  model.dispose();
  plain.dispose();
  half.dispose();
  t.is(tf.memory().numTensors, before);
});

test('GD on ½‖·‖² at rate η follows GD on ‖·‖² at η/2 (the reference step is half ours), in the bench trainer', t => {
  const [half, full] = trainRegressionArms(
    [
      { optimizer: 'sgd', lr: 1e-4, variant: 'baseline', seed: 2, loss: 'half-sse' },
      { optimizer: 'sgd', lr: 5e-5, variant: 'baseline', seed: 2 },
    ],
    30,
  );
  t.is(half.losses.length, full.losses.length);
  // ½L at η: w ← w − η·½∇L = w − (η/2)·∇L, the same iterates; the recorded losses differ by the factor ½.
  half.losses.forEach((v, e) => t.true(Math.abs(2 * v - full.losses[e]) <= 1e-4 * full.losses[e], `epoch ${e}: ${2 * v} vs ${full.losses[e]}`));
  t.true(full.losses[30] < full.losses[0], 'it trains');
});

test('compare: --loss half-sse runs the regression on the reference loss; on a classification task it is refused', t => {
  const out = join(tempDir(), 'run');
  const r = runCli([
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
    '--quiet',
    '--loss',
    'half-sse',
    '--out',
    out,
  ]);
  t.is(r.code, 0, r.stderr);
  const runs = JSON.parse(readFileSync(join(out, 'runs.json'), 'utf8'));
  t.is(runs.config.loss, 'half-sse');
  // The recorded initial loss is half the default command's on the same seed and data.
  const plainOut = join(tempDir(), 'plain');
  t.is(
    runCli(['regression', '--optimizers', 'sgd', '--variants', 'baseline', '--seeds', '1', '--epochs', '2', '--backend', 'cpu', '--quiet', '--out', plainOut])
      .code,
    0,
  );
  const plain = JSON.parse(readFileSync(join(plainOut, 'runs.json'), 'utf8'));
  const l0 = (x: { runs: Array<{ points: Array<{ trainLoss: number }> }> }) => x.runs[0].points[0].trainLoss;
  t.true(Math.abs(2 * l0(runs) - l0(plain)) <= 1e-5 * l0(plain), `${l0(runs)} vs ${l0(plain)}`);
  const bad = runCli(['mnist', '--loss', 'half-sse', '--backend', 'cpu', '--quiet', '--out', join(tempDir(), 'x')]);
  t.is(bad.code, 2, bad.stderr);
  t.regex(bad.stderr, /--loss half-sse applies to the regression task only/);
});
