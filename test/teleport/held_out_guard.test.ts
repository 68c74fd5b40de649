import test from 'ava';
import { tf, useCpu, seededUniform, mlp, oneHotBatch } from '../helpers.js';
import * as tp from '../../src/index.js';

test.before(useCpu);

/** ‖f(w') − f(w)‖ / ‖f(w)‖ on rows x, from model.predict (the layers' own forward pass). */
const outputChange = (before: tf.Tensor, after: tf.Tensor) => tf.tidy(() => tf.norm(tf.sub(after, before)).dataSync()[0] / tf.norm(before).dataSync()[0]);

function setup(seed: number) {
  const model = mlp({ widths: [8, 8], activation: 'tanh', softmax: true, seed });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const x = seededUniform([8, 6], seed + 1);
  const y = oneHotBatch(8, 3, seed + 2);
  return { model, x, y };
}

test.serial(
  'nullspace holds out the last quarter of the batch: the report gives the outputs’ change there, as predict measures it, and the rest keeps its loss',
  async t => {
    const { model, x, y } = setup(3);
    const heldX = tf.slice(x, [6, 0], [2, 6]);
    const searchX = tf.slice(x, [0, 0], [6, 6]);
    const searchY = tf.slice(y, [0, 0], [6, 3]);
    const before = model.predict(heldX) as tf.Tensor;
    const lossOf = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(searchY, tf.log(model.predict(searchX) as tf.Tensor)).dataSync()[0]);
    const loss0 = lossOf();
    const r = await tp.teleport(model, { x, y }, { group: 'nullspace', maxHeldOutChange: Infinity, steps: 6, lr: 0.5 });
    t.true(r.accepted, r.reason);
    // 6 rows build the null space (6×9, rank 6: 3 free directions), 2 are held out.
    t.regex(r.sites[0], /\(6×9, rank 6 at rcond 1e-6: 3 free directions\)/);
    const measured = outputChange(before, model.predict(heldX) as tf.Tensor);
    t.log(`held-out change: report ${r.heldOutOutputChange}, predict ${measured}`);
    t.true(measured > 1e-4, 'the outputs off the null-space rows did change');
    t.true(Math.abs(r.heldOutOutputChange! - measured) < 1e-3 * measured + 1e-7);
    t.true(Math.abs(lossOf() - loss0) < 1e-4 * loss0);
  },
);

test.serial('above maxHeldOutChange the element is halved and accepted within the bound, or refused with the weights bit-identical', async t => {
  const free = setup(5);
  const r0 = await tp.teleport(free.model, { x: free.x, y: free.y }, { group: 'nullspace', maxHeldOutChange: Infinity, steps: 6, lr: 0.5 });
  t.true(r0.accepted, r0.reason);
  const unguarded = r0.heldOutOutputChange!;
  // A bound at a third of the unguarded change: halving θ (about linear in the change) meets it.
  const halved = setup(5);
  const r1 = await tp.teleport(halved.model, { x: halved.x, y: halved.y }, { group: 'nullspace', maxHeldOutChange: unguarded / 3, steps: 6, lr: 0.5 });
  t.log(
    `unguarded ${unguarded.toExponential(2)}; bound ${(unguarded / 3).toExponential(2)}: ${r1.accepted ? `accepted at ${r1.heldOutOutputChange!.toExponential(2)} after ${r1.shrinks} halvings` : r1.reason}`,
  );
  t.true(r1.accepted, r1.reason);
  t.true(r1.shrinks >= 1);
  t.true(r1.heldOutOutputChange! <= unguarded / 3);
  // A bound no element meets: refused for drift, nothing moved.
  const refused = setup(5);
  const weights = refused.model.getWeights().map(w => w.dataSync().slice());
  const r2 = await tp.teleport(refused.model, { x: refused.x, y: refused.y }, { group: 'nullspace', maxHeldOutChange: 1e-9, steps: 6, lr: 0.5 });
  t.false(r2.accepted);
  t.is(r2.rejection, 'drift');
  t.regex(r2.reason!, /outputs on the held-out rows changed by .* above maxHeldOutChange 1e-9/);
  refused.model.getWeights().forEach((w, i) => t.deepEqual(w.dataSync(), weights[i]));
});

test.serial('heldOutFraction: 0 turns the check off; gl-data is unguarded unless asked; bad values name the fix', async t => {
  const { model, x, y } = setup(7);
  const r = await tp.teleport(model, { x, y }, { group: 'nullspace', heldOutFraction: 0, steps: 2 });
  t.is(r.heldOutOutputChange, undefined);
  t.regex(r.sites[0], /\(8×9, rank 8/);
  const lin = mlp({ widths: [8, 8], activation: 'linear', seed: 8 });
  lin.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  const xl = seededUniform([6, 6], 9);
  const yl = seededUniform([6, 3], 10);
  const g0 = await tp.teleport(lin, { x: xl, y: yl }, { group: 'gl-data', steps: 2 });
  t.is(g0.heldOutOutputChange, undefined);
  tp.teleport.resetBudget(lin);
  const g1 = await tp.teleport(lin, { x: xl, y: yl }, { group: 'gl-data', heldOutFraction: 0.5, maxHeldOutChange: Infinity, steps: 2 });
  t.true(g1.heldOutOutputChange != null && Number.isFinite(g1.heldOutOutputChange), g1.reason);
  await t.throwsAsync(tp.teleport(model, { x, y }, { group: 'nullspace', heldOutFraction: 1 }), { message: /heldOutFraction must be a number in \[0, 1\)/ });
  await t.throwsAsync(tp.teleport(model, { x, y }, { group: 'nullspace', maxHeldOutChange: 0 }), { message: /maxHeldOutChange .* must be a positive number/ });
});

test.serial('a guarded null-space teleport leaves no tensors behind', async t => {
  const { model, x, y } = setup(11);
  await tp.teleport(model, { x, y }, { group: 'nullspace', steps: 2 });
  const n0 = tf.memory().numTensors;
  for (const bound of [Infinity, 1e-9, 0.01]) {
    tp.teleport.resetBudget(model);
    await tp.teleport(model, { x, y }, { group: 'nullspace', maxHeldOutChange: bound, steps: 3 });
  }
  t.is(tf.memory().numTensors, n0);
});
