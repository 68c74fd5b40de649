import type * as tpMeta from '../../src/meta.js';
import type { Progress } from '../train/progress.js';

/**
 * `mt.train(family, opts)` with the CLI's progress bar: one tick per unrolled window, the best
 * validation so far as its loss. Returns the report and the wall time in seconds; the caller logs.
 */
export async function trainWithProgress(
  progress: Progress,
  label: string,
  mt: tpMeta.MetaTeleporter,
  family: Parameters<tpMeta.MetaTeleporter['train']>[0],
  opts: tpMeta.MetaTrainOptions & { trajectories: number; steps: number; unroll: number },
): Promise<{ report: tpMeta.MetaTrainReport; seconds: number }> {
  const windows = opts.steps / opts.unroll;
  progress.start(opts.trajectories * windows, label.padEnd(20));
  const started = performance.now();
  const report = await mt.train(family, {
    ...opts,
    onProgress: p => progress.update((p.trajectory - 1) * windows + p.window, { loss: p.best ?? null, epoch: p.trajectory }),
  });
  progress.stop();
  return { report, seconds: (performance.now() - started) / 1000 };
}
