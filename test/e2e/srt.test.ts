// SRT end to end with real clients: ffmpeg (libsrt) publishes MPEG-TS with both streamid forms;
// ffprobe and ffmpeg read it back over HTTP-FLV, LL-HLS and SRT; wrong keys, passphrases and
// streamids are refused in the handshake while the other publishers flow; loss between the
// publisher and onair (a lossy UDP relay) is repaired by SRT within its latency.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Stream } from '../../src/hub/stream.ts';
import { dtsMsOf, type Frame } from '../../src/media/frame.ts';
import {
  assertVideo,
  probe,
  publishTestPattern,
  run,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import { startServer, type TestServer } from '../support/server.ts';
import { startUdpRelay } from '../support/udp-relay.ts';

const KEY = 'srt-publish-key-1';
const PASSPHRASE = 'correct-horse-battery';
/** SRT latency the publishers ask for (ffmpeg's srt option is in microseconds). */
const LATENCY = 'latency=200000';

/** Runs ffmpeg publishing 2 s of test pattern to `url`; resolves with its exit code and stderr. */
async function publishBriefly(url: string): Promise<{ code: number | null; stderr: string }> {
  return run(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120'],
      ...['-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'mpegts', url],
    ],
    { timeoutMs: 15_000 },
  );
}

/** A subscriber counting a stream's video frames and the largest step between their times. */
function watchVideo(stream: Stream | undefined): {
  frames: () => number;
  largestStepMs: () => number;
  stop: () => void;
} {
  assert.ok(stream, 'the stream exists');
  let frames = 0;
  let lastMs: number | null = null;
  let largest = 0;
  const subscriber = {
    onTracks: () => undefined,
    onFrame: (frame: Frame) => {
      if (frame.kind !== 'video' || frame.sequenceHeader) return;
      const ms = dtsMsOf(frame);
      if (lastMs !== null) largest = Math.max(largest, ms - lastMs);
      lastMs = ms;
      frames += 1;
    },
    onClose: () => undefined,
  };
  stream.subscribe(subscriber);
  return {
    frames: () => frames,
    largestStepMs: () => largest,
    stop: () => {
      stream.unsubscribe(subscriber);
    },
  };
}

describe('SRT ingest and playback', () => {
  let server: TestServer;
  const publishers: Publisher[] = [];

  before(async () => {
    server = await startServer({
      srt: { latencyMs: 200 },
      streams: {
        'live/keyed': { publishKey: KEY },
        'live/secret': { srtPassphrase: PASSPHRASE },
      },
    });
    assert.notEqual(server.srtPort, null, 'SRT is on (the onair-srt addon is built)');
    publishers.push(
      publishTestPattern(server.srtUrl('#!::r=live/srt-a,m=publish', LATENCY), {
        format: 'mpegts',
        size: '320x240',
      }),
      publishTestPattern(server.srtUrl('publish:live/srt-b', LATENCY), {
        format: 'mpegts',
        size: '640x360',
      }),
    );
    for (const path of ['live/srt-a', 'live/srt-b']) {
      await waitFor(
        () => server.onair.hub.get(path)?.tracks.length === 2,
        15_000,
        `${path} to have its two tracks`,
      );
    }
  });

  after(async () => {
    await Promise.all(publishers.map((publisher) => publisher.stop()));
    await server.stop();
  });

  test('both streamid forms publish: ffprobe reads each over HTTP-FLV and LL-HLS', async () => {
    for (const [path, size] of [
      ['live/srt-a', [320, 240]],
      ['live/srt-b', [640, 360]],
    ] as const) {
      for (const url of [server.httpUrl(`${path}.flv`), server.httpUrl(`${path}.m3u8`)]) {
        const streams = await probe(url);
        assertVideo(streams, 'h264', size, url);
        assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac', url);
      }
    }
    const sessions = server.onair.sessions.list().filter((s) => s.protocol === 'srt');
    assert.equal(sessions.filter((s) => s.role === 'publisher').length, 2);
    const transport = sessions[0]?.transport?.();
    assert.ok(transport && typeof transport.rttMs === 'number', 'SRT statistics in the session');
    assert.ok((transport.packetsReceived ?? 0) > 0, 'packets received');
  });

  test('a late HTTP-FLV viewer decodes its first frame without an error (ffmpeg -xerror)', async () => {
    const result = await run('ffmpeg', [
      ...['-v', 'error', '-xerror', '-rw_timeout', '10000000'],
      ...['-i', server.httpUrl('live/srt-a.flv'), '-frames:v', '5', '-f', 'null', '-'],
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.trim(), '');
  });

  test('ffmpeg plays a stream back over SRT, with read: and with m=request', async () => {
    for (const streamId of ['read:live/srt-a', '#!::r=live/srt-b,m=request']) {
      const streams = await probe(server.srtUrl(streamId, LATENCY));
      const size = streamId.includes('srt-a') ? [320, 240] : [640, 360];
      assertVideo(streams, 'h264', size as [number, number], streamId);
      assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac', streamId);
    }
    const decoded = await run('ffmpeg', [
      ...['-v', 'error', '-xerror', '-i', server.srtUrl('read:live/srt-a', LATENCY)],
      ...['-frames:v', '25', '-f', 'null', '-'],
    ]);
    assert.equal(decoded.code, 0, decoded.stderr);
  });

  test('a wrong key, a wrong passphrase and a malformed streamid are refused; the others flow', async () => {
    const watch = watchVideo(server.onair.hub.get('live/srt-a'));
    const refused = [
      server.srtUrl(`#!::r=live/keyed,m=publish,s=wrong-key-000`),
      server.srtUrl('publish:live/keyed'),
      server.srtUrl('publish:live/secret', 'passphrase=not-the-passphrase'),
      server.srtUrl('publish:live/secret'),
      server.srtUrl('#!::r=live/x,m=bidirectional'),
      server.srtUrl('#!::r=live/x,m=publish,zz=1'),
      server.srtUrl('publish:live/../etc'),
    ];
    for (const url of refused) {
      const result = await publishBriefly(url);
      assert.notEqual(result.code, 0, `${url} is refused`);
      assert.match(result.stderr, /Connection to srt:|Input\/output error|rejected/i, url);
    }
    for (const path of ['live/keyed', 'live/secret', 'live/x']) {
      assert.equal(server.onair.hub.get(path)?.publisher ?? null, null, `${path} not published`);
    }
    const refusals = server.logs.filter((entry) => entry.msg === 'SRT refused');
    assert.ok(refusals.length >= 5, 'each handshake refusal is logged with its reason');
    // The right key and the right passphrase are let in.
    for (const url of [
      server.srtUrl(`publish:live/keyed:${KEY}`),
      server.srtUrl('#!::r=live/secret,m=publish', `passphrase=${PASSPHRASE}`),
    ]) {
      const result = await publishBriefly(url);
      assert.equal(result.code, 0, `${url}: ${result.stderr}`);
    }
    // The publishers already on air kept going through all of it.
    await waitFor(() => watch.frames() > 50, 10_000, 'live/srt-a to keep flowing');
    watch.stop();
    assert.ok(watch.largestStepMs() <= 80, `no gap in live/srt-a: ${watch.largestStepMs()} ms`);
    assert.notEqual(server.onair.hub.get('live/srt-b')?.publisher ?? null, null);
  });

  test('loss between publisher and onair is recovered by SRT: the viewer sees no gap', async () => {
    const relay = await startUdpRelay({
      target: { host: '127.0.0.1', port: server.srtPort ?? 0 },
      dropEvery: 20,
    });
    const lossy = publishTestPattern(
      `srt://127.0.0.1:${relay.port}?streamid=publish:live/lossy&${LATENCY}`,
      { format: 'mpegts', size: '320x240', gop: 25 },
    );
    try {
      await waitFor(
        () => server.onair.hub.get('live/lossy')?.tracks.length === 2,
        15_000,
        'live/lossy to have its two tracks',
      );
      const watch = watchVideo(server.onair.hub.get('live/lossy'));
      // Ten seconds of frames through the relay.
      await waitFor(() => watch.frames() >= 250, 20_000, 'frames through the lossy relay');
      watch.stop();
      // 25 fps: frames 40 ms apart; a lost frame would show as a step of 80 ms or more.
      assert.ok(watch.largestStepMs() < 80, `no gap: largest step ${watch.largestStepMs()} ms`);
      const session = server.onair.sessions
        .list()
        .find((s) => s.protocol === 'srt' && s.path === 'live/lossy');
      const transport = session?.transport?.();
      assert.ok(relay.stats.dropped > 20, `the relay dropped ${relay.stats.dropped} datagrams`);
      assert.ok(
        (transport?.packetsReceivedLost ?? 0) > 0,
        'libsrt saw the loss: ' + JSON.stringify(transport),
      );
      assert.equal(transport?.packetsReceivedDropped, 0, 'no packet given up: all were resent');
      assert.equal(session?.droppedFrames?.(), 0, 'the demuxer lost no frame');
      const result = await run('ffmpeg', [
        ...['-v', 'error', '-xerror', '-i', server.httpUrl('live/lossy.flv')],
        ...['-frames:v', '50', '-f', 'null', '-'],
      ]);
      assert.equal(result.code, 0, result.stderr);
    } finally {
      await lossy.stop();
      await relay.close();
    }
  });
});
