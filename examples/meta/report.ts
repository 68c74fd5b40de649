/** Charts and the Markdown summary of `meta-test`. */
import { renderChart, type RenderedChart } from '../report/charts.js';
import { meanStd } from '../report/stats.js';
import { type ArmRun, stepsTo } from './arms.js';

/** Mean ± std of the loss (and of the elapsed seconds) per arm and step over tasks. */
export function curves(runs: readonly ArmRun[]): Array<{ arm: string; step: number; mean: number; std: number; seconds: number; tasks: number }> {
  const arms = [...new Set(runs.map(r => r.arm))];
  const out: Array<{ arm: string; step: number; mean: number; std: number; seconds: number; tasks: number }> = [];
  for (const arm of arms) {
    const mine = runs.filter(r => r.arm === arm);
    const steps = Math.max(...mine.map(r => r.losses.length));
    for (let s = 0; s < steps; s++) {
      const at = mine.filter(r => s < r.losses.length && Number.isFinite(r.losses[s]));
      if (at.length === 0) continue;
      const l = meanStd(at.map(r => r.losses[s]));
      out.push({ arm, step: s, mean: l.mean, std: l.std, seconds: meanStd(at.map(r => r.ms[s] / 1000)).mean, tasks: at.length });
    }
  }
  return out;
}

/** Loss vs step or vs seconds: mean line per arm, ±1 std band, dashed for arms with teleports switched off. */
/** Line symbols, fully opaque, in both layers' legend (the bands' faint fill would otherwise set its look; one spec, no merge conflict). */
const ARM_LEGEND = { symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1 };

export async function lossChart(runs: readonly ArmRun[], x: 'step' | 'seconds', subtitle: string): Promise<RenderedChart> {
  const rows = curves(runs);
  const floor = Math.min(...rows.map(r => r.mean)) / 10;
  const values = rows.map(r => ({
    ...r,
    lo: Math.max(r.mean - r.std, floor),
    hi: r.mean + r.std,
    off: r.arm.includes('tele off') ? 'teleports off' : 'as trained',
  }));
  const xEnc = { field: x, type: 'quantitative' as const, title: x === 'step' ? 'step' : 'wall time (s, mean over tasks)' };
  return renderChart({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: `Meta-teleporters on unseen tasks: loss vs ${x === 'step' ? 'step' : 'wall time'}`, subtitle },
    width: 520,
    height: 320,
    config: {
      font: 'DejaVu Sans',
      legend: { labelLimit: 400, labelFontSize: 12 },
      axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal' },
      title: { anchor: 'start' },
    },
    data: { values },
    layer: [
      {
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: xEnc,
          y: { field: 'mean', type: 'quantitative', scale: { type: 'log' }, title: 'loss ‖Y − Ŷ‖²_F (mean ± std over tasks)' },
          color: { field: 'arm', type: 'nominal', title: 'arm', legend: ARM_LEGEND },
          strokeDash: {
            field: 'off',
            type: 'nominal',
            title: null,
            scale: {
              domain: ['as trained', 'teleports off'],
              range: [
                [1, 0],
                [5, 3],
              ],
            },
          },
        },
      },
      {
        mark: { type: 'area', opacity: 0.12 },
        encoding: {
          x: xEnc,
          y: { field: 'lo', type: 'quantitative', scale: { type: 'log' } },
          y2: { field: 'hi' },
          color: { field: 'arm', type: 'nominal', title: 'arm', legend: ARM_LEGEND },
        },
      },
    ],
  } as never);
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(2));

/**
 * The per-task comparison of an arm with another on the same tasks: the final-loss difference (other − arm)
 * as mean ± std over tasks, the tasks where the arm ends lower, and whether the mean gain exceeds the seed
 * spread (the larger of the two arms' standard deviations over tasks). Undefined when a run diverged.
 */
export function pairedGain(runs: readonly ArmRun[], arm: string, other: string): string | undefined {
  const finalOf = (name: string) => new Map(runs.filter(r => r.arm === name).map(r => [r.task, r.losses.at(-1) as number]));
  const a = finalOf(arm);
  const b = finalOf(other);
  const tasks = [...a.keys()].filter(k => b.has(k));
  const la = tasks.map(k => a.get(k) as number);
  const lb = tasks.map(k => b.get(k) as number);
  if (tasks.length === 0 || ![...la, ...lb].every(Number.isFinite) || new Set(runs.filter(r => r.arm === arm).map(r => r.losses.length)).size !== 1)
    return undefined;
  const d = meanStd(lb.map((v, i) => v - la[i]));
  const spread = Math.max(meanStd(la).std, meanStd(lb).std);
  const wins = la.filter((v, i) => v < lb[i]).length;
  return `Per task, switched off − as trained: ${fmt(d.mean)} ± ${fmt(d.std)}; lower on ${wins}/${tasks.length} tasks; the mean gain is ${d.mean > spread ? 'larger' : 'not larger'} than the seed spread (${fmt(spread)}).`;
}

/** "12.4 ± 3.1 (5/5)": mean ± std of the steps over the tasks that reached the target, and how many did. */
function reach(rs: readonly ArmRun[], fraction: number): string {
  const hits = rs.map(r => stepsTo(r.losses, fraction)).filter((s): s is number => s != null);
  if (hits.length === 0) return `— (0/${rs.length})`;
  const m = meanStd(hits);
  return `${m.mean.toFixed(1)} ± ${m.std.toFixed(1)} (${hits.length}/${rs.length})`;
}

export interface MetaTestSetting {
  family: string;
  tasks: number;
  steps: number;
  gdLr: number;
  backend: string;
  teleporters: Array<{ learn: string; trajectories: number; hidden: number; baseLr: number; keptStart: boolean; architecture?: string }>;
}

/** The Markdown summary: per arm, final loss, steps to 10 % and 1 % of L₀, time per step, and the ablation. */
export function metaSummary(runs: readonly ArmRun[], s: MetaTestSetting): string {
  const arms = [...new Set(runs.map(r => r.arm))];
  const lines = [
    '# Meta-teleporters on unseen tasks (dissertation Fig. 5.12)',
    '',
    `${s.tasks} unseen ${s.family} tasks (seeds disjoint from training and validation), ${s.steps} steps each, backend ${s.backend}. ` +
      `GD uses the largest stable step size found by a grid search on training tasks: ${s.gdLr}. Teleporters: ` +
      s.teleporters
        .map(
          t =>
            `${t.learn} (${t.architecture ?? 'full'}, hidden ${t.hidden}, ${t.trajectories} training trajectories, η₀ = ${t.baseLr}${t.keptStart ? '; no trained candidate beat its untrained, GD-equivalent start on validation, so it is that start' : ''})`,
        )
        .join('; ') +
      '. Steps to a target: the first step whose loss is at or below it, mean ± std over the tasks that reached it (how many did).',
    '',
    '| arm | final loss (mean ± std) | steps to 10 % of L₀ | steps to 1 % of L₀ | ms per step | largest loss drift of a group action |',
    '|---|---|---|---|---|---|',
  ];
  const finals: Record<string, number> = {};
  for (const arm of arms) {
    const rs = runs.filter(r => r.arm === arm);
    const last = rs.map(r => r.losses[r.losses.length - 1]);
    const ok = last.every(Number.isFinite) && rs.every(r => r.losses.length === s.steps + 1);
    const f = meanStd(last);
    finals[arm] = ok ? f.mean : Number.NaN;
    const msPerStep = meanStd(rs.map(r => r.ms[r.ms.length - 1] / Math.max(1, r.ms.length - 1))).mean;
    const drift = rs.some(r => r.maxTeleportDrift != null) ? Math.max(...rs.map(r => r.maxTeleportDrift ?? 0)).toExponential(1) : '—';
    lines.push(
      `| ${arm} | ${ok ? `${fmt(f.mean)} ± ${fmt(f.std)}` : 'diverged'} | ${reach(rs, 0.1)} | ${reach(rs, 0.01)} | ${msPerStep.toFixed(1)} | ${drift} |`,
    );
  }
  lines.push('', '## What the teleports contribute (ablation)', '');
  for (const arm of arms.filter(a => a.endsWith('(tele off)'))) {
    const on = arm.replace(' (tele off)', '');
    const a = finals[on];
    const b = finals[arm];
    lines.push(
      Number.isFinite(a) && Number.isFinite(b)
        ? `- ${on}: final loss ${fmt(a)} with its learned teleports, ${fmt(b)} with them switched off (g = I, the same update): ${a === b ? 'no difference' : b > a ? `switching them off raises the final loss by ${(((b - a) / a) * 100).toFixed(1)} %` : `switching them off lowers it by ${(((a - b) / a) * 100).toFixed(1)} %`}.`
        : `- ${on}: a run diverged, no comparison.`,
    );
    const paired = pairedGain(runs, on, arm);
    if (paired) lines.push(`  ${paired}`);
  }
  const hand = arms.find(a => a.startsWith('GD + ascent teleport'));
  const learned = arms.find(a => a.startsWith('GD + LSTM(tele)') && !a.endsWith('(tele off)'));
  if (hand && learned) {
    const paired = pairedGain(runs, learned, hand);
    const show = (arm: string) => (Number.isFinite(finals[arm]) ? fmt(finals[arm]) : 'diverged');
    lines.push(
      `- ${learned} against the hand-made teleport at the same step size (${hand}: the core's gradient-norm ascent, growth cap 2): final loss ${show(learned)} vs ${show(hand)}.`,
    );
    if (paired) lines.push(`  ${paired.replace('switched off', 'hand-made')}`);
  }
  const best = arms.filter(a => Number.isFinite(finals[a])).sort((x, y) => finals[x] - finals[y])[0];
  if (best) lines.push('', `Lowest mean final loss after ${s.steps} steps: ${best} (${fmt(finals[best])}); GD: ${fmt(finals.GD)}.`);
  return `${lines.join('\n')}\n`;
}
