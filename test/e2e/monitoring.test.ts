// End to end: Prometheus metrics under a known load (2 ffmpeg publishers, 5 HTTP-FLV viewers)
// read with a strict text-format parser; session records and the 10 s time series written while
// they play and read back through the API; QoE beacons sent by the real player in headless
// Chromium, aggregated; bad beacons refused while a viewer keeps receiving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { openFlv, type FlvViewer } from '../support/access-helpers.ts';
import { parseExposition, type Family } from '../support/prom-text.ts';
import { waitForPlaylist } from '../support/wait-for-playlist.ts';
import { playerState, waitForPage, withChromiumPage } from '../support/chromium.ts';

function sampleValue(families: Map<string, Family>, name: string, labels = {}): number {
  const family = families.get(name.replace(/_total$/, '')) ?? families.get(name);
  const sample = family?.samples.find(
    (s) =>
      s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  assert.ok(sample, `${name} ${JSON.stringify(labels)}`);
  return sample.value;
}

describe('monitoring under a known load', () => {
  let server: TestServer;
  const publishers: Publisher[] = [];
  const viewers: FlvViewer[] = [];
  const api = async (path: string): Promise<unknown> => {
    const response = await fetch(server.httpUrl(`api/v1/${path}`), {
      headers: { Authorization: `Bearer ${server.onair.apiToken.value}` },
    });
    assert.equal(response.status, 200, path);
    return response.json();
  };

  before(async () => {
    server = await startServer();
    for (const name of ['a', 'b']) {
      publishers.push(publishTestPattern(server.rtmpUrl(`live/${name}`), { gop: 25 }));
    }
    await waitFor(
      () => ['a', 'b'].every((n) => server.onair.hub.get(`live/${n}`)?.tracks.length === 2),
      15_000,
      'two publishers',
    );
    for (const name of ['a', 'a', 'a', 'b', 'b']) {
      viewers.push(await openFlv(server.httpUrl(`live/${name}.flv`)));
    }
    await waitFor(() => viewers.every((v) => v.received() > 1000), 10_000, 'five viewers');
  });
  after(async () => {
    await Promise.all(viewers.map((v) => v.close()));
    await Promise.all(publishers.map((p) => p.stop()));
    await server.stop();
  });

  test('/metrics: 2 streams, 2 publishers, 5 HTTP-FLV viewers and 1 HLS viewer, bytes in and out', async () => {
    // An HLS viewer: no connection, an address + user agent asking for a stream's playlist.
    const playlist = await waitForPlaylist(server.httpUrl('live/b.m3u8'), {
      timeoutMs: 15_000,
    });
    assert.match(playlist, /#EXTM3U/);
    const response = await fetch(server.httpUrl('metrics'));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const families = parseExposition(await response.text());
    assert.equal(sampleValue(families, 'onair_streams'), 2);
    assert.equal(sampleValue(families, 'onair_publishers'), 2);
    assert.equal(sampleValue(families, 'onair_viewers', { protocol: 'http-flv' }), 5);
    assert.equal(sampleValue(families, 'onair_viewers', { protocol: 'rtmp' }), 0);
    assert.equal(sampleValue(families, 'onair_viewers', { protocol: 'hls' }), 1);
    assert.ok(sampleValue(families, 'onair_ingest_bytes_total', { protocol: 'rtmp' }) > 10_000);
    const egress = sampleValue(families, 'onair_egress_bytes_total', { protocol: 'http-flv' });
    const received = viewers.reduce((sum, v) => sum + v.received(), 0);
    assert.ok(egress >= received * 0.9, `egress ${egress} vs received ${received}`);
    assert.equal(
      families.get('onair_egress_bytes')?.type ?? families.get('onair_egress_bytes_total')?.type,
      'counter',
    );
    assert.ok(families.has('process_resident_memory_bytes'));
    assert.ok(families.has('nodejs_eventloop_lag_seconds'));
  });

  test('the API shows both streams with their viewers, ingest and tracks', async () => {
    const page = (await api('streams')) as {
      items: {
        path: string;
        viewers: { total: number; byProtocol: Record<string, number> };
        ingest: { kbps5s: number; fps: number | null };
      }[];
    };
    const byPath = new Map(page.items.map((s) => [s.path, s]));
    assert.equal(byPath.get('live/a')?.viewers.total, 3);
    assert.deepEqual(byPath.get('live/b')?.viewers.byProtocol, { 'http-flv': 2, hls: 1 });
    // The rates are averages over the last 5 whole seconds: wait until the window is full.
    await waitFor(
      () => (server.onair.hub.get('live/a')?.ingest.figures().fps ?? 0) > 20,
      15_000,
      'five seconds of ingest',
    );
    const a = (await api('streams/live/a')) as {
      ingest: { kbps5s: number; fps: number | null; keyframeIntervalS: number | null };
    };
    assert.ok(a.ingest.kbps5s > 50, `kbps ${a.ingest.kbps5s}`);
    assert.ok((a.ingest.fps ?? 0) > 20, `fps ${String(a.ingest.fps)}`);
    assert.equal(a.ingest.keyframeIntervalS, 1);
  });

  test('session records and the 10 s series are kept and read back: history and summary', async () => {
    // The recorder samples on 10 s boundaries: wait for a sample with the viewers in it.
    let history: {
      points: {
        viewers: number;
        viewersByProtocol: Record<string, number>;
        ingestKbps: number | null;
      }[];
    } = {
      points: [],
    };
    // A sample taken before five whole seconds of ingest were counted carries the viewers
    // but a partial rate: look for one that has both.
    const full = (p: (typeof history.points)[number]): boolean =>
      p.viewers === 3 && (p.ingestKbps ?? 0) > 50;
    const deadline = Date.now() + 25_000;
    while (!history.points.some(full) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      history = (await api('streams/live/a/history')) as typeof history;
    }
    const point = history.points.find(full);
    assert.ok(point, JSON.stringify(history));
    assert.deepEqual(point.viewersByProtocol, { 'http-flv': 3 });
    // Two of live/b's viewers leave: their sessions are recorded.
    const [, , , b1, b2] = viewers;
    await Promise.all([b1?.close(), b2?.close()]);
    await waitFor(
      () =>
        !server.onair.sessions.list().some((v) => v.path === 'live/b' && v.protocol === 'http-flv'),
      5000,
      'the HTTP-FLV viewers of live/b gone',
    );
    type Summary = {
      streams: {
        stream: string;
        views: number;
        uniqueViewers: number;
        watchTimeS: number;
        byProtocol: Record<string, { views: number }>;
      }[];
    };
    // Ended sessions are written in batches, within a second of their end.
    const written = Date.now() + 10_000;
    let summary = (await api('analytics/summary')) as Summary;
    while (
      (summary.streams.find((s) => s.stream === 'live/b')?.views ?? 0) < 2 &&
      Date.now() < written
    ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      summary = (await api('analytics/summary')) as Summary;
    }
    const b = summary.streams.find((s) => s.stream === 'live/b');
    assert.ok(b, JSON.stringify(summary));
    assert.equal(b.views, 2);
    assert.equal(b.uniqueViewers, 1, 'same address and user agent: one unique viewer');
    assert.equal(b.byProtocol['http-flv']?.views, 2);
    assert.ok(b.watchTimeS > 0);
  });

  test('the player in Chromium sends QoE beacons that the summary and the live feed aggregate', async () => {
    await withChromiumPage(async (page) => {
      await page.goto(server.httpUrl('watch/live/a?mode=flv&qoeIntervalMs=1000'));
      await waitForPage(page, 'window.onairPlayer.qoe.beaconsSent >= 3', 30_000);
      const state = await playerState(page);
      assert.equal(state.status, 'playing');
    });
    const summary = (await api('analytics/summary')) as {
      streams: {
        stream: string;
        qoe: { beacons: number; startupP50Ms: number | null; rebufferRatio: number | null } | null;
      }[];
    };
    const qoe = summary.streams.find((s) => s.stream === 'live/a')?.qoe;
    assert.ok(qoe && qoe.beacons >= 3, JSON.stringify(summary));
    assert.ok((qoe.startupP50Ms ?? 0) > 0, 'a startup time');
    assert.ok(qoe.rebufferRatio !== null && qoe.rebufferRatio < 0.5);
  });

  test('bad beacons (malformed, unknown stream, huge, a flood) are refused; viewers keep receiving', async () => {
    const [viewer] = viewers;
    assert.ok(viewer);
    const before = viewer.received();
    const post = (body: string): Promise<number> =>
      fetch(server.httpUrl('api/v1/qoe'), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
      }).then((r) => r.status);
    assert.equal(await post('{not json'), 400);
    assert.equal(
      await post(
        JSON.stringify({
          stream: 'live/nope',
          session: 'abcdefgh',
          rebufferCount: 0,
          rebufferMs: 0,
          playedMs: 1,
        }),
      ),
      400,
    );
    assert.equal(await post(JSON.stringify({ junk: 'x'.repeat(10_000) })), 413);
    const statuses = await Promise.all(Array.from({ length: 80 }, () => post('{}')));
    assert.ok(statuses.includes(429), 'the flood is rate-limited');
    await waitFor(() => viewer.received() > before + 10_000, 5000, 'the viewer still receives');
  });
});
