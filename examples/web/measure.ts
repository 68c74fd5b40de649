/**
 * `npx tsx examples/web/measure.ts [--screenshot docs/playground.png] [--no-timing]`: ms per training step in the
 * playground page on webgl (SwiftShader here), wasm and cpu, printed as a Markdown table; optionally
 * a screenshot of the page after a default Rosenbrock run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from './app/run.js';
import type { PlaygroundSettings } from './app/settings.js';
import { launchChromium } from './browser.js';
import { buildPlayground } from './build.js';
import { serveStatic } from './serve.js';

const CASES: Array<{ name: string; settings: Partial<PlaygroundSettings> }> = [
  // The bench's backend table model (bench/results/backend.md): 784-512-512-10, batch 20, SGD.
  {
    name: 'MLP 784-512-512-10, batch 20',
    settings: { problem: 'mlp', widths: [512, 512], activation: 'relu', batchSize: 20, steps: 40, schedule: { every: 20 } },
  },
  { name: 'MLP 784-32-10 (page default), batch 20', settings: { problem: 'mlp', steps: 100, schedule: { every: 50 } } },
  { name: 'Rosenbrock (2-D)', settings: { problem: 'rosenbrock', steps: 200, schedule: { every: 100 } } },
];

async function main(): Promise<void> {
  const i = process.argv.indexOf('--screenshot');
  const shot = i >= 0 ? process.argv[i + 1] : null;
  const out = mkdtempSync(join(tmpdir(), 'tfjs-teleport-web-measure-'));
  await buildPlayground(out);
  const server = await serveStatic(out);
  const chromium = await launchChromium();
  try {
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 });
    page.on('pageerror', e => console.error(`page error: ${(e as Error).message}`));
    await page.goto(server.url);
    await page.evaluate(() => window.playground.ready);
    const load = loadavg().map(v => v.toFixed(2));
    const rows: string[] = [];
    const timing = !process.argv.includes('--no-timing');
    for (const backend of timing ? ['webgl', 'wasm', 'cpu'] : []) {
      await page.evaluate(b => window.playground.setBackend(b), backend);
      const info = await page.evaluate(() => window.playground.describeBackend());
      for (const c of CASES) {
        // Without live drawing: on webgl the charts would share the (emulated) GPU with training.
        const r: RunResult = await page.evaluate(s => window.playground.run(s, { live: false }), c.settings as PlaygroundSettings);
        const accepted = r.arms.teleport.teleports.filter(x => x.accepted).length;
        rows.push(
          `| ${backend} | ${c.name} | ${r.msPerStep.plain.toPrecision(3)} | ${r.msPerStep.teleport.toPrecision(3)} | ${r.stepsDone} | ${accepted}/${r.arms.teleport.teleports.length} |`,
        );
        process.stderr.write(`${backend} (${info}): ${c.name}: ${r.msPerStep.plain.toPrecision(3)} ms per plain step\n`);
      }
    }
    console.log(
      `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${process.platform}, load average ${load.join(' / ')} at start; ${new Date().toISOString()}`,
    );
    if (timing) console.log('');
    if (timing) console.log('| backend | problem | plain step, median ms | teleporting arm step without a teleport, median ms | steps | teleports accepted |');
    if (timing) console.log('| --- | --- | ---: | ---: | ---: | ---: |');
    for (const r of rows) console.log(r);
    if (shot) {
      await page.evaluate(() => window.playground.setBackend('webgl'));
      await page.evaluate(() => window.playground.run({ problem: 'rosenbrock' } as PlaygroundSettings));
      writeFileSync(shot, await page.screenshot({ type: 'png' }));
      process.stderr.write(`wrote ${shot}\n`);
    }
  } finally {
    await chromium.close();
    await server.close();
    rmSync(out, { recursive: true, force: true });
  }
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
