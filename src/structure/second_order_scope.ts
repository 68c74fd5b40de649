/**
 * Second derivatives of a user's own code (a tfjs-teleport/hessian closure, a meta family's loss or action).
 *
 * tfjs 4.22 registers no gradient for the comparison kernels (Greater, Less, Equal, …). Their outputs
 * are piecewise constant, so first-order gradients never need them; but the gradients of leakyRelu,
 * prelu, maximum, minimum, relu6, clipByValue and selu compute a comparison of their input, and a
 * second derivative (nested tf.grads) differentiates that comparison: "gradient function not found
 * for Greater". Inside {@link withSecondOrderGradients} the comparisons missing a gradient get the
 * true one, zero, and lose it again on the way out (nothing changes for code outside the scope).
 * EluGrad (tf.elu's gradient kernel) has no gradient either, and one through its saved output would
 * be cut silently (see second_order.ts): that error is turned into one that names
 * `hessian.secondOrder.elu`. Conv2DBackpropFilter, MaxPoolGrad and AvgPoolGrad get their gradients the
 * same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Tensor } from '@tensorflow/tfjs-core';
import { TeleportError } from '../core/errors.js';

/** Comparison kernels and their input names: the derivative of a step function is zero almost everywhere. */
const COMPARISONS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['Greater', ['a', 'b']],
  ['GreaterEqual', ['a', 'b']],
  ['Less', ['a', 'b']],
  ['LessEqual', ['a', 'b']],
  ['Equal', ['a', 'b']],
  ['NotEqual', ['a', 'b']],
  ['LogicalAnd', ['a', 'b']],
  ['LogicalOr', ['a', 'b']],
  ['LogicalXor', ['a', 'b']],
  ['LogicalNot', ['x']],
];

/**
 * Conv2DBackpropFilter (the gradient of a conv kernel) has no gradient in tfjs 4.22, so ‖∇L‖² of a
 * convolution's kernel cannot be differentiated (a null-space teleport above a Conv2D needs it).
 * dW = Σ x-patch ⊗ dy is bilinear: its gradient in dy is conv2d(x, G) and in x the transposed
 * convolution of dy by G (the same pair tfjs uses for conv2d itself), with the kernel's strides and
 * padding (tfjs computes no conv gradient with dilation > 1 at all).
 */
function registerConvFilterGradient(): boolean {
  if (tf.getGradient('Conv2DBackpropFilter') != null) return false;
  tf.registerGradient({
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (g: Tensor | Tensor[], saved: Tensor[], attrs) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as { strides: [number, number] | number; pad: 'same' | 'valid' | number };
      const ddw = g as tf.Tensor4D;
      return {
        x: () => tf.conv2dTranspose(dy, ddw, x.shape, a.strides, a.pad),
        dy: () => tf.conv2d(x, ddw, a.strides, a.pad),
      };
    },
  });
  return true;
}

type PoolAttrs = { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'same' | 'valid' | number };
const pair = (v: [number, number] | number): [number, number] => (typeof v === 'number' ? [v, v] : v);

/**
 * MaxPoolGrad and AvgPoolGrad (the gradients of pooling) have none in tfjs 4.22 either, so a
 * second derivative through a pooling layer fails. Both are linear in dy: MaxPoolGrad routes dy to
 * each window's argmax, so its gradient in dy reads G there (gathered with maxPoolWithArgmax, which
 * picks the first maximum as MaxPoolGrad does); AvgPoolGrad spreads dy/(fh·fw) over each window
 * (tfjs divides by the full window even where 'same' padding cuts it), so its gradient in dy is
 * the window sum of G over fh·fw. In the pooled input they are piecewise constant: zero.
 */
function registerPoolGradients(): string[] {
  const added: string[] = [];
  if (tf.getGradient('MaxPoolGrad') == null) {
    tf.registerGradient({
      kernelName: 'MaxPoolGrad',
      inputsToSave: ['dy', 'input', 'output'],
      gradFunc: (g: Tensor | Tensor[], saved: Tensor[], attrs) => {
        const [dy, input, output] = saved;
        const a = attrs as unknown as PoolAttrs;
        return {
          dy: () => {
            const { indexes } = tf.maxPoolWithArgmax(input as tf.Tensor4D, a.filterSize, a.strides, a.pad as 'same', true);
            return tf.reshape(tf.gather(tf.reshape(g as Tensor, [-1]), tf.reshape(indexes, [-1])), dy.shape);
          },
          input: () => tf.zerosLike(input),
          output: () => tf.zerosLike(output),
        };
      },
    });
    added.push('MaxPoolGrad');
  }
  if (tf.getGradient('AvgPoolGrad') == null) {
    tf.registerGradient({
      kernelName: 'AvgPoolGrad',
      inputsToSave: ['dy', 'input'],
      gradFunc: (g: Tensor | Tensor[], saved: Tensor[], attrs) => {
        const [, input] = saved;
        const a = attrs as unknown as PoolAttrs;
        const [fh, fw] = pair(a.filterSize);
        const ones = tf.ones([fh, fw, input.shape[3]!, 1]) as tf.Tensor4D;
        return {
          dy: () => tf.div(tf.depthwiseConv2d(g as tf.Tensor4D, ones, a.strides, a.pad as 'same'), fh * fw),
          input: () => tf.zerosLike(input),
        };
      },
    });
    added.push('AvgPoolGrad');
  }
  return added;
}

/** Safe versions to name when tfjs lacks a second derivative. */
const REPLACEMENTS: Record<string, string> = { EluGrad: 'tf.elu → secondOrder.elu from tfjs-teleport/hessian', SeluGrad: 'tf.selu' };

let depth = 0;
let registered: string[] = [];

function enter(): void {
  if (depth++ > 0) return;
  registered = [];
  for (const [kernelName, inputs] of COMPARISONS) {
    if (tf.getGradient(kernelName) != null) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: [...inputs],
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) =>
        // float32 whatever the input's dtype (the tape requires it; LogicalAnd's inputs are bool).
        Object.fromEntries(inputs.map((name, i) => [name, () => tf.zeros((saved[i] ?? (dy as Tensor)).shape)])),
    });
    registered.push(kernelName);
  }
  if (registerConvFilterGradient()) registered.push('Conv2DBackpropFilter');
  registered.push(...registerPoolGradients());
}

function exit(): void {
  if (--depth > 0) return;
  for (const kernelName of registered) tf.unregisterGradient(kernelName);
  registered = [];
}

/** A tfjs "gradient function not found" error as a TeleportError that names the fix; other errors unchanged. */
function named(e: unknown): unknown {
  const kernel = e instanceof Error ? /gradient function not found for (\w+)/.exec(e.message)?.[1] : undefined;
  if (kernel == null) return e;
  const hint = REPLACEMENTS[kernel] != null ? ` (${REPLACEMENTS[kernel]})` : '';
  return new TeleportError(
    `a second derivative of your loss needs the gradient of tfjs kernel ${kernel}${hint}, which tfjs does not have: ` +
      'write that part with the second-order-safe ops of secondOrder from tfjs-teleport/hessian (relu, leakyRelu, elu, maximum, tanh, sigmoid, softmax, logSoftmax), ' +
      "or use hessian.hvp's method: 'finite-difference'",
    'unsupported',
  );
}

/**
 * Runs `fn` with zero gradients registered for the comparison kernels tfjs leaves without one, then
 * unregisters them (nesting is fine). A missing gradient that zero would not make right becomes a
 * TeleportError of kind 'unsupported' naming the replacement.
 *
 * ```ts
 * const hv = withSecondOrderGradients(() => tf.grads(...)(...)); // tf.leakyRelu inside is fine
 * ```
 */
export function withSecondOrderGradients<T>(fn: () => T): T {
  enter();
  try {
    return fn();
  } catch (e) {
    throw named(e);
  } finally {
    exit();
  }
}

/** {@link withSecondOrderGradients} for an async function (the registration lasts until it settles). */
export async function withSecondOrderGradientsAsync<T>(fn: () => Promise<T>): Promise<T> {
  enter();
  try {
    return await fn();
  } catch (e) {
    throw named(e);
  } finally {
    exit();
  }
}
