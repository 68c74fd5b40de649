#!/usr/bin/env node
// Runs the compiled CLI (npm run build produces dist/). In a source checkout, use `npm run cli -- <command>`.
import('../dist/examples/cli.js');
