import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tp from '../../../src/index.js';
import * as tpAdvanced from '../../../src/advanced.js';
import * as tpGroups from '../../../src/groups.js';
import { buildMlp } from '../../train/models.js';
import { plainOptimizer } from '../../train/runner.js';
import type { CurvePoint } from '../../report/types.js';
import type { Digits } from './digits.js';
import { problemOf, type FunctionProblem } from './problems.js';
import type { PlaygroundSettings } from './settings.js';

/** One arm of a comparison as it runs: its curve, its teleports, and for 2-D problems its path. */
export interface ArmTrace {
  variant: 'baseline' | 'teleport';
  /** One point per optimizer step (the loss and ‖∇L‖² at the weights the step starts from), plus the final point. */
  points: CurvePoint[];
  teleports: tp.TeleportReport[];
  /** 2-D problems: the parameter after every step; a teleport adds the point it jumped to. */
  path: Array<[number, number]>;
  /** Indices into `path` of the points a teleport jumped to. */
  teleportPathIndices: number[];
  /** Wall time of each optimizer step (the teleport arm's include their teleports), in ms. */
  stepMs: number[];
}

/** A finished (or stopped) comparison. */
export interface RunResult {
  settings: PlaygroundSettings;
  backend: string;
  arms: { plain: ArmTrace; teleport: ArmTrace };
  /** Steps each arm took (fewer than settings.steps when stopped). */
  stepsDone: number;
  stopped: boolean;
  /** MLP: accuracy of each arm on the held-out digits after the run. */
  heldOut?: { plain: { loss: number; accuracy: number }; teleport: { loss: number; accuracy: number } };
  /** Median ms per step of the plain arm, and of the teleporting arm's steps without a teleport. */
  msPerStep: { plain: number; teleport: number };
  startedAt: string;
  seconds: number;
}

export interface RunHooks {
  /** Called after every step of both arms (throttle drawing yourself). */
  onStep?: (plain: ArmTrace, teleport: ArmTrace, step: number) => void;
  /** Polled between steps; true stops the run after the current step. */
  shouldStop?: () => boolean;
  /** The MLP's digits (loaded once by the page). */
  digits?: Digits;
}

/** The teleport options every problem shares. */
function teleportOptions(s: PlaygroundSettings, onTeleport: (r: tp.TeleportReport) => void): tp.TeleportOptimizerOptions {
  return {
    schedule: s.schedule,
    objective: s.objective,
    steps: s.ascentSteps,
    lr: s.ascentLr,
    normalize: s.normalize,
    maxGrowth: s.maxGrowth,
    maxTotalGrowth: s.maxTotalGrowth,
    maxLossDrift: s.maxLossDrift,
    seed: s.seed,
    onTeleport,
  };
}

/** A trainable arm: one step returns the loss and ‖∇L‖² at the weights it started from. */
interface Arm {
  trace: ArmTrace;
  step(step: number): Promise<{ loss: number; gradNormSq: number }>;
  /** Loss and ‖∇L‖² at the current weights, without stepping (the final point). */
  measure(step: number): Promise<{ loss: number; gradNormSq: number }>;
  /** MLP: loss and accuracy on a held-out batch. */
  evaluate?(b: tp.Batch): Promise<{ loss: number; accuracy: number }>;
  dispose(): void;
}

function emptyTrace(variant: ArmTrace['variant']): ArmTrace {
  return { variant, points: [], teleports: [], path: [], teleportPathIndices: [], stepMs: [] };
}

/** Loss and ‖∇L‖² at `vars`, and the gradients (the caller applies or disposes them). */
function lossAndGradients(loss: () => tf.Scalar, vars: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap; normSq: tf.Scalar } {
  const { value, grads } = tf.variableGrads(loss, vars);
  const normSq = tpAdvanced.gradNormSq(Object.values(grads)) as tf.Scalar;
  return { value, grads, normSq };
}

/** Reads the values of `owned` (disposed) then `borrowed` (kept) with one await: one sync point on webgl. */
async function readValues(owned: tf.Tensor[], borrowed: tf.Tensor[] = []): Promise<Float32Array> {
  const all = tf.tidy(() => tf.concat([...owned, ...borrowed].map(t => tf.reshape(t, [-1]))));
  const v = (await all.data()) as Float32Array;
  tf.dispose([...owned, all]);
  return v;
}

/** Reads two scalars with one await and disposes them. */
async function readPair(a: tf.Scalar, b: tf.Scalar): Promise<[number, number]> {
  const v = await readValues([a, b]);
  return [v[0], v[1]];
}

function functionArm(p: FunctionProblem, s: PlaygroundSettings, teleporting: boolean): Arm {
  const trace = emptyTrace(teleporting ? 'teleport' : 'baseline');
  const init = tf.tensor1d(p.start);
  const x = tf.variable(init);
  init.dispose();
  const loss = () => p.fn.loss(x as tf.Tensor1D);
  const position = (): [number, number] => {
    const v = x.dataSync();
    return [v[0], v[1]];
  };
  const inner = plainOptimizer(s.optimizer, s.lr);
  // The rotation groups teleport right after the inner step, inside the wrapper's applyGradients:
  // at scheduled steps note where the inner step landed, so the path shows the step and the jump apart.
  const due = tpAdvanced.compileSchedule(s.schedule);
  let capture = false;
  let afterInnerStep: [number, number] | null = null;
  const innerApply = inner.applyGradients.bind(inner);
  inner.applyGradients = grads => {
    innerApply(grads);
    if (capture) afterInnerStep = position();
  };
  const group =
    s.group === 'on' ? tpGroups.orthogonal(p.fn.bijection, 2) : tpGroups.so2(p.fn.bijection, { initAngle: s.group === 'so2-random' ? 'random' : 0 });
  let optimizer: tf.Optimizer = inner;
  try {
    if (teleporting)
      optimizer = tp.wrap(inner, { ...teleportOptions(s, r => trace.teleports.push(r)), group, lossOfParams: ([v]) => p.fn.loss(v as tf.Tensor1D) });
  } catch (e) {
    inner.dispose();
    x.dispose();
    throw e;
  }
  trace.path.push(position());
  const measure = async (step: number, applyStep: boolean) => {
    const { value, grads, normSq } = lossAndGradients(loss, [x]);
    const before = trace.teleports.length;
    capture = teleporting && (due.auto === true || due.isDue(step));
    afterInnerStep = null;
    if (applyStep) optimizer.applyGradients(grads);
    tf.dispose(grads);
    // Loss and ‖∇L‖² at the step's start, and x after it, in one read.
    const [l, g, x1, x2] = await readValues([value, normSq], [x]);
    if (applyStep) {
      const jumped = trace.teleports.slice(before).some(r => r.accepted);
      if (jumped && afterInnerStep != null) trace.path.push(afterInnerStep);
      trace.path.push([x1, x2]);
      if (jumped) trace.teleportPathIndices.push(trace.path.length - 1);
    }
    return { loss: l, gradNormSq: g };
  };
  return {
    trace,
    step: step => measure(step, true),
    measure: step => measure(step, false),
    dispose() {
      optimizer.dispose();
      x.dispose();
    },
  };
}

/** The current mini-batch, shared by both arms of an MLP run (same data, same order). */
interface BatchRef {
  current: tp.Batch | null;
}

function mlpArm(s: PlaygroundSettings, teleporting: boolean, batch: BatchRef): Arm {
  const trace = emptyTrace(teleporting ? 'teleport' : 'baseline');
  const model: LayersModel = buildMlp({ inputSize: 784, widths: s.widths, classes: 10, activation: s.activation, alpha: 0.1, seed: s.seed });
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  const crossEntropy = tpAdvanced.resolveLoss('categoricalCrossentropy', false);
  const inner = plainOptimizer(s.optimizer, s.lr);
  let optimizer: tf.Optimizer = inner;
  try {
    if (teleporting) {
      optimizer = tp.wrap(inner, {
        ...teleportOptions(s, r => trace.teleports.push(r)),
        model,
        group: s.group,
        loss: 'categoricalCrossentropy',
        // The step's own batch: data-dependent groups teleport on it, exact ones measure their drift on it.
        data: () => batch.current!,
      });
    }
  } catch (e) {
    // Bad options (e.g. a group that does not apply to this model) are found here: free what was made.
    inner.dispose();
    model.dispose();
    throw e;
  }
  // The playground's models have one input and one output: a batch's x and y are single tensors.
  const lossOn = (b: tp.Batch) => () => crossEntropy.compute(b.y as tf.Tensor, model.apply(b.x) as tf.Tensor);
  const measure = async (applyStep: boolean) => {
    const { value, grads, normSq } = lossAndGradients(lossOn(batch.current!), vars);
    if (applyStep) optimizer.applyGradients(grads);
    tf.dispose(grads);
    const [l, g] = await readPair(value, normSq);
    return { loss: l, gradNormSq: g };
  };
  return {
    trace,
    step: () => measure(true),
    measure: () => measure(false),
    evaluate: async (b: tp.Batch) => {
      const [l, a] = tf.tidy(() => {
        const p = model.apply(b.x) as tf.Tensor;
        const y = b.y as tf.Tensor;
        const correct = tf.equal(tf.argMax(p, -1), tf.argMax(y, -1));
        return [crossEntropy.compute(y, p), tf.mean(tf.cast(correct, 'float32')) as tf.Scalar];
      });
      const [loss, accuracy] = await readPair(l, a);
      return { loss, accuracy };
    },
    dispose() {
      optimizer.dispose();
      model.dispose();
    },
  };
}

/** Digits split into training and held-out parts by a seeded shuffle, and the epoch orders of the training part. */
class DigitBatches {
  readonly train: tp.Batch;
  readonly test: tp.Batch;
  readonly trainCount: number;
  private order: number[] = [];
  private cursor = 0;
  private readonly random: tpAdvanced.SeededRandom;

  constructor(
    digits: Digits,
    private readonly batchSize: number,
    seed: number,
  ) {
    this.random = new tpAdvanced.SeededRandom(seed);
    const perm = this.permutation(digits.count);
    this.trainCount = Math.round(digits.count * 0.8);
    const take = (idx: number[]) => {
      const x = new Float32Array(idx.length * digits.size);
      idx.forEach((src, i) => x.set(digits.x.subarray(src * digits.size, (src + 1) * digits.size), i * digits.size));
      const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(idx.map(i => digits.labels[i])), 'int32'), 10), 'float32'));
      return { x: tf.tensor2d(x, [idx.length, digits.size]), y };
    };
    this.train = take(perm.slice(0, this.trainCount));
    this.test = take(perm.slice(this.trainCount));
  }

  private permutation(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.random.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  /** The next mini-batch (a new shuffle every epoch); the caller disposes it. */
  next(): tp.Batch {
    if (this.cursor + this.batchSize > this.order.length) {
      this.order = this.permutation(this.trainCount);
      this.cursor = 0;
    }
    const idx = tf.tensor1d(this.order.slice(this.cursor, this.cursor + this.batchSize), 'int32');
    this.cursor += this.batchSize;
    const batch = { x: tf.gather(this.train.x as tf.Tensor, idx), y: tf.gather(this.train.y as tf.Tensor, idx) };
    idx.dispose();
    return batch;
  }

  get stepsPerEpoch(): number {
    return Math.max(1, Math.floor(this.trainCount / this.batchSize));
  }

  dispose(): void {
    tf.dispose([this.train.x, this.train.y, this.test.x, this.test.y]);
  }
}

const median = (v: number[]) => {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Lets the page draw and take input between steps. */
const yieldToPage = () => new Promise<void>(resolve => setTimeout(resolve, 0));

/**
 * Trains the plain and the teleporting arm side by side, step for step from the same start (same
 * weights, same batches), and returns both curves and every teleport report. Everything it makes is
 * disposed, also when a step throws (e.g. a group that does not apply to the model).
 */
export async function runComparison(s: PlaygroundSettings, hooks: RunHooks = {}): Promise<RunResult> {
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const problem = problemOf(s.problem);
  const batch: BatchRef = { current: null };
  let data: DigitBatches | null = null;
  const arms: Arm[] = [];
  try {
    if (problem.kind === 'function') {
      // One at a time: if the second throws, the first is already in the list the finally disposes.
      arms.push(functionArm(problem, s, false));
      arms.push(functionArm(problem, s, true));
    } else {
      if (hooks.digits == null) throw new Error('the MLP problem needs the digits: load them with loadDigits() first');
      data = new DigitBatches(hooks.digits, s.batchSize, s.seed);
      arms.push(mlpArm(s, false, batch));
      arms.push(mlpArm(s, true, batch));
    }
    const diverged = [false, false];
    const point = (step: number, r: { loss: number; gradNormSq: number }): CurvePoint => ({
      epoch: data ? step / data.stepsPerEpoch : step,
      step,
      seconds: (performance.now() - started) / 1000,
      trainLoss: r.loss,
      gradNormSq: r.gradNormSq,
    });
    let step = 0;
    let lastYield = performance.now();
    for (; step < s.steps; step++) {
      if (hooks.shouldStop?.()) break;
      if (data) batch.current = data.next();
      try {
        for (const [i, arm] of arms.entries()) {
          if (diverged[i]) continue;
          const t0 = performance.now();
          const r = await arm.step(step);
          arm.trace.stepMs.push(performance.now() - t0);
          arm.trace.points.push(point(step, r));
          if (!Number.isFinite(r.loss)) diverged[i] = true;
        }
      } finally {
        if (batch.current) tf.dispose([batch.current.x, batch.current.y]);
        batch.current = null;
      }
      hooks.onStep?.(arms[0].trace, arms[1].trace, step);
      if (performance.now() - lastYield > 30) {
        await yieldToPage();
        lastYield = performance.now();
      }
    }
    // The final point: loss and ‖∇L‖² where the run ended (the MLP's on its whole training set).
    if (data) batch.current = data.train;
    for (const [i, arm] of arms.entries()) if (!diverged[i]) arm.trace.points.push(point(step, await arm.measure(step)));
    let heldOut: RunResult['heldOut'];
    if (data) {
      const [a, b] = [await arms[0].evaluate!(data.test), await arms[1].evaluate!(data.test)];
      heldOut = { plain: a, teleport: b };
      const last = (t: ArmTrace, e: { loss: number; accuracy: number }) => {
        const p = t.points[t.points.length - 1];
        if (p) Object.assign(p, { valLoss: e.loss, valAccuracy: e.accuracy });
      };
      last(arms[0].trace, a);
      last(arms[1].trace, b);
    }
    batch.current = null;
    const teleportSteps = new Set(arms[1].trace.teleports.map(r => r.step));
    return {
      settings: s,
      backend: tf.getBackend(),
      arms: { plain: arms[0].trace, teleport: arms[1].trace },
      stepsDone: step,
      stopped: step < s.steps,
      heldOut,
      msPerStep: { plain: median(arms[0].trace.stepMs), teleport: median(arms[1].trace.stepMs.filter((_, i) => !teleportSteps.has(i))) },
      startedAt,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const arm of arms) arm.dispose();
    data?.dispose();
  }
}
