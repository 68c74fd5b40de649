import test from 'ava';
import { build, type BuildFailure, type BuildOptions } from 'esbuild';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

// The library must bundle for browsers: nothing under src/ may import a Node built-in. esbuild with
// platform 'browser' cannot resolve 'fs', 'node:path', … and fails the build on them.

const ROOT = process.cwd();
const ENTRIES = ['src/index.ts', 'src/backend/wasm_fixes.ts']; // 'tfjs-teleport' and 'tfjs-teleport/wasm-fixes'

function srcFiles(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e =>
    e.isDirectory() ? srcFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [relative(ROOT, join(dir, e.name))] : [],
  );
}

interface BrowserBuild {
  /** null on success, else esbuild's errors, each with the importing file and line. */
  errors: string | null;
  inputs: string[];
  outputs: number;
}

async function browserBuild(options: BuildOptions): Promise<BrowserBuild> {
  try {
    const r = await build({
      absWorkingDir: ROOT,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      outdir: 'out',
      metafile: true,
      logLevel: 'silent',
      ...options,
    });
    return { errors: null, inputs: Object.keys(r.metafile?.inputs ?? {}), outputs: r.outputFiles?.length ?? 0 };
  } catch (e) {
    const errors = (e as BuildFailure).errors;
    if (errors == null) throw e;
    return { errors: errors.map(x => `${x.location?.file ?? '?'}:${x.location?.line ?? '?'}: ${x.text}`).join('\n'), inputs: [], outputs: 0 };
  }
}

test('the package entries bundle for the browser with tfjs and no Node built-ins', async t => {
  const r = await browserBuild({ entryPoints: ENTRIES });
  t.is(r.errors, null);
  t.is(r.outputs, ENTRIES.length);
  for (const entry of ENTRIES) t.true(r.inputs.includes(entry), entry);
  t.true(
    r.inputs.some(f => f.includes('@tensorflow/tfjs-layers')),
    'tfjs-layers is bundled, not left external',
  );
});

test('every file under src/ bundles for the browser (also files no entry reaches yet)', async t => {
  const files = srcFiles();
  t.true(files.length > 20, `${files.length} files`);
  t.is((await browserBuild({ entryPoints: files, external: ['@tensorflow/*'] })).errors, null);
});

test('the check fails on a Node import (control)', async t => {
  for (const builtin of ['node:fs', 'path']) {
    const { errors } = await browserBuild({
      stdin: { contents: `export * from './src/index.ts';\nimport '${builtin}';\n`, resolveDir: ROOT, loader: 'ts', sourcefile: 'src/with_node_import.ts' },
      external: ['@tensorflow/*'],
    });
    t.regex(errors ?? '', new RegExp(`src/with_node_import\\.ts:2: Could not resolve "${builtin}"`));
  }
});
