/** The pays matrix as a results page, a heatmap, and the issue's targets with their numbers. */
import { fmt, table, type TargetResult } from './common.js';
import { ARM_TEXT, type ArmName } from './pays_matrix.js';
import { deepestReached, endsWorse, FRACTIONS, type ArmStats, type CellResult } from './pays_stats.js';
import type { Interval } from './pays_common.js';
import type { PaysResult } from './pays_types.js';

const pct = (f: number) => `${Math.round(f * 100)} %`;

/** "mean [lo, hi]" (95 % t-interval), with "(n/of)" when not every seed counts. */
export function fmtInterval(i: Interval, unit = ''): string {
  if (i.mean == null) return `— (0/${i.of})`;
  const core = i.lo == null ? `${fmt(i.mean)}${unit}` : `${fmt(i.mean)}${unit} [${fmt(i.lo)}, ${fmt(i.hi)}]`;
  return i.n < i.of ? `${core} (${i.n}/${i.of})` : core;
}

const rowName = (c: CellResult) => `${c.modelKey} · ${c.datasetKey} · ${c.optimizer} ${c.lrLevel}`;

/** The speedup in seconds (baseline ÷ arm) at the deepest fraction the baseline reached on every seed. */
function headlineSpeedup(c: CellResult, s: ArmStats): { fraction: number; value: Interval } | null {
  const f = deepestReached(c.stats);
  if (f == null) return null;
  const sp = s.speedup.find(x => x.fraction === f)!;
  return { fraction: f, value: sp.seconds };
}

/** The heatmap (speedup in seconds, arm ÷ baseline time inverted: > 1 means the arm is faster), PNG + SVG. */
export async function writePaysChart(r: PaysResult, base: string): Promise<boolean> {
  if (r.cells.length === 0) return false;
  const { heatmapChart, writeChart } = await import('../examples/report/charts.js');
  const arms = r.plan.arms.filter(a => a !== 'baseline');
  const values: (number | null)[][] = [];
  const labels: (string | null)[][] = [];
  for (const c of r.cells) {
    values.push([]);
    labels.push([]);
    for (const a of arms) {
      const s = c.stats.find(x => x.arm === a);
      const h = s && !s.unavailable ? headlineSpeedup(c, s) : null;
      const v = h?.value.mean ?? null;
      values[values.length - 1].push(v);
      labels[labels.length - 1].push(
        h && v != null
          ? `${v.toFixed(2)}× @${pct(h.fraction)}\n${h.value.lo != null ? `[${h.value.lo.toFixed(2)}, ${h.value.hi!.toFixed(2)}]` : `(${h.value.n}/${h.value.of})`}`
          : null,
      );
    }
  }
  const chart = await heatmapChart({
    rows: r.cells.map(rowName),
    cols: arms,
    values,
    labels,
    rowTitle: 'model · data · optimizer and learning rate',
    colTitle: 'arm',
    title: 'Speedup in seconds to a fraction of L₀ (baseline time ÷ arm time; > 1: the arm is faster)',
    subtitle: [
      `mean [95 % t-interval] over seeds ${r.plan.seeds.join(', ')}, paired per seed, arms interleaved step by step;`,
      'target: the deepest of 50/20/10 % of L₀ every baseline seed reached; n/a: arm unavailable or target not reached',
    ],
    valueTitle: 'speedup',
    scheme: 'redblue',
    domainMid: 1,
    cellWidth: 130,
    cellHeight: 42,
  });
  await writeChart(base, chart);
  return true;
}

/** One table row per arm of a cell. */
function cellRows(c: CellResult): string[][] {
  return c.stats.map(s => {
    if (s.unavailable) return [s.arm, `arm unavailable: ${s.unavailable}`, '', '', '', '', '', ''];
    const worse = s.arm !== 'baseline' && endsWorse(c.runs, s.arm).worse;
    const h = s.arm === 'baseline' ? null : headlineSpeedup(c, s);
    return [
      s.arm,
      s.reach.map(x => fmtInterval(x.steps)).join(' / '),
      s.reach.map(x => fmtInterval(x.seconds)).join(' / '),
      s.arm === 'baseline' ? '1' : s.speedup.map(x => fmtInterval(x.steps, '×')).join(' / '),
      s.arm === 'baseline' ? '1' : h ? `${fmtInterval(h.value, '×')} @${pct(h.fraction)}` : '—',
      `${fmtInterval(s.finalTrain)}${worse ? ' **worse**' : ''}`,
      fmtInterval(s.finalTest),
      s.arm === 'baseline' || s.arm === 'reset'
        ? ''
        : `${fmt(s.accepted)}/${fmt(s.teleports)}, ${fmtInterval({ ...s.teleportShare, mean: s.teleportShare.mean == null ? null : 100 * s.teleportShare.mean, lo: s.teleportShare.lo == null ? null : 100 * s.teleportShare.lo, hi: s.teleportShare.hi == null ? null : 100 * s.teleportShare.hi })} %${s.diverged ? `, ${s.diverged} diverged` : ''}`,
    ];
  });
}

/** The body of bench/results/pays.md (after the common header). */
export function paysBody(r: PaysResult, o: { chart: string | null; warnings: string[]; backend: string; env?: Record<string, string> }): string {
  const p = r.plan;
  const out: string[] = [];
  out.push('## Coverage (what ran)');
  out.push('');
  out.push(
    `- Cells: ${r.cells.length} = models ${p.models.join(', ')} × data ${p.datasets.join(', ')}${r.skipped.length ? ` (${r.skipped.length} skipped, below)` : ''} × optimizers ${p.optimizers.join(', ')} × {η*, η*/4}. The full plan is 3 models × 2 data × 5 optimizers × 2 = 60 cells; anything less is a subset and says so here.`,
  );
  for (const s of r.skipped) out.push(`- Skipped: ${s}`);
  const env = Object.entries(o.env ?? {});
  if (env.length) out.push(`- Subset chosen with: \`${env.map(([k, v]) => `${k}=${v}`).join(' ')} npm run bench -- --only pays\`.`);
  out.push(
    `- Per cell: arms ${p.arms.join(', ')}, on held-out seeds ${p.seeds.join(', ')}; ${Object.entries(p.steps)
      .filter(([k]) => p.models.includes(k as never))
      .map(([k, v]) => `${k} ${v} steps`)
      .join(
        ', ',
      )} of batch ${p.batchSize} on the first ${p.trainCount} training examples; train loss on the first ${p.evalCount} of them every ${p.evalEvery} steps, test loss on ${p.testCount} test examples at the end. Teleporting arms get one teleport batch of ${p.teleportBatchSize} training rows (drawn once per seed) as \`data\`.`,
  );
  out.push(
    `- η*: the learning rate of the grid with the lowest final train loss of the baseline on tuning seed(s) ${p.tuneSeeds.join(', ')} (never a reported seed), the grid extended past an edge (same spacing, up to twice) when the best rate sat there; grids: ${p.optimizers.map(o => `${o} ${p.lrGrid[o].join(', ')}`).join('; ')}.`,
  );
  out.push(`- gl-data event (Fig. 4.6): ${r.glData ? `timed, ${r.glData.reps} interleaved rounds` : 'not timed in this run (PAYS_GLDATA=0 or --quick)'}.`);
  out.push(`- Backend: ${o.backend}. The CPU is shared with other jobs: only ratios measured within one interleaved run count, never absolute seconds.`);
  out.push('');
  out.push('## Method');
  out.push('');
  out.push('Arms:');
  for (const a of p.arms)
    out.push(`- **${a}**: ${ARM_TEXT[a]}${a === 'default' || a === 'reset' || a === 'lookahead' ? ` (every ${p.teleportEvery} steps)` : ''}.`);
  out.push('');
  out.push(
    "Per seed every arm starts from the same weights and sees the same minibatches; the arms are stepped in lockstep, one step each per round in a rotating order, so the machine's load hits them alike. An arm's seconds are its own synced steps (teleports included); evaluations are outside the clock. L₀ is the initial train loss; steps and seconds to f·L₀ are interpolated (log-loss) between evaluations. Speedup = baseline ÷ arm per seed (paired), then mean and 95 % t-interval over seeds (t with n−1 degrees of freedom; no interval from one seed). \"worse\": the arm's mean final train loss exceeds the baseline's by more than the larger seed standard deviation.",
  );
  out.push('');
  if (o.chart) {
    out.push(`![speedup heatmap](${o.chart})`);
    out.push('');
  }
  out.push('## Learning-rate search (tuning seeds)');
  out.push('');
  out.push(
    table(
      ['model', 'data', 'optimizer', 'final train loss per lr', 'η*'],
      r.tuning.map(t => [t.model, t.dataset, t.optimizer, t.scores.map(s => `${s.lr}: ${fmt(s.loss)}`).join(', '), `${t.best}${t.edge ? ' (grid edge)' : ''}`]),
      4,
    ),
  );
  out.push('');
  out.push('## The matrix');
  out.push('');
  out.push(
    'Each cell: steps and seconds to 50 / 20 / 10 % of L₀, speedups, final losses; mean [95 % interval] over seeds, (n/of) when not every seed reached a target.',
  );
  out.push('');
  for (const c of r.cells) {
    out.push(`### ${rowName(c)} (lr ${fmt(c.lr)}): ${c.model}, ${c.dataset}`);
    out.push('');
    out.push(`L₀ per seed: ${c.l0.map(v => fmt(v)).join(', ')}.`);
    out.push('');
    out.push(
      table(
        [
          'arm',
          'steps to 50/20/10 %',
          's to 50/20/10 %',
          'speedup in steps 50/20/10 %',
          'speedup in s (deepest)',
          'final train',
          'final test',
          'teleports accepted/run, share of time',
        ],
        cellRows(c),
        1,
      ),
    );
    out.push('');
  }
  const sgdReset = r.cells
    .filter(c => c.optimizer === 'sgd')
    .flatMap(c => {
      const s = c.stats.find(x => x.arm === 'reset');
      const h = s ? headlineSpeedup(c, s) : null;
      return h && h.value.mean != null ? [`${rowName(c)} ${fmtInterval(h.value, '×')}`] : [];
    });
  if (sgdReset.length) {
    out.push('## Timing noise floor');
    out.push('');
    out.push(
      `SGD has no state, so its reset control does exactly the baseline's arithmetic (same losses to the last digit): its "speedup" in seconds is pure timing noise on this shared machine. Measured: ${sgdReset.join('; ')}. A seconds speedup whose interval contains these values is not a measured difference.`,
    );
    out.push('');
  }
  if (r.glData) {
    const g = r.glData;
    out.push('## The gl-data teleport event of Fig. 4.6');
    out.push('');
    out.push(
      `784-512-512-10 leakyRelu, SGD 2e-3, batch 20 on ${g.stepsPerEpoch * 20} digits (${g.stepsPerEpoch} steps per epoch); one event = gl-data teleports on 4 batches of 20, 10 plain ascent steps of 1e-3. Median over ${g.reps} rounds interleaved with training steps: event ${fmt(g.eventMs)} ms, step ${fmt(g.stepMs)} ms → **${fmt(100 * g.shareOfEpoch)} % of an epoch of the embedded digits**, ${fmt(mnistShare(g))} % of the dissertation's 60 000-example MNIST epoch (${MNIST_EPOCH_STEPS} steps) (accepted ${g.accepted}/4, ‖∇L‖² growth ${g.growth.map(x => fmt(x)).join(', ')}).`,
    );
    out.push('');
  }
  if (o.warnings.length) {
    out.push(`Library warnings: ${o.warnings.join('; ')}`);
    out.push('');
  }
  return out.join('\n');
}

const NEW_ARMS: ArmName[] = ['lookahead', 'auto'];

/** The issue's targets, each with its number. */
export function paysTargets(r: PaysResult): TargetResult[] {
  const targets: TargetResult[] = [];
  // The teleporting arms are judged; the reset control is a control, reported beside them.
  const armCells = r.cells.flatMap(c => c.stats.filter(s => s.arm !== 'baseline' && !s.unavailable).map(s => ({ c, s, w: endsWorse(c.runs, s.arm) })));
  const teleporting = armCells.filter(x => x.s.arm !== 'reset');
  const worse = teleporting.filter(x => x.w.worse);
  const resetWorse = armCells.filter(x => x.s.arm === 'reset' && x.w.worse);
  const list = (xs: typeof armCells) =>
    xs
      .slice(0, 6)
      .map(x => `${rowName(x.c)} ${x.s.arm} (${fmt(x.w.ratio)}× the baseline's loss)`)
      .join('; ') + (xs.length > 6 ? '; …' : '');
  targets.push({
    name: 'no teleporting arm ends worse than baseline beyond the seed spread',
    target: '0 arm-cells worse (arms default, lookahead, auto)',
    measured: `${worse.length} of ${teleporting.length} arm-cells worse${worse.length ? `: ${list(worse)}` : ''}; the reset control: ${resetWorse.length} of ${armCells.length - teleporting.length}${resetWorse.length ? ` (${list(resetWorse)})` : ''}`,
    met: worse.length === 0 && teleporting.length > 0,
  });
  const unavailable = NEW_ARMS.filter(a => r.cells.length > 0 && r.cells.every(c => c.stats.find(s => s.arm === a)?.unavailable != null));
  const avail = NEW_ARMS.filter(a => !unavailable.includes(a));
  const missingNote = unavailable.length ? `arm(s) ${unavailable.join(', ')} unavailable in this build` : undefined;
  const stat = (c: CellResult, a: ArmName) => c.stats.find(s => s.arm === a && !s.unavailable);
  // Target 2: at η*/4, steps ≥ 1.2× and seconds ≥ 1.1× fewer to 10 % of L₀.
  const quarter = r.cells.filter(c => c.lrLevel === 'η*/4');
  const pays = quarter.filter(c =>
    avail.some(a => {
      const sp = stat(c, a)?.speedup.find(x => x.fraction === 0.1);
      return sp != null && (sp.steps.mean ?? 0) >= 1.2 && (sp.seconds.mean ?? 0) >= 1.1;
    }),
  );
  targets.push({
    name: "'lookahead' or 'auto' pays at η*/4",
    target: '≥ 1.2× fewer steps and ≥ 1.1× fewer seconds to 10 % of L₀ in ≥ half of the η*/4 cells',
    measured: avail.length ? `${pays.length} of ${quarter.length} cells` : 'not measurable',
    met: avail.length > 0 && quarter.length > 0 && pays.length * 2 >= quarter.length,
    note:
      missingNote ??
      (quarter.some(c => deepestReached(c.stats) !== 0.1) ? 'cells whose baseline did not reach 10 % of L₀ on every seed count as not met' : undefined),
  });
  // Target 3: no slower at η* (the interval of the seconds speedup reaches 1).
  const star = r.cells.filter(c => c.lrLevel === 'η*');
  const slower = (a: ArmName) =>
    star.filter(c => {
      const s = stat(c, a);
      const h = s ? headlineSpeedup(c, s) : null;
      return h != null && h.value.mean != null && (h.value.hi ?? h.value.mean) < 1;
    });
  const slowerBy = avail.map(a => ({ a, cells: slower(a) }));
  targets.push({
    name: "'lookahead'/'auto' no slower at η*",
    target: 'the 95 % interval of the seconds speedup reaches 1 in every η* cell',
    measured: avail.length ? slowerBy.map(x => `${x.a}: slower in ${x.cells.length} of ${star.length}`).join('; ') : 'not measurable',
    met: slowerBy.some(x => x.cells.length === 0) && star.length > 0,
    note: missingNote,
  });
  // Target 4: fewer steps than today's default teleports in most cells (deepest common target).
  const beats = avail.map(a => {
    const won = r.cells.filter(c => {
      const f = deepestReached(c.stats);
      const mine = stat(c, a)?.reach.find(x => x.fraction === f)?.steps.mean;
      const def = stat(c, 'default')?.reach.find(x => x.fraction === f)?.steps.mean;
      return f != null && mine != null && (def == null || mine < def);
    });
    return { a, won: won.length };
  });
  targets.push({
    name: "'lookahead'/'auto' beat default teleports in steps",
    target: 'fewer steps to the deepest common fraction of L₀ in most cells',
    measured: avail.length ? beats.map(b => `${b.a}: ${b.won} of ${r.cells.length}`).join('; ') : 'not measurable',
    met: beats.some(b => b.won * 2 > r.cells.length),
    note: missingNote,
  });
  targets.push({
    name: 'gl-data event (Fig. 4.6) cost',
    target: "≤ 5 % of an epoch (the dissertation's: 60 000 MNIST examples)",
    measured: r.glData
      ? `${fmt(mnistShare(r.glData))} % of a 60 000-example epoch, ${fmt(100 * r.glData.shareOfEpoch)} % of an embedded-digits epoch (${fmt(r.glData.eventMs)} ms per event of 4 teleports; a step ${fmt(r.glData.stepMs)} ms)`
      : 'not timed in this run',
    met: r.glData != null && mnistShare(r.glData) <= 5,
    note: r.glData
      ? "rank-16 element (glDataRank): what is left is tfjs's generic second-order autodiff of ‖∇L‖² through the network, about 5 training steps per ascent evaluation × 40 evaluations per event (profile in docs/gl_data_low_rank.md)"
      : undefined,
  });
  return targets;
}

export { FRACTIONS };

/** Steps in an epoch of the dissertation's Fig. 4.6 run: 60 000 MNIST examples in batches of 20. */
export const MNIST_EPOCH_STEPS = 3000;

/** The gl-data event as a percentage of that epoch (same-process step time). */
function mnistShare(g: { eventMs: number; stepMs: number }): number {
  return (100 * g.eventMs) / (MNIST_EPOCH_STEPS * g.stepMs);
}
