import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beyondEdge, LR_GRID, paysPlan, runPaysMatrix, type PaysPlan } from '../../bench/pays.js';
import { reachAt } from '../../bench/pays_matrix.js';
import { paysBody, paysTargets, writePaysChart } from '../../bench/pays_report.js';
import { tInterval } from '../../bench/pays_common.js';

test.before(async () => {
  tf.enableProdMode();
  await tf.setBackend('cpu');
});

/** One small cell: the narrow MLP on the embedded digits, SGD, 2 held-out seeds, 30 steps. */
function tinyPlan(): PaysPlan {
  const full = paysPlan(true, {});
  return {
    ...full,
    models: ['mlp16'],
    datasets: ['mnist'],
    optimizers: ['sgd'],
    seeds: [1, 2],
    tuneSeeds: [101],
    lrGrid: { ...full.lrGrid, sgd: [0.1, 0.3] },
    trainCount: 300,
    testCount: 100,
    evalCount: 100,
    steps: { mlp16: 30, mlp512: 30, cnn: 30 },
    evalEvery: 5,
    teleportEvery: 10,
    glDataReps: 0,
  };
}

test('the pays matrix runs a tiny cell, writes its table and heatmap, and its numbers are finite', async t => {
  const before = tf.memory().numTensors;
  const logs: string[] = [];
  const r = await runPaysMatrix(tinyPlan(), m => logs.push(m));
  t.is(tf.memory().numTensors, before, 'no tensor left behind');
  t.is(r.cells.length, 2, 'η* and η*/4');
  t.true([0.1, 0.3].includes(r.tuning[0].best));
  t.is(r.cells[1].lr, r.cells[0].lr / 4);
  for (const c of r.cells) {
    t.is(c.l0.length, 2);
    for (const l of c.l0) t.true(Number.isFinite(l) && l > 0);
    for (const s of c.stats) {
      if (s.unavailable) {
        // Arms a parallel branch adds are wired by name and reported, never faked.
        t.true(['lookahead', 'auto'].includes(s.arm), `${s.arm}: ${s.unavailable}`);
        t.true(logs.some(l => l.includes(`arm unavailable: ${s.arm}`)));
        continue;
      }
      t.is(s.seeds, 2);
      t.true(Number.isFinite(s.finalTrain.mean!) && Number.isFinite(s.finalTest.mean!), `${s.arm} final losses`);
      const half = s.reach[0];
      t.is(half.fraction, 0.5);
      if (half.seconds.mean != null) t.true(half.seconds.mean > 0 && Number.isFinite(half.seconds.mean));
    }
    // The seeds start equal: every available arm's first evaluation is its seed's L₀.
    for (const run of c.runs.filter(x => x.unavailable == null)) {
      const idx = [1, 2].indexOf(run.seed);
      t.true(Math.abs(run.curve[0].loss - c.l0[idx]) < 1e-6);
    }
    // SGD's reset control does the same arithmetic as the baseline (SGD has no state to reset).
    for (const seed of [1, 2]) {
      const base = c.runs.find(x => x.arm === 'baseline' && x.seed === seed)!;
      const reset = c.runs.find(x => x.arm === 'reset' && x.seed === seed)!;
      t.true(Math.abs(base.finalTrain - reset.finalTrain) < 1e-5 * Math.max(1, base.finalTrain), `seed ${seed}: ${base.finalTrain} vs ${reset.finalTrain}`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'pays-'));
  try {
    t.true(await writePaysChart(r, join(dir, 'pays_speedup')));
    const png = readFileSync(join(dir, 'pays_speedup.png'));
    t.true(png.subarray(1, 4).toString() === 'PNG' && png.length > 1000);
    const body = paysBody(r, { chart: 'pays_speedup.png', warnings: [], backend: 'cpu' });
    await writeFile(join(dir, 'pays.md'), body);
    t.true(existsSync(join(dir, 'pays.md')));
    t.regex(body, /## Coverage/);
    t.regex(body, /mlp16 300 steps|mlp16 30 steps/);
    t.regex(body, /\| baseline \|/);
    t.notRegex(body, /NaN/);
    const targets = paysTargets(r);
    t.is(targets.length, 5);
    for (const x of targets) t.true(x.measured.length > 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('reachAt interpolates in log-loss between evaluations and says null when a target is never reached', t => {
  const curve = [
    { step: 0, seconds: 0, loss: 2 },
    { step: 10, seconds: 1, loss: 1 },
    { step: 20, seconds: 3, loss: 0.5 },
  ];
  // 0.5·L₀ = 1 is hit exactly at step 10.
  t.deepEqual(reachAt(curve, 1), { steps: 10, seconds: 1 });
  // √0.5 ≈ 0.7071 lies halfway in log between 1 and 0.5.
  const mid = reachAt(curve, Math.SQRT1_2)!;
  t.true(Math.abs(mid.steps - 15) < 1e-9 && Math.abs(mid.seconds - 2) < 1e-9);
  t.is(reachAt(curve, 0.1), null);
});

test('tInterval: mean ± t(0.975, n−1)·s/√n, and no interval from one value', t => {
  const i = tInterval([1, 2, 3]);
  // s = 1, t(0.975, 2) = 4.303: half-width 4.303/√3.
  t.true(Math.abs(i.mean! - 2) < 1e-12);
  t.true(Math.abs(i.hi! - (2 + 4.303 / Math.sqrt(3))) < 1e-9);
  const one = tInterval([5, Number.NaN, null]);
  t.is(one.mean, 5);
  t.is(one.lo, null);
  t.is(one.n, 1);
  t.is(one.of, 3);
});

test('the learning-rate grid continues its half-decade spacing past either edge', t => {
  t.is(beyondEdge(LR_GRID.sgd, 'up'), 1);
  t.is(beyondEdge([0.1, 0.3, 1], 'up'), 3);
  t.is(beyondEdge(LR_GRID.sgd, 'down'), 0.003);
  t.is(beyondEdge(LR_GRID.adam, 'down'), 0.0001);
});

test('PAYS_SEEDS picks how many held-out seeds a run uses, never the tuning seed', t => {
  t.deepEqual(paysPlan(false, {}).seeds, [1, 2, 3]);
  const five = paysPlan(false, { PAYS_SEEDS: '5' });
  t.deepEqual(five.seeds, [1, 2, 3, 4, 5]);
  t.false(five.seeds.some(s => five.tuneSeeds.includes(s)));
  t.throws(() => paysPlan(false, { PAYS_SEEDS: '1' }), { message: /PAYS_SEEDS=1: give a whole number/ });
  t.deepEqual(paysPlan(false, { PAYS_SEEDS: '6-10' }).seeds, [6, 7, 8, 9, 10]);
  t.throws(() => paysPlan(false, { PAYS_SEEDS: '100-102' }), { message: /tuning seed 101/ });
});
