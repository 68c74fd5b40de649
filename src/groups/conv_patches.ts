import * as tf from '@tensorflow/tfjs-core';
import type { Tensor2D, Tensor4D } from '@tensorflow/tfjs-core';

/** How a Conv2D layer slides its kernel (channelsLast). */
export interface ConvGeometry {
  kernelSize: [number, number];
  strides: [number, number];
  padding: 'same' | 'valid';
  dilation: [number, number];
}

/**
 * The im2col patches of a Conv2D layer's input: one row per output position of every example
 * ([n·oh·ow, kh·kw·cin]), column (i·kw + j)·cin + c holding input channel c under kernel tap (i, j).
 * Then conv2d(x, K) = patches · reshape(K, [kh·kw·cin, cout]), so a kernel change ΔK with
 * patches·ΔK = 0 keeps the layer's pre-activations on x.
 *
 * Built by a convolution with a one-hot kernel, so padding, strides and dilation are exactly the
 * layer's own (each output is one input value times 1, no round-off).
 */
export function convPatches(x: Tensor4D, g: ConvGeometry): Tensor2D {
  return tf.tidy(() => {
    const [kh, kw] = g.kernelSize;
    const cin = x.shape[3];
    const k = kh * kw * cin;
    const picker = tf.reshape(tf.eye(k), [kh, kw, cin, k]) as Tensor4D;
    const patches = tf.conv2d(x, picker, g.strides, g.padding, 'NHWC', g.dilation);
    return tf.reshape(patches, [-1, k]) as Tensor2D;
  });
}
