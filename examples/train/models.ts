import * as tfl from '@tensorflow/tfjs-layers';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Activations the example MLPs accept (positively homogeneous ones can be rescale-teleported). */
export const ACTIVATIONS = ['leakyRelu', 'relu', 'linear', 'tanh'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

/**
 * The dissertation's classification MLP: input → widths… → classes, hidden activation after each
 * hidden Dense (leakyRelu as a separate LeakyReLU layer with slope `alpha`), softmax output.
 * Weights use Glorot-uniform initializers seeded by `seed`, so every arm of a comparison starts equal.
 */
export function buildMlp(opts: { inputSize: number; widths: number[]; classes: number; activation: ActivationName; alpha: number; seed: number }): LayersModel {
  const model = tfl.sequential();
  let seed = opts.seed * 101;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  opts.widths.forEach((units, i) => {
    const leaky = opts.activation === 'leakyRelu';
    model.add(
      tfl.layers.dense({
        units,
        inputShape: i === 0 ? [opts.inputSize] : undefined,
        activation: (leaky ? 'linear' : opts.activation) as 'linear',
        kernelInitializer: init(),
      }),
    );
    if (leaky) model.add(tfl.layers.leakyReLU({ alpha: opts.alpha }));
  });
  model.add(tfl.layers.dense({ units: opts.classes, activation: 'softmax', kernelInitializer: init() }));
  return model;
}

/**
 * A small CNN the rescale group can teleport at every layer pair: conv(relu) → max-pool → conv(relu)
 * → max-pool → flatten → dense(relu) → dense(softmax).
 */
export function buildCnn(opts: {
  inputShape: [number, number, number];
  filters: [number, number];
  hidden: number;
  classes: number;
  seed: number;
}): LayersModel {
  let seed = opts.seed * 101;
  const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({
        inputShape: opts.inputShape,
        filters: opts.filters[0],
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
        kernelInitializer: init(),
      }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.conv2d({ filters: opts.filters[1], kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init() }),
      tfl.layers.maxPooling2d({ poolSize: 2 }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: opts.hidden, activation: 'relu', kernelInitializer: init() }),
      tfl.layers.dense({ units: opts.classes, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}
