// End to end: edges pull a stream from an origin (onair, and nginx-rtmp) on their first viewer,
// once however many viewers, play it over HTTP-FLV and LL-HLS, and release it after the last.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { startServer, type TestServer } from '../support/server.ts';
import {
  assertVideo,
  probe,
  publishTestPattern,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import { watchHttpFlv, type FlvViewer } from '../support/flv-reader.ts';
import { startNginxRtmp, type Nginx } from '../support/nginx.ts';
import { freePort } from '../support/ports.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';

interface ApiSession {
  readonly role: string;
  readonly protocol: string;
  readonly stream: string;
  readonly userAgent: string | null;
}

/** The sessions an onair's admin API lists. */
async function sessionsOf(server: TestServer): Promise<ApiSession[]> {
  const response = await fetch(server.httpUrl('api/v1/sessions'), {
    headers: { authorization: `Bearer ${server.onair.apiToken.value}` },
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { items: ApiSession[] }).items;
}

const relayViewers = (sessions: readonly ApiSession[], path: string): ApiSession[] =>
  sessions.filter(
    (s) => s.role === 'viewer' && s.stream === path && s.userAgent?.startsWith('onair-relay/'),
  );

const hasVideo = (viewer: FlvViewer): boolean =>
  viewer.tags.some((tag) => tag.type === FlvTagType.Video);

const expectTestPattern = (streams: Awaited<ReturnType<typeof probe>>): void => {
  assertVideo(streams, 'h264', [320, 240], 'the edge');
  assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac');
};

describe('an edge pulling from an onair origin', () => {
  let origin: TestServer;
  let edge: TestServer;
  let publisher: Publisher;

  before(async () => {
    // One auth.secret for both: the edge's pull proves it is a node of the cluster.
    const auth = { secret: 'a-secret-every-node-shares-0123' };
    origin = await startServer({ auth });
    edge = await startServer({
      auth,
      cluster: { origins: origin.rtmpUrl('').replace(/\/$/, ''), pullIdleMs: 300 },
    });
    publisher = publishTestPattern(origin.rtmpUrl('live/main'), { size: '320x240', gop: 25 });
    await waitFor(
      () => origin.onair.hub.get('live/main')?.tracks.length === 2,
      15_000,
      'the publisher to announce both tracks',
    );
  });

  after(async () => {
    await publisher.stop();
    await edge.stop();
    await origin.stop();
  });

  test('ffprobe reads the stream over HTTP-FLV on the edge, and the pull is released after it', async () => {
    expectTestPattern(await probe(edge.httpUrl('live/main.flv')));
    const pulled = edge.onair.hub.get('live/main');
    assert.equal(pulled?.publisher?.info.protocol, 'relay');
    await waitFor(() => edge.onair.hub.get('live/main') === undefined, 10_000, 'the release');
    await waitFor(
      () => origin.onair.sessions.list().every((s) => s.role !== 'viewer'),
      10_000,
      "the origin to see the edge's pull leave",
    );
  });

  test('50 HTTP-FLV viewers on the edge make one pull on the origin', async () => {
    const viewers = Array.from({ length: 50 }, () => watchHttpFlv(edge.httpUrl('live/main.flv')));
    try {
      await waitFor(() => viewers.every(hasVideo), 20_000, 'every viewer to get video');
      assert.ok(viewers.every((v) => v.status() === 200));
      const pulls = relayViewers(await sessionsOf(origin), 'live/main');
      assert.equal(pulls.length, 1, 'one pull however many viewers');
      assert.equal(pulls[0]?.protocol, 'relay');
      assert.equal(edge.onair.cluster.pulls().length, 1);
      assert.equal(edge.onair.cluster.pulls()[0]?.live, true);
    } finally {
      for (const viewer of viewers) viewer.close();
    }
    await waitFor(
      async () => relayViewers(await sessionsOf(origin), 'live/main').length === 0,
      10_000,
      'the pull to be released after the last viewer',
    );
    assert.deepEqual(edge.onair.cluster.pulls(), []);
  });

  test('an LL-HLS playlist on the edge waits for the pull and lists parts', async () => {
    const response = await fetch(edge.httpUrl('live/main.m3u8'));
    assert.equal(response.status, 200);
    const playlist = await response.text();
    assert.match(playlist, /#EXT-X-PART:/);
    assert.match(playlist, /#EXT-X-PRELOAD-HINT:/);
    const part = /#EXT-X-PART:[^\n]*URI="([^"]+)"/.exec(playlist)?.[1];
    assert.ok(part !== undefined);
    const media = await fetch(new URL(part, edge.httpUrl('live/main.m3u8')));
    assert.equal(media.status, 200);
    assert.ok((await media.arrayBuffer()).byteLength > 0);
  });

  test('a stream nobody publishes: the edge tries, the viewer gets 404, nothing is left behind', async () => {
    const response = await fetch(edge.httpUrl('live/nobody.m3u8'));
    assert.equal(response.status, 404);
    await response.arrayBuffer();
    const ghost = (): unknown[] =>
      edge.onair.cluster.pulls().filter((pull) => pull.path === 'live/nobody');
    await waitFor(() => ghost().length === 0, 15_000, 'the lookup to stop');
    // The origin held the relay's play for its wait, and never pulled in turn (no loop).
    assert.equal(origin.onair.cluster.pulling, false);
  });
});

describe('two nodes naming each other as origins', () => {
  let a: TestServer;
  let b: TestServer;

  before(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    a = await startServer({
      rtmp: { port: portA },
      hub: { waitForPublisherMs: 1500 },
      cluster: { origins: `rtmp://127.0.0.1:${String(portB)}` },
    });
    b = await startServer({
      rtmp: { port: portB },
      hub: { waitForPublisherMs: 1500 },
      cluster: { origins: `rtmp://127.0.0.1:${String(portA)}` },
    });
  });

  after(async () => {
    await b.stop();
    await a.stop();
  });

  test('a viewer of a stream neither has: one pull, never pulled back (no loop)', async () => {
    const viewer = watchHttpFlv(b.httpUrl('live/ghost.flv'));
    try {
      await waitFor(() => b.onair.cluster.pulls().length === 1, 5000, 'B to pull from A');
      await waitFor(() => a.onair.hub.get('live/ghost') !== undefined, 5000, "A to hold B's play");
      assert.deepEqual(a.onair.cluster.pulls(), [], 'A does not pull for a relay');
      await waitFor(() => viewer.ended(), 10_000, 'the viewer to be told there is no stream');
    } finally {
      viewer.close();
    }
    await waitFor(() => b.onair.cluster.pulls().length === 0, 10_000, "B's lookups to stop");
  });
});

describe('an onair edge pulling from nginx-rtmp', () => {
  let nginx: Nginx;
  let edge: TestServer;
  let publisher: Publisher;

  before(async () => {
    nginx = await startNginxRtmp(await freePort());
    edge = await startServer({
      cluster: { origins: `rtmp://127.0.0.1:${String(nginx.port)}` },
    });
    publisher = publishTestPattern(`rtmp://127.0.0.1:${String(nginx.port)}/live/peer`, {
      size: '320x240',
      gop: 25,
    });
  });

  after(async () => {
    await publisher.stop();
    await edge.stop();
    await nginx.stop();
  });

  test('ffprobe reads H.264 + AAC over HTTP-FLV on the edge', async () => {
    // The publisher may still be connecting: the edge retries its pull with backoff meanwhile.
    expectTestPattern(await probe(edge.httpUrl('live/peer.flv')));
    assert.equal(edge.onair.cluster.pulls()[0]?.live, true);
  });
});

describe('an origin that answers a pull with garbage', () => {
  let garbage: Server;
  let garbagePort = 0;
  let edge: TestServer;
  let publisher: Publisher;

  before(async () => {
    garbage = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.end(randomBytes(64 * 1024)); // not an RTMP handshake
    });
    await new Promise<void>((resolve) => garbage.listen(0, '127.0.0.1', resolve));
    garbagePort = (garbage.address() as { port: number }).port;
    edge = await startServer({
      hub: { waitForPublisherMs: 1500 },
      cluster: { origins: `rtmp://127.0.0.1:${String(garbagePort)}` },
    });
    publisher = publishTestPattern(edge.rtmpUrl('live/local'), { gop: 25, seconds: 120 });
    await waitFor(() => edge.onair.hub.get('live/local')?.tracks.length === 2, 15_000, 'publish');
  });

  after(async () => {
    await publisher.stop();
    await edge.stop();
    garbage.close();
  });

  test("the pull closes with a reason; the edge's own stream and its viewers go on", async () => {
    const local = watchHttpFlv(edge.httpUrl('live/local.flv'));
    const remote = watchHttpFlv(edge.httpUrl('live/remote.flv'));
    try {
      await waitFor(() => hasVideo(local), 15_000, 'the local stream');
      await waitFor(() => remote.ended(), 15_000, 'the remote viewer to be told no');
      const ends = edge.logs.filter((e) => e.msg === 'pull ended' && e.stream === 'live/remote');
      assert.ok(ends.length > 0);
      assert.ok(ends.every((e) => e.code === 'connect-failed' || e.code === 'origin-closed'));
      const before = local.tags.length;
      await waitFor(() => local.tags.length > before + 25, 10_000, 'the local viewer to go on');
      assert.equal(local.ended(), false);
    } finally {
      local.close();
      remote.close();
    }
  });
});
