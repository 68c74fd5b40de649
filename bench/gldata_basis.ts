/**
 * How much of the dense gl-data gradient a rank-r basis keeps, in the Fig. 4.6 setting:
 * `npx tsx bench/gldata_basis.ts`. M = ∂‖∇L(g·w)‖²/∂g at g = I (h×h per site, one dense evaluation);
 * a basis V gets the gradient M·V in θ, so ‖M·V‖²/‖M‖² is the share of the first ascent step's
 * first-order gain it keeps. Compared: a random basis, the data basis (the batch's hidden activations
 * and their loss gradients), and the best possible (M's top right singular vectors).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { setupBackend } from './common.js';
import { loadMnist } from '../examples/data/mnist.js';
import { toTensors } from '../examples/data/dataset.js';
import { buildMlp } from '../examples/train/models.js';
import { crossEntropy, trainStepOn } from './pays_common.js';
import { FIG46 } from './pays_gldata.js';
import { readModel } from '../src/structure/read_model.js';
import { planTeleport } from '../src/teleport/plan.js';
import { applyActions } from '../src/teleport/engine.js';
import { gradNormSq } from '../src/objectives/grad_norm.js';
import { lowRankBasis } from '../src/groups/gl_lowrank.js';
import { topRowSpace } from '../src/groups/gl_data_basis.js';
import { applyActivation } from '../src/structure/activations.js';

await setupBackend(process.argv.includes('--cpu') ? 'cpu' : undefined);
const ds = await loadMnist({ testLimit: 1 });
const train = toTensors(ds.train, { flatten: true, oneHot: true });
const model = buildMlp({ inputSize: 784, widths: [...FIG46.widths], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed: 1 });
const opt = tf.train.sgd(FIG46.lr);
const bx = tf.slice(train.x, 0, FIG46.batchSize);
const by = tf.slice(train.y, 0, FIG46.batchSize);
for (let i = 0; i < 20; i++) trainStepOn(opt, model, bx, by);
const s = readModel(model);
const rows: string[] = [];
for (let b = 0; b < FIG46.teleportBatches; b++) {
  const x = tf.slice(train.x, 1000 + b * 20, 20);
  const y = tf.slice(train.y, 1000 + b * 20, 20);
  const actions = planTeleport(s, 'gl-data', 'error', { glDataRank: 'dense' }).build(s.variables, x);
  const F = (ths: tf.Tensor[]) => {
    const moved = applyActions(actions, s.variables, ths);
    return gradNormSq(tf.grads((...ps: tf.Tensor[]) => crossEntropy(y, s.forward(ps, x).output))(moved));
  };
  const ms = tf.tidy(() =>
    tf
      .grads((...ts: tf.Tensor[]) => F(ts))(actions.map(a => a.init(() => 0)))
      .map(m => tf.keep(m)),
  );
  const plan = planTeleport(s, 'gl-data', 'error', { glDataRank: 'dense' });
  const run = s.forward(s.variables, x, { collect: true });
  for (let k = 0; k < ms.length; k++) {
    const site = plan.sites[k] as { inLayer: number };
    const act = tf.tidy(() => applyActivation({ kind: 'leakyRelu', alpha: 0.1 } as never, run.preActivations![site.inLayer]!) as tf.Tensor2D);
    const h = ms[k].shape[0];
    const m = new Matrix(ms[k].arraySync() as number[][]);
    const total = m.norm('frobenius') ** 2;
    // Row side g = I + U·Vᵀ: gradient M·V; column side g = I + V·Uᵀ: gradient Mᵀ·V.
    const share = (v: tf.Tensor2D, col: boolean) =>
      new Matrix(tf.matMul(ms[k] as tf.Tensor2D, v, col, false).arraySync() as number[][]).norm('frobenius') ** 2 / total;
    const svd = new SingularValueDecomposition(m, { autoTranspose: true });
    const sv = svd.diagonal;
    const rank99 = sv
      .map(x => x * x)
      .reduce((acc, x, i, all) => (acc.sum < 0.99 * all.reduce((p, q) => p + q, 0) ? { sum: acc.sum + x, n: i + 1 } : acc), { sum: 0, n: 0 }).n;
    rows.push(`batch ${b} site ${k}: ‖M‖² ${total.toExponential(3)}, rank holding 99 %: ${rank99}`);
    for (const r of [4, 16, 20]) {
      const rand = lowRankBasis(h, r, [k]);
      const bestRow = tf.tensor2d(svd.rightSingularVectors.subMatrix(0, h - 1, 0, r - 1).to2DArray());
      const bestCol = tf.tensor2d(svd.leftSingularVectors.subMatrix(0, h - 1, 0, r - 1).to2DArray());
      const data = lowRankBasis(h, r, [k], topRowSpace(act, r));
      // The sketch (what the solver does): M·V₀ for a random V₀ of r + 10 columns, its top-r left singular vectors.
      const v0 = lowRankBasis(h, Math.min(h, r + 10), [k, 1]);
      const yT = tf.transpose(tf.matMul(ms[k] as tf.Tensor2D, v0));
      const sketch = lowRankBasis(h, r, [k], topRowSpace(yT, r));
      rows.push(
        `  r=${r}: random ${share(rand, false).toFixed(3)}/${share(rand, true).toFixed(3)}  activations row ${share(data, false).toFixed(3)} col ${share(data, true).toFixed(3)}  sketch col ${share(sketch, true).toFixed(3)}  best row ${share(bestRow, false).toFixed(3)} col ${share(bestCol, true).toFixed(3)}`,
      );
      tf.dispose([rand, bestRow, bestCol, data, v0, yT, sketch]);
    }
    act.dispose();
  }
  actions.forEach(a => a.dispose?.());
  tf.dispose([x, y, ...ms]);
}
console.log(rows.join('\n'));
