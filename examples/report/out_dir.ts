import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { UsageError } from '../commands/common.js';

/** At most a few names of `entries`, sorted, for messages. */
function someOf(entries: string[]): string {
  const shown = [...entries].sort().slice(0, 3).join(', ');
  return entries.length > 3 ? `${shown} and ${entries.length - 3} more` : shown;
}

/**
 * Checks, before any training, that `outDir` can become this run's output folder, so a bad --out fails at
 * once instead of after all runs trained. It must not exist or be an empty folder (the CLI refuses to mix a
 * previous run's files with this one's rather than delete them), and the nearest existing folder above it
 * must be a writable folder. Throws a {@link UsageError} naming the problem and the fix.
 */
export function checkOutDir(outDir: string): void {
  if (outDir.trim() === '') throw new UsageError('--out is empty; pass a folder path (new or empty), or omit --out for runs/<command>-<time>');
  if (existsSync(outDir)) {
    if (!statSync(outDir).isDirectory())
      throw new UsageError(`--out ${outDir} is an existing file, not a folder; pass a folder path (new or empty) or remove the file`);
    const entries = readdirSync(outDir);
    if (entries.length) {
      throw new UsageError(
        `--out ${outDir} is not empty (it holds ${someOf(entries)}); its files would be mixed with this run's, so nothing is written there. Pass a new or empty folder, or remove the old outputs first`,
      );
    }
    return;
  }
  let above = dirname(resolve(outDir));
  while (!existsSync(above)) above = dirname(above);
  if (!statSync(above).isDirectory()) throw new UsageError(`--out ${outDir}: ${above} is a file, so no folder can be made under it; pass another --out`);
  try {
    accessSync(above, constants.W_OK);
  } catch {
    throw new UsageError(`--out ${outDir}: cannot create folders in ${above} (not writable); pass another --out`);
  }
}

/**
 * Writes a run's outputs all or nothing: `write` fills a fresh hidden folder beside `outDir`, which is then
 * renamed to `outDir` (an empty `outDir` is replaced). If anything fails part way, the temporary folder and
 * any parent folders made for it are removed, so neither half-written outputs nor leftovers remain.
 * `write` returns the paths it wrote; they come back as paths under `outDir`.
 */
export async function writeAllOrNothing(outDir: string, write: (dir: string) => Promise<string[]>): Promise<string[]> {
  const target = resolve(outDir);
  const parent = dirname(target);
  const madeParent = mkdirSync(parent, { recursive: true });
  let staging: string | undefined;
  try {
    staging = makeStagingFolder(parent, basename(target));
    const files = await write(staging);
    moveIntoPlace(staging, target);
    return files.map(f => join(outDir, relative(staging!, f)));
  } catch (e) {
    if (staging) rmSync(staging, { recursive: true, force: true });
    removeEmptyFolders(parent, madeParent);
    throw new Error(`could not write the outputs to ${outDir}, so none were kept: ${(e as Error).message}`);
  }
}

/** A new hidden folder in `parent`; made by mkdirSync, not mkdtempSync, so it gets the usual permissions rather than 0700. */
function makeStagingFolder(parent: string, name: string): string {
  const staging = join(parent, `.${name}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging);
  return staging;
}

/** Renames the finished `staging` folder to `target`; an empty `target` goes first (Windows cannot rename onto a folder). */
function moveIntoPlace(staging: string, target: string): void {
  if (existsSync(target)) rmdirSync(target);
  renameSync(staging, target);
}

/** Removes `folder` and its parents up to `made` (the first folder mkdirSync created), stopping at one that is not empty. */
function removeEmptyFolders(folder: string, made: string | undefined): void {
  if (made == null) return;
  for (let d = folder; d.startsWith(made); d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}
