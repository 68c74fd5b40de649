/**
 * Issue "Teleports that never hurt", §2: rescale teleports every 10 steps with ascent lr 0.5 on an
 * 8-16-16-4 relu MLP. Each may double ‖∇L‖², so without a run-wide budget they compound; with the
 * default budget (maxTotalGrowth 4, recovering over 500 steps) they cannot. bench/divergence.ts runs the full grid.
 */
import test from 'ava';
import { tf, tfl, useCpu, seededUniform } from '../helpers.js';
import * as tp from '../../src/index.js';

test.before(useCpu);

const STEPS = 300;

function model(): tfl.LayersModel {
  const m = tfl.sequential();
  let seed = 303;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  m.add(tfl.layers.dense({ units: 16, inputShape: [8], activation: 'relu', kernelInitializer: init() }));
  m.add(tfl.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init() }));
  m.add(tfl.layers.dense({ units: 4, activation: 'linear', kernelInitializer: init() }));
  return m;
}

function data(): { x: tf.Tensor; y: tf.Tensor } {
  return tf.tidy(() => {
    const x = seededUniform([128, 8], 11);
    const y = tf.add(
      tf.matMul(tf.relu(tf.matMul(x, seededUniform([8, 16], 12))), seededUniform([16, 4], 13, -0.5, 0.5)),
      tf.matMul(x, seededUniform([8, 4], 14, -0.5, 0.5)),
    );
    return { x, y };
  });
}

interface Outcome {
  finalLoss: number;
  gradNormSq0: number;
  gradNormSq: number;
  maxKernelNorm: number;
  accepted: number;
  growthProduct: number;
}

/** SGD at `lr` for STEPS minibatch steps of 32; teleports on `options` (null: bare SGD). */
function run(lr: number, options: tp.TeleportOptimizerOptions | null): Outcome {
  const { x, y } = data();
  const m = model();
  const vars = m.trainableWeights.map(w => w.read() as tf.Variable);
  const reports: tp.TeleportReport[] = [];
  const optimizer = options
    ? tp.sgd(lr, { model: m, group: 'rescale', schedule: { every: 10 }, lr: 0.5, ...options, onTeleport: r => reports.push(r) })
    : tf.train.sgd(lr);
  const lossOn = (bx: tf.Tensor, by: tf.Tensor) => tf.losses.meanSquaredError(by, m.apply(bx) as tf.Tensor) as tf.Scalar;
  const fullGradNormSq = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => lossOn(x, y), vars);
      return tf.addN(Object.values(grads).map(g => tf.sum(tf.square(g)))).dataSync()[0];
    });
  const gradNormSq0 = fullGradNormSq();
  const batches = tf.tidy(() => Array.from({ length: 4 }, (_, i) => [tf.slice(x, [32 * i, 0], [32, 8]), tf.slice(y, [32 * i, 0], [32, 4])]));
  let stoppedEarly = false;
  for (let step = 0; step < STEPS && !stoppedEarly; step++) {
    const [bx, by] = batches[step % batches.length];
    try {
      optimizer.minimize(() => lossOn(bx, by), false, vars);
    } catch (err) {
      // The library refuses to teleport from a non-finite gradient: the run has diverged.
      if (!(err instanceof tp.TeleportError)) throw err;
      stoppedEarly = true;
    }
  }
  const out: Outcome = {
    finalLoss: stoppedEarly ? NaN : tf.tidy(() => lossOn(x, y).dataSync()[0]),
    gradNormSq0,
    gradNormSq: stoppedEarly ? NaN : fullGradNormSq(),
    maxKernelNorm: Math.max(...vars.filter(v => v.shape.length === 2).map(v => tf.tidy(() => tf.norm(v).dataSync()[0]))),
    accepted: reports.filter(r => r.accepted).length,
    growthProduct: reports.filter(r => r.accepted).reduce((p, r) => p * (r.gradNormSqAfter / r.gradNormSqBefore), 1),
  };
  tf.dispose([x, y, ...batches.flat()]);
  optimizer.dispose();
  m.dispose();
  return out;
}

const show = (o: Outcome) => JSON.stringify(o);

test('rescale every 10 with ascent lr 0.5 on SGD 0.01: the default budget keeps the run as good as bare SGD; without it ‖∇L‖² and the kernels blow up', t => {
  const bare = run(0.01, null);
  const budget = run(0.01, {});
  const none = run(0.01, { maxTotalGrowth: Infinity });
  t.true(Number.isFinite(bare.finalLoss) && bare.finalLoss < 0.5 * data0Loss(), `bare ${show(bare)}`);
  t.true(Number.isFinite(budget.finalLoss), `default ${show(budget)}`);
  t.true(budget.finalLoss <= 1.1 * bare.finalLoss, `default ends near bare SGD: ${budget.finalLoss} vs ${bare.finalLoss}`);
  // The budget recovers at maxTotalGrowth per growthRecoverySteps (500) steps: 4^(1 + 300/500) over the run.
  const allowed = 4 ** (1 + STEPS / tp.DEFAULTS.growthRecoverySteps);
  t.true(budget.growthProduct <= allowed * (1 + 1e-3), `the teleports' growth ratios multiply to at most ${allowed}: ${budget.growthProduct}`);
  t.true(budget.gradNormSq <= 4 * bare.gradNormSq + 1e-3, `default ‖∇L‖² ${budget.gradNormSq} vs bare ${bare.gradNormSq}`);
  // Without the budget: diverged, or a far larger gradient and kernel norm.
  t.true(
    !Number.isFinite(none.finalLoss) || none.gradNormSq > 10 * budget.gradNormSq || none.maxKernelNorm > 5 * budget.maxKernelNorm,
    `no budget ${show(none)} vs default ${show(budget)}`,
  );
});

test('with SGD at learning rate 0 only teleports move the weights: the default budget caps ‖∇L‖² growth at 4^(1 + steps/500)×; without it it compounds', t => {
  const budget = run(0, {});
  const none = run(0, { maxTotalGrowth: Infinity });
  t.true(budget.accepted >= 1, show(budget));
  const allowed = 4 ** (1 + STEPS / tp.DEFAULTS.growthRecoverySteps);
  t.true(budget.gradNormSq <= allowed * 1.5 * budget.gradNormSq0, `default: ‖∇L‖² ${budget.gradNormSq0} → ${budget.gradNormSq}`);
  t.true(
    !Number.isFinite(none.gradNormSq) || none.gradNormSq > 1e3 * none.gradNormSq0,
    `no budget: ‖∇L‖² ${none.gradNormSq0} → ${none.gradNormSq} (${show(none)})`,
  );
});

function data0Loss(): number {
  const { x, y } = data();
  const m = model();
  const l = tf.tidy(() => tf.losses.meanSquaredError(y, m.apply(x) as tf.Tensor).dataSync()[0]);
  tf.dispose([x, y]);
  m.dispose();
  return l;
}
