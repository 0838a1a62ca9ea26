// Builds dist/, then runs every *.test.ts under src/, test/ and bench/ with Node's test runner
// (Node 20 does not expand globs).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Lists test files below `dir`, sorted so runs are repeatable. */
function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'results') out.push(...findTests(path)); // bench output, never tests
    } else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** TypeScript's compiler, from this project's dependencies. */
function tscBin() {
  return join('node_modules', 'typescript', 'bin', 'tsc');
}

const filter = process.argv.slice(2);
const files = ['src', 'test', 'bench']
  .flatMap((dir) => findTests(dir))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
// Tests that run the `onair` command run the compiled server: build it from the sources first
// (incremental: a second of work when nothing changed), so they never test a stale dist/.
const build = spawnSync(process.execPath, [tscBin(), '-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
});
if (build.status !== 0) process.exit(build.status ?? 1);
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
