// End to end: ffmpeg publishes with recording on; ffprobe and ffmpeg read the files back; the
// catalogue, downloads with ranges, HLS replay in Chromium, clips across files, retention, the
// on_record hook, a reconnect within the grace period, a codec change, a private stream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, run, waitFor, type Publisher } from '../support/media-tools.ts';
import {
  expectVideoAdvances,
  videoStatus,
  waitForPage,
  withChromiumPage,
} from '../support/chromium.ts';
import { signToken } from '../../src/access/tokens.ts';

const API_TOKEN = 'recording-test-token-0123456789';
const auth = { authorization: `Bearer ${API_TOKEN}` };

interface Recording {
  id: string;
  stream: string;
  file: string;
  start: string;
  end: string;
  durationS: number;
  bytes: number;
  codecs: string[];
  width?: number;
  height?: number;
  recording: boolean;
}

async function api<T>(server: TestServer, path: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(server.httpUrl(path), {
    ...init,
    headers: { ...auth, ...(init.headers as Record<string, string> | undefined) },
  });
  assert.ok(response.ok, `${path}: ${response.status} ${await response.clone().text()}`);
  return (await response.json()) as T;
}

async function recordingsOf(server: TestServer, stream: string): Promise<Recording[]> {
  const list = await api<{ items: Recording[] }>(
    server,
    `api/v1/recordings?stream=${encodeURIComponent(stream)}`,
  );
  return list.items;
}

/** ffprobe's format duration (s) and streams of a file or URL. */
async function probeFile(url: string): Promise<{
  durationS: number;
  streams: { codec_name: string; width?: number; height?: number }[];
}> {
  const result = await run('ffprobe', [
    ...['-v', 'error', '-show_entries', 'format=duration:stream=codec_name,width,height'],
    ...['-of', 'json', url],
  ]);
  assert.equal(result.code, 0, result.stderr);
  const parsed = JSON.parse(result.stdout) as {
    format: { duration: string };
    streams: { codec_name: string; width?: number; height?: number }[];
  };
  return { durationS: Number(parsed.format.duration), streams: parsed.streams };
}

async function decodesCleanly(url: string): Promise<void> {
  const result = await run('ffmpeg', ['-v', 'error', '-xerror', '-i', url, '-f', 'null', '-'], {
    timeoutMs: 60_000,
  });
  assert.equal(result.code, 0, `${url}: ${result.stderr}`);
}

/** Resolves when the publisher's ffmpeg has exited (at once if it has). */
function exited(publisher: Publisher): Promise<void> {
  const child = publisher.process;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
}

/** An HTTP receiver of hook notifications. */
async function hookReceiver(): Promise<{
  server: Server;
  url: string;
  bodies: Record<string, unknown>[];
}> {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    req.on('end', () => {
      bodies.push(JSON.parse(text) as Record<string, unknown>);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, url: `http://127.0.0.1:${address.port}/hook`, bodies };
}

describe('recording a 20 s publish into files of 9 s', () => {
  let server: TestServer;
  let publisher: Publisher;
  let hook: Awaited<ReturnType<typeof hookReceiver>>;
  let files: Recording[] = [];
  const eventPlaylists: string[] = [];
  const SECONDS = 20;

  before(async () => {
    hook = await hookReceiver();
    server = await startServer({
      api: { token: API_TOKEN },
      hub: { reconnectGraceMs: 1000 },
      hooks: { onRecord: hook.url, secret: 'hook-secret-0123456789abcdef' },
      recording: { enabled: true, segmentMinutes: 0.15 },
      auth: { secret: 'recording-secret-0123456789abcdef' },
      streams: { 'live/secret': { private: true } },
    });
    publisher = publishTestPattern(server.rtmpUrl('live/rec'), {
      size: '320x240',
      gop: 25,
      seconds: SECONDS,
    });
    const secret = publishTestPattern(server.rtmpUrl('live/secret'), { gop: 25, seconds: 4 });
    // While it records, the recording in progress plays as an EVENT playlist that grows.
    await waitFor(
      async () => (await recordingsOf(server, 'live/rec')).length > 0,
      15_000,
      'a file',
    );
    const [first] = await recordingsOf(server, 'live/rec');
    const playlistOf = async (): Promise<string> =>
      (await fetch(server.httpUrl(`vod/${first!.id}.m3u8`))).text();
    const count = (text: string): number => text.match(/#EXTINF/g)?.length ?? 0;
    await waitFor(async () => count(await playlistOf()) > 0, 15_000, 'a segment listed');
    eventPlaylists.push(await playlistOf());
    await waitFor(
      async () => count(await playlistOf()) > count(eventPlaylists[0]!),
      15_000,
      'the EVENT playlist to grow',
    );
    eventPlaylists.push(await playlistOf());
    await Promise.all([exited(secret), exited(publisher)]);
    // The stream ends after the grace period; the last file is closed then.
    await waitFor(
      async () => {
        const list = await recordingsOf(server, 'live/rec');
        return list.length > 0 && list.every((r) => !r.recording);
      },
      20_000,
      'every file closed',
    );
    files = await recordingsOf(server, 'live/rec');
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
    hook.server.close();
  });

  test('the EVENT playlist of the file in progress grew, without ENDLIST', () => {
    assert.equal(eventPlaylists.length, 2);
    const [early, later] = eventPlaylists.map((text) => text.match(/#EXTINF/g)?.length ?? 0);
    assert.ok((later ?? 0) > (early ?? 0), eventPlaylists.join('\n---\n'));
    for (const text of eventPlaylists) {
      assert.match(text, /#EXT-X-PLAYLIST-TYPE:EVENT/);
      assert.doesNotMatch(text, /#EXT-X-ENDLIST/);
    }
  });

  test('three contiguous files whose durations add up to the publish; ffmpeg decodes each', async () => {
    assert.equal(files.length, 3, JSON.stringify(files));
    let totalS = 0;
    for (const [i, file] of files.entries()) {
      assert.match(file.file, /^live\/rec\/\d{8}T\d{6}Z(?:-\d+)?\.mp4$/);
      assert.deepEqual(
        file.codecs.map((c) => c.split('.')[0]),
        ['avc1', 'mp4a'],
      );
      assert.equal(file.width, 320);
      const path = join(server.onair.config.dataDir, 'recordings', file.file);
      const probed = await probeFile(path);
      assert.deepEqual(probed.streams.map((s) => s.codec_name).sort(), ['aac', 'h264']);
      assert.equal(probed.streams.find((s) => s.codec_name === 'h264')?.height, 240);
      assert.ok(
        Math.abs(probed.durationS - file.durationS) < 0.1,
        `${probed.durationS} vs ${file.durationS}`,
      );
      await decodesCleanly(path);
      totalS += probed.durationS;
      const next = files[i + 1];
      if (next) {
        // Cut on a keyframe: the next file starts where this one ends.
        const gapMs = Date.parse(next.start) - Date.parse(file.end);
        assert.ok(Math.abs(gapMs) <= 50, `gap of ${gapMs} ms between files ${i} and ${i + 1}`);
      }
    }
    // Within one GOP (1 s) of what ffmpeg published.
    assert.ok(Math.abs(totalS - SECONDS) <= 1, `recorded ${totalS} s of ${SECONDS} s`);
  });

  test('the catalogue pages and filters; one recording reads by id', async () => {
    const page = await api<{ items: Recording[]; total: number }>(
      server,
      'api/v1/recordings?itemsPerPage=2&page=1',
    );
    assert.equal(page.total, 4); // three of live/rec, one of live/secret
    assert.equal(page.items.length, 2);
    const later = await api<{ items: Recording[] }>(
      server,
      `api/v1/recordings?stream=live/rec&from=${encodeURIComponent(files[2]!.start)}`,
    );
    assert.deepEqual(
      later.items.map((r) => r.id),
      [files[1]!.id, files[2]!.id],
    );
    const one = await api<Recording>(server, `api/v1/recordings/${files[0]!.id}`);
    assert.equal(one.file, files[0]!.file);
    const missing = await fetch(server.httpUrl('api/v1/recordings/0000000000000000'), {
      headers: auth,
    });
    assert.equal(missing.status, 404);
  });

  test('downloads answer one range with 206 and the right bytes, 416 past the end or for two', async () => {
    const file = files[0]!;
    const onDisk = readFileSync(join(server.onair.config.dataDir, 'recordings', file.file));
    const url = server.httpUrl(`api/v1/recordings/${file.id}/file`);
    const whole = await fetch(url, { headers: auth });
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(onDisk));
    const part = await fetch(url, { headers: { ...auth, range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000-1999/${onDisk.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(onDisk.subarray(1000, 2000)));
    const tail = await fetch(url, { headers: { ...auth, range: 'bytes=-100' } });
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(onDisk.subarray(onDisk.length - 100)));
    const past = await fetch(url, { headers: { ...auth, range: `bytes=${onDisk.length}-` } });
    assert.equal(past.status, 416);
    assert.equal(past.headers.get('content-range'), `bytes */${onDisk.length}`);
    await past.arrayBuffer();
    const two = await fetch(url, { headers: { ...auth, range: 'bytes=0-1,5-6' } });
    assert.equal(two.status, 416);
    await two.arrayBuffer();
  });

  test('a clip across a file boundary lasts what was asked, within a GOP, and decodes', async () => {
    const start = Date.parse(files[0]!.start);
    const from = new Date(start + 6_000).toISOString();
    const to = new Date(start + 13_000).toISOString();
    const response = await fetch(
      server.httpUrl(`api/v1/streams/live/rec/clip.mp4?from=${from}&to=${to}`),
      { headers: auth },
    );
    assert.equal(response.status, 200, await response.clone().text());
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes.length, Number(response.headers.get('content-length')));
    const path = join(server.onair.config.dataDir, 'clip.mp4');
    await import('node:fs/promises').then((fs) => fs.writeFile(path, bytes));
    const probed = await probeFile(path);
    assert.ok(Math.abs(probed.durationS - 7) <= 1, `clip of ${probed.durationS} s`);
    await decodesCleanly(path);
    const bad = await fetch(
      server.httpUrl(`api/v1/streams/live/rec/clip.mp4?from=${to}&to=${from}`),
      { headers: auth },
    );
    assert.equal(bad.status, 400);
  });

  test('/watch/vod/ID plays the recording in Chromium and seeks into the middle', async () => {
    const file = files[0]!;
    const probed = await probeFile(server.httpUrl(`vod/${file.id}.m3u8`));
    assert.ok(Math.abs(probed.durationS - file.durationS) < 0.2, `${probed.durationS}`);
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl(`watch/vod/${file.id}`));
      await expectVideoAdvances(page, { advanceS: 0.5, timeoutMs: 20_000 });
      const target = file.durationS / 2;
      await page.evaluate(`document.querySelector("video").currentTime = ${target}`);
      await waitForPage(
        page,
        `(() => { const v = document.querySelector("video"); return !v.seeking && v.currentTime > ${target + 0.3}; })()`,
        20_000,
      );
      const status = await videoStatus(page);
      assert.ok(Math.abs(status.currentTime - target) < 3, `currentTime ${status.currentTime}`);
      assert.equal(status.width, 320);
      assert.deepEqual(problems.exceptions, []);
    });
  });

  test('a private stream recording needs its play token; its media needs the signed hs=', async () => {
    const [secret] = await recordingsOf(server, 'live/secret');
    assert.ok(secret);
    const denied = await fetch(server.httpUrl(`vod/${secret.id}.m3u8`));
    assert.equal(denied.status, 401);
    await denied.text();
    const media = await fetch(server.httpUrl(`vod/${secret.id}.mp4`));
    assert.equal(media.status, 403);
    await media.text();
    const token = signToken(server.onair.keys.token, {
      purpose: 'play',
      path: 'live/secret',
      expiresAtS: Math.floor(Date.now() / 1000) + 600,
    });
    const allowed = await fetch(server.httpUrl(`vod/${secret.id}.m3u8?token=${token}`));
    assert.equal(allowed.status, 200);
    const text = await allowed.text();
    const uri = /^(\w+\.mp4\?hs=[^\s"]+)$/m.exec(text)?.[1];
    assert.ok(uri, text);
    const signed = await fetch(server.httpUrl(`vod/${uri}`), { headers: { range: 'bytes=0-15' } });
    assert.equal(signed.status, 206);
    await signed.arrayBuffer();
  });

  test('on_record was posted for every file with its duration and bytes', async () => {
    await waitFor(
      () => hook.bodies.filter((b) => b.stream === 'live/rec').length === 3,
      10_000,
      'hooks',
    );
    const posted = hook.bodies.filter((b) => b.stream === 'live/rec');
    assert.deepEqual(posted.map((b) => b.file).sort(), files.map((f) => f.file).sort());
    for (const body of posted) {
      assert.equal(body.action, 'on_record');
      const file = files.find((f) => f.file === body.file)!;
      assert.equal(body.bytes, file.bytes);
      assert.equal(body.durationS, Math.round(file.durationS));
    }
  });

  test('retention at start-up deletes the oldest file over maxBytesPerStream', async () => {
    const [oldest, ...rest] = files;
    const cap = rest.reduce((sum, f) => sum + f.bytes, 0);
    const second = await startServer({
      dataDir: server.onair.config.dataDir,
      api: { token: API_TOKEN },
      recording: { maxBytesPerStream: cap },
    });
    try {
      const left = await recordingsOf(second, 'live/rec');
      assert.deepEqual(
        left.map((r) => r.id),
        rest.map((r) => r.id),
      );
      assert.ok(!existsSync(join(second.onair.config.dataDir, 'recordings', oldest!.file)));
    } finally {
      await second.onair.stop(); // the data directory belongs to the first server
    }
  });

  test('DELETE removes a recording and its file', async () => {
    const last = files[2]!;
    const response = await fetch(server.httpUrl(`api/v1/recordings/${last.id}`), {
      method: 'DELETE',
      headers: auth,
    });
    assert.equal(response.status, 204);
    assert.ok(!existsSync(join(server.onair.config.dataDir, 'recordings', last.file)));
    const gone = await fetch(server.httpUrl(`api/v1/recordings/${last.id}`), { headers: auth });
    assert.equal(gone.status, 404);
    const metrics = await (await fetch(server.httpUrl('metrics'), { headers: auth })).text();
    const written = /^onair_recording_bytes_written_total (\d+)/m.exec(metrics)?.[1];
    assert.ok(Number(written) > files[0]!.bytes, metrics);
  });
});

describe('a publisher back within the grace period continues the file; new codecs start another', () => {
  let server: TestServer;

  before(async () => {
    server = await startServer({
      api: { token: API_TOKEN },
      hub: { reconnectGraceMs: 3000 },
      recording: { enabled: false },
      streams: { 'live/again': { record: true } },
    });
  });

  after(async () => {
    await server.stop();
  });

  test('4 s + 4 s at 320x240 make one file of about 8 s; 3 s at 160x120 a second file', async () => {
    for (const [size, seconds] of [
      ['320x240', 4],
      ['320x240', 4],
      ['160x120', 3],
    ] as const) {
      const publisher = publishTestPattern(server.rtmpUrl('live/again'), {
        size,
        gop: 25,
        seconds,
      });
      await exited(publisher);
    }
    await waitFor(
      async () => {
        const list = await recordingsOf(server, 'live/again');
        return list.length === 2 && list.every((r) => !r.recording);
      },
      20_000,
      'two closed files',
    );
    const [first, second] = await recordingsOf(server, 'live/again');
    assert.ok(Math.abs(first!.durationS - 8) <= 1, `first file ${first!.durationS} s`);
    assert.equal(first!.width, 320);
    assert.ok(Math.abs(second!.durationS - 3) <= 1, `second file ${second!.durationS} s`);
    assert.equal(second!.width, 160);
  });

  test('PUT .../recording starts and stops recording a live stream', async () => {
    const state = async (): Promise<{ enabled: boolean; recording: boolean }> =>
      api(server, 'api/v1/streams/live/other/recording');
    assert.deepEqual(await state(), { enabled: false, recording: false });
    const publisher = publishTestPattern(server.rtmpUrl('live/other'), { gop: 25, seconds: 8 });
    try {
      await waitFor(() => server.onair.hub.get('live/other')?.tracks.length === 2, 15_000, 'live');
      const put = (enabled: boolean): Promise<{ enabled: boolean; recording: boolean }> =>
        api(server, 'api/v1/streams/live/other/recording', {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ enabled }),
        });
      await put(true);
      await waitFor(async () => (await state()).recording, 10_000, 'recording');
      await waitFor(
        async () => ((await recordingsOf(server, 'live/other'))[0]?.durationS ?? 0) >= 2,
        10_000,
        '2 s recorded',
      );
      const stopped = await put(false);
      assert.deepEqual(stopped, { enabled: false, recording: false });
      const [file] = await recordingsOf(server, 'live/other');
      assert.equal(file?.recording, false);
      assert.ok(file.durationS >= 2 && file.durationS < 6, `${file.durationS} s`);
      await decodesCleanly(join(server.onair.config.dataDir, 'recordings', file.file));
    } finally {
      await publisher.stop();
    }
  });
});
