import type * as tp from '../../src/index.js';
import type { Progress } from '../train/progress.js';

/**
 * `mt.train(family, opts)` with the CLI's progress bar: one tick per unrolled window, the best
 * validation so far as its loss. Returns the report and the wall time in seconds; the caller logs.
 */
export async function trainWithProgress(
  progress: Progress,
  label: string,
  mt: tp.meta.MetaTeleporter,
  family: Parameters<tp.meta.MetaTeleporter['train']>[0],
  opts: tp.meta.MetaTrainOptions & { trajectories: number; steps: number; unroll: number },
): Promise<{ report: tp.meta.MetaTrainReport; seconds: number }> {
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
