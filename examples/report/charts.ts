/**
 * Charts for the teleport-vs-baseline example scripts. Every chart is a
 * Vega-Lite spec rendered headlessly to SVG with Vega and rasterised to PNG
 * with resvg, so no browser or canvas package is needed.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { aggregateCurves, interpolateAt, logspace, linspace, mean, type AggregateOptions, type XKey, type YKey } from './stats.js';
import type { RunRecord } from './types.js';

export type { TopLevelSpec } from 'vega-lite';

export interface RenderedChart {
  svg: string;
  png: Buffer;
}

/** DejaVu Sans from the npm package dejavu-fonts-ttf: chart text needs no system font. */
const FONT_DIR = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const FONT_FAMILY = 'DejaVu Sans';
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf'].map(f => `${FONT_DIR}/${f}`).filter(f => existsSync(f));

/** Shared look: readable font sizes, DejaVu Sans everywhere, no chart border. */
const BASE_CONFIG = {
  font: FONT_FAMILY,
  background: 'white',
  view: { stroke: '#bbb' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' as const, gridColor: '#e8e8e8' },
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'bold' as const, labelLimit: 220 },
  title: { fontSize: 15, subtitleFontSize: 11, subtitleColor: '#555', anchor: 'start' as const, offset: 10 },
};

/**
 * Compiles a Vega-Lite spec, renders it with a headless Vega view to SVG and
 * rasterises the SVG at 2× with a white background.
 */
export async function renderChart(spec: TopLevelSpec): Promise<RenderedChart> {
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    await view.runAsync();
    const svg = await view.toSVG();
    const resvg = new Resvg(svg, {
      background: 'white',
      fitTo: { mode: 'zoom', value: 2 },
      font: {
        fontFiles: FONT_FILES,
        loadSystemFonts: FONT_FILES.length === 0,
        defaultFontFamily: FONT_FAMILY,
        sansSerifFamily: FONT_FAMILY,
      },
    });
    const png = Buffer.from(resvg.render().asPng());
    return { svg, png };
  } finally {
    view.finalize();
  }
}

/** Writes `base + '.svg'` and `base + '.png'`, creating the directory. */
export async function writeChart(base: string, chart: RenderedChart): Promise<void> {
  await mkdir(dirname(base), { recursive: true });
  await writeFile(`${base}.svg`, chart.svg);
  await writeFile(`${base}.png`, chart.png);
}

// ---------------------------------------------------------------------------
// Convergence curves
// ---------------------------------------------------------------------------

export const X_TITLES: Record<XKey, string> = {
  epoch: 'epoch',
  step: 'optimizer step',
  seconds: 'wall time (s)',
};

export const Y_TITLES: Record<YKey, string> = {
  trainLoss: 'train loss',
  valLoss: 'validation loss',
  gradNormSq: 'squared gradient norm ‖∇L‖²',
  valAccuracy: 'validation accuracy',
};

const VARIANT_DASH: Record<RunRecord['variant'], number[]> = {
  baseline: [1, 0],
  teleport: [7, 4],
  reset: [2, 3],
};

export interface ConvergenceOptions {
  x: XKey;
  y: YKey;
  logY?: boolean;
  title?: string;
  /** One line, or several (an array, one line each). */
  subtitle?: string | string[];
  width?: number;
  height?: number;
  /** Passed to aggregateCurves (grid size / support for x = 'seconds'). */
  aggregate?: AggregateOptions;
  /**
   * Plot each run's step-resolution train-loss series (`RunRecord.fine`) instead of its per-epoch
   * points, where the run has one (y = 'trainLoss' only).
   */
  fine?: boolean;
}

/**
 * Tick values for a log axis spanning the positive values `vs`: the powers of
 * ten, plus 2× and 5× when the range covers at most three decades.
 */
export function logTicks(vs: readonly number[]): number[] {
  const pos = vs.filter(v => v > 0 && Number.isFinite(v));
  if (pos.length === 0) return [];
  const lo = Math.floor(Math.log10(Math.min(...pos)));
  const hi = Math.ceil(Math.log10(Math.max(...pos)));
  const decades = Math.log10(Math.max(...pos) / Math.min(...pos));
  const mult = decades <= 1.2 ? [1, 1.5, 2, 3, 5, 7] : decades <= 3.5 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = lo; e <= hi; e++) for (const m of mult) out.push(Number((m * 10 ** e).toPrecision(12)));
  return out;
}

/**
 * What a convergence chart's line and band show: the arithmetic mean ± 1 std on a linear axis, the
 * geometric mean ×/÷ 1 geometric std (mean ± 1 std of log y) on a log axis.
 */
export function bandLabel(logY: boolean): string {
  return logY ? 'geometric mean ×/÷ 1 geometric std' : 'mean ± 1 std';
}

/** Builds the Vega-Lite spec of a convergence chart (see convergenceChart). */
export function convergenceSpec(allRuns: RunRecord[], opts: ConvergenceOptions): TopLevelSpec {
  const { x, y } = opts;
  const runs = opts.fine && y === 'trainLoss' ? allRuns.map(r => (r.fine && r.fine.length > 0 ? { ...r, points: r.fine } : r)) : allRuns;
  const logY = opts.logY ?? false;
  const series = aggregateCurves(runs, x, y, opts.aggregate);

  // On a log axis the band is drawn in log space: the geometric mean ×/÷ the geometric std over the
  // seeds with a positive value (a linear mean − std can fall to zero or below where the std exceeds
  // the mean). The line is the geometric mean too, so it runs through the middle of its band.
  const bandRows: Array<Record<string, unknown>> = [];
  const markRows: Array<Record<string, unknown>> = [];
  for (const s of series) {
    const pts = s.points
      .map(p =>
        logY
          ? { x: p.x, mean: p.geo.gmean, lo: p.geo.gmean / p.geo.gstd, hi: p.geo.gmean * p.geo.gstd, n: p.geo.n }
          : { x: p.x, mean: p.mean, lo: p.mean - p.std, hi: p.mean + p.std, n: p.n },
      )
      .filter(p => p.n > 0 && Number.isFinite(p.mean) && (!logY || p.mean > 0));
    for (const p of pts) bandRows.push({ optimizer: s.optimizer, variant: s.variant, x: p.x, mean: p.mean, lo: p.lo, hi: p.hi, n: p.n });
    if (s.variant !== 'teleport' || pts.length === 0) continue;
    // The k-th teleport of every seed is drawn once, at the seeds' mean x,
    // on the aggregated teleport curve.
    const maxK = Math.max(0, ...s.runs.map(r => r.teleports.length));
    const xs = pts.map(p => p.x);
    const ms = pts.map(p => p.mean);
    for (let k = 0; k < maxK; k++) {
      const evs = s.runs.map(r => r.teleports[k]).filter(e => e !== undefined);
      const tx = mean(evs.map(e => e[x]));
      const ty = interpolateAt(xs, ms, tx);
      if (!Number.isFinite(ty) || (logY && ty <= 0)) continue;
      const accepted = evs.filter(e => e.accepted).length;
      markRows.push({ optimizer: s.optimizer, variant: s.variant, x: tx, mean: ty, marker: 'teleport', accepted: `${accepted}/${evs.length}` });
    }
  }

  const optimizers = [...new Set(series.map(s => s.optimizer))];
  const variants = (['baseline', 'teleport', 'reset'] as const).filter(v => series.some(s => s.variant === v));
  const seedCounts = [...new Set(series.map(s => s.runs.length))].sort((a, b) => a - b);
  const seedText =
    seedCounts.length === 1 ? `${seedCounts[0]} seed${seedCounts[0] === 1 ? '' : 's'}` : `${seedCounts[0]}–${seedCounts[seedCounts.length - 1]} seeds`;
  const subtitle =
    opts.subtitle ??
    (bandRows.length === 0 ? `no ${Y_TITLES[y]} data to plot` : `${bandLabel(logY)} over ${seedText}${markRows.length > 0 ? '; ▼ marks a teleport' : ''}`);

  const xEnc = { field: 'x', type: 'quantitative' as const, title: X_TITLES[x], scale: { zero: false, nice: true } };
  const bandValues = bandRows.flatMap(r => [r.lo as number, r.hi as number]).filter(v => v > 0 && Number.isFinite(v));
  const yScale =
    logY && bandValues.length > 0
      ? { type: 'log' as const, nice: false, domain: [Math.min(...bandValues) / 1.15, Math.max(...bandValues) * 1.15] }
      : logY
        ? { type: 'log' as const }
        : { zero: false };
  const yAxis = logY ? { values: logTicks(bandValues.length ? [Math.min(...bandValues) / 1.15, Math.max(...bandValues) * 1.15] : []), format: '~g' } : {};
  const color = {
    field: 'optimizer',
    type: 'nominal' as const,
    title: 'optimizer',
    scale: { domain: optimizers, scheme: 'tableau10' },
  };

  const layers: unknown[] = [
    {
      mark: { type: 'area', opacity: 0.16, clip: true },
      encoding: {
        x: xEnc,
        y: { field: 'lo', type: 'quantitative', scale: yScale, title: Y_TITLES[y], axis: yAxis },
        y2: { field: 'hi' },
        color,
        detail: { field: 'variant' },
      },
    },
    {
      mark: { type: 'line', strokeWidth: 2, clip: true },
      encoding: {
        x: xEnc,
        y: { field: 'mean', type: 'quantitative', scale: yScale, title: Y_TITLES[y], axis: yAxis },
        color: {
          ...color,
          legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolSize: 300, orient: 'right', encode: { symbols: { update: { opacity: { value: 1 } } } } },
        },
        strokeDash: {
          field: 'variant',
          type: 'nominal',
          title: 'variant',
          scale: { domain: variants, range: variants.map(v => VARIANT_DASH[v]) },
          legend: { symbolType: 'stroke', symbolStrokeWidth: 2, symbolSize: 700, symbolStrokeColor: '#333', orient: 'right' },
        },
        tooltip: [
          { field: 'optimizer' },
          { field: 'variant' },
          { field: 'x', title: X_TITLES[x] },
          { field: 'mean', title: Y_TITLES[y] },
          { field: 'n', title: 'seeds' },
        ],
      },
    },
  ];
  if (markRows.length > 0) {
    layers.push({
      data: { values: markRows },
      mark: { type: 'point', shape: 'triangle-down', filled: true, size: 70, stroke: 'white', strokeWidth: 0.8, opacity: 1, clip: true },
      encoding: {
        x: xEnc,
        y: { field: 'mean', type: 'quantitative', scale: yScale },
        color,
        tooltip: [{ field: 'optimizer' }, { field: 'x', title: X_TITLES[x] }, { field: 'accepted' }],
      },
    });
  }

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: opts.title ?? `${Y_TITLES[y]} vs ${X_TITLES[x]}`, subtitle },
    width: opts.width ?? 560,
    height: opts.height ?? 340,
    data: { values: bandRows },
    layer: layers,
    resolve: { legend: { color: 'shared', strokeDash: 'independent' } },
    config: BASE_CONFIG,
  } as unknown as TopLevelSpec;
}

/**
 * Mean ± std training curves (geometric on a log axis, see bandLabel): colour per optimizer, dash per variant
 * (solid baseline, dashed teleport, dotted reset), ▼ at the teleports.
 */
export async function convergenceChart(runs: RunRecord[], opts: ConvergenceOptions): Promise<RenderedChart> {
  return renderChart(convergenceSpec(runs, opts));
}

// ---------------------------------------------------------------------------
// Loss landscape with optimisation trajectories
// ---------------------------------------------------------------------------

/**
 * Contour polylines of the grid `z` (z[j][i] is the value at (xs[i], ys[j]))
 * at `level`, by marching squares with linear interpolation along cell
 * edges. Saddle cells are disambiguated with the cell-centre average.
 * Segments are joined into polylines; closed curves repeat their first point.
 */
export function contourLines(xs: readonly number[], ys: readonly number[], z: readonly (readonly number[])[], level: number): Array<Array<[number, number]>> {
  const nx = xs.length;
  const ny = ys.length;
  const pointOf = new Map<string, [number, number]>();
  const adj = new Map<string, string[]>();
  const link = (a: string, b: string) => {
    (adj.get(a) ?? adj.set(a, []).get(a)!).push(b);
    (adj.get(b) ?? adj.set(b, []).get(b)!).push(a);
  };
  const above = (v: number) => v >= level;
  for (let j = 0; j + 1 < ny; j++) {
    for (let i = 0; i + 1 < nx; i++) {
      // Corners counter-clockwise from bottom-left.
      const v = [z[j][i], z[j][i + 1], z[j + 1][i + 1], z[j + 1][i]];
      if (v.some(t => !Number.isFinite(t))) continue;
      const s = v.map(above);
      if (s.every(t => t === s[0])) continue;
      const cx = [xs[i], xs[i + 1], xs[i + 1], xs[i]];
      const cy = [ys[j], ys[j], ys[j + 1], ys[j + 1]];
      // Edge e joins corner e and corner (e+1)%4: bottom, right, top, left.
      const edgeId = [`h${i},${j}`, `v${i + 1},${j}`, `h${i},${j + 1}`, `v${i},${j}`];
      const crossed: number[] = [];
      for (let e = 0; e < 4; e++) {
        const a = e;
        const b = (e + 1) % 4;
        if (s[a] === s[b]) continue;
        crossed.push(e);
        if (!pointOf.has(edgeId[e])) {
          const t = (level - v[a]) / (v[b] - v[a]);
          pointOf.set(edgeId[e], [cx[a] + t * (cx[b] - cx[a]), cy[a] + t * (cy[b] - cy[a])]);
        }
      }
      if (crossed.length === 2) {
        link(edgeId[crossed[0]], edgeId[crossed[1]]);
      } else if (crossed.length === 4) {
        // Saddle: cut off the corners whose state differs from the centre.
        const centre = above((v[0] + v[1] + v[2] + v[3]) / 4);
        for (let c = 0; c < 4; c++) {
          if (s[c] !== centre) link(edgeId[(c + 3) % 4], edgeId[c]);
        }
      }
    }
  }
  // Walk the graph (every node has degree 1 or 2): open chains first, then loops.
  const used = new Set<string>();
  const lines: Array<Array<[number, number]>> = [];
  const walk = (start: string) => {
    const line: Array<[number, number]> = [pointOf.get(start)!];
    used.add(start);
    let cur = start;
    for (;;) {
      const next = (adj.get(cur) ?? []).find(n => !used.has(n));
      if (next === undefined) {
        // Close the loop if we are back next to the start.
        if (line.length > 2 && (adj.get(cur) ?? []).includes(start)) line.push(pointOf.get(start)!);
        break;
      }
      used.add(next);
      line.push(pointOf.get(next)!);
      cur = next;
    }
    if (line.length > 1) lines.push(line);
  };
  for (const [node, nb] of adj) if (nb.length === 1 && !used.has(node)) walk(node);
  for (const node of adj.keys()) if (!used.has(node)) walk(node);
  return lines;
}

export interface TrajectoryPath {
  label: string;
  points: Array<[number, number]>;
  /**
   * Indices i where the move points[i − 1] → points[i] is a teleport jump
   * (drawn dashed, with a ◆ at the landing point) rather than an optimizer step.
   */
  teleportIndices?: number[];
}

export interface TrajectoryOptions {
  loss: (x: number, y: number) => number;
  xRange: [number, number];
  yRange: [number, number];
  paths: TrajectoryPath[];
  target?: [number, number];
  title?: string;
  subtitle?: string;
  /** Explicit contour levels; default: log-spaced (linear if the loss can be ≤ 0). */
  levels?: number[];
  /** Number of default levels (default 16). */
  nLevels?: number;
  /** Grid resolution along the longer axis (default 300). */
  resolution?: number;
  /** Plot width in pixels (default 440); height follows the aspect ratio. */
  width?: number;
  xTitle?: string;
  yTitle?: string;
}

const PATH_COLORS = ['#e41a1c', '#ff7f00', '#111111', '#f781bf', '#a65628', '#984ea3', '#4daf4a', '#377eb8'];
/** Five-pointed star in Vega's unit symbol coordinates. */
const STAR_PATH = 'M0,-1L0.2245,-0.309L0.9511,-0.309L0.3633,0.118L0.5878,0.809L0,0.382L-0.5878,0.809L-0.3633,0.118L-0.9511,-0.309L-0.2245,-0.309Z';

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/** Builds the Vega-Lite spec of a trajectory chart (see trajectoryChart). */
export function trajectorySpec(opts: TrajectoryOptions): TopLevelSpec {
  const [x0, x1] = opts.xRange;
  const [y0, y1] = opts.yRange;
  const res = opts.resolution ?? 300;
  const spanX = x1 - x0;
  const spanY = y1 - y0;
  const nx = spanX >= spanY ? res : Math.max(20, Math.round((res * spanX) / spanY));
  const ny = spanY >= spanX ? res : Math.max(20, Math.round((res * spanY) / spanX));
  const gx = linspace(x0, x1, nx);
  const gy = linspace(y0, y1, ny);
  const raw = gy.map(yv => gx.map(xv => opts.loss(xv, yv)));
  const finite = raw
    .flat()
    .filter(v => Number.isFinite(v))
    .sort((a, b) => a - b);
  const positive = finite.length > 0 && finite[0] > 0 ? true : finite.length > 0 && finite[0] >= 0;
  const nLevels = opts.nLevels ?? 16;

  let levels = opts.levels;
  if (!levels) {
    if (positive) {
      const top = quantile(finite, 0.98);
      const posVals = finite.filter(v => v > 0);
      const bottom = Math.max(quantile(posVals, 0.01), top * 1e-6);
      levels = bottom < top ? logspace(bottom, top, nLevels) : [top];
    } else {
      levels = linspace(quantile(finite, 0.02), quantile(finite, 0.98), nLevels);
    }
  }
  // Log-spaced levels of a positive function are traced on log(loss), which
  // interpolates much better across steep walls.
  const useLog = positive && levels.every(l => l > 0);
  const tiny = 1e-300;
  const z = useLog ? raw.map(row => row.map(v => Math.log(Math.max(v, tiny)))) : raw;

  const contourRows: Array<Record<string, unknown>> = [];
  let lineId = 0;
  for (const level of levels) {
    const lz = useLog ? Math.log(level) : level;
    for (const line of contourLines(gx, gy, z, lz)) {
      line.forEach(([px, py], k) => contourRows.push({ level, line: lineId, k, x: px, y: py }));
      lineId++;
    }
  }

  // Paths: optimizer segments solid, teleport jumps dashed.
  const pathRows: Array<Record<string, unknown>> = [];
  const jumpRows: Array<Record<string, unknown>> = [];
  const markerRows: Array<Record<string, unknown>> = [];
  const labels = opts.paths.map(p => p.label);
  opts.paths.forEach(p => {
    const jumps = new Set((p.teleportIndices ?? []).filter(i => i > 0 && i < p.points.length));
    let piece = 0;
    p.points.forEach(([px, py], k) => {
      if (jumps.has(k)) {
        const [ax, ay] = p.points[k - 1];
        jumpRows.push({ label: p.label, x: ax, y: ay, x2: px, y2: py });
        markerRows.push({ label: p.label, x: px, y: py, marker: 'after teleport' });
        piece++;
      }
      pathRows.push({ label: p.label, piece: `${p.label}#${piece}`, k, x: px, y: py });
    });
    if (p.points.length > 0) markerRows.push({ label: p.label, x: p.points[0][0], y: p.points[0][1], marker: 'start' });
  });

  const width = opts.width ?? 440;
  const height = Math.round(Math.min(640, Math.max(240, (width * spanY) / spanX)));
  const xEnc = { field: 'x', type: 'quantitative' as const, title: opts.xTitle ?? 'x', scale: { domain: [x0, x1], nice: false, zero: false } };
  const yEnc = { field: 'y', type: 'quantitative' as const, title: opts.yTitle ?? 'y', scale: { domain: [y0, y1], nice: false, zero: false } };
  const pathColor = { field: 'label', type: 'nominal' as const, title: 'path', scale: { domain: labels, range: PATH_COLORS } };
  // Dots at every iterate only when the paths are short enough to stay readable.
  const showIterates = Math.max(0, ...opts.paths.map(p => p.points.length)) <= 60;
  const markerKinds = ['start', 'after teleport'].filter(m => markerRows.some(r => r.marker === m));

  const layers: unknown[] = [
    {
      data: { values: contourRows },
      mark: { type: 'line', strokeWidth: 1, clip: true },
      encoding: {
        x: xEnc,
        y: yEnc,
        order: { field: 'k', type: 'quantitative' },
        detail: { field: 'line', type: 'nominal' },
        color: {
          field: 'level',
          type: 'quantitative',
          title: 'loss level',
          scale: useLog ? { type: 'log', scheme: { name: 'viridis', extent: [0.0, 0.88] } } : { scheme: { name: 'viridis', extent: [0.0, 0.88] } },
          legend: { orient: 'right', gradientLength: Math.min(220, height - 120), format: '~g' },
        },
      },
    },
  ];
  if (jumpRows.length > 0) {
    layers.push({
      data: { values: jumpRows },
      mark: { type: 'rule', strokeDash: [4, 3], strokeWidth: 2, clip: true },
      encoding: { x: xEnc, y: yEnc, x2: { field: 'x2' }, y2: { field: 'y2' }, color: { ...pathColor, legend: null } },
    });
  }
  layers.push(
    {
      data: { values: pathRows },
      mark: { type: 'line', strokeWidth: 2.2, clip: true, ...(showIterates ? { point: { size: 16, filled: true } } : {}) },
      encoding: {
        x: xEnc,
        y: yEnc,
        order: { field: 'k', type: 'quantitative' },
        detail: { field: 'piece', type: 'nominal' },
        color: {
          ...pathColor,
          legend: { symbolType: 'stroke', symbolStrokeWidth: 3, symbolSize: 300, orient: 'right', encode: { symbols: { update: { opacity: { value: 1 } } } } },
        },
      },
    },
    {
      data: { values: markerRows },
      mark: { type: 'point', filled: true, size: 80, stroke: 'white', strokeWidth: 1, opacity: 1, clip: true },
      encoding: {
        x: xEnc,
        y: yEnc,
        color: { ...pathColor, legend: null },
        shape: {
          field: 'marker',
          type: 'nominal',
          title: 'marker',
          scale: { domain: markerKinds, range: markerKinds.map(m => (m === 'start' ? 'circle' : 'diamond')) },
          legend: { orient: 'right', symbolFillColor: '#444', symbolStrokeColor: '#444' },
        },
      },
    },
  );
  if (opts.target) {
    layers.push({
      data: { values: [{ x: opts.target[0], y: opts.target[1] }] },
      mark: { type: 'point', shape: STAR_PATH, size: 320, filled: true, fill: '#ffd400', stroke: '#000', strokeWidth: 1, opacity: 1 },
      encoding: { x: xEnc, y: yEnc },
    });
  }

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: opts.title ?? 'optimization paths on the loss landscape',
      subtitle: opts.subtitle ?? `loss level sets${opts.target ? '; ★ = minimum' : ''}${jumpRows.length > 0 ? '; dashed = teleport jump' : ''}`,
    },
    width,
    height,
    layer: layers,
    resolve: { scale: { color: 'independent' } },
    config: { ...BASE_CONFIG, axis: { ...BASE_CONFIG.axis, grid: false } },
  } as unknown as TopLevelSpec;
}

/** Loss level sets with optimisation paths, teleport jumps and the target. */
export async function trajectoryChart(opts: TrajectoryOptions): Promise<RenderedChart> {
  return renderChart(trajectorySpec(opts));
}

// ---------------------------------------------------------------------------
// Heatmap
// ---------------------------------------------------------------------------

export interface HeatmapOptions {
  rows: string[];
  cols: string[];
  /** values[r][c]; null = no value (grey cell printed "n/a"). */
  values: (number | null)[][];
  rowTitle: string;
  colTitle: string;
  title: string;
  /** One line, or several. */
  subtitle?: string | string[];
  /** d3-format string (e.g. '.2f') or a formatting function. Default '.3~g'. */
  valueFormat?: string | ((v: number) => string);
  /** Text printed in each cell instead of the formatted value ('\n' breaks lines); a null entry prints the value as is. */
  labels?: (string | null)[][];
  /** Title of the colour legend (default: none). */
  valueTitle?: string;
  /** Vega colour scheme (default 'viridis'). */
  scheme?: string;
  /** Reverse the colour scheme. */
  reverse?: boolean;
  /** Centre a diverging scheme on this value (e.g. 1 for speedups). */
  domainMid?: number;
  cellWidth?: number;
  cellHeight?: number;
}

/** Perceived lightness (0–1) of a #rrggbb colour. */
function lightness(hex: string): number {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return 1;
  const [r, g, b] = [m[1], m[2], m[3]].map(h => parseInt(h, 16) / 255);
  return 0.299 * r + 0.587 * g + 0.114 * b;
}

/** Builds the Vega-Lite spec of a heatmap (see heatmapChart). */
export function heatmapSpec(opts: HeatmapOptions): TopLevelSpec {
  const scheme = opts.scheme ?? 'viridis';
  const reverse = opts.reverse ?? false;
  const fmt = opts.valueFormat ?? '.3~g';
  const finite = opts.values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (opts.domainMid !== undefined) {
    const r = Math.max(Math.abs(hi - opts.domainMid), Math.abs(lo - opts.domainMid)) || 1;
    lo = opts.domainMid - r;
    hi = opts.domainMid + r;
  }
  // Text colour from the lightness of the cell colour, sampled from the same scheme.
  const schemeFn = vega.scheme(scheme) as ((t: number) => string) | string[] | undefined;
  const cellColor = (t: number): string => {
    const u = reverse ? 1 - t : t;
    if (typeof schemeFn === 'function') {
      const c = schemeFn(u);
      return c.startsWith('rgb') ? rgbToHex(c) : c;
    }
    if (Array.isArray(schemeFn) && schemeFn.length > 0) return schemeFn[Math.min(schemeFn.length - 1, Math.floor(u * schemeFn.length))];
    return '#ffffff';
  };
  const rows: Array<Record<string, unknown>> = [];
  opts.rows.forEach((row, r) => {
    opts.cols.forEach((col, c) => {
      const v = opts.values[r]?.[c] ?? null;
      const ok = v !== null && Number.isFinite(v);
      const t = ok && hi > lo ? (v - lo) / (hi - lo) : 0.5;
      rows.push({
        row,
        col,
        value: ok ? v : null,
        label: ok ? (opts.labels?.[r]?.[c] ?? (typeof fmt === 'function' ? fmt(v) : opts.labels != null ? String(v) : null)) : 'n/a',
        dark: ok ? lightness(cellColor(t)) < 0.5 : false,
      });
    });
  });
  const x = {
    field: 'col',
    type: 'ordinal' as const,
    sort: opts.cols,
    title: opts.colTitle,
    axis: { labelAngle: 0, orient: 'top' as const, domain: false, ticks: false },
  };
  const y = { field: 'row', type: 'ordinal' as const, sort: opts.rows, title: opts.rowTitle, axis: { domain: false, ticks: false, labelLimit: 360 } };
  const cw = opts.cellWidth ?? Math.max(56, Math.min(90, 8 * Math.max(...opts.cols.map(c => c.length), 6)));
  const ch = opts.cellHeight ?? 34;
  const textEnc =
    typeof fmt === 'function' || opts.labels != null
      ? { field: 'label', type: 'nominal' as const }
      : { field: 'value', type: 'quantitative' as const, format: fmt };

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.subtitle ? { text: opts.title, subtitle: opts.subtitle } : { text: opts.title },
    width: cw * opts.cols.length,
    height: ch * opts.rows.length,
    data: { values: rows },
    layer: [
      {
        transform: [{ filter: 'datum.value === null' }],
        mark: { type: 'rect', fill: '#e6e6e6', stroke: 'white', strokeWidth: 1.5 },
        encoding: { x, y },
      },
      {
        transform: [{ filter: 'datum.value !== null' }],
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1.5 },
        encoding: {
          x,
          y,
          color: {
            field: 'value',
            type: 'quantitative',
            title: opts.valueTitle ?? null,
            scale: { scheme, reverse, domain: [lo, hi] },
            legend: finite.length > 0 ? { orient: 'right', gradientLength: Math.max(80, Math.min(200, ch * opts.rows.length)) } : null,
          },
        },
      },
      {
        transform: [{ filter: 'datum.value !== null' }],
        mark: { type: 'text', fontSize: 12, lineBreak: '\n' },
        encoding: {
          x,
          y,
          text: textEnc,
          color: { condition: { test: 'datum.dark', value: 'white' }, value: '#111' },
        },
      },
      {
        transform: [{ filter: 'datum.value === null' }],
        mark: { type: 'text', fontSize: 12, fontStyle: 'italic', color: '#777' },
        encoding: { x, y, text: { field: 'label', type: 'nominal' } },
      },
    ],
    config: { ...BASE_CONFIG, view: { stroke: null } },
  } as unknown as TopLevelSpec;
}

function rgbToHex(c: string): string {
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(c);
  if (!m) return c;
  return '#' + [m[1], m[2], m[3]].map(v => Number(v).toString(16).padStart(2, '0')).join('');
}

/** Labelled heatmap with the values printed in the cells. */
export async function heatmapChart(opts: HeatmapOptions): Promise<RenderedChart> {
  return renderChart(heatmapSpec(opts));
}
