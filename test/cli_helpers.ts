/** Running the CLI from tests (through tsx, as `npm run cli` does) and temporary output folders. */
import test from 'ava';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(process.cwd(), 'examples', 'cli.ts');
const ARGS = (args: string[]) => ['--import', 'tsx', CLI, ...args];
const ENV = () => ({ ...process.env, FORCE_COLOR: '0' });

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tfjs-teleport <args>` and waits for it. */
export function runCli(args: string[], timeout = 240_000): CliResult {
  const r = spawnSync(process.execPath, ARGS(args), { encoding: 'utf8', timeout, env: ENV() });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, asynchronous, so several runs can go at once. */
export function runCliAsync(args: string[], timeout = 240_000): Promise<CliResult> {
  return new Promise(resolve => {
    execFile(process.execPath, ARGS(args), { encoding: 'utf8', timeout, env: ENV() }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** A factory of temporary folders named `<prefix>…`, all removed after the test file's tests. */
export function tempDirs(prefix: string): () => string {
  const made: string[] = [];
  test.after.always(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    made.push(d);
    return d;
  };
}
