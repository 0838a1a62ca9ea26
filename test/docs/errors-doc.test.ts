// docs/errors.md lists exactly the error codes the sources use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });
}

test('docs/errors.md lists every ERR_ code used in src/, and only those', () => {
  const used = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/'(ERR_[A-Z0-9_]+)'/g))
      used.add(match[1]!);
  }
  const documented = new Set(
    [...readFileSync(join(root, 'docs/errors.md'), 'utf8').matchAll(/`(ERR_[A-Z0-9_]+)`/g)].map(
      (m) => m[1]!,
    ),
  );
  assert.ok(used.size > 10, 'found the codes in src/');
  assert.deepEqual(
    [...used].filter((c) => !documented.has(c)).sort(),
    [],
    'used but not documented',
  );
  assert.deepEqual(
    [...documented].filter((c) => !used.has(c)).sort(),
    [],
    'documented but not used',
  );
});
