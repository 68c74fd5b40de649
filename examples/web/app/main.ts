/**
 * The playground page: a form, live charts, exports, and `window.playground`, the small API the
 * browser test (test/examples/web_playground.test.ts) drives.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TeleportReport } from '../../../src/index.js';
import { ACTIVATIONS } from '../../train/models.js';
import { BACKENDS, describeBackend, startBackend, useBackend } from './backend.js';
import { LineChart, type Marker, type Series } from './chart.js';
import { loadDigits, type Digits } from './digits.js';
import { download, exportFiles, type ExportFile } from './export.js';
import { LevelSetPlot } from './levels.js';
import { OPTIMIZERS, PROBLEMS, problemOf, type OptimizerName, type ProblemName } from './problems.js';
import { runComparison, type ArmTrace, type RunResult } from './run.js';
import {
  defaultSettings,
  formatSchedule,
  groupChoices,
  objectiveChoices,
  parseSchedule,
  resolveSettings,
  SettingsError,
  type PlaygroundSettings,
} from './settings.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('form');
const field = <T extends HTMLInputElement | HTMLSelectElement>(name: string) => form.elements.namedItem(name) as T;
const tooltip = $('tooltip');
const COLORS = { plain: '#1f6fb4', teleport: '#e0701b' };

const lossChart = new LineChart($('loss'), tooltip, { title: 'training loss (log scale)', xLabel: 'step', logY: true });
const gradChart = new LineChart($('grad'), tooltip, { title: 'squared gradient norm ‖∇L‖² (log scale)', xLabel: 'step', logY: true });
const levels = new LevelSetPlot($('levels'), tooltip);

/** Errors the page met (uncaught ones included), newest last: the test asserts there are none. */
const pageErrors: string[] = [];
let running: { stop: boolean } | null = null;
let lastResult: RunResult | null = null;
let digits: Promise<Digits> | null = null;

function fillSelect(name: string, values: readonly string[], selected?: string): void {
  const select = field<HTMLSelectElement>(name);
  select.replaceChildren(...values.map(v => new Option(v, v, false, v === selected)));
}

/** Puts settings into the form (the group and objective lists follow the problem). */
function writeForm(s: PlaygroundSettings): void {
  fillSelect('problem', PROBLEMS, s.problem);
  fillSelect('optimizer', OPTIMIZERS, s.optimizer);
  fillSelect('group', groupChoices(s.problem), s.group);
  fillSelect('objective', objectiveChoices(), s.objective);
  fillSelect('activation', ACTIVATIONS, s.activation);
  field<HTMLInputElement>('schedule').value = formatSchedule(s.schedule);
  field<HTMLInputElement>('normalize').checked = s.normalize;
  for (const key of ['lr', 'steps', 'ascentSteps', 'ascentLr', 'maxGrowth', 'maxTotalGrowth', 'maxLossDrift', 'seed', 'batchSize'] as const) {
    field<HTMLInputElement>(key).value = String(s[key]);
  }
  field<HTMLInputElement>('widths').value = s.widths.join(',');
  for (const key of ['widths', 'activation', 'batchSize']) field<HTMLInputElement>(key).disabled = s.problem !== 'mlp';
}

function readForm(): PlaygroundSettings {
  const num = (name: string) => {
    const text = field<HTMLInputElement>(name).value.trim();
    const v = /^inf(inity)?$/i.test(text) ? Infinity : Number(text);
    if (text === '' || Number.isNaN(v)) throw new SettingsError(`${name}: "${text}" is not a number`);
    return v;
  };
  return resolveSettings({
    problem: field<HTMLSelectElement>('problem').value as ProblemName,
    optimizer: field<HTMLSelectElement>('optimizer').value as OptimizerName,
    lr: num('lr'),
    steps: num('steps'),
    group: field<HTMLSelectElement>('group').value,
    objective: field<HTMLSelectElement>('objective').value,
    schedule: parseSchedule(field<HTMLInputElement>('schedule').value),
    ascentSteps: num('ascentSteps'),
    ascentLr: num('ascentLr'),
    normalize: field<HTMLInputElement>('normalize').checked,
    maxGrowth: num('maxGrowth'),
    maxTotalGrowth: num('maxTotalGrowth'),
    maxLossDrift: num('maxLossDrift'),
    seed: num('seed'),
    widths: field<HTMLInputElement>('widths')
      .value.split(',')
      .map(w => Number(w.trim())),
    activation: field<HTMLSelectElement>('activation').value as PlaygroundSettings['activation'],
    batchSize: num('batchSize'),
  });
}

const fmt = (v: number | null | undefined, digits = 3) =>
  v == null || Number.isNaN(v) ? '—' : Math.abs(v) < 1e-3 || Math.abs(v) >= 1e4 ? v.toExponential(digits - 1) : v.toPrecision(digits);

/** A teleport report as the hover text: growth, drift against the guard, what the ascent did. */
export function describeReport(r: TeleportReport, maxLossDrift: number): string {
  const growth = r.gradNormSqAfter / r.gradNormSqBefore;
  return [
    `teleport at step ${r.step}: ${r.accepted ? 'accepted' : `rejected (${r.rejection ?? 'no reason'})`}`,
    r.accepted ? `growth of ‖∇L‖²  ×${fmt(growth)}  (${fmt(r.gradNormSqBefore)} → ${fmt(r.gradNormSqAfter)}), cap ×${fmt(r.growthCap)}` : (r.reason ?? ''),
    `loss drift  ${fmt(r.relativeLossDrift)}  (guard ${fmt(maxLossDrift)})`,
    `ascent ${r.ascentSteps} steps, ${r.backtracks} backtracks, ${r.shrinks} shrinks, ${fmt(r.ms)} ms`,
    `group ${r.group} · objective ${r.objective}${r.state ? ` · state ${r.state}` : ''}`,
  ]
    .filter(Boolean)
    .join('\n');
}

// The plain arm is drawn first and wider: where the arms coincide (before the first teleport, or
// when teleports move little) it shows as a blue edge around the orange line.
function series(label: string, trace: ArmTrace, key: 'trainLoss' | 'gradNormSq', color: string): Series {
  return { label, color, width: trace.variant === 'baseline' ? 4 : 1.6, xs: trace.points.map(p => p.step), ys: trace.points.map(p => p[key] ?? NaN) };
}

function markers(trace: ArmTrace, key: 'trainLoss' | 'gradNormSq', maxLossDrift: number): Marker[] {
  return trace.teleports.map(r => {
    const p = trace.points.find(q => q.step === r.step) ?? trace.points[trace.points.length - 1];
    return { x: r.step ?? 0, y: p?.[key] ?? NaN, color: COLORS.teleport, filled: r.accepted, info: describeReport(r, maxLossDrift) };
  });
}

function draw(s: PlaygroundSettings, plain: ArmTrace, teleport: ArmTrace): void {
  const label = `${s.optimizer} + teleport`;
  lossChart.setData(
    [series(s.optimizer, plain, 'trainLoss', COLORS.plain), series(label, teleport, 'trainLoss', COLORS.teleport)],
    markers(teleport, 'trainLoss', s.maxLossDrift),
  );
  gradChart.setData(
    [series(s.optimizer, plain, 'gradNormSq', COLORS.plain), series(label, teleport, 'gradNormSq', COLORS.teleport)],
    markers(teleport, 'gradNormSq', s.maxLossDrift),
  );
  if (s.problem !== 'mlp') {
    const accepted = teleport.teleports.filter(r => r.accepted);
    levels.setPaths([
      { label: s.optimizer, color: COLORS.plain, width: 4.5, points: plain.path, jumps: [] },
      {
        label,
        color: COLORS.teleport,
        points: teleport.path,
        jumps: teleport.teleportPathIndices,
        jumpInfo: accepted.map(r => describeReport(r, s.maxLossDrift)),
      },
    ]);
  }
  drawTable(teleport.teleports);
}

function drawTable(reports: TeleportReport[]): void {
  const head = ['step', 'accepted', 'growth', 'drift', 'ms'];
  const rows = reports.map(r => [
    String(r.step),
    r.accepted ? 'yes' : (r.rejection ?? 'no'),
    r.accepted ? fmt(r.gradNormSqAfter / r.gradNormSqBefore) : '—',
    fmt(r.relativeLossDrift),
    fmt(r.ms),
  ]);
  const tr = (cells: string[], tag: 'th' | 'td') => {
    const row = document.createElement('tr');
    for (const c of cells) row.append(Object.assign(document.createElement(tag), { textContent: c }));
    return row;
  };
  $('teleports').replaceChildren(tr(head, 'th'), ...rows.map(r => tr(r, 'td')));
}

function setStatus(text: string): void {
  $('status').textContent = text;
}

function showError(e: unknown): void {
  const kind = (e as { kind?: string }).kind;
  $('error').textContent = `${(e as Error).name ?? 'Error'}${kind ? ` (${kind})` : ''}: ${(e as Error).message ?? String(e)}`;
}

function setExports(result: RunResult | null): void {
  const files: ExportFile[] = result ? exportFiles(result) : [];
  $('exports').replaceChildren(
    ...files.map(f => {
      const b = Object.assign(document.createElement('button'), {
        type: 'button',
        textContent: `⬇ ${f.name.endsWith('.json') ? 'JSON' : `CSV ${f.name.includes('teleport') ? 'teleport' : 'plain'}`}`,
        title: f.name,
      });
      b.addEventListener('click', () => download(f));
      return b;
    }),
  );
}

function prepareProblem(s: PlaygroundSettings): void {
  const p = problemOf(s.problem);
  levels.setFunction(
    p.kind === 'function'
      ? { lossAt: p.fn.lossAt, xRange: p.xRange, yRange: p.yRange, minimum: p.fn.minimum, title: `${s.problem}: trajectories over level sets (log₁₀ L bands)` }
      : null,
  );
}

/**
 * Runs the settings in the form (after `given` is written into it), drawing live unless `live` is
 * false (drawing shares the main thread, and on webgl the GPU, with training: timings leave it out).
 */
async function run(given?: Partial<PlaygroundSettings>, options: { live?: boolean } = {}): Promise<RunResult> {
  const live = options.live ?? true;
  if (running) throw new Error('a run is in progress: stop it first');
  $('error').textContent = '';
  if (given) writeForm(resolveSettings(given));
  const s = readForm();
  running = { stop: false };
  const token = running;
  $<HTMLButtonElement>('run').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  field<HTMLSelectElement>('backend').disabled = true;
  prepareProblem(s);
  try {
    if (s.problem === 'mlp' && digits == null) {
      const loading = loadDigits();
      digits = loading;
      loading.catch(() => {
        digits = null; // the next run tries again
      });
    }
    const d = s.problem === 'mlp' ? await digits! : undefined;
    let nextDraw = 0;
    const result = await runComparison(s, {
      digits: d,
      shouldStop: () => token.stop,
      onStep: (plain, teleport, step) => {
        // Redraw at most every 120 ms, and never spend more than a quarter of the time drawing.
        if (!live || performance.now() < nextDraw) return;
        const t0 = performance.now();
        draw(s, plain, teleport);
        nextDraw = performance.now() + Math.max(120, 3 * (performance.now() - t0));
        setStatus(`${tf.getBackend()}: step ${step + 1} of ${s.steps}`);
      },
    });
    draw(s, result.arms.plain, result.arms.teleport);
    const fin = (t: ArmTrace) => fmt(t.points[t.points.length - 1]?.trainLoss);
    const accepted = result.arms.teleport.teleports.filter(r => r.accepted).length;
    const diverged = [result.arms.plain, result.arms.teleport]
      .filter(t => t.points.some(p => !Number.isFinite(p.trainLoss)))
      .map(t => `the ${t.variant === 'teleport' ? 'teleporting' : 'plain'} arm diverged at step ${t.points.findIndex(p => !Number.isFinite(p.trainLoss))}; `)
      .join('');
    const acc = result.heldOut ? `; held-out accuracy ${fmt(result.heldOut.plain.accuracy)} vs ${fmt(result.heldOut.teleport.accuracy)}` : '';
    setStatus(
      `${result.backend}: ${result.stopped ? `stopped after ${result.stepsDone}` : result.stepsDone} steps in ${result.seconds.toFixed(1)} s, ${fmt(result.msPerStep.plain)} ms per plain step${live ? ' (live drawing included)' : ''}; ${diverged}` +
        `final loss ${fin(result.arms.plain)} plain vs ${fin(result.arms.teleport)} teleporting; ${accepted}/${result.arms.teleport.teleports.length} teleports accepted${acc}`,
    );
    lastResult = result;
    setExports(result);
    return result;
  } catch (e) {
    showError(e);
    throw e;
  } finally {
    running = null;
    $<HTMLButtonElement>('run').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
    field<HTMLSelectElement>('backend').disabled = false;
  }
}

async function switchBackend(name: string): Promise<string> {
  if (running) throw new Error('cannot switch the backend during a run: stop it first');
  const now = await useBackend(name);
  field<HTMLSelectElement>('backend').value = now;
  $('backend-info').textContent = describeBackend();
  return now;
}

/** The API the browser test drives; also handy from the devtools console. */
const playground = {
  ready: null as unknown as Promise<string>,
  errors: pageErrors,
  backends: () => [...BACKENDS],
  backend: () => tf.getBackend(),
  setBackend: switchBackend,
  describeBackend,
  choices: (problem: ProblemName = 'rosenbrock') => ({
    problems: [...PROBLEMS],
    optimizers: [...OPTIMIZERS],
    groups: groupChoices(problem),
    objectives: objectiveChoices(),
  }),
  defaults: defaultSettings,
  run,
  stop: () => {
    if (running) running.stop = true;
  },
  memory: () => ({ numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes }),
  lastResult: () => lastResult,
  /** Page coordinates of the teleport markers on the loss chart, and the text hovering each shows. */
  teleportMarkers: () => {
    const r = $('loss').getBoundingClientRect();
    return lossChart.markerPositions().map(m => ({ x: r.left + m.x, y: r.top + m.y, info: m.info }));
  },
  exportFiles: () => (lastResult ? exportFiles(lastResult) : []),
};
declare global {
  interface Window {
    playground: typeof playground;
  }
}
window.playground = playground;

window.addEventListener('error', e => pageErrors.push(String(e.message)));
window.addEventListener('unhandledrejection', e => pageErrors.push(String((e.reason as Error)?.message ?? e.reason)));

function wireForm(): void {
  form.addEventListener('submit', e => {
    e.preventDefault();
    run().catch(() => {}); // shown in the page by run()
  });
  $('stop').addEventListener('click', () => playground.stop());
  $('defaults').addEventListener('click', () => {
    writeForm(defaultSettings(field<HTMLSelectElement>('problem').value as ProblemName, field<HTMLSelectElement>('optimizer').value as OptimizerName));
  });
  // A new problem or optimizer brings its own defaults (learning rate, schedule, group).
  for (const name of ['problem', 'optimizer']) {
    field<HTMLSelectElement>(name).addEventListener('change', () => {
      const s = defaultSettings(field<HTMLSelectElement>('problem').value as ProblemName, field<HTMLSelectElement>('optimizer').value as OptimizerName);
      writeForm(s);
      prepareProblem(s);
    });
  }
  field<HTMLSelectElement>('backend').addEventListener('change', e => {
    switchBackend((e.target as HTMLSelectElement).value).catch(showError);
  });
}

async function start(): Promise<string> {
  const s = defaultSettings();
  writeForm(s);
  prepareProblem(s);
  lossChart.setData([]);
  gradChart.setData([]);
  fillSelect('backend', BACKENDS);
  wireForm();
  const requested = new URLSearchParams(location.search).get('backend');
  const name = await startBackend(requested);
  field<HTMLSelectElement>('backend').value = name;
  $('backend-info').textContent = describeBackend();
  setStatus(`ready on ${name}: pick a problem and press Run`);
  return name;
}

playground.ready = start();
playground.ready.catch(showError);
