import test, { type ExecutionContext } from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import * as tp from '../../src/index.js';
import * as tpAdvanced from '../../src/advanced.js';
import * as tpProblems from '../../src/problems.js';
import { buildPlayground } from '../../examples/web/build.js';
import { serveStatic, type StaticServer } from '../../examples/web/serve.js';
import { decodePng, launchChromium, regionStats } from '../../examples/web/browser.js';
import type { RunResult } from '../../examples/web/app/run.js';
import type { PlaygroundSettings } from '../../examples/web/app/settings.js';

// The playground (examples/web) built as `npm run web` builds it, served, and driven in Debian's
// headless Chromium through its window.playground API, on webgl (SwiftShader), wasm and cpu.

const RUN_TIMEOUT_MS = 90_000;
const PLAIN: [number, number, number] = [0x1f, 0x6f, 0xb4]; // the page's colors of the two arms
const TELEPORT: [number, number, number] = [0xe0, 0x70, 0x1b];

let outDir = '';
let server: StaticServer | null = null;
let chromium: Awaited<ReturnType<typeof launchChromium>> | null = null;
let page: Page;
/** Console errors, uncaught page errors and failed requests: any of them fails the test that saw it. */
const problems: string[] = [];

test.before(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'tfjs-teleport-web-'));
  await buildPlayground(outDir);
  server = await serveStatic(outDir);
  chromium = await launchChromium();
  page = await chromium.browser.newPage();
  await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 });
  page.on('console', m => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', e => problems.push(`page error: ${(e as Error).message}`));
  page.on('requestfailed', r => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', r => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(server.url, { waitUntil: 'load' });
  await page.evaluate(() => window.playground.ready);
});

test.after.always(async () => {
  await chromium?.close();
  await server?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

function noProblems(t: ExecutionContext): void {
  t.deepEqual(problems.splice(0), [], 'the page logged no error');
}

/** Runs settings in the page; fails if the run does not finish within the timeout. */
async function run(settings: Partial<PlaygroundSettings>): Promise<RunResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`run did not finish in ${RUN_TIMEOUT_MS / 1000} s: ${JSON.stringify(settings)}`)), RUN_TIMEOUT_MS);
  });
  try {
    return await Promise.race([page.evaluate(s => window.playground.run(s), settings as PlaygroundSettings), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const memory = () => page.evaluate(() => window.playground.memory().numTensors);

/** The checks every run gets: it finished, both arms have a finite curve, teleports fired and stayed within the drift guard. */
function checkRun(t: ExecutionContext, r: RunResult, steps: number): void {
  t.is(r.stepsDone, steps);
  t.false(r.stopped);
  for (const arm of [r.arms.plain, r.arms.teleport]) {
    t.is(arm.points.length, steps + 1, `${arm.variant}: a point per step plus the final one`);
    t.true(
      arm.points.every(p => Number.isFinite(p.trainLoss) && Number.isFinite(p.gradNormSq!)),
      `${arm.variant}: finite losses`,
    );
  }
  const reports = r.arms.teleport.teleports;
  const due = tpAdvanced.compileSchedule(r.settings.schedule);
  t.deepEqual(
    reports.map(x => x.step),
    Array.from({ length: steps }, (_, i) => i).filter(i => due.isDue(i)),
    'a report at every scheduled step',
  );
  const accepted = reports.filter(x => x.accepted);
  t.true(accepted.length >= 1, `teleports fired: ${reports.map(x => x.rejection ?? 'accepted').join(', ')}`);
  for (const x of accepted) {
    t.not(x.relativeLossDrift, null, `step ${x.step}: drift measured`);
    t.true(
      Math.abs(x.relativeLossDrift!) <= r.settings.maxLossDrift,
      `step ${x.step}: drift ${x.relativeLossDrift} within the guard ${r.settings.maxLossDrift}`,
    );
    t.true(x.gradNormSqAfter > x.gradNormSqBefore, `step ${x.step}: ‖∇L‖² grew (${x.gradNormSqBefore} → ${x.gradNormSqAfter})`);
  }
  t.true(r.msPerStep.plain > 0);
}

const ROSENBROCK: Partial<PlaygroundSettings> = { problem: 'rosenbrock', steps: 60, schedule: { every: 20 } };
const MLP: Partial<PlaygroundSettings> = { problem: 'mlp', steps: 30, schedule: { every: 10 }, widths: [16] };

/** The pixels of each chart canvas in a fresh screenshot. */
async function chartPixels(): Promise<Record<'loss' | 'grad' | 'levels', ReturnType<typeof regionStats>>> {
  const img = decodePng(await page.screenshot({ type: 'png' }));
  const rects = await page.evaluate(() =>
    Object.fromEntries(
      ['loss', 'grad', 'levels'].map(id => {
        const r = document.getElementById(id)!.getBoundingClientRect();
        return [id, { x: r.x + 2, y: r.y + 2, width: r.width - 4, height: r.height - 4 }];
      }),
    ),
  );
  return Object.fromEntries(Object.entries(rects).map(([id, r]) => [id, regionStats(img, r, [PLAIN, TELEPORT])])) as never;
}

test.serial('the page loads with no error, starts on webgl and lists the registered groups and objectives', async t => {
  t.is(await page.evaluate(() => window.playground.backend()), 'webgl');
  t.regex(await page.evaluate(() => window.playground.describeBackend()), /SwiftShader/);
  const choices = await page.evaluate(() => window.playground.choices('mlp'));
  t.deepEqual(choices.objectives, tp.objectiveNames());
  t.deepEqual(
    choices.groups,
    tp.groupNames().filter(n => tpAdvanced.getGroup(n).suggested !== false),
  );
  t.deepEqual(await page.evaluate(() => window.playground.choices('booth').groups), ['so2', 'so2-random', 'on']);
  // Control for the screenshot check below: before any run the charts hold no curve.
  const blank = await chartPixels();
  for (const id of ['loss', 'grad'] as const)
    t.true(
      blank[id].colorCounts.every(n => n < 5),
      `${id}: no curve yet (${blank[id].colorCounts})`,
    );
  noProblems(t);
});

for (const backend of ['webgl', 'wasm', 'cpu'] as const) {
  test.serial(`${backend}: a 2-D run and an MLP run finish, teleport within the drift guard, and leave tf.memory() flat`, async t => {
    t.is(await page.evaluate(b => window.playground.setBackend(b), backend), backend);
    if (backend === 'wasm') t.regex(await page.evaluate(() => window.playground.describeBackend()), /wasm fixes: patched .*BatchMatMul/);

    const before = await memory();
    const r = await run(ROSENBROCK);
    t.is(r.backend, backend);
    checkRun(t, r, 60);
    // Against float64 recomputations of the function at the points the page reports.
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    t.true(rel(r.arms.plain.points[0].trainLoss, tpProblems.rosenbrock.lossAt([-1, -1])) < 1e-6);
    for (const arm of [r.arms.plain, r.arms.teleport]) {
      const end = arm.path[arm.path.length - 1];
      t.true(rel(arm.points[arm.points.length - 1].trainLoss, tpProblems.rosenbrock.lossAt(end)) < 1e-3, `${arm.variant}: final loss is L at the path's end`);
    }
    const jumps = r.arms.teleport.teleportPathIndices;
    t.is(jumps.length, r.arms.teleport.teleports.filter(x => x.accepted).length);
    for (const i of jumps) {
      const [before, after] = [tpProblems.rosenbrock.lossAt(r.arms.teleport.path[i - 1]), tpProblems.rosenbrock.lossAt(r.arms.teleport.path[i])];
      t.true(rel(after, before) < 1e-3, `the jump to path point ${i} keeps the loss (${before} → ${after})`);
      t.true(Math.hypot(...r.arms.teleport.path[i].map((v, k) => v - r.arms.teleport.path[i - 1][k])) > 1e-3, 'and moves the point');
    }
    t.is(await memory(), before, 'numTensors back where it was after a 2-D run');
    t.is((await run(ROSENBROCK)).stepsDone, 60);
    t.is(await memory(), before, 'and after a second one');

    const m = await run(MLP);
    checkRun(t, m, 30);
    // Both arms start from the same weights on the same batch: their first losses agree, near ln 10 (untrained softmax).
    t.true(rel(m.arms.teleport.points[0].trainLoss, m.arms.plain.points[0].trainLoss) < 1e-5);
    t.true(Math.abs(m.arms.plain.points[0].trainLoss - Math.log(10)) < 0.5, `first loss ${m.arms.plain.points[0].trainLoss}`);
    t.true(m.heldOut!.teleport.accuracy >= 0 && m.heldOut!.teleport.accuracy <= 1);
    t.is(await memory(), before, 'numTensors back where it was after an MLP run');
    t.is((await run(MLP)).stepsDone, 30);
    t.is(await memory(), before, 'and after a second one');
    noProblems(t);
  });
}

test.serial('the screenshot shows both curves on both charts and both trajectories over the level sets', async t => {
  await run(ROSENBROCK);
  const px = await chartPixels();
  for (const id of ['loss', 'grad', 'levels'] as const) {
    t.true(px[id].variance > 100, `${id}: pixel variance ${px[id].variance.toFixed(0)}`);
    t.true(
      px[id].colorCounts.every(n => n >= 30),
      `${id}: pixels of the plain and teleport colors ${px[id].colorCounts}`,
    );
  }
  // Hovering a teleport's marker shows its report: growth and drift.
  const markers = await page.evaluate(() => window.playground.teleportMarkers());
  const last = (await page.evaluate(() => window.playground.lastResult()))!;
  t.is(markers.length, last.arms.teleport.teleports.length);
  const first = last.arms.teleport.teleports[0];
  t.is(await page.evaluate(() => document.getElementById('tooltip')!.hidden), true);
  await page.mouse.move(markers[0].x, markers[0].y);
  const tip = await page.evaluate(() => {
    const el = document.getElementById('tooltip')!;
    return { hidden: el.hidden, text: el.textContent ?? '' };
  });
  t.false(tip.hidden);
  t.regex(tip.text, new RegExp(`teleport at step ${first.step}: ${first.accepted ? 'accepted' : 'rejected'}`));
  t.regex(tip.text, first.accepted ? /growth of ‖∇L‖² {2}×[\d.]+/ : /loss drift/);
  t.regex(tip.text, /loss drift .*\(guard 1\.00e-4\)/);
  await page.mouse.move(5, 5);
  t.true(await page.evaluate(() => document.getElementById('tooltip')!.hidden));
  noProblems(t);
});

test.serial('exports are the CLI formats: a CSV per arm and runs.json', async t => {
  const files = await page.evaluate(() => window.playground.exportFiles());
  const last = (await page.evaluate(() => window.playground.lastResult()))!;
  t.deepEqual(
    files.map(f => f.name),
    ['rosenbrock-sgd-baseline-seed1.csv', 'rosenbrock-sgd-teleport-seed1.csv', 'rosenbrock-runs.json'],
  );
  const rows = files[1].text.trim().split('\n');
  t.is(rows[0], 'epoch,step,seconds,trainLoss,valLoss,valAccuracy,gradNormSq');
  t.is(rows.length, last.arms.teleport.points.length + 1);
  t.is(Number(rows[10].split(',')[3]), last.arms.teleport.points[9].trainLoss);
  const json = JSON.parse(files[2].text);
  t.is(json.title, 'playground: rosenbrock');
  t.deepEqual(
    json.runs.map((r: { variant: string }) => r.variant),
    ['baseline', 'teleport'],
  );
  t.is(json.runs[1].teleports.length, last.arms.teleport.teleports.length);
  t.is(json.config.backend, 'cpu');
  noProblems(t);
});

test.serial("every registered objective is offered: 'lookahead' runs in the page", async t => {
  t.true((await page.evaluate(() => window.playground.choices('mlp').objectives)).includes('lookahead'));
  const before = await memory();
  checkRun(t, await run({ ...MLP, objective: 'lookahead' }), 30);
  t.is(await memory(), before);
  noProblems(t);
});

test.serial('Stop ends a run early: the result says so, the exports cover the steps taken, nothing leaks', async t => {
  const before = await memory();
  const result = await page.evaluate(async () => {
    const running = window.playground.run({ problem: 'quadratic', steps: 100_000 });
    await new Promise(r => setTimeout(r, 500));
    window.playground.stop();
    return running;
  });
  t.true(result.stopped);
  t.true(result.stepsDone > 0 && result.stepsDone < 100_000, `${result.stepsDone} steps`);
  t.is(result.arms.plain.points.length, result.stepsDone + 1);
  const csv = (await page.evaluate(() => window.playground.exportFiles()))[0].text.trim().split('\n');
  t.is(csv.length, result.stepsDone + 2);
  t.is(await memory(), before);
  noProblems(t);
});

test.serial('a group that does not fit the model fails with the library error in the page and leaks nothing', async t => {
  const before = await memory();
  const message = await page.evaluate(
    s =>
      window.playground.run(s).then(
        () => 'no error',
        (e: Error) => e.message,
      ),
    {
      ...MLP,
      group: 'gl',
    } as PlaygroundSettings,
  );
  t.regex(message, /gl/);
  t.regex(await page.evaluate(() => document.getElementById('error')!.textContent ?? ''), /TeleportError|UnsupportedLayerError/);
  t.is(await memory(), before);
  noProblems(t);
});
