/**
 * Does the hand-made teleport help gradient descent on the meta family, and at which step sizes?
 * The measurements behind `meta-diagnose`: GD with and without the core's data-dependent GL
 * teleports (tp.teleport, group 'gl-data', objective gradNorm) on the regression family, and the
 * ideal one-teleport question (the loss k GD steps after teleporting by g = exp(s·D̂), D̂ the
 * ascent direction of ‖∇L(g·w)‖², against k steps from w; and the best g for the next step found
 * by descending on θ itself).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tp from '../../src/index.js';
import * as tpMeta from '../../src/meta.js';
import * as tpProblems from '../../src/problems.js';

/** Settings of the hand-made (core) teleport. */
export interface HandTeleportOptions {
  /** Ascent steps on θ (core `steps`). */
  steps: number;
  /** Normalized ascent step length (core `lr`). */
  lr: number;
  /** Cap on ‖∇L(g·w)‖² / ‖∇L(w)‖² (core `maxGrowth`). */
  maxGrowth: number;
}

/**
 * The two-layer regression task as a tfjs-layers model the core can teleport: row-major, so the
 * kernels are W₁ᵀ and W₂ᵀ, the batch is (Xᵀ, Yᵀ) and the loss is the sum of squares (the task's loss).
 */
export function taskModel(task: tpMeta.MetaTask): { model: tfl.LayersModel; batch: { x: Tensor2D; y: Tensor2D } } {
  if (task.data == null || task.params.length !== 2) throw new Error('meta-diagnose: needs a two-layer regression task (twoLayerRegression family)');
  const n = task.params[0].shape[0];
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ units: n, useBias: false, inputShape: [task.data.x.shape[0]] }),
      tfl.layers.leakyReLU({ alpha: 0.1 }),
      tfl.layers.dense({ units: task.data.y.shape[0], useBias: false }),
    ],
  });
  const batch = tf.tidy(() => ({ x: tf.transpose(task.data!.x) as Tensor2D, y: tf.transpose(task.data!.y) as Tensor2D }));
  return { model, batch };
}

/** Teleports `params` (the task's convention) once with the core's gl-data gradNorm ascent; the new parameters and the report. */
export async function handTeleport(
  task: tpMeta.MetaTask,
  params: readonly Tensor[],
  opts: HandTeleportOptions,
): Promise<{ params: Tensor[]; report: tp.TeleportReport }> {
  const { model, batch } = taskModel(task);
  try {
    const kernels = tf.tidy(() => params.map(p => tf.transpose(p)));
    model.setWeights(kernels);
    tf.dispose(kernels);
    const report = await tp.teleport(model, batch, {
      group: 'gl-data',
      loss: tpProblems.sumSquaredError,
      steps: opts.steps,
      lr: opts.lr,
      maxGrowth: opts.maxGrowth,
    });
    const out = tf.tidy(() => model.getWeights().map(w => tf.transpose(w)));
    return { params: out, report };
  } finally {
    model.dispose();
    tf.dispose([batch.x, batch.y]);
  }
}

/**
 * GD with step size `lr` for `steps` steps, teleporting (core gl-data ascent) before the steps listed in
 * `teleportAt` while the loss is within 10× its start; the loss before each step and after the last,
 * wall-clock ms at each, each teleport's growth of ‖∇L‖² (1 when rejected) and its relative loss drift.
 */
export async function gdWithTeleports(
  task: tpMeta.MetaTask,
  lr: number,
  steps: number,
  teleportAt: readonly number[],
  tele: HandTeleportOptions,
): Promise<{ losses: number[]; ms: number[]; growth: number[]; drift: number[] }> {
  let params = task.params.map(p => tf.clone(p));
  const losses: number[] = [];
  const ms: number[] = [];
  const growth: number[] = [];
  const drift: number[] = [];
  const t0 = performance.now();
  try {
    for (let t = 0; t <= steps; t++) {
      losses.push(tpMeta.lossValue(task, params));
      ms.push(performance.now() - t0);
      if (t === steps || !Number.isFinite(losses[t])) break;
      if (teleportAt.includes(t) && losses[t] <= 10 * losses[0]) {
        const r = await handTeleport(task, params, tele);
        tf.dispose(params);
        params = r.params;
        growth.push(r.report.accepted ? r.report.gradNormSqAfter / r.report.gradNormSqBefore : 1);
        drift.push(Math.abs(tpMeta.lossValue(task, params) - losses[t]) / losses[t]);
      }
      const next = tf.tidy(() => gdStep(task, params, lr));
      tf.dispose(params);
      params = next;
    }
  } finally {
    tf.dispose(params);
  }
  return { losses, ms, growth, drift };
}

/** A scalar's value, every tensor made on the way freed. */
function scalarValue(fn: () => Scalar): number {
  const t = tf.tidy(fn);
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}

/** One GD step on the task's loss: w − lr·∇L(w) (a differentiable function of `params`; call inside a tidy). */
function gdStep(task: tpMeta.MetaTask, params: readonly Tensor[], lr: number): Tensor[] {
  const g = tf.grads((...ps: Tensor[]) => task.loss(ps))([...params]);
  return params.map((w, j) => tf.sub(w, tf.mul(lr, g[j])));
}

/** k GD steps from `params` (a differentiable function of them): the loss after the last. */
function lossAfterSteps(task: tpMeta.MetaTask, params: readonly Tensor[], lr: number, k: number): Scalar {
  let p = [...params];
  for (let i = 0; i < k; i++) p = gdStep(task, p, lr);
  return task.loss(p);
}

/** One point of the scan along the ascent direction. */
export interface ScanPoint {
  /** ‖θ‖_F (θ = s·D̂; s < 0 descends on ‖∇L‖²). */
  s: number;
  /** ‖∇L(g·w)‖² / ‖∇L(w)‖². */
  growth: number;
  /** Relative loss change of the action itself. */
  drift: number;
  /** Loss after k GD steps from g·w, for each k asked, divided by the same from w. */
  ratio: number[];
}

/**
 * The ideal-teleport scan at w: D = ∂‖∇L(exp(θ)·w)‖²/∂θ at θ = 0 (the ascent direction the core
 * follows), and for each s the loss after k GD steps from exp(s·D/‖D‖)·w relative to k steps from w.
 */
export function scanAscentDirection(
  task: tpMeta.MetaTask,
  params: readonly Tensor[],
  lr: number,
  scales: readonly number[],
  ks: readonly number[],
): ScanPoint[] {
  const { blocks, n } = task.group!;
  const d = tpMeta.objectiveDerivative(params, task.loss, task.act!, blocks, n);
  try {
    const dHat = tf.tidy(() => tf.div(d, tf.norm(d)));
    const base = tf.tidy(() => {
      const g = tf.grads((...ps: Tensor[]) => task.loss(ps))([...params]);
      return tf.addN(g.map(x => tf.sum(tf.square(x))));
    });
    const baseNorm = base.dataSync()[0];
    const l0 = tpMeta.lossValue(task, params);
    const from = ks.map(k => scalarValue(() => lossAfterSteps(task, params, lr, k)));
    const out = scales.map(s =>
      tf.tidy(() => {
        const moved = task.act!(params, tf.mul(dHat, s));
        const g = tf.grads((...ps: Tensor[]) => task.loss(ps))(moved);
        const growth = tf.addN(g.map(x => tf.sum(tf.square(x)))).dataSync()[0] / baseNorm;
        const drift = Math.abs(task.loss(moved).dataSync()[0] - l0) / l0;
        const ratio = ks.map((k, i) => lossAfterSteps(task, moved, lr, k).dataSync()[0] / from[i]);
        return { s, growth, drift, ratio };
      }),
    );
    tf.dispose([dHat, base]);
    return out;
  } finally {
    d.dispose();
  }
}

/**
 * The best teleport for the next k GD steps, found by Adam on θ itself (any direction, ‖θ‖_F ≤ τ by
 * the same magnitude normalization as the meta-teleporter's m2): min over θ of L(k GD steps from
 * exp(θ)·w), relative to k steps from w. This bounds what a learned m2 trained on a k-step horizon can get.
 */
export function bestTeleport(
  task: tpMeta.MetaTask,
  params: readonly Tensor[],
  lr: number,
  k: number,
  tau: number,
  iterations: number,
): { ratio: number; thetaNorm: number } {
  const { blocks, n } = task.group!;
  const from = scalarValue(() => lossAfterSteps(task, params, lr, k));
  const a = tf.variable(tf.zeros([blocks, n * n]), true);
  const opt = tf.train.adam(0.05);
  const thetaOf = (v: Tensor) => {
    const size = tf.sqrt(tf.add(tf.sum(tf.square(v), 1, true), tau * tau));
    return tf.reshape(tf.div(tf.mul(v, tau), size), [blocks, n, n]);
  };
  let best = from;
  let bestNorm = 0;
  try {
    for (let i = 0; i < iterations; i++) {
      const cost = opt.minimize(() => tf.log(lossAfterSteps(task, task.act!(params, thetaOf(a)), lr, k)) as Scalar, true, [a]);
      const v = Math.exp(cost!.dataSync()[0]);
      cost!.dispose();
      if (v < best) {
        best = v;
        bestNorm = tf.tidy(() => tf.norm(thetaOf(a)).dataSync()[0]);
      }
    }
  } finally {
    a.dispose();
    opt.dispose();
  }
  // The value at the iterate before the last update is what minimize returned; best is over those.
  return { ratio: best / from, thetaNorm: bestNorm };
}

/**
 * A hand-made curvature-aware teleport: g = exp(−s·Dₖ/‖Dₖ‖), Dₖ = ∂ log L(k GD steps from exp(θ)·w)/∂θ
 * at θ = 0 (the k-step lookahead), s picked from `scales` (or 0) by the same k-step lookahead. Not a
 * product feature: it shows whether any group element helps GD at a step size, beyond the
 * gradient-norm ascent direction.
 */
export function lookaheadTeleport(
  task: tpMeta.MetaTask,
  params: readonly Tensor[],
  lr: number,
  k: number,
  scales: readonly number[],
): { params: Tensor[]; s: number } {
  const { blocks, n } = task.group!;
  const dir = tf.tidy(() => {
    const d = tf.grad((th: Tensor) => tf.log(lossAfterSteps(task, task.act!(params, th), lr, k)))(tf.zeros([blocks, n, n]));
    return tf.div(d, tf.norm(d));
  });
  try {
    let best = scalarValue(() => lossAfterSteps(task, params, lr, k));
    let bestS = 0;
    for (const s of scales) {
      const v = tf.tidy(() => lossAfterSteps(task, task.act!(params, tf.mul(dir, -s)), lr, k).dataSync()[0]);
      if (v < best) {
        best = v;
        bestS = s;
      }
    }
    const out = bestS === 0 ? params.map(p => tf.clone(p)) : tf.tidy(() => task.act!(params, tf.mul(dir, -bestS)));
    return { params: out, s: bestS };
  } finally {
    dir.dispose();
  }
}

/** GD with `lookaheadTeleport` before the steps in `teleportAt`: losses before each step and after the last. */
export function gdWithLookahead(
  task: tpMeta.MetaTask,
  lr: number,
  steps: number,
  teleportAt: readonly number[],
  k: number,
  scales: readonly number[],
): { losses: number[] } {
  let params = task.params.map(p => tf.clone(p));
  const losses: number[] = [];
  try {
    for (let t = 0; t <= steps; t++) {
      losses.push(tpMeta.lossValue(task, params));
      if (t === steps || !Number.isFinite(losses[t])) break;
      if (teleportAt.includes(t) && losses[t] <= 10 * losses[0]) {
        const r = lookaheadTeleport(task, params, lr, k, scales);
        tf.dispose(params);
        params = r.params;
      }
      const next = tf.tidy(() => gdStep(task, params, lr));
      tf.dispose(params);
      params = next;
    }
  } finally {
    tf.dispose(params);
  }
  return { losses };
}
