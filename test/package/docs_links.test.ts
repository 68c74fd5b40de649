import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

// README.md and the docs/ pages link each other, the charts and the bench results: every relative
// link must reach a file, and every #anchor a heading of that file (GitHub's slugs).

const ROOT = process.cwd();
const PAGES = [
  'README.md',
  'CHANGELOG.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter(f => f.endsWith('.md'))
    .map(f => join('docs', f)),
];

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+ (.+)$/gm)].map(m => slug(m[1])));
}

function linksOf(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map(m => m[1]).filter(l => !/^[a-z]+:/.test(l));
}

test('slug follows GitHub (control)', t => {
  t.is(
    slug("What the teleports contribute: GD + learned teleports (`learn: 'teleport'`)"),
    'what-the-teleports-contribute-gd--learned-teleports-learn-teleport',
  );
  t.is(slug('Add a group'), 'add-a-group');
});

test('every relative link in README.md and docs/*.md reaches a file and, with #anchor, a heading', t => {
  const broken: string[] = [];
  for (const page of PAGES) {
    for (const link of linksOf(join(ROOT, page))) {
      const [path, anchor] = link.split('#');
      const target = path === '' ? join(ROOT, page) : join(ROOT, dirname(page), path);
      if (!existsSync(target)) broken.push(`${page}: ${link} (no file ${relative(ROOT, target)})`);
      else if (anchor != null && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${page}: ${link} (no heading)`);
    }
  }
  t.deepEqual(broken, []);
});

test('README stays a README: at most 250 lines, and it names the stable surface', t => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  t.true(readme.split('\n').length <= 250, `${readme.split('\n').length} lines`);
  t.regex(readme, /stable surface/);
  t.regex(readme, /`tfjs-teleport\/advanced` \| experimental/);
});
