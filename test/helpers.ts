import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { SeededRandom } from '../src/core/random.js';

tf.enableProdMode();

/** Uses the cpu backend (deterministic, complete kernels). */
export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

/** A uniform random tensor from a seeded stream, same on every backend. */
export function seededUniform(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const r = new SeededRandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * r.next();
  return tf.tensor(v, shape);
}

/** Sets every weight of a model from a seeded stream. */
export function seedWeights(model: tfl.LayersModel, seed: number, scale = 0.5): void {
  // setWeights copies the values: the seeded tensors are ours to free.
  const values = model.getWeights().map((w, i) => seededUniform(w.shape, seed * 1000 + i, -scale, scale));
  model.setWeights(values);
  tf.dispose(values);
}

export function mlp(
  opts: {
    input?: number;
    widths?: number[];
    activation?: string;
    alpha?: number;
    output?: number;
    softmax?: boolean;
    seed?: number;
    leakyLayer?: boolean;
  } = {},
): tfl.Sequential {
  const { input = 6, widths = [5, 4], activation = 'relu', output = 3, softmax = false, seed = 1 } = opts;
  const model = tfl.sequential();
  widths.forEach((w, i) => {
    const act = opts.leakyLayer ? 'linear' : activation;
    model.add(tfl.layers.dense({ units: w, activation: act as 'relu', inputShape: i === 0 ? [input] : undefined }));
    if (opts.leakyLayer) model.add(tfl.layers.leakyReLU({ alpha: opts.alpha ?? 0.1 }));
  });
  model.add(tfl.layers.dense({ units: output, activation: softmax ? 'softmax' : 'linear' }));
  seedWeights(model, seed);
  return model;
}

export function smallCnn(seed = 3, activation: 'relu' | 'linear' = 'relu'): tfl.Sequential {
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same', activation }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, activation }),
      tfl.layers.averagePooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 5, activation: 'relu' }),
      tfl.layers.dense({ units: 2, activation: 'softmax' }),
    ],
  });
  seedWeights(model, seed, 0.4);
  return model;
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

export function relDiff(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-12);
}

export function oneHotBatch(n: number, classes: number, seed: number): tf.Tensor {
  const r = new SeededRandom(seed);
  return tf.cast(
    tf.oneHot(
      tf.tensor1d(
        Array.from({ length: n }, () => r.int(classes)),
        'int32',
      ),
      classes,
    ),
    'float32',
  );
}

export { tf, tfl };

/** Sets every variable to uniform values in [−scale, scale) from a seed (e.g. a meta-teleporter's weights, whose heads start at zero). */
export function randomizeVariables(vars: readonly tf.Variable[], seed: number, scale: number): void {
  const r = new SeededRandom(seed);
  for (const w of vars) {
    const v = tf.tensor(
      Float32Array.from({ length: w.size }, () => (2 * r.next() - 1) * scale),
      w.shape,
    );
    w.assign(v);
    v.dispose();
  }
}

/** What a `save(handler)` call writes, captured in memory (for save/load round trips through `tf.io.fromMemory`). */
export async function savedArtifacts(save: (handler: tf.io.IOHandler) => Promise<unknown>): Promise<tf.io.ModelArtifacts> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await save(
    tf.io.withSaveHandler(async a => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (artifacts == null) throw new Error('save() wrote nothing');
  return artifacts;
}

/** Largest |a − b| relative to the largest |a| (outputs before vs after a teleport). */
export function relChange(a: tf.Tensor, b: tf.Tensor): number {
  return (
    maxAbsDiff(a, b) /
    Math.max(
      1e-12,
      tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]),
    )
  );
}

/** ‖∇L‖² at `vars` by plain autodiff of `lossAt` (an independent recomputation for teleport tests). */
export function autodiffGradNormSq(lossAt: (p: readonly tf.Tensor[]) => tf.Scalar, vars: readonly tf.Tensor[]): number {
  return tf.tidy(
    () =>
      tf
        .addN(
          tf
            .grads((...p: tf.Tensor[]) => lossAt(p))(vars as tf.Tensor[])
            .map(g => tf.sum(tf.square(g))),
        )
        .dataSync()[0],
  );
}

/** A regression task for the schedule tests: 256 inputs, a relu teacher's outputs, the first 128 rows as teleport batch. */
export function teacherData(): { x: tf.Tensor; y: tf.Tensor; tb: { x: tf.Tensor; y: tf.Tensor } } {
  return tf.tidy(() => {
    const x = seededUniform([256, 8], 1);
    const teacher = mlp({ input: 8, widths: [16], activation: 'relu', output: 4, seed: 99 });
    const y = teacher.predict(x) as tf.Tensor;
    teacher.dispose();
    return { x, y, tb: { x: tf.slice(x, [0, 0], [128, 8]), y: tf.slice(y, [0, 0], [128, 4]) } };
  });
}
