import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D, Variable } from '@tensorflow/tfjs-core';
import { TeleportError, badOption, show } from '../core/errors.js';
import { SeededRandom } from '../core/random.js';
import { coordinateFeatures, fitState, groupEntryFeatures, M1_FEATURES, M2_FEATURES, objectiveDerivative } from './coordinatewise.js';
import { Lstm } from './lstm.js';
import { disposeState, tidy, type MetaState } from './tensors.js';
import { trainMeta, type MetaTrainOptions, type MetaTrainReport } from './train.js';
import type { FamilyName, MetaFamily, MetaTask, UserFamily } from './family.js';
import { resolveFamily } from './family.js';
import { largestStableLr, type BaseLrChoice } from './base_lr.js';

export type { BaseLrChoice } from './base_lr.js';

/**
 * What the meta-teleporter learns (dissertation §5.5):
 * - `'update'`: m1 gives the update f_t, no teleport (g_t = I): "LSTM(update)";
 * - `'update+teleport'`: m1 gives f_t and m2 the group element g_t: "LSTM(update, tele)";
 * - `'lr+teleport'`: m1 gives a step size η_t (f_t = −η_t∇_t) and m2 gives g_t: "LSTM(lr, tele)";
 * - `'teleport'`: no m1, f_t = −η₀∇_t (gradient descent at the fixed step size `baseLr`) and m2 gives g_t:
 *   "GD + LSTM(tele)", the clean ablation (with its teleports off it is exactly GD at η₀).
 */
export type MetaLearn = 'update' | 'update+teleport' | 'lr+teleport' | 'teleport';

let instances = 0;
const FORMAT = 'tfjs-teleport/meta-teleporter';

const LEARN_MODES: readonly MetaLearn[] = ['update', 'update+teleport', 'lr+teleport', 'teleport'];

/**
 * How m1 and m2 see the problem:
 * - `'full'` (the dissertation's): each LSTM reads the whole flattened gradient and writes every coordinate
 *   (and every entry of θ) through a dense head, so it is tied to one parameter count and group;
 * - `'coordinatewise'` (learning-to-learn): one small LSTM shared by every coordinate, run as a batch with
 *   per-coordinate inputs and outputs, and one shared by every entry of θ; any width, any depth.
 */
export type MetaArchitecture = 'full' | 'coordinatewise';
const ARCHITECTURES: readonly MetaArchitecture[] = ['full', 'coordinatewise'];

/** Options of {@link MetaTeleporter}. */
export interface MetaTeleporterOptions {
  /** Hidden size of both layers of each LSTM. Default 32 (the dissertation: 300). */
  hidden?: number;
  /** What to learn. Default `'update+teleport'`. */
  learn?: MetaLearn;
  /**
   * η₀: before training the teleporter is gradient descent with this step size, and the learned step
   * sizes are η₀·e^{±lrRange}. Default `'auto'`: half of GD's largest stable step size on the family's
   * training tasks, found by a line search when `train` starts (or by {@link MetaTeleporter.calibrate})
   * and reported (`report.baseLr`), so an untrained or validation-kept teleporter is a well-tuned GD.
   */
  baseLr?: number | 'auto';
  /** `'lr+teleport'`: the learned step size is η₀·exp(R·tanh(a/R)), a the head's output; R (natural-log units) is this. Default 4 (η₀·e^{±4}). */
  lrRange?: number;
  /** Update modes: the direction correction is κ·‖∇‖·u in units of one step (κ is this). Default 0.1. */
  updateScale?: number;
  /** Magnitude normalization of the group element: each block's θ is scaled to ‖θ‖_F = τ‖a‖/√(τ² + ‖a‖²) < τ. Default 0.5. */
  maxTheta?: number;
  /**
   * Budget of the whole trajectory: Σ_t ‖θ_t‖_F ≤ this (each step's θ is scaled down to what is left, then
   * g = I: plain steps). A teleport every step compounds the gradient norm and the curvature without bound and
   * runs off the edge of stability past the training horizon; a budget bounds what the teleports can do in
   * any run (as the core's `maxTotalGrowth` does for scheduled teleports). Default Infinity (no budget).
   */
  teleportBudget?: number;
  /** Seed of the LSTM weights. Default 0. */
  seed?: number;
  /** `'full'` (default) or `'coordinatewise'`: see {@link MetaArchitecture}. */
  architecture?: MetaArchitecture;
}

/** What a step may need from its task besides the action: the loss and the group's shape (the coordinate-wise m2 reads ∂‖∇L‖²/∂θ). */
export interface MetaStepContext {
  /** The task's loss. */
  loss?: MetaTask['loss'];
  group?: { blocks: number; n: number };
}

/** The shapes a teleporter is built for: the flattened parameter count and the group's blocks of GL(n). */
export interface MetaShape {
  dim: number;
  group?: { blocks: number; n: number };
}

export type { MetaState };

/** One step's outcome: new parameters, new state, and what the heads said. */
export interface MetaStep {
  params: Tensor[];
  state: MetaState;
  /** w + f: the parameters before the group action (the same tensors as `params` when no teleport happened). */
  beforeAct: Tensor[];
  /** The group element's Lie-algebra value [blocks, n, n] (absent when no teleport happened). */
  theta?: Tensor;
  /** The learned step size η_t, a scalar tensor. */
  lr?: Scalar;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw badOption(message);
}

/**
 * A learned optimizer that also teleports (dissertation §5.5, Algorithm 3): from the gradient ∇_t, m1
 * gives the local update f_t and m2 a group element g_t, and w_{t+1} = g_t·(w_t + f_t). m1 and m2 are
 * two-layer LSTMs ({@link Lstm}) fed the unit gradient and log‖∇_t‖. The heads start at zero, so an
 * untrained teleporter is plain gradient descent with `baseLr` (by default half of GD's largest stable step
 * size, searched on the family's training tasks) and g = I:
 * - step-size head (every mode): η_t = η₀·exp(R·tanh(a_t/R)), a log step size with a useful gradient over e^{±R};
 *   `'lr+teleport'`: f_t = −η_t∇_t;
 * - update head (`'update'`, `'update+teleport'`): f_t = η_t·(−∇_t + κ‖∇_t‖·u_t), a learned correction of the
 *   direction in units of one step (κ = `updateScale`), on top of the learned step size;
 * - group head: θ_t with its magnitude normalized (`maxTheta`); g_t = exp(θ_t) is applied with the
 *   family's exact group action, so L(g_t·w) = L(w) up to round-off (no first-order I + T); with a
 *   `teleportBudget` the trajectory's Σ‖θ_t‖_F is capped (then g = I);
 * - `'teleport'` has no m1: f_t = −η₀∇_t, GD at `baseLr`, and only m2 learns (teleports off: exactly GD).
 *
 * Train it with {@link MetaTeleporter.train} (see train.ts), run it with {@link MetaTeleporter.run}, use
 * it in a tfjs loop with `meta.optimizer`, save it with {@link MetaTeleporter.save}.
 *
 * ```ts
 * const mt = new meta.MetaTeleporter({ hidden: 32, learn: 'update+teleport' });
 * await mt.train('twoLayerRegression', { trajectories: 50, steps: 100, unroll: 10 });
 * const task = meta.regressionFamily().sample(1234);
 * const { losses } = mt.run(task, { steps: 30 });
 *
 * // GD at a fixed step size plus learned teleports, the clean ablation (meta-diagnose: below GD's edge of stability).
 * const tele = new meta.MetaTeleporter({ architecture: 'coordinatewise', learn: 'teleport', hidden: 16, baseLr: 2.81e-4, teleportBudget: 0.3 });
 * await tele.train('twoLayerRegression', { trajectories: 12, steps: 30, unroll: 10, lr: 3e-4, validation: 5 });
 * const off = tele.run(task, { steps: 30, teleport: false }); // exactly GD at 2.81e-4
 * ```
 */
export class MetaTeleporter {
  readonly hidden: number;
  readonly learn: MetaLearn;
  readonly lrRange: number;
  readonly maxTheta: number;
  readonly teleportBudget: number;
  readonly updateScale: number;
  readonly seed: number;
  readonly architecture: MetaArchitecture;
  private prefix = '';
  /** η₀, or null while `'auto'` waits for a family to search on. */
  private baseLrValue: number | null;
  private baseLrChoice?: BaseLrChoice;
  private built?: { shape: MetaShape; m1?: Lstm; m2?: Lstm; head1: Variable[]; head2: Variable[] };

  constructor(opts: MetaTeleporterOptions = {}) {
    const known = ['hidden', 'learn', 'baseLr', 'lrRange', 'updateScale', 'maxTheta', 'teleportBudget', 'seed', 'architecture'];
    for (const k of Object.keys(opts ?? {})) check(known.includes(k), `MetaTeleporter: unknown option '${k}' (known: ${known.join(', ')})`);
    this.hidden = opts.hidden ?? 32;
    this.learn = opts.learn ?? 'update+teleport';
    const baseLr = opts.baseLr ?? 'auto';
    check(
      baseLr === 'auto' || (typeof baseLr === 'number' && baseLr > 0 && Number.isFinite(baseLr)),
      `MetaTeleporter: baseLr must be 'auto' or a positive number (got ${show(opts.baseLr)})`,
    );
    this.baseLrValue = baseLr === 'auto' ? null : baseLr;
    this.lrRange = opts.lrRange ?? 4;
    this.maxTheta = opts.maxTheta ?? 0.5;
    this.teleportBudget = opts.teleportBudget ?? Number.POSITIVE_INFINITY;
    this.updateScale = opts.updateScale ?? 0.1;
    this.seed = opts.seed ?? 0;
    this.architecture = opts.architecture ?? 'full';
    check(
      ARCHITECTURES.includes(this.architecture),
      `MetaTeleporter: architecture must be one of ${ARCHITECTURES.map(m => `'${m}'`).join(', ')} (got ${show(opts.architecture)})`,
    );
    check(Number.isInteger(this.hidden) && this.hidden >= 1, `MetaTeleporter: hidden must be a positive integer (got ${show(opts.hidden)})`);
    check(LEARN_MODES.includes(this.learn), `MetaTeleporter: learn must be one of ${LEARN_MODES.map(m => `'${m}'`).join(', ')} (got ${show(opts.learn)})`);
    check(this.lrRange > 0 && Number.isFinite(this.lrRange), `MetaTeleporter: lrRange must be a positive number (got ${show(opts.lrRange)})`);
    check(this.updateScale > 0 && Number.isFinite(this.updateScale), `MetaTeleporter: updateScale must be a positive number (got ${show(opts.updateScale)})`);
    check(this.maxTheta > 0 && Number.isFinite(this.maxTheta), `MetaTeleporter: maxTheta must be a positive number (got ${show(opts.maxTheta)})`);
    check(this.teleportBudget > 0, `MetaTeleporter: teleportBudget must be a positive number or Infinity (got ${show(opts.teleportBudget)})`);
    check(Number.isInteger(this.seed), `MetaTeleporter: seed must be an integer (got ${show(opts.seed)})`);
  }

  /**
   * η₀, the step size of the GD the teleporter starts as. With `baseLr: 'auto'` it is known once `train`
   * or {@link calibrate} has searched a family; before that reading it throws an error naming the fix.
   */
  get baseLr(): number {
    if (this.baseLrValue == null) {
      throw badOption(
        "MetaTeleporter: baseLr is 'auto' and no family has been searched yet: train it (the search runs first), call calibrate(family), or give baseLr a number",
      );
    }
    return this.baseLrValue;
  }

  /** How `'auto'` chose η₀ (undefined when baseLr was given, or not searched yet). */
  get baseLrSearch(): BaseLrChoice | undefined {
    return this.baseLrChoice;
  }

  /**
   * Sets η₀ to half of gradient descent's largest stable step size on the family's first `tasks`
   * training tasks (the seeds `train` draws with the same `seed`), found by a line search on the grid
   * ×10^¼ over `steps` steps ({@link largestStableLr}). `train` calls it when baseLr is `'auto'`.
   *
   * ```ts
   * const mt = new meta.MetaTeleporter({ learn: 'update+teleport' });
   * const { baseLr, largestStableLr } = mt.calibrate('twoLayerRegression', { steps: 60 });
   * ```
   */
  calibrate(family: FamilyName | MetaFamily | UserFamily, opts: { tasks?: number; steps?: number; seed?: number } = {}): BaseLrChoice {
    const tasks = opts.tasks ?? 3;
    const steps = opts.steps ?? 100;
    const seed = opts.seed ?? 0;
    check(Number.isInteger(tasks) && tasks >= 1, `MetaTeleporter.calibrate: tasks must be a positive integer (got ${show(opts.tasks)})`);
    check(Number.isInteger(steps) && steps >= 1, `MetaTeleporter.calibrate: steps must be a positive integer (got ${show(opts.steps)})`);
    check(Number.isInteger(seed), `MetaTeleporter.calibrate: seed must be an integer (got ${show(opts.seed)})`);
    const resolved = resolveFamily(family);
    // The training tasks (train draws seed·10⁶ + i + 1): the search never sees validation or test tasks.
    const drawn = Array.from({ length: tasks }, (_, i) => resolved.sample(seed * 1_000_000 + i + 1));
    try {
      const search = largestStableLr(drawn, steps);
      this.baseLrChoice = { baseLr: Number((search.lr / 2).toPrecision(3)), largestStableLr: search.lr, grid: search.grid, tasks, steps };
      this.baseLrValue = this.baseLrChoice.baseLr;
      return this.baseLrChoice;
    } finally {
      for (const t of drawn) t.dispose();
    }
  }

  /** True for the modes with a group element (m2). */
  get teleports(): boolean {
    return this.learn !== 'update';
  }

  /** The shapes it was built for (undefined until trained, built or loaded). */
  get shape(): MetaShape | undefined {
    return this.built?.shape;
  }

  /**
   * Creates the weights for a parameter count and group (done by `train` on first use). Building again
   * with the same shape is a no-op; another shape is an error.
   */
  build(shape: MetaShape): void {
    check(Number.isInteger(shape.dim) && shape.dim >= 1, `MetaTeleporter.build: dim must be a positive integer (got ${show(shape.dim)})`);
    if (this.built && this.architecture === 'coordinatewise') return; // shared across coordinates: any shape
    if (this.built) {
      const s = this.built.shape;
      const same = s.dim === shape.dim && (!this.teleports || (s.group?.blocks === shape.group?.blocks && s.group?.n === shape.group?.n));
      if (!same) {
        throw badOption(
          `MetaTeleporter: built for ${s.dim} parameters${s.group ? ` and ${s.group.blocks}×GL(${s.group.n})` : ''}, asked for ${shape.dim}${shape.group ? ` and ${shape.group.blocks}×GL(${shape.group.n})` : ''}: use a teleporter trained on this shape`,
        );
      }
      return;
    }
    if (this.teleports && shape.group == null && this.architecture === 'full') {
      throw badOption(`MetaTeleporter: learn '${this.learn}' needs a family with a group action (give the family a group, or use learn: 'update')`);
    }
    const random = new SeededRandom(this.seed ^ 0x3e7a);
    const h = this.hidden;
    const prefix = `meta_teleporter_${++instances}/`;
    this.prefix = prefix;
    const zeros = (s: number[], name: string) => tf.variable(tf.zeros(s), true, prefix + name);
    const saved = { dim: shape.dim, group: shape.group ? { ...shape.group } : undefined };
    const hasM1 = this.learn !== 'teleport';
    if (this.architecture === 'coordinatewise') {
      // One output per coordinate (per entry of θ): every head is [hidden, 1].
      const m1 = hasM1 ? new Lstm(`${prefix}m1`, M1_FEATURES, h, random) : undefined;
      const head1 = hasM1 ? [zeros([h, 1], 'm1/lr/kernel'), zeros([1], 'm1/lr/bias')] : [];
      if (this.learn === 'update' || this.learn === 'update+teleport') head1.push(zeros([h, 1], 'm1/update/kernel'), zeros([1], 'm1/update/bias'));
      const m2 = this.teleports ? new Lstm(`${prefix}m2`, M2_FEATURES, h, random) : undefined;
      const head2 = m2 ? [zeros([h, 1], 'm2/group/kernel'), zeros([1], 'm2/group/bias')] : [];
      this.built = { shape: saved, m1, m2, head1, head2 };
      return;
    }
    const m1 = hasM1 ? new Lstm(`${prefix}m1`, shape.dim + 1, h, random) : undefined;
    // Every m1 has the log step-size head; the update modes add a direction correction.
    const head1 = hasM1 ? [zeros([h, 1], 'm1/lr/kernel'), zeros([1], 'm1/lr/bias')] : [];
    if (this.learn === 'update' || this.learn === 'update+teleport')
      head1.push(zeros([h, shape.dim], 'm1/update/kernel'), zeros([shape.dim], 'm1/update/bias'));
    let m2: Lstm | undefined;
    let head2: Variable[] = [];
    if (this.teleports && shape.group) {
      m2 = new Lstm(`${prefix}m2`, shape.dim + 1, h, random);
      const size = shape.group.blocks * shape.group.n * shape.group.n;
      head2 = [zeros([h, size], 'm2/group/kernel'), zeros([size], 'm2/group/bias')];
    }
    this.built = { shape: saved, m1, m2, head1, head2 };
  }

  private need() {
    if (!this.built) throw new TeleportError('MetaTeleporter: not built yet: train it, build({ dim, group }) it, or load a saved one');
    return this.built;
  }

  /** m1's weights (LSTM then head; empty for `'teleport'`) and m2's (empty for `'update'`), in a fixed order. */
  weightsOf(which: 'm1' | 'm2'): Variable[] {
    const b = this.need();
    if (which === 'm1') return b.m1 ? [...b.m1.weights, ...b.head1] : [];
    return b.m2 ? [...b.m2.weights, ...b.head2] : [];
  }

  /** Every weight, m1's first. */
  get weights(): Variable[] {
    return [...this.weightsOf('m1'), ...this.weightsOf('m2')];
  }

  /** A fresh (zero) recurrent state. */
  initialState(): MetaState {
    const b = this.need();
    return { m1: b.m1?.zeroState(), m2: b.m2?.zeroState(), spent: b.m2 && Number.isFinite(this.teleportBudget) ? tf.scalar(0) : undefined };
  }

  /**
   * One step of the learned rule: w' = g·(w + f) from the gradient at w. Pure tensor ops,
   * differentiable in the weights, the parameters and the gradients (call it inside `tf.tidy`).
   * `act` is the family's exact action; with `teleport: false` (or no `act`) g = I and m2 is skipped.
   */
  step(params: readonly Tensor[], grads: readonly Tensor[], state: MetaState, act?: MetaTask['act'], teleport = true, context: MetaStepContext = {}): MetaStep {
    if (this.architecture === 'coordinatewise') return this.coordinateStep(params, grads, state, act, teleport, context);
    const b = this.need();
    const flat = tf.concat(
      grads.map(g => tf.reshape(g, [1, -1])),
      1,
    ) as Tensor2D;
    if (flat.shape[1] !== b.shape.dim) throw badOption(`MetaTeleporter: got ${flat.shape[1]} gradient entries, built for ${b.shape.dim}`);
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(flat)), 1e-30));
    const features = tf.concat([tf.div(flat, norm), tf.reshape(tf.div(tf.log(norm), 10), [1, 1])], 1);
    const r1 = b.m1 && state.m1 ? b.m1.step(features, state.m1) : undefined;
    const lr = (
      r1
        ? tf.reshape(
            tf.mul(this.baseLr, tf.exp(tf.mul(this.lrRange, tf.tanh(tf.div(tf.add(tf.matMul(r1.out, b.head1[0] as Tensor2D), b.head1[1]), this.lrRange))))),
            [],
          )
        : tf.scalar(this.baseLr)
    ) as Scalar;
    let f: Tensor2D;
    if (this.learn === 'lr+teleport' || r1 == null) {
      f = tf.mul(tf.neg(lr), flat) as Tensor2D;
    } else {
      const u = tf.add(tf.matMul(r1.out, b.head1[2] as Tensor2D), b.head1[3]);
      f = tf.mul(lr, tf.sub(tf.mul(tf.mul(norm, this.updateScale), u), flat)) as Tensor2D;
    }
    let offset = 0;
    const moved = params.map(p => {
      const size = p.size;
      const piece = tf.reshape(tf.slice(f, [0, offset], [1, size]), p.shape);
      offset += size;
      return tf.add(p, piece);
    });
    let next = moved;
    let newState: MetaState = { m1: r1?.state }; // without a teleport m2 is not run and its state is dropped
    let theta: Tensor | undefined;
    if (b.m2 && state.m2 && teleport && act != null) {
      const { blocks, n } = b.shape.group!;
      const r2 = b.m2.step(features, state.m2);
      const a = tf.reshape(tf.add(tf.matMul(r2.out, b.head2[0] as Tensor2D), b.head2[1]), [blocks, n * n]);
      const size = tf.sqrt(tf.add(tf.sum(tf.square(a), 1, true), this.maxTheta ** 2));
      const spend = this.spend(tf.reshape(tf.div(tf.mul(a, this.maxTheta), size), [blocks, n, n]), state.spent);
      theta = spend.theta;
      next = act(next, theta);
      newState = { m1: r1?.state, m2: r2.state, spent: spend.spent };
    }
    return { params: next, beforeAct: moved, state: newState, theta, lr };
  }

  /**
   * The teleport budget: θ scaled by min(1, left/‖θ‖_F), left = max(0, B − spent), and the new spent
   * total. Without a budget (or a state without `spent`) θ as it is. Differentiable (the scale is a min).
   */
  private spend(theta: Tensor, spent: Tensor | undefined): { theta: Tensor; spent?: Tensor } {
    if (!Number.isFinite(this.teleportBudget) || spent == null) return { theta, spent };
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(theta)), 1e-30));
    const left = tf.relu(tf.sub(this.teleportBudget, spent));
    const scaled = tf.mul(theta, tf.minimum(1, tf.div(left, norm)));
    // ‖θ‖ with a floor inside the root: tf.norm's gradient at θ = 0 (the zero-initialized head) is NaN.
    return { theta: scaled, spent: tf.add(spent, tf.sqrt(tf.add(tf.sum(tf.square(scaled)), 1e-30))) };
  }

  /**
   * The coordinate-wise rule: m1 runs on every coordinate of the gradient as a batch (features
   * {@link coordinateFeatures}), giving a log step size a_i and a direction correction u_i per coordinate:
   * f_i = η_i·(−∇_i + κ·rms(∇)·u_i) with η_i = η₀·exp(R·tanh(a_i/R)) (`'lr+teleport'`: one η from the mean
   * of a, f = −η∇). m2 runs on every entry of θ (features {@link groupEntryFeatures} of ∂‖∇L‖²/∂θ at w_t, data to the meta-gradient),
   * one output per entry, magnitude-normalized per block on the entries' RMS r: ‖θ‖_F = τr/√(τ² + r²) < τ at any width.
   */
  private coordinateStep(
    params: readonly Tensor[],
    grads: readonly Tensor[],
    state: MetaState,
    act: MetaTask['act'] | undefined,
    teleport: boolean,
    context: MetaStepContext,
  ): MetaStep {
    const b = this.need();
    const col = tf.concat(
      grads.map(g => tf.reshape(g, [-1, 1])),
      0,
    ) as Tensor2D;
    const dim = col.shape[0];
    const rms = tf.sqrt(tf.add(tf.mean(tf.square(col)), 1e-30));
    const r1 = b.m1 && state.m1 ? b.m1.step(coordinateFeatures(col), fitState(state.m1, dim, 'm1')) : undefined;
    const logLr = (v: Tensor) => tf.mul(this.baseLr, tf.exp(tf.mul(this.lrRange, tf.tanh(tf.div(v, this.lrRange)))));
    let f: Tensor;
    let lr: Scalar;
    if (r1 == null) {
      lr = tf.scalar(this.baseLr);
      f = tf.mul(tf.neg(lr), col);
    } else if (this.learn === 'lr+teleport') {
      const a = tf.add(tf.matMul(r1.out, b.head1[0] as Tensor2D), b.head1[1]);
      lr = tf.reshape(logLr(tf.mean(a)), []) as Scalar;
      f = tf.mul(tf.neg(lr), col);
    } else {
      const eta = logLr(tf.add(tf.matMul(r1.out, b.head1[0] as Tensor2D), b.head1[1]));
      const u = tf.add(tf.matMul(r1.out, b.head1[2] as Tensor2D), b.head1[3]);
      f = tf.mul(eta, tf.sub(tf.mul(tf.mul(rms, this.updateScale), u), col));
      lr = tf.mean(eta) as Scalar;
    }
    let offset = 0;
    const moved = params.map(p => {
      const piece = tf.reshape(tf.slice(f, [offset, 0], [p.size, 1]), p.shape);
      offset += p.size;
      return tf.add(p, piece);
    });
    let next = moved;
    let newState: MetaState = { m1: r1?.state };
    let theta: Tensor | undefined;
    if (b.m2 && state.m2 && teleport && act != null) {
      const group = context.group ?? b.shape.group;
      if (context.loss == null || group == null) {
        throw badOption(
          "MetaTeleporter: a coordinate-wise teleport needs the loss and the group shape: step(…, { loss, group }) (run and train pass the task's)",
        );
      }
      const { blocks, n } = group;
      // At w_t, like the paper's m2, which reads ∇L(w_t): then a window's meta-gradient is exact up to its last-but-one step.
      const d = objectiveDerivative(params, context.loss, act, blocks, n);
      const r2 = b.m2.step(groupEntryFeatures(d, blocks, n), fitState(state.m2, blocks * n * n, 'm2'));
      const out = tf.reshape(tf.add(tf.matMul(r2.out, b.head2[0] as Tensor2D), b.head2[1]), [blocks, n * n]);
      // Magnitude normalization on the entries' RMS r = ‖a‖/n: ‖θ‖_F = τr/√(τ² + r²) < τ, so the same
      // per-entry outputs give the same ‖θ‖ at every width (with ‖a‖ a shared bias alone would grow with n).
      // n·√(r² + τ²) = √(‖a‖² + n²τ²): no square root of zero, whose gradient is infinite at the zero-initialized head.
      const size = tf.sqrt(tf.add(tf.sum(tf.square(out), 1, true), n * n * this.maxTheta ** 2));
      const spend = this.spend(tf.reshape(tf.div(tf.mul(out, this.maxTheta), size), [blocks, n, n]), state.spent);
      theta = spend.theta;
      next = act(next, theta);
      newState = { m1: r1?.state, m2: r2.state, spent: spend.spent };
    }
    return { params: next, beforeAct: moved, state: newState, theta, lr };
  }

  /**
   * Runs the learned rule for `steps` steps from the task's starting parameters (no training): the loss
   * before each step and after the last (`steps + 1` numbers), wall-clock ms since the start at each of
   * those points, the learned step sizes η_t and the largest relative loss change any
   * single group action caused (measured: loss after the action vs before it, same parameters).
   */
  run(task: MetaTask, opts: { steps: number; teleport?: boolean }): { losses: number[]; ms: number[]; lrs: number[]; maxTeleportDrift: number } {
    check(Number.isInteger(opts?.steps) && opts.steps >= 0, `MetaTeleporter.run: steps must be a non-negative integer (got ${show(opts?.steps)})`);
    const teleport = opts.teleport ?? true;
    if (this.teleports && teleport && task.act == null)
      throw badOption('MetaTeleporter.run: this teleporter teleports but the task has no group action (give one, or run with teleport: false)');
    this.build({ dim: task.params.reduce((s, p) => s + p.size, 0), group: this.built?.shape.group ?? task.group });
    let params = task.params.map(p => tf.clone(p));
    let state = this.initialState();
    const losses: number[] = [];
    const ms: number[] = [];
    const lrs: number[] = [];
    let maxTeleportDrift = 0;
    const t0 = performance.now();
    for (let t = 0; t <= opts.steps; t++) {
      const l = tf.tidy(() => task.loss(params));
      losses.push(l.dataSync()[0]);
      l.dispose();
      ms.push(performance.now() - t0);
      if (t === opts.steps || !Number.isFinite(losses[t])) break;
      const out = tidy(() => {
        const grads = tf.grads((...ps: Tensor[]) => task.loss(ps))(params);
        const s = this.step(params, grads, state, task.act, teleport, { loss: task.loss, group: task.group });
        let drift = 0;
        if (s.theta && task.act) {
          // The group's effect alone: the same θ on w + f, loss after vs before.
          const before = task.loss(s.beforeAct);
          const after = task.loss(s.params);
          drift = Math.abs(after.dataSync()[0] - before.dataSync()[0]) / Math.max(Math.abs(before.dataSync()[0]), 1e-30);
        }
        return { params: s.params, state: s.state, lr: s.lr, drift: tf.scalar(drift) };
      });
      maxTeleportDrift = Math.max(maxTeleportDrift, out.drift.dataSync()[0]);
      if (out.lr) lrs.push(out.lr.dataSync()[0]);
      tf.dispose([out.drift, out.lr as Tensor, ...params]);
      disposeState(state);
      params = out.params;
      state = out.state;
    }
    tf.dispose(params);
    disposeState(state);
    return { losses, ms, lrs, maxTeleportDrift };
  }

  /**
   * Meta-trains m1 and m2 on trajectories of a family (Algorithm 3 with truncated BPTT, gradient
   * clipping, validation and early stopping; see {@link trainMeta}). Builds the weights on first use.
   *
   * ```ts
   * const report = await mt.train('twoLayerRegression', { trajectories: 40, steps: 50, unroll: 10, lr: 1e-3, seed: 1 });
   * console.log(report.initialValidation, '→', report.bestValidation);
   * ```
   */
  train(family: FamilyName | MetaFamily | UserFamily, opts: MetaTrainOptions = {}): Promise<MetaTrainReport> {
    return trainMeta(this, family, opts);
  }

  /** The options and shape, as saved (JSON). */
  getConfig(): MetaTeleporterOptions & { shape?: MetaShape } {
    return {
      hidden: this.hidden,
      learn: this.learn,
      baseLr: this.baseLrValue ?? 'auto',
      lrRange: this.lrRange,
      updateScale: this.updateScale,
      maxTheta: this.maxTheta,
      ...(Number.isFinite(this.teleportBudget) ? { teleportBudget: this.teleportBudget } : {}),
      seed: this.seed,
      architecture: this.architecture,
      shape: this.built?.shape,
    };
  }

  /**
   * Saves the configuration and weights through a tfjs IO handler (`tf.io.withSaveHandler(...)`,
   * `'localstorage://…'`, `'indexeddb://…'`, `'downloads://…'`, `'http(s)://…'` or any object with a
   * `save`). The library imports no Node built-ins: for a file path in Node use the examples' helper
   * `saveMetaTeleporter(mt, path)` (examples/meta/files.ts), or write the artifacts yourself.
   *
   * ```ts
   * let saved: tf.io.ModelArtifacts | undefined;
   * await mt.save(tf.io.withSaveHandler(async a => { saved = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
   * const copy = await meta.MetaTeleporter.load(tf.io.fromMemory(saved!));
   * ```
   */
  async save(handlerOrUrl: tf.io.IOHandler | string): Promise<tf.io.SaveResult> {
    this.need();
    const handler = typeof handlerOrUrl === 'string' ? tf.io.getSaveHandlers(handlerOrUrl)[0] : handlerOrUrl;
    if (handler?.save == null)
      throw badOption(
        `MetaTeleporter.save: no tfjs save handler for ${show(handlerOrUrl)} (in Node, give a file path to saveMetaTeleporter from the examples, or an IOHandler)`,
      );
    const named = this.weights.map(w => ({ name: w.name.slice(this.prefix.length), tensor: w as Tensor }));
    const { data, specs } = await tf.io.encodeWeights(named);
    return handler.save({ format: FORMAT, generatedBy: 'tfjs-teleport', modelTopology: { config: this.getConfig() }, weightSpecs: specs, weightData: data });
  }

  /**
   * Loads a teleporter saved by {@link MetaTeleporter.save}: an IO handler (`tf.io.fromMemory(artifacts)`,
   * `tf.io.browserFiles`, …) or a URL scheme tfjs knows. For a Node file path see the examples' `loadMetaTeleporter`.
   */
  static async load(handlerOrUrl: tf.io.IOHandler | string): Promise<MetaTeleporter> {
    const handler = typeof handlerOrUrl === 'string' ? tf.io.getLoadHandlers(handlerOrUrl)[0] : handlerOrUrl;
    if (handler?.load == null)
      throw badOption(
        `MetaTeleporter.load: no tfjs load handler for ${show(handlerOrUrl)} (in Node, use loadMetaTeleporter from the examples, or tf.io.fromMemory)`,
      );
    const artifacts = await handler.load();
    const config = (artifacts.modelTopology as { config?: MetaTeleporterOptions & { shape?: MetaShape } } | undefined)?.config;
    if (artifacts.format !== FORMAT || config?.shape == null || artifacts.weightSpecs == null || artifacts.weightData == null) {
      throw badOption(`MetaTeleporter.load: not a saved meta-teleporter (format ${show(artifacts.format)}, expected '${FORMAT}' with a shape and weights)`);
    }
    const { shape, ...options } = config;
    const mt = new MetaTeleporter(options);
    mt.build(shape);
    const data = artifacts.weightData instanceof ArrayBuffer ? artifacts.weightData : tf.io.concatenateArrayBuffers(artifacts.weightData as ArrayBuffer[]);
    const values = tf.io.decodeWeights(data, artifacts.weightSpecs);
    try {
      for (const w of mt.weights) {
        const v = values[w.name.slice(mt.prefix.length)];
        if (v == null || v.shape.join(',') !== w.shape.join(',')) {
          mt.dispose();
          throw badOption(`MetaTeleporter.load: weight '${w.name.slice(mt.prefix.length)}' is missing or has the wrong shape`);
        }
        w.assign(v);
      }
    } finally {
      tf.dispose(Object.values(values));
    }
    return mt;
  }

  /** Frees the weights. */
  dispose(): void {
    if (!this.built) return;
    tf.dispose(this.weights);
    this.built = undefined;
  }
}

export type { FamilyName, MetaFamily, UserFamily };
export { resolveFamily };
