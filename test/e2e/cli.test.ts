// The `onair` command as a user runs it: start-up banner, ports from flags, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { run, waitFor } from '../support/media-tools.ts';
import { tempDir } from '../support/temp-dir.ts';

const BIN = new URL('../../bin/onair.js', import.meta.url).pathname;

/** `onair ARGS` as a child process (ICE over TCP off: other tests run beside this one). */
function spawnOnair(args: readonly string[]): {
  readonly child: ReturnType<typeof spawn>;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | string | null>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ONAIR_WEBRTC_TCP_PORT: '0' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('exit', (code, signal) => {
      resolve(code ?? signal);
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Starts onair on free ports with `dataDir`; resolves with its stdout once the banner is out. */
async function startAndStop(dataDir: string): Promise<string> {
  const { child, stdout, stderr, exited } = spawnOnair([
    ...['--rtmp-port', '0', '--http-port', '0', '--srt-port', '0', '--host', '127.0.0.1'],
    ...['--data-dir', dataDir, '--log-level', 'warn'],
  ]);
  try {
    await waitFor(() => stdout().includes('ws://'), 20_000, 'the start-up banner');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `exit code or signal; stderr: ${stderr().slice(-2000)}`);
    return stdout();
  } finally {
    child.kill('SIGKILL');
  }
}

test('onair with --rtmp-port/--http-port prints where to publish and watch, and exits 0 on SIGTERM', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'onair-cli-')), 'data');
  const stdout = await startAndStop(dataDir);
  assert.match(stdout, /Publish: rtmp:\/\/localhost:\d+\/live/);
  assert.match(stdout, /http:\/\/localhost:\d+\/live\/NAME\.flv/);
});

test('the first start generates the API token and the signing secret (0600) and prints the token once', async () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'onair-cli-')), 'data');
  const first = await startAndStop(dataDir);
  const token = readFileSync(join(dataDir, 'api-token'), 'utf8').trim();
  assert.match(token, /^[A-Za-z0-9_-]{40,}$/);
  assert.ok(first.includes(token), 'printed on the first start');
  for (const file of ['api-token', 'auth-secret']) {
    assert.equal(statSync(join(dataDir, file)).mode & 0o777, 0o600, file);
  }
  const second = await startAndStop(dataDir);
  assert.ok(!second.includes(token), 'never printed again');
  assert.equal(readFileSync(join(dataDir, 'api-token'), 'utf8').trim(), token, 'kept');
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

test('a corrupt access.json stops the start, naming the file, instead of dropping its keys', async (t) => {
  const dataDir = tempDir(t, 'onair-cli-');
  const file = join(dataDir, 'access.json');
  // What a short write used to leave: the first part of the file.
  writeFileSync(file, '{\n  "version": 1,\n  "keys": [\n    {\n      "id": "0011223');
  const result = await run(
    process.execPath,
    [
      BIN,
      '--rtmp-port',
      '0',
      '--http-port',
      '0',
      '--srt-port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
    ],
    { timeoutMs: 20_000 },
  );
  assert.equal(result.code, 1, result.stderr);
  assert.ok(result.stderr.includes(file), result.stderr);
  assert.match(result.stderr, /not valid JSON/);
  assert.match(result.stderr, /restore the file from a backup, or move it away/);
  assert.doesNotMatch(result.stdout, /Publish:/, 'never listening');
});

test('onair --workers 2 whose RTMP port another program holds retries its workers with backoff and listens once the port is free', async (t) => {
  // A worker that failed to start used to stay alive and deaf (its IPC channel kept it up), and
  // the primary exited 0 when every worker was dead (its restart timer was unref'd).
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const address = holder.address();
  assert.ok(address !== null && typeof address === 'object');
  const { child, stdout, stderr, exited } = spawnOnair([
    ...[
      '--workers',
      '2',
      '--rtmp-port',
      String(address.port),
      '--http-port',
      '0',
      '--srt-port',
      '0',
    ],
    ...['--host', '127.0.0.1', '--data-dir', tempDir(t, 'onair-cli-')],
  ]);
  const count = (msg: string): number => stdout().split(`"msg":"${msg}"`).length - 1;
  try {
    // Both workers failed, were restarted, and failed again: the group keeps trying.
    await waitFor(() => count('a worker died; restarting it') >= 4, 20_000, 'workers retried');
    assert.equal(child.exitCode, null, 'the primary is still up');
    assert.match(stderr(), /EADDRINUSE/);
    await new Promise<void>((resolve) =>
      holder.close(() => {
        resolve();
      }),
    );
    await waitFor(() => count('onair is running') === 2, 30_000, 'both workers to listen');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, `exit code or signal; stderr: ${stderr().slice(-2000)}`);
  } finally {
    child.kill('SIGKILL');
    holder.close();
  }
});
