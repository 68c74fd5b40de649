import test from 'ava';
import { runCli, runCliAsync, tempDirs } from '../cli_helpers.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { hessianByDifferences, lossAndGradient, predict, type Layer64 } from '../float64_mlp.js';

const tempDir = tempDirs('tp-width-');
const tiny = [
  '--teacher-width',
  '2',
  '--multipliers',
  '1,2',
  '--seeds',
  '1',
  '--samples',
  '24',
  '--max-steps',
  '150',
  '--activation',
  'tanh',
  '--backend',
  'cpu',
  '--quiet',
];

interface Row {
  source: string;
  multiplier: number;
  width: number;
  params: number;
  finalLoss: number;
  lambdaMax: number;
  trace: number;
  rank: number;
  weights: number[][][];
}

/** The network of a students.json row in float64: kernels [in][out], tanh hidden layers, linear output. */
function net(r: Row): Layer64[] {
  const layers: Layer64[] = [];
  for (let i = 0; i < r.weights.length; i += 2)
    layers.push({ w: r.weights[i], b: r.weights[i + 1] as unknown as number[], act: i + 2 < r.weights.length ? 'tanh' : 'linear' });
  return layers;
}

test('width-study (tiny): files, a table that matches the CSV, and λmax, tr H, loss recomputed in float64 from the saved weights', t => {
  const out = join(tempDir(), 'ws');
  const r = runCli(['width-study', ...tiny, '--out', out], 120_000);
  t.is(r.code, 0, r.stderr);
  for (const f of [
    'students.csv',
    'students.json',
    'summary.md',
    ...['condition_number', 'top_eigenvalue', 'amgm', 'steps'].flatMap(c => [`${c}_vs_width.png`, `${c}_vs_width.svg`]),
  ])
    t.true(existsSync(join(out, f)), f);
  const csv = readFileSync(join(out, 'students.csv'), 'utf8').trim().split('\n');
  t.is(csv[0], 'source,multiplier,width,seed,params,steps,final_loss,spectrum,lambda_max,condition_number,amgm,rank,negative,log_pdet,trace,seconds');
  t.deepEqual(
    csv.slice(1).map(l => l.split(',').slice(0, 3).join(',')),
    ['teacher,1,2', 'scratch,1,2', 'scratch,2,4', 'split,2,4'],
  );
  const json = JSON.parse(readFileSync(join(out, 'students.json'), 'utf8'));
  const { x, y } = json.data as { x: number[][]; y: number[][] };
  t.is(x.length, 24);
  const rows = json.students as Row[];
  for (const row of rows) {
    const n = net(row);
    // The loss at the saved weights, in float64.
    const { loss } = lossAndGradient(n, x, y);
    t.true(Math.abs(loss - row.finalLoss) <= 1e-6 + 1e-3 * loss, `${row.source} ×${row.multiplier}: loss ${row.finalLoss} vs float64 ${loss}`);
    // The Hessian by float64 central differences of the analytic gradient; its eigenvalues by ml-matrix.
    const h = hessianByDifferences(n, x, y);
    t.is(h.length, row.params);
    const eig = new EigenvalueDecomposition(new Matrix(h), { assumeSymmetric: true }).realEigenvalues;
    const lmax = Math.max(...eig);
    const tr = h.reduce((s, hr, i) => s + hr[i], 0);
    t.true(Math.abs(lmax - row.lambdaMax) < 1e-3 * lmax, `${row.source} ×${row.multiplier}: λmax ${row.lambdaMax} vs float64 ${lmax}`);
    t.true(Math.abs(tr - row.trace) < 1e-3 * Math.abs(tr), `${row.source} ×${row.multiplier}: tr ${row.trace} vs float64 ${tr}`);
  }
  // The split teacher computes the teacher's function: its outputs are the targets, and its loss ~0.
  const split = rows.find(r => r.source === 'split')!;
  const teacher = rows.find(r => r.source === 'teacher')!;
  t.is(split.width, 4);
  x.forEach((xi, k) => predict(net(split), xi).forEach((o, c) => t.true(Math.abs(o - y[k][c]) < 1e-5)));
  t.true(split.finalLoss < 1e-10);
  t.is(split.rank, teacher.rank);
  // The Markdown table shows the CSV's numbers (one seed: the median is the value).
  const md = readFileSync(join(out, 'summary.md'), 'utf8');
  const scratch4 = csv.find(l => l.startsWith('scratch,2,4'))!.split(',');
  const lambda = Number(scratch4[8]);
  const rowLine = md.split('\n').find(l => l.startsWith('| 4 | 2 | 22 |'));
  t.truthy(rowLine, md);
  t.true(rowLine!.includes(` ${lambda.toPrecision(4)} `), `${rowLine} should show λmax ${lambda.toPrecision(4)}`);
  t.regex(md, /Sareen et al\. §8\.2, Fig\. 7/);
  t.regex(md, /teacher split into wider students/);
  t.regex(md, /--teacher-width 8 --multipliers 1,2,4,8,16/);
});

test('width-study: bad flags exit 2 naming the flag, before training, and write nothing', async t => {
  const dir = tempDir();
  const cases = [
    ['--multipliers', '0,2', /--multipliers must be positive integers/],
    ['--depth', '4', /--depth must be an integer from 1 to 3/],
    ['--zero-tolerance', '-1', /--zero-tolerance must be a number ≥ 0/],
  ] as const;
  const results = await Promise.all(cases.map(([flag, value]) => runCliAsync(['width-study', ...tiny, flag, value, '--out', join(dir, 'x')], 120_000)));
  cases.forEach(([flag, value, pattern], i) => {
    t.is(results[i].code, 2, `${flag} ${value}: ${results[i].stderr}`);
    t.regex(results[i].stderr, pattern);
    t.false(existsSync(join(dir, 'x')));
  });
});
