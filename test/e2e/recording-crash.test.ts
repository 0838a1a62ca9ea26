// Recording under failure: kill -9 of the server mid-recording, SIGTERM, a nearly full disk.
// Real server processes and a real (tmpfs) file system that the test fills.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServerProcess, TEST_API_TOKEN } from '../support/server-process.ts';
import { startServer } from '../support/server.ts';
import { probe, publishTestPattern, run, waitFor } from '../support/media-tools.ts';
import { smallFilesystem } from '../support/small-filesystem.ts';
import { tempDir } from '../support/temp-dir.ts';

const auth = { authorization: `Bearer ${TEST_API_TOKEN}` };

interface Listed {
  items: { id: string; file: string; durationS: number; recording: boolean }[];
}

async function list(server: { httpUrl(path: string): string }): Promise<Listed['items']> {
  const response = await fetch(server.httpUrl('api/v1/recordings'), { headers: auth });
  assert.equal(response.status, 200);
  return ((await response.json()) as Listed).items;
}

async function durationOf(path: string): Promise<number> {
  const result = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path],
  ]);
  assert.equal(result.code, 0, result.stderr);
  return Number(result.stdout.trim());
}

async function decodesCleanly(path: string): Promise<void> {
  const result = await run('ffmpeg', ['-v', 'error', '-xerror', '-i', path, '-f', 'null', '-'], {
    timeoutMs: 60_000,
  });
  assert.equal(result.code, 0, `${path}: ${result.stderr}`);
}

test('kill -9 mid-recording leaves a file that plays to within about a second of the end; a restart completes it', async (t) => {
  const dataDir = tempDir(t, 'onair-crash-');
  const config = { dataDir, recording: { enabled: true } };
  const first = await startServerProcess(config);
  const publisher = publishTestPattern(first.rtmpUrl('live/crash'), { size: '320x240', gop: 25 });
  try {
    await waitFor(
      async () => ((await list(first))[0]?.durationS ?? 0) >= 4,
      20_000,
      '4 s recorded',
    );
    const [before] = await list(first);
    const sinceMs = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2000)); // the recording runs on
    const expectedS = (before?.durationS ?? 0) + (Date.now() - sinceMs) / 1000;
    await first.stop({ signal: 'SIGKILL' });
    const path = join(dataDir, 'recordings', before!.file);
    const afterCrashS = await durationOf(path);
    assert.ok(
      afterCrashS >= expectedS - 1.2,
      `the file plays ${afterCrashS} s; about ${expectedS.toFixed(2)} s were recorded`,
    );
    assert.ok(!existsSync(`${path}.json`), 'no index was written by the killed process');
    await publisher.stop();

    const second = await startServerProcess(config);
    try {
      const [listed] = await list(second);
      assert.equal(listed?.id, before!.id, 'the same id after the restart');
      assert.equal(listed.recording, false);
      assert.ok(Math.abs(listed.durationS - afterCrashS) < 0.5, `${listed.durationS}`);
      assert.ok(second.logs.some((e) => e.msg === 'recording indexed from its file'));
      // Repaired: the torn fragment cut, the mfra index appended, the duration written.
      const bytes = readFileSync(path);
      assert.equal(bytes.toString('latin1', bytes.length - 12, bytes.length - 8), 'mfro');
      assert.ok(existsSync(`${path}.json`));
      await decodesCleanly(path);
    } finally {
      await second.stop();
    }
  } finally {
    await publisher.stop();
    if (!first.exited()) await first.stop({ signal: 'SIGKILL' });
  }
});

test('SIGTERM finishes the file being written (index and duration) before the process exits', async (t) => {
  const dataDir = tempDir(t, 'onair-term-');
  const server = await startServerProcess({ dataDir, recording: { enabled: true } });
  const publisher = publishTestPattern(server.rtmpUrl('live/term'), { gop: 25 });
  try {
    await waitFor(
      async () => ((await list(server))[0]?.durationS ?? 0) >= 3,
      20_000,
      '3 s recorded',
    );
    const [recording] = await list(server);
    const exit = await server.stop({ signal: 'SIGTERM' });
    assert.equal(exit.code, 0);
    const path = join(dataDir, 'recordings', recording!.file);
    const bytes = readFileSync(path);
    assert.equal(bytes.toString('latin1', bytes.length - 12, bytes.length - 8), 'mfro');
    const sidecar = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as { bytes: number };
    assert.equal(sidecar.bytes, bytes.length);
    assert.ok((await durationOf(path)) >= 3);
  } finally {
    await publisher.stop();
  }
});

test('a nearly full disk stops recording with a log line and a metric; live playback goes on', async (t) => {
  const disk = smallFilesystem(t, 16 * 1024);
  const server = await startServer({
    dataDir: disk.dir,
    api: { token: TEST_API_TOKEN },
    recording: { enabled: true, minFreeBytes: 3 * 1024 * 1024 },
  });
  const publisher = publishTestPattern(server.rtmpUrl('live/full'), { size: '640x360', gop: 25 });
  try {
    await waitFor(() => server.onair.recordings.state('live/full').recording, 20_000, 'recording');
    disk.fill(3.5 * 1024 * 1024);
    await waitFor(
      () => server.onair.recordings.state('live/full').error !== undefined,
      30_000,
      'recording to stop',
    );
    const state = server.onair.recordings.state('live/full');
    assert.equal(state.error, 'disk-full');
    assert.equal(state.recording, false);
    assert.ok(
      server.logs.some((e) => e.reason === 'disk-full' || e.reason === 'write-failed'),
      'a log line says why',
    );
    const metrics = await (await fetch(server.httpUrl('metrics'), { headers: auth })).text();
    assert.match(metrics, /^onair_recording_errors_total [1-9]/m);
    assert.match(metrics, /^onair_recording_disk_full 1$/m);
    // Live delivery is untouched: the stream still plays over HTTP-FLV and HLS.
    const flv = await probe(server.httpUrl('live/full.flv'));
    assert.deepEqual(flv.map((s) => s.codec_name).sort(), ['aac', 'h264']);
    const hls = await probe(server.httpUrl('live/full.m3u8'));
    assert.equal(hls.find((s) => s.codec_type === 'video')?.width, 640);
    // What was recorded before is a complete file.
    const folder = join(disk.dir, 'recordings', 'live', 'full');
    const [file] = readdirSync(folder).filter((name) => name.endsWith('.mp4'));
    assert.ok(file);
    await waitFor(() => existsSync(join(folder, `${file}.json`)), 10_000, 'the file closed');
    await decodesCleanly(join(folder, file));
  } finally {
    await publisher.stop();
    disk.free();
    await server.onair.stop();
  }
});
