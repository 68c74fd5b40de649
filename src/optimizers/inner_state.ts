import * as tf from '@tensorflow/tfjs-core';
import type { Optimizer, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { SlotKind } from '../groups/types.js';
import type { InnerRule, InnerStep } from '../objectives/types.js';
import { badOption } from '../core/errors.js';

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
 * position; null entries mean weight 1 (no state yet, or an optimizer without one). With `only`,
 * positions outside it stay null (a teleport needs A only where it acts: each entry costs a few
 * weight-sized kernels).
 */
export function preconditionerOf(opt: Optimizer, count: number, only?: ReadonlySet<number>): Array<Tensor | null> {
  const name = innerClassName(opt);
  const o = opt as unknown as Record<string, unknown>;
  const eps = tf.backend().epsilon();
  const out: Array<Tensor | null> = new Array(count).fill(null);
  // A = f(slot) for every variable position that has the slot.
  const fill = (field: string, f: (slot: Variable) => Tensor) => {
    ((o[field] ?? []) as SlotArray).forEach((e, i) => {
      if (e != null && i < count && (only == null || only.has(i))) out[i] = tf.tidy(() => f(e.variable));
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

/** Each class's update rule and the names {@link InnerStep} gives its slots (by SLOT_TABLE field). */
const RULES: Record<string, { rule: InnerRule; names: Record<string, string> }> = {
  SGD: { rule: 'sgd', names: {} },
  Momentum: { rule: 'momentum', names: { accumulations: 'velocity' } },
  Adagrad: { rule: 'adagrad', names: { accumulatedGrads: 'accumulator' } },
  RMSProp: { rule: 'rmsprop', names: { accumulatedMeanSquares: 'meanSquare', accumulatedMoments: 'moment', accumulatedMeanGrads: 'meanGrad' } },
  Adam: { rule: 'adam', names: { accumulatedFirstMoment: 'm', accumulatedSecondMoment: 'v' } },
};

/**
 * Slot positions of `vars` in `opt`: tfjs names a slot `${variable.name}/suffix`, so a variable's slots
 * are found by name (what a one-off teleport needs: it does not know the order the optimizer was
 * stepped in). A variable without slots yet keeps its own index (its state is fresh).
 */
export function slotPositions(opt: Optimizer, vars: readonly Variable[]): number[] {
  const byName = new Map<string, number>();
  for (const { slots } of slotGroupsWithNames(opt)) {
    slots.forEach((e, i) => {
      if (e != null) byName.set(e.originalName.slice(0, e.originalName.lastIndexOf('/')), i);
    });
  }
  return vars.map((v, j) => byName.get(v.name) ?? j);
}

function slotGroupsWithNames(opt: Optimizer): Array<{ field: string; slots: SlotArray }> {
  return (SLOT_TABLE[innerClassName(opt)] ?? []).map(({ field }) => ({
    field,
    slots: ((opt as unknown as Record<string, SlotArray>)[field] ?? []) as SlotArray,
  }));
}

/**
 * The inner optimizer's next update as an {@link InnerStep}: its rule, learning rate, constants and
 * state for each of `params` (in the teleport's order; `positions[j]` is parameter j's index in the
 * optimizer's slot lists). Reads the optimizer, never changes it. Slots not created yet are the values
 * tfjs would create (zeros; AdaGrad's initial accumulator). `movesWithWeights`: whether the caller moves
 * the state along with a teleport (see {@link InnerStep.movesWithWeights}). An optimizer class
 * without a known rule is an error naming the supported ones.
 */
export function innerStepOf(opt: Optimizer, params: readonly Tensor[], positions: ReadonlyArray<number | undefined>, movesWithWeights = false): InnerStep {
  const className = innerClassName(opt);
  const spec = RULES[className];
  if (spec == null) {
    throw badOption(
      `objective 'lookahead' unrolls the update rule of the optimizer that takes the next steps, and ${opt.getClassName()}'s is unknown: use SGD, Momentum, Adagrad, RMSProp or Adam (tf.train.* or tp.*)`,
    );
  }
  const o = opt as unknown as Record<string, unknown>;
  const config = opt.getConfig() as Record<string, unknown>;
  const learningRate = Number(config.learningRate ?? o.learningRate);
  const eps = tf.backend().epsilon();
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const constants: Record<string, number> = {};
  if (spec.rule === 'momentum') Object.assign(constants, { momentum: num(o.momentum, 0), nesterov: o.useNesterov ? 1 : 0 });
  if (spec.rule === 'adagrad') Object.assign(constants, { epsilon: eps });
  if (spec.rule === 'rmsprop')
    Object.assign(constants, { decay: num(o.decay, 0.9), momentum: num(o.momentum, 0), epsilon: num(o.epsilon, eps), centered: o.centered ? 1 : 0 });
  if (spec.rule === 'adam') {
    const beta1 = num(o.beta1, 0.9);
    const beta2 = num(o.beta2, 0.999);
    const acc = (v: unknown, base: number) => (v != null ? (v as Tensor).dataSync()[0] : base);
    Object.assign(constants, { beta1, beta2, epsilon: num(o.epsilon, eps), accBeta1: acc(o.accBeta1, beta1), accBeta2: acc(o.accBeta2, beta2) });
  }
  const initial = spec.rule === 'adagrad' ? num(config.initialAccumulatorValue, 0.1) : 0;
  const owned: Tensor[] = [];
  const state = (SLOT_TABLE[className] ?? [])
    .filter(({ field }) => field !== 'accumulatedMeanGrads' || constants.centered === 1)
    .map(({ field, kind }) => {
      const slots = ((o[field] ?? []) as SlotArray).map(e => e?.variable ?? null);
      const values = params.map((p, j) => {
        const at = positions[j];
        const slot = at == null ? null : slots[at];
        if (slot != null && slot.shape.join() !== p.shape.join()) {
          throw badOption(
            `the optimizer's state does not belong to these weights: its ${field} slot ${at} has shape [${slot.shape.join(', ')}] but parameter ${j} has shape [${p.shape.join(', ')}]; pass the optimizer that trains this model`,
          );
        }
        if (slot != null) return slot as Tensor;
        const made = tf.fill(p.shape, initial);
        owned.push(made);
        return made;
      });
      return { name: spec.names[field], kind, values };
    });
  return { rule: spec.rule, learningRate, constants, state, movesWithWeights, dispose: () => tf.dispose(owned) };
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
 * Disposes an inner optimizer completely. tfjs-core 4.22's MomentumOptimizer.dispose() overrides
 * SGDOptimizer's and never disposes the learning-rate scalar `c` of its base class: one tensor per
 * instance, which a wrapper that makes fresh inner optimizers ('reset', `resetState`) would leak at
 * every reset. This disposes it too when tfjs left it behind.
 */
export function disposeOptimizer(opt: Optimizer): void {
  opt.dispose();
  const c = (opt as unknown as { c?: Tensor }).c;
  if (c != null && typeof c.isDisposed === 'boolean' && !c.isDisposed) c.dispose();
}

/**
 * Sets an optimizer's step counter (`iterations`, saved as `iter` in its weights). The wrapper's
 * schedule clock lives there, so it survives checkpoints and a 'reset' (a fresh inner optimizer).
 */
export function setIterations(opt: Optimizer, iterations: number): void {
  (opt as unknown as { iterations_: number }).iterations_ = iterations;
}

/**
 * How one parameter's slots change when a model's units are split (see `split`): the new
 * tensor's entries along `axis` are the old ones at `source`, and the gradient there is the old
 * gradient times `gradientFactor` (Sareen et al. Theorem 5.1: α for duplicated weights, 1 for
 * split ones).
 */
export interface SlotResize {
  /** Position of the parameter in the optimizer's variable list (the model's trainable weights). */
  position: number;
  /** The unit axis of the parameter (a Dense kernel's columns: 1; its bias: 0; the next kernel's rows: 0). */
  axis: number;
  /** For each new unit, the old unit it comes from. */
  source: readonly number[];
  /** For each new unit, ∂L/∂w′ divided by ∂L/∂w. */
  gradientFactor: readonly number[];
}

/**
 * A new optimizer of the same class, config and step count as `opt`, whose slots are `opt`'s moved
 * to a resized parameter list: for each {@link SlotResize} the slots are gathered along the unit
 * axis and scaled as the gradient scales — first moments (momentum, Adam's m, RMSProp's mean
 * gradient) by the factor, second moments (Adam's v, RMSProp's mean square) by its square,
 * AdaGrad's accumulator as init + factor²·(acc − init), RMSProp's momentum of updates (lr·g/√(ms+ε)) by
 * α·√(ms+ε)/√(α²·ms+ε) from the current ms (ms − mg² when centered): exact for a one-step state, or
 * where ms ≫ ε or ε = 0; for a longer history each term is off by that ratio at its own ms. Other slots are copied. `opt` is not changed; slots it has
 * not created yet stay uncreated. `newNames` are the new variables' names (for slot names).
 */
export function resizeSlots(
  opt: Optimizer,
  changes: readonly SlotResize[],
  oldVariables: ReadonlyArray<{ name: string; shape: number[] }>,
  newNames: readonly string[],
): Optimizer {
  const name = innerClassName(opt);
  const table = SLOT_TABLE[name];
  if (table == null) {
    throw badOption(`cannot split the state of optimizer ${opt.getClassName()}: its slot layout is unknown (supported: ${Object.keys(SLOT_TABLE).join(', ')})`);
  }
  const oldNames = oldVariables.map(v => v.name);
  // Slots are matched to weights by position: a state of another model would be split wrongly.
  for (const { field } of table) {
    const arr = ((opt as unknown as Record<string, SlotArray>)[field] ?? []) as SlotArray;
    arr.forEach((e, i) => {
      const want = oldVariables[i]?.shape;
      if (e != null && (want == null || e.variable.shape.join() !== want.join())) {
        throw badOption(
          `the optimizer's state does not belong to this model: its slot ${i} (${e.originalName}) has shape [${e.variable.shape.join(', ')}] but the model's trainable weight ${i} ${want == null ? 'does not exist' : `has shape [${want.join(', ')}]`}; pass the optimizer that trains this model (slots follow model.trainableWeights)`,
        );
      }
    });
  }
  const fresh = recreate(opt);
  setIterations(fresh, opt.iterations);
  const o = opt as unknown as Record<string, unknown>;
  const f = fresh as unknown as Record<string, unknown>;
  for (const field of ['accBeta1', 'accBeta2']) {
    if (o[field] != null && f[field] != null) (f[field] as Variable).assign(o[field] as Tensor);
  }
  const byPosition = new Map(changes.map(c => [c.position, c]));
  const initial = name === 'Adagrad' ? Number(opt.getConfig().initialAccumulatorValue ?? 0.1) : 0;
  // RMSProp's momentum rescale needs the old denominator ms − mg² (centered) or ms at each position.
  const rms =
    name === 'RMSProp'
      ? {
          epsilon: typeof o.epsilon === 'number' ? o.epsilon : tf.backend().epsilon(),
          centered: o.centered === true,
          ms: (o.accumulatedMeanSquares ?? []) as SlotArray,
          mg: (o.accumulatedMeanGrads ?? []) as SlotArray,
        }
      : null;
  for (const { field, kind } of table) {
    const old = (o[field] ?? []) as SlotArray;
    const moved: SlotArray = Array.from(old, (entry, i) => {
      if (entry == null) return undefined;
      const suffix = entry.originalName.startsWith(oldNames[i] ?? '\u0000') ? entry.originalName.slice(oldNames[i].length) : `/${field}`;
      const change = byPosition.get(i);
      const value = tf.tidy(() => {
        if (change == null) return tf.clone(entry.variable);
        if (kind === 'update' && rms != null) {
          const ms = rms.ms[i]?.variable;
          const mg = rms.centered ? rms.mg[i]?.variable : undefined;
          // tfjs 4.22 divides by √(ms + ε) plain, but by √(ms − (mg² + ε)) centered: ε enters with a minus sign there.
          if (ms != null)
            return resizeRmsMoment(
              entry.variable,
              change,
              rms.centered && mg != null ? tf.sub(ms, tf.square(mg)) : ms,
              rms.centered ? -rms.epsilon : rms.epsilon,
            );
        }
        return resizeSlot(entry.variable, change, kind, initial);
      });
      const variable = value.variable(false);
      value.dispose();
      return { originalName: `${newNames[i] ?? `slot${i}`}${suffix}`, variable };
    });
    f[field] = moved;
  }
  return fresh;
}

/**
 * RMSProp's momentum of updates m = Σ μ^(t−s)·lr·g_s/√(d_s + ε) (d = ms, or ms − mg² when centered).
 * A copy with gradient factor α has g′ = α·g and d′ = α²·d, so each term scales by
 * r(d_s) = α·√(d_s + ε)/√(α²·d_s + ε). The state keeps only the current d, so m is scaled by r(d_now):
 * exact when every term was computed with the current d (one step, or a constant d), or when ε = 0;
 * otherwise each term is off by r(d_now)/r(d_s) (close to 1 where d ≫ ε, where r → sign α).
 */
function resizeRmsMoment(moment: Tensor, change: SlotResize, denominator: Tensor, epsilon: number): Tensor {
  const src = tf.tensor1d(Array.from(change.source), 'int32');
  const m = tf.gather(moment, src, change.axis);
  const d = tf.gather(denominator, src, change.axis);
  const shape = moment.shape.map((_, ax) => (ax === change.axis ? change.source.length : 1));
  const alpha = tf.reshape(tf.tensor1d(Array.from(change.gradientFactor)), shape);
  // α·√(d + ε)/√(α²d + ε), from the same float32 kernels tfjs uses for the denominator.
  const ratio = tf.mul(alpha, tf.div(tf.sqrt(tf.add(d, epsilon)), tf.sqrt(tf.add(tf.mul(tf.square(alpha), d), epsilon))));
  return tf.mul(m, ratio);
}

function resizeSlot(slot: Tensor, change: SlotResize, kind: SlotKind, adagradInit: number): Tensor {
  const gathered = tf.gather(slot, tf.tensor1d(Array.from(change.source), 'int32'), change.axis);
  const shape = slot.shape.map((_, d) => (d === change.axis ? change.source.length : 1));
  const g = Array.from(change.gradientFactor);
  const factor = (values: number[]) => tf.reshape(tf.tensor1d(values), shape);
  if (kind === 'gradient') return tf.mul(gathered, factor(g));
  if (kind === 'update') return tf.mul(gathered, factor(g.map(Math.sign)));
  // squared: the accumulated part scales with the square; AdaGrad's initial value does not.
  return tf.add(tf.mul(tf.sub(gathered, adagradInit), factor(g.map(x => x * x))), adagradInit);
}
