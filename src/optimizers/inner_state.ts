import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { SlotKind } from '../groups/types.js';
import { badOption } from '../teleport/errors.js';

/**
 * Where tfjs's built-in optimizers keep their per-variable slots (tfjs-core src/optimizers/*), and
 * how each slot moves along a group orbit. Slots are arrays indexed by the position of the variable
 * in the list passed to applyGradients; entries are created lazily on the first step.
 */
const SLOT_TABLE: Record<string, Array<{ field: string; kind: SlotKind }>> = {
  SGD: [],
  Momentum: [{ field: 'accumulations', kind: 'gradient' }],
  Adagrad: [{ field: 'accumulatedGrads', kind: 'squared' }],
  RMSProp: [
    { field: 'accumulatedMeanSquares', kind: 'squared' },
    { field: 'accumulatedMoments', kind: 'update' },
    { field: 'accumulatedMeanGrads', kind: 'gradient' },
  ],
  Adam: [
    { field: 'accumulatedFirstMoment', kind: 'gradient' },
    { field: 'accumulatedSecondMoment', kind: 'squared' },
  ],
};

type SlotArray = Array<{ originalName: string; variable: Variable } | undefined>;

export function innerClassName(opt: Optimizer): string {
  return (opt.constructor as unknown as { className?: string }).className ?? opt.getClassName();
}

/** True when we know where this optimizer keeps its state. */
export function knowsSlots(opt: Optimizer): boolean {
  return innerClassName(opt) in SLOT_TABLE;
}

/** The slot variables of one kind, by variable position (null where not created yet). */
export function slotGroups(opt: Optimizer): Array<{ kind: SlotKind; field: string; slots: Array<Variable | null> }> {
  const table = SLOT_TABLE[innerClassName(opt)] ?? [];
  return table.map(({ field, kind }) => {
    const arr = ((opt as unknown as Record<string, SlotArray>)[field] ?? []) as SlotArray;
    return { kind, field, slots: Array.from(arr, e => e?.variable ?? null) };
  });
}

/**
 * The inner optimizer's diagonal preconditioner A for ‖∇L‖²_A (dissertation eq. 5.7), per variable
 * position; null entries mean weight 1 (no state yet, or an optimizer without one).
 */
export function preconditionerOf(opt: Optimizer, count: number): Array<Tensor | null> {
  const name = innerClassName(opt);
  const o = opt as unknown as Record<string, unknown>;
  const eps = tf.backend().epsilon();
  const out: Array<Tensor | null> = new Array(count).fill(null);
  // A = f(slot) for every variable position that has the slot.
  const fill = (field: string, f: (slot: Variable) => Tensor) => {
    ((o[field] ?? []) as SlotArray).forEach((e, i) => {
      if (e != null && i < count) out[i] = tf.tidy(() => f(e.variable));
    });
  };
  if (name === 'Adagrad') {
    fill('accumulatedGrads', v => tf.rsqrt(tf.add(v, eps)));
  } else if (name === 'RMSProp') {
    fill('accumulatedMeanSquares', v => tf.rsqrt(tf.add(v, (o.epsilon as number) ?? eps)));
  } else if (name === 'Adam') {
    // Bias correction of the updates Adam has made since its state started: its accBeta2 is beta2^(k+1)
    // after k of them (iterations would be wrong after a 'reset', which keeps the clock).
    const beta2 = o.beta2 as number;
    const accBeta2 = o.accBeta2 as Tensor | undefined;
    const correction = accBeta2 != null ? 1 - accBeta2.dataSync()[0] / Math.fround(beta2) : 1 - beta2 ** ((o.iterations_ as number | undefined) ?? 0);
    if (correction > 0) {
      const epsilon = (o.epsilon as number) ?? eps;
      fill('accumulatedSecondMoment', v => tf.reciprocal(tf.add(tf.sqrt(tf.div(v, correction)), epsilon)));
    }
  }
  return out;
}

/**
 * A fresh optimizer of the same class and config (the 'reset' policy, and the reset-only control
 * of the benchmarks).
 */
export function recreate(opt: Optimizer): Optimizer {
  const cls = opt.constructor as unknown as { fromConfig(cls: unknown, config: unknown): Optimizer };
  if (typeof cls.fromConfig !== 'function') {
    throw badOption(`cannot reset optimizer state of ${opt.getClassName()}: its class has no static fromConfig`);
  }
  return cls.fromConfig(opt.constructor, opt.getConfig());
}

/**
 * Sets an optimizer's step counter (`iterations`, saved as `iter` in its weights). The wrapper's
 * schedule clock lives there, so it survives checkpoints and a 'reset' (a fresh inner optimizer).
 */
export function setIterations(opt: Optimizer, iterations: number): void {
  (opt as unknown as { iterations_: number }).iterations_ = iterations;
}
