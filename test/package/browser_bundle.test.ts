import test from 'ava';
import { build, type BuildFailure, type BuildOptions } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

// The library must bundle for browsers: nothing under src/ may import a Node built-in. esbuild with
// platform 'browser' cannot resolve 'fs', 'node:path', … and fails the build on them.

const ROOT = process.cwd();

/** package.json "exports": subpath → the src/ file it is built from (./dist/src/x.js ← src/x.ts). */
function packageEntries(): Record<string, string> {
  const exportsMap = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports as Record<string, string | { import: string; types: string }>;
  const entries: Record<string, string> = {};
  for (const [subpath, target] of Object.entries(exportsMap)) {
    if (typeof target === 'string') continue; // './package.json'
    entries[subpath] = target.import.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts');
  }
  return entries;
}
const ENTRIES = Object.values(packageEntries());

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

test('every package.json export points at a src/ entry, its types beside its code', t => {
  const exportsMap = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports;
  const entries = packageEntries();
  t.deepEqual(Object.keys(entries).sort(), ['.', './advanced', './groups', './hessian', './meta', './metrics', './problems', './surgery', './wasm-fixes']);
  for (const [subpath, file] of Object.entries(entries)) {
    t.true(existsSync(join(ROOT, file)), `${subpath} → ${file}`);
    t.is(exportsMap[subpath].types, exportsMap[subpath].import.replace(/\.js$/, '.d.ts'), subpath);
  }
});

test('each package entry bundles for the browser on its own, with tfjs and no Node built-ins', async t => {
  for (const entry of ENTRIES) {
    const r = await browserBuild({ entryPoints: [entry] });
    t.is(r.errors, null, entry);
    t.is(r.outputs, 1, entry);
    t.true(r.inputs.includes(entry), entry);
  }
});

test('the package entries bundle together for the browser with tfjs and no Node built-ins', async t => {
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
