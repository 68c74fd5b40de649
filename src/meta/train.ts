import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Variable } from '@tensorflow/tfjs-core';
import { badOption, show } from '../core/errors.js';
import type { FamilyName, MetaFamily, MetaTask, UserFamily } from './family.js';
import { resolveFamily } from './family.js';
import { disposeState, tidy, type MetaState } from './tensors.js';
import type { BaseLrChoice } from './base_lr.js';
import { withSecondOrderGradientsAsync } from '../structure/second_order_scope.js';

/**
 * What meta-training needs of a teleporter (`MetaTeleporter` is one). Structural, so that
 * train.ts does not import teleporter.ts, which calls {@link trainMeta}.
 */
export interface MetaTrainee {
  /** What the teleporter learns (`MetaTeleporter`'s `learn` option). */
  readonly learn: string;
  /** Whether it learns a group element. */
  readonly teleports: boolean;
  /** Every trainable weight, in a fixed order. */
  readonly weights: Variable[];
  /** Creates its networks for a problem of `dim` parameters (and a group of blocks × n). */
  build(shape: { dim: number; group?: { blocks: number; n: number } }): void;
  /** The weights of the update network (m1) or of the teleport network (m2). */
  weightsOf(which: 'm1' | 'm2'): Variable[];
  /** The recurrent state at the start of a trajectory. */
  initialState(): MetaState;
  /** One learned step: new parameters and state. */
  step(
    params: readonly Tensor[],
    grads: readonly Tensor[],
    state: MetaState,
    act?: MetaTask['act'],
    teleport?: boolean,
    context?: { loss?: MetaTask['loss']; group?: { blocks: number; n: number } },
  ): { params: Tensor[]; state: MetaState };
  /** Runs a trajectory on a task and returns its losses. */
  run(task: MetaTask, opts: { steps: number; teleport?: boolean }): { losses: number[] };
  /** Its configuration (the base step size, or 'auto' before calibration). */
  getConfig(): { baseLr?: number | 'auto' };
  /** Searches the base step size on the family's training tasks. */
  calibrate(family: MetaFamily, opts: { tasks?: number; steps?: number; seed?: number }): BaseLrChoice;
}

/** Options of `MetaTeleporter.train`. */
export interface MetaTrainOptions {
  /** Training trajectories (tasks drawn from the family, seeds seed·10⁶ + i). Default 20. */
  trajectories?: number;
  /** Steps per trajectory. Default 100. */
  steps?: number;
  /** Truncated BPTT: the weights are updated every `unroll` steps from the accumulated loss. Default 10. */
  unroll?: number;
  /** Adam learning rate of m1. Default 1e-3. */
  lr?: number;
  /** Adam learning rate of m2 (the group element). Default `lr`. */
  teleportLr?: number;
  /** Seed of the task draws. Default 0. */
  seed?: number;
  /** Clip the meta-gradient's global norm (over all weights) to this. Default 1. */
  clip?: number;
  /** Validation trajectories (seeds disjoint from training's). Default 3. */
  validation?: number;
  /**
   * Steps of each validation run. Default 2·steps: selection looks past the training horizon, so a rule
   * that descends fast for `steps` steps and then runs off the edge of stability is not kept.
   */
  validationSteps?: number;
  /** Validate after every this many training trajectories. Default max(1, ⌊trajectories/10⌋). */
  validateEvery?: number;
  /** Stop after this many validations without improvement; the best weights are restored. Default 5. */
  patience?: number;
  /** Called after each unrolled update. */
  onProgress?: (p: MetaProgress) => void;
}

/** Progress of meta-training. */
export interface MetaProgress {
  trajectory: number;
  trajectories: number;
  window: number;
  windows: number;
  /** The window's meta-loss: mean of log(L_i / L_0) over its steps. */
  metaLoss: number;
  /** The latest validation score (lower is better) and the best so far. */
  validation?: number;
  best?: number;
}

/** What training did. */
export interface MetaTrainReport {
  /** Validation score (mean over validation trajectories and steps of log(L_t / L_0)) before training. */
  initialValidation: number;
  /** The best validation score (its weights are the ones kept). */
  bestValidation: number;
  /** Every validation: after how many trajectories, its score. */
  validations: Array<{ trajectory: number; score: number }>;
  /** Trajectories trained on (fewer than asked when early stopping hit). */
  trajectoriesUsed: number;
  stoppedEarly: boolean;
  /** Updates skipped because the meta-gradient was not finite; trajectories cut short because the loss blew up (or the update was skipped). */
  skippedUpdates: number;
  divergedTrajectories: number;
  /** Each cut trajectory rolls the weights back to the best validation's and halves both meta learning rates. */
  rollbacks: number;
  /** The meta learning rates at the end, as a fraction of `lr` / `teleportLr`. */
  finalLrScale: number;
  updates: number;
  /** With `baseLr: 'auto'`: the line search that set η₀ before training (on the first training tasks, over `validationSteps`). */
  baseLr?: BaseLrChoice;
}

const VALIDATION_SEED = 0x5a11d;
/** A training trajectory whose loss rises above this many times its start is cut (the learned rule diverged). */
const DIVERGED = 10;

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw badOption(`train: ${name} must be a positive integer (got ${show(v)})`);
}

/** A validation run whose loss rises above this many times its lowest value so far has run off (the edge of stability): from there on every step scores as a blow-up. */
export const RUN_OFF = 1.5;

/**
 * Mean over steps of log(L_t / L_0) on each validation task, then over tasks; a blow-up counts as
 * +log(1e6), and so does every step from the first one whose loss exceeds `RUN_OFF` times the
 * lowest loss before it (a rule that descends fast and then runs off the edge of stability is not kept,
 * even when the run-off is late in the validation run).
 */
export function validationScore(teleporter: MetaTrainee, tasks: readonly MetaTask[], steps: number): number {
  let total = 0;
  const blowUp = Math.log(1e6);
  for (const task of tasks) {
    const { losses } = teleporter.run(task, { steps });
    const l0 = losses[0];
    let s = 0;
    let lowest = l0;
    let ranOff = false;
    for (let t = 1; t <= steps; t++) {
      const l = losses[t];
      ranOff ||= !(l != null && Number.isFinite(l)) || l > RUN_OFF * lowest;
      s += ranOff ? blowUp : Math.min(Math.log(Math.max(l, 1e-30) / l0), blowUp);
      if (!ranOff) lowest = Math.min(lowest, l);
    }
    total += s / steps;
  }
  return total / tasks.length;
}

/**
 * Meta-training by truncated backpropagation through the unrolled trajectory (Algorithm 3): for each
 * training task, run the learned rule; every `unroll` steps take the gradient of the window's loss
 * (mean log(L_i/L_0), the accumulated loss on a log scale so late windows still teach) with respect
 * to m1's and m2's weights — through the parameters, the gradients (second order) and the LSTM states —
 * clip it by global norm, and apply Adam. Windows start from the previous window's values, detached.
 * Robustness: non-finite meta-gradients are skipped; a trajectory whose update was skipped or whose loss
 * rises above 10·L_0 is cut, the weights roll back to the best validation's and both meta learning rates
 * halve (fresh Adam state); and validation on held-out tasks keeps the best weights (the untrained teleporter,
 * plain GD at `baseLr`, is the first candidate) with early stopping after `patience` validations.
 */
export function trainMeta(teleporter: MetaTrainee, familyIn: FamilyName | MetaFamily | UserFamily, opts: MetaTrainOptions = {}): Promise<MetaTrainReport> {
  // Meta-gradients differentiate through ∇L: a family's own tf.leakyRelu/tf.maximum need the comparisons' zero gradients.
  return withSecondOrderGradientsAsync(() => train(teleporter, familyIn, opts));
}

async function train(teleporter: MetaTrainee, familyIn: FamilyName | MetaFamily | UserFamily, opts: MetaTrainOptions): Promise<MetaTrainReport> {
  const family = resolveFamily(familyIn);
  const trajectories = opts.trajectories ?? 20;
  const steps = opts.steps ?? 100;
  const unroll = opts.unroll ?? 10;
  const lr = opts.lr ?? 1e-3;
  const teleportLr = opts.teleportLr ?? lr;
  const seed = opts.seed ?? 0;
  const clip = opts.clip ?? 1;
  const validation = opts.validation ?? 3;
  const validationSteps = opts.validationSteps ?? 2 * steps;
  const validateEvery = opts.validateEvery ?? Math.max(1, Math.floor(trajectories / 10));
  const patience = opts.patience ?? 5;
  positiveInt('trajectories', trajectories);
  positiveInt('steps', steps);
  positiveInt('unroll', unroll);
  positiveInt('validation', validation);
  positiveInt('validationSteps', validationSteps);
  positiveInt('validateEvery', validateEvery);
  positiveInt('patience', patience);
  if (!Number.isInteger(seed)) throw badOption(`train: seed must be an integer (got ${show(seed)})`);
  for (const [name, v] of [
    ['lr', lr],
    ['teleportLr', teleportLr],
    ['clip', clip],
  ] as const) {
    if (!(v > 0 && Number.isFinite(v))) throw badOption(`train: ${name} must be a positive number (got ${show(v)})`);
  }
  if (steps % unroll !== 0) throw badOption(`train: steps (${steps}) must be a multiple of unroll (${unroll})`);

  // baseLr 'auto': η₀ from GD's edge of stability on training tasks, past the training horizon.
  const baseLr =
    teleporter.getConfig().baseLr === 'auto' ? teleporter.calibrate(family, { tasks: Math.min(3, trajectories), steps: validationSteps, seed }) : undefined;
  const first = family.sample(seed * 1_000_000);
  teleporter.build({ dim: first.params.reduce((s, p) => s + p.size, 0), group: family.group });
  first.dispose();
  if (teleporter.teleports && family.group == null) throw badOption(`train: learn '${teleporter.learn}' needs a family with a group`);

  const m1 = teleporter.weightsOf('m1');
  const m2 = teleporter.weightsOf('m2');
  let backoff = 1;
  let opt1 = tf.train.adam(lr);
  let opt2 = tf.train.adam(teleportLr);
  const valTasks = Array.from({ length: validation }, (_, i) => family.sample(VALIDATION_SEED + seed * 1000 + i));
  const snapshot = () => teleporter.weights.map(w => tf.clone(w));
  const report: MetaTrainReport = {
    initialValidation: Number.NaN,
    bestValidation: Number.NaN,
    validations: [],
    trajectoriesUsed: 0,
    stoppedEarly: false,
    skippedUpdates: 0,
    divergedTrajectories: 0,
    rollbacks: 0,
    finalLrScale: 1,
    updates: 0,
    ...(baseLr ? { baseLr } : {}),
  };
  let best = snapshot();
  try {
    report.initialValidation = validationScore(teleporter, valTasks, validationSteps);
    report.bestValidation = report.initialValidation;
    report.validations.push({ trajectory: 0, score: report.initialValidation });
    let sinceBest = 0;
    const windows = steps / unroll;
    for (let traj = 0; traj < trajectories; traj++) {
      const task = family.sample(seed * 1_000_000 + traj + 1);
      let params: Tensor[] = task.params.map(p => tf.clone(p));
      let state: MetaState = teleporter.initialState();
      const l0 = lossValue(task, params);
      const logL0 = Math.log(Math.max(l0, 1e-30));
      try {
        for (let w = 0; w < windows; w++) {
          let carried: { params: Tensor[]; state: MetaState } | undefined;
          const { value, grads } = tf.variableGrads(() => {
            const out = windowLoss(teleporter, task, params, state, unroll, logL0);
            carried = { params: out.params.map(t => tf.keep(t)), state: keepState(out.state) };
            return out.loss;
          }, [...m1, ...m2]);
          const metaLoss = value.dataSync()[0];
          value.dispose();
          const applied = applyClipped(grads, clip, m1, m2, opt1, opt2);
          if (applied) report.updates++;
          else report.skippedUpdates++;
          tf.dispose([...params]);
          disposeState(state);
          params = carried!.params;
          state = carried!.state;
          const now = lossValue(task, params);
          opts.onProgress?.({
            trajectory: traj + 1,
            trajectories,
            window: w + 1,
            windows,
            metaLoss,
            validation: report.validations.at(-1)?.score,
            best: report.bestValidation,
          });
          if (!applied || !Number.isFinite(now) || now > DIVERGED * l0) {
            // Roll back to the best weights and halve the meta learning rates (fresh Adam state).
            report.divergedTrajectories++;
            report.rollbacks++;
            teleporter.weights.forEach((v, i) => v.assign(best[i]));
            backoff /= 2;
            opt1.dispose();
            opt2.dispose();
            opt1 = tf.train.adam(lr * backoff);
            opt2 = tf.train.adam(teleportLr * backoff);
            break;
          }
        }
      } finally {
        tf.dispose(params);
        disposeState(state);
        task.dispose();
      }
      report.trajectoriesUsed = traj + 1;
      if ((traj + 1) % validateEvery === 0 || traj + 1 === trajectories) {
        const score = validationScore(teleporter, valTasks, validationSteps);
        report.validations.push({ trajectory: traj + 1, score });
        if (score < report.bestValidation) {
          report.bestValidation = score;
          tf.dispose(best);
          best = snapshot();
          sinceBest = 0;
        } else if (++sinceBest >= patience) {
          report.stoppedEarly = traj + 1 < trajectories;
          break;
        }
        opts.onProgress?.({
          trajectory: traj + 1,
          trajectories,
          window: windows,
          windows,
          metaLoss: Number.NaN,
          validation: score,
          best: report.bestValidation,
        });
      }
      await new Promise(resolve => setTimeout(resolve, 0)); // let a progress bar draw
    }
    report.finalLrScale = backoff;
    const ws = teleporter.weights;
    ws.forEach((w, i) => w.assign(best[i]));
  } finally {
    tf.dispose(best);
    for (const t of valTasks) t.dispose();
    opt1.dispose();
    opt2.dispose();
  }
  return report;
}

/**
 * The meta-loss of one unrolled window: `unroll` steps of the learned rule from (params, state), the
 * mean of log(L_i) − logL0 over the parameters after each step. Differentiable in the teleporter's
 * weights through parameters, gradients (second order) and LSTM states. Run it inside a tidy or a
 * gradient scope; the returned tensors belong to that scope.
 */
export function windowLoss(
  teleporter: MetaTrainee,
  task: MetaTask,
  params: readonly Tensor[],
  state: MetaState,
  unroll: number,
  logL0: number,
): { loss: Scalar; params: Tensor[]; state: MetaState } {
  let p = [...params];
  let s = state;
  let acc: Scalar = tf.scalar(0);
  for (let k = 0; k < unroll; k++) {
    const g = tf.grads((...ps: Tensor[]) => task.loss(ps))(p);
    const out = teleporter.step(p, g, s, task.act, true, { loss: task.loss, group: task.group });
    p = out.params;
    s = out.state;
    acc = tf.add(acc, tf.sub(tf.log(tf.add(task.loss(p), 1e-30)), logL0));
  }
  return { loss: tf.div(acc, unroll) as Scalar, params: p, state: s };
}

/** The loss as a number (the tensor freed). */
export function lossValue(task: MetaTask, params: readonly Tensor[]): number {
  const l = tf.tidy(() => task.loss(params));
  const v = l.dataSync()[0];
  l.dispose();
  return v;
}

function keepState(s: MetaState): MetaState {
  const k = (l: { h: Tensor[]; c: Tensor[] }) => ({ h: l.h.map(t => tf.keep(t)), c: l.c.map(t => tf.keep(t)) }) as MetaState['m1'];
  return { m1: s.m1 ? k(s.m1) : undefined, m2: s.m2 ? k(s.m2) : undefined, spent: s.spent ? tf.keep(s.spent) : undefined };
}

/** Clips by global norm and applies; false (nothing applied) when the gradient is not finite. Disposes `grads`. */
function applyClipped(grads: Record<string, Tensor>, clip: number, m1: Variable[], m2: Variable[], opt1: tf.Optimizer, opt2: tf.Optimizer): boolean {
  try {
    const all = [...m1, ...m2].map(v => grads[v.name]).filter(g => g != null);
    const normT = tf.tidy(() => tf.sqrt(tf.addN(all.map(g => tf.sum(tf.square(g))))));
    const norm = normT.dataSync()[0];
    normT.dispose();
    if (!Number.isFinite(norm)) return false;
    const scale = norm > clip ? clip / norm : 1;
    const pick = (vs: Variable[]) => tidy(() => Object.fromEntries(vs.filter(v => grads[v.name] != null).map(v => [v.name, tf.mul(grads[v.name], scale)])));
    const g1 = pick(m1);
    const g2 = pick(m2);
    if (m1.length) opt1.applyGradients(g1);
    if (m2.length) opt2.applyGradients(g2);
    tf.dispose([...Object.values(g1), ...Object.values(g2)]);
    return true;
  } finally {
    tf.dispose(Object.values(grads));
  }
}
