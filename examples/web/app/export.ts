import { runCsv, runSlug, runsJson } from '../../report/csv.js';
import type { RunRecord } from '../../report/types.js';
import type { ArmTrace, RunResult } from './run.js';

/** One arm of a playground run as the CLI's run record (examples/report/types.ts). */
export function toRunRecord(result: RunResult, trace: ArmTrace): RunRecord {
  const s = result.settings;
  const teleport = trace.variant === 'teleport';
  const secondsAt = (step: number) => trace.points[Math.min(step, trace.points.length - 1)]?.seconds ?? 0;
  const last = trace.points[trace.points.length - 1];
  return {
    optimizer: s.optimizer,
    variant: trace.variant,
    seed: s.seed,
    label: `${s.optimizer}${teleport ? ' + teleport' : ''}`,
    points: trace.points,
    teleports: trace.teleports.map(r => ({
      epoch: trace.points[r.step ?? 0]?.epoch ?? 0,
      step: r.step ?? 0,
      seconds: secondsAt(r.step ?? 0),
      ms: r.ms,
      gradNormSqBefore: r.gradNormSqBefore,
      gradNormSqAfter: r.gradNormSqAfter,
      relativeLossDrift: r.relativeLossDrift,
      accepted: r.accepted,
    })),
    totalSeconds: last?.seconds ?? 0,
    teleportSeconds: trace.teleports.reduce((a, r) => a + r.ms / 1000, 0),
    diverged: trace.points.some(p => !Number.isFinite(p.trainLoss)),
  };
}

/** A file the page offers for download. */
export interface ExportFile {
  name: string;
  type: string;
  text: string;
}

/** The run as the CLI writes a comparison: one CSV per arm (runs/<slug>.csv) and runs.json. */
export function exportFiles(result: RunResult): ExportFile[] {
  const runs = [toRunRecord(result, result.arms.plain), toRunRecord(result, result.arms.teleport)];
  const config = {
    command: 'playground',
    ...result.settings,
    backend: result.backend,
    stepsDone: result.stepsDone,
    stopped: result.stopped,
    msPerStep: result.msPerStep,
    startedAt: result.startedAt,
  };
  return [
    ...runs.map(r => ({ name: `${result.settings.problem}-${runSlug(r)}.csv`, type: 'text/csv', text: runCsv(r) })),
    {
      name: `${result.settings.problem}-runs.json`,
      type: 'application/json',
      text: runsJson(runs, { title: `playground: ${result.settings.problem}`, config }),
    },
  ];
}

/** Saves a file through the browser's download. */
export function download(file: ExportFile): void {
  const url = URL.createObjectURL(new Blob([file.text], { type: file.type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = file.name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
