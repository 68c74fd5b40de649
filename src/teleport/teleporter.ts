import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SiteAction } from '../groups/types.js';
import type { Preconditioner } from '../objectives/grad_norm.js';
import { readModel, type ModelStructure } from '../structure/read_model.js';
import { resolveLoss, type ResolvedLoss } from '../structure/losses.js';
import { runTeleport, type TeleportOutcome, type TeleportSettings } from './engine.js';
import { planTeleport, type TeleportPlan } from './plan.js';
import { resolveSettings, DEFAULTS, type Batch, type TeleportOptions } from './options.js';

/**
 * What one teleport did. Losses and norms are on the teleport batch (or, for exact groups inside an
 * optimizer step without `data`, on the step's own gradient; the loss fields are then null).
 */
export interface TeleportReport {
  /** Optimizer step at which it ran (null for a one-off {@link teleport}). */
  step: number | null;
  group: string;
  objective: string;
  direction: 'maximize' | 'minimize';
  /** 'transport': from the known gradient, no extra pass; 'evaluate': loss evaluated on the batch. */
  route: 'transport' | 'evaluate';
  /** Where the group acted. */
  sites: string[];
  objectiveBefore: number;
  objectiveAfter: number;
  gradNormSqBefore: number;
  gradNormSqAfter: number;
  lossBefore: number | null;
  lossAfter: number | null;
  /** |lossAfter − lossBefore| / |lossBefore|, null when no batch was available to measure it. */
  relativeLossDrift: number | null;
  accepted: boolean;
  /** Why a teleport was rejected (weights and optimizer state are then unchanged). */
  reason?: string;
  ascentSteps: number;
  backtracks: number;
  /** Halvings of the group element the drift guard needed. */
  shrinks: number;
  /** What happened to the inner optimizer's state ('keep', 'reset', 'transform', or 'transform (partial: …)'). */
  state?: string;
  /** Index of the teleport batch, when several are given. */
  batch?: number;
  /** Wall time of the teleport in milliseconds. */
  ms: number;
}

/** A teleport configuration bound to its target: a model, or a plain parameter list. */
export class Teleporter {
  readonly settings: TeleportSettings;
  readonly structure: ModelStructure | null;
  readonly plan: TeleportPlan | null;
  private readonly customActions: SiteAction[] | null;
  private lossCache: ResolvedLoss | null = null;
  private readonly lossOfParams: ((params: Tensor[]) => Scalar) | null;
  private readonly model: LayersModel | null;

  constructor(readonly options: TeleportOptions) {
    this.settings = resolveSettings(options);
    const group = options.group ?? DEFAULTS.group;
    this.model = options.model ?? null;
    this.lossOfParams = options.lossOfParams ?? null;
    if (typeof group === 'string') {
      if (this.model == null) {
        throw new Error(`tfjs-teleport: group '${group}' acts on a model's layers: pass the model as the \`model\` option (or pass site actions such as tp.groups.so2(...) as \`group\` for a plain parameter vector)`);
      }
      this.structure = readModel(this.model);
      this.plan = planTeleport(this.structure, group, options.onUnsupported ?? DEFAULTS.onUnsupported);
      this.customActions = null;
      // Check a given loss now; the compiled one is read when first needed (compile may come later).
      if (options.loss != null) this.lossCache = resolveLoss(options.loss, this.structure.finalSoftmax);
    } else {
      this.customActions = Array.isArray(group) ? group : [group];
      if (this.customActions.length === 0) throw new Error('tfjs-teleport: `group` is an empty list of site actions');
      this.structure = null;
      this.plan = null;
    }
  }

  /** The model's loss on a batch: the `loss` option, else the one given to model.compile. */
  private get lossSpec(): ResolvedLoss | null {
    if (this.lossCache == null && this.model != null && this.structure != null) {
      this.lossCache = resolveLoss(this.options.loss ?? this.model.loss, this.structure.finalSoftmax);
    }
    return this.lossCache;
  }

  /** Whether the group needs a teleport batch to act (data-dependent GL), or a loss function (no transport). */
  get needsBatch(): boolean {
    return this.plan?.dataDependent ?? false;
  }

  /** True when the teleport can run from the optimizer's gradient alone. */
  get transportable(): boolean {
    if (this.plan) return !this.plan.dataDependent;
    return this.customActions!.every(a => a.transportGradient != null);
  }

  get groupName(): string {
    if (this.plan) return this.plan.group;
    return [...new Set(this.customActions!.map(a => a.group))].join('+');
  }

  /** The variables a teleport moves, in parameter-list order; for a model, its trainable weights. */
  variables(fallback?: Variable[]): Variable[] {
    if (this.structure) return this.structure.variables;
    if (fallback == null) throw new Error('tfjs-teleport: a teleport without a model needs the parameter variables');
    return fallback;
  }

  /** Checks a batch against the model's input and output shapes. */
  validateBatch(batch: Batch): void {
    if (this.model == null) return;
    const expectIn = this.model.inputs[0].shape;
    const got = batch.x.shape;
    const fits = got.length === expectIn.length && expectIn.every((d, i) => i === 0 || d == null || d === got[i]);
    if (!fits) {
      throw new Error(`tfjs-teleport: teleport batch x has shape [${got.join(', ')}] but model '${this.model.name}' expects [${expectIn.map(d => d ?? 'batch').join(', ')}]`);
    }
    if (batch.y.shape[0] !== got[0]) {
      throw new Error(`tfjs-teleport: teleport batch has ${got[0]} inputs but ${batch.y.shape[0]} targets; x and y must have the same first dimension`);
    }
    const expectOut = this.model.outputs[0].shape;
    const sparse = this.lossSpec?.name === 'sparseCategoricalCrossentropy';
    const yFits = sparse || (batch.y.shape.length === expectOut.length && expectOut.every((d, i) => i === 0 || d == null || d === batch.y.shape[i]));
    if (!yFits) {
      throw new Error(`tfjs-teleport: teleport batch y has shape [${batch.y.shape.join(', ')}] but model '${this.model.name}' outputs [${expectOut.map(d => d ?? 'batch').join(', ')}]`);
    }
  }

  /** The loss on a batch as a pure function of the parameter list. */
  lossOn(batch: Batch | null): ((params: readonly Tensor[]) => Scalar) | null {
    if (this.lossOfParams) return params => this.lossOfParams!(params.slice());
    if (batch == null || this.structure == null || this.lossSpec == null) return null;
    const { structure, lossSpec } = this;
    return params => lossSpec.compute(batch.y, structure.forward(params, batch.x, { logits: lossSpec.logits }).output);
  }

  /**
   * Runs one teleport on `vars` (which it assigns on success). `grads` (aligned with `vars`) lets exact
   * groups skip every forward and backward pass; `batch` gives the loss for data-dependent groups and
   * for the drift check. Returns the engine's outcome (caller disposes `thetas`, `grads`) and the
   * actions (caller disposes them after moving optimizer state).
   */
  run(vars: Variable[], opts: { grads?: Array<Tensor | null> | null; batch?: Batch | null; preconditioner?: Preconditioner | null; random: () => number; maxGrowth?: number }): { outcome: TeleportOutcome; actions: SiteAction[]; ms: number } {
    const start = performance.now();
    if (opts.batch) this.validateBatch(opts.batch);
    const params: Tensor[] = vars;
    const actions = this.customActions ?? this.plan!.build(params, opts.batch?.x);
    const outcome = runTeleport(
      { params, actions, grads: this.transportable ? opts.grads ?? null : null, loss: this.lossOn(opts.batch ?? null), preconditioner: opts.preconditioner ?? null, random: opts.random },
      opts.maxGrowth != null ? { ...this.settings, maxGrowth: opts.maxGrowth } : this.settings,
    );
    if (outcome.accepted) {
      outcome.params!.forEach((p, i) => {
        if (p !== vars[i]) vars[i].assign(p);
      });
      tf.dispose(outcome.params!);
      outcome.params = null;
    }
    return { outcome, actions, ms: performance.now() - start };
  }

  /** Builds the public report from an outcome. */
  report(outcome: TeleportOutcome, actions: SiteAction[], extra: { step: number | null; ms: number; state?: string; batch?: number }): TeleportReport {
    const r: TeleportReport = {
      step: extra.step,
      group: this.groupName,
      objective: this.settings.objective,
      direction: this.settings.direction,
      route: outcome.route,
      sites: actions.map(a => a.where),
      objectiveBefore: outcome.objectiveBefore,
      objectiveAfter: outcome.objectiveAfter,
      gradNormSqBefore: outcome.gradNormSqBefore,
      gradNormSqAfter: outcome.gradNormSqAfter,
      lossBefore: outcome.lossBefore,
      lossAfter: outcome.lossAfter,
      relativeLossDrift: outcome.relativeLossDrift,
      accepted: outcome.accepted,
      ascentSteps: outcome.ascentSteps,
      backtracks: outcome.backtracks,
      shrinks: outcome.shrinks,
      ms: extra.ms,
    };
    if (outcome.reason) r.reason = outcome.reason;
    if (extra.state) r.state = extra.state;
    if (extra.batch != null) r.batch = extra.batch;
    return r;
  }
}
