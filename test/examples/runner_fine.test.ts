import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import { mlp, seededUniform, useCpu } from '../helpers.js';
import { runTraining } from '../../examples/train/runner.js';
import { summarize } from '../../examples/report/summary.js';

test.before(useCpu);

// 60 examples, batch 4: 15 steps per epoch; 3 points per epoch → windows of 5 steps; teleport at step 7.
function tinyRun(variant: 'baseline' | 'teleport' | 'reset') {
  const x = seededUniform([60, 6], 11);
  // Learnable labels: the largest of the first three inputs.
  const y = tf.tidy(() => tf.oneHot(tf.argMax(tf.slice(x, [0, 0], [60, 3]), 1), 3));
  try {
    return runTraining({
      optimizer: 'sgd',
      lr: 0.5,
      variant,
      seed: 1,
      epochs: 2,
      batchSize: 4,
      finePointsPerEpoch: 3,
      buildModel: seed => mlp({ seed, softmax: true }),
      loss: 'categoricalCrossentropy',
      train: { x, y },
      teleport: { atSteps: [7], group: 'rescale', objective: 'gradNorm', steps: 5, lr: 0.1, batchCount: 1, batchSize: 20, gradientSource: 'data' },
    });
  } finally {
    tf.dispose([x, y]);
  }
}

test('runTraining records the train loss at step resolution, with a point at the teleport step', t => {
  const run = tinyRun('teleport');
  t.is(run.fineWindow, 5);
  const fine = run.fine!;
  // Windows close every 5 steps, at the end of each epoch and right before the teleport step.
  t.deepEqual(
    fine.map(p => p.step),
    [0, 5, 7, 12, 15, 20, 25, 30],
  );
  t.deepEqual(
    fine.map(p => p.epoch),
    fine.map(p => p.step / 15),
  );
  t.is(fine[0].trainLoss, run.points[0].trainLoss, 'starts at the evaluated initial loss');
  t.true(fine.every(p => Number.isFinite(p.trainLoss) && p.trainLoss > 0));
  for (let i = 1; i < fine.length; i++) t.true(fine[i].seconds >= fine[i - 1].seconds);
  // More than one point per epoch; the per-epoch records stay as they were (3: epochs 0, 1, 2).
  t.true(fine.length - 1 > 2 * 2);
  t.deepEqual(
    run.points.map(p => p.epoch),
    [0, 1, 2],
  );
  // The teleport is marked at its step, on the fractional epoch axis.
  t.is(run.teleports.length, 1);
  t.is(run.teleports[0].step, 7);
  t.is(run.teleports[0].epoch, 7 / 15);
  t.true(fine.some(p => p.step === run.teleports[0].step));
  // Every arm is sampled at the same steps, so seeds and arms aggregate point by point.
  t.deepEqual(
    tinyRun('baseline').fine!.map(p => p.step),
    fine.map(p => p.step),
  );
});

test('summarize reads steps and seconds to target from the step-resolution series', t => {
  const run = tinyRun('baseline');
  const l0 = run.points[0].trainLoss;
  // A target the run reaches: its lowest step-resolution loss after the start.
  const fraction = (Math.min(...run.fine!.slice(1).map(p => p.trainLoss)) / l0) * (1 + 1e-9);
  const [g] = summarize([run], { lossTargets: [fraction] });
  const first = run.fine!.find(p => p.trainLoss <= fraction * l0);
  t.truthy(first);
  t.is(g.targets[0].steps.mean, first!.step);
  t.is(g.targets[0].seconds.mean, first!.seconds);
  t.is(g.targets[0].epochs.mean, first!.step / 15);
});
