// Limits hold while a decision is awaited: a viewer checked against a limit keeps its room from
// the check until it starts or is refused, so concurrent attempts cannot all pass a limit one of
// them fits, and a client that leaves during the decision gives its room back. The on_play hook
// is a real HTTP receiver that holds every answer until the test lets it go.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer, type TestServer } from '../support/server.ts';
import { livePublisher } from '../support/access-helpers.ts';
import { waitFor, type Publisher } from '../support/media-tools.ts';
import { rawTo, type RawHttp } from '../support/raw-http.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';

/** An on_play receiver that answers allow, but only when told to (held answers wait). */
class GatedHook {
  readonly held: ServerResponse[] = [];
  calls = 0;
  open = false;
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
    server.on('request', (req, res) => {
      req.resume();
      req.on('end', () => {
        this.calls++;
        if (this.open) res.writeHead(200).end('{"code":0}');
        else this.held.push(res);
      });
    });
  }

  static async start(): Promise<GatedHook> {
    const hook = new GatedHook(createServer());
    await new Promise<void>((resolve) => hook.#server.listen(0, '127.0.0.1', resolve));
    return hook;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/on_play`;
  }

  /** Answers every held call (allow) and every later one at once. */
  release(): void {
    this.open = true;
    for (const res of this.held.splice(0)) res.writeHead(200).end('{"code":0}');
  }

  async close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

let hook: GatedHook;
let server: TestServer;
let publisher: Publisher;

before(async () => {
  hook = await GatedHook.start();
  server = await startServer({
    hooks: { onPlay: hook.url, timeoutMs: 30_000 },
    limits: { maxViewersPerStream: 1 },
  });
  publisher = await livePublisher(server, 'live/one');
});

after(async () => {
  await publisher.stop();
  await server.stop();
  await hook.close();
});

/** Sends GET `path` on a raw connection. */
async function request(path: string): Promise<RawHttp> {
  const raw = await rawTo(server.httpPort);
  raw.socket.write(`GET /${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return raw;
}

const statusOf = (raw: RawHttp): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.text())?.[1] ?? 0);

describe('limits reserved before the awaited on_play', () => {
  test('five concurrent HTTP-FLV viewers for a stream limited to one: one is asked about, four refused at once', async () => {
    hook.open = false;
    const callsBefore = hook.calls;
    const viewers = await Promise.all(Array.from({ length: 5 }, () => request('live/one.flv')));
    try {
      await waitFor(
        () => viewers.filter((raw) => statusOf(raw) === 503).length === 4,
        10_000,
        'four refusals while the hook holds the first',
      );
      assert.equal(hook.calls - callsBefore, 1, 'only the one that fits was asked about');
      hook.release();
      await waitFor(() => viewers.some((raw) => statusOf(raw) === 200), 10_000, 'the one plays');
      assert.equal(viewers.filter((raw) => statusOf(raw) === 200).length, 1);
    } finally {
      for (const raw of viewers) raw.socket.destroy();
    }
    await waitFor(() => server.onair.sessions.viewersOf('live/one') === 0, 10_000, 'all gone');
  });

  test('a viewer that leaves during the decision gives its room back; the next one plays', async () => {
    hook.open = false;
    const callsBefore = hook.calls;
    const leaving = await request('live/one.flv');
    await waitFor(() => hook.calls > callsBefore, 10_000, 'the hook to be asked');
    leaving.socket.destroy();
    await waitFor(() => leaving.closed(), 5000, 'the leaver to be gone');
    hook.release(); // allowed, but nobody is there any more
    await waitFor(
      () => server.onair.sessions.viewersOf('live/one') === 0,
      10_000,
      'the leaver no longer counted',
    );
    const next = await request('live/one.flv');
    try {
      await waitFor(() => statusOf(next) !== 0, 10_000, 'an answer to the next viewer');
      assert.equal(statusOf(next), 200);
    } finally {
      next.socket.destroy();
    }
  });

  test('three concurrent RTMP players for a stream limited to one: one is asked about, two refused at once', async () => {
    hook.open = false;
    const callsBefore = hook.calls;
    const players = await Promise.all(
      Array.from({ length: 3 }, () => RtmpClient.connect(server.rtmpUrl('live/one'))),
    );
    try {
      const outcomes = players.map((player) =>
        player.play().then(
          () => 'playing',
          (error: unknown) => (error instanceof Error ? error.message : String(error)),
        ),
      );
      const settled: string[] = [];
      for (const outcome of outcomes) void outcome.then((value) => settled.push(value));
      await waitFor(() => settled.length === 2, 10_000, 'two refusals while the hook holds one');
      assert.equal(hook.calls - callsBefore, 1, 'only the one that fits was asked about');
      hook.release();
      assert.deepEqual(
        (await Promise.all(outcomes)).filter((o) => o === 'playing'),
        ['playing'],
      );
    } finally {
      for (const player of players) player.close();
    }
    await waitFor(() => server.onair.sessions.viewersOf('live/one') === 0, 10_000, 'all gone');
  });
});
