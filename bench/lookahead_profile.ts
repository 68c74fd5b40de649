/**
 * Profiles lookahead teleports and 'auto' decisions on the pays benchmark's mlp16 (784-16-10-10
 * leakyRelu, embedded digits, batch 20, teleport batch 40): run under `node --cpu-prof` and read the
 * profile with scripts of your own, or read the per-teleport times it prints. Not part of `npm run bench`.
 * Usage: `npx tsx bench/lookahead_profile.ts [sgd|adam] [every|auto] [steps]`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tp from '../src/index.js';
import { loadMnist } from '../examples/data/mnist.js';
import { toTensors } from '../examples/data/dataset.js';
import { buildMlp } from '../examples/train/models.js';
import { setupBackend } from './common.js';
import { trainStepOn } from './pays_common.js';

const [opt = 'sgd', mode = 'every', stepsArg = '300'] = process.argv.slice(2);
await setupBackend('wasm');
const ds = await loadMnist({ trainLimit: 8000, testLimit: 100 });
const train = toTensors(ds.train, { flatten: true });
const model = buildMlp({ inputSize: 784, widths: [16, 10], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed: 1 });
const data = [{ x: tf.slice(train.x, 4000, 40), y: tf.slice(train.y, 4000, 40) }];
const reports: tp.TeleportReport[] = [];
const base = { model, loss: 'categoricalCrossentropy', data, onTeleport: (r: tp.TeleportReport) => reports.push(r) };
const lr = opt === 'sgd' ? 0.3 : 0.003;
const options = mode === 'auto' ? { ...base, schedule: 'auto' } : { ...base, schedule: { every: 50 }, objective: 'lookahead' };
const optimizer = (
  opt === 'sgd' ? tp.sgd(lr, options as tp.TeleportOptimizerOptions) : tp.adam(lr, options as tp.TeleportOptimizerOptions)
) as tp.TeleportOptimizer;
const steps = Number(stepsArg);
const t0 = performance.now();
let stepMs = 0;
const perStep: number[] = [];
for (let s = 0; s < steps; s++) {
  const from = (s * 20) % 8000;
  const x = tf.slice(train.x, from, 20);
  const y = tf.slice(train.y, from, 20);
  const before = performance.now();
  trainStepOn(optimizer, model, x, y);
  stepMs += performance.now() - before;
  perStep.push(performance.now() - before);
  tf.dispose([x, y]);
}
const total = performance.now() - t0;
const plainStep = (() => {
  const x = tf.slice(train.x, 0, 20);
  const y = tf.slice(train.y, 0, 20);
  const o = tf.train.sgd(0.0);
  const t = performance.now();
  for (let i = 0; i < 100; i++) trainStepOn(o, model, x, y);
  const ms = (performance.now() - t) / 100;
  tf.dispose([x, y]);
  o.dispose();
  return ms;
})();
console.log(`plain step ${plainStep.toFixed(2)} ms`);
const sorted = perStep.slice().sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)];
const slow = perStep.map((ms, i) => [i, ms] as const).filter(([, ms]) => ms > 5 * median);
console.log(
  `median step ${median.toFixed(2)} ms; steps over 5× the median: ${slow.map(([i, ms]) => `${i}: ${ms.toFixed(1)}`).join(', ')}; their total ${slow.reduce((a, [, ms]) => a + ms, 0).toFixed(0)} ms = ${((100 * slow.reduce((a, [, ms]) => a + ms, 0)) / stepMs).toFixed(1)} % of the run`,
);
const teleMs = reports.reduce((a, r) => a + (r.ms ?? 0), 0);
console.log(
  `${opt} ${mode}: ${steps} steps in ${total.toFixed(0)} ms (steps incl. teleports ${stepMs.toFixed(0)} ms); teleports ${reports.length}, accepted ${reports.filter(r => r.accepted).length}, ${teleMs.toFixed(0)} ms`,
);
for (const r of reports)
  console.log(
    `  step ${r.step}: ${r.ms?.toFixed(1)} ms, ascent ${r.ascentSteps} backtracks ${r.backtracks} shrinks ${r.shrinks} accepted ${r.accepted} ${r.reason ?? ''} obj ${r.objectiveBefore?.toPrecision(3)}→${r.objectiveAfter?.toPrecision(3)} held ${r.heldOutBefore?.toPrecision(3)}→${r.heldOutAfter?.toPrecision(3)}`,
  );
for (const d of optimizer.scheduleDecisions) console.log('  decision', JSON.stringify(d));
