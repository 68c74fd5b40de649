#!/usr/bin/env node
/**
 * tfjs-teleport command line: train with and without symmetry teleportation and compare.
 * `tfjs-teleport compare` (the main job), `mnist`, `fashion-mnist`, `cifar10`, `regression`,
 * `test-functions`, `sweep`, `correlation`, `generalization`, `width-study`, `meta-diagnose`, `meta-train`, `meta-test`, `meta-transfer`. Each subcommand has
 * --help.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { registerCompare } from './commands/compare.js';
import { registerTestFunctions } from './commands/test_functions.js';
import { registerSweep } from './commands/sweep.js';
import { registerCorrelation } from './commands/correlation.js';
import { registerGeneralization } from './commands/generalization.js';
import { registerMeta } from './commands/meta.js';
import { registerMetaTransfer } from './commands/meta_transfer.js';
import { registerWidthStudy } from './commands/width_study.js';
import { refuseNaNFlags, UsageError } from './commands/common.js';

export async function main(argv: string[]): Promise<void> {
  let cli = yargs(argv).scriptName('tfjs-teleport');
  cli = registerCompare(cli) as typeof cli;
  cli = registerTestFunctions(cli) as typeof cli;
  cli = registerSweep(cli) as typeof cli;
  cli = registerCorrelation(cli) as typeof cli;
  cli = registerGeneralization(cli) as typeof cli;
  cli = registerWidthStudy(cli) as typeof cli;
  cli = registerMeta(cli) as typeof cli;
  cli = registerMetaTransfer(cli) as typeof cli;
  await cli
    // Every number flag of every command: a value that is not a number is refused by name, before the command runs.
    .middleware(parsed => refuseNaNFlags(parsed, argv))
    .demandCommand(
      1,
      'Choose a command: compare (the main job), mnist, fashion-mnist, cifar10, regression, test-functions, sweep, correlation, generalization, width-study, meta-diagnose, meta-train, meta-test, meta-transfer',
    )
    .strict()
    .recommendCommands()
    .help()
    .fail((msg, err, y) => {
      // Usage and validation errors: a clear message and a non-zero exit, no stack trace.
      const message = err ? err.message : msg;
      process.stderr.write(`${message}\n\nRun with --help for usage.\n`);
      void y;
      process.exit(2);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch(err => {
  // A usage error thrown outside a command handler (the middleware) is still a usage error: status 2.
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n\nRun with --help for usage.\n`);
    process.exit(2);
  }
  process.stderr.write(`tfjs-teleport: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
