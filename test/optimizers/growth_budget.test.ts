/**
 * The run-wide growth budget recovers as training goes on (issue 21 §2): long runs keep teleporting,
 * and with no recovery it is the old budget that spends itself.
 */
import test from 'ava';
import { tf, useCpu, mlp, seededUniform } from '../helpers.js';
import * as tp from '../../src/index.js';
import { recoveringCap } from '../../src/optimizers/growth_budget.js';

test.before(useCpu);

test.serial('without recovery the budget is the one of versions ≤ 0.2: teleport k gets maxTotalGrowth^(2^-(k+1))', t => {
  for (let k = 0; k < 10; k++) {
    const earlier = Array.from({ length: k }, (_, i) => 10 * (i + 1));
    const cap = recoveringCap({ maxGrowth: 8, maxTotalGrowth: 4, recoverySteps: Infinity, step: 10 * (k + 1), earlier });
    t.true(Math.abs(cap - 4 ** (2 ** -(k + 1))) < 1e-9, `teleport ${k}: ${cap}`);
  }
});

test.serial('with recovery a schedule every e steps settles at caps of maxTotalGrowth^(e/recoverySteps), and a pause refills the budget', t => {
  const every = 5;
  const earlier = Array.from({ length: 200 }, (_, i) => every * (i + 1));
  const settled = recoveringCap({ maxGrowth: 2, maxTotalGrowth: 4, recoverySteps: 500, step: every * 201, earlier });
  t.true(Math.abs(settled - 4 ** (every / 500)) < 1e-6, `settled cap ${settled}`);
  t.true(settled > 1.01, 'above the no-op threshold (1 %)');
  // After a pause as long as the recovery horizon the full first cap is back.
  t.is(recoveringCap({ maxGrowth: 2, maxTotalGrowth: 4, recoverySteps: 500, step: every * 200 + 1000, earlier }), 2);
  // Over any window the caps multiply to at most maxTotalGrowth^(1 + window/recoverySteps).
  let product = 1;
  for (let k = 0; k < 200; k++)
    product *= recoveringCap({ maxGrowth: 2, maxTotalGrowth: 4, recoverySteps: 500, step: every * (k + 1), earlier: earlier.slice(0, k) });
  t.true(product <= 4 ** (1 + 1000 / 500) * (1 + 1e-9), `product over 1000 steps ${product}`);
});

test.serial('a long run in fit with every: 5 still teleports after the tenth teleport (accepted, growing ‖∇L‖²)', async t => {
  const model = mlp({ input: 8, widths: [16, 16], activation: 'relu', output: 4, seed: 3 });
  const x = seededUniform([256, 8], 1);
  const y = seededUniform([256, 4], 2);
  const before = tf.memory().numTensors;
  const optimizer = tp.adam(0.01, { model, schedule: { every: 5 } });
  model.compile({ optimizer, loss: 'meanSquaredError' });
  await model.fit(x, y, { epochs: 20, batchSize: 32, shuffle: false, verbose: 0 });
  const late = optimizer.teleportReports.slice(10);
  t.true(late.length >= 20, `${late.length} teleports after the tenth`);
  const moved = late.filter(r => r.accepted && r.ascentSteps > 0 && r.gradNormSqAfter > r.gradNormSqBefore * 1.001);
  t.true(moved.length >= late.length / 2, `accepted and moving after the tenth: ${moved.length} of ${late.length}`);
  t.true(
    late.every(r => r.growthCap > 1.01),
    `caps ${late.map(r => r.growthCap.toFixed(4)).join(' ')}`,
  );
  // The reported growth is a measured one: ‖∇L‖² after ≤ cap × before.
  t.true(moved.every(r => r.gradNormSqAfter <= r.growthCap * r.gradNormSqBefore * (1 + 1e-3)));
  optimizer.dispose();
  model.dispose();
  tf.dispose([x, y]);
  t.true(tf.memory().numTensors <= before, 'no tensor leaks');
});
