import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer } from '@tensorflow/tfjs-core';
import { TeleportOptimizer, type TeleportOptimizerOptions } from './teleport_optimizer.js';
import { disposeOptimizer } from './inner_state.js';

type Arg = number | boolean | null | undefined;

/** Splits `(...tfTrainArgs, options?)`: the options object, if any, comes last. */
function split(args: Array<Arg | TeleportOptimizerOptions>): [Arg[], TeleportOptimizerOptions] {
  const last = args[args.length - 1];
  if (last != null && typeof last === 'object') return [args.slice(0, -1) as Arg[], last as TeleportOptimizerOptions];
  return [args as Arg[], {}];
}

/**
 * Wraps any tfjs optimizer so it teleports on a schedule.
 * ```ts
 * const optimizer = tp.wrap(tf.train.adamax(0.002), { model, schedule: { atSteps: [100] } });
 * ```
 */
export function wrap(optimizer: Optimizer, options: TeleportOptimizerOptions = {}): TeleportOptimizer {
  return new TeleportOptimizer(optimizer, options);
}

/** Wraps an optimizer this module made: if the options are refused, the inner optimizer (and its tensors) is freed. */
function wrapOwned(inner: Optimizer, options: TeleportOptimizerOptions): TeleportOptimizer {
  try {
    return new TeleportOptimizer(inner, options);
  } catch (e) {
    disposeOptimizer(inner);
    throw e;
  }
}

/**
 * Teleporting SGD: `tp.sgd(learningRate, options)`, arguments as `tf.train.sgd`.
 * ```ts
 * model.compile({ optimizer: tp.sgd(0.05, { model, schedule: { every: 500 } }), loss: 'meanSquaredError' });
 * ```
 */
export function sgd(learningRate: number, options: TeleportOptimizerOptions = {}): TeleportOptimizer {
  return wrapOwned(tf.train.sgd(learningRate), options);
}

/** Teleporting momentum: `tp.momentum(learningRate, momentum, useNesterov?, options?)`, as `tf.train.momentum`. */
export function momentum(learningRate: number, momentumValue: number, ...rest: Array<boolean | TeleportOptimizerOptions | undefined>): TeleportOptimizer {
  const [args, options] = split(rest as Array<Arg | TeleportOptimizerOptions>);
  return wrapOwned(tf.train.momentum(learningRate, momentumValue, Boolean(args[0] ?? false)), options);
}

/** Teleporting AdaGrad: `tp.adagrad(learningRate, initialAccumulatorValue?, options?)`, as `tf.train.adagrad`. */
export function adagrad(learningRate: number, ...rest: Array<number | TeleportOptimizerOptions | undefined>): TeleportOptimizer {
  const [args, options] = split(rest as Array<Arg | TeleportOptimizerOptions>);
  return wrapOwned(tf.train.adagrad(learningRate, (args[0] as number | undefined) ?? undefined), options);
}

/** Teleporting RMSProp: `tp.rmsprop(learningRate, decay?, momentum?, epsilon?, centered?, options?)`, as `tf.train.rmsprop`. */
export function rmsprop(learningRate: number, ...rest: Array<number | boolean | null | TeleportOptimizerOptions | undefined>): TeleportOptimizer {
  const [args, options] = split(rest as Array<Arg | TeleportOptimizerOptions>);
  return wrapOwned(
    tf.train.rmsprop(
      learningRate,
      (args[0] as number | undefined) ?? undefined,
      (args[1] as number | undefined) ?? undefined,
      (args[2] as number | undefined) ?? undefined,
      Boolean(args[3] ?? false),
    ),
    options,
  );
}

/** Teleporting Adam: `tp.adam(learningRate?, beta1?, beta2?, epsilon?, options?)`, as `tf.train.adam`. */
export function adam(learningRate = 0.001, ...rest: Array<number | null | TeleportOptimizerOptions | undefined>): TeleportOptimizer {
  const [args, options] = split(rest as Array<Arg | TeleportOptimizerOptions>);
  return wrapOwned(
    tf.train.adam(
      learningRate,
      (args[0] as number | undefined) ?? undefined,
      (args[1] as number | undefined) ?? undefined,
      (args[2] as number | undefined) ?? undefined,
    ),
    options,
  );
}
