/**
 * Where a teleport inside the optimizer step goes (issue 11): `npx tsx bench/instep_profile.ts [filter] [reps]`.
 * wasm backend as the benchmarks (bench/common.ts). For each model × group, interleaved with the
 * wrapper's plain step: the teleporting step, the time inside `teleporter.run` (the report's `ms`),
 * and per step the extra kernels (by name) and downloads (backend readSync calls) over a plain step.
 * Not part of `npm run bench`; a diagnostic for the cost page's notes.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tp from '../src/index.js';
import { interleaved, median, seededOneHot, seededUniform, setupBackend } from './common.js';
import { mlpSpec, snapshot, trainStep } from './models.js';

await setupBackend();
const only = process.argv[2] ?? '';
const reps = Number(process.argv[3] ?? 40);
const configs = [
  ['rescale', 'relu', 'gradNorm', 'sgd'],
  ['rescale', 'leakyRelu', 'preconditionedGradNorm', 'adam'],
  ['gl', 'linear', 'gradNorm', 'sgd'],
] as const;

/** Kernel names run and downloads made by `f`. */
async function census(f: () => void): Promise<{ kernels: Map<string, number>; downloads: number }> {
  const backend = tf.backend() as unknown as { readSync(id: unknown): unknown };
  const readSync = backend.readSync;
  let downloads = 0;
  backend.readSync = function (this: unknown, id: unknown) {
    downloads++;
    return readSync.call(this, id);
  };
  try {
    const info = await tf.profile(f);
    const kernels = new Map<string, number>();
    for (const k of info.kernels) kernels.set(k.name, (kernels.get(k.name) ?? 0) + 1);
    return { kernels, downloads };
  } finally {
    backend.readSync = readSync;
  }
}

for (const h of [16, 128])
  for (const [group, activation, objective, innerName] of configs) {
    if (!`${h} ${group} ${innerName}`.includes(only)) continue;
    const model = mlpSpec(h, activation).build(1);
    const x = seededUniform([200, 784], 11);
    const y = seededOneHot(200, 10, 12);
    const inner = innerName === 'adam' ? tf.train.adam(1e-3) : tf.train.sgd(1e-3);
    const plain = tp.wrap(inner);
    const tele = tp.wrap(inner, {
      model,
      group,
      objective,
      loss: 'categoricalCrossentropy',
      schedule: { every: 1, start: 0 },
      maxTotalGrowth: Number.POSITIVE_INFINITY,
    });
    for (let i = 0; i < 2; i++) trainStep(plain, model, x, y);
    const snap = snapshot(model);
    snap.restore();
    const a = await census(() => void trainStep(plain, model, x, y));
    snap.restore();
    const b = await census(() => void trainStep(tele, model, x, y));
    const extra = [...b.kernels]
      .map(([k, n]) => [k, n - (a.kernels.get(k) ?? 0)] as const)
      .filter(([, n]) => n !== 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    tele.teleportReports.length = 0;
    const t = interleaved(
      { plain: () => void trainStep(plain, model, x, y), tele: () => void trainStep(tele, model, x, y) },
      { reps, warmup: 3, before: () => snap.restore() },
    );
    const runMs = median(tele.teleportReports.map(r => r.ms));
    const step = t.plain.median;
    console.log(
      `784-${h}-${h}-10 b200 ${group} ${innerName}: step ${step.toFixed(2)} ms; in-step ${((t.tele.median - step) / step).toFixed(3)}× (teleport.run ${(runMs / step).toFixed(3)}×, the rest ${((t.tele.median - step - runMs) / step).toFixed(3)}×); extra kernels ${[...b.kernels.values()].reduce((s, n) => s + n, 0) - [...a.kernels.values()].reduce((s, n) => s + n, 0)} (${extra}); extra downloads ${b.downloads - a.downloads}`,
    );
    snap.dispose();
    model.dispose();
    inner.dispose();
    tf.dispose([x, y]);
  }
