// End to end: `onair --workers 2`, one process group behind the same ports. A stream published
// to one worker plays from both; the API and /metrics show the group; a worker killed with
// SIGKILL is restarted and the other one's viewers never stop.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { watchHttpFlv, type FlvViewer } from '../support/flv-reader.ts';
import {
  startServerProcess,
  TEST_API_TOKEN,
  type ServerProcess,
} from '../support/server-process.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';
import { get } from 'node:http';

const videoTags = (viewer: FlvViewer): number =>
  viewer.tags.filter((tag) => tag.type === FlvTagType.Video).length;

/** The pids of the workers that logged `msg`. */
function pidsLogging(server: ServerProcess, msg: string): Set<number> {
  return new Set(
    server.logs.filter((entry) => entry.msg === msg && 'worker' in entry).map((e) => Number(e.pid)),
  );
}

/** GET on a connection of its own (so the group's balancer may pick either worker). */
function getFresh(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('onair --workers 2', () => {
  let server: ServerProcess;
  /** Unset when before() fails first: after() still stops the group. */
  let publisher: Publisher | undefined;

  before(async () => {
    server = await startServerProcess({
      workers: '2',
      cluster: { pullIdleMs: 500 },
      // One stream with an ABR ladder (one small rung): its multivariant playlist from any worker.
      streams: {
        'live/group-abr': { abr: { renditions: [{ name: '180p', height: 180, videoKbps: 150 }] } },
      },
    });
    try {
      await waitFor(
        () => pidsLogging(server, 'onair is running').size === 2,
        30_000,
        'both workers to listen',
      );
    } catch (error) {
      // What the group said, to tell a slow start from a stuck one.
      const said = server.logs
        .filter((entry) => Number(entry.level) >= 40 || 'worker' in entry)
        .slice(-30)
        .map((entry) => JSON.stringify(entry).slice(0, 300));
      throw new Error(
        `${String(error)}; running: ${[...pidsLogging(server, 'onair is running')].join(',')}\n` +
          `${said.join('\n')}\nstderr: ${server.stderr().slice(-2000)}`,
        { cause: error },
      );
    }
    publisher = publishTestPattern(server.rtmpUrl('live/group'), { gop: 25, seconds: 300 });
    await waitFor(
      () => server.logs.some((e) => e.msg === 'publish started'),
      20_000,
      'the publish',
    );
  });

  after(async () => {
    await publisher?.stop();
    const { code } = await server.stop();
    assert.equal(code, 0, 'the group stops cleanly on SIGTERM');
  });

  test('10 HTTP-FLV viewers on new connections all play; the API counts 10; SIGKILL of a worker leaves the others playing', async () => {
    const viewers = Array.from({ length: 10 }, () =>
      watchHttpFlv(server.httpUrl('live/group.flv')),
    );
    try {
      await waitFor(() => viewers.every((v) => videoTags(v) > 10), 30_000, 'video on every viewer');
      // Both workers served some of them: one pulled from the other.
      await waitFor(
        () => server.logs.some((e) => e.msg === 'pulling from an origin'),
        5000,
        'a pull between the workers',
      );
      await waitFor(
        async () => {
          const response = await fetch(server.httpUrl('api/v1/streams'), {
            headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
          });
          const body = (await response.json()) as {
            items: { path: string; viewers: { total: number } }[];
          };
          return body.items.length === 1 && body.items[0]?.viewers.total === 10;
        },
        10_000,
        'the API to list one stream with 10 viewers',
      );
      // /metrics sums the workers (whichever one answers).
      const text = await (
        await fetch(server.httpUrl('metrics'), {
          headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
        })
      ).text();
      assert.match(text, /^onair_viewers\{protocol="http-flv"\} 10$/m);
      // Kill the worker that does not hold the publisher.
      const publisherPid = Number(server.logs.find((e) => e.msg === 'publish started')?.pid);
      const running = [...pidsLogging(server, 'onair is running')];
      const victim = running.find((pid) => pid !== publisherPid);
      assert.ok(victim !== undefined);
      const before = viewers.map(videoTags);
      process.kill(victim, 'SIGKILL');
      await waitFor(
        () => server.logs.some((e) => e.msg === 'a worker died; restarting it'),
        10_000,
        'the primary to see the death',
      );
      await waitFor(
        () => pidsLogging(server, 'onair is running').size === 3,
        30_000,
        'a new worker',
      );
      const survivors = viewers.filter((v) => !v.ended());
      const cut = viewers.filter((v) => v.ended());
      assert.ok(survivors.length > 0 && cut.length > 0, `${survivors.length} survived`);
      const atDeath = viewers.map(videoTags);
      await waitFor(
        () => survivors.every((v) => videoTags(v) > atDeath[viewers.indexOf(v)]! + 25),
        10_000,
        "the surviving worker's viewers to keep playing",
      );
      assert.ok(survivors.every((v) => !v.ended()));
      assert.ok(before.every((count) => count > 10));
      // A new viewer plays whichever worker takes it (the restarted one pulls again).
      const late = [
        watchHttpFlv(server.httpUrl('live/group.flv')),
        watchHttpFlv(server.httpUrl('live/group.flv')),
      ];
      try {
        await waitFor(() => late.every((v) => videoTags(v) > 5), 20_000, 'late viewers');
      } finally {
        for (const v of late) v.close();
      }
    } finally {
      for (const viewer of viewers) viewer.close();
    }
  });

  test('LL-HLS on new connections: one playlist whichever worker answers, every URI resolves', async () => {
    const playlists: string[] = [];
    for (let i = 0; i < 8; i++) {
      const { status, body } = await getFresh(server.httpUrl('live/group.m3u8'));
      assert.equal(status, 200);
      playlists.push(body.toString('utf8'));
    }
    // The media file names carry the segmenter's id: one segmenter for the whole group.
    const prefixes = new Set(playlists.map((text) => /URI="[^"]*?([0-9a-f]{8})-/.exec(text)?.[1]));
    assert.equal(prefixes.size, 1, [...prefixes].join(', '));
    const last = playlists.at(-1) ?? '';
    const uris = [...last.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1] ?? '');
    assert.ok(uris.length > 3);
    for (const uri of uris.slice(-6)) {
      const { status, body } = await getFresh(new URL(uri, server.httpUrl('live/group.m3u8')).href);
      assert.equal(status, 200, uri);
      assert.ok(body.length > 0);
    }
  });

  test('a stream with an ABR ladder: the same multivariant playlist whichever worker answers', async () => {
    const source = publishTestPattern(server.rtmpUrl('live/group-abr'), { gop: 25, seconds: 120 });
    try {
      const answers: string[] = [];
      await waitFor(
        async () => {
          const { status, body } = await getFresh(server.httpUrl('live/group-abr.m3u8'));
          if (status === 200 && body.includes('#EXT-X-STREAM-INF')) answers.push(body.toString());
          return answers.length >= 6;
        },
        60_000,
        'six multivariant answers',
      );
      for (const text of answers) {
        assert.deepEqual(
          [...text.matchAll(/^([^#\s]\S*\.m3u8\S*)$/gm)].map((m) => m[1]),
          ['group-abr.m3u8?variant=video', 'group-abr_180p.m3u8?variant=video'],
        );
        assert.match(text, /#EXT-X-MEDIA:TYPE=AUDIO,[^\n]*URI="group-abr\.m3u8\?variant=audio"/);
      }
      // The rendition's playlist and a part of it, on new connections.
      const rendition = server.httpUrl('live/group-abr_180p.m3u8');
      const { status, body } = await getFresh(rendition);
      assert.equal(status, 200);
      const part = /#EXT-X-PART:[^\n]*URI="([^"]+)"/.exec(body.toString())?.[1];
      assert.ok(part, body.toString());
      assert.equal((await getFresh(new URL(part, rendition).href)).status, 200);
    } finally {
      await source.stop();
    }
  });
});
