import test from 'ava';
import { readFileSync } from 'node:fs';
import { OPTIONS_PAGE, renderOptionsPage } from '../../scripts/options_doc.js';
import { OPTION_SPECS } from '../../src/advanced.js';
import * as tp from '../../src/index.js';

// docs/options.md is generated from the options table; a change to an option (or its TSDoc) without
// `npm run docs:options` fails here.

test('docs/options.md is what `npm run docs:options` writes now (regenerate it if this fails)', t => {
  t.is(readFileSync(OPTIONS_PAGE, 'utf8'), renderOptionsPage());
});

test('the options page has one row per option in the table, with its default', t => {
  const page = readFileSync(OPTIONS_PAGE, 'utf8');
  const rows = page.split('\n').filter(l => l.startsWith('| `'));
  const names = rows.map(r => /^\| `([^`]+)`/.exec(r)![1]);
  t.deepEqual([...names].sort(), Object.keys(OPTION_SPECS).sort());
  for (const [name, value] of Object.entries(tp.DEFAULTS)) {
    const row = rows[names.indexOf(name)];
    const shown = row.split(' | ')[2].replace(/`/g, '').replace(/'/g, '"');
    t.is(Number.isFinite(Number(shown)) ? Number(shown) : JSON.parse(shown), value, name);
  }
});
