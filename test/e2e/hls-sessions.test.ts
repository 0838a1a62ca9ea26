// End to end: HLS viewer sessions against a client that makes up user agents. ffmpeg publishes;
// playlists are fetched over real HTTP with a different User-Agent each; the sessions, the
// metrics and an HTTP-FLV viewer are checked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import type { Publisher } from '../support/media-tools.ts';
import { livePublisher } from '../support/access-helpers.ts';
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
    server = await startServer({ limits: { maxViewers: 5 } });
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
});
