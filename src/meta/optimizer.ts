import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';
import { badOption } from '../core/errors.js';
import type { MetaTask } from './family.js';
import type { MetaTeleporter } from './teleporter.js';
import { disposeState, keepState, tidy, type MetaState } from './tensors.js';

/** Options of {@link optimizer}. */
export interface MetaOptimizerOptions {
  /**
   * The exact group action on the variables, in the same order: `(params, θ) → params`, e.g. a
   * regression task's `act`. Required when the teleporter teleports, unless `teleport: false`.
   */
  act?: MetaTask['act'];
  /** false: apply only the learned update (g = I), the ablation. Default true. */
  teleport?: boolean;
  /** The loss of the variables (same order), e.g. a task's `loss`: a coordinate-wise teleporter's m2 reads ∂‖∇L‖²/∂θ from it. */
  loss?: MetaTask['loss'];
  /** The group's shape `{ blocks, n }` (θ is [blocks, n, n]); default the one the teleporter was trained on. */
  group?: { blocks: number; n: number };
}

/**
 * A `tf.Optimizer` that applies a trained {@link MetaTeleporter}: each `applyGradients` (so each
 * `minimize`) runs one step of the learned rule, w ← g·(w + f), carrying the LSTM state from step to
 * step. The variables must come in the order the teleporter was trained on (pass `varList` to
 * `minimize`: the teleporter's own LSTM weights are trainable variables too). Its config holds the
 * teleporter's options only: save the teleporter with `teleporter.save`, not through the optimizer.
 */
export class MetaOptimizer extends tf.Optimizer {
  static get className(): string {
    return 'MetaOptimizer';
  }

  private state?: MetaState;
  private readonly act?: MetaTask['act'];
  private readonly teleport: boolean;
  private readonly context: { loss?: MetaTask['loss']; group?: { blocks: number; n: number } };

  constructor(
    readonly teleporter: MetaTeleporter,
    opts: MetaOptimizerOptions = {},
  ) {
    super();
    if (teleporter?.shape == null) throw badOption('meta.optimizer: the teleporter has no weights yet: train it or load a saved one first');
    this.teleport = opts.teleport ?? true;
    this.act = opts.act;
    this.context = { loss: opts.loss, group: opts.group };
    if (
      teleporter.architecture === 'coordinatewise' &&
      teleporter.teleports &&
      this.teleport &&
      (opts.loss == null || (opts.group ?? teleporter.shape.group) == null)
    ) {
      throw badOption(
        "meta.optimizer: a coordinate-wise teleporter's m2 needs { loss } (the loss of the variables) and { group: { blocks, n } } (or { teleport: false })",
      );
    }
    if (teleporter.teleports && this.teleport && this.act == null) {
      throw badOption(`meta.optimizer: learn '${teleporter.learn}' teleports: give { act } (the exact group action on these variables) or { teleport: false }`);
    }
  }

  applyGradients(variableGradients: NamedTensorMap | Array<{ name: string; tensor: Tensor }>): void {
    const named = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map(name => ({ name, tensor: variableGradients[name] }));
    const vars = named.map(({ name }) => {
      const v = tf.engine().registeredVariables[name];
      if (v == null) throw badOption(`meta.optimizer: no variable named '${name}'`);
      return v;
    });
    this.state ??= keepState(this.teleporter.initialState());
    const state = this.state;
    const out = tidy(() => {
      const s = this.teleporter.step(
        vars,
        named.map(n => n.tensor),
        state,
        this.act,
        this.teleport,
        this.context,
      );
      return { params: s.params, state: s.state };
    });
    vars.forEach((v, i) => v.assign(out.params[i] as Tensor));
    tf.dispose(out.params);
    disposeState(state);
    this.state = keepState(out.state);
    this.incrementIterations();
  }

  /** Forgets the recurrent state (the next step starts from zeros, as at the start of a trajectory). */
  reset(): void {
    disposeState(this.state);
    this.state = undefined;
  }

  override dispose(): void {
    this.reset();
    super.dispose();
  }

  getConfig(): tf.serialization.ConfigDict {
    return { teleporter: this.teleporter.getConfig() as unknown as tf.serialization.ConfigDict, teleport: this.teleport };
  }
}

/**
 * `meta.optimizer(teleporter, { act })`: the trained teleporter as a tfjs optimizer for
 * `minimize` loops.
 *
 * ```ts
 * const task = meta.regressionFamily().sample(7);
 * const vars = task.params.map(p => tf.variable(p));
 * const opt = meta.optimizer(mt, { act: task.act });
 * for (let i = 0; i < 30; i++) opt.minimize(() => task.loss(vars), false, vars);
 * ```
 */
export function optimizer(teleporter: MetaTeleporter, opts: MetaOptimizerOptions = {}): MetaOptimizer {
  return new MetaOptimizer(teleporter, opts);
}
