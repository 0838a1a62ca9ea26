// End to end: HLS viewer sessions against a client that makes up user agents, and the viewer
// limits. ffmpeg publishes; playlists are fetched over real HTTP with a different User-Agent
// each; the sessions, the metrics, the refusals and HTTP-FLV viewers are checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { waitFor, type Publisher } from '../support/media-tools.ts';
import { livePublisher, openFlv, refusals } from '../support/access-helpers.ts';
import { parseExposition } from '../support/prom-text.ts';
import { waitForPlaylist } from '../support/wait-for-playlist.ts';

/** GETs `url` with this User-Agent; resolves with the status (the body is read to the end). */
async function getAs(url: string, userAgent: string): Promise<number> {
  const response = await fetch(url, {
    headers: { 'User-Agent': userAgent },
    signal: AbortSignal.timeout(10_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/** One sample of /metrics (no labels), read over HTTP. */
async function metric(server: TestServer, name: string, labels = {}): Promise<number> {
  const response = await fetch(server.httpUrl('metrics'));
  const families = parseExposition(await response.text());
  const family = families.get(name.replace(/_total$/, '')) ?? families.get(name);
  const sample = family?.samples.find(
    (s) =>
      s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
  assert.ok(sample, name);
  return sample.value;
}

const hlsSessionsFrom = (server: TestServer, ip: string): number =>
  server.onair.sessions.list().filter((s) => s.protocol === 'hls' && s.ip === ip).length;

describe('HLS sessions from one address with made-up user agents', () => {
  let server: TestServer;
  let publisher: Publisher;
  const path = 'live/crowd';

  before(async () => {
    // Small connection limits: the HLS sessions must not count toward any of them by default.
    server = await startServer({
      limits: { maxViewers: 5, maxViewersPerStream: 5, maxViewersPerIp: 2 },
    });
    publisher = await livePublisher(server, path);
    // Playlists are held until the first segment exists: wait for it, with a UA of its own.
    await waitForPlaylist(server.httpUrl(`${path}.m3u8`), { timeoutMs: 15_000 });
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('120 playlist requests with distinct User-Agents: all served, 100 sessions tracked, the rest counted untracked', async () => {
    const before = hlsSessionsFrom(server, '127.0.0.1');
    const statuses: number[] = [];
    for (let i = 0; i < 120; i++) {
      statuses.push(await getAs(server.httpUrl(`${path}.m3u8`), `made-up/${i}`));
    }
    assert.deepEqual(new Set(statuses), new Set([200]), 'every request is served');
    assert.equal(hlsSessionsFrom(server, '127.0.0.1'), 100, 'hls.maxSessionsPerIp (100)');
    assert.ok(before <= 1);
    assert.equal(
      await metric(server, 'onair_hls_untracked_requests_total'),
      20 + before,
      'the requests beyond the cap are counted',
    );
    assert.equal(await metric(server, 'onair_viewers', { protocol: 'hls' }), 100);
  });

  test('with limits.countHlsViewers off (the default), an HTTP-FLV viewer still plays past 120 HLS ones, which are still listed as viewers', async () => {
    for (let i = 0; i < 120; i++) {
      assert.equal(await getAs(server.httpUrl(`${path}.m3u8`), `lock-out/${i}`), 200);
    }
    const hls = hlsSessionsFrom(server, '127.0.0.1');
    assert.equal(hls, 100);
    const viewer = await openFlv(server.httpUrl(`${path}.flv`));
    try {
      assert.equal(viewer.status, 200, 'maxViewers 5, maxViewersPerIp 2: HLS does not count');
      await waitFor(() => viewer.received() > 1000, 10_000, 'HTTP-FLV media bytes');
      assert.equal(await metric(server, 'onair_viewers', { protocol: 'hls' }), hls);
      assert.equal(await metric(server, 'onair_viewers', { protocol: 'http-flv' }), 1);
      const response = await fetch(server.httpUrl(`api/v1/streams/${path}`), {
        headers: { Authorization: `Bearer ${server.onair.apiToken.value}` },
      });
      const info = (await response.json()) as { viewers: { byProtocol: Record<string, number> } };
      assert.deepEqual(info.viewers.byProtocol, { 'http-flv': 1, hls });
    } finally {
      await viewer.close();
    }
    assert.equal(refusals(server, 'max-viewers'), 0);
  });
});

describe('HLS sessions with limits.countHlsViewers', () => {
  let server: TestServer;
  const publishers: Publisher[] = [];

  before(async () => {
    server = await startServer({
      limits: { countHlsViewers: true, maxViewers: 3, maxViewersPerStream: 2, maxViewersPerIp: 1 },
    });
    // No playlist is fetched before the test: that would be a viewer. The test's first request
    // of each stream is held until its first segment exists.
    for (const name of ['live/x', 'live/y']) publishers.push(await livePublisher(server, name));
  });

  after(async () => {
    await Promise.all(publishers.map((p) => p.stop()));
    await server.stop();
  });

  test('a new HLS viewer over maxViewersPerStream or maxViewers gets 503 at its first request; admitted ones reload; HTTP-FLV is refused too', async () => {
    const x = server.httpUrl('live/x.m3u8');
    const y = server.httpUrl('live/y.m3u8');
    assert.deepEqual(
      [await getAs(x, 'viewer/1'), await getAs(x, 'viewer/2'), await getAs(x, 'viewer/3')],
      [200, 200, 503],
    );
    assert.equal(refusals(server, 'max-viewers-per-stream'), 1);
    assert.deepEqual([await getAs(y, 'viewer/1'), await getAs(y, 'viewer/2')], [200, 503]);
    assert.equal(refusals(server, 'max-viewers'), 1);
    assert.equal(server.onair.sessions.viewers, 3, 'maxViewersPerIp (1) never applies to HLS');
    // The admitted viewers are at the limits, and their reloads are not refused.
    assert.deepEqual(
      [await getAs(x, 'viewer/1'), await getAs(x, 'viewer/2'), await getAs(y, 'viewer/1')],
      [200, 200, 200],
    );
    const flv = await fetch(server.httpUrl('live/y.flv'));
    assert.equal(flv.status, 503, 'the HLS viewers count toward maxViewers');
    await flv.body?.cancel();
    assert.equal(refusals(server, 'max-viewers'), 2);
  });
});
