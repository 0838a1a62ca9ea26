// End to end with a real redis-server: an origin registers its stream in the map, edges find it
// there on a first viewer and pull it; the origin killed with SIGKILL drops out within the TTL,
// a republish on another origin is found and an edge's viewer continues on it; a full node
// sends new viewers to a node with room (302).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { probe, publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { watchHttpFlv } from '../support/flv-reader.ts';
import { freePort } from '../support/ports.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';
import { StreamMap } from '../../src/cluster/stream-map.ts';
import { deriveKeys } from '../../src/access/keys.ts';
import { expectVideoAdvances, withChromiumPage } from '../support/chromium.ts';

const SECRET = 'a-cluster-secret-shared-by-every-node';
const TTL_MS = 2000;

/** Config of a node of the map that advertises where it listens. */
async function nodeConfig(redis: RedisServer, extra: Record<string, unknown> = {}) {
  const [rtmp, http] = [await freePort(), await freePort()];
  return {
    auth: { secret: SECRET },
    rtmp: { port: rtmp },
    http: { port: http },
    cluster: {
      redisUrl: redis.url,
      advertiseUrl: `rtmp://127.0.0.1:${String(rtmp)}`,
      advertiseHttpUrl: `http://127.0.0.1:${String(http)}`,
      mapTtlMs: TTL_MS,
      pullIdleMs: 500,
    },
    ...extra,
  };
}

/** A reader of the map, as another node would be. */
function mapReader(redis: RedisServer): StreamMap {
  return StreamMap.start({
    url: redis.url,
    nodeId: 'test-reader',
    relayUrl: 'rtmp://127.0.0.1:1',
    httpUrl: 'http://127.0.0.1:1',
    key: Buffer.from(deriveKeys(SECRET).cluster, 'utf8'),
    ttlMs: TTL_MS,
    timeoutMs: 500,
    load: () => ({ viewers: 0, egressMbps: 0, maxViewers: 0, maxEgressMbps: 0 }),
  });
}

const videoTags = (tags: readonly { type: number }[]): number =>
  tags.filter((tag) => tag.type === FlvTagType.Video).length;

describe('origins and edges through a Redis stream map', () => {
  let redis: RedisServer;
  let origin: ServerProcess;
  let edgeB: TestServer;
  let edgeC: TestServer;
  let reader: StreamMap;
  let publisher: Publisher;

  before(async () => {
    redis = await startRedis();
    reader = mapReader(redis);
    origin = await startServerProcess(await nodeConfig(redis));
    edgeB = await startServer(await nodeConfig(redis, { hub: { reconnectGraceMs: 30_000 } }));
    edgeC = await startServer(await nodeConfig(redis));
    publisher = publishTestPattern(origin.rtmpUrl('live/map'), { gop: 25, seconds: 300 });
    await waitFor(
      async () => (await reader.lookup('live/map')) !== null,
      20_000,
      'the origin to register its stream',
    );
  });

  after(async () => {
    await publisher.stop();
    await reader.close();
    await edgeC.stop();
    await edgeB.stop();
    await origin.stop();
    await redis.stop();
  });

  test('the map names the origin; ffprobe plays the stream on both edges', async () => {
    const entry = await reader.lookup('live/map');
    assert.equal(entry?.relayUrl, `rtmp://127.0.0.1:${String(origin.rtmpPort)}`);
    for (const edge of [edgeB, edgeC]) {
      const streams = await probe(edge.httpUrl('live/map.flv'));
      assert.deepEqual(streams.map((s) => s.codec_type).sort(), ['audio', 'video']);
    }
    const playlist = await fetch(edgeC.httpUrl('live/map.m3u8'));
    assert.equal(playlist.status, 200);
    assert.match(await playlist.text(), /#EXT-X-PART:/);
  });

  test('hls.js in Chromium plays the stream on both edges', async () => {
    for (const edge of [edgeB, edgeC]) {
      await withChromiumPage(async (page, problems) => {
        await page.goto(edge.httpUrl('watch/live/map?mode=hls'));
        const video = await expectVideoAdvances(page, { advanceS: 2, timeoutMs: 45_000 });
        assert.ok(video.width > 0);
        assert.deepEqual(problems.exceptions, []);
      });
    }
  });

  test('origin killed -9: its entry expires within the TTL; a republish on another origin reaches the edge viewer', async () => {
    const viewer = watchHttpFlv(edgeB.httpUrl('live/map.flv'));
    let origin2: TestServer | null = null;
    let publisher2: Publisher | null = null;
    try {
      await waitFor(() => videoTags(viewer.tags) > 25, 20_000, 'the edge viewer to play');
      await publisher.stop();
      const killedAt = Date.now();
      origin.child.kill('SIGKILL');
      await waitFor(
        async () => (await reader.lookup('live/map')) === null,
        TTL_MS + 5000,
        'the dead origin to drop out of the map',
      );
      const expiredMs = Date.now() - killedAt;
      assert.ok(expiredMs <= TTL_MS + 5000, `${String(expiredMs)} ms`);
      assert.equal(viewer.ended(), false, 'the viewer waits in the grace period');
      const before = videoTags(viewer.tags);
      origin2 = await startServer(await nodeConfig(redis));
      publisher2 = publishTestPattern(origin2.rtmpUrl('live/map'), { gop: 25, seconds: 300 });
      await waitFor(
        () => videoTags(viewer.tags) > before + 50,
        30_000,
        'the viewer to continue on the new origin',
      );
      assert.equal(viewer.ended(), false);
      const entry = await reader.lookup('live/map');
      assert.equal(entry?.relayUrl, `rtmp://127.0.0.1:${String(origin2.rtmpPort)}`);
    } finally {
      viewer.close();
      await publisher2?.stop();
      await origin2?.stop();
    }
  });
});

describe('admission: a full node sends new viewers to one with room', () => {
  let redis: RedisServer;
  let full: TestServer;
  let roomy: TestServer;
  let publisher: Publisher;

  before(async () => {
    redis = await startRedis();
    full = await startServer(await nodeConfig(redis, { limits: { maxViewers: 1 } }));
    roomy = await startServer(await nodeConfig(redis));
    publisher = publishTestPattern(full.rtmpUrl('live/busy'), { gop: 25, seconds: 300 });
    await waitFor(
      () => full.onair.hub.get('live/busy')?.tracks.length === 2,
      20_000,
      'the publish',
    );
  });

  after(async () => {
    await publisher.stop();
    await roomy.stop();
    await full.stop();
    await redis.stop();
  });

  test('the second HTTP-FLV viewer gets a 302 to the other node, which plays it', async () => {
    const first = watchHttpFlv(full.httpUrl('live/busy.flv?x=1'));
    try {
      await waitFor(() => videoTags(first.tags) > 5, 20_000, 'the first viewer');
      // The other node's load reaches the map with its heartbeat.
      const answer = { status: 0, location: '' };
      await waitFor(
        async () => {
          const response = await fetch(full.httpUrl('live/busy.flv?x=2'), { redirect: 'manual' });
          await response.body?.cancel();
          answer.status = response.status;
          answer.location = response.headers.get('location') ?? '';
          return response.status === 302;
        },
        10_000,
        'a 302',
      );
      assert.equal(answer.location, roomy.httpUrl('live/busy.flv?x=2'));
      assert.ok(full.logs.some((entry) => entry.msg === 'viewer sent to another node'));
      const streams = await probe(answer.location);
      assert.deepEqual(streams.map((s) => s.codec_type).sort(), ['audio', 'video']);
    } finally {
      first.close();
    }
  });
});
