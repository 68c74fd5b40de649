/** The Markdown summary of `meta-transfer`: per test setting, GD at its own best stable step size beside the coordinate-wise teleporter. */
import { meanStd } from '../report/stats.js';
import { type ArmRun, stepsTo } from './arms.js';

/** One test setting of the transfer study and its runs. */
export interface TransferSetting {
  /** e.g. "twoLayerRegression, width 40". */
  name: string;
  width: number;
  depth: number;
  /** GD's largest stable step size on this setting (searched on its own tasks). */
  gdLr: number;
  runs: ArmRun[];
}

const fmt = (v: number) => (Math.abs(v) >= 1000 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(2));

function reach(rs: readonly ArmRun[], fraction: number): string {
  const hits = rs.map(r => stepsTo(r.losses, fraction)).filter((s): s is number => s != null);
  if (hits.length === 0) return `— (0/${rs.length})`;
  const m = meanStd(hits);
  return `${m.mean.toFixed(1)} ± ${m.std.toFixed(1)} (${hits.length}/${rs.length})`;
}

/** Final loss of an arm as a fraction of L₀, mean over tasks (NaN when a run diverged). */
export function finalRatio(rs: readonly ArmRun[], steps: number): number {
  if (rs.some(r => r.losses.length !== steps + 1 || !Number.isFinite(r.losses[steps]))) return Number.NaN;
  return meanStd(rs.map(r => r.losses[steps] / r.losses[0])).mean;
}

/**
 * The transfer table: one block of rows per setting (arm, final loss, final L/L₀, steps to 10 % and 1 %
 * of L₀, largest loss drift of a group action), then one line per setting comparing the teleporter with GD.
 */
export function transferSummary(
  settings: readonly TransferSetting[],
  info: {
    trainedOn: string;
    trajectories: number;
    hidden: number;
    baseLr: number;
    tasks: number;
    steps: number;
    backend: string;
    learn: string;
    keptStart: boolean;
  },
): string {
  const lines = [
    '# Transfer of a coordinate-wise meta-teleporter',
    '',
    `One coordinate-wise teleporter (learn ${info.learn}, hidden ${info.hidden}, η₀ = ${info.baseLr}, ${info.trajectories} training trajectories on ${info.trainedOn}${info.keptStart ? '; no trained candidate beat its untrained, GD-equivalent start on validation, so it is that start' : ''}) ` +
      `run without retraining on ${info.tasks} unseen tasks of each setting, ${info.steps} steps, backend ${info.backend}. ` +
      "GD uses each setting's own largest stable step size (grid ×10^¼ searched on that setting's training-seed tasks): a baseline tuned where the teleporter is not. " +
      "'GD at η₀' is the teleporter's untrained start. Steps to a target: first step at or below it, mean ± std over the tasks that reached it (how many did).",
    '',
    '| setting | arm | final loss (mean ± std) | final L/L₀ | steps to 10 % of L₀ | steps to 1 % of L₀ | largest loss drift of a group action |',
    '|---|---|---|---|---|---|---|',
  ];
  const verdicts: string[] = [];
  for (const s of settings) {
    const arms = [...new Set(s.runs.map(r => r.arm))];
    for (const arm of arms) {
      const rs = s.runs.filter(r => r.arm === arm);
      const ratio = finalRatio(rs, info.steps);
      const f = meanStd(rs.map(r => r.losses[r.losses.length - 1]));
      const drift = rs.some(r => r.maxTeleportDrift != null) ? Math.max(...rs.map(r => r.maxTeleportDrift ?? 0)).toExponential(1) : '—';
      lines.push(
        `| ${s.name} | ${arm} | ${Number.isFinite(ratio) ? `${fmt(f.mean)} ± ${fmt(f.std)}` : 'diverged'} | ${Number.isFinite(ratio) ? ratio.toExponential(2) : '—'} | ${reach(rs, 0.1)} | ${reach(rs, 0.01)} | ${drift} |`,
      );
    }
    const gd = finalRatio(
      s.runs.filter(r => r.arm === `GD (${s.gdLr})`),
      info.steps,
    );
    const mt = finalRatio(
      s.runs.filter(r => r.arm === 'coordinate-wise teleporter'),
      info.steps,
    );
    verdicts.push(
      !Number.isFinite(mt)
        ? `- ${s.name}: the teleporter diverged.`
        : !Number.isFinite(gd)
          ? `- ${s.name}: GD diverged.`
          : `- ${s.name}: final L/L₀ ${mt.toExponential(2)} for the teleporter vs ${gd.toExponential(2)} for GD at its best stable step size ${s.gdLr}: ${Math.abs(mt - gd) <= 0.005 * gd ? 'the same to within 0.5 %' : mt < gd ? `the teleporter is ${(gd / mt).toFixed(2)}× lower` : `GD is ${(mt / gd).toFixed(2)}× lower`}.`,
    );
  }
  lines.push('', '## Teleporter vs tuned GD, per setting', '', ...verdicts, '');
  return lines.join('\n');
}
