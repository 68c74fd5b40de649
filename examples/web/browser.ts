/**
 * Node-side helpers to drive the playground in headless Chromium (the browser test and measure.ts):
 * launch Debian's chromium with WebGL through SwiftShader, and read pixels of a PNG screenshot.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import puppeteer, { type Browser } from 'puppeteer-core';

/** Where Debian's `chromium` package puts the browser; CHROMIUM_PATH overrides it. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`no Chromium at ${path}: install it with \`apt-get install -y chromium\` (Debian), or set CHROMIUM_PATH to a Chromium or Chrome binary`);
  }
  return path;
}

/** Headless Chromium with WebGL on SwiftShader (a CPU emulation of a GPU) and a fresh profile, removed on close. */
export async function launchChromium(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'tfjs-teleport-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // A long run is one evaluate call: allow it 10 minutes (CDP's default is 3).
    protocolTimeout: 600_000,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** An 8-bit RGB or RGBA image: `channels` values per pixel, row after row. */
export interface Pixels {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Decodes a non-interlaced 8-bit RGB/RGBA PNG (what Chromium's screenshots are). */
export function decodePng(png: Uint8Array): Pixels {
  const view = Buffer.from(png);
  if (view.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (pos < view.length) {
    const len = view.readUInt32BE(pos);
    const type = view.toString('latin1', pos + 4, pos + 8);
    const body = view.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      const [depth, color, , , interlace] = [body[8], body[9], body[10], body[11], body[12]];
      channels = color === 6 ? 4 : color === 2 ? 3 : 0;
      if (depth !== 8 || channels === 0 || interlace !== 0)
        throw new Error(`PNG kind not handled: depth ${depth}, color type ${color}, interlace ${interlace}`);
    } else if (type === 'IDAT') idat.push(body);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const data = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? data[y * stride + x - channels] : 0;
      const b = y > 0 ? data[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? data[(y - 1) * stride + x - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter];
      if (predictor == null) throw new Error(`PNG filter ${filter} unknown`);
      data[y * stride + x] = (line[x] + predictor) & 0xff;
    }
  }
  return { width, height, channels, data };
}

/** A rectangle in image pixels. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Statistics of a region: the variance of its gray levels, and how many pixels are within `tolerance` of each color. */
export function regionStats(img: Pixels, r: Region, colors: Array<[number, number, number]> = [], tolerance = 40): { variance: number; colorCounts: number[] } {
  let n = 0;
  let sum = 0;
  let sumSq = 0;
  const counts = colors.map(() => 0);
  for (let y = Math.max(0, Math.floor(r.y)); y < Math.min(img.height, r.y + r.height); y++) {
    for (let x = Math.max(0, Math.floor(r.x)); x < Math.min(img.width, r.x + r.width); x++) {
      const k = (y * img.width + x) * img.channels;
      const [red, green, blue] = [img.data[k], img.data[k + 1], img.data[k + 2]];
      const gray = 0.299 * red + 0.587 * green + 0.114 * blue;
      n++;
      sum += gray;
      sumSq += gray * gray;
      colors.forEach(([cr, cg, cb], i) => {
        if (Math.abs(red - cr) + Math.abs(green - cg) + Math.abs(blue - cb) <= tolerance) counts[i]++;
      });
    }
  }
  return { variance: n ? sumSq / n - (sum / n) ** 2 : 0, colorCounts: counts };
}
