import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SiteAction } from '../groups/types.js';
import type { InnerStep, Objective, Preconditioner } from '../objectives/types.js';
import { getObjective } from '../objectives/registry.js';
import { readModel, type ModelStructure } from '../structure/read_model.js';
import { siteParams } from '../structure/sites.js';
import type { ResolvedLoss } from '../structure/losses.js';
import { modelLoss, type ModelLoss } from '../structure/model_loss.js';
import { runTeleport, type TeleportOutcome, type TeleportSettings } from './engine.js';
import { probeTeleport, type TeleportProbe } from './probe.js';
import { badOption, TeleportError } from '../core/errors.js';
import { planTeleport, type TeleportPlan } from './plan.js';
import { batchesAt, resolveOptions, settingsOf, type Batch, type ResolvedTeleportOptions, type TeleportOptions } from './options.js';
import { inputsOf, rowsOf, targetsOf } from '../core/batch.js';
import { emptyMetrics, type TeleportMetrics, type TeleportReport } from '../core/report.js';
import { checkFinite } from '../core/finite.js';

export type { TeleportReport, TeleportMetrics } from '../core/report.js';

/** One teleport for {@link Teleporter.run}: its inputs, what the report says of it, and what happens after. */
export interface TeleportRun {
  /** ∇L at `vars` (borrowed), aligned with them: exact groups need no pass over data. */
  grads?: Array<Tensor | null> | null;
  /** The teleport batch (data-dependent groups, the drift check, loss-based objectives). */
  batch?: Batch | null;
  /** For objectives with `usesPreconditioner` (borrowed). */
  preconditioner?: Preconditioner | null;
  /** This teleport's seeded random stream (uniform in [0, 1)). */
  random: () => number;
  /** This teleport's growth cap (default: the `maxGrowth` option). */
  maxGrowth?: number;
  /** The optimizer step, for the report (null: a one-off teleport). */
  step: number | null;
  /** The cap the report names (default `maxGrowth`). */
  growthCap?: number;
  /** Index of the teleport batch, for the report. */
  batchIndex?: number;
  /** When the teleport's time starts counting (default: now), e.g. before computing `grads`. */
  startedAt?: number;
  /** The optimizer that takes the next steps, for objectives that declare `needsInnerStep` (borrowed). */
  innerStep?: InnerStep | null;
  /** Last word on an element the guard accepted: a reason to refuse it (weights then untouched), or null. */
  approve?: (metrics: TeleportMetrics) => string | null;
  /** The message of the error thrown when the teleport meets NaN/Inf, from the engine's reason. */
  failure: (reason: string) => string;
  /** After an accepted teleport: carries optimizer state along the actions; returns what it did. */
  moveState?: (actions: SiteAction[], thetas: Tensor[]) => string;
  /** Hand the transported gradients at the new weights to the caller instead of disposing them. */
  keepGrads?: boolean;
}

/** Rows [from, from + count) of every input and target of a batch (new tensors). */
function sliceRows(batch: Batch, from: number, count: number): Batch {
  const rows = (t: Tensor) => tf.slice(t, [from, ...t.shape.slice(1).map(() => 0)], [count, ...t.shape.slice(1)]);
  // Every input and target of a several-input/-output batch is cut at the same rows.
  const cut = (v: Tensor | Tensor[]) => (Array.isArray(v) ? v.map(rows) : rows(v));
  return { x: cut(batch.x), y: cut(batch.y) };
}

/** A teleport configuration bound to its target: a model, or a plain parameter list. */
export class Teleporter {
  readonly options: ResolvedTeleportOptions;
  readonly settings: TeleportSettings;
  /** The objective, looked up once: its traits decide the route and whether a preconditioner is needed. */
  readonly objective: Objective;
  readonly structure: ModelStructure | null;
  readonly plan: TeleportPlan | null;
  private readonly customActions: SiteAction[] | null;
  private lossCache: ModelLoss | null = null;
  private readonly lossOfParams: ((params: Tensor[]) => Scalar) | null;
  private readonly model: LayersModel | null;

  /**
   * Checks `options` against the option table (or takes options resolved already, `resolved`, so they
   * are checked once) and binds them to the model or the hand-built actions.
   */
  constructor(options: TeleportOptions, scope: 'teleport' | 'optimizer' = 'optimizer', resolved?: ResolvedTeleportOptions) {
    this.options = resolved ?? resolveOptions(options, scope);
    this.settings = settingsOf(this.options);
    const group = this.options.group;
    this.model = this.options.model ?? null;
    this.lossOfParams = this.options.lossOfParams ?? null;
    if (typeof group === 'string') {
      if (this.model == null) {
        throw badOption(
          `group '${group}' acts on a model's layers: pass the model as the \`model\` option (or pass site actions such as so2(...) from 'tfjs-teleport/groups' as \`group\` for a plain parameter vector)`,
        );
      }
      this.structure = readModel(this.model);
      this.plan = planTeleport(this.structure, group, this.options.onUnsupported, { glDataRank: this.options.glDataRank });
      this.customActions = null;
      // Check a given loss now; the compiled one is read when first needed (compile may come later).
      if (this.options.loss != null) this.lossCache = modelLoss(this.structure, this.options.loss);
    } else {
      this.customActions = Array.isArray(group) ? group : [group];
      this.structure = null;
      this.plan = null;
    }
    const objective = getObjective(this.settings.objective);
    this.objective = objective;
    const nonlinear = this.plan?.dataDependent ? this.plan.group : this.customActions?.find(a => a.algebra == null)?.group;
    if (objective.needsAlgebra && nonlinear != null) {
      throw badOption(
        `objective '${objective.name}' needs a linear group action (rescale, gl, auto); '${nonlinear}' has none. curvature from 'tfjs-teleport/metrics' measures it; teleporting for it is not supported`,
      );
    }
    if (objective.needs === 'loss' && this.options.data == null && this.lossOfParams == null) {
      throw badOption(`objective '${this.settings.objective}' needs the loss on teleport batches: pass the \`data\` option`);
    }
    // Fixed teleport batches are checked against the model now, not at the first teleport.
    if (this.options.data != null && typeof this.options.data !== 'function') batchesAt(this.options.data, 0).forEach(b => this.validateBatch(b));
  }

  /** The model's loss on a batch: the `loss` option, else the one given to model.compile. */
  private get lossSpec(): ModelLoss | null {
    if (this.lossCache == null && this.model != null && this.structure != null) {
      this.lossCache = modelLoss(this.structure, this.options.loss ?? this.model.loss);
    }
    return this.lossCache;
  }

  /** Whether every action is exact for every input (not data-dependent): optimizer state can then move with the weights. */
  get exactGroup(): boolean {
    if (this.plan) return !this.plan.dataDependent;
    return this.customActions!.every(a => a.exactness === 'everywhere');
  }

  /**
   * Whether real optimizer steps on held-out rows confirm this teleport (`confirmSteps`): a
   * gradient-norm objective, the optimizer's next steps known, and a batch of at least 4 rows to
   * split (the search then uses the first half).
   */
  confirms(batch: Batch | null | undefined, innerStep: InnerStep | null | undefined): boolean {
    return batch != null && innerStep != null && this.confirmsGradientNorm && rowsOf(batch) >= 4;
  }

  /** Whether this teleport would use the optimizer's next steps (lookahead objectives, or `confirmSteps` on data). */
  wantsInnerStep(hasData: boolean): boolean {
    return Boolean(this.objective.needsInnerStep) || (hasData && this.confirmsGradientNorm);
  }

  /** `confirmSteps` is on and applies to this objective (a gradient norm). */
  private get confirmsGradientNorm(): boolean {
    return (this.settings.confirmSteps ?? 0) > 0 && this.objective.family === 'gradientNorm';
  }

  /**
   * The rows of a teleport batch a search uses, after validating it: the search half when the
   * objective or `confirmSteps` holds half out (`split`), else all but the rows a batch-exact group
   * holds out (`holdOut`), else the batch. `owned` are the new tensors (caller disposes them).
   */
  private searchRows(
    given: Batch | null | undefined,
    innerStep: InnerStep | null | undefined,
  ): { batch: Batch | null; split: ReturnType<Teleporter['splitBatch']> | null; holdOut: ReturnType<Teleporter['holdOutRows']>; owned: Tensor[] } {
    if (given == null) return { batch: null, split: null, holdOut: null, owned: [] };
    this.validateBatch(given);
    const split = this.objective.heldOut || this.confirms(given, innerStep) ? this.splitBatch(given) : null;
    const holdOut = split == null ? this.holdOutRows(given) : null;
    return { batch: split?.search ?? holdOut?.search ?? given, split, holdOut, owned: [...(split?.owned ?? []), ...(holdOut?.owned ?? [])] };
  }

  /** The engine's settings, with this teleport's growth cap when it has one. */
  private settingsWith(maxGrowth: number | undefined): TeleportSettings {
    return maxGrowth != null ? { ...this.settings, maxGrowth } : this.settings;
  }

  /**
   * For objectives that hold data out (`heldOut`): the batch split into the rows the search uses (the
   * first ⌈n/2⌉) and the rest, held out, with up to 16 parts of it (one row each when it has ≤ 16).
   * Tensors are new (caller disposes `owned`).
   */
  private splitBatch(batch: Batch): { search: Batch; heldOut: Batch; parts: Batch[]; owned: Tensor[] } {
    const n = rowsOf(batch);
    if (n < 2) {
      throw badOption(
        `objective '${this.settings.objective}' holds out half of the teleport batch to check its move with real steps: give a batch of at least 2 rows (16 or more recommended), got ${n}`,
      );
    }
    const half = Math.ceil(n / 2);
    const search = sliceRows(batch, 0, half);
    const rest = n - half;
    const heldOut = sliceRows(batch, half, rest);
    const count = Math.min(16, rest);
    const parts = Array.from({ length: count }, (_, c) => {
      const from = Math.floor((c * rest) / count);
      return sliceRows(batch, half + from, Math.floor(((c + 1) * rest) / count) - from);
    });
    return { search, heldOut, parts, owned: [search, heldOut, ...parts].flatMap(b => [...inputsOf(b), ...targetsOf(b)]) };
  }

  /**
   * For batch-exact groups: the batch split into the rows the action is built from and its last
   * ⌊n·heldOutFraction⌋ rows, on which the guard measures the change of the outputs (null when the
   * fraction is 0 or leaves no row on either side). Tensors are new (caller disposes `owned`).
   */
  private holdOutRows(batch: Batch): { search: Batch; heldOut: Batch; owned: Tensor[] } | null {
    const fraction = this.heldOutFraction;
    const n = rowsOf(batch);
    const held = Math.floor(n * fraction);
    if (held < 1 || held >= n) return null;
    const search = sliceRows(batch, 0, n - held);
    const heldOut = sliceRows(batch, n - held, held);
    return { search, heldOut, owned: [search, heldOut].flatMap(b => [...inputsOf(b), ...targetsOf(b)]) };
  }

  /**
   * The share of a teleport batch held out to measure a batch-exact group's change off the batch: the
   * `heldOutFraction` option, by default 0.25 for 'nullspace' and 0 (no check) for the other groups.
   */
  private get heldOutFraction(): number {
    if (this.plan == null || !this.plan.dataDependent) return 0;
    // Null-space teleports are guarded by default; gl-data/gl-pinv keep the whole batch unless asked.
    return this.options.heldOutFraction ?? (this.plan.group === 'nullspace' ? 0.25 : 0);
  }

  /** Whether the group needs a teleport batch to act (data-dependent GL). */
  get needsBatch(): boolean {
    return this.plan?.dataDependent ?? false;
  }

  /** True when the teleport can run from the optimizer's gradient alone. */
  get transportable(): boolean {
    if (this.objective.needs === 'loss') return false;
    if (this.plan) return !this.plan.dataDependent;
    return this.customActions!.every(a => a.transportGradient != null);
  }

  /**
   * Indices (into the parameter list) a teleport may change: every planned site's first kernel, bias
   * and second kernel, or the hand-built actions' `touches` (a superset of what any one teleport moves).
   */
  get touchedIndices(): ReadonlySet<number> {
    if (this.plan) {
      const { entry } = this.plan;
      const structure = this.structure!;
      return new Set(this.plan.sites.flatMap(s => entry.paramsOf?.(s, structure) ?? siteParams(s)));
    }
    return new Set(this.customActions!.flatMap(a => a.touches));
  }

  get groupName(): string {
    if (this.plan) return this.plan.group;
    return [...new Set(this.customActions!.map(a => a.group))].join('+');
  }

  /** The variables a teleport moves, in parameter-list order; for a model, its trainable weights. */
  variables(fallback?: Variable[]): Variable[] {
    if (this.structure) return this.structure.variables;
    if (fallback == null) throw badOption('a teleport without a model needs the parameter variables');
    return fallback;
  }

  /** Checks a batch: finite, and shaped for the model's inputs and outputs (arrays for several). */
  validateBatch(batch: Batch): void {
    // Before anything moves: NaN data would otherwise surface after an optimizer step or mid-ascent.
    const named = (name: string, v: Tensor | Tensor[]) => (Array.isArray(v) ? v.map((t, k) => [`${name}[${k}]`, t] as const) : [[name, v] as const]);
    checkFinite(
      '',
      [...named('teleport batch x', batch.x), ...named('teleport batch y', batch.y)],
      'clean the teleport data (the weights and the optimizer are untouched)',
    );
    if (this.model == null) return;
    const xs = inputsOf(batch);
    const ys = targetsOf(batch);
    const name = this.model.name;
    if (xs.length !== this.model.inputs.length || ys.length !== this.model.outputs.length) {
      throw badOption(
        `model '${name}' has ${this.model.inputs.length} input(s) and ${this.model.outputs.length} output(s), but a teleport batch gives ${xs.length} x and ${ys.length} y tensors; give arrays in model.inputs / model.outputs order`,
      );
    }
    const shown = (s: ReadonlyArray<number | null>) => `[${s.map(d => d ?? 'batch').join(', ')}]`;
    const fitsShape = (got: readonly number[], want: ReadonlyArray<number | null>) =>
      got.length === want.length && want.every((d, i) => i === 0 || d == null || d === got[i]);
    const n = xs[0].shape[0];
    xs.forEach((x, k) => {
      const want = this.model!.inputs[k].shape;
      if (!fitsShape(x.shape, want))
        throw badOption(`teleport batch x${xs.length > 1 ? `[${k}]` : ''} has shape [${x.shape.join(', ')}] but model '${name}' expects ${shown(want)}`);
      if (x.shape[0] !== n) throw badOption(`teleport batch inputs have ${n} and ${x.shape[0]} rows; every x must have the same first dimension`);
    });
    if (n === 0) throw badOption('a teleport batch is empty (0 rows); give at least one example');
    const losses = this.lossSpecsIfKnown();
    ys.forEach((y, k) => {
      if (y.shape[0] !== n) throw badOption(`teleport batch has ${n} inputs but ${y.shape[0]} targets; x and y must have the same first dimension`);
      const want = this.model!.outputs[k].shape;
      const sparse = losses?.[k]?.name === 'sparseCategoricalCrossentropy';
      if (!sparse && !fitsShape(y.shape, want)) {
        throw badOption(`teleport batch y${ys.length > 1 ? `[${k}]` : ''} has shape [${y.shape.join(', ')}] but model '${name}' outputs ${shown(want)}`);
      }
    });
  }

  /** The per-output losses, when the option or a compiled model gives them (construction may precede compile). */
  private lossSpecsIfKnown(): ResolvedLoss[] | null {
    if (this.lossCache != null) return this.lossCache.perOutput;
    return this.model?.loss != null ? (this.lossSpec?.perOutput ?? null) : null;
  }

  /**
   * The loss training minimizes on a batch, as a pure function of the parameter list: the data loss
   * (summed over outputs) plus the weight regularizers' penalty.
   */
  lossOn(batch: Batch | null): ((params: readonly Tensor[]) => Scalar) | null {
    if (this.lossOfParams) return params => this.lossOfParams!(params.slice());
    if (batch == null || this.structure == null || this.lossSpec == null) return null;
    return this.lossSpec.on(batch);
  }

  /** {@link lossOn} with shifts of layers' pre-activations (for ∂L/∂Z), for a model only. */
  private shiftedLossOn(batch: Batch | null): ((params: readonly Tensor[], shift: ReadonlyMap<number, Tensor>) => Scalar) | null {
    if (this.lossOfParams || batch == null || this.structure == null || this.lossSpec == null) return null;
    return this.lossSpec.on(batch);
  }

  /**
   * Runs one teleport on `vars` (which it assigns on success) and returns its report. `grads` (aligned
   * with `vars`, borrowed) lets exact groups skip every forward and backward pass; `batch` gives the
   * loss for data-dependent groups and for the drift check; `preconditioner` (borrowed) is read by
   * objectives with `usesPreconditioner`. After an accepted teleport `moveState`
   * carries optimizer state along the actions (its answer goes in the report). Every tensor the
   * teleport made is disposed here, except the transported gradients when `keepGrads` asks for them
   * (the caller then owns `grads`; entries for untouched parameters are the caller's own tensors).
   * Numerical trouble (rejection 'not-finite') throws a {@link TeleportError} carrying the report,
   * with the message `failure(reason)`; the weights are then untouched.
   */
  run(vars: Variable[], opts: TeleportRun): { report: TeleportReport; grads: Tensor[] | null } {
    const start = opts.startedAt ?? performance.now();
    let actions: SiteAction[] = [];
    let outcome: TeleportOutcome | null = null;
    let rows: ReturnType<Teleporter['searchRows']> | null = null;
    try {
      rows = this.searchRows(opts.batch, opts.innerStep);
      const { split, holdOut, batch } = rows;
      // Rows a batch-exact action was not built from: the guard bounds the outputs' change there.
      const heldX = this.heldOutFraction > 0 ? (holdOut?.heldOut ?? split?.heldOut)?.x : undefined;
      const structure = this.structure;
      actions = this.customActions ?? this.plan!.build(vars, batch?.x);
      outcome = runTeleport(
        {
          params: vars,
          actions,
          grads: this.transportable ? (opts.grads ?? null) : null,
          loss: this.lossOn(batch),
          shiftedLoss: this.shiftedLossOn(batch),
          preconditioner: opts.preconditioner ?? null,
          constraints: this.structure?.constraints ?? null,
          random: opts.random,
          innerStep: opts.innerStep ?? null,
          heldOut: split ? { loss: this.lossOn(split.heldOut)!, parts: split.parts.map(b => this.lossOn(b)!) } : null,
          heldOutOutputs: heldX != null && structure != null ? params => structure.forward(params, heldX).outputs : null,
        },
        this.settingsWith(opts.maxGrowth),
      );
      const refusal = outcome.params != null && opts.approve ? opts.approve(outcome.metrics) : null;
      if (refusal != null) {
        // Refused after the guard: nothing is assigned (the candidate tensors are freed below).
        tf.dispose(outcome.params!.filter((p, i) => p !== vars[i]));
        outcome.params = null;
        outcome.metrics = { ...outcome.metrics, accepted: false, rejection: 'no-improvement', reason: refusal };
      }
      const { metrics } = outcome;
      if (outcome.params != null) {
        outcome.params.forEach((p, i) => {
          if (p !== vars[i]) vars[i].assign(p);
        });
        // State outside the parameter list that moves with the weights (BatchNormalization's moving statistics).
        const thetas = outcome.thetas;
        actions.forEach((a, i) => a.moveBuffers?.(thetas[i]));
      }
      const ms = performance.now() - start;
      const state = metrics.accepted && opts.moveState ? opts.moveState(actions, outcome.thetas) : undefined;
      const report = this.report(outcome, actions, {
        step: opts.step,
        ms,
        state,
        growthCap: opts.growthCap ?? opts.maxGrowth ?? this.settings.maxGrowth,
        batch: opts.batchIndex,
      });
      // Numerical failure is an error; a guard rejection is a normal outcome the report describes.
      if (metrics.rejection === 'not-finite') throw new TeleportError(opts.failure(metrics.reason ?? 'not finite'), 'not-finite', report);
      const grads = opts.keepGrads && metrics.accepted ? outcome.grads : null;
      if (grads != null) outcome.grads = null;
      return { report, grads };
    } finally {
      if (rows) tf.dispose(rows.owned);
      const own = (ts: ReadonlyArray<Tensor | null> | null | undefined) => (ts ?? []).filter((t): t is Tensor => t != null);
      const given = new Set<Tensor>([...vars, ...own(opts.grads)]);
      if (outcome != null) tf.dispose([...own(outcome.params), ...own(outcome.grads), ...outcome.thetas].filter(t => !given.has(t)));
      actions.forEach(a => a.dispose?.());
    }
  }

  /**
   * One evaluation of the objective and its θ-gradient at the current weights, on the rows a search
   * would use (the search half for objectives that hold data out), and the gain a full search could
   * reach from there (`probeTeleport`). Changes nothing; frees every tensor it makes.
   */
  probe(
    vars: Variable[],
    opts: Pick<TeleportRun, 'batch' | 'random' | 'innerStep' | 'maxGrowth' | 'preconditioner'> & { clock?: () => number },
  ): TeleportProbe {
    let rows: ReturnType<Teleporter['searchRows']> | null = null;
    let actions: SiteAction[] = [];
    try {
      rows = this.searchRows(opts.batch, opts.innerStep);
      const { batch } = rows;
      actions = this.customActions ?? this.plan!.build(vars, batch?.x);
      return probeTeleport(
        {
          params: vars,
          actions,
          loss: this.lossOn(batch),
          preconditioner: opts.preconditioner ?? null,
          random: opts.random,
          innerStep: opts.innerStep ?? null,
        },
        this.settingsWith(opts.maxGrowth),
        opts.clock,
      );
    } finally {
      if (rows) tf.dispose(rows.owned);
      actions.forEach(a => a.dispose?.());
    }
  }

  /**
   * The report of a teleport that did not run: the run's growth budget is spent (`'growth'`), or the
   * group has nothing to move at these weights (`'no-orbit'`). Nothing was searched or changed, so every
   * measurement is NaN.
   */
  skippedReport(
    step: number | null,
    growthCap: number,
    why: { rejection: 'growth'; maxTotalGrowth: number } | { rejection: 'no-orbit'; message: string },
  ): TeleportReport {
    const reason =
      why.rejection === 'growth'
        ? `the run's growth budget (maxTotalGrowth ${why.maxTotalGrowth}) is spent: this teleport may grow the objective by at most ${growthCap.toPrecision(4)}×, so it was skipped`
        : `skipped: ${why.message.replace(/^tfjs-teleport: /, '')}`;
    return {
      ...emptyMetrics(this.transportable ? 'transport' : 'evaluate'),
      step,
      group: this.groupName,
      objective: this.settings.objective,
      direction: this.settings.direction,
      sites: this.plan ? this.plan.sites.map(s => s.where) : this.customActions!.map(a => a.where),
      growthCap,
      accepted: false,
      rejection: why.rejection,
      reason,
      ms: 0,
    };
  }

  /** Builds the public report from an outcome. */
  report(
    outcome: TeleportOutcome,
    actions: SiteAction[],
    extra: { step: number | null; ms: number; growthCap: number; state?: string; batch?: number },
  ): TeleportReport {
    const r: TeleportReport = {
      step: extra.step,
      group: this.groupName,
      objective: this.settings.objective,
      direction: this.settings.direction,
      sites: actions.map(a => a.where),
      growthCap: extra.growthCap,
      ...outcome.metrics,
      ms: extra.ms,
    };
    if (extra.state) r.state = extra.state;
    if (extra.batch != null) r.batch = extra.batch;
    return r;
  }
}
