/**
 * A teleporting optimizer's config and saved model are plain tfjs: the inner optimizer's config at the
 * top level, the teleport options under `teleport`, and the inner class's name in model.json, so a
 * model saved with includeOptimizer loads where tfjs-teleport is not installed.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tfl from '@tensorflow/tfjs-layers';
import { tf, useCpu, mlp, seededUniform, savedArtifacts } from '../helpers.js';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import { isTeleportOptimizer } from '../../src/optimizers/teleport_optimizer.js';

test.before(useCpu);

const OPTIONS = { group: 'rescale', schedule: { every: 3 }, steps: 4, seed: 2, maxLossDrift: 1e-3 } as const;
/** The teleport key of a config with OPTIONS: every serializable option, the schedule in its normalized form. */
const teleportKey = (innerClassName: string) => ({ innerClassName, ...tp.DEFAULTS, ...OPTIONS, schedule: tpAdvanced.compileSchedule(OPTIONS.schedule).config });

/** The five wrappers, each with hyperparameters off their defaults, and the same plain optimizer built by tf.train. */
const CASES = [
  { name: 'SGD', cls: tf.SGDOptimizer, wrapped: (o: tp.TeleportOptimizerOptions) => tp.sgd(0.07, o), plain: () => tf.train.sgd(0.07) },
  {
    name: 'Momentum',
    cls: tf.MomentumOptimizer,
    wrapped: (o: tp.TeleportOptimizerOptions) => tp.momentum(0.05, 0.8, true, o),
    plain: () => tf.train.momentum(0.05, 0.8, true),
  },
  { name: 'Adagrad', cls: tf.AdagradOptimizer, wrapped: (o: tp.TeleportOptimizerOptions) => tp.adagrad(0.2, 0.3, o), plain: () => tf.train.adagrad(0.2, 0.3) },
  {
    name: 'RMSProp',
    cls: tf.RMSPropOptimizer,
    wrapped: (o: tp.TeleportOptimizerOptions) => tp.rmsprop(0.01, 0.8, 0.1, 1e-6, false, o),
    plain: () => tf.train.rmsprop(0.01, 0.8, 0.1, 1e-6, false),
  },
  {
    name: 'Adam',
    cls: tf.AdamOptimizer,
    wrapped: (o: tp.TeleportOptimizerOptions) => tp.adam(0.02, 0.85, 0.99, 1e-6, o),
    plain: () => tf.train.adam(0.02, 0.85, 0.99, 1e-6),
  },
] as const;

const plainConfig = (c: (typeof CASES)[number]) => {
  const o = c.plain();
  const config = o.getConfig();
  o.dispose();
  return config;
};

for (const c of CASES) {
  test(`${c.name}: tfjs-core's own fromConfig(tf.${c.cls.name}, wrapper.getConfig()) builds the plain optimizer with the inner config`, t => {
    const wrapper = c.wrapped(OPTIONS);
    const config = wrapper.getConfig();
    const plain = c.cls.fromConfig(c.cls as never, config) as tf.Optimizer;
    t.is(plain.constructor, c.cls);
    t.false(isTeleportOptimizer(plain));
    t.deepEqual(plain.getConfig(), plainConfig(c));
    t.is(wrapper.getClassName(), c.name);
    t.is(plain.getClassName(), c.name);
    plain.dispose();
    wrapper.dispose();
  });

  test(`${c.name}: the wrapper's own round trip (through JSON) and a config of version 0.1 both give the wrapper back`, t => {
    const wrapper = c.wrapped(OPTIONS);
    const config = JSON.parse(JSON.stringify(wrapper.getConfig()));
    t.deepEqual(config.teleport, teleportKey(c.name), 'every serializable option, under one key');
    const back = tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, config) as tp.TeleportOptimizer;
    t.true(isTeleportOptimizer(back));
    t.deepEqual(back.getConfig(), wrapper.getConfig());
    t.deepEqual(back.inner.getConfig(), plainConfig(c));
    // Versions ≤ 0.1 wrote { innerClassName, innerConfig, ...options }.
    const legacy = { innerClassName: c.name, innerConfig: plainConfig(c), ...OPTIONS };
    const old = tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, JSON.parse(JSON.stringify(legacy))) as tp.TeleportOptimizer;
    t.deepEqual(old.getConfig(), wrapper.getConfig());
    // With tfjs-teleport loaded, the registry entry of the plain name restores a wrapper only when the config says so.
    const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[c.name];
    const viaRegistry = fromConfig(cls, JSON.parse(JSON.stringify(wrapper.getConfig()))) as tf.Optimizer;
    const plainViaRegistry = fromConfig(cls, plainConfig(c)) as tf.Optimizer;
    t.true(isTeleportOptimizer(viaRegistry));
    t.false(isTeleportOptimizer(plainViaRegistry));
    t.is(plainViaRegistry.constructor, c.cls);
    t.throws(() => tp.TeleportOptimizer.fromConfig(tp.TeleportOptimizer, plainConfig(c)), { message: /no 'teleport' key/ });
    for (const o of [wrapper, back, old, viaRegistry, plainViaRegistry]) o.dispose();
  });
}

/** A model trained with each wrapper and saved with includeOptimizer into memory. */
async function savedModels() {
  const x = seededUniform([12, 6], 1);
  const y = seededUniform([12, 3], 2);
  const saved = [];
  for (const c of CASES) {
    const model = mlp({ widths: [8, 8] });
    const optimizer = c.wrapped({ ...OPTIONS, model });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    await model.fit(x, y, { epochs: 2, batchSize: 4, verbose: 0, shuffle: false });
    const artifacts = await savedArtifacts(h => model.save(h, { includeOptimizer: true }));
    const state = await optimizer.getWeights();
    saved.push({
      c,
      artifacts,
      teleports: optimizer.teleportReports.length,
      step: optimizer.step,
      state: state.map(w => ({ name: w.name, values: Array.from(w.tensor.dataSync()) })),
    });
    optimizer.dispose();
    model.dispose();
  }
  tf.dispose([x, y]);
  return saved;
}

// Loads every model in a fresh Node process that imports only the tfjs packages (no tfjs-teleport).
const PLAIN_LOADER = `
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
await tf.setBackend('cpu');
const out = [];
for (const a of JSON.parse(readFileSync(process.env.ARTIFACTS, 'utf8'))) {
  const weightData = new Uint8Array(Buffer.from(a.weightData, 'base64')).buffer;
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ ...a, weightData }));
  const o = model.optimizer;
  const state = await o.getWeights();
  out.push({ className: o.getClassName(), config: o.getConfig(), iterations: o.iterations, state: state.map(w => ({ name: w.name, values: Array.from(w.tensor.dataSync()) })) });
}
console.log(JSON.stringify(out));
`;

test('a model saved with includeOptimizer by each wrapper names the plain class and loads in a process without tfjs-teleport, state and all', async t => {
  const saved = await savedModels();
  for (const s of saved) {
    const training = s.artifacts.trainingConfig as unknown as { optimizer_config: { class_name: string; config: Record<string, unknown> } };
    t.is(training.optimizer_config.class_name, s.c.name);
    t.truthy(training.optimizer_config.config.teleport, 'the teleport options ride along under one key');
    t.true(s.teleports > 0, `${s.c.name}: the run teleported`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tp-plain-'));
  try {
    const file = join(dir, 'artifacts.json');
    const asJson = saved.map(({ artifacts: a }) => {
      const data = Array.isArray(a.weightData) ? tf.io.concatenateArrayBuffers(a.weightData) : (a.weightData as ArrayBuffer);
      return { modelTopology: a.modelTopology, weightSpecs: a.weightSpecs, trainingConfig: a.trainingConfig, weightData: Buffer.from(data).toString('base64') };
    });
    writeFileSync(file, JSON.stringify(asJson));
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', PLAIN_LOADER], {
      encoding: 'utf8',
      env: { ...process.env, ARTIFACTS: file },
      timeout: 120_000,
    });
    t.is(run.status, 0, run.stderr);
    const loaded = JSON.parse(run.stdout) as Array<{
      className: string;
      config: unknown;
      iterations: number;
      state: Array<{ name: string; values: number[] }>;
    }>;
    saved.forEach((s, i) => {
      const l = loaded[i];
      t.is(l.className, s.c.name);
      t.deepEqual(l.config, plainConfig(s.c), `${s.c.name}: the plain optimizer's own config`);
      t.is(l.iterations, s.step);
      t.deepEqual(
        l.state.map(w => w.name),
        s.state.map(w => w.name),
      );
      l.state.forEach((w, k) => {
        const worst = Math.max(0, ...w.values.map((v, j) => Math.abs(v - s.state[k].values[j])));
        t.true(worst === 0, `${s.c.name} ${w.name}: differs by ${worst}`);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Where tfjs-teleport is loaded, the same artifacts come back as the teleporting wrapper.
  const back = await tfl.loadLayersModel(tf.io.fromMemory(saved[4].artifacts));
  t.true(isTeleportOptimizer(back.optimizer));
  t.deepEqual((back.optimizer as tp.TeleportOptimizer).getConfig().teleport, teleportKey('Adam'));
  back.optimizer.dispose();
  back.dispose();
});
