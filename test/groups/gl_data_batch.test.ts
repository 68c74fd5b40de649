import test from 'ava';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tp from '../../src/index.js';
import { tf, useCpu, mlp, seededUniform, relDiff, oneHotBatch } from '../helpers.js';
import { readModel, type ModelStructure } from '../../src/structure/read_model.js';
import { planTeleport } from '../../src/teleport/plan.js';
import { objectiveContext, runTeleport, type TeleportInput, type TeleportSettings } from '../../src/teleport/engine.js';
import { gradNorm, preconditionedGradNorm } from '../../src/objectives/grad_norm.js';
import { modelLoss, type ModelLoss } from '../../src/structure/model_loss.js';
import { glDataBatchObjective } from '../../src/objectives/gl_data_batch.js';
import { withSecondOrderGradients } from '../../src/structure/second_order_scope.js';
import type { SiteAction } from '../../src/groups/types.js';
import type { ObjectiveContext } from '../../src/objectives/types.js';
import { SeededRandom } from '../../src/core/random.js';

/** Plain gradient-norm ascent with a line search, as both teleport tests below run it. */
const ASCENT: TeleportSettings = {
  objective: 'gradNorm',
  steps: 8,
  lr: 0.3,
  direction: 'maximize',
  normalize: false,
  lineSearch: true,
  maxGrowth: 3,
  maxBacktracks: 4,
  maxLossDrift: 1e-3,
  maxShrinks: 4,
};
test.before(useCpu);

/** Dense layers with the given activations (a 'leaky' unit is a linear Dense and a LeakyReLU layer). */
function chain(input: number, layers: Array<[number, 'leaky' | 'linear' | 'relu' | 'softmax']>, seed: number): tfl.Sequential {
  const model = tfl.sequential();
  layers.forEach(([units, act], i) => {
    model.add(tfl.layers.dense({ units, activation: act === 'leaky' ? 'linear' : act, inputShape: i === 0 ? [input] : undefined }));
    if (act === 'leaky') model.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
  });
  const r = new SeededRandom(seed);
  model.setWeights(
    model.getWeights().map(w =>
      tf.tensor(
        Float32Array.from({ length: w.size }, () => (r.next() * 2 - 1) * 0.6),
        w.shape,
      ),
    ),
  );
  return model;
}

interface Case {
  name: string;
  model: () => tfl.Sequential;
  inputs: number;
  classes: number;
  loss: string;
  rank: number | 'dense';
}

const CASES: Case[] = [
  // Two chained sites (both hidden pairs), softmax cross-entropy, the low-rank element.
  {
    name: 'MLP 10-12-12-3 leakyRelu, two chained sites',
    model: () => mlp({ input: 10, widths: [12, 12], leakyLayer: true, alpha: 0.1, output: 3, softmax: true, seed: 5 }),
    inputs: 10,
    classes: 3,
    loss: 'categoricalCrossentropy',
    rank: 3,
  },
  // Linear activation, mean squared error, the dense element (the form does not care which element).
  {
    name: 'MLP 7-6-5-4 linear, dense element, MSE',
    model: () => mlp({ input: 7, widths: [6, 5], activation: 'linear', output: 4, seed: 8 }),
    inputs: 7,
    classes: 4,
    loss: 'meanSquaredError',
    rank: 'dense',
  },
  // Sites in the middle: a relu layer below them and a relu layer above (pairs gl-data skips).
  {
    name: 'relu below and above a leaky → linear → relu chain',
    model: () =>
      chain(
        9,
        [
          [8, 'relu'],
          [10, 'leaky'],
          [11, 'linear'],
          [7, 'relu'],
          [3, 'softmax'],
        ],
        13,
      ),
    inputs: 9,
    classes: 3,
    loss: 'categoricalCrossentropy',
    rank: 4,
  },
];

function setup(c: Case, n = 6) {
  const model = c.model();
  const s = readModel(model);
  const x = seededUniform([n, c.inputs], 31);
  const y = oneHotBatch(n, c.classes, 32);
  const lossOn = modelLoss(s, c.loss).on({ x, y });
  const actions = planTeleport(s, 'gl-data', 'skip', { glDataRank: c.rank }).build(s.variables, x);
  return { model, s, x, y, lossOn, actions };
}

const SETTINGS = { objective: 'gradNorm' } as TeleportSettings;

function contextOf(s: ModelStructure, actions: SiteAction[], lossOn: ReturnType<ModelLoss['on']>, shifted = true, objective = gradNorm): ObjectiveContext {
  const input: TeleportInput = { params: s.variables, actions, loss: lossOn, shiftedLoss: shifted ? lossOn : null, random: () => 0.5 };
  return objectiveContext(input, objective, SETTINGS, false);
}

const randomThetas = (actions: SiteAction[], seed: number, scale: number) =>
  actions.map((a, i) => tf.tidy(() => tf.mul(seededUniform(a.init(() => 0).shape, seed + i), scale)));

for (const c of CASES) {
  test.serial(`${c.name}: the batch-space value and θ-gradient equal the generic objective's, tensors flat`, t => {
    const env = setup(c);
    const ctx = contextOf(env.s, env.actions, env.lossOn);
    const before = tf.memory().numTensors;
    withSecondOrderGradients(() => {
      const fast = glDataBatchObjective(ctx, gradNorm);
      t.truthy(fast, 'the fast form applies');
      const generic = gradNorm.value(ctx);
      for (const [seed, scale] of [
        [3, 0.3],
        [17, 0.8],
      ] as const) {
        const thetas = randomThetas(env.actions, seed, scale);
        const [vFast, vGeneric] = tf.tidy(() => [fast!.value(thetas).dataSync()[0], generic(thetas).dataSync()[0]]);
        t.true(relDiff(vFast, vGeneric) < 1e-5, `value at θ (scale ${scale}): batch space ${vFast}, generic ${vGeneric}`);
        t.log(`scale ${scale}: value rel. diff ${relDiff(vFast, vGeneric).toExponential(1)}`);
        // The objective really moves along the orbit (else equal values would prove little).
        const atIdentity = tf.tidy(() => generic(env.actions.map(a => tf.zerosLike(a.init(() => 0)))).dataSync()[0]);
        t.true(relDiff(vGeneric, atIdentity) > 1e-3, `moved: ${atIdentity} → ${vGeneric}`);
        const [gFast, gGeneric] = tf.tidy(() =>
          [fast!.value, generic].map(
            f =>
              tf
                .concat(
                  tf
                    .grads((...th: tf.Tensor[]) => f(th))(thetas)
                    .map(g => tf.reshape(g, [-1])),
                )
                .arraySync() as number[],
          ),
        );
        const diff = Math.hypot(...gFast.map((v, i) => v - gGeneric[i]));
        const norm = Math.hypot(...gGeneric);
        t.true(norm > 0 && diff / norm < 1e-4, `θ-gradient: |fast − generic| / |generic| = ${diff / norm}`);
        t.log(`scale ${scale}: θ-gradient rel. diff ${(diff / norm).toExponential(1)}`);
        tf.dispose(thetas);
      }
      fast!.dispose();
    });
    t.is(tf.memory().numTensors, before, 'no tensor left behind');
    env.actions.forEach(a => a.dispose?.());
    tf.dispose([env.x, env.y]);
    env.model.dispose();
  });
}

test.serial(
  'the batch-space form declines where it is not exact: preconditioned objective, no shiftable loss, sites not in one chain, batch larger than the inputs',
  t => {
    const c = CASES[0];
    const env = setup(c);
    const before = tf.memory().numTensors;
    const applies = glDataBatchObjective(contextOf(env.s, env.actions, env.lossOn), gradNorm);
    t.truthy(applies, 'the same teleport with everything it needs');
    applies?.dispose();
    t.is(glDataBatchObjective(contextOf(env.s, env.actions, env.lossOn, false), gradNorm), null, 'without the shifted loss');
    t.is(glDataBatchObjective(contextOf(env.s, env.actions, env.lossOn, true, preconditionedGradNorm), preconditionedGradNorm), null, 'preconditioned');
    t.is(tf.memory().numTensors, before);
    env.actions.forEach(a => a.dispose?.());
    // Two gl-data sites with a relu pair between them: not a chain (the lower site's δ would change above it).
    const gapped: Case = {
      ...c,
      model: () =>
        chain(
          9,
          [
            [8, 'leaky'],
            [10, 'relu'],
            [11, 'leaky'],
            [3, 'softmax'],
          ],
          21,
        ),
      inputs: 9,
    };
    const g = setup(gapped);
    t.is(g.actions.length, 2);
    t.is(glDataBatchObjective(contextOf(g.s, g.actions, g.lossOn), gradNorm), null, 'sites not in one chain');
    g.actions.forEach(a => a.dispose?.());
    // 14 rows > 10 inputs + 1: the action is a least-squares fit, not exact on the batch.
    const big = setup(c, 14);
    t.is(glDataBatchObjective(contextOf(big.s, big.actions, big.lossOn), gradNorm), null, 'batch larger than the inputs');
    big.actions.forEach(a => a.dispose?.());
    tf.dispose([env.x, env.y, g.x, g.y, big.x, big.y]);
  },
);

for (const [c, genericSolver] of [
  [CASES[2], 'sketched low-rank ascent'],
  [{ ...CASES[0], rank: 'dense' as const }, 'chart ascent'],
] as const) {
  test.serial(
    `a teleport through the batch-space solver (glDataRank ${c.rank}): chosen automatically, the same result as the generic route, accepted by the same guard`,
    t => {
      const env = setup(c);
      const settings: TeleportSettings = { ...ASCENT, steps: 8 };
      const run = (shifted: boolean) => {
        const actions = planTeleport(env.s, 'gl-data', 'skip', { glDataRank: c.rank }).build(env.s.variables, env.x);
        const input: TeleportInput = {
          params: env.s.variables,
          actions,
          loss: env.lossOn,
          shiftedLoss: shifted ? env.lossOn : null,
          random: new SeededRandom(4).source,
        };
        const out = runTeleport(input, settings);
        actions.forEach(a => a.dispose?.());
        return out;
      };
      run(true); // warm-up
      const before = tf.memory().numTensors;
      const fast = run(true);
      const generic = run(false);
      t.is(fast.solver, 'gl-data batch-space ascent');
      t.is(generic.solver, genericSolver);
      t.true(fast.metrics.accepted, `accepted (${fast.metrics.reason ?? ''})`);
      t.true(generic.metrics.accepted);
      // Recomputed here from the returned parameters: the batch loss is kept and ‖∇L‖² grew as reported.
      const measure = (p: readonly tf.Tensor[]) =>
        tf.tidy(() => {
          const g = tf.grads((...ps: tf.Tensor[]) => env.lossOn(ps))(p as tf.Tensor[]);
          return { loss: env.lossOn(p).dataSync()[0], gradSq: tf.addN(g.map(x => tf.sum(tf.square(x)))).dataSync()[0] };
        });
      const start = measure(env.s.variables);
      const end = measure(fast.params!);
      t.true(relDiff(start.loss, end.loss) < 1e-4, `batch loss kept: ${start.loss} → ${end.loss}`);
      t.true(end.gradSq > start.gradSq * 1.01, `‖∇L‖² grew: ${start.gradSq} → ${end.gradSq}`);
      t.true(relDiff(end.gradSq, fast.metrics.fullGradNormSqAfter) < 1e-4, 'the report says what was measured');
      // Same sketch, same ascent, same objective up to round-off: the same element.
      t.true(
        relDiff(fast.metrics.gradNormSqAfter, generic.metrics.gradNormSqAfter) < 1e-4,
        `${fast.metrics.gradNormSqAfter} vs ${generic.metrics.gradNormSqAfter}`,
      );
      t.is(fast.metrics.ascentSteps, generic.metrics.ascentSteps);
      for (const o of [fast, generic]) tf.dispose([...(o.params ?? []).filter((p, i) => p !== env.s.variables[i]), ...o.thetas]);
      t.is(tf.memory().numTensors, before, 'no tensor left behind');
      tf.dispose([env.x, env.y]);
    },
  );
}

test.serial('tp.teleport on a gl-data model: accepted, batch loss kept, ‖∇L‖² grows as reported, tensors flat', async t => {
  const c = CASES[0];
  const model = c.model();
  const x = seededUniform([6, c.inputs], 41);
  const y = oneHotBatch(6, c.classes, 42);
  const options = { group: 'gl-data', steps: 5, lr: 0.05, normalize: false, loss: 'categoricalCrossentropy', maxTotalGrowth: Infinity } as const;
  await tp.teleport(model, { x, y }, options); // warm-up
  const s = readModel(model);
  const lossOn = modelLoss(s, 'categoricalCrossentropy').on({ x, y });
  const measure = () =>
    tf.tidy(() => {
      const g = tf.grads((...ps: tf.Tensor[]) => lossOn(ps))(s.variables);
      return { loss: lossOn(s.variables).dataSync()[0], gradSq: tf.addN(g.map(v => tf.sum(tf.square(v)))).dataSync()[0] };
    });
  const start = measure();
  const numTensors = tf.memory().numTensors;
  const report = await tp.teleport(model, { x, y }, options);
  t.is(tf.memory().numTensors, numTensors, 'no tensor left behind');
  const end = measure();
  t.true(report.accepted, `accepted (${report.reason ?? ''})`);
  t.true(relDiff(start.loss, end.loss) < 1e-4);
  t.true(end.gradSq > start.gradSq * 1.001, `‖∇L‖² grew: ${start.gradSq} → ${end.gradSq}`);
  t.true(relDiff(end.gradSq / start.gradSq, report.fullGradNormSqAfter / report.fullGradNormSqBefore) < 1e-3);
  tf.dispose([x, y]);
  model.dispose();
});

test.serial('a form that fails its check at θ = 0 (here: a shifted loss that doubles the shift) runs the generic search under the generic name', t => {
  const c = CASES[0];
  const env = setup(c);
  const settings: TeleportSettings = { ...ASCENT, steps: 4 };
  const run = (shiftedLoss: TeleportInput['shiftedLoss']) => {
    const actions = planTeleport(env.s, 'gl-data', 'skip', { glDataRank: c.rank }).build(env.s.variables, env.x);
    const out = runTeleport({ params: env.s.variables, actions, loss: env.lossOn, shiftedLoss, random: new SeededRandom(4).source }, settings);
    actions.forEach(a => a.dispose?.());
    return out;
  };
  run(null); // warm-up
  const before = tf.memory().numTensors;
  // δ at the top comes out doubled, so the form's ‖∇L‖² at w is far from the real one.
  const broken = run((params, shift) => env.lossOn(params, new Map([...shift].map(([k, v]) => [k, tf.mul(v, 2)]))));
  const generic = run(null);
  t.is(broken.solver, 'sketched low-rank ascent');
  t.true(broken.metrics.accepted);
  t.is(broken.metrics.gradNormSqAfter, generic.metrics.gradNormSqAfter, 'the very same search');
  for (const o of [broken, generic]) tf.dispose([...(o.params ?? []).filter((p, i) => p !== env.s.variables[i]), ...o.thetas]);
  t.is(tf.memory().numTensors, before, 'no tensor left behind');
  tf.dispose([env.x, env.y]);
});
