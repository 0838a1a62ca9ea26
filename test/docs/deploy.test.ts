// The packaging runs what `npm start` runs: the Dockerfile's CMD, the systemd unit's ExecStart
// and the `onair` bin start the same compiled entry point, which exists once `npm ci` (its
// `prepare`, or the test runner's build) has run. No Docker engine or systemd runs here, so this
// checks what can be checked from the files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const read = (path: string): string => readFileSync(root(path), 'utf8');

const pkg = JSON.parse(read('package.json')) as {
  scripts: Record<string, string>;
  bin: Record<string, string>;
};
/** `exec node dist/app/main.js` -> `dist/app/main.js`: what npm start runs (exec: no shell left between npm and node). */
const entry = /^exec node (\S+)$/.exec(pkg.scripts.start ?? '')?.[1];

test('npm start is one node process running the compiled entry point, which exists', () => {
  assert.equal(entry, 'dist/app/main.js');
  assert.ok(existsSync(root(entry)), `${entry} exists (npm run build)`);
  assert.match(pkg.scripts.prepare ?? '', /npm run build\b/, 'npm ci builds it');
});

test('the onair bin imports the same entry point', () => {
  const bin = read(pkg.bin.onair ?? '');
  assert.match(bin, /^#!\/usr\/bin\/env node\n/);
  assert.ok(bin.includes(`import('../${String(entry)}')`), bin);
});

test('the Dockerfile: exec-form CMD of the entry point, non-root, a data volume, a /healthz check', () => {
  const dockerfile = read('deploy/docker/Dockerfile');
  const lines = dockerfile.split('\n').filter((line) => !line.startsWith('#'));
  const cmd = lines.filter((line) => line.startsWith('CMD ')).at(-1) ?? '';
  assert.deepEqual(JSON.parse(cmd.slice(4)), ['node', entry]);
  assert.match(dockerfile, /^FROM node:22-bookworm-slim$/m);
  assert.match(dockerfile, /^USER onair$/m);
  assert.match(dockerfile, /^VOLUME \/var\/lib\/onair$/m);
  assert.match(dockerfile, /^ENV ONAIR_DATA_DIR=\/var\/lib\/onair$/m);
  assert.match(dockerfile, /HEALTHCHECK[^\n]*\\\n\s+CMD \[[^\n]*\/healthz/);
  assert.match(dockerfile, /apt-get install -y --no-install-recommends ffmpeg/);
});

test('the systemd unit: ExecStart of the entry point, restarts on failure, SIGTERM, a stop timeout above the drain', () => {
  const unit = read('deploy/systemd/onair.service');
  const value = (key: string): string | undefined =>
    new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];
  assert.equal(value('ExecStart'), `/usr/bin/node ${String(entry)}`);
  assert.equal(value('Restart'), 'on-failure');
  assert.equal(value('KillSignal'), 'SIGTERM');
  assert.ok(Number.parseInt(value('LimitNOFILE') ?? '0', 10) >= 65536);
  // The drain (server.shutdownTimeoutMs, 8 s by default) ends before systemd's SIGKILL.
  assert.ok(Number.parseInt(value('TimeoutStopSec') ?? '0', 10) > 8);
});
