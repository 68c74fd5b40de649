/** bench/results/README.md: one summary of every result file present. */
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, resultFileBase, table, type BenchResult } from './common.js';

const ORDER = ['cost', 'memory', 'backend', 'regression', 'mnist', 'divergence', 'hessian', 'curvature-cost', 'pays'];

export function writeReadme(): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const results: BenchResult[] = readdirSync(RESULTS_DIR)
    .filter(f => f.endsWith('.json'))
    .map(f => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as BenchResult)
    .filter(r => r && typeof r.name === 'string' && Array.isArray(r.targets))
    .sort((a, b) => ((ORDER.indexOf(a.name) + 100) % 100) - ((ORDER.indexOf(b.name) + 100) % 100));
  const lines: string[] = [];
  lines.push('# Benchmarks: what a teleport costs and what it buys');
  lines.push('');
  lines.push(
    'Reproduce everything with `npm run bench` (about 30 minutes on 2 shared cores, half of it the divergence grid) or `npm run bench -- --quick` (about 2–3 minutes, reduced grids, indicative only);',
  );
  lines.push(
    'one benchmark with `npm run bench -- --only cost` (names: cost, memory, backend, regression, mnist, divergence, hessian, curvature-cost, pays). The benchmarks never run in `npm test`.',
  );
  lines.push('Timings are ratios measured side by side in one process (interleaved, warm-up, medians); absolute times depend on the machine and its load.');
  lines.push('');
  if (results.length === 0) {
    lines.push('_No results yet._');
  } else {
    lines.push(
      table(
        ['benchmark', 'backend', 'mode', 'run at', 'tensors before → after', 'targets met', 'details'],
        results.map(r => [
          r.title,
          `${r.backend.name}${r.backend.wasmFixes ? ' + fixes' : ''}`,
          r.quick ? 'quick' : 'full',
          r.startedAt.slice(0, 16).replace('T', ' '),
          `${r.tensors.before} → ${r.tensors.after}${r.tensors.leaked ? (r.tensors.explained?.count === r.tensors.leaked ? ' (explained, see page)' : ' (LEAK)') : ''}`,
          r.targets.length ? `${r.targets.filter(t => t.met).length}/${r.targets.length}` : '—',
          `[${resultFileBase(r.name)}.md](${resultFileBase(r.name)}.md), [${resultFileBase(r.name)}.json](${resultFileBase(r.name)}.json)`,
        ]),
        5,
      ),
    );
    lines.push('');
    for (const r of results) {
      lines.push(`## ${r.title}`);
      lines.push('');
      lines.push(
        `Backend: ${r.backend.note}. ${r.quick ? '**Quick run** (`--quick`). ' : ''}Command: \`npm run bench -- --only ${r.name}${r.quick ? ' --quick' : ''}\`.`,
      );
      lines.push('');
      for (const h of r.headline) lines.push(`- ${h}`);
      if (r.targets.length) {
        lines.push('');
        for (const t of r.targets)
          lines.push(`- Target ${t.met ? '**met**' : '**missed**'}: ${t.name} (${t.target}): ${t.measured}.${!t.met && t.note ? ` ${t.note}` : ''}`);
      }
      lines.push('');
    }
  }
  const path = join(RESULTS_DIR, 'README.md');
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

export const hasResults = () => existsSync(RESULTS_DIR);
