// End to end: ffmpeg publishes over RTMP; HLS and LL-HLS read back with ffprobe, ffmpeg and a
// real playlist parser; blocking reload, delta updates, caching headers, republish.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mock } from 'node:test';
import HLS from 'hls-parser';
import { startServer, type TestServer } from '../support/server.ts';
import {
  assertVideo,
  probe,
  publishTestPattern,
  run,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import { waitForPlaylist } from '../support/wait-for-playlist.ts';

type ParsedMedia = Extract<ReturnType<typeof HLS.parse>, { isMasterPlaylist: false }>;

/** Parses a media playlist; hls-parser's spec complaints (other than its 3-segment part heuristic) fail the test. */
function parseMedia(text: string): ParsedMedia {
  const problems: string[] = [];
  HLS.setOptions({ strictMode: false, silent: false });
  const spy = mock.method(console, 'error', (message: unknown) => {
    problems.push(String(message));
  });
  try {
    const parsed = HLS.parse(text);
    assert.ok(!parsed.isMasterPlaylist);
    assert.deepEqual(
      problems.filter((p) => !p.includes('Remove EXT-X-PART tags')),
      [],
      text,
    );
    return parsed;
  } finally {
    spy.mock.restore();
  }
}

async function getText(url: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text(), headers: response.headers };
}

describe('LL-HLS (fMP4) of an ffmpeg publish', () => {
  let server: TestServer;
  let publisher: Publisher;
  const playlistUrl = (): string => server.httpUrl('live/hls.m3u8');

  before(async () => {
    server = await startServer();
    publisher = publishTestPattern(server.rtmpUrl('live/hls'), { size: '320x240', gop: 25 });
    await waitFor(() => server.onair.hub.get('live/hls')?.tracks.length === 2, 15_000, 'tracks');
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('ffprobe reads H.264 320x240 + AAC from both playlist URLs', async () => {
    for (const url of [playlistUrl(), server.httpUrl('live/hls/index.m3u8')]) {
      const streams = await probe(url);
      assertVideo(streams, 'h264', [320, 240], url);
      assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac', url);
    }
  });

  test('ffmpeg decodes the fMP4 segments with no error', async () => {
    const result = await run('ffmpeg', [
      '-v',
      'error',
      '-xerror',
      '-i',
      playlistUrl(),
      '-t',
      '3',
      '-f',
      'null',
      '-',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.trim(), '');
  });

  test('the playlist is valid LL-HLS: EXTINF within the target, parts within PART-TARGET, a preload hint', async () => {
    let first: ParsedMedia | null = null;
    const deadline = Date.now() + 15_000;
    let parsed: ParsedMedia;
    let text: string;
    do {
      ({ text } = await getText(playlistUrl()));
      parsed = parseMedia(text);
      first ??= parsed;
      if (parsed.segments.filter((s) => s.uri !== '').length >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    } while (Date.now() < deadline);
    const complete = parsed.segments.filter((s) => s.uri !== '');
    assert.ok(complete.length >= 3, 'three segments within 15 s');
    for (const segment of complete) {
      assert.ok(
        Math.round(segment.duration) <= parsed.targetDuration,
        `EXTINF ${segment.duration}`,
      );
    }
    assert.ok(
      (parsed.mediaSequenceBase ?? 0) >= (first.mediaSequenceBase ?? 0),
      'media sequence monotonic',
    );
    const partTarget = parsed.partTargetDuration;
    assert.ok(partTarget !== undefined && partTarget > 0 && partTarget <= 0.5, 'PART-INF');
    const parts = parsed.segments.flatMap((s) => s.parts).filter((p) => !p.hint);
    assert.ok(parts.length > 0, 'parts listed');
    for (const part of parts) {
      const duration = part.duration ?? Infinity;
      assert.ok(duration <= partTarget + 1e-6, `part ${duration} > ${partTarget}`);
    }
    assert.match(text, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]+"/);
    assert.match(text, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES/);
    assert.match(text, /#EXT-X-PROGRAM-DATE-TIME:/);
  });

  test('a blocking reload for the next part returns only once that part exists; two segments ahead is 400', async () => {
    const { text } = await getText(playlistUrl());
    const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*-(\d+)\.(\d+)\.m4s"/.exec(text);
    assert.ok(hint, text);
    const [, msn, part] = hint;
    const hinted = hint[0].split('URI="')[1]!.replace('"', '');
    assert.ok(
      !text.includes(`#EXT-X-PART:DURATION=`) ||
        !new RegExp(`PART:[^\\n]*URI="${hinted}"`).test(text),
    );
    const blocked = await getText(`${playlistUrl()}?_HLS_msn=${msn}&_HLS_part=${part}`);
    assert.equal(blocked.status, 200);
    assert.ok(
      new RegExp(`#EXT-X-PART:[^\\n]*URI="${hinted}"`).test(blocked.text),
      'the awaited part is listed',
    );
    // Measured from a playlist of now: the one above is a blocking reload old, and on a loaded
    // machine the stream may have moved on a segment since.
    const now = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*-(\d+)\.\d+\.m4s"/.exec(
      (await getText(playlistUrl())).text,
    );
    assert.ok(now);
    const tooFar = await getText(`${playlistUrl()}?_HLS_msn=${Number(now[1]) + 3}`);
    assert.equal(tooFar.status, 400);
    const malformed = await getText(`${playlistUrl()}?_HLS_part=1`);
    assert.equal(malformed.status, 400, '_HLS_part without _HLS_msn');
  });

  test('a preload-hinted part request is held until the part exists, then served', async () => {
    const { text } = await getText(playlistUrl());
    const hinted = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(text)?.[1];
    assert.ok(hinted);
    const response = await fetch(server.httpUrl(`live/${hinted}`));
    assert.equal(response.status, 200);
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.equal(bytes.subarray(4, 8).toString('latin1'), 'moof', 'an fMP4 fragment');
  });

  test('delta updates with _HLS_skip=YES skip old segments with EXT-X-SKIP', async () => {
    // CAN-SKIP-UNTIL is 6 target durations: wait for enough segments to skip some.
    const deadline = Date.now() + 20_000;
    let delta = '';
    while (Date.now() < deadline) {
      delta = (await getText(`${playlistUrl()}?_HLS_skip=YES`)).text;
      if (delta.includes('#EXT-X-SKIP:SKIPPED-SEGMENTS=')) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.match(delta, /#EXT-X-SKIP:SKIPPED-SEGMENTS=\d+/);
    assert.match(delta, /#EXT-X-VERSION:9/);
  });

  test('caching headers: playlists short-lived, media immutable, CORS open, Content-Length set', async () => {
    const playlist = await getText(playlistUrl());
    assert.equal(playlist.headers.get('content-type'), 'application/vnd.apple.mpegurl');
    // A plain reload is never cached longer than a part; a blocking one names its part.
    assert.equal(playlist.headers.get('cache-control'), 'no-cache');
    const msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist.text)?.[1]);
    const blocking = await getText(`${playlistUrl()}?_HLS_msn=${msn}&_HLS_part=0`);
    assert.equal(blocking.status, 200);
    assert.equal(blocking.headers.get('cache-control'), 'public, max-age=6');
    assert.equal(playlist.headers.get('access-control-allow-origin'), '*');
    const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist.text)?.[1];
    const segment = playlist.text
      .split('\n')
      .find((line) => line.endsWith('.m4s') && !line.startsWith('#'));
    assert.ok(map && segment);
    for (const uri of [map, segment]) {
      const response = await fetch(server.httpUrl(`live/${uri}`));
      const body = Buffer.from(await response.arrayBuffer());
      assert.equal(response.status, 200, uri);
      assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(response.headers.get('content-length'), String(body.length));
      assert.equal(response.headers.get('content-encoding'), null);
      assert.equal(response.headers.get('access-control-allow-origin'), '*');
    }
  });

  test('unknown streams are a fast 404 that creates no state; odd names are 400', async () => {
    const missing = await getText(server.httpUrl('live/nobody.m3u8'));
    assert.equal(missing.status, 404);
    assert.equal(server.onair.hub.get('live/nobody'), undefined);
    const part = await getText(server.httpUrl('live/nobody/0123abcd-1.2.m4s'));
    assert.equal(part.status, 404);
    for (const path of ['live/%2e%2e.m3u8', 'live/a%00b.m3u8', 'x.m3u8']) {
      assert.equal((await getText(server.httpUrl(path))).status, 400, path);
    }
  });
});

describe('HLS compatible profile (MPEG-TS), set for one stream', () => {
  test('ffprobe reads H.264 + AAC from TS segments and ffmpeg decodes them; other streams stay LL-HLS', async () => {
    // The global profile stays low-latency; only live/ts is overridden in `streams:`.
    const server = await startServer({
      streams: { 'live/ts': { hls: { profile: 'compatible' } } },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/ts'), { size: '320x240', gop: 25 });
    const other = publishTestPattern(server.rtmpUrl('live/ll'), { size: '160x120', gop: 25 });
    try {
      await waitFor(() => server.onair.hub.get('live/ll')?.tracks.length === 2, 15_000, 'll');
      const llText = await waitForPlaylist(server.httpUrl('live/ll.m3u8'), {
        timeoutMs: 15_000,
        what: "the other stream's playlist",
      });
      assert.match(llText, /#EXT-X-PART:/, 'the other stream keeps the global low-latency profile');
      assert.match(llText, /\.m4s/);
      await waitFor(() => server.onair.hub.get('live/ts')?.tracks.length === 2, 15_000, 'tracks');
      const streams = await probe(server.httpUrl('live/ts.m3u8'));
      assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264');
      assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
      const { text } = await getText(server.httpUrl('live/ts.m3u8'));
      const parsed = parseMedia(text);
      assert.ok(
        parsed.segments.every((s) => s.uri.endsWith('.ts')),
        text,
      );
      assert.ok(!text.includes('#EXT-X-PART'), 'no parts in the compatible profile');
      const result = await run('ffmpeg', [
        '-v',
        'error',
        '-xerror',
        '-i',
        server.httpUrl('live/ts.m3u8'),
        '-t',
        '3',
        '-f',
        'null',
        '-',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr.trim(), '');
    } finally {
      await Promise.all([publisher.stop(), other.stop()]);
      await server.stop();
    }
  });
});

describe('HLS across a republish and the end of a stream', () => {
  test('a republish within the grace period continues the playlist after EXT-X-DISCONTINUITY; the end adds EXT-X-ENDLIST', async () => {
    const server = await startServer({ hub: { reconnectGraceMs: 8000 } });
    const url = server.rtmpUrl('live/re');
    let publisher = publishTestPattern(url, { size: '160x120', gop: 25 });
    try {
      await waitFor(() => server.onair.hub.get('live/re')?.tracks.length === 2, 15_000, 'tracks');
      let text = '';
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && (text.match(/#EXTINF/g) ?? []).length < 2) {
        text = (await getText(server.httpUrl('live/re.m3u8'))).text;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const before = parseMedia(text);
      await publisher.stop();
      await waitFor(() => server.onair.hub.get('live/re')?.state === 'grace', 5000, 'grace');
      publisher = publishTestPattern(url, { size: '160x120', gop: 25 });
      const until = Date.now() + 15_000;
      while (Date.now() < until && !text.includes('#EXT-X-DISCONTINUITY\n')) {
        text = (await getText(server.httpUrl('live/re.m3u8'))).text;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.match(text, /#EXT-X-DISCONTINUITY\n/);
      const afterRepublish = parseMedia(text);
      assert.ok(
        (afterRepublish.mediaSequenceBase ?? 0) >= (before.mediaSequenceBase ?? 0),
        'the same playlist continues',
      );
      assert.ok(
        afterRepublish.segments.some((s) => s.discontinuity),
        'hls-parser sees the discontinuity',
      );
      assert.equal(afterRepublish.endlist, false);
      await publisher.stop();
      await waitFor(
        () => server.onair.hub.get('live/re') === undefined,
        15_000,
        'the stream to end',
      );
      const ended = await getText(server.httpUrl('live/re.m3u8'));
      assert.equal(ended.status, 200);
      assert.match(ended.text, /#EXT-X-ENDLIST/);
    } finally {
      await publisher.stop();
      await server.stop();
    }
  });
});
