import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildPlayground, DEFAULT_OUT } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.png': 'image/png',
};

/** A running static server. */
export interface StaticServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Serves the files under `dir` (GET and HEAD only, nothing outside it) on `port` (0: any free port) of 127.0.0.1. */
export function serveStatic(dir: string, port = 0): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !(file === root || file.startsWith(root + sep)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address() as AddressInfo;
      ok({ url: `http://127.0.0.1:${actual}/`, server, close: () => new Promise(done => server.close(() => done())) });
    });
  });
}

/** `npm run web [-- --port N]`: builds the page into examples/web/dist and serves it (default port 8080, the next free one if taken). */
async function main(): Promise<void> {
  const i = process.argv.indexOf('--port');
  const wanted = i >= 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 8080);
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535)
    throw new Error(`--port must be an integer 0..65535, got ${process.argv[i + 1] ?? process.env.PORT}`);
  const t0 = performance.now();
  const files = await buildPlayground(DEFAULT_OUT);
  process.stderr.write(`built ${files.length} files into ${DEFAULT_OUT} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  let served: StaticServer | null = null;
  for (let port = wanted; served == null; port++) {
    try {
      served = await serveStatic(DEFAULT_OUT, port);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0 || port - wanted >= 20) throw e;
    }
  }
  console.log(`tfjs-teleport playground: ${served.url}  (add ?backend=wasm or ?backend=cpu to start on another backend; Ctrl-C stops)`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch(e => {
    console.error(`npm run web: ${(e as Error).message}`);
    process.exit(1);
  });
}
