import test from 'ava';
import { tf, tfl, useCpu, seededUniform, relChange } from '../helpers.js';
import * as tp from '../../src/index.js';
import { readModel } from '../../src/structure/read_model.js';
import { planTeleport, type TeleportPlan } from '../../src/teleport/plan.js';
import { applyActions } from '../../src/teleport/engine.js';
import { SeededRandom } from '../../src/core/random.js';

test.before(useCpu);

type Sym = tfl.SymbolicTensor;
const EPS = 1e-9; // the normalization scale is exact as ε → 0 (see src/groups/norm_scale.ts)
const ACTIVATIONS = ['relu', 'linear', 'tanh', 'sigmoid'] as const;

/** A random functional model: dense or conv trunk with BN, LN, residual blocks, concatenations, dropout, pooling. */
function randomModel(seed: number): { model: tfl.LayersModel; input: number[] } {
  const r = new SeededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)];
  const apply = (l: { apply(x: Sym | Sym[]): unknown }, x: Sym | Sym[]) => l.apply(x) as Sym;
  const conv = seed % 3 === 0;
  const input = conv ? [6, 6, 2] : [5];
  const x = tfl.input({ shape: input });
  let h: Sym = x;
  let width = input[input.length - 1];
  if (conv) {
    for (let k = 0; k < 2; k++) {
      width = 2 + Math.floor(r.next() * 3);
      h = apply(tfl.layers.conv2d({ filters: width, kernelSize: 2, padding: 'same', activation: pick(['relu', 'linear']) }), h);
      if (r.next() < 0.6) h = apply(tfl.layers.batchNormalization({ epsilon: EPS }), h);
      if (r.next() < 0.5) h = apply(tfl.layers.activation({ activation: 'relu' }), h);
      if (k === 0 && r.next() < 0.5) h = apply(tfl.layers.maxPooling2d({ poolSize: 2 }), h);
    }
    h = apply(r.next() < 0.5 ? tfl.layers.globalAveragePooling2d({}) : tfl.layers.flatten(), h);
    width = h.shape[1] as number;
  }
  const blocks = 2 + Math.floor(r.next() * 3);
  for (let b = 0; b < blocks; b++) {
    const kind = pick(['dense', 'dense', 'bn', 'ln', 'residual', 'concat', 'dropout']);
    if (kind === 'dense') {
      width = 3 + Math.floor(r.next() * 4);
      h = apply(tfl.layers.dense({ units: width, activation: pick(ACTIVATIONS) }), h);
    } else if (kind === 'bn') {
      width = 4;
      h = apply(tfl.layers.batchNormalization({ epsilon: EPS }), apply(tfl.layers.dense({ units: width }), h));
      h = apply(tfl.layers.activation({ activation: pick(['relu', 'linear']) }), h);
    } else if (kind === 'ln') {
      width = 4;
      h = apply(tfl.layers.layerNormalization({ epsilon: EPS }), apply(tfl.layers.dense({ units: width, activation: pick(['relu', 'linear']) }), h));
    } else if (kind === 'residual') {
      const inner = apply(tfl.layers.dense({ units: width }), apply(tfl.layers.dense({ units: 5, activation: pick(ACTIVATIONS) }), h));
      h = apply(tfl.layers.add({}), [h, inner]);
    } else if (kind === 'concat') {
      const a = apply(tfl.layers.dense({ units: 2, activation: pick(ACTIVATIONS) }), h);
      const c = apply(tfl.layers.dense({ units: 3 }), h);
      h = apply(tfl.layers.concatenate({}), [a, c]);
      width = 5;
    } else {
      h = apply(tfl.layers.dropout({ rate: 0 }), h); // rate 0: training-mode outputs stay deterministic
    }
  }
  const out = apply(tfl.layers.dense({ units: 3 }), h);
  const model = tfl.model({ inputs: x, outputs: out });
  // Seeded weights; positive moving variances.
  model.setWeights(
    model.weights.map((w, i) =>
      w.originalName.endsWith('/moving_variance')
        ? seededUniform(w.shape as number[], seed * 100 + i, 0.3, 1.5)
        : seededUniform(w.shape as number[], seed * 100 + i, -0.7, 0.7),
    ),
  );
  return { model, input };
}

test('fuzz: on random graphs every site found is exact on fresh inputs in both BatchNormalization modes; every refusal names a layer and changes nothing', async t => {
  let sites = 0;
  let models = 0;
  let refusals = 0;
  const kinds = new Map<string, number>();
  for (let seed = 1; seed <= 18; seed++) {
    const { model, input } = randomModel(seed);
    const s = readModel(model);
    const names = new Set(model.layers.map(l => l.name));
    for (const u of s.unsupported) t.true(names.has(u.split(/[: ]/)[0]), `seed ${seed}: refusal without a layer name: ${u}`);
    const x = seededUniform([6, ...input], 1000 + seed);
    let plan: TeleportPlan | null = null;
    try {
      plan = planTeleport(s, 'auto', 'skip');
    } catch (e) {
      t.regex((e as Error).message, /has no layer pair to act on/);
    }
    // A refused group (gl where some pair is not linear) throws and leaves every weight bit-identical.
    const weights = model.getWeights().map(w => w.dataSync().slice());
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    try {
      await tp.teleport(model, { x, y: seededUniform([6, 3], 2000 + seed) }, { group: 'gl' });
    } catch (e) {
      refusals++;
      t.regex((e as Error).message, /→|has no layer pair|layer/);
      model.getWeights().forEach((w, i) => t.deepEqual(w.dataSync(), weights[i], `seed ${seed}: weight ${i} changed on refusal`));
    }
    model.setWeights(weights.map((w, i) => tf.tensor(w, model.getWeights()[i].shape)));
    if (plan == null) continue;
    models++;
    const saved = model.getWeights().map(w => w.clone());
    const infer0 = model.predict(x) as tf.Tensor;
    const train0 = model.apply(x, { training: true }) as tf.Tensor;
    model.setWeights(saved);
    const actions = plan.build(s.variables);
    const thetas = actions.map((a, k) => tf.mul(seededUniform(a.init(() => 0).shape as number[], 3000 + seed * 10 + k, -1, 1), a.group === 'gl' ? 0.2 : 0.6));
    const moved = tf.tidy(() => applyActions(actions, s.variables, thetas).map(p => p.clone()));
    moved.forEach((p, i) => s.variables[i].assign(p));
    actions.forEach((a, k) => a.moveBuffers?.(thetas[k]));
    const infer1 = model.predict(x) as tf.Tensor;
    const train1 = model.apply(x, { training: true }) as tf.Tensor;
    const where = `seed ${seed}: ${plan.sites.map(p => p.where).join('; ')}`;
    t.true(relChange(infer0, infer1) < 1e-5, `inference ${relChange(infer0, infer1)} ${where}`);
    t.true(relChange(train0, train1) < 1e-5, `training ${relChange(train0, train1)} ${where}`);
    sites += plan.sites.length;
    for (const p of plan.sites) kinds.set(p.kind + (p.normFirst ? '(γ)' : ''), (kinds.get(p.kind + (p.normFirst ? '(γ)' : '')) ?? 0) + 1);
    tf.dispose([saved, infer0, train0, infer1, train1, moved, thetas]);
  }
  t.log(`${refusals} refusals of 'gl'; ${models} models with sites, ${sites} sites: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  t.true(models >= 12 && sites >= 30 && refusals >= 5);
});
