import test from 'ava';
import {
  contourLines,
  convergenceChart,
  convergenceSpec,
  heatmapChart,
  logTicks,
  renderChart,
  trajectoryChart,
  writeChart,
} from '../../examples/report/charts.js';
import { aggregateCurves, interpolateAt, interpolateOnto, linspace, mean, std, timeToTarget } from '../../examples/report/stats.js';
import { summarize, summaryMarkdown, timeToTarget as reexportedTimeToTarget } from '../../examples/report/summary.js';
import { writeComparison } from '../../examples/report/write_outputs.js';
import type { CurvePoint, RunRecord, TeleportEvent } from '../../examples/report/types.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngSize(png: Buffer): { width: number; height: number } {
  // IHDR is the first chunk: width and height are big-endian u32 at bytes 16 and 20.
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

function svgSize(svg: string): { width: number; height: number } {
  const m = /<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('no svg size');
  return { width: Number(m[1]), height: Number(m[2]) };
}

function assertPng(t: import('ava').ExecutionContext, chart: { svg: string; png: Buffer }) {
  t.true(chart.png.subarray(0, 8).equals(PNG_SIGNATURE));
  const p = pngSize(chart.png);
  const s = svgSize(chart.svg);
  // Rasterised at 2×.
  t.is(p.width, Math.round(2 * s.width));
  t.is(p.height, Math.round(2 * s.height));
  t.true(p.width >= 300 && p.width <= 4000, `png width ${p.width}`);
  t.true(p.height >= 200 && p.height <= 4000, `png height ${p.height}`);
}

// ---------------------------------------------------------------------------
// Hand-made runs with known times to target.
// ---------------------------------------------------------------------------

function curve(losses: number[], secondsOf: (epoch: number) => number): CurvePoint[] {
  return losses.map((trainLoss, epoch) => ({
    epoch,
    step: epoch * 10,
    seconds: secondsOf(epoch),
    trainLoss,
    valLoss: trainLoss * 1.5,
    valAccuracy: 1 - trainLoss / 4,
  }));
}

function event(epoch: number, drift: number | null, accepted = true): TeleportEvent {
  return { epoch, step: epoch * 10, seconds: 2 * epoch, ms: 500, gradNormSqBefore: 1, gradNormSqAfter: 4, relativeLossDrift: drift, accepted };
}

function run(variant: RunRecord['variant'], seed: number, losses: number[], extra: Partial<RunRecord> = {}): RunRecord {
  const teleporting = variant === 'teleport';
  return {
    optimizer: 'sgd',
    variant,
    seed,
    label: `sgd ${variant} ${seed}`,
    // Teleport runs pay one extra second at the end of epoch 0.
    points: curve(losses, e => 2 * e + (teleporting && e > 0 ? 1 : 0)),
    teleports: [],
    totalSeconds: teleporting ? 13 : 12,
    teleportSeconds: teleporting ? 1 : 0,
    ...extra,
  };
}

const BASE0 = [1, 0.8, 0.6, 0.5, 0.3, 0.2, 0.1];
const BASE1 = [2, 1.6, 1.2, 1.1, 0.9, 0.6, 0.4];
const TELE0 = [1, 0.5, 0.3, 0.2, 0.1, 0.05, 0.04];
const TELE1 = [2, 1.5, 1, 0.6, 0.4, 0.3, 0.2];

const handRuns: RunRecord[] = [
  run('baseline', 0, BASE0),
  run('baseline', 1, BASE1),
  run('teleport', 0, TELE0, { teleports: [event(1, 0.001), event(3, -0.004)] }),
  run('teleport', 1, TELE1, { teleports: [event(1, null), event(3, 0.002, false)] }),
  run('reset', 0, BASE0, { teleports: [event(1, null)] }),
  run('reset', 1, BASE1, { teleports: [event(1, null)] }),
];

// ---------------------------------------------------------------------------
// stats
// ---------------------------------------------------------------------------

test('mean / std / interpolation', t => {
  t.is(mean([1, 2, 3]), 2);
  t.true(Number.isNaN(mean([])));
  t.is(std([5]), 0);
  t.is(std([1, 3]), Math.SQRT2);
  t.deepEqual(linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
  const xs = [0, 1, 3];
  const ys = [0, 10, 30];
  t.is(interpolateAt(xs, ys, 0.5), 5);
  t.is(interpolateAt(xs, ys, 2), 20);
  t.is(interpolateAt(xs, ys, 3), 30);
  t.true(Number.isNaN(interpolateAt(xs, ys, -0.1)));
  t.true(Number.isNaN(interpolateAt(xs, ys, 3.1)));
  t.deepEqual(interpolateOnto(xs, ys, [0, 1.5, 3]), [0, 15, 30]);
});

test('timeToTarget edge cases', t => {
  const pts = curve([1, 0.8, 0.5, 0.5, 0.2], e => 2 * e + 0.5);
  t.is(timeToTarget(pts, 0.5, 'epoch'), 2, 'reaching the target exactly counts');
  t.is(timeToTarget(pts, 0.5, 'seconds'), 4.5);
  t.is(timeToTarget(pts, 0.3, 'step'), 40);
  t.is(timeToTarget(pts, 1, 'epoch'), 0, 'already at the target at the first point');
  t.is(timeToTarget(pts, 0.1, 'epoch'), null, 'never reached');
  t.is(timeToTarget([], 1, 'epoch'), null, 'no points');
  const withNaN = curve([1, NaN, 0.4], e => e);
  t.is(timeToTarget(withNaN, 0.5, 'epoch'), 2, 'NaN losses are skipped');
  const noVal = pts.map(({ valLoss: _v, ...p }) => p);
  t.is(timeToTarget(noVal, 10, 'epoch', 'valLoss'), null, 'missing metric never reaches');
  t.is(reexportedTimeToTarget, timeToTarget);
});

test('aggregateCurves groups equal x and interpolates seconds', t => {
  const series = aggregateCurves(handRuns, 'epoch', 'trainLoss');
  t.deepEqual(
    series.map(s => `${s.optimizer}/${s.variant}`),
    ['sgd/baseline', 'sgd/teleport', 'sgd/reset'],
  );
  const base = series[0];
  t.is(base.points.length, 7);
  t.is(base.points[0].mean, 1.5);
  t.is(base.points[0].n, 2);
  t.true(Math.abs(base.points[0].std - std([1, 2])) < 1e-12);

  const bySeconds = aggregateCurves(handRuns, 'seconds', 'trainLoss', { gridSize: 14 });
  const tele = bySeconds[1];
  // Teleport runs span seconds 0..13 (epoch e at 2e + 1 s); grid step 1 s.
  t.is(tele.points.length, 14);
  t.is(tele.points[0].x, 0);
  t.is(tele.points[13].x, 13);
  t.is(tele.points[13].mean, (0.04 + 0.2) / 2);
  // 3 s is epoch 1 for both seeds; 4 s is halfway between epochs 1 and 2.
  t.is(tele.points[3].mean, (0.5 + 1.5) / 2);
  t.true(Math.abs(tele.points[4].mean - ((0.5 + 0.3) / 2 + (1.5 + 1) / 2) / 2) < 1e-12);
  // Baseline runs end at 12 s, so the common grid stops there.
  t.is(bySeconds[0].points[bySeconds[0].points.length - 1].x, 12);
});

test('logTicks', t => {
  t.deepEqual(logTicks([0.03, 0.9]), [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5]);
  t.deepEqual(logTicks([0.3, 0.9]), [0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7]);
  t.deepEqual(logTicks([1e-6, 10]), [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10]);
  t.deepEqual(logTicks([0, -1]), []);
});

test('contourLines traces a closed circle', t => {
  const g = linspace(-2, 2, 81);
  const z = g.map(y => g.map(x => x * x + y * y));
  const lines = contourLines(g, g, z, 1);
  t.is(lines.length, 1);
  const line = lines[0];
  t.deepEqual(line[0], line[line.length - 1], 'closed');
  t.true(line.length > 50);
  for (const [x, y] of line) t.true(Math.abs(Math.hypot(x, y) - 1) < 0.01);
  t.deepEqual(contourLines(g, g, z, 100), [], 'level above the whole grid');
});

// ---------------------------------------------------------------------------
// summary
// ---------------------------------------------------------------------------

test('summarize computes times to target and speedups', t => {
  const groups = summarize(handRuns);
  const [base, tele, reset] = groups;
  t.is(base.variant, 'baseline');
  t.is(base.targets[0].epochs.mean, 3.5);
  t.is(base.targets[2].epochs.n, 1, 'seed 1 never reaches 0.1×L₀');
  t.is(base.targets[2].epochs.mean, 6);
  t.is(tele.targets[0].epochs.mean, 1.5);
  t.is(tele.targets[0].seconds.mean, 4);
  t.is(base.speedups.length, 0);
  // Without a step-resolution series the per-epoch points (step = 10 × epoch) are used.
  t.is(base.targets[0].steps.mean, 35);
  t.is(tele.speedups[0].steps, 35 / 15);
  t.is(tele.speedups[0].seconds, 7 / 4);
  t.false(tele.speedups[0].partial);
  t.is(tele.speedups[1].steps, 55 / 35);
  t.is(tele.speedups[2].steps, 60 / 50);
  t.true(tele.speedups[2].partial);
  t.is(reset.speedups[0].steps, 1);
  t.is(tele.teleportsPerRun.mean, 2);
  t.is(tele.acceptedPerRun.mean, 1.5);
  t.is(tele.maxAbsDrift, 0.004);
  t.is(reset.maxAbsDrift, null);
  t.true(Math.abs(tele.teleportShare.mean - 1 / 13) < 1e-12);
  t.is(base.finalTrainLoss.mean, 0.25);
});

test('summaryMarkdown prints the computed numbers', t => {
  const md = summaryMarkdown(handRuns, { title: 'Hand-made runs' });
  t.true(md.startsWith('# Hand-made runs\n'));
  // Time to target rows (steps, seconds) for 0.5, 0.2, 0.1 × L₀.
  t.true(md.includes('| optimizer | variant | steps to 0.5×L₀ | s to 0.5×L₀ |'), md);
  t.true(md.includes('| sgd | baseline | 35 ± 7.07 | 7 ± 1.41 | 55 ± 7.07 | 11 ± 1.41 | 60 (1/2) | 12 (1/2) |'), md);
  t.true(md.includes('| sgd | teleport | 15 ± 7.07 | 4 ± 1.41 | 35 ± 7.07 | 8 ± 1.41 | 50 ± 14.1 | 11 ± 2.83 |'), md);
  // Speedups: 35/15 = 2.33 steps, 7/4 = 1.75 s; 55/35 = 1.57, 11/8 = 1.375; 60/50 = 1.2 (partial), 12/11.
  t.true(md.includes('| sgd | teleport vs baseline | 2.33× | 1.75× | 1.57× | 1.38× | 1.20×† | 1.09×† |'), md);
  t.true(md.includes('| sgd | reset vs baseline | 1.00× | 1.00× | 1.00× | 1.00× | 1.00×† | 1.00×† |'), md);
  t.true(md.includes('† not every seed reached the target'));
  // Final metrics: train loss [0.1, 0.4] → 0.25 ± 0.212; val = 1.5×; accuracy 1 − loss/4.
  t.true(md.includes('| sgd | baseline | 2 | 0.25 ± 0.212 | 0.375 ± 0.318 | 0.938 ± 0.053 | 12 ± 0 |'), md);
  // Teleport cost.
  t.true(md.includes('| sgd | teleport | 2 ± 0 | 1.5 ± 0.707 | 1 ± 0 | 7.7% ± 0.0% | 4.00e-3 |'), md);
  t.true(md.includes('| sgd | reset | 1 ± 0 | 1 ± 0 | 0 ± 0 | 0.0% ± 0.0% | — |'), md);
});

test('summaryMarkdown custom targets, missing baseline, no runs', t => {
  const md = summaryMarkdown(handRuns, { lossTargets: [0.05] });
  // 0.05×L₀: baseline never; teleport seed 0 at epoch 5 only.
  t.true(md.includes('| sgd | baseline | — (0/2) | — (0/2) |'), md);
  t.true(md.includes('| sgd | teleport | 50 (1/2) | 11 (1/2) |'), md);
  t.true(md.includes('| sgd | teleport vs baseline | — | — |'), md);
  const noBase = summaryMarkdown(handRuns.filter(r => r.variant !== 'baseline'));
  t.false(noBase.includes('Speedup'));
  t.true(summaryMarkdown([]).includes('_No runs._'));
  const diverged = summaryMarkdown([...handRuns, run('baseline', 2, [1, 10, NaN], { diverged: true })]);
  t.true(diverged.includes('| diverged |'));
  t.true(diverged.includes('| sgd | baseline | 3 | 0.25 ± 0.212 |'), diverged);
});

// Step resolution: 100 steps per epoch, per-epoch points at epochs 0..3 and a fine series every
// 10 steps (1 s per 10 steps, the teleport run pays 0.5 s at its teleport at step 130).
function fineRun(variant: RunRecord['variant'], seed: number, lossAt: (step: number) => number, teleportAt?: number): RunRecord {
  const extra = (step: number) => (teleportAt !== undefined && step > teleportAt ? 0.5 : 0);
  const fine: CurvePoint[] = [];
  for (let step = 0; step <= 300; step += 10) fine.push({ epoch: step / 100, step, seconds: step / 10 + extra(step), trainLoss: lossAt(step) });
  const points: CurvePoint[] = [0, 1, 2, 3].map(epoch => ({
    epoch,
    step: 100 * epoch,
    seconds: 10 * epoch + extra(100 * epoch),
    trainLoss: lossAt(100 * epoch),
  }));
  const teleports = teleportAt === undefined ? [] : [{ ...event(teleportAt / 100, 1e-6), step: teleportAt, seconds: teleportAt / 10 }];
  return {
    optimizer: 'sgd',
    variant,
    seed,
    label: `sgd ${variant} ${seed}`,
    points,
    fine,
    fineWindow: 10,
    teleports,
    totalSeconds: 30 + extra(300),
    teleportSeconds: extra(300),
  };
}
// Loss 1 at the start, falling linearly by 0.003 per step (0.5 at step ~167); after a teleport at
// step 130 the teleport run falls twice as fast.
const slow = (step: number) => 1 - 0.003 * step;
const fast = (step: number) => (step <= 130 ? slow(step) : slow(130) - 0.006 * (step - 130));
const fineRuns = [fineRun('baseline', 0, slow), fineRun('teleport', 0, fast, 130)];

test('summarize: steps and seconds to target come from the step-resolution series (first crossing)', t => {
  const [base, tele] = summarize(fineRuns, { lossTargets: [0.5, 0.2] });
  // Baseline: 1 − 0.003·s ≤ 0.5 first at the logged step 170 (s = 166.7 falls between points),
  // inside epoch 2: not the epoch multiple 200 the per-epoch points would give.
  t.is(base.targets[0].steps.mean, 170);
  t.is(base.targets[0].epochs.mean, 1.7);
  t.is(base.targets[0].seconds.mean, 17);
  // Teleport: 0.61 − 0.006·(s − 130) ≤ 0.5 at s ≥ 148.3 → 150; ≤ 0.2 at s ≥ 198.3 → 200.
  t.is(tele.targets[0].steps.mean, 150);
  t.is(tele.targets[0].seconds.mean, 15.5);
  t.is(tele.targets[1].steps.mean, 200);
  // Baseline 0.2 at s ≥ 266.7 → 270.
  t.is(base.targets[1].steps.mean, 270);
  t.is(tele.speedups[0].steps, 170 / 150);
  t.is(tele.speedups[0].seconds, 17 / 15.5);
  t.is(tele.speedups[1].steps, 270 / 200);
  const stepsSeen = [base, tele].flatMap(g => g.targets.map(x => x.steps.mean));
  t.true(
    stepsSeen.some(s => s % 100 !== 0),
    `${stepsSeen}`,
  );
  // The same runs without the fine series only see epoch boundaries.
  const [coarse] = summarize(
    fineRuns.map(({ fine: _f, ...r }) => r),
    { lossTargets: [0.5] },
  );
  t.is(coarse.targets[0].steps.mean, 200);
  const md = summaryMarkdown(fineRuns, { lossTargets: [0.5] });
  t.true(md.includes('| sgd | baseline | 170 | 17 |'), md);
  t.true(md.includes('| sgd | teleport vs baseline | 1.13× | 1.10× |'), md);
  t.true(md.includes('over windows of 10 steps'), md);
});

test('convergenceSpec with fine: plots the step-resolution series and marks the teleport at its step', t => {
  const layers = (spec: unknown) => (spec as { layer: Array<{ data?: { values: Array<Record<string, unknown>> } }> }).layer;
  const rowsOf = (spec: unknown) => (spec as { data: { values: Array<Record<string, unknown>> } }).data.values;
  const spec = convergenceSpec(fineRuns, { x: 'step', y: 'trainLoss', fine: true });
  const teleRows = rowsOf(spec).filter(r => r.variant === 'teleport');
  t.is(teleRows.length, 31, 'one row per fine point');
  t.true(teleRows.some(r => r.x === 130));
  const marks = layers(spec).find(l => l.data !== undefined)!.data!.values;
  t.is(marks.length, 1);
  t.is(marks[0].x, 130);
  t.true(Math.abs((marks[0].mean as number) - fast(130)) < 1e-12);
  // On the epoch axis the teleport sits at its fractional epoch.
  const byEpoch = convergenceSpec(fineRuns, { x: 'epoch', y: 'trainLoss', fine: true });
  t.is(layers(byEpoch).find(l => l.data !== undefined)!.data!.values[0].x, 1.3);
  t.true(rowsOf(byEpoch).some(r => r.x === 1.7));
  // Without fine: the per-epoch points only.
  t.is(rowsOf(convergenceSpec(fineRuns, { x: 'step', y: 'trainLoss' })).filter(r => r.variant === 'teleport').length, 4);
});

// Three seeds spread over two decades: at epochs 2 and 3 the std exceeds the mean, so a linear
// mean ± std band would reach below zero.
const SPREAD = [
  [1, 0.5, 0.05, 0.02],
  [1, 0.1, 0.002, 0.0005],
  [1, 0.9, 0.5, 0.3],
];
const spreadRuns: RunRecord[] = SPREAD.map((losses, seed) => run('baseline', seed, losses));

/** Geometric mean and geometric (sample, n − 1) std of `vs`, written out here, not taken from stats.ts. */
function geometric(vs: number[]): { g: number; s: number } {
  const logs = vs.map(v => Math.log(v));
  let sum = 0;
  for (const l of logs) sum += l;
  const m = sum / logs.length;
  let ss = 0;
  for (const l of logs) ss += (l - m) ** 2;
  return { g: Math.exp(m), s: Math.exp(Math.sqrt(ss / (logs.length - 1))) };
}

test('convergenceSpec on a log axis: the band is the geometric mean ×/÷ the geometric std, strictly positive, named in the subtitle', t => {
  const rowsOf = (spec: unknown) => (spec as { data: { values: Array<Record<string, number>> } }).data.values;
  const subtitleOf = (spec: unknown) => String((spec as { title: { subtitle: unknown } }).title.subtitle);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.abs(b);

  const logSpec = convergenceSpec(spreadRuns, { x: 'epoch', y: 'trainLoss', logY: true });
  const rows = rowsOf(logSpec);
  t.is(rows.length, 4);
  for (const r of rows) {
    const vals = SPREAD.map(l => l[r.x]);
    const { g, s } = geometric(vals);
    t.true(r.lo > 0, `epoch ${r.x}: lo ${r.lo}`);
    t.true(close(r.lo, g / s), `epoch ${r.x}: lo ${r.lo} vs ${g / s}`);
    t.true(close(r.hi, g * s), `epoch ${r.x}: hi ${r.hi} vs ${g * s}`);
    t.true(close(r.mean, g), `epoch ${r.x}: line ${r.mean} vs ${g}`);
    t.true(r.lo <= Math.min(...vals) * 1.5 && r.hi >= Math.max(...vals) / 1.5);
  }
  // At epoch 2 the arithmetic std (0.27) exceeds the mean (0.18): the band still sits inside the data.
  const e2 = rows.find(r => r.x === 2)!;
  t.true(std(SPREAD.map(l => l[2])) > mean(SPREAD.map(l => l[2])));
  // The old code drew its lower edge at the data floor (0.0005); the geometric band's lies between
  // the smallest (0.002) and the middle (0.05) seed value.
  t.true(e2.lo > 0.002 && e2.lo < 0.05, `${e2.lo}`);
  t.is(subtitleOf(logSpec), 'geometric mean ×/÷ 1 geometric std over 3 seeds');

  // A linear axis keeps the arithmetic mean ± 1 std.
  const linSpec = convergenceSpec(spreadRuns, { x: 'epoch', y: 'trainLoss' });
  for (const r of rowsOf(linSpec)) {
    const vals = SPREAD.map(l => l[r.x]);
    const m = (vals[0] + vals[1] + vals[2]) / 3;
    const sd = Math.sqrt(vals.reduce((a, v) => a + (v - m) ** 2, 0) / 2);
    t.true(Math.abs(r.mean - m) < 1e-12 && Math.abs(r.lo - (m - sd)) < 1e-12 && Math.abs(r.hi - (m + sd)) < 1e-12);
  }
  t.is(subtitleOf(linSpec), 'mean ± 1 std over 3 seeds');
});

test('writeComparison: log-axis charts name the geometric band in their subtitle, linear ones mean ± 1 std', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'report-band-'));
  try {
    await writeComparison(join(dir, 'out'), spreadRuns, { title: 'Spread', config: {} });
    const svg = (name: string) => readFile(join(dir, 'out', `${name}.svg`), 'utf8');
    for (const name of ['train_loss_vs_epoch', 'train_loss_vs_time', 'grad_norm_vs_epoch', 'val_loss_vs_epoch']) {
      const s = await svg(name);
      t.true(s.includes('geometric mean ×/÷ 1 geometric std over seeds'), name);
      t.false(s.includes('mean ± 1 std'), name);
    }
    const acc = await svg('val_accuracy_vs_epoch');
    t.true(acc.includes('mean ± 1 std over seeds'));
    t.false(acc.includes('geometric'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// charts
// ---------------------------------------------------------------------------

test('renderChart renders a minimal spec', async t => {
  const chart = await renderChart({
    data: {
      values: [
        { a: 1, b: 2 },
        { a: 2, b: 3 },
      ],
    },
    mark: 'line',
    encoding: { x: { field: 'a', type: 'quantitative', title: 'alpha axis' }, y: { field: 'b', type: 'quantitative' } },
  });
  t.true(chart.svg.startsWith('<svg'));
  t.true(chart.svg.includes('alpha axis'));
  assertPng(t, chart);
});

test('convergenceChart: titles, legends, teleport markers, log scale', async t => {
  const adam = handRuns.map(r => ({ ...r, optimizer: 'adam' }));
  const chart = await convergenceChart([...handRuns, ...adam], { x: 'epoch', y: 'trainLoss', logY: true, title: 'Loss curves' });
  for (const s of ['Loss curves', 'train loss', 'epoch', 'optimizer', 'sgd', 'adam', 'variant', 'baseline', 'teleport', 'reset', '▼ marks a teleport']) {
    t.true(chart.svg.includes(s), s);
  }
  assertPng(t, chart);

  const secs = await convergenceChart(handRuns, { x: 'seconds', y: 'valAccuracy' });
  t.true(secs.svg.includes('wall time (s)'));
  t.true(secs.svg.includes('validation accuracy'));
  assertPng(t, secs);

  // Non-positive values on a log axis do not break rendering.
  const zero = handRuns.map(r => ({ ...r, points: r.points.map(p => ({ ...p, gradNormSq: p.epoch === 6 ? 0 : p.trainLoss })) }));
  const grad = await convergenceChart(zero, { x: 'step', y: 'gradNormSq', logY: true });
  t.true(grad.svg.includes('optimizer step'));
  t.false(grad.svg.includes('NaN'));
  assertPng(t, grad);
});

test('trajectoryChart: Rosenbrock contours with paths', async t => {
  const f = (x: number, y: number) => 100 * (x * x - y) ** 2 + (x - 1) ** 2;
  const chart = await trajectoryChart({
    loss: f,
    xRange: [-1.5, 1.5],
    yRange: [-1.5, 2.5],
    target: [1, 1],
    title: 'Rosenbrock valley',
    paths: [
      {
        label: 'plain GD',
        points: [
          [-1.2, 1],
          [-1, 0.9],
          [-0.8, 0.7],
        ],
      },
      {
        label: 'GD + teleport',
        points: [
          [-1.2, 1],
          [-1, 0.9],
          [0.5, 0.3],
          [0.6, 0.35],
        ],
        teleportIndices: [2],
      },
    ],
  });
  for (const s of ['Rosenbrock valley', 'plain GD', 'GD + teleport', 'loss level', 'after teleport', '★']) t.true(chart.svg.includes(s), s);
  assertPng(t, chart);
  // Portrait aspect from the 3 × 4 range.
  const p = pngSize(chart.png);
  t.true(p.height > p.width * 0.8);
});

test('heatmapChart: values, n/a cells, titles; writeChart writes both files', async t => {
  const chart = await heatmapChart({
    rows: ['sgd', 'adam'],
    cols: ['lr 0.01', 'lr 0.1'],
    values: [
      [1.234, null],
      [0.5, 2],
    ],
    rowTitle: 'optimizer',
    colTitle: 'learning rate',
    title: 'Speedup heatmap',
    valueFormat: '.2f',
  });
  for (const s of ['Speedup heatmap', 'optimizer', 'learning rate', 'lr 0.01', 'adam', '1.23', '0.50', '2.00', 'n/a']) t.true(chart.svg.includes(s), s);
  assertPng(t, chart);

  const fn = await heatmapChart({ rows: ['a'], cols: ['b', 'c'], values: [[3, 4]], rowTitle: 'r', colTitle: 'c', title: 'fn', valueFormat: v => `${v}×` });
  t.true(fn.svg.includes('3×') && fn.svg.includes('4×'));

  const dir = await mkdtemp(join(tmpdir(), 'report-'));
  try {
    await writeChart(join(dir, 'sub', 'heat'), chart);
    t.is(await readFile(join(dir, 'sub', 'heat.svg'), 'utf8'), chart.svg);
    t.true((await readFile(join(dir, 'sub', 'heat.png'))).equals(chart.png));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
