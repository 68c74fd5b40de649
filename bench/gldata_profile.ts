/**
 * Which kernels one gl-data teleport of the Fig. 4.6 event spends its time in:
 * `npx tsx bench/gldata_profile.ts [--rank dense|N]`. tf.profile of one teleport on one batch of 20,
 * kernels grouped by name and input shapes, top 15 by total time.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tp from '../src/index.js';
import { setupBackend } from './common.js';
import { loadMnist } from '../examples/data/mnist.js';
import { toTensors } from '../examples/data/dataset.js';
import { buildMlp } from '../examples/train/models.js';
import { crossEntropy, trainStepOn } from './pays_common.js';
import { FIG46 } from './pays_gldata.js';

const args = process.argv.slice(2);
const i = args.indexOf('--rank');
const rank = i >= 0 ? (args[i + 1] === 'dense' ? 'dense' : Number(args[i + 1])) : undefined;
await setupBackend();
const ds = await loadMnist({ limit: 2000, testLimit: 1 });
const train = toTensors(ds.train, { flatten: true, oneHot: true });
const model = buildMlp({ inputSize: 784, widths: [...FIG46.widths], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed: 1 });
const opt = tf.train.sgd(FIG46.lr);
const bx = tf.slice(train.x, 0, 20);
const by = tf.slice(train.y, 0, 20);
for (let k = 0; k < 20; k++) trainStepOn(opt, model, bx, by);
const batch = { x: tf.slice(train.x, 1000, 20), y: tf.slice(train.y, 1000, 20) };
const options: tp.TeleportOptions = {
  group: 'gl-data',
  steps: FIG46.ascentSteps,
  lr: FIG46.ascentLr,
  normalize: false,
  loss: crossEntropy,
  ...(rank != null ? { glDataRank: rank } : {}),
};
await tp.teleport(model, batch, options); // warm-up
tp.teleport.resetBudget(model);
const t0 = performance.now();
const info = await tf.profile(async () => {
  await tp.teleport(model, batch, options);
});
const wall = performance.now() - t0;
const groups = new Map<string, { ms: number; count: number }>();
for (const k of info.kernels) {
  const key = `${k.name} ${k.inputShapes.map(s => `[${s}]`).join(' ')}`;
  const g = groups.get(key) ?? { ms: 0, count: 0 };
  g.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
  g.count++;
  groups.set(key, g);
}
const total = [...groups.values()].reduce((a, g) => a + g.ms, 0);
console.log(`one teleport: ${wall.toFixed(0)} ms wall (profiled), kernels ${total.toFixed(0)} ms, ${info.kernels.length} kernel calls`);
for (const [key, g] of [...groups.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15))
  console.log(`${g.ms.toFixed(1).padStart(8)} ms ${String(g.count).padStart(5)}×  ${key}`);
