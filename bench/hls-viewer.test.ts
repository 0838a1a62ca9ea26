import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeFragment, encodeInitSegment } from '../src/media/fmp4-muxer.ts';
import { HlsViewer, plainPollDelayMs, waitForPlaylist } from './hls-viewer.ts';
import type { SendLookup, SentFrame } from './publisher.ts';
import { H264_TRACK } from './test-tracks.ts';
import { LoadContext } from './viewer-stats.ts';

const INIT = encodeInitSegment([H264_TRACK]);

/** A send log the fake servers fill: frame timestamp -> send time. */
class FakeSendLog implements SendLookup {
  readonly frames = new Map<number, SentFrame>();
  lastSentAtMs = 0;
  add(timestampMs: number, keyframe: boolean): void {
    this.lastSentAtMs = performance.now();
    this.frames.set(timestampMs, {
      timestampMs,
      sizeBytes: 1,
      keyframe,
      sentAtMs: this.lastSentAtMs,
    });
  }
  get(timestampMs: number): SentFrame | undefined {
    return this.frames.get(timestampMs);
  }
  recentLike(): SentFrame[] {
    return [];
  }
  sentBetween(): number {
    return 0;
  }
  keyframeAtOrBefore(timestampMs: number): SentFrame | undefined {
    let best: SentFrame | undefined;
    for (const f of this.frames.values()) {
      if (f.keyframe && f.timestampMs <= timestampMs && (best?.timestampMs ?? -1) < f.timestampMs)
        best = f;
    }
    return best;
  }
}

const PART_MS = 40;
const PARTS_PER_SEGMENT = 4;

/**
 * A small LL-HLS origin: a part every 40 ms (4 per segment), each a moof with two video samples
 * of 20 ms; blocking playlist reloads are held until the part they ask for exists.
 */
function llOrigin(log: FakeSendLog) {
  const requests: string[] = [];
  let parts = 0;
  const held = new Set<{ msn: number; part: number; res: ServerResponse }>();
  const has = (msn: number, part: number): boolean =>
    msn * PARTS_PER_SEGMENT + Math.min(part, PARTS_PER_SEGMENT) < parts;
  const playlist = (): string => {
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:9',
      '#EXT-X-TARGETDURATION:1',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.12',
      '#EXT-X-PART-INF:PART-TARGET=0.04',
      '#EXT-X-MAP:URI="s/init.mp4"',
    ];
    for (let k = 0; k < parts; k++) {
      const msn = Math.floor(k / PARTS_PER_SEGMENT);
      const index = k % PARTS_PER_SEGMENT;
      const independent = index === 0 ? ',INDEPENDENT=YES' : '';
      lines.push(`#EXT-X-PART:DURATION=0.04,URI="s/${msn}.${index}.m4s"${independent}`);
      if (index === PARTS_PER_SEGMENT - 1) lines.push('#EXTINF:0.16,', `s/${msn}.m4s`);
    }
    return `${lines.join('\n')}\n`;
  };
  const timer = setInterval(() => {
    const k = parts;
    log.add(k * PART_MS, k % PARTS_PER_SEGMENT === 0);
    log.add(k * PART_MS + PART_MS / 2, false);
    parts++;
    for (const h of held) {
      if (has(h.msn, h.part)) {
        held.delete(h);
        h.res.end(playlist());
      }
    }
  }, PART_MS);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests.push(`${url.pathname}${url.search}`);
    if (url.pathname === '/live/s.m3u8') {
      const msn = url.searchParams.get('_HLS_msn');
      const part = Number(url.searchParams.get('_HLS_part') ?? 0);
      if (msn !== null && !has(Number(msn), part)) held.add({ msn: Number(msn), part, res });
      else res.end(parts === 0 ? '#EXTM3U\n' : playlist());
      return;
    }
    if (url.pathname === '/live/s/init.mp4') {
      res.end(INIT);
      return;
    }
    const match = /^\/live\/s\/(\d+)\.(\d+)\.m4s$/.exec(url.pathname);
    if (match === null) {
      res.writeHead(404).end();
      return;
    }
    const k = Number(match[1]) * PARTS_PER_SEGMENT + Number(match[2]);
    const sample = (keyframe: boolean) => ({
      data: Buffer.alloc(5000, 1),
      durationTicks: (PART_MS / 2) * 90,
      ctsOffsetTicks: 0,
      keyframe,
    });
    res.end(
      encodeFragment(k + 1, [
        {
          trackId: 1,
          baseDecodeTimeTicks: k * PART_MS * 90,
          samples: [sample(true), sample(false)],
        },
      ]),
    );
  });
  return {
    server,
    requests,
    close: () => {
      clearInterval(timer);
      for (const h of held) h.res.destroy();
      server.closeAllConnections();
      server.close();
    },
  };
}

function context(log: SendLookup): LoadContext {
  const ctx = new LoadContext({
    sendLog: log,
    startupTimeoutMs: 5000,
    now: () => performance.now(),
  });
  ctx.steadyStartMs = 0;
  ctx.endMs = Infinity;
  return ctx;
}

void test('HlsViewer plays LL-HLS: blocking reloads for the next part, each part once and in order', async () => {
  const log = new FakeSendLog();
  const origin = llOrigin(log);
  await new Promise<void>((done) => origin.server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(origin.server.address() as AddressInfo).port}/live/s.m3u8`;
  const ctx = context(log);
  const viewer = new HlsViewer({ index: 0, url, ctx });
  try {
    await waitForPlaylist(url, 5000);
    await sleep(3 * PART_MS * PARTS_PER_SEGMENT);
    viewer.start();
    await sleep(1200);
  } finally {
    viewer.stop();
    origin.close();
  }
  // The viewer's requests start with the init segment (waitForPlaylist asked before it).
  const after = origin.requests.slice(origin.requests.indexOf('/live/s/init.mp4'));
  const partsAsked = after
    .map((r) => /\/s\/(\d+)\.(\d+)\.m4s$/.exec(r))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]) * PARTS_PER_SEGMENT + Number(m[2]));
  // Once each, in order, with no gap, from an independent part at least PART-HOLD-BACK back.
  assert.ok(partsAsked.length >= 20, `only ${partsAsked.length} parts`);
  assert.equal(partsAsked[0]! % PARTS_PER_SEGMENT, 0);
  const first = partsAsked[0] ?? -1;
  assert.deepEqual(
    partsAsked,
    partsAsked.map((_, i) => first + i),
  );
  // Every blocking reload asks for the part after the last one asked before it.
  let lastPart = -1;
  let blocking = 0;
  for (const r of after) {
    const part = /\/s\/(\d+)\.(\d+)\.m4s$/.exec(r);
    if (part) lastPart = Number(part[1]) * PARTS_PER_SEGMENT + Number(part[2]);
    const reload = /_HLS_msn=(\d+)&_HLS_part=(\d+)$/.exec(r);
    if (reload) {
      blocking++;
      const next = lastPart + 1;
      const asked = Number(reload[1]) * PARTS_PER_SEGMENT + Number(reload[2]);
      assert.equal(asked, next, `${r} after part ${lastPart}`);
    }
  }
  assert.ok(blocking >= partsAsked.length - 8);
  const result = viewer.stats.result();
  assert.equal(result.mode, 'll-hls');
  assert.ok(result.startupMs !== null);
  assert.equal(result.error, null);
  assert.equal(result.unmatchedFrames, 0);
  assert.ok(result.matchedFrames >= 10);
  assert.equal(ctx.latencyAll.count, result.matchedFrames);
  // A part is complete when its last frame (20 ms before the next part) is sent.
  assert.ok((ctx.latencyAll.summary().p50Ms ?? Infinity) < PART_MS * 4);
});

void test('HlsViewer plays plain HLS: starts 3 segments from the end, polls, fetches each segment once', async () => {
  const requests: string[] = [];
  let segments = 5;
  const timer = setInterval(() => segments++, 300);
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/hls/s.m3u8') {
      const first = Math.max(0, segments - 4);
      const lines = ['#EXTM3U', '#EXT-X-TARGETDURATION:1', `#EXT-X-MEDIA-SEQUENCE:${first}`];
      for (let msn = first; msn < segments; msn++) lines.push('#EXTINF:0.3,', `s-${msn}.ts`);
      res.end(`${lines.join('\n')}\n`);
    } else {
      res.end(Buffer.alloc(188 * 10, 0xff));
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hls/s.m3u8`;
  const viewer = new HlsViewer({ index: 0, url, ctx: context(new FakeSendLog()) });
  viewer.start();
  await sleep(2300);
  viewer.stop();
  clearInterval(timer);
  server.closeAllConnections();
  server.close();
  const fetched = requests
    .filter((r) => r.endsWith('.ts'))
    .map((r) => Number(/(\d+)\.ts$/.exec(r)?.[1]));
  assert.deepEqual(fetched.slice(0, 3), [2, 3, 4]); // 3 from the end of 0..4
  assert.deepEqual(
    fetched,
    fetched.map((_, i) => 2 + i),
  );
  assert.ok(fetched.length >= 6);
  const playlists = requests.filter((r) => r.endsWith('.m3u8')).length;
  // Polled every 0.5-1 s (target duration 1 s): 3 to 5 loads in 2.3 s.
  assert.ok(playlists >= 3 && playlists <= 6, `${playlists} playlist loads`);
  const result = viewer.stats.result();
  assert.equal(result.mode, 'hls');
  assert.equal(result.segments, fetched.length);
});

void test('plainPollDelayMs() waits a target duration after a change, half of it otherwise, from the load start', () => {
  const base = { targetDurationS: 2, loadStartedAtMs: 1000 };
  assert.equal(plainPollDelayMs({ ...base, changed: true, nowMs: 1100 }), 1900);
  assert.equal(plainPollDelayMs({ ...base, changed: false, nowMs: 1100 }), 900);
  assert.equal(plainPollDelayMs({ ...base, changed: false, nowMs: 5000 }), 50);
});
