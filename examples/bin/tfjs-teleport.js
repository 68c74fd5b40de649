#!/usr/bin/env node
// Runs the compiled CLI: `npm run build` at the repository root writes dist/examples/cli.js.
// In a source checkout, `npm run cli -- <command>` runs the TypeScript directly.
const cli = new URL('../../dist/examples/cli.js', import.meta.url);
import(cli.href).catch(err => {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(cli.pathname)) {
    console.error(`tfjs-teleport: ${cli.pathname} is missing; run \`npm run build\` at the repository root first (or use \`npm run cli -- <command>\`)`);
    process.exit(1);
  }
  throw err;
});
