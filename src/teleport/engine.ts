import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor } from '@tensorflow/tfjs-core';
import type { SiteAction } from '../groups/types.js';
import { getObjective } from '../objectives/registry.js';
import { gradNorm } from '../objectives/grad_norm.js';
import { heldOutLookahead } from '../objectives/lookahead.js';
import type { ClosedForm, HeldOut, InnerStep, Objective, ObjectiveContext, ObjectiveSettings, Preconditioner } from '../objectives/types.js';
import { solverFor } from '../solvers/registry.js';
import type { SolveContext, SolveProblem, SolverOptions, StepRule } from '../solvers/types.js';
import { TeleportError, type RejectionKind } from '../core/errors.js';
import type { ParamConstraint } from '../core/types.js';
import { applyActions } from '../groups/apply.js';
import { guard } from './guard.js';
import { emptyMetrics, type TeleportMetrics } from '../core/report.js';
import { withSecondOrderGradients } from '../structure/second_order_scope.js';

export { applyActions } from '../groups/apply.js';

/** Everything that decides how one teleport searches and what it accepts. */
export interface TeleportSettings extends SolverOptions {
  objective: string;
  /** Largest accepted |L(g·w) − L(w)| / |L(w)| on the teleport batch. */
  maxLossDrift: number;
  /** How many times a teleport that fails the guard is halved (θ ← θ/2) before it is rejected. */
  maxShrinks: number;
  /**
   * ∇θ of a gradient-norm objective on the evaluate route (data-dependent groups): 'autodiff'
   * (default, when unset) by nested tf.grads, 'difference' by a finite-difference Hessian-vector
   * product of two gradients (experimental, see solvers/hvp_ascent.ts).
   */
  hessianVector?: 'difference' | 'autodiff';
  /** Options objectives read (the sharpness estimator and its probes). */
  objectiveOptions?: ObjectiveSettings;
  /** Largest accepted relative change of the outputs on held-out rows (with `TeleportInput.heldOutOutputs`). */
  maxHeldOutChange?: number;
  /**
   * Real steps of the inner optimizer on held-out rows that must confirm a gradient-norm teleport
   * (with `TeleportInput.heldOut` and `innerStep`); 0 or unset: none.
   */
  confirmSteps?: number;
}

/** The state a teleport starts from. Tensors are borrowed, never disposed here. */
export interface TeleportInput {
  /** Current parameter values, in the order the actions index. */
  params: readonly Tensor[];
  /** Site actions, in application order. */
  actions: readonly SiteAction[];
  /** ∇L at `params`, when known: exact groups then need no forward or backward pass. */
  grads?: ReadonlyArray<Tensor | null> | null;
  /** The training loss on the teleport batch as a pure function of the parameters (second-order safe). */
  loss?: ((params: readonly Tensor[]) => Scalar) | null;
  /** The loss with shifts of layers' pre-activations (see `ObjectiveContext.shiftedLoss`), for a model. */
  shiftedLoss?: ((params: readonly Tensor[], shift: ReadonlyMap<number, Tensor>) => Scalar) | null;
  /** For objectives that use the inner optimizer's preconditioner. */
  preconditioner?: Preconditioner | null;
  /** Per parameter: its layer's constraint, checked by the guard. */
  constraints?: ReadonlyArray<ParamConstraint | null> | null;
  /** The teleport's seeded random stream (random starts, curves, probes). */
  random: () => number;
  /** The optimizer that takes the next steps, for objectives that declare `needsInnerStep`. */
  innerStep?: InnerStep | null;
  /** The loss on held-out teleport data and its parts, for objectives that declare `heldOut`. */
  heldOut?: HeldOut | null;
  /**
   * The model's outputs on rows of the teleport batch that batch-exact actions were not built from:
   * the guard bounds their relative change by `maxHeldOutChange` and the report gives it.
   */
  heldOutOutputs?: ((params: readonly Tensor[]) => Tensor[]) | null;
}

/** What a teleport did: its metrics, and tensors for the caller. */
export interface TeleportOutcome {
  metrics: TeleportMetrics;
  /** New parameter values (kept; caller owns them), null when rejected. */
  params: Tensor[] | null;
  /**
   * ∇L at the new parameters from the transport route, else null. Entries for parameters no action
   * touches are the caller's own gradient tensors (not copies): dispose only the others.
   */
  grads: Tensor[] | null;
  /** The group element found (kept; caller disposes), for moving optimizer state. */
  thetas: Tensor[];
  /** The name of the solver that searched (see solvers/registry.ts); absent when nothing was searched. */
  solver?: string;
}

/** ∇L(g·w) from ∇L(w) through every site's J⁻ᵀ. */
export function transportGradients(actions: readonly SiteAction[], grads: ReadonlyArray<Tensor | null>, thetas: readonly Tensor[]): Array<Tensor | null> {
  let out = grads.slice() as Array<Tensor | null>;
  actions.forEach((a, i) => {
    out = a.transportGradient!(out as Tensor[], thetas[i]);
  });
  return out;
}

/** ∇L at `params` for the parameters in `indices` (null elsewhere), by autodiff of the batch loss. */
function lossGradients(loss: (p: readonly Tensor[]) => Scalar, params: readonly Tensor[], indices: readonly number[]): Array<Tensor | null> {
  const grads = tf.grads((...ps: Tensor[]) => {
    const full = params.slice();
    indices.forEach((idx, k) => (full[idx] = ps[k]));
    return loss(full);
  })(indices.map(i => params[i]));
  const out: Array<Tensor | null> = params.map(() => null);
  indices.forEach((idx, k) => (out[idx] = grads[k]));
  return out;
}

const scalarOf = (t: Tensor) => t.dataSync()[0];

/**
 * 'auto' → the objective's own preference on this route (`Objective.stepRule`), from the identity;
 * 'fixed' from random starts (SO(2) on test functions, where the objective can be sharply peaked) and
 * where the objective states none. The gradient norms prefer 'budget' on the transport route (an
 * unbounded objective that grows along every step until the growth cap) and 'fixed' on the evaluate
 * route (data-dependent actions, exact only on the batch: long steps drift more); curvature and
 * sharpness are bounded, with interior optima that long steps jump over.
 *
 * ```ts
 * resolveStepRule('auto', 'transport', false, { transport: 'budget' }); // 'budget'
 * ```
 */
export function resolveStepRule(
  rule: StepRule | undefined,
  route: 'transport' | 'evaluate',
  randomStart: boolean,
  preferred: Objective['stepRule'],
): 'fixed' | 'budget' {
  if (rule === 'fixed' || rule === 'budget') return rule;
  return randomStart ? 'fixed' : (preferred?.[route] ?? 'fixed');
}
const sumOfSquares = (ts: ReadonlyArray<Tensor | null>): number =>
  tf.tidy(() => scalarOf(tf.addN([tf.scalar(0), ...ts.filter((t): t is Tensor => t != null).map(t => tf.sum(tf.square(t)))])));

/**
 * Measures ‖∇L‖² at w and at g·w, over the touched parameters and over all of them, by the cheapest
 * exact means the route allows: the closed form (rescale), the transported gradient, or autodiff.
 */
function gradNormMeter(
  ctx: ObjectiveContext,
  plainForm: ClosedForm | null,
): ((thetas: readonly Tensor[] | null, knownTouched?: number) => { touched: number; full: number }) & { release(): void } {
  const all = ctx.params.map((_, i) => i);
  const untouched = ctx.gradient ? sumOfSquares(ctx.gradient.map((g, i) => (ctx.touched.includes(i) ? null : g))) : 0;
  // Exact groups on the evaluate route (objectives that need the loss): ∇L(g·w) follows from ∇L(w)
  // by the transport, so g·w costs no second backward pass.
  const exact = ctx.route === 'evaluate' && ctx.actions.every(a => a.exactness === 'everywhere' && a.transportGradient != null);
  let atW: Array<Tensor | null> | null = null;
  const meter = (thetas: readonly Tensor[] | null, knownTouched?: number): { touched: number; full: number } => {
    if (exact) {
      atW ??= tf.tidy(() => lossGradients(ctx.loss!, ctx.params, all).map(g => tf.keep(g!)));
      const g0 = atW;
      return tf.tidy(() => {
        const g = thetas == null ? g0 : transportGradients(ctx.actions, g0, thetas);
        const [t, f] = tf.stack([gradNormSqOf(g, ctx.touched), gradNormSqOf(g, all)]).dataSync();
        return { touched: t, full: f };
      });
    }
    if (ctx.route === 'evaluate') {
      const at = thetas == null ? ctx.params : null;
      return tf.tidy(() => {
        const p = at ?? applyActions(ctx.actions, ctx.params, thetas!);
        const g = lossGradients(ctx.loss!, p, all);
        const [t, f] = tf.stack([gradNormSqOf(g, ctx.touched), gradNormSqOf(g, all)]).dataSync();
        return { touched: t, full: f };
      });
    }
    let touched: number;
    if (knownTouched != null) touched = knownTouched;
    else if (plainForm != null)
      touched = formValue(
        plainForm,
        plainForm.widths.map((h, i) => (thetas == null ? new Float64Array(h) : Float64Array.from(thetas[i].dataSync()))),
      );
    else touched = tf.tidy(() => scalarOf(thetas == null ? gradNormSqOf(ctx.gradient!, ctx.touched) : gradNorm.value(ctx)(thetas)));
    return { touched, full: touched + untouched };
  };
  return Object.assign(meter, {
    /** Frees the gradient at w the exact evaluate route keeps between its two measurements. */
    release: () => {
      if (atW != null) tf.dispose(atW as Tensor[]);
      atW = null;
    },
  });
}

/** A closed form's value at `s`, by its value-only evaluation when it has one. */
const formValue = (form: ClosedForm, s: readonly Float64Array[]): number => (form.value != null ? form.value(s) : form.evaluate(s).value);

function gradNormSqOf(grads: ReadonlyArray<Tensor | null>, indices: readonly number[]): Scalar {
  return tf.addN([tf.scalar(0), ...indices.filter(i => grads[i] != null).map(i => tf.sum(tf.square(grads[i]!)))]) as Scalar;
}

/**
 * One teleport: the objective (objectives/registry) gives a function of the group element θ; a
 * solver (solvers/registry) finds θ; the guard (guard.ts) applies it, checks drift, constraints,
 * finiteness and a fresh measurement of the objective, halves θ or rejects. Never throws for
 * numerical trouble: a NaN/Inf start or an element it cannot accept gives `accepted: false` with a
 * reason and a kind, and the caller keeps its weights.
 */
export function runTeleport(input: TeleportInput, settings: TeleportSettings): TeleportOutcome {
  // Evaluate-route objectives differentiate the loss twice; a user's loss may use tf.leakyRelu, tf.maximum, ….
  return withSecondOrderGradients(() => teleportOnce(input, settings));
}

/**
 * What an objective sees of a teleport: the actions, the parameters, the touched indices (what the
 * actions change and what else they say they affect), the route and the data it may read.
 */
export function objectiveContext(input: TeleportInput, objective: Objective, settings: TeleportSettings, transport: boolean): ObjectiveContext {
  const { actions, params } = input;
  const loss = input.loss ?? null;
  // The objective's gradient is taken over what the actions change, and what else they say they affect.
  const touched = [...new Set(actions.flatMap(a => [...a.touches, ...(a.measured ?? [])]))].sort((a, b) => a - b);
  const onlyTouched = (gs: ReadonlyArray<Tensor | null>) => gs.map((g, i) => (touched.includes(i) ? g : null));
  return {
    actions,
    params,
    touched,
    route: transport ? 'transport' : 'evaluate',
    gradient: input.grads ?? null,
    loss,
    shiftedLoss: input.shiftedLoss ?? null,
    preconditioner: objective.usesPreconditioner ? (input.preconditioner ?? null) : null,
    random: input.random,
    options: settings.objectiveOptions,
    innerStep: input.innerStep ?? null,
    heldOut: input.heldOut ?? null,
    gradientAt: transport
      ? thetas => onlyTouched(transportGradients(actions, input.grads!, thetas))
      : thetas => lossGradients(loss!, applyActions(actions, params, thetas), touched),
  };
}

function teleportOnce(input: TeleportInput, settings: TeleportSettings): TeleportOutcome {
  const { actions, params } = input;
  const objective = getObjective(settings.objective);
  const transport = input.grads != null && objective.needs === 'gradient' && actions.every(a => a.transportGradient != null);
  const loss = input.loss ?? null;
  if (!transport && loss == null) {
    throw new TeleportError('this group or objective needs the loss on a teleport batch (give `data`), or a gradient with an exact group', 'bad-option');
  }
  if (objective.needsInnerStep && input.innerStep == null) {
    throw new TeleportError(
      `objective '${objective.name}' needs the optimizer that takes the next steps: inside a teleporting optimizer it is the inner one; for tp.teleport pass it as the \`optimizer\` option`,
      'bad-option',
    );
  }
  const ctx = objectiveContext(input, objective, settings, transport);
  const touched = ctx.touched;
  // The plain gradient norm: the report's ‖∇L‖² is then the objective itself.
  const plainNorm = objective.family === 'gradientNorm' && objective.usesPreconditioner !== true;
  const closedForm = objective.closedForm?.(ctx) ?? null;
  const plainForm = plainNorm ? closedForm : closedForm != null ? gradNorm.closedForm!(ctx) : null;
  const meter = gradNormMeter(ctx, plainForm);
  const value = objective.value(ctx);
  // A closed form is a deterministic function of θ: at the solver's own θ its value is the one the
  // solver computed (no second evaluation); halved elements are measured afresh.
  let solvedByForm: { thetas: readonly Tensor[]; value: number } | null = null;
  const measure = (thetas: readonly Tensor[]) => {
    if (solvedByForm != null && solvedByForm.thetas === thetas) return solvedByForm.value;
    return closedForm != null
      ? formValue(
          closedForm,
          thetas.map(t => Float64Array.from(t.dataSync())),
        )
      : tf.tidy(() => scalarOf(value(thetas)));
  };

  // On the transport route the gradNorm objective is ‖∇L‖² over the touched parameters itself: its
  // values at the identity and at the accepted θ need no second evaluation.
  const normIsObjective = plainNorm && transport;
  const metrics: TeleportMetrics = emptyMetrics(ctx.route);
  const measureBefore = (knownTouched?: number) => {
    const before = meter(null, knownTouched);
    Object.assign(metrics, { gradNormSqBefore: before.touched, fullGradNormSqBefore: before.full });
  };
  if (!normIsObjective) measureBefore();
  let solverName: string | undefined;
  const rejected = (kind: RejectionKind, reason: string, thetas: Tensor[]): TeleportOutcome => {
    meter.release();
    return { metrics: { ...metrics, accepted: false, rejection: kind, reason }, params: null, grads: null, thetas, solver: solverName };
  };

  if (loss != null) {
    metrics.lossBefore = tf.tidy(() => scalarOf(loss(params)));
    if (!Number.isFinite(metrics.lossBefore)) {
      if (normIsObjective) measureBefore();
      return rejected('not-finite', 'the loss on the teleport batch is not finite before the teleport', []);
    }
  }
  const init = tf.tidy(() => actions.map(a => a.init(input.random)));
  const context: SolveContext = {
    ...ctx,
    traits: objective,
    hessianVector: settings.hessianVector ?? 'autodiff',
    act: thetas => applyActions(actions, params, thetas),
    lossGradient: loss != null ? p => lossGradients(loss, p, touched) : null,
    // Measured above (not on the transport route of the plain norm, where the solver's start value is it).
    gradNormSqAtW: Number.isFinite(metrics.gradNormSqBefore) ? metrics.gradNormSqBefore : null,
  };
  const problem: SolveProblem = { objective: value, closedForm, init, randomStart: actions.some(a => a.randomInit === true), context };
  // The first registered solver whose `prepare` accepts builds its own structure (Gram form, HVP, …).
  const solver = solverFor(problem);
  const solved = solver.solve({
    ...settings,
    stepRule: resolveStepRule(settings.stepRule, ctx.route, problem.randomStart, objective.stepRule),
    stallTolerance: objective.stallTolerance,
  });
  tf.dispose(init);
  Object.assign(metrics, { objectiveBefore: solved.objectiveBefore, ascentSteps: solved.stepsTaken, backtracks: solved.backtracks });
  if (normIsObjective) measureBefore(solved.objectiveBefore);
  solverName = solver.name;
  if (solved.aborted) return rejected('not-finite', solved.aborted, solved.thetas);
  if (solved.blewUp) {
    // The start was finite (else `aborted`): the inputs are fine, the step length is not.
    return rejected(
      'no-improvement',
      `every ascent step blew up: the objective was NaN or Inf at each of the ${solved.backtracks} steps tried (lr ${settings.lr}, then shortened) although it is finite at the current weights; lower lr`,
      solved.thetas,
    );
  }
  if (solver.exact) solvedByForm = { thetas: solved.thetas, value: solved.objectiveAfter };

  const guarded = guard({
    actions,
    params,
    thetas: solved.thetas,
    loss,
    lossBefore: metrics.lossBefore,
    objectiveBefore: solved.objectiveBefore,
    measure,
    direction: settings.direction,
    maxGrowth: settings.maxGrowth,
    maxLossDrift: settings.maxLossDrift,
    maxShrinks: settings.maxShrinks,
    constraints: input.constraints,
    finiteFromTheta: closedForm != null,
    heldOutOutputs: input.heldOutOutputs ?? null,
    maxHeldOutChange: settings.maxHeldOutChange,
  });
  Object.assign(metrics, { lossAfter: guarded.lossAfter, relativeLossDrift: guarded.relativeLossDrift, shrinks: guarded.shrinks });
  if (guarded.heldOutChange != null) metrics.heldOutOutputChange = guarded.heldOutChange;
  if (!guarded.accepted) return rejected(guarded.rejection!.kind, guarded.rejection!.message, guarded.thetas);
  const confirm = objective.confirm?.(ctx) ?? null;
  if (confirm != null) {
    const held = confirm(guarded.thetas);
    Object.assign(metrics, { heldOutBefore: held.before, heldOutAfter: held.after, heldOutStderr: held.stderr });
    const gain = settings.direction === 'maximize' ? held.after - held.before : held.before - held.after;
    if (!(gain > 2 * held.stderr)) {
      // The guard's candidate parameters are fresh copies (pass-through entries cloned).
      tf.dispose(guarded.params ?? []);
      return rejected(
        'no-improvement',
        `the held-out estimate of the objective does not confirm the move (${held.before.toPrecision(6)} → ${held.after.toPrecision(6)}, standard error of the change ${held.stderr.toPrecision(2)}, asked to ${settings.direction}): the ascent may have followed its own estimate's noise`,
        guarded.thetas,
      );
    }
  }

  // A gradient-norm teleport is a proxy for faster descent: the real next steps must agree.
  const k = settings.confirmSteps ?? 0;
  if (confirm == null && k > 0 && objective.family === 'gradientNorm' && input.heldOut != null && input.heldOut.parts.length > 0 && input.innerStep != null) {
    const held = heldOutLookahead(actions, params, input.innerStep, input.heldOut, k)(guarded.thetas);
    Object.assign(metrics, { heldOutBefore: held.before, heldOutAfter: held.after, heldOutStderr: held.stderr });
    if (!(held.after >= held.before)) {
      tf.dispose(guarded.params ?? []);
      return rejected(
        'no-improvement',
        `${k} real optimizer step${k > 1 ? 's' : ''} on the held-out rows decrease the loss less from the teleported point (${held.after.toPrecision(4)}) than without the teleport (${held.before.toPrecision(4)}): the larger gradient would not speed training up here (confirmSteps)`,
        guarded.thetas,
      );
    }
  }

  const after = meter(guarded.thetas, normIsObjective ? guarded.objectiveAfter : undefined);
  meter.release();
  const grads = transport
    ? (tf.tidy(() => transportGradients(actions, input.grads!, guarded.thetas).map((g, i) => g ?? tf.zerosLike(params[i]))) as Tensor[])
    : null;
  Object.assign(metrics, { accepted: true, objectiveAfter: guarded.objectiveAfter, gradNormSqAfter: after.touched, fullGradNormSqAfter: after.full });
  return { metrics, params: guarded.params, grads, thetas: guarded.thetas, solver: solverName };
}
