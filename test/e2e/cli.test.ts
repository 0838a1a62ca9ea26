// The `onair` command as a user runs it: start-up banner, ports from flags, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, waitFor } from '../support/media-tools.ts';

const BIN = new URL('../../bin/onair.js', import.meta.url).pathname;

test('onair with --rtmp-port/--http-port prints where to publish and watch, and exits 0 on SIGTERM', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'onair-cli-')), 'data');
  const child = spawn(
    process.execPath,
    [
      BIN,
      '--rtmp-port',
      '0',
      '--http-port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      resolve(code);
    });
  });
  try {
    await waitFor(() => stdout.includes('ws://'), 20_000, 'the start-up banner');
    assert.match(stdout, /Publish: rtmp:\/\/localhost:\d+\/live/);
    assert.match(stdout, /http:\/\/localhost:\d+\/live\/NAME\.flv/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('onair with a bad configuration lists every problem with its key and exits 2', async () => {
  const result = await run(
    process.execPath,
    [BIN, '--rtmp-port', '70000', '--set', 'hub.gopCache.maxFrames=-1', '--bogus'],
    {
      timeoutMs: 20_000,
    },
  );
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /rtmp\.port/);
  assert.match(result.stderr, /hub\.gopCache\.maxFrames/);
  assert.match(result.stderr, /bogus/);
});
