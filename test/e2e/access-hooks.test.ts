// End to end: the on_publish / on_play / on_unpublish / on_stop webhooks and the limits, with real
// clients (ffmpeg publishing, fetch and ffprobe playing) and a real hook receiver that checks
// every request's X-Onair-Signature over the raw body.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import {
  livePublisher,
  openFlv,
  publishOnce,
  refusals,
  type FlvViewer,
} from '../support/access-helpers.ts';
import { publishTestPattern, run, waitFor, type Publisher } from '../support/media-tools.ts';
import { tempDir } from '../support/temp-dir.ts';
import { deriveKey } from '../../src/access/keys.ts';
import { signToken } from '../../src/access/tokens.ts';
import { SIGNATURE_HEADER, verifyWebhookSignature } from '../../src/access/webhook-signature.ts';

const SECRET = 'test-secret-0123456789abcdef0123';
const HOOK_SECRET = 'hook-secret-0123456789abcdef0123';
const ALLOW = { status: 200, body: '{"code":0}' } as const;
const nowS = (): number => Math.floor(Date.now() / 1000);

/** One request the hook receiver got. */
interface HookCall {
  /** The receiver's URL path, which names the hook (`/on_play`). */
  readonly hook: string;
  readonly body: Record<string, unknown>;
  /** Whether X-Onair-Signature verified over the raw body, with the receiver's key. */
  readonly signed: boolean;
  /** The raw body and the signature header, for checks with other keys. */
  readonly raw: string;
  readonly signature: string;
}

/** How the receiver answers one call: now or after a delay, or never. */
type Answer = { status: number; body?: string; delayMs?: number } | 'never';

/** A node:http webhook receiver on 127.0.0.1 that records and answers every hook request. */
class HookReceiver {
  readonly calls: HookCall[] = [];
  /** The key signatures are verified with (hooks.secret, or what `onair token hooks-key` says). */
  key = HOOK_SECRET;
  /** Decides each answer; tests replace it. */
  answer: (call: HookCall) => Answer = () => ALLOW;
  readonly #server: Server;
  readonly #timers = new Set<NodeJS.Timeout>();

  private constructor(server: Server) {
    this.#server = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#onRequest(req, res);
    });
  }

  /** Starts a receiver on an ephemeral port. */
  static async start(): Promise<HookReceiver> {
    const receiver = new HookReceiver(createServer());
    await new Promise<void>((resolve) => receiver.#server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  /** The URL of one hook (`on_play`). */
  url(hook: string): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/${hook}`;
  }

  /** Calls of one hook, optionally of one stream. */
  of(hook: string, stream?: string): HookCall[] {
    return this.calls.filter(
      (call) => call.hook === `/${hook}` && (stream === undefined || call.body.stream === stream),
    );
  }

  /** Calls whose signature did not verify (must stay empty). */
  unsigned(): HookCall[] {
    return this.calls.filter((call) => !call.signed);
  }

  /** Drops held and delayed answers and stops listening. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve();
      });
    });
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
    });
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = req.headers[SIGNATURE_HEADER.toLowerCase()];
      const signature = typeof header === 'string' ? header : '';
      const signed = verifyWebhookSignature(this.key, signature, raw, nowS());
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // Recorded with an empty body; the test sees it as a call of no stream.
      }
      const hook = (req.url ?? '').split('?')[0] ?? '';
      const call: HookCall = { hook, body, signed, raw, signature };
      this.calls.push(call);
      if (!signed) {
        res.writeHead(401).end();
        return;
      }
      const answer = this.answer(call);
      if (answer === 'never') return; // held until onair gives up (or the receiver closes)
      const send = (): void => {
        res.writeHead(answer.status, { 'Content-Type': 'application/json' }).end(answer.body ?? '');
      };
      if (answer.delayMs === undefined) {
        send();
        return;
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        send();
      }, answer.delayMs);
      this.#timers.add(timer);
    });
  }
}

/** The hooks section pointing every hook at `receiver`. */
function hooksFor(receiver: HookReceiver, extra: Record<string, unknown> = {}) {
  return {
    onPublish: receiver.url('on_publish'),
    onPlay: receiver.url('on_play'),
    onUnpublish: receiver.url('on_unpublish'),
    onStop: receiver.url('on_stop'),
    secret: HOOK_SECRET,
    ...extra,
  };
}

describe('on_publish and on_play decide; on_unpublish and on_stop tell', () => {
  let receiver: HookReceiver;
  let server: TestServer;
  before(async () => {
    receiver = await HookReceiver.start();
    server = await startServer({
      auth: { secret: SECRET },
      hooks: hooksFor(receiver, { timeoutMs: 10_000 }),
      streams: { 'live/hls': { private: true } },
    });
  });
  afterEach(() => {
    receiver.answer = () => ALLOW;
    assert.deepEqual(receiver.unsigned(), [], 'every hook request is signed with hooks.secret');
  });
  after(async () => {
    await server.stop();
    await receiver.close();
  });

  test('on_publish allows: ffmpeg publishes; the hook saw the session, its key masked', async () => {
    // live/x has no key of its own: the key goes to the hook (masked), which decides.
    const publisher = publishTestPattern(server.rtmpUrl('live/x?key=abc-key-1234'));
    try {
      await waitFor(() => server.onair.hub.get('live/x')?.tracks.length === 2, 15_000, 'live/x');
      assert.notEqual(server.onair.hub.get('live/x')?.publisher ?? null, null);
      const [call, ...more] = receiver.of('on_publish', 'live/x');
      assert.equal(more.length, 0);
      assert.ok(call);
      assert.equal(call.body.action, 'on_publish');
      assert.equal(call.body.stream, 'live/x');
      assert.equal(call.body.app, 'live');
      assert.equal(call.body.name, 'x');
      assert.equal(call.body.protocol, 'rtmp');
      assert.equal(call.body.ip, '127.0.0.1');
      assert.equal(call.body.param, '?key=***');
      assert.match(String(call.body.id), /^[0-9a-f]{12}$/);
      assert.ok(!JSON.stringify(call.body).includes('abc-key-1234'), 'the key never reaches it');
    } finally {
      await publisher.stop();
    }
  });

  test('on_publish denies ({"code":1} or 403): ffmpeg fails, no publisher, logged hook-denied', async () => {
    const answers: [string, Answer][] = [
      ['live/deny-code', { status: 200, body: '{"code":1,"reason":"not on the list"}' }],
      ['live/deny-403', { status: 403, body: '' }],
    ];
    for (const [path, answer] of answers) {
      const before = refusals(server, 'hook-denied');
      receiver.answer = (call) => (call.body.stream === path ? answer : ALLOW);
      const result = await publishOnce(server.rtmpUrl(path));
      assert.notEqual(result.code, 0, `${path}: ffmpeg must fail`);
      assert.equal(server.onair.hub.get(path)?.publisher ?? null, null, path);
      assert.equal(refusals(server, 'hook-denied'), before + 1, path);
      assert.equal(receiver.of('on_publish', path).length, 1, path);
    }
  });

  test('on_play denies (403) and allows (200); on_stop and on_unpublish follow', async () => {
    const path = 'live/play';
    const publisher = await livePublisher(server, path);
    let stopped = false;
    try {
      receiver.answer = (call) =>
        call.hook === '/on_play' && call.body.param === '?who=mallory'
          ? { status: 200, body: '{"code":1}' }
          : ALLOW;
      const denied = await fetch(server.httpUrl(`${path}.flv?who=mallory`));
      assert.equal(denied.status, 403);
      await denied.body?.cancel();
      assert.ok(refusals(server, 'hook-denied') >= 1);

      const viewer = await openFlv(server.httpUrl(`${path}.flv?token=abc&who=alice`));
      try {
        assert.equal(viewer.status, 200);
        await waitFor(() => viewer.received() > 1000, 10_000, 'media bytes');
      } finally {
        await viewer.close();
      }
      const plays = receiver.of('on_play', path);
      assert.equal(plays.length, 2);
      const allowed = plays[1];
      assert.ok(allowed);
      assert.equal(allowed.body.protocol, 'http-flv');
      assert.equal(allowed.body.ip, '127.0.0.1');
      assert.equal(allowed.body.app, 'live');
      assert.equal(allowed.body.name, 'play');
      assert.equal(allowed.body.param, '?token=***&who=alice');
      assert.match(String(allowed.body.id), /^[0-9a-f]{12}$/);

      await waitFor(() => receiver.of('on_stop', path).length === 1, 10_000, 'on_stop');
      const stop = receiver.of('on_stop', path)[0]?.body;
      assert.ok(stop);
      assert.equal(stop.protocol, 'http-flv');
      assert.equal(stop.id, allowed.body.id, 'on_play and on_stop of one viewer share its id');
      assert.ok(Number.isInteger(stop.durationS), `durationS: ${String(stop.durationS)}`);
      assert.ok(Number(stop.bytes) > 1000, `bytes sent: ${String(stop.bytes)}`);
      assert.equal(typeof stop.reason, 'string');
      assert.notEqual(stop.reason, '');

      await publisher.stop();
      stopped = true;
      await waitFor(() => receiver.of('on_unpublish', path).length === 1, 10_000, 'on_unpublish');
      const unpublish = receiver.of('on_unpublish', path)[0]?.body;
      assert.ok(unpublish);
      assert.equal(unpublish.protocol, 'rtmp');
      assert.match(String(unpublish.id), /^[0-9a-f]{12}$/);
      const published = receiver.of('on_publish', path)[0]?.body;
      assert.equal(unpublish.id, published?.id, 'on_publish and on_unpublish share the id');
      assert.ok(Number.isInteger(unpublish.durationS), `durationS: ${String(unpublish.durationS)}`);
      assert.ok(Number(unpublish.durationS) >= 0);
      assert.ok(Number(unpublish.bytes) > 1000, `bytes received: ${String(unpublish.bytes)}`);
      assert.equal(typeof unpublish.reason, 'string');
      assert.notEqual(unpublish.reason, '');
    } finally {
      if (!stopped) await publisher.stop();
    }
  });

  test('an RTMP viewer that leaves gets exactly one on_stop, with its on_play id and the real reason', async () => {
    const path = 'live/rtmp-stop';
    const publisher = await livePublisher(server, path);
    try {
      const played = await run('ffmpeg', [
        '-v',
        'error',
        '-rw_timeout',
        '10000000',
        '-i',
        server.rtmpUrl(path),
        '-t',
        '1',
        '-f',
        'null',
        '-',
      ]);
      assert.equal(played.code, 0, played.stderr);
      await waitFor(() => receiver.of('on_stop', path).length >= 1, 10_000, 'on_stop');
      await new Promise((resolve) => setTimeout(resolve, 500)); // a duplicate would come now
      const stops = receiver.of('on_stop', path);
      assert.equal(stops.length, 1, JSON.stringify(stops.map((c) => c.body)));
      const play = receiver.of('on_play', path)[0]?.body;
      const [stop] = stops;
      assert.ok(stop);
      assert.equal(stop.body.id, play?.id);
      assert.equal(stop.body.protocol, 'rtmp');
      assert.notEqual(stop.body.reason, 'kicked');
    } finally {
      await publisher.stop();
    }
  });

  test('a slow on_play for one stream does not hold up a viewer of another', async () => {
    const slowPath = 'live/slow';
    const fastPath = 'live/fast';
    const publishers: Publisher[] = [];
    const viewers: FlvViewer[] = [];
    const order: string[] = [];
    let slow: Promise<FlvViewer> | undefined;
    receiver.answer = (call) =>
      call.hook === '/on_play' && call.body.stream === slowPath
        ? { ...ALLOW, delayMs: 3000 }
        : ALLOW;
    try {
      publishers.push(await livePublisher(server, slowPath));
      publishers.push(await livePublisher(server, fastPath));
      slow = openFlv(server.httpUrl(`${slowPath}.flv`)).then((viewer) => {
        order.push('slow decided');
        viewers.push(viewer);
        return viewer;
      });
      await waitFor(() => receiver.of('on_play', slowPath).length === 1, 5000, 'slow on_play');
      const fast = await openFlv(server.httpUrl(`${fastPath}.flv`));
      viewers.push(fast);
      assert.equal(fast.status, 200);
      await waitFor(() => fast.received() > 0, 5000, 'first bytes of the fast stream');
      order.push('fast first bytes');
      const slowViewer = await slow;
      assert.equal(slowViewer.status, 200, 'the slow hook allowed in the end');
      assert.deepEqual(order, ['fast first bytes', 'slow decided']);
    } finally {
      await slow?.catch(() => undefined); // settles within the 3 s delay (or the fetch timeout)
      for (const viewer of viewers) await viewer.close();
      for (const publisher of publishers) await publisher.stop();
    }
  });

  test('HLS: one on_play for a player reloading its playlist with the same token', async () => {
    const path = 'live/hls';
    const publisher = await livePublisher(server, path);
    try {
      const token = signToken(deriveKey(SECRET, 'token'), {
        purpose: 'play',
        path,
        expiresAtS: nowS() + 600,
      });
      const url = server.httpUrl(`${path}.m3u8?token=${encodeURIComponent(token)}`);
      for (let i = 0; i < 5; i++) {
        const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
        assert.equal(response.status, 200, `reload ${i}`);
        assert.match(await response.text(), /^#EXTM3U/);
      }
      const plays = receiver.of('on_play', path);
      assert.equal(plays.length, 1, 'the hook is asked once, not per reload');
      const play = plays[0];
      assert.ok(play);
      assert.equal(play.body.protocol, 'hls');
      assert.equal(play.body.param, '?token=***');
    } finally {
      await publisher.stop();
    }
  });
});

describe('hooks.secret empty: hooks are signed with a key of their own', () => {
  test('a receiver verifies with what `onair token hooks-key` prints, and cannot mint tokens with it', async (t) => {
    const receiver = await HookReceiver.start();
    // No auth.secret either: the server generates one in its data directory, and the CLI, given
    // that directory, derives the same keys from it.
    const server = await startServer({
      hooks: { onPublish: receiver.url('on_publish'), onPlay: receiver.url('on_play') },
      streams: {
        'live/private': { private: true },
        'live/keyed': { publishKey: 'key-0123456789' },
      },
    });
    const publishers: Publisher[] = [];
    try {
      const { dataDir } = server.onair.config;
      const configFile = join(tempDir(t, 'onair-hooks-key-'), 'onair.yaml');
      writeFileSync(configFile, `dataDir: ${dataDir}\n`);
      const cli = (verb: string) =>
        run(process.execPath, [
          '--import',
          'tsx',
          'src/app/main.ts',
          'token',
          verb,
          '--config',
          configFile,
        ]);
      const printed = await cli('hooks-key');
      assert.equal(printed.code, 0, printed.stderr);
      const hooksKey = printed.stdout.trim();
      assert.match(hooksKey, /^[A-Za-z0-9_-]{43}$/);
      assert.match(printed.stderr, /derived/);
      const authSecret = readFileSync(join(dataDir, 'auth-secret'), 'utf8').trim();
      receiver.key = hooksKey;

      publishers.push(await livePublisher(server, 'live/private'));
      const [call] = receiver.of('on_publish', 'live/private');
      assert.ok(call);
      assert.equal(call.signed, true, 'verified with the printed key');
      assert.equal(verifyWebhookSignature(authSecret, call.signature, call.raw, nowS()), false);

      // What a receiver could try with its key: play a private stream, publish to a keyed one.
      const expiresAtS = nowS() + 600;
      const forgedPlay = signToken(hooksKey, { purpose: 'play', path: 'live/private', expiresAtS });
      const played = await fetch(
        server.httpUrl(`live/private.flv?token=${encodeURIComponent(forgedPlay)}`),
      );
      await played.body?.cancel();
      assert.equal(played.status, 401);
      assert.ok(refusals(server, 'token-signature') >= 1);
      const forgedPublish = signToken(hooksKey, {
        purpose: 'publish',
        path: 'live/keyed',
        expiresAtS,
      });
      const published = await publishOnce(
        server.rtmpUrl(`live/keyed?token=${encodeURIComponent(forgedPublish)}`),
      );
      assert.notEqual(published.code, 0, 'ffmpeg must fail');
      assert.equal(server.onair.hub.get('live/keyed')?.publisher ?? null, null);
      assert.ok(refusals(server, 'bad-key') >= 1);

      // The token key (`onair token token-key`, what a backend mints with) does both.
      const tokenKey = (await cli('token-key')).stdout.trim();
      assert.notEqual(tokenKey, hooksKey);
      const play = signToken(tokenKey, { purpose: 'play', path: 'live/private', expiresAtS });
      const allowed = await fetch(
        server.httpUrl(`live/private.flv?token=${encodeURIComponent(play)}`),
      );
      await allowed.body?.cancel();
      assert.equal(allowed.status, 200);
      const publish = signToken(tokenKey, { purpose: 'publish', path: 'live/keyed', expiresAtS });
      publishers.push(
        await livePublisher(
          server,
          'live/keyed',
          server.rtmpUrl(`live/keyed?token=${encodeURIComponent(publish)}`),
        ),
      );
      assert.deepEqual(receiver.unsigned(), []);
    } finally {
      for (const publisher of publishers) await publisher.stop();
      await server.stop();
      await receiver.close();
    }
  });
});

describe('stopping the server', () => {
  test('delivers the on_unpublish and on_stop of the sessions it ends, retrying a failed one', async () => {
    const receiver = await HookReceiver.start();
    let unpublishes = 0;
    receiver.answer = (call) =>
      call.hook === '/on_unpublish' && unpublishes++ === 0 ? { status: 500 } : ALLOW;
    const server = await startServer({ hooks: hooksFor(receiver) });
    let stopped = false;
    const publisher = await livePublisher(server, 'live/last');
    try {
      const viewer = await openFlv(server.httpUrl('live/last.flv'));
      await waitFor(() => viewer.received() > 0, 10_000, 'media bytes');
      await server.stop();
      stopped = true;
      await viewer.ended;
      // Sent by the shutdown, answered before stop() resolved: no waiting here.
      assert.equal(receiver.of('on_unpublish', 'live/last').length, 2, 'the failed one retried');
      assert.equal(receiver.of('on_stop', 'live/last').length, 1);
      assert.deepEqual(receiver.unsigned(), []);
    } finally {
      await publisher.stop();
      if (!stopped) await server.stop();
      await receiver.close();
    }
  });
});

describe('an on_play hook that never answers (hooks.timeoutMs 500)', () => {
  let receiver: HookReceiver;
  before(async () => {
    receiver = await HookReceiver.start();
    receiver.answer = (call) => (call.hook === '/on_play' ? 'never' : ALLOW);
  });
  after(async () => {
    assert.deepEqual(receiver.unsigned(), []);
    await receiver.close();
  });

  for (const failOpen of [false, true]) {
    test(`failOpen ${String(failOpen)}: the viewer is ${failOpen ? 'allowed' : 'refused (403)'}`, async () => {
      const server = await startServer({
        hooks: { onPlay: receiver.url('on_play'), secret: HOOK_SECRET, timeoutMs: 500, failOpen },
      });
      const path = `live/timeout-${String(failOpen)}`;
      let publisher: Publisher | undefined;
      try {
        publisher = await livePublisher(server, path);
        const viewer = await openFlv(server.httpUrl(`${path}.flv`));
        try {
          assert.equal(viewer.status, failOpen ? 200 : 403);
          if (failOpen) await waitFor(() => viewer.received() > 0, 5000, 'media bytes');
        } finally {
          await viewer.close();
        }
        assert.equal(receiver.of('on_play', path).length, 1);
        if (!failOpen) assert.ok(refusals(server, 'hook-denied') >= 1);
      } finally {
        await publisher?.stop();
        await server.stop();
      }
    });
  }
});

describe('limits', () => {
  test('maxViewersPerStream 1: a second HTTP-FLV viewer gets 503 while the first plays', async () => {
    const server = await startServer({ limits: { maxViewersPerStream: 1 } });
    const path = 'live/one-viewer';
    let publisher: Publisher | undefined;
    try {
      publisher = await livePublisher(server, path);
      const first = await openFlv(server.httpUrl(`${path}.flv`));
      try {
        assert.equal(first.status, 200);
        await waitFor(() => first.received() > 0, 5000, 'first viewer bytes');
        const second = await fetch(server.httpUrl(`${path}.flv`));
        assert.equal(second.status, 503);
        await second.body?.cancel();
        assert.ok(refusals(server, 'max-viewers-per-stream') >= 1);
        const before = first.received();
        await waitFor(() => first.received() > before, 5000, 'the first viewer still playing');
      } finally {
        await first.close();
      }
    } finally {
      await publisher?.stop();
      await server.stop();
    }
  });

  test("playDeny '127.0.0.1': a viewer from this machine gets 403", async () => {
    const server = await startServer({ limits: { playDeny: '127.0.0.1' } });
    try {
      const response = await fetch(server.httpUrl('live/any.flv'));
      assert.equal(response.status, 403);
      await response.body?.cancel();
      assert.ok(refusals(server, 'ip-denied') >= 1);
    } finally {
      await server.stop();
    }
  });

  test('maxPublishers 1: a second publisher on another path fails, logged max-publishers', async () => {
    const server = await startServer({ limits: { maxPublishers: 1 } });
    let publisher: Publisher | undefined;
    try {
      publisher = await livePublisher(server, 'live/first');
      const second = await publishOnce(server.rtmpUrl('live/second'));
      assert.notEqual(second.code, 0, 'ffmpeg must fail');
      assert.equal(server.onair.hub.get('live/second')?.publisher ?? null, null);
      assert.ok(refusals(server, 'max-publishers') >= 1);
      assert.notEqual(server.onair.hub.get('live/first')?.publisher ?? null, null);
    } finally {
      await publisher?.stop();
      await server.stop();
    }
  });
});
