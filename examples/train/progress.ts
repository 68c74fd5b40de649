import cliProgress from 'cli-progress';

/** A progress bar for long runs; silent when stderr is not a terminal or when `quiet`. */
export interface Progress {
  start(total: number, label: string): void;
  update(value: number, info: { loss?: number | null; epoch?: number }): void;
  stop(): void;
  log(message: string): void;
}

export function createProgress(quiet: boolean): Progress {
  const interactive = !quiet && process.stderr.isTTY === true;
  if (!interactive) {
    return {
      start: () => {},
      update: () => {},
      stop: () => {},
      log: message => {
        if (!quiet) process.stderr.write(message + '\n');
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: '{label} [{bar}] {percentage}% | step {value}/{total} | epoch {epoch} | loss {loss} | ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 200,
    },
    cliProgress.Presets.shades_classic,
  );
  let last = 0;
  return {
    start: (total, label) => bar.start(total, 0, { label, loss: '-', epoch: 0 }),
    update: (value, info) => {
      const now = Date.now();
      if (now - last < 100 && value !== (bar as unknown as { total: number }).total) return;
      last = now;
      bar.update(value, { loss: info.loss == null ? '-' : info.loss.toPrecision(4), epoch: info.epoch ?? 0 });
    },
    stop: () => bar.stop(),
    log: message => process.stderr.write(message + '\n'),
  };
}
