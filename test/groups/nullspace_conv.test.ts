import test from 'ava';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, useCpu, seededUniform, seedWeights, maxAbsDiff, oneHotBatch, relChange, autodiffGradNormSq } from '../helpers.js';
import * as tp from '../../src/index.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { applyActions } from '../../src/teleport/engine.js';
import { nullSpaceProjector } from '../../src/groups/nullspace.js';
import { convPatches } from '../../src/groups/conv_patches.js';
import { withSecondOrderGradients } from '../../src/structure/second_order_scope.js';

test.before(useCpu);

/** im2col by loops, written from the convolution's definition (zero padding as 'same' places it). */
function loopPatches(x: number[][][][], kh: number, kw: number, stride: number, padding: 'same' | 'valid'): number[][] {
  const [n, h, w, c] = [x.length, x[0].length, x[0][0].length, x[0][0][0].length];
  const oh = padding === 'same' ? Math.ceil(h / stride) : Math.floor((h - kh) / stride) + 1;
  const ow = padding === 'same' ? Math.ceil(w / stride) : Math.floor((w - kw) / stride) + 1;
  const padTop = padding === 'same' ? Math.floor(Math.max((oh - 1) * stride + kh - h, 0) / 2) : 0;
  const padLeft = padding === 'same' ? Math.floor(Math.max((ow - 1) * stride + kw - w, 0) / 2) : 0;
  const rows: number[][] = [];
  for (let b = 0; b < n; b++)
    for (let p = 0; p < oh; p++)
      for (let q = 0; q < ow; q++) {
        const row: number[] = [];
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++)
            for (let k = 0; k < c; k++) {
              const r = p * stride + i - padTop;
              const s = q * stride + j - padLeft;
              row.push(r >= 0 && r < h && s >= 0 && s < w ? x[b][r][s][k] : 0);
            }
        rows.push(row);
      }
  return rows;
}

for (const [padding, stride] of [
  ['valid', 1],
  ['same', 2],
] as const) {
  test(`im2col patches (${padding}, stride ${stride}) match a loop over the convolution's definition, and conv2d(x, K) = patches·K`, t => {
    const x = seededUniform([2, 5, 6, 3], 1) as tf.Tensor4D;
    const patches = convPatches(x, { kernelSize: [3, 2], strides: [stride, stride], padding, dilation: [1, 1] });
    const want = tf.tensor2d(loopPatches(x.arraySync(), 3, 2, stride, padding));
    t.deepEqual(patches.shape, want.shape);
    t.is(maxAbsDiff(patches, want), 0);
    const k = seededUniform([3, 2, 3, 4], 2) as tf.Tensor4D;
    const conv = tf.conv2d(x, k, stride, padding);
    const viaPatches = tf.reshape(tf.matMul(want, tf.reshape(k, [18, 4])), conv.shape);
    t.true(maxAbsDiff(conv, viaPatches) < 1e-5);
  });
}

/** conv(tanh) → maxPool → conv(sigmoid) → flatten → dense(softmax): the second conv sees 3×3×4 and outputs 1×1×6. */
function lateConvCnn(seed = 4): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, activation: 'tanh' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'sigmoid' }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  seedWeights(model, seed, 0.5);
  return model;
}

test('Conv2D null space: an arbitrary element keeps the batch outputs within 1e-5 relative, changes held-out ones, and reports rank and free directions', t => {
  const model = lateConvCnn();
  const s = readModel(model);
  const x = seededUniform([4, 8, 8, 2], 5);
  const xHeld = seededUniform([16, 8, 8, 2], 6);
  const plan = planTeleport(s, 'nullspace');
  t.is(plan.sites.length, 2);
  const actions = plan.build(s.variables, x);
  const whereConv = actions.find(a => a.where.startsWith(model.layers[2].name))!.where;
  // 4 examples × 1×1 positions = 4 patch rows; 3·3·4 + 1 = 37 columns.
  t.regex(whereConv, /im2col patches \(4×37, rank 4 at rcond 1e-6: 33 free directions\)/);
  const thetas = actions.map((a, k) => seededUniform(a.init(() => 0).shape as number[], 20 + k, -0.5, 0.5));
  const moved = applyActions(actions, s.variables, thetas);
  t.true(maxAbsDiff(moved[2], s.variables[2]) > 0.05, 'the conv kernel moved');
  const onBatch = relChange(s.forward(s.variables, x).output, s.forward(moved, x).output);
  const offBatch = relChange(s.forward(s.variables, xHeld).output, s.forward(moved, xHeld).output);
  t.log(`batch change ${onBatch.toExponential(1)}, held-out change ${offBatch.toExponential(1)}`);
  t.true(onBatch < 1e-5, `${onBatch}`);
  t.true(offBatch > 1e-3);
  // The layer's pre-activations are kept too (not only the softmax output).
  const pre = (p: readonly tf.Tensor[]) => s.forward(p, x, { collect: true }).preActivations![2]!;
  t.true(relChange(pre(s.variables), pre(moved)) < 1e-5);
  actions.forEach(a => a.dispose?.());
});

test('Conv2D null space: the gradient in θ is the autodiff gradient in (K, b) projected onto the null space of loop-built patches', t => {
  const model = lateConvCnn(7);
  const s = readModel(model);
  const x = seededUniform([3, 8, 8, 2], 8);
  const xHeld = seededUniform([5, 8, 8, 2], 9);
  const yHeld = oneHotBatch(5, 3, 10);
  const plan = planTeleport(s, 'nullspace');
  const actions = plan.build(s.variables, x);
  const k = actions.findIndex(a => a.touches.includes(2));
  const loss = (p: readonly tf.Tensor[]) => tf.losses.softmaxCrossEntropy(yHeld, s.forward(p, xHeld, { logits: true }).output) as tf.Scalar;
  const theta0 = actions[k].init(() => 0);
  const gTheta = tf.grad((th: tf.Tensor) => loss(actions[k].act(s.variables, th)))(theta0);
  // Independently: ∇ in the conv kernel and bias at w, stacked as [kh·kw·cin + 1, cout], projected.
  const [gK, gB] = tf.grads((kk: tf.Tensor, bb: tf.Tensor) => {
    const p = s.variables.slice() as tf.Tensor[];
    p[2] = kk;
    p[3] = bb;
    return loss(p);
  })([s.variables[2], s.variables[3]]);
  const first = s.forward(s.variables, x, { collect: true }).inputs![2] as tf.Tensor4D;
  const h = tf.concat([tf.tensor2d(loopPatches(first.arraySync(), 3, 3, 1, 'valid')), tf.ones([3, 1])], 1) as tf.Tensor2D;
  const { projector, rank } = nullSpaceProjector(h);
  t.is(rank, 3);
  const want = tf.matMul(projector, tf.concat([tf.reshape(gK, [36, 6]), tf.reshape(gB, [1, 6])], 0));
  const scale = tf.max(tf.abs(want)).dataSync()[0];
  t.true(scale > 1e-4, 'a non-trivial gradient');
  t.true(maxAbsDiff(gTheta, want) < 1e-5 * Math.max(1, scale) + 1e-6, `${maxAbsDiff(gTheta, want)} vs scale ${scale}`);
  // And the raw gradient is not already in the null space (the projection did something).
  t.true(maxAbsDiff(tf.concat([tf.reshape(gK, [36, 6]), tf.reshape(gB, [1, 6])], 0), want) > 1e-3 * scale);
  actions.forEach(a => a.dispose?.());
});

test('Conv2D null space is empty when patch rows outnumber kernel entries: the error says so and what to change', t => {
  const model = lateConvCnn();
  const s = readModel(model);
  // 40 examples × 1 position = 40 rows > 37 columns for the conv; 40 rows > 7 for the dense head.
  const x = seededUniform([40, 8, 8, 2], 11);
  const plan = planTeleport(s, 'nullspace');
  const err = t.throws(() => plan.build(s.variables, x), { instanceOf: tp.NoOrbitError });
  t.regex(
    err!.message,
    /40×37, rank 37 .*0 free directions\).*empty.*40 patch rows \(40 examples × 1 positions\).*use a teleport batch of fewer than 37 examples/,
  );
});

test.serial('a Conv2D null-space teleport keeps the batch loss, raises ‖∇L‖² there (recomputed) and leaves no tensors behind', async t => {
  const model = lateConvCnn(12);
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([4, 8, 8, 2], 13);
  const y = oneHotBatch(4, 3, 14);
  const s = readModel(model);
  const lossAt = (p: readonly tf.Tensor[]) => tf.losses.softmaxCrossEntropy(y, s.forward(p, x, { logits: true }).output) as tf.Scalar;
  const gradNormSq = () => autodiffGradNormSq(lossAt, s.variables);
  const before = gradNormSq();
  const loss0 = tf.tidy(() => lossAt(s.variables).dataSync()[0]);
  const opts = { group: 'nullspace', heldOutFraction: 0, steps: 6, lr: 0.5 } as const;
  await tp.teleport(model, { x, y }, { ...opts, steps: 1 }); // warm kernels
  tp.teleport.resetBudget(model);
  const n0 = tf.memory().numTensors;
  const r = await tp.teleport(model, { x, y }, opts);
  t.is(tf.memory().numTensors, n0);
  t.true(r.accepted, r.reason);
  const after = gradNormSq();
  t.log(`‖∇L‖² ${before.toPrecision(4)} → ${after.toPrecision(4)}; sites: ${r.sites.join(' | ')}`);
  t.true(after > before * 1.01);
  t.true(Math.abs(tf.tidy(() => lossAt(s.variables).dataSync()[0]) - loss0) < 1e-4 * loss0);
});

for (const pool of ['max', 'avg-same'] as const) {
  test(`second derivatives through Conv2D kernels and ${pool} pooling (gradients tfjs lacks) match central differences`, t => {
    const model = tfl.sequential({
      layers: [
        // 8×8 → 7×7: a 2×2 'same' average pooling cuts the last window.
        tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 2, activation: 'tanh' }),
        pool === 'max' ? tfl.layers.maxPooling2d({ poolSize: 2 }) : tfl.layers.averagePooling2d({ poolSize: 2, padding: 'same' }),
        tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation: 'sigmoid' }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    seedWeights(model, 15, 0.6);
    const s = readModel(model);
    const x = seededUniform([2, 8, 8, 2], 16);
    const y = oneHotBatch(2, 2, 17);
    const actions = planTeleport(s, 'nullspace', 'skip').build(s.variables, x);
    const conv = actions.find(a => a.touches.includes(2))!;
    // ‖∇L‖² in the first conv's kernel and bias, as a function of the second conv's θ.
    const f = (th: tf.Tensor) =>
      tf.tidy(() => {
        const p = conv.act(s.variables, th);
        const [gk, gb] = tf.grads((k: tf.Tensor, b: tf.Tensor) => {
          const q = p.slice();
          q[0] = k;
          q[1] = b;
          return tf.losses.softmaxCrossEntropy(y, s.forward(q, x, { logits: true }).output) as tf.Scalar;
        })([p[0], p[1]]);
        return tf.add(tf.sum(tf.square(gk)), tf.sum(tf.square(gb))) as tf.Scalar;
      });
    const theta = seededUniform(conv.init(() => 0).shape as number[], 18, -0.3, 0.3);
    const dir = seededUniform(theta.shape as number[], 19);
    const grad = withSecondOrderGradients(() => tf.grad(f)(theta));
    const analytic = tf.sum(tf.mul(grad, dir)).dataSync()[0];
    const h = 1e-2;
    const numeric = (f(tf.add(theta, tf.mul(dir, h))).dataSync()[0] - f(tf.sub(theta, tf.mul(dir, h))).dataSync()[0]) / (2 * h);
    t.log(`${pool}: directional derivative ${analytic.toPrecision(5)} (autodiff) vs ${numeric.toPrecision(5)} (central difference)`);
    t.true(Math.abs(analytic) > 1e-4, 'a non-trivial derivative');
    t.true(Math.abs(analytic - numeric) < 2e-2 * Math.abs(numeric), `${analytic} vs ${numeric}`);
    actions.forEach(a => a.dispose?.());
  });
}

test('where a small CNN has a null space: never at a conv with many positions, at the dense layers below batch size d + 1', t => {
  // The benchmark CNN (bench/models.ts cnnSpec): conv 8 → pool → conv 16 (11×11 positions) → pool → dense 32 → dense 10.
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 32, activation: 'relu' }),
      tfl.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  seedWeights(model, 21, 0.3);
  const s = readModel(model);
  const plan = planTeleport(s, 'nullspace');
  t.is(plan.sites.length, 3);
  const free: Record<number, string[]> = {};
  for (const n of [1, 8, 32]) {
    const x = seededUniform([n, 28, 28, 1], 22, 0, 1);
    const actions = plan.build(s.variables, x);
    free[n] = actions.map(a => a.where.replace(/ \(after.*: (\d+) free directions\)$/, ': $1'));
    // The second conv sees n·121 patch rows against 3·3·8 + 1 = 73 columns: empty at every batch size.
    t.false(
      actions.some(a => a.where.startsWith(model.layers[2].name)),
      `${n}`,
    );
    // Dense after flatten: 5·5·16 + 1 = 401 columns; the head: 32 + 1 = 33. At least d − n free
    // directions (more where ReLU units are dead on the whole batch: their columns are zero).
    const dense = actions.map(a => Number(/: (\d+) free directions/.exec(a.where)![1]));
    t.is(dense.length, 2);
    t.true(dense[0] >= 33 - n && dense[1] >= 401 - n, `${n}: ${dense}`);
    actions.forEach(a => a.dispose?.());
  }
  t.log(JSON.stringify(free));
});

test('below a BatchNormalization the null space is of the training-mode input: batch outputs kept with batch statistics, not with moving ones', t => {
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ inputShape: [6], units: 8, activation: 'linear' }),
      tfl.layers.batchNormalization(),
      tfl.layers.activation({ activation: 'tanh' }),
      tfl.layers.dense({ units: 8, activation: 'tanh' }),
      tfl.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  seedWeights(model, 23, 0.5);
  // A moving variance must be positive (seedWeights draws every weight from [−0.5, 0.5]).
  const [gamma, beta, mean, variance] = model.layers[1].getWeights();
  model.layers[1].setWeights([gamma, beta, mean, tf.add(tf.abs(variance), 0.5)]);
  const s = readModel(model);
  const x = seededUniform([4, 6], 24);
  const actions = planTeleport(s, 'nullspace', 'skip').build(s.variables, x);
  t.true(actions.length >= 1);
  const thetas = actions.map((a, k) => seededUniform(a.init(() => 0).shape as number[], 30 + k, -0.5, 0.5));
  const moved = applyActions(actions, s.variables, thetas);
  const change = (mode: 'batch' | 'moving') =>
    relChange(s.forward(s.variables, x, { normalization: mode }).output, s.forward(moved, x, { normalization: mode }).output);
  const training = change('batch');
  const inference = change('moving');
  t.log(`batch outputs change ${training.toExponential(1)} with batch statistics, ${inference.toExponential(1)} with moving statistics`);
  t.true(training < 1e-5);
  t.true(inference > 1e-3);
  actions.forEach(a => a.dispose?.());
});
