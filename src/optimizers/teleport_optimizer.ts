import * as tf from '@tensorflow/tfjs-core';
import type { NamedTensorMap, Optimizer, Tensor, Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { SiteAction } from '../groups/types.js';
import { derivedRandom } from '../core/random.js';
import { Teleporter } from '../teleport/teleporter.js';
import type { TeleportProbe } from '../teleport/probe.js';
import type { TeleportMetrics, TeleportReport } from '../core/report.js';
import { batchesAt, optionsFromConfig, optionsToConfig, withModel, type Batch } from '../teleport/options.js';
import { resolveOptimizerOptions, type ResolvedOptions, type StatePolicy, type TeleportOptimizerOptions } from './options.js';
import { badOption, NoOrbitError, show, TeleportError } from '../core/errors.js';
import { compileSchedule } from './schedule.js';
import { AutoSchedule, type ScheduleDecision } from './auto_schedule.js';
import { BUDGET_MEMORY, DEFAULT_RECOVERY_STEPS, recoveringCap } from './growth_budget.js';
import { disposeOptimizer, innerClassName, innerStepOf, knowsSlots, preconditionerOf, recreate, setIterations, slotGroups } from './inner_state.js';
import { getObjective } from '../objectives/registry.js';
import type { InnerStep } from '../objectives/types.js';

export type { StatePolicy, TeleportOptimizerOptions } from './options.js';

/** A gradient or weight with its variable name, as tfjs optimizers pass them around. */
export type NamedTensor = { name: string; tensor: Tensor };

const OWN_PREFIX = 'teleport/';

/** The config key that holds the teleport options, next to the inner optimizer's own config. */
const CONFIG_KEY = 'teleport';

/**
 * Marks teleporting optimizers. `getClassName()` names the inner class (so a saved model.json is plain
 * tfjs) and tf.Optimizer's `instanceof` is duck-typed, so neither tells a wrapper apart. A registered
 * symbol, so that two copies of the library agree.
 */
const TELEPORTING = Symbol.for('tfjs-teleport.TeleportOptimizer');

/** True for a teleporting optimizer (any copy of this library), false for a plain tfjs optimizer. */
export function isTeleportOptimizer(optimizer: unknown): optimizer is TeleportOptimizer {
  return optimizer != null && (optimizer as Record<symbol, unknown>)[TELEPORTING] === true;
}

/**
 * A tfjs optimizer that wraps another (SGD, momentum, AdaGrad, RMSProp, Adam or any tf.Optimizer)
 * and, at scheduled steps, teleports the weights along a loss-invariant symmetry to a point with a
 * larger gradient norm (dissertation Algorithm 1). Drop it into `model.compile` or a custom
 * `optimizer.minimize` loop; nothing else changes.
 *
 * Exact groups (rescale, GL with linear activations) teleport inside the step from the gradient the
 * step already computed: w → g·w, and the inner optimizer steps with ∇L(g·w) = J⁻ᵀ∇L(w), with no
 * extra forward or backward pass. Data-dependent groups step first, then teleport on `data`.
 *
 * With `schedule: 'auto'` it decides when: it teleports (objective 'lookahead', on `data`) only when
 * the predicted gain over the next steps exceeds the measured cost, and reports every decision in
 * {@link TeleportOptimizer.scheduleDecisions}.
 *
 * ```ts
 * const optimizer = tp.adam(0.001, { model, schedule: { every: 500 }, onTeleport: r => console.log(r) });
 * model.compile({ optimizer, loss: 'categoricalCrossentropy' });
 * await model.fit(xs, ys, { epochs: 5 });
 * ```
 */
export class TeleportOptimizer extends tf.Optimizer {
  /** @nocollapse */
  static get className(): string {
    return 'TeleportOptimizer';
  }

  /** Every teleport's report, in order. */
  readonly teleportReports: TeleportReport[] = [];
  private innerOptimizer: Optimizer;
  /** The options as given (setModel rebuilds the teleporter from them). */
  private readonly options: TeleportOptimizerOptions;
  /** The same options checked against the table, defaults filled in. */
  private resolved: ResolvedOptions;
  private readonly schedule: ReturnType<typeof compileSchedule>;
  private readonly policy: StatePolicy;
  private teleporterCache: Teleporter | null = null;
  /** The state of `schedule: 'auto'` (null for other schedules). */
  private readonly auto: AutoSchedule | null;
  /** When the current minimize call began (schedule 'auto' times whole steps), else null. */
  private stepStartedAt: number | null = null;

  constructor(inner: Optimizer, options: TeleportOptimizerOptions = {}) {
    super();
    if (inner == null || typeof (inner as Optimizer).applyGradients !== 'function') {
      throw badOption('wrap() needs a tfjs optimizer, e.g. tp.wrap(tf.train.adam(0.001), options)');
    }
    // tf.Optimizer's Symbol.hasInstance is duck-typed (every optimizer passes instanceof): read the wrapper's mark.
    if (isTeleportOptimizer(inner)) throw badOption('this optimizer already teleports; do not wrap it twice');
    checkInnerLearningRate(inner);
    if (options.optimizer != null) {
      throw badOption(
        'option optimizer is for a one-off tp.teleport: a teleporting optimizer looks ahead with its own inner optimizer (the one it wraps); drop the option',
      );
    }
    const auto = options.schedule === 'auto';
    if (auto && options.objective != null && !getObjective(String(options.objective)).needsInnerStep) {
      throw badOption(
        `schedule 'auto' predicts a teleport's gain with objective 'lookahead' (the loss decrease over the next steps); objective '${options.objective}' cannot: drop the objective option or set it to 'lookahead'`,
      );
    }
    // Without a model (fromConfig, before setModel) the data comes later; the first decision checks it.
    if (auto && options.data == null && options.model != null) {
      throw badOption(
        "schedule 'auto' measures each teleport's gain on a teleport batch (half of it held out): pass the `data` option ({x, y}, e.g. 32 or more rows of the training set)",
      );
    }
    Object.defineProperty(this, TELEPORTING, { value: true });
    this.innerOptimizer = inner;
    this.options = { ...options, ...(auto && options.objective == null ? { objective: 'lookahead' } : {}) };
    // Check every option now, so mistakes surface at construction, not mid-training.
    this.resolved = resolveOptimizerOptions(this.options);
    this.schedule = compileSchedule(options.schedule);
    this.auto = this.schedule.auto ? new AutoSchedule() : null;
    this.policy = this.resolved.stateAfterTeleport;
    const handBuilt = typeof this.resolved.group !== 'string';
    if (options.model != null || handBuilt) this.teleporterCache = new Teleporter(this.options, 'optimizer', this.resolved);
    if (this.teleporterCache?.needsBatch && options.data == null) {
      throw badOption(
        `group '${this.teleporterCache.groupName}' is data-dependent and needs teleport batches: pass the \`data\` option ({x, y}, an array of them, or (step) => batches)`,
      );
    }
    if (this.resolved.gradientSource === 'data' && options.data == null && options.lossOfParams == null) {
      throw badOption("gradientSource: 'data' computes the gradient on teleport batches: pass the `data` option, or use gradientSource: 'step'");
    }
  }

  /** The wrapped optimizer (replaced by a fresh one after a 'reset' teleport). */
  get inner(): Optimizer {
    return this.innerOptimizer;
  }

  /**
   * Optimizer steps taken so far (the schedule's clock). It is the inner optimizer's `iterations`,
   * which its checkpoints hold as `iter`: a checkpoint moves between the wrapper and the plain
   * optimizer both ways and the schedule resumes where it stopped.
   */
  get step(): number {
    return this.innerOptimizer.iterations;
  }

  override get iterations(): number {
    return this.innerOptimizer.iterations;
  }

  /** The random stream of the teleport at `step`: derived from (seed, step), so it needs no saving. */
  private randomAt(step: number): () => number {
    return derivedRandom(this.resolved.seed, step).source;
  }

  /**
   * Replaces the inner optimizer by a fresh one of the same class and config, as a 'reset' teleport
   * does, without teleporting: the control experiment that tells teleporting apart from restarting
   * the optimizer's state.
   */
  resetState(): void {
    const fresh = recreate(this.innerOptimizer);
    // The fresh state starts afresh, the clock does not (it is the schedule's and the checkpoint's).
    setIterations(fresh, this.innerOptimizer.iterations);
    disposeOptimizer(this.innerOptimizer);
    this.innerOptimizer = fresh;
  }

  /** Attaches the model whose layers the group acts on (e.g. after deserializing the optimizer). */
  setModel(model: LayersModel): void {
    this.options.model = model;
    this.resolved = withModel(this.resolved, model);
    this.teleporterCache = new Teleporter(this.options, 'optimizer', this.resolved);
  }

  /**
   * A new wrapper with this one's options, around `inner`, bound to `model`: what `split` returns
   * for a wrapper (its inner optimizer's slots resized to the split model). This wrapper is unchanged.
   *
   * ```ts
   * const wider = optimizer.rebind(tf.train.adam(0.01), splitModel);
   * ```
   */
  rebind(inner: Optimizer, model: LayersModel): TeleportOptimizer {
    return new TeleportOptimizer(inner, { ...this.options, model });
  }

  private teleporter(): Teleporter {
    if (this.teleporterCache == null) {
      if (this.options.model == null && (this.options.group == null || typeof this.options.group === 'string')) {
        throw badOption('a teleport is scheduled but the optimizer has no model: pass { model } when creating it, or call optimizer.setModel(model)');
      }
      this.teleporterCache = new Teleporter(this.options, 'optimizer', this.resolved);
    }
    return this.teleporterCache;
  }

  /**
   * Every decision of `schedule: 'auto'` so far: the predicted gain (training steps saved), the cost
   * (a teleport's time in training steps), whether it teleported and why, and the gain measured at the
   * next decision. Empty for other schedules.
   */
  get scheduleDecisions(): readonly ScheduleDecision[] {
    return this.auto?.decisions ?? [];
  }

  /** The clock 'auto' times steps and teleports with: the `clock` option, else `performance.now`. */
  private get clock(): () => number {
    return this.options.clock ?? (() => performance.now());
  }

  /**
   * tf.Optimizer's minimize (forward, backward, update); with `schedule: 'auto'` it also marks when the
   * step began, so a step's measured time includes its forward and backward passes, not the update alone.
   */
  override minimize(f: () => tf.Scalar, returnCost?: boolean, varList?: Variable[]): tf.Scalar | null {
    if (this.auto == null) return super.minimize(f, returnCost, varList);
    this.stepStartedAt = this.clock();
    try {
      return super.minimize(f, returnCost, varList);
    } finally {
      this.stepStartedAt = null;
    }
  }

  override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    const named: NamedTensor[] = Array.isArray(variableGradients)
      ? variableGradients
      : Object.keys(variableGradients).map(name => ({ name, tensor: variableGradients[name] }));
    if (this.auto) {
      this.applyWithAutoSchedule(named, this.auto);
      return;
    }
    const step = this.step;
    const due = this.schedule.isDue(step);
    const inStep = due && this.teleporter().transportable && this.resolved.gradientSource === 'step';
    // Data-dependent groups teleport after the step; fetch their batches and check the step's
    // gradient first, so bad data or NaN gradients fail before anything moves, as in-step does.
    const batches = due && !inStep ? this.dataBatches(step) : null;
    if (batches) this.checkFiniteGradients(named, step);
    let replacement: Tensor[] | null = null;
    if (inStep) replacement = this.teleportFromGradient(named, step);
    const toApply = replacement ? named.map((n, i) => ({ name: n.name, tensor: replacement![i] })) : named;
    this.innerOptimizer.applyGradients(toApply);
    if (replacement) tf.dispose(replacement.filter((t, i) => t !== named[i].tensor));
    // The clock is the inner optimizer's; keep it counting for optimizers that do not count.
    if (this.innerOptimizer.iterations !== step + 1) setIterations(this.innerOptimizer, step + 1);
    if (batches) this.teleportOnData(named, step, batches);
  }

  /**
   * `schedule: 'auto'`: the step, timed; then, when a decision is due, the teleport-batch loss (for
   * the gain of the last teleport), and a lookahead teleport applied only if its predicted gain over
   * the steps to the next decision exceeds its cost ({@link AutoSchedule}).
   */
  private applyWithAutoSchedule(named: NamedTensor[], auto: AutoSchedule): void {
    const clock = this.clock;
    const step = this.step;
    // A whole training step when it runs through minimize (model.fit does), else the update alone.
    const started = this.stepStartedAt ?? clock();
    this.innerOptimizer.applyGradients(named);
    auto.recordStep(clock() - started);
    if (this.innerOptimizer.iterations !== step + 1) setIterations(this.innerOptimizer, step + 1);
    if (!auto.isDue(step)) return;
    const batches = this.dataBatches(step);
    const { vars } = this.align(named);
    const loss = this.teleporter().lossOn(batches[0]);
    const now = loss ? tf.tidy(() => loss(vars).dataSync()[0]) : NaN;
    if (!auto.begin(step, now)) return;
    const searchStart = clock();
    // The probe: one evaluation of the objective at the current weights predicts what a search could
    // gain; a search that cannot pay its cost is not run.
    const probe = this.probeOnData(named, step, batches[0] ?? null, clock);
    const preview = probe ? auto.preview(probe.relativeGain, clock() - searchStart, probe.evaluationMs, probe.evaluationsPerSearch) : null;
    const probedGain = preview?.probedGain ?? NaN;
    if (preview?.skip != null) {
      auto.finish(step, clock() - searchStart, { predictedGain: NaN, probedGain, taken: false, reason: preview.skip, skipped: true });
      return;
    }
    let judged: { predictedGain: number; refusal: string | null } | null = null;
    const approve = (m: TeleportMetrics) => {
      const before = m.heldOutBefore ?? m.objectiveBefore;
      const after = m.heldOutAfter ?? m.objectiveAfter;
      judged = auto.judge(relativeChange(before, after), clock() - searchStart);
      return judged.refusal;
    };
    const reports = this.teleportOnData(named, step, batches, approve);
    const first = reports[0];
    const taken = reports.some(r => r.accepted);
    const seen = judged as { predictedGain: number; refusal: string | null } | null;
    const reason = taken ? 'predicted gain exceeds the cost' : (seen?.refusal ?? `rejected: ${first?.reason ?? 'no teleport ran'}`);
    const heldOutGain =
      first?.heldOutAfter != null && first.heldOutBefore != null ? auto.horizon * relativeChange(first.heldOutBefore, first.heldOutAfter) : NaN;
    auto.finish(step, clock() - searchStart, { predictedGain: seen?.predictedGain ?? heldOutGain, probedGain, taken, reason });
  }

  /**
   * The probe of a lookahead teleport on `batch` at `step`; null when there is nothing to probe (the
   * growth budget is spent, or the group has no orbit here): the search then runs and reports why.
   */
  private probeOnData(named: NamedTensor[], step: number, batch: Batch | null, clock: () => number): TeleportProbe | null {
    const cap = this.growthCapAt(step);
    if (this.budgetSpent(cap)) return null;
    const { vars, positions } = this.align(named);
    const innerStep = this.innerStep(vars, positions);
    try {
      return this.teleporter().probe(vars, { batch, random: this.randomAt(step), innerStep, maxGrowth: cap, clock });
    } catch (e) {
      if (e instanceof NoOrbitError) return null;
      throw e;
    } finally {
      innerStep?.dispose();
    }
  }

  /**
   * The growth cap of the teleport at `step`: maxGrowth, within the run's budget, which recovers as
   * training goes on (`recoveringCap`: each teleport may use half of what is left; the budget
   * refills at maxTotalGrowth per `growthRecoverySteps` steps). Scheduled teleports cannot compound the
   * gradient norm faster than that, and long runs keep teleporting. Derived from the schedule and the
   * step alone, so it survives checkpoints.
   */
  growthCapAt(step: number): number {
    const { maxGrowth } = this.resolved;
    if (this.resolved.direction === 'minimize') return maxGrowth;
    return recoveringCap({
      maxGrowth,
      maxTotalGrowth: this.totalGrowthBudget(),
      recoverySteps: this.resolved.growthRecoverySteps ?? DEFAULT_RECOVERY_STEPS,
      step,
      earlier: this.auto ? this.auto.takenSteps.slice(-BUDGET_MEMORY) : this.schedule.stepsBefore(step, BUDGET_MEMORY),
    });
  }

  /** maxTotalGrowth, or its default maxGrowth². */
  private totalGrowthBudget(): number {
    return this.resolved.maxTotalGrowth ?? this.resolved.maxGrowth * this.resolved.maxGrowth;
  }

  /**
   * True when a maximizing teleport may grow its objective by less than 1 %: not worth an ascent
   * (and its backtracks), so it is skipped with a report that says why.
   */
  private budgetSpent(cap: number): boolean {
    return this.resolved.direction === 'maximize' && cap < 1.01;
  }

  private checkFiniteGradients(named: NamedTensor[], step: number): void {
    const total = tf.tidy(() => tf.addN(named.map(n => tf.sum(n.tensor))).dataSync()[0]);
    if (!Number.isFinite(total)) {
      throw new TeleportError(
        `scheduled teleport at step ${step}: the step's gradient is not finite (NaN or Inf). The weights are untouched and this step was not applied; lower the learning rate or check the data for NaN/Inf.`,
        'not-finite',
      );
    }
  }

  /** Variables of the teleport in parameter-list order, and their positions in the gradient list. */
  private align(named: NamedTensor[]): { vars: Variable[]; positions: Array<number | undefined> } {
    const registered = tf.engine().registeredVariables;
    const fallback = named.map(n => registered[n.name]);
    const vars = this.teleporter().variables(fallback);
    const pos = new Map(named.map((n, i) => [n.name, i]));
    return { vars, positions: vars.map(v => pos.get(v.name)) };
  }

  /** The inner optimizer's diagonal preconditioner, when the objective says it reads one (`usesPreconditioner`). */
  private preconditioner(count: number, positions: Array<number | undefined>): Array<Tensor | null> | null {
    if (this.teleporter().objective.usesPreconditioner !== true) return null;
    // Only where the teleport acts: each entry costs a few weight-sized kernels.
    const touched = this.teleporter().touchedIndices;
    const needed = new Set(positions.filter((p, j): p is number => p != null && touched.has(j)));
    const byPosition = preconditionerOf(this.innerOptimizer, count, needed);
    return positions.map(p => (p == null ? null : byPosition[p]));
  }

  /** The inner optimizer's next update, for objectives that look ahead at it (null for the others). */
  private innerStep(vars: Variable[], positions: Array<number | undefined>): InnerStep | null {
    if (!this.teleporter().wantsInnerStep(this.options.data != null)) return null;
    // The steps after the teleport start from the state the policy leaves (moveState).
    if (this.policy === 'reset') {
      const fresh = recreate(this.innerOptimizer);
      try {
        return innerStepOf(
          fresh,
          vars,
          positions.map(() => undefined),
        );
      } finally {
        disposeOptimizer(fresh);
      }
    }
    const moves = this.policy === 'transform' && this.teleporter().exactGroup && knowsSlots(this.innerOptimizer);
    return innerStepOf(this.innerOptimizer, vars, positions, moves);
  }

  private teleportFromGradient(named: NamedTensor[], step: number): Tensor[] | null {
    const teleporter = this.teleporter();
    const { vars, positions } = this.align(named);
    const grads = positions.map(p => (p == null ? null : named[p].tensor));
    const batch = batchesAt(this.options.data, step)[0] ?? null;
    const growthCap = this.growthCapAt(step);
    if (this.budgetSpent(growthCap)) {
      this.record(teleporter.skippedReport(step, growthCap, { rejection: 'growth', maxTotalGrowth: this.totalGrowthBudget() }));
      return null;
    }
    const preconditioner = this.preconditioner(named.length, positions);
    const innerStep = this.innerStep(vars, positions);
    try {
      const ran = this.runOrSkip(step, growthCap, () =>
        teleporter.run(vars, {
          grads,
          batch,
          preconditioner,
          random: this.randomAt(step),
          maxGrowth: growthCap,
          innerStep,
          step,
          keepGrads: true,
          moveState: (actions, thetas) => this.moveState(actions, thetas, positions, true),
          failure: reason =>
            `scheduled teleport at step ${step}: ${reason}. The weights are untouched and this step was not applied; lower the learning rate or check the data for NaN/Inf.`,
        }),
      );
      if (ran == null) return null;
      this.record(ran.report);
      if (ran.grads == null) return null;
      // The inner optimizer steps with ∇L at the new weights; the step's own tensors stay the caller's.
      const replacement = named.map(n => n.tensor);
      positions.forEach((p, j) => {
        if (p != null && ran.grads![j] != null) replacement[p] = ran.grads![j];
      });
      tf.dispose(ran.grads.filter(g => !replacement.includes(g) && !grads.includes(g)));
      return replacement;
    } finally {
      innerStep?.dispose();
      tf.dispose(preconditioner?.filter((t): t is Tensor => t != null) ?? []);
    }
  }

  private dataBatches(step: number): Array<Batch | null> {
    // A plain parameter list with its own loss needs no batch: one teleport on that loss.
    if (this.options.lossOfParams != null && this.options.data == null) return [null];
    const batches = batchesAt(this.options.data, step);
    if (batches.length === 0) {
      throw badOption(
        `group '${this.teleporter().groupName}' is data-dependent and needs teleport batches: pass the \`data\` option ({x, y}, an array of them, or (step) => batches)`,
      );
    }
    batches.forEach(b => this.teleporter().validateBatch(b));
    return batches;
  }

  /** Teleports on each batch after the step; returns the reports it recorded. `approve` has the last word on accepted elements. */
  private teleportOnData(
    named: NamedTensor[],
    step: number,
    batches: Array<Batch | null>,
    approve?: (metrics: TeleportMetrics) => string | null,
  ): TeleportReport[] {
    const recorded: TeleportReport[] = [];
    const teleporter = this.teleporter();
    const { vars, positions } = this.align(named);
    // One growth budget for the whole event: teleports on successive batches compound, so each
    // batch may only use what the earlier ones left of the event's cap.
    const eventCap = this.growthCapAt(step);
    if (this.budgetSpent(eventCap)) {
      const skipped = teleporter.skippedReport(step, eventCap, { rejection: 'growth', maxTotalGrowth: this.totalGrowthBudget() });
      this.record(skipped);
      return [skipped];
    }
    let growthLeft = eventCap;
    const random = this.randomAt(step);
    for (const [b, batch] of batches.entries()) {
      if (this.budgetSpent(growthLeft)) break; // the event's budget is used up by its earlier batches
      const preconditioner = this.preconditioner(named.length, positions);
      const startedAt = performance.now();
      // Exact groups still use the transport route, from the gradient on this batch.
      const loss = teleporter.transportable ? teleporter.lossOn(batch) : null;
      const grads = loss ? tf.tidy(() => tf.grads((...ps: Tensor[]) => loss(ps))(vars)) : null;
      const growthCap = Math.max(1, growthLeft);
      const innerStep = this.innerStep(vars, positions);
      try {
        const ran = this.runOrSkip(step, growthCap, () =>
          teleporter.run(vars, {
            batch,
            grads,
            preconditioner,
            random,
            maxGrowth: growthCap,
            innerStep,
            approve,
            step,
            startedAt,
            batchIndex: batches.length > 1 ? b : undefined,
            moveState: (actions, thetas) => this.moveState(actions, thetas, positions, teleporter.exactGroup),
            // Same as the in-step route: numerical trouble is an error, never silent (weights untouched by the teleport).
            failure: reason => `scheduled teleport at step ${step}: ${reason}. The teleport changed nothing; check the teleport data for NaN/Inf.`,
          }),
        );
        if (ran == null) break; // nothing to move at these weights: skipped with a report
        const r = ran.report;
        if (r.accepted && r.objectiveBefore > 0) growthLeft /= Math.max(1, r.objectiveAfter / r.objectiveBefore);
        this.record(r);
        recorded.push(r);
      } finally {
        innerStep?.dispose();
        tf.dispose([...(preconditioner?.filter((t): t is Tensor => t != null) ?? []), ...(grads ?? [])]);
      }
    }
    return recorded;
  }

  /**
   * Runs a scheduled teleport; when the group has nothing to move at these weights (NoOrbitError, e.g.
   * group 'split' after the copies drifted apart) the teleport is skipped with a report instead of
   * stopping training. Returns null when skipped.
   */
  private runOrSkip<T>(step: number, growthCap: number, run: () => T): T | null {
    try {
      return run();
    } catch (e) {
      if (!(e instanceof NoOrbitError)) throw e;
      this.record(this.teleporter().skippedReport(step, growthCap, { rejection: 'no-orbit', message: e.message }));
      return null;
    }
  }

  private record(report: TeleportReport): void {
    this.teleportReports.push(report);
    this.options.onTeleport?.(report);
  }

  /** Applies the state policy after an accepted teleport; returns what was done, for the report. */
  private moveState(actions: SiteAction[], thetas: Tensor[], positions: Array<number | undefined>, exact: boolean): string {
    if (this.policy === 'keep') return 'keep';
    if (this.policy === 'reset') {
      this.resetState();
      return 'reset';
    }
    if (!exact) return 'keep (a data-dependent action cannot carry optimizer state exactly)';
    if (!knowsSlots(this.innerOptimizer)) return `keep (state layout of ${innerClassName(this.innerOptimizer)} is unknown)`;
    const notCarried: string[] = [];
    for (const group of slotGroups(this.innerOptimizer)) {
      const aligned = positions.map(p => (p == null ? null : (group.slots[p] ?? null)));
      if (aligned.every(s => s == null)) continue;
      const moved = tf.tidy(() => {
        let vals: Array<Tensor | null> | undefined = aligned;
        actions.forEach((a, i) => {
          vals = vals && a.transportSlots ? a.transportSlots(group.kind, vals, thetas[i]) : undefined;
        });
        // tidy keeps tensors nested in containers; nulls mark parameters without slots.
        return (vals ?? null) as unknown as tf.TensorContainer;
      }) as unknown as Array<Tensor | null> | null;
      if (moved == null) {
        notCarried.push(group.field);
        continue;
      }
      moved.forEach((v, j) => {
        const slot = aligned[j];
        if (slot != null && v != null && v !== slot) slot.assign(v);
      });
      tf.dispose(moved.filter((v, j) => v != null && v !== aligned[j]) as Tensor[]);
    }
    return notCarried.length ? `transform (partial: ${notCarried.join(', ')} kept, not exact for this group)` : 'transform';
  }

  /**
   * The inner optimizer's class name ('Adam', 'SGD', …): what `model.save({ includeOptimizer: true })`
   * writes as the optimizer's class_name, so the model loads where tfjs-teleport is not installed (as
   * the plain optimizer, with its state). Where it is installed, the `teleport` key of the config
   * restores the wrapper (see {@link TeleportOptimizer.getConfig}).
   */
  override getClassName(): string {
    return this.innerOptimizer.getClassName();
  }

  /**
   * The inner optimizer's config at the top level, so that the plain class reads it
   * (`tf.AdamOptimizer.fromConfig(tf.AdamOptimizer, wrapper.getConfig())` is the inner Adam), and the
   * teleport options under the one key `teleport` (with the inner class name), which plain tfjs ignores.
   *
   * ```ts
   * tp.adam(0.01, { schedule: { every: 100 } }).getConfig();
   * // { learningRate: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, teleport: { innerClassName: 'Adam', schedule: { every: 100 }, … } }
   * ```
   */
  override getConfig(): tf.serialization.ConfigDict {
    if (typeof this.resolved.group !== 'string') {
      throw badOption('an optimizer with hand-built site actions as `group` cannot be serialized; use a named group');
    }
    const teleport = { innerClassName: this.innerOptimizer.getClassName(), ...optionsToConfig(this.resolved) } as tf.serialization.ConfigDict;
    return { ...this.innerOptimizer.getConfig(), [CONFIG_KEY]: teleport };
  }

  /**
   * Rebuilds an optimizer from {@link getConfig} (or from the config of versions ≤ 0.1:
   * `{ innerClassName, innerConfig, …options }`). The model and teleport data are not part of a
   * config: attach them with {@link TeleportOptimizer.setModel} (and pass `data` again via a new
   * optimizer if a data-dependent group is used).
   * @nocollapse
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const legacy = config.innerClassName != null;
    const own = (legacy ? config : config[CONFIG_KEY]) as tf.serialization.ConfigDict | null | undefined;
    if (own == null || typeof own !== 'object' || own.innerClassName == null) {
      throw badOption(
        `not a teleporting optimizer's config: it has no '${CONFIG_KEY}' key with the inner optimizer's class name (build the plain optimizer with its own class's fromConfig)`,
      );
    }
    const innerConfig = legacy ? ((config.innerConfig ?? {}) as tf.serialization.ConfigDict) : innerPart(config);
    const inner = plainFromConfig(String(own.innerClassName), innerConfig);
    return new (cls as unknown as new (i: Optimizer, o: TeleportOptimizerOptions) => T)(inner, optionsFromConfig(own as Record<string, unknown>));
  }

  /**
   * Exactly the inner optimizer's weights (`iter`, then its slots): a checkpoint of the wrapper loads
   * into the plain optimizer and back. The wrapper keeps nothing else: its step is the inner `iter`,
   * its randomness is derived from (seed, step).
   */
  override async getWeights(): Promise<NamedTensor[]> {
    return this.innerOptimizer.getWeights();
  }

  /** Loads weights saved by {@link TeleportOptimizer.getWeights} or by the plain inner optimizer (the schedule resumes at their `iter`). */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    // Checkpoints of versions ≤ 0.1 appended `teleport/step` and `teleport/random`: drop them, keep the step.
    const legacyStep = weightValues.find(w => w.name === `${OWN_PREFIX}step`);
    await this.innerOptimizer.setWeights(weightValues.filter(w => !w.name.startsWith(OWN_PREFIX)));
    if (legacyStep != null) setIterations(this.innerOptimizer, (await legacyStep.tensor.data())[0]);
    // 'auto' keeps its adaptation in memory, not in the checkpoint: it starts afresh at the restored step.
    this.auto?.restart(this.step);
  }

  override dispose(): void {
    disposeOptimizer(this.innerOptimizer);
    super.dispose();
  }
}

/** (after − before) ÷ |before|: the relative gain 'auto' predicts and judges with. */
function relativeChange(before: number, after: number): number {
  return (after - before) / Math.max(Math.abs(before), 1e-12);
}

/**
 * Refuses a wrapped optimizer whose learning rate (read from its config, as tfjs saves it) is NaN,
 * infinite or negative: it would train to NaN weights or climb the loss, with teleports blamed.
 * 0 is allowed (the weights then move only by teleports).
 */
function checkInnerLearningRate(inner: Optimizer): void {
  let lr: unknown;
  try {
    lr = inner.getConfig().learningRate;
  } catch {
    return; // an optimizer without a readable config: nothing to check
  }
  if (typeof lr !== 'number') return;
  if (!Number.isFinite(lr) || lr < 0) {
    throw badOption(
      `the wrapped ${inner.getClassName()} optimizer's learning rate must be a finite number ≥ 0, got ${show(lr)}: create it with one, e.g. 0.01 (the teleport's own step size is the separate \`lr\` option)`,
    );
  }
}

/** The inner optimizer's part of a config: everything but the teleport key (and what tfjs-layers tacks on). */
function innerPart(config: tf.serialization.ConfigDict): tf.serialization.ConfigDict {
  const { [CONFIG_KEY]: _teleport, customObjects: _custom, ...inner } = config;
  return inner;
}

/** The class's own fromConfig for each optimizer class name, kept before {@link restoreWrappersOnLoad} wraps it. */
const PLAIN_FROM_CONFIG = new Map<
  string,
  [tf.serialization.SerializableConstructor<tf.serialization.Serializable>, tf.serialization.FromConfigMethod<tf.serialization.Serializable>]
>();

/** A plain optimizer of the registered class `name` from its config. */
function plainFromConfig(name: string, config: tf.serialization.ConfigDict): Optimizer {
  const entry = PLAIN_FROM_CONFIG.get(name) ?? tf.serialization.SerializationMap.getMap().classNameMap[name];
  if (entry == null) throw badOption(`cannot restore the inner optimizer: class '${name}' is not registered with tf.serialization`);
  return entry[1](entry[0], config) as unknown as Optimizer;
}

/**
 * A teleporting optimizer saves under its inner class's name (see getClassName), so that plain tfjs
 * loads it. Where this library is loaded, the registry entries of the optimizer classes registered so
 * far (tfjs-core's seven) read a config that carries the `teleport` key back into a
 * TeleportOptimizer; every other config goes to the class's own fromConfig, unchanged.
 */
function restoreWrappersOnLoad(): void {
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const [name, entry] of Object.entries(map)) {
    const [cls, own] = entry;
    const isOptimizerClass = cls?.prototype != null && cls.prototype instanceof tf.Optimizer;
    if (!isOptimizerClass || name === TeleportOptimizer.className || PLAIN_FROM_CONFIG.has(name)) continue;
    PLAIN_FROM_CONFIG.set(name, [cls, own]);
    const fromConfig: tf.serialization.FromConfigMethod<tf.serialization.Serializable> = (c, config) =>
      config?.[CONFIG_KEY] != null ? TeleportOptimizer.fromConfig(TeleportOptimizer as never, config) : own(c, config);
    map[name] = [cls, fromConfig];
  }
}

tf.serialization.registerClass(TeleportOptimizer);
restoreWrappersOnLoad();
