/**
 * `width-study` (Sareen et al. §8.2, Fig. 7): a teacher MLP of hidden width n_f generates regression
 * targets; students of width n_f·m (m = 1, 2, 4, 8) are trained from scratch to match it, and their
 * Hessians at convergence are measured (condition number λmax/λmin⁺, top eigenvalue, AM/GM ratio ω)
 * with the steps they took. The teacher split m ways by `split` (a global minimum of the wider
 * student, by construction) is measured beside them.
 */
import type { Argv } from 'yargs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpHessian from '../../src/hessian.js';
import * as tpSurgery from '../../src/surgery.js';
import { gaussian } from '../../src/objectives/curvature.js';
import { symmetricEigenNumbers } from '../../src/linalg/float64.js';
import { createProgress } from '../train/progress.js';
import { renderChart, writeChart } from '../report/charts.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';
import { backendOption, defaultOut, parseNumberList, positiveNumber, useBackend, UsageError } from './common.js';

export const WIDTH_ACTIVATIONS = ['sigmoid', 'relu', 'tanh'] as const;
export type WidthActivation = (typeof WIDTH_ACTIVATIONS)[number];
export const WIDTH_OPTIMIZERS = ['adam', 'sgd'] as const;
export type WidthOptimizer = (typeof WIDTH_OPTIMIZERS)[number];
/** Sareen et al. Table 1 (MLP student-teacher): Adam 0.01, SGD 0.1. */
const DEFAULT_LR: Record<WidthOptimizer, number> = { adam: 0.01, sgd: 0.1 };

export interface WidthStudyArgs {
  teacherWidth: number;
  depth: number;
  multipliers: string;
  activation: WidthActivation;
  inputDim?: number;
  samples: number;
  optimizer: WidthOptimizer;
  lr?: number;
  maxSteps: number;
  targetLoss: number;
  seeds: number;
  seed: number;
  maxFull: number;
  topK: number;
  zeroTolerance: number;
  split: boolean;
  out?: string;
  quiet: boolean;
  backend?: string;
}

/** One measured network: a student trained from scratch, the teacher split m ways, or the teacher itself. */
export interface StudentRow {
  source: 'scratch' | 'split' | 'teacher';
  multiplier: number;
  width: number;
  seed: number | null;
  params: number;
  /** First step whose full-batch loss was ≤ the target; null if it never got there. 0 for split and teacher. */
  steps: number | null;
  finalLoss: number;
  /** 'full' (exact spectrum) or 'lanczos' (top-k only: κ and ω over those k). */
  spectrum: 'full' | 'lanczos';
  lambdaMax: number;
  conditionNumber: number;
  amgm: number;
  rank: number;
  /** Eigenvalues below −tolerance (a student not exactly at a minimum). */
  negative: number;
  logPdet: number;
  /** tr H: exact from the full Hessian, else Hutchinson's estimate. */
  trace: number;
  seconds: number;
  /** The eigenvalues measured (all of them from the full Hessian, else the top-k), ascending. */
  eigenvalues: number[];
  /** The network's weights (model.getWeights() order, nested arrays), for recomputation. */
  weights: number[][] | number[][][];
}

interface Scale {
  teacherWidth: number;
  depth: number;
  multipliers: number[];
  activation: WidthActivation;
  inputDim: number;
  outputDim: number;
  samples: number;
  optimizer: WidthOptimizer;
  lr: number;
  maxSteps: number;
  targetLoss: number;
  seeds: number;
  seed: number;
  maxFull: number;
  topK: number;
  zeroTolerance: number;
  split: boolean;
  backend: string;
  seconds: number;
}

function integer(flag: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(v) || v < min || v > max)
    throw new UsageError(`${flag} must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ' up'}, got ${v}`);
  return v;
}

function nonNegative(flag: string, v: number): number {
  if (!(v >= 0) || !Number.isFinite(v)) throw new UsageError(`${flag} must be a number ≥ 0, got ${v}`);
  return v;
}

/** An MLP inputDim → width (× depth hidden layers, `activation`) → outputDim (linear), glorot-initialized from `seed`. */
export function buildWidthMlp(inputDim: number, width: number, depth: number, outputDim: number, activation: WidthActivation, seed: number): tfl.LayersModel {
  const model = tfl.sequential();
  let s = seed * 1009 + 1;
  for (let l = 0; l < depth; l++)
    model.add(
      tfl.layers.dense({
        units: width,
        activation,
        inputShape: l === 0 ? [inputDim] : undefined,
        kernelInitializer: tfl.initializers.glorotUniform({ seed: s++ }),
      }),
    );
  model.add(tfl.layers.dense({ units: outputDim, activation: 'linear', kernelInitializer: tfl.initializers.glorotUniform({ seed: s++ }) }));
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}

/** Standard normal inputs from tp.SeededRandom. */
function gaussianInputs(rows: number, dim: number, seed: number): tf.Tensor2D {
  const random = new tpAdvanced.SeededRandom(seed).source;
  return tf.tensor2d(
    Float32Array.from({ length: rows * dim }, () => gaussian(random)),
    [rows, dim],
  );
}

function fullBatchLoss(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => tf.losses.meanSquaredError(y, model.predict(x) as tf.Tensor).dataSync()[0]);
}

/** Full-batch training until the loss is ≤ target (checked before every step) or maxSteps; returns the step it got there or null. */
function train(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  scale: Scale,
  onStep: (step: number, loss: number) => void,
): { steps: number | null; loss: number } {
  const optimizer = scale.optimizer === 'adam' ? tf.train.adam(scale.lr) : tf.train.sgd(scale.lr);
  const vars = model.trainableWeights.map(w => w.read() as tf.Variable);
  try {
    for (let step = 0; step < scale.maxSteps; step++) {
      const cost = optimizer.minimize(() => tf.losses.meanSquaredError(y, model.apply(x) as tf.Tensor) as tf.Scalar, true, vars)!;
      const loss = cost.dataSync()[0];
      cost.dispose();
      onStep(step, loss);
      // The loss of minimize() is the one before this step's update: step k's loss is L(w_k).
      if (loss <= scale.targetLoss) return { steps: step, loss };
      if (!Number.isFinite(loss)) return { steps: null, loss };
    }
    const loss = fullBatchLoss(model, x, y);
    return { steps: loss <= scale.targetLoss ? scale.maxSteps : null, loss };
  } finally {
    optimizer.dispose();
  }
}

/** Hessian statistics of the MSE on the training set at the model's weights. */
function measure(model: tfl.LayersModel, x: tf.Tensor, y: tf.Tensor, scale: Scale, seed: number) {
  const target = { model, data: { x, y } };
  const params = model.countParams();
  if (params <= scale.maxFull) {
    const h = tpHessian.full(target, { maxParams: scale.maxFull });
    const values = symmetricEigenNumbers(Array.from({ length: h.n }, (_, i) => Array.from(h.matrix.subarray(i * h.n, (i + 1) * h.n)))).values;
    const s = tpHessian.stats(values, { tolerance: scale.zeroTolerance * Math.max(...values.map(Math.abs)) });
    let trace = 0;
    for (let i = 0; i < h.n; i++) trace += h.matrix[i * h.n + i];
    return { spectrum: 'full' as const, s, trace, values };
  }
  const k = Math.min(scale.topK, params);
  const { values } = tpHessian.topEigenvalues(target, k, { iterations: Math.min(params, 2 * k + 10), seed });
  const s = tpHessian.stats(values, { tolerance: scale.zeroTolerance * Math.max(...values.map(Math.abs)) });
  const trace = tpHessian.trace(target, { samples: 50, seed }).estimate;
  return { spectrum: 'lanczos' as const, s, trace, values: [...values].reverse() };
}

/** Splits every hidden layer of the teacher `ways` times (even coefficients): a wider network with the same function. */
function splitTeacher(teacher: tfl.LayersModel, depth: number, width: number, ways: number): tfl.LayersModel {
  let model = teacher;
  for (let l = 0; l < depth; l++) {
    const next = tpSurgery.split(model, { layer: l, neurons: Array.from({ length: width }, (_, j) => j), ways });
    if (model !== teacher) model.dispose();
    model = next;
  }
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
}

function row(
  source: StudentRow['source'],
  multiplier: number,
  seed: number | null,
  model: tfl.LayersModel,
  steps: number | null,
  loss: number,
  m: ReturnType<typeof measure>,
  started: number,
): StudentRow {
  return {
    source,
    multiplier,
    width: (model.layers[0].getConfig().units as number) ?? 0,
    seed,
    params: model.countParams(),
    steps,
    finalLoss: loss,
    spectrum: m.spectrum,
    lambdaMax: m.s.positive[0] ?? Number.NaN,
    conditionNumber: m.s.conditionNumber,
    amgm: m.s.amgm,
    rank: m.s.rank,
    negative: m.s.negative,
    logPdet: m.s.logPdet,
    trace: m.trace,
    seconds: (performance.now() - started) / 1000,
    eigenvalues: m.values,
    weights: model.getWeights().map(w => w.arraySync() as number[][]),
  };
}

export async function runWidthStudy(args: WidthStudyArgs): Promise<{ rows: StudentRow[]; outDir: string; files: string[] }> {
  // Every flag is checked before anything is trained.
  const teacherWidth = integer('--teacher-width', args.teacherWidth, 1);
  const depth = integer('--depth', args.depth, 1, 3);
  const multipliers = parseNumberList('--multipliers', args.multipliers);
  if (multipliers.some(m => !Number.isInteger(m) || m < 1))
    throw new UsageError(`--multipliers must be positive integers (student width = teacher width × m), got '${args.multipliers}'`);
  if (!WIDTH_ACTIVATIONS.includes(args.activation))
    throw new UsageError(`--activation must be one of ${WIDTH_ACTIVATIONS.join(', ')}, got '${args.activation}'`);
  if (!WIDTH_OPTIMIZERS.includes(args.optimizer)) throw new UsageError(`--optimizer must be one of ${WIDTH_OPTIMIZERS.join(', ')}, got '${args.optimizer}'`);
  const inputDim = integer('--input-dim', args.inputDim ?? teacherWidth, 1);
  const scale: Scale = {
    teacherWidth,
    depth,
    multipliers: [...new Set(multipliers)].sort((a, b) => a - b),
    activation: args.activation,
    inputDim,
    outputDim: inputDim,
    samples: integer('--samples', args.samples, 2),
    optimizer: args.optimizer,
    lr: positiveNumber('--lr', args.lr ?? DEFAULT_LR[args.optimizer]),
    maxSteps: integer('--max-steps', args.maxSteps, 1),
    targetLoss: positiveNumber('--target-loss', args.targetLoss),
    seeds: integer('--seeds', args.seeds, 1),
    seed: integer('--seed', args.seed, 0),
    maxFull: integer('--max-full', args.maxFull, 1),
    topK: integer('--top-k', args.topK, 2),
    zeroTolerance: nonNegative('--zero-tolerance', args.zeroTolerance),
    split: args.split,
    backend: '',
    seconds: 0,
  };
  const outDir = args.out ?? defaultOut('width-study');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  scale.backend = await useBackend(args.backend, m => progress.log(m));
  const t0 = performance.now();
  const x = gaussianInputs(scale.samples, inputDim, scale.seed * 7 + 3);
  const teacher = buildWidthMlp(inputDim, teacherWidth, depth, inputDim, scale.activation, 1_000_000 + scale.seed);
  const y = tf.tidy(() => teacher.predict(x) as tf.Tensor);
  progress.log(
    `width-study: teacher ${inputDim}-${Array(depth).fill(teacherWidth).join('-')}-${inputDim} ${scale.activation}; students × ${scale.multipliers.join(', ')}; ${scale.seeds} seed(s); ${scale.optimizer} lr ${scale.lr}, full batch of ${scale.samples}, ≤ ${scale.maxSteps} steps to loss ≤ ${scale.targetLoss}; backend ${scale.backend}`,
  );
  const rows: StudentRow[] = [];
  try {
    {
      const started = performance.now();
      rows.push(row('teacher', 1, null, teacher, 0, fullBatchLoss(teacher, x, y), measure(teacher, x, y, scale, scale.seed), started));
    }
    for (const m of scale.multipliers) {
      const width = teacherWidth * m;
      for (let k = 0; k < scale.seeds; k++) {
        const seed = scale.seed + k;
        const started = performance.now();
        const student = buildWidthMlp(inputDim, width, depth, inputDim, scale.activation, seed);
        try {
          progress.start(scale.maxSteps, `width ${width} seed ${seed}`.padEnd(20));
          const result = train(student, x, y, scale, (s, loss) => progress.update(s + 1, { loss }));
          progress.stop();
          const r = row('scratch', m, seed, student, result.steps, result.loss, measure(student, x, y, scale, seed), started);
          rows.push(r);
          progress.log(
            `  width ${width} seed ${seed}: ${r.steps == null ? `not converged in ${scale.maxSteps} steps` : `${r.steps} steps`}, loss ${r.finalLoss.toExponential(2)}, λmax ${r.lambdaMax.toPrecision(4)}, κ ${r.conditionNumber.toPrecision(4)}, ω ${r.amgm.toPrecision(4)}`,
          );
        } finally {
          student.dispose();
        }
      }
      if (scale.split && m > 1) {
        const started = performance.now();
        const wide = splitTeacher(teacher, depth, teacherWidth, m);
        try {
          const r = row('split', m, null, wide, 0, fullBatchLoss(wide, x, y), measure(wide, x, y, scale, scale.seed), started);
          rows.push(r);
          progress.log(
            `  width ${width} split teacher: loss ${r.finalLoss.toExponential(2)}, λmax ${r.lambdaMax.toPrecision(4)}, κ ${r.conditionNumber.toPrecision(4)}, ω ${r.amgm.toPrecision(4)}`,
          );
        } finally {
          wide.dispose();
        }
      }
    }
  } finally {
    teacher.dispose();
  }
  const data = { x: x.arraySync() as number[][], y: y.arraySync() as number[][] };
  tf.dispose([x, y]);
  scale.seconds = (performance.now() - t0) / 1000;
  const files = await writeAllOrNothing(outDir, dir => writeWidthStudy(dir, rows, scale, data));
  progress.log(`wrote ${files.length} files to ${outDir} (summary: ${join(outDir, 'summary.md')}); ${scale.seconds.toFixed(0)} s`);
  return { rows, outDir, files };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

const fmt = (v: number | null) =>
  v == null || !Number.isFinite(v) ? '—' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toPrecision(4);

/** Per multiplier: the from-scratch students' medians (steps over converged ones) and the split teacher's values. */
export function widthTable(rows: readonly StudentRow[], scale: Pick<Scale, 'multipliers' | 'teacherWidth' | 'seeds'>) {
  return scale.multipliers.map(m => {
    const scratch = rows.filter(r => r.source === 'scratch' && r.multiplier === m);
    const converged = scratch.filter(r => r.steps != null);
    const split = rows.find(r => r.source === 'split' && r.multiplier === m) ?? null;
    return {
      multiplier: m,
      width: scale.teacherWidth * m,
      params: scratch[0]?.params ?? split?.params ?? 0,
      converged: converged.length,
      students: scratch.length,
      steps: converged.length ? median(converged.map(r => r.steps!)) : null,
      finalLoss: median(scratch.map(r => r.finalLoss)),
      lambdaMax: median(scratch.map(r => r.lambdaMax)),
      conditionNumber: median(scratch.map(r => r.conditionNumber)),
      amgm: median(scratch.map(r => r.amgm)),
      negative: median(scratch.map(r => r.negative)),
      split,
    };
  });
}

/** "falls", "rises" or "is not monotone" over the widths, for the reading. */
function trend(values: readonly number[]): string {
  const v = values.filter(Number.isFinite);
  if (v.length < 2) return 'cannot be compared (fewer than two widths)';
  const down = v.every((x, i) => i === 0 || x <= v[i - 1]);
  const up = v.every((x, i) => i === 0 || x >= v[i - 1]);
  return down ? 'falls monotonically' : up ? 'rises monotonically' : 'is not monotone';
}

const TOLERANCES = [1e-8, 1e-6, 1e-4];

/** κ (median over the from-scratch students, and the split teacher) recomputed at other zero tolerances: how much the verdict depends on it. */
function sensitivity(rows: readonly StudentRow[], scale: Scale): string[] {
  const kappa = (r: StudentRow, rel: number) => tpHessian.stats(r.eigenvalues, { tolerance: rel * Math.max(...r.eigenvalues.map(Math.abs)) }).conditionNumber;
  const out = [
    '## How κ depends on the zero tolerance',
    '',
    'λmin⁺ is the smallest eigenvalue above the tolerance (relative to max|λ|), so κ moves with it; so do the rank and ω, which average over the eigenvalues kept. The same spectra, recomputed:',
    '',
    `| width | ${TOLERANCES.map(t => `κ scratch, tol ${t.toExponential(0)}`).join(' | ')} | ${scale.split ? TOLERANCES.map(t => `κ split, tol ${t.toExponential(0)}`).join(' | ') : ''} |`,
    `|---:|${TOLERANCES.map(() => '---:').join('|')}|${scale.split ? TOLERANCES.map(() => '---:').join('|') : ''}|`,
  ];
  for (const m of scale.multipliers) {
    const scratch = rows.filter(r => r.source === 'scratch' && r.multiplier === m);
    const split = rows.find(r => r.source === (m === 1 ? 'teacher' : 'split') && r.multiplier === m);
    const cells = TOLERANCES.map(t => fmt(median(scratch.map(r => kappa(r, t)))));
    const splitCells = scale.split ? TOLERANCES.map(t => (split ? fmt(kappa(split, t)) : '—')) : [];
    out.push(`| ${scale.teacherWidth * m} | ${cells.join(' | ')} | ${splitCells.join(' | ')} |`);
  }
  out.push('', `At width ${scale.teacherWidth} the split column is the teacher itself.`);
  return out;
}

/** Where the split teacher is better or worse conditioned than the students trained at the same width. */
function splitComparison(table: ReturnType<typeof widthTable>): string {
  const both = table.filter(t => t.split != null && Number.isFinite(t.conditionNumber) && Number.isFinite(t.split.conditionNumber));
  if (both.length === 0) return '';
  const lower = both.filter(t => t.split!.conditionNumber < t.conditionNumber).map(t => t.width);
  const lowerOmega = both.filter(t => t.split!.amgm < t.amgm).map(t => t.width);
  return `The split teacher has a smaller κ than the median student trained from scratch at ${lower.length ? `width${lower.length > 1 ? 's' : ''} ${lower.join(', ')}` : 'no width'} of ${both.length}, and a smaller ω at ${lowerOmega.length ? lowerOmega.join(', ') : 'none'}.`;
}

export function widthSummary(rows: readonly StudentRow[], scale: Scale): string {
  const table = widthTable(rows, scale);
  const teacher = rows.find(r => r.source === 'teacher')!;
  const arch = (w: number) => `${scale.inputDim}-${Array(scale.depth).fill(w).join('-')}-${scale.outputDim}`;
  const lines = [
    '# Width study: Hessian conditioning and convergence against width (Sareen et al. §8.2, Fig. 7)',
    '',
    `Teacher ${arch(scale.teacherWidth)} MLP (${scale.activation}, glorot init, seed ${1_000_000 + scale.seed}) generates the targets of ${scale.samples} inputs x ~ N(0, I) (seeded). Students ${scale.multipliers.map(m => arch(scale.teacherWidth * m)).join(', ')} (${scale.seeds} seed${scale.seeds === 1 ? '' : 's'} each) are trained from scratch on the MSE with ${scale.optimizer} (lr ${scale.lr}, full batch) until the loss is ≤ ${scale.targetLoss} or ${scale.maxSteps} steps. The Hessian of that loss is taken where training stopped: ${rows.some(r => r.spectrum === 'lanczos') ? `the full Hessian up to ${scale.maxFull} parameters, Lanczos top-${scale.topK} above (κ and ω then over those eigenvalues)` : 'the full Hessian (every network here has ≤ ' + scale.maxFull + ' parameters)'}; eigenvalues with |λ| ≤ ${scale.zeroTolerance}·max|λ| count as zero (\`--zero-tolerance\`; κ, ω and the rank depend on it). Backend ${scale.backend}, ${scale.seconds.toFixed(0)} s.`,
    '',
    `**Scale.** The paper: n_f = 8 (d_in = d_out = 8), depth 1–3, students n_f·{1, 2, 4, 8, 16}, 5 students per width × seeds 0–2, fresh N(0, I) batches every step, μP, SGD 0.1 for ≤ 50k or Adam 0.01 for ≤ 5k epochs, stop at 5×10⁻⁵, Lanczos top-100. For that scale: \`--teacher-width 8 --multipliers 1,2,4,8,16 --seeds 5 --target-loss 5e-5 --max-steps 5000 --samples 1024 --top-k 100\` (and \`--optimizer sgd --max-steps 50000\`; \`--depth 3\`). Differences that remain: a fixed training set instead of online batches, standard parametrization instead of μP.`,
    '',
    '## Students trained from scratch (medians over seeds)',
    '',
    '| width | × | params | converged | steps to loss ≤ target | final loss | λmax | κ = λmax/λmin⁺ | ω (AM/GM) | negative eigenvalues |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...table.map(
      t =>
        `| ${t.width} | ${t.multiplier} | ${t.params} | ${t.converged}/${t.students} | ${fmt(t.steps)} | ${fmt(t.finalLoss)} | ${fmt(t.lambdaMax)} | ${fmt(t.conditionNumber)} | ${fmt(t.amgm)} | ${t.negative} |`,
    ),
    '',
    `Steps are the median over the students that converged; a width where none did shows —.`,
    '',
  ];
  if (scale.split) {
    lines.push(
      '## The teacher split into wider students (`split`, even coefficients, every hidden unit × m)',
      '',
      `Each split student computes the teacher's function exactly, so it sits at a global minimum (loss 0 up to float32) without training. The teacher itself (width ${scale.teacherWidth}): λmax ${fmt(teacher.lambdaMax)}, κ ${fmt(teacher.conditionNumber)}, ω ${fmt(teacher.amgm)}, rank ${teacher.rank} of ${teacher.params}.`,
      '',
      '| width | × | params | loss | rank | λmax | κ | ω | tr H | scratch λmax | scratch κ | scratch ω |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...table
        .filter(t => t.split != null)
        .map(
          t =>
            `| ${t.width} | ${t.multiplier} | ${t.params} | ${fmt(t.split!.finalLoss)} | ${t.split!.rank} | ${fmt(t.split!.lambdaMax)} | ${fmt(t.split!.conditionNumber)} | ${fmt(t.split!.amgm)} | ${fmt(t.split!.trace)} | ${fmt(t.lambdaMax)} | ${fmt(t.conditionNumber)} | ${fmt(t.amgm)} |`,
        ),
      '',
    );
  }
  lines.push(...sensitivity(rows, scale), '');
  const converged = table.filter(t => t.converged > 0);
  const reading = [
    `Over the widths ${table.map(t => t.width).join(', ')}, the from-scratch students' median κ ${trend(table.map(t => t.conditionNumber))}, λmax ${trend(table.map(t => t.lambdaMax))}, ω ${trend(table.map(t => t.amgm))}` +
      (converged.length >= 2
        ? `, and the steps to the target ${trend(converged.map(t => t.steps!))} (over the ${converged.length} widths where some student converged).`
        : '.'),
    trend(table.map(t => t.lambdaMax)) === 'rises monotonically'
      ? 'Fig. 7 reports λmax falling with width; this run differs from its setup in the parametrization (standard, glorot init, where the paper uses μP) and in the data (one fixed training set), so the comparison is not like for like.'
      : '',
    splitComparison(table),
    table.some(t => t.converged < t.students)
      ? `Not every student reached the target (${table.map(t => `${t.converged}/${t.students} at width ${t.width}`).join(', ')}).`
      : 'Every student reached the target loss.',
    table.some(t => t.negative > 0)
      ? `Stopping at a loss of ${scale.targetLoss} is not stopping at a minimum: the students' Hessians have negative eigenvalues (median ${table.map(t => `${t.negative} at width ${t.width}`).join(', ')}), so κ and ω describe only their positive part (the tolerance table shows how κ moves with the cutoff).`
      : '',
    table.length < 3 || scale.seeds < 3
      ? `With ${scale.seeds} seed${scale.seeds === 1 ? '' : 's'} per width these trends are indicative only; Fig. 7 averages 5 students × 3 seeds.`
      : '',
  ];
  lines.push('## Reading', '', reading.filter(Boolean).join(' '), '');
  lines.push(
    'Per-network values (and weights): `students.csv`, `students.json` (with the training inputs and targets). Charts: `condition_number_vs_width`, `top_eigenvalue_vs_width`, `amgm_vs_width`, `steps_vs_width` (PNG and SVG).',
    '',
  );
  return lines.join('\n');
}

const SCRATCH = 'students trained from scratch';
const SPLIT = 'teacher (width n_f) and its split';

async function chartOf(rows: readonly StudentRow[], key: 'conditionNumber' | 'lambdaMax' | 'amgm' | 'steps', title: string, scale: Scale) {
  const values = rows
    .filter(r => scale.split || r.source === 'scratch')
    .map(r => ({ width: r.width, value: r[key], source: r.source === 'scratch' ? SCRATCH : SPLIT }))
    .filter(v => v.value != null && Number.isFinite(v.value) && (v.value as number) > 0);
  const log = key !== 'amgm';
  return renderChart({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `${title} vs student width`,
      subtitle: `teacher width ${scale.teacherWidth}, depth ${scale.depth}, ${scale.activation}, ${scale.optimizer}; points per seed, line = median`,
    },
    width: 380,
    height: 280,
    background: 'white',
    data: { values },
    encoding: {
      x: {
        field: 'width',
        type: 'quantitative',
        scale: { type: 'log', base: 2 },
        axis: { values: scale.multipliers.map(m => m * scale.teacherWidth) },
        title: 'student width n',
      },
      color: {
        field: 'source',
        type: 'nominal',
        title: null,
        scale: { domain: [SCRATCH, SPLIT], range: ['#1f77b4', '#d62728'] },
        legend: { orient: 'bottom', labelLimit: 400 },
      },
    },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 50, opacity: 0.7 },
        encoding: { y: { field: 'value', type: 'quantitative', scale: log ? { type: 'log' } : { zero: false }, title } },
      },
      { mark: { type: 'line' }, encoding: { y: { aggregate: 'median', field: 'value', type: 'quantitative' } } },
    ],
  } as never);
}

async function writeWidthStudy(dir: string, rows: StudentRow[], scale: Scale, data: { x: number[][]; y: number[][] }): Promise<string[]> {
  const files: string[] = [];
  const keys = [
    'source',
    'multiplier',
    'width',
    'seed',
    'params',
    'steps',
    'finalLoss',
    'spectrum',
    'lambdaMax',
    'conditionNumber',
    'amgm',
    'rank',
    'logPdet',
    'trace',
    'seconds',
  ] as const;
  const header = 'source,multiplier,width,seed,params,steps,final_loss,spectrum,lambda_max,condition_number,amgm,rank,negative,log_pdet,trace,seconds';
  const csv = [header, ...rows.map(r => keys.map(k => (r[k] == null ? '' : String(r[k]))).join(','))].join('\n');
  writeFileSync(join(dir, 'students.csv'), `${csv}\n`);
  writeFileSync(
    join(dir, 'students.json'),
    JSON.stringify({ scale, data, students: rows }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v)),
  );
  writeFileSync(join(dir, 'summary.md'), widthSummary(rows, scale));
  files.push(join(dir, 'students.csv'), join(dir, 'students.json'), join(dir, 'summary.md'));
  const charts = [
    ['conditionNumber', 'condition number κ', 'condition_number_vs_width'],
    ['lambdaMax', 'top eigenvalue λmax', 'top_eigenvalue_vs_width'],
    ['amgm', 'AM/GM ratio ω', 'amgm_vs_width'],
    ['steps', 'steps to convergence', 'steps_vs_width'],
  ] as const;
  for (const [key, title, name] of charts) {
    await writeChart(join(dir, name), await chartOf(rows, key, title, scale));
    files.push(join(dir, `${name}.png`), join(dir, `${name}.svg`));
  }
  return files;
}

export function registerWidthStudy(y: Argv) {
  return y.command(
    'width-study',
    'Sareen et al. Fig. 7: students of width n_f·m trained to match a teacher of width n_f; Hessian condition number, top eigenvalue, AM/GM ratio and steps to convergence against width, beside the teacher split by split()',
    yy =>
      yy
        .option('teacher-width', { type: 'number', default: 4, describe: 'teacher hidden width n_f (the paper: 8)' })
        .option('depth', { type: 'number', default: 1, describe: 'hidden layers, 1–3 (the paper: 1, 2, 3)' })
        .option('multipliers', { type: 'string', default: '1,2,4,8', describe: 'student widths as multiples of n_f (the paper: 1,2,4,8,16)' })
        .option('activation', {
          choices: WIDTH_ACTIVATIONS,
          default: 'sigmoid' as WidthActivation,
          describe: 'hidden activation (the paper: relu and sigmoid)',
        })
        .option('input-dim', { type: 'number', describe: 'input and output dimension (default n_f, as in the paper)' })
        .option('samples', { type: 'number', default: 256, describe: 'training inputs x ~ N(0, I), one full batch (the paper: fresh batches each step)' })
        .option('optimizer', { choices: WIDTH_OPTIMIZERS, default: 'adam' as WidthOptimizer, describe: 'the paper: sgd and adam' })
        .option('lr', { type: 'number', describe: 'learning rate (default: adam 0.01, sgd 0.1, as in the paper)' })
        .option('max-steps', { type: 'number', default: 2000, describe: 'training steps at most (the paper: adam 5k, sgd 50k epochs)' })
        .option('target-loss', { type: 'number', default: 1e-4, describe: 'converged when the full-batch MSE is ≤ this (the paper: 5e-5)' })
        .option('seeds', { type: 'number', default: 2, describe: 'students per width (seeds --seed …)' })
        .option('seed', { type: 'number', default: 0, describe: 'first student seed; also seeds the teacher and the inputs' })
        .option('max-full', { type: 'number', default: 2000, describe: 'full Hessian up to this many parameters, Lanczos top-k above' })
        .option('top-k', { type: 'number', default: 100, describe: 'Lanczos eigenvalues above --max-full (the paper: 100)' })
        .option('zero-tolerance', {
          type: 'number',
          default: 1e-6,
          describe: 'eigenvalues with |λ| ≤ this × max|λ| count as zero (rank, λmin⁺, pdet, ω); the paper: "a small magnitude threshold"',
        })
        .option('split', { type: 'boolean', default: true, describe: 'also measure the teacher split m ways (--no-split to skip)' })
        .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/width-study-<time>)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress output' })
        .option('backend', backendOption),
    async argv => {
      await runWidthStudy(argv as unknown as WidthStudyArgs);
    },
  );
}
