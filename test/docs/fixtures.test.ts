// Nothing a test or a benchmark reads lies outside the repository: a fresh clone must pass
// `npm test` on a machine that has only the clone. Fixtures live in test/fixtures/ (its README
// says where each comes from).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCANNED = ['src', 'test', 'bench', 'scripts'];
const SKIPPED = new Set(['node_modules', 'results', 'fixtures', 'dist']);

/** Source files below `dir` (TypeScript and JavaScript). */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (!SKIPPED.has(name)) out.push(...sources(path));
    } else if (/\.(?:ts|mts|mjs|js)$/.test(name)) out.push(path);
  }
  return out;
}

const files = SCANNED.flatMap((dir) => sources(join(ROOT, dir)));

test('no source names a file outside the repository (a URL relative to itself that climbs out)', () => {
  const outside: string[] = [];
  const urlPattern = /new URL\(\s*(['"`])([^'"`$]+)\1\s*,\s*import\.meta\.url/g;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(urlPattern)) {
      const target = fileURLToPath(new URL(match[2] ?? '', pathToFileURL(file)));
      if (target !== ROOT.replace(/\/$/, '') && !target.startsWith(ROOT)) {
        outside.push(`${relative(ROOT, file)}: ${match[2] ?? ''}`);
      }
    }
  }
  assert.deepEqual(outside, []);
});

test('no source names the team folder or this machine’s paths (../shared, /work/)', () => {
  const named: string[] = [];
  // String literals only: a comment may say where something came from.
  const literal = /(['"`])((?:(?!\1)[^\\\n]|\\.)*)\1/g;
  for (const file of files) {
    if (file === fileURLToPath(import.meta.url)) continue;
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(literal)) {
      const value = match[2] ?? '';
      if (/(?:^|\/)shared\/(?:fixtures|bench)|^\/work\//.test(value)) {
        named.push(`${relative(ROOT, file)}: ${value}`);
      }
    }
  }
  assert.deepEqual(named, []);
});

test('every fixture the tests name exists in test/fixtures/ and its README describes it', () => {
  const readme = readFileSync(join(ROOT, 'test', 'fixtures', 'README.md'), 'utf8');
  const fixtures = readdirSync(join(ROOT, 'test', 'fixtures'), { recursive: true })
    .map(String)
    .filter(
      (name) =>
        name !== 'README.md' && !statSync(join(ROOT, 'test', 'fixtures', name)).isDirectory(),
    );
  assert.ok(fixtures.length > 0);
  for (const name of fixtures) {
    assert.ok(existsSync(join(ROOT, 'test', 'fixtures', name)));
    assert.ok(readme.includes(name.split(sep).join('/')), `test/fixtures/README.md names ${name}`);
  }
});
