// The stream map against a real redis-server (test/support/redis.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { createClient } from 'redis';
import { startRedis, type RedisServer } from '../../test/support/redis.ts';
import {
  MAX_STREAM_VALUE_BYTES,
  StreamMap,
  type NodeLoadSample,
  type StreamMapOptions,
} from './stream-map.ts';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const TTL_MS = 1500;
const TIMEOUT_MS = 300;
/** Room for a loaded machine (test files run in parallel) on top of a deadline. */
const SLACK_MS = 400;
/** Each test's own deadline: a lookup that hangs fails its test instead of the run. */
const TEST = { timeout: 30_000 };

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};
process.on('unhandledRejection', onUnhandled);

let prefixes = 0;
/** A key prefix of its own per test, so tests sharing a Redis never see each other's keys. */
function freshPrefix(): string {
  return `t${++prefixes}:`;
}

interface Started {
  readonly map: StreamMap;
  readonly errors: { error: unknown; what: string }[];
}

const maps: StreamMap[] = [];
/** Every redis-server started here, stopped at the end even if a test timed out. */
const servers: RedisServer[] = [];

async function redisServer(): Promise<RedisServer> {
  const server = await startRedis();
  servers.push(server);
  return server;
}

function startMap(
  url: string,
  prefix: string,
  nodeId: string,
  overrides: Partial<StreamMapOptions> = {},
): Started {
  const errors: { error: unknown; what: string }[] = [];
  const load: NodeLoadSample = { viewers: 0, egressMbps: 0, maxViewers: 0, maxEgressMbps: 0 };
  const map = StreamMap.start({
    url,
    prefix,
    nodeId,
    relayUrl: `rtmp://${nodeId}.example:1935`,
    httpUrl: `http://${nodeId}.example:8080`,
    key: KEY,
    ttlMs: TTL_MS,
    timeoutMs: TIMEOUT_MS,
    load: () => load,
    onError: (error, what) => errors.push({ error, what }),
    ...overrides,
  });
  maps.push(map);
  return { map, errors };
}

/** Polls `read` every 25 ms until `ok` holds of its result; throws after `timeoutMs`. */
async function eventually<T>(
  read: () => Promise<T> | T,
  ok: (value: T) => boolean,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out (${timeoutMs} ms) waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** How long `promise` takes to settle, and its value. */
async function timed<T>(promise: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await promise;
  return { value, ms: performance.now() - started };
}

/** An entry signed as StreamMap signs them (the format the file comment describes). */
function signedEntry(kind: 'stream' | 'node', body: object, key = KEY): string {
  const text = JSON.stringify(body);
  const sig = createHmac('sha256', key)
    .update(`onair-stream-map/1\n${kind}\n${text}`)
    .digest('base64url');
  return `{"v":1,"body":${text},"sig":"${sig}"}`;
}

function streamBody(path: string, overrides: Record<string, unknown> = {}): object {
  return {
    path,
    nodeId: 'n9',
    relayUrl: 'rtmp://n9.example:1935',
    httpUrl: 'http://n9.example:8080',
    updatedMs: Date.now(),
    ...overrides,
  };
}

after(async () => {
  await Promise.all(maps.map((map) => map.close()));
  await Promise.all(servers.map((server) => server.stop()));
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
});

describe('stream map on a running Redis', () => {
  let redis: RedisServer;
  let raw: ReturnType<typeof createClient>;

  before(async () => {
    redis = await redisServer();
    raw = createClient({ url: redis.url });
    raw.on('error', () => undefined);
    await raw.connect();
  });

  after(async () => {
    await Promise.all(maps.map((map) => map.close()));
    raw.destroy();
    await redis.stop();
  });

  test('a path registered on one node is found by another, with its URLs', TEST, async () => {
    const prefix = freshPrefix();
    const a = startMap(redis.url, prefix, 'a');
    const b = startMap(redis.url, prefix, 'b');
    await eventually(() => a.map.connected && b.map.connected, Boolean, 5000, 'both connected');
    const before = Date.now();
    a.map.register('live/cam');
    const found = await eventually(() => b.map.lookup('live/cam'), Boolean, 2000, 'the entry');
    assert.deepEqual(
      { ...found!, updatedMs: 0 },
      {
        path: 'live/cam',
        nodeId: 'a',
        relayUrl: 'rtmp://a.example:1935',
        httpUrl: 'http://a.example:8080',
        updatedMs: 0,
      },
    );
    assert.ok(found!.updatedMs >= before - 1 && found!.updatedMs <= Date.now());
    assert.equal(await b.map.lookup('live/other'), null);
    assert.equal(await b.map.lookup('not a path'), null);
    const ttl = await raw.pTTL(`${prefix}stream:live/cam`);
    assert.ok(ttl > 0 && ttl <= TTL_MS, `PX set (${ttl} ms)`);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  });

  test('a node that stops heartbeating drops out within the TTL', TEST, async () => {
    const prefix = freshPrefix();
    const a = startMap(redis.url, prefix, 'a');
    const b = startMap(redis.url, prefix, 'b');
    await eventually(() => a.map.connected && b.map.connected, Boolean, 5000, 'both connected');
    a.map.register('live/cam');
    await eventually(() => b.map.lookup('live/cam'), Boolean, 2000, 'the entry');
    // Entries are refreshed: after two heartbeat periods the key still has most of its TTL.
    const firstWrite = (await b.map.lookup('live/cam'))!.updatedMs;
    await eventually(
      () => b.map.lookup('live/cam'),
      (found) => found !== null && found.updatedMs >= firstWrite + (2 * TTL_MS) / 3 - 50,
      3 * TTL_MS,
      'two heartbeats',
    );
    assert.ok((await raw.pTTL(`${prefix}stream:live/cam`)) > TTL_MS / 3);
    assert.deepEqual(
      (await b.map.nodes()).map((node) => node.nodeId),
      ['a', 'b'],
    );
    a.map.crash();
    const crashed = Date.now();
    await eventually(
      () => b.map.lookup('live/cam'),
      (found) => found === null,
      3 * TTL_MS,
      'expiry',
    );
    const gone = Date.now() - crashed;
    assert.ok(gone <= TTL_MS + SLACK_MS, `gone ${gone} ms after the crash (TTL ${TTL_MS} ms)`);
    await eventually(
      () => b.map.nodes(),
      (nodes) => nodes.length === 1 && nodes[0]!.nodeId === 'b',
      TTL_MS + SLACK_MS,
      'node a gone from nodes()',
    );
  });

  test('unregister deletes the entry only while it still names this node', TEST, async () => {
    const prefix = freshPrefix();
    const a = startMap(redis.url, prefix, 'a');
    const b = startMap(redis.url, prefix, 'b');
    await eventually(() => a.map.connected && b.map.connected, Boolean, 5000, 'both connected');

    a.map.register('live/own');
    await eventually(() => b.map.lookup('live/own'), Boolean, 2000, 'a entry');
    const unregistered = Date.now();
    a.map.unregister('live/own');
    // a's lookup runs on a's connection, after its delete.
    assert.equal(await a.map.lookup('live/own'), null);
    assert.equal(await b.map.lookup('live/own'), null);
    // A heartbeat of a's after the unregister does not write it back.
    await eventually(
      () => b.map.nodes(),
      (nodes) => nodes.some((node) => node.nodeId === 'a' && node.updatedMs > unregistered),
      2 * TTL_MS,
      "a's next heartbeat",
    );
    assert.equal(await b.map.lookup('live/own'), null);

    // Republished on b: a's late unregister leaves b's entry.
    a.map.register('live/moved');
    await eventually(() => b.map.lookup('live/moved'), Boolean, 2000, 'a entry');
    b.map.register('live/moved');
    await eventually(
      () => a.map.lookup('live/moved'),
      (found) => found?.nodeId === 'b',
      2000,
      'b entry',
    );
    a.map.unregister('live/moved');
    assert.equal((await a.map.lookup('live/moved'))?.nodeId, 'b');
    assert.equal((await b.map.lookup('live/moved'))?.nodeId, 'b');
  });

  test('close() deletes own entries at once', TEST, async () => {
    const prefix = freshPrefix();
    const a = startMap(redis.url, prefix, 'a');
    const b = startMap(redis.url, prefix, 'b');
    await eventually(() => a.map.connected && b.map.connected, Boolean, 5000, 'both connected');
    a.map.register('live/one');
    a.map.register('live/two');
    await eventually(() => b.map.lookup('live/two'), Boolean, 2000, 'the entries');
    await eventually(
      () => b.map.nodes(),
      (nodes) => nodes.length === 2,
      2000,
      'both nodes',
    );
    const { ms } = await timed(a.map.close());
    assert.ok(ms < 2 * TIMEOUT_MS + SLACK_MS, `close took ${ms} ms`);
    assert.equal(a.map.connected, false);
    assert.equal(await raw.exists([`${prefix}stream:live/one`, `${prefix}stream:live/two`]), 0);
    assert.equal(await raw.exists(`${prefix}node:a`), 0);
    assert.equal(await a.map.lookup('live/one'), null);
    assert.deepEqual(await a.map.nodes(), []);
    a.map.register('live/three'); // after close: nothing
    assert.equal(await b.map.lookup('live/three'), null);
  });

  test(
    'entries not signed with the cluster key, or not as written, are ignored',
    TEST,
    async () => {
      const prefix = freshPrefix();
      const allowed = new Set(['n9.example', 'a.example', 'other.example']);
      const b = startMap(redis.url, prefix, 'b', {
        allowedRelayHosts: (url) => allowed.has(url.hostname),
      });
      await eventually(() => b.map.connected, Boolean, 5000, 'connected');
      const key = (path: string): string => `${prefix}stream:${path}`;

      // The control: an entry crafted here as StreamMap signs them is accepted, so the refusals
      // below are the checks, not a crafting mistake.
      await raw.set(key('live/good'), signedEntry('stream', streamBody('live/good')));
      assert.equal((await b.map.lookup('live/good'))?.relayUrl, 'rtmp://n9.example:1935');

      const body = streamBody('live/x');
      const forged: [string, string][] = [
        ['unsigned', JSON.stringify({ v: 1, body })],
        ['signed with another key', signedEntry('stream', body, Buffer.alloc(32, 7))],
        [
          'changed after signing',
          signedEntry('stream', body).replace('rtmp://n9.example', 'rtmp://evil.example'),
        ],
        [
          'an http relay URL',
          signedEntry('stream', streamBody('live/x', { relayUrl: 'http://n9.example:80' })),
        ],
        [
          'a relay URL with a path',
          signedEntry('stream', streamBody('live/x', { relayUrl: 'rtmp://n9.example/live' })),
        ],
        [
          'a relay URL with credentials',
          signedEntry('stream', streamBody('live/x', { relayUrl: 'rtmp://u:p@n9.example' })),
        ],
        [
          'a javascript: http URL',
          signedEntry('stream', streamBody('live/x', { httpUrl: 'javascript:alert(1)' })),
        ],
        [
          'a relay host not allowed',
          signedEntry('stream', streamBody('live/x', { relayUrl: 'rtmp://10.0.0.1:1935' })),
        ],
        ['for another path', signedEntry('stream', streamBody('live/good'))],
        ['stale', signedEntry('stream', streamBody('live/x', { updatedMs: Date.now() - 60_000 }))],
        [
          'from the future',
          signedEntry('stream', streamBody('live/x', { updatedMs: Date.now() + 60_000 })),
        ],
        ['a bad node id', signedEntry('stream', streamBody('live/x', { nodeId: 'a b' }))],
        ['a node entry at a stream key', signedEntry('node', body)],
        ['another version', signedEntry('stream', body).replace('{"v":1', '{"v":2')],
        ['not JSON', 'rtmp://evil.example:1935'],
        ['JSON null', 'null'],
      ];
      for (const [what, value] of forged) {
        await raw.set(key('live/x'), value);
        assert.equal(await b.map.lookup('live/x'), null, what);
      }

      // A key of another type: WRONGTYPE from Redis, a null lookup.
      await raw.del(key('live/x'));
      await raw.rPush(key('live/x'), 'rtmp://evil.example');
      assert.equal(await b.map.lookup('live/x'), null);

      // A predicate that throws refuses.
      const c = startMap(redis.url, prefix, 'c', {
        allowedRelayHosts: () => {
          throw new Error('boom');
        },
      });
      await eventually(() => c.map.connected, Boolean, 5000, 'connected');
      assert.equal(await c.map.lookup('live/good'), null);

      assert.ok(b.errors.some(({ what }) => what.startsWith('stream entry')));
      // Rate-limited: one report per kind of error, however many refusals.
      assert.ok(b.errors.length <= 3, `${b.errors.length} reports`);
    },
  );

  test('an oversized value is ignored, and only the cap bytes are read', TEST, async () => {
    const prefix = freshPrefix();
    const b = startMap(redis.url, prefix, 'b');
    await eventually(() => b.map.connected, Boolean, 5000, 'connected');
    const entry = signedEntry('stream', streamBody('live/big'));
    // Padding outside the body is not signed and is skipped by the parser: just under the cap
    // it is accepted, so over the cap the size alone refuses it.
    const padded = (size: number): string =>
      entry.replace('{"v":1', `{"pad":"${'x'.repeat(size - entry.length - 9)}","v":1`);
    assert.equal(padded(MAX_STREAM_VALUE_BYTES).length, MAX_STREAM_VALUE_BYTES);
    await raw.set(`${prefix}stream:live/big`, padded(MAX_STREAM_VALUE_BYTES));
    assert.equal((await b.map.lookup('live/big'))?.nodeId, 'n9');
    await raw.set(`${prefix}stream:live/big`, padded(MAX_STREAM_VALUE_BYTES + 1));
    assert.equal(await b.map.lookup('live/big'), null);
    await raw.set(`${prefix}stream:live/big`, padded(8 * 1024 * 1024));
    assert.equal(await b.map.lookup('live/big'), null);
    // Counted in bytes: 1000 two-byte characters and trailing spaces, over the cap in bytes
    // though its first cap + 1 bytes are fewer characters than the cap (and valid JSON).
    const wide = entry.replace('{"v":1', `{"pad":"${'é'.repeat(1000)}","v":1`) + ' '.repeat(5000);
    await raw.set(`${prefix}stream:live/big`, wide);
    assert.equal(await b.map.lookup('live/big'), null);
    await raw.set(`${prefix}stream:live/big`, wide.trimEnd());
    assert.equal((await b.map.lookup('live/big'))?.nodeId, 'n9');
  });

  test('nodes() returns the live nodes with their loads, verified', TEST, async () => {
    const prefix = freshPrefix();
    let viewers = 12;
    const a = startMap(redis.url, prefix, 'a', {
      load: () => ({ viewers, egressMbps: 34.5, maxViewers: 100, maxEgressMbps: 1000 }),
    });
    const b = startMap(redis.url, prefix, 'b', {
      load: () => ({ viewers: 3, egressMbps: 0.25, maxViewers: 0, maxEgressMbps: 0 }),
    });
    a.map.register('live/cam');
    a.map.serving(['live/pulled', 'live/cam', 'bad path']);
    b.map.serving(['live/cam']);
    // A forged node entry (unsigned), and one signed with the key for another node's key.
    await raw.set(
      `${prefix}node:evil`,
      JSON.stringify({ v: 1, body: { nodeId: 'evil', relayUrl: 'rtmp://evil.example' } }),
    );
    await eventually(
      () => b.map.nodes(),
      (nodes) => nodes.length === 2 && nodes[0]!.streams.includes('live/pulled'),
      5000,
      'two nodes, a serving live/pulled',
    );
    const copied = await raw.get(`${prefix}node:a`);
    await raw.set(`${prefix}node:copy`, copied!);
    const nodes = await b.map.nodes();
    assert.deepEqual(
      nodes.map(({ updatedMs: _, ...rest }) => rest),
      [
        {
          nodeId: 'a',
          relayUrl: 'rtmp://a.example:1935',
          httpUrl: 'http://a.example:8080',
          viewers: 12,
          egressMbps: 34.5,
          maxViewers: 100,
          maxEgressMbps: 1000,
          streams: ['live/cam', 'live/pulled'],
        },
        {
          nodeId: 'b',
          relayUrl: 'rtmp://b.example:1935',
          httpUrl: 'http://b.example:8080',
          viewers: 3,
          egressMbps: 0.25,
          maxViewers: 0,
          maxEgressMbps: 0,
          streams: ['live/cam'],
        },
      ],
    );
    // load() is read at each heartbeat.
    viewers = 40;
    await eventually(
      () => b.map.nodes(),
      (list) => list.find((node) => node.nodeId === 'a')?.viewers === 40,
      2 * TTL_MS,
      'the new load',
    );
  });
});

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A TCP proxy to a local port that can black-hole the connections it carries (nothing
 * forwarded either way, nothing closed), as a vanished host or a dropped NAT entry does; new
 * connections pass.
 */
async function blackholeProxy(targetPort: number): Promise<{
  readonly port: number;
  blackholeExisting(): void;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const pairs: [Socket, Socket][] = [];
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    blackholeExisting: () => {
      for (const [client, upstream] of pairs.splice(0)) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('stream map when Redis fails', () => {
  test('with no Redis at all: start does not throw, lookups are null at once', TEST, async () => {
    const url = `redis://127.0.0.1:${await deadPort()}`;
    const a = startMap(url, freshPrefix(), 'a');
    a.map.register('live/cam');
    assert.equal(a.map.connected, false);
    const { value, ms } = await timed(a.map.lookup('live/cam'));
    assert.equal(value, null);
    assert.ok(ms < SLACK_MS / 2, `lookup took ${ms} ms`);
    assert.deepEqual(await a.map.nodes(), []);
    await eventually(
      () => a.errors.length,
      (n) => n > 0,
      3000,
      'a connection error reported',
    );
    const closed = await timed(a.map.close());
    assert.ok(closed.ms < SLACK_MS / 2, `close took ${closed.ms} ms`);
  });

  test(
    'Redis killed: lookups null within the timeout, errors rate-limited; restarted: entries come back',
    TEST,
    async () => {
      const redis = await redisServer();
      try {
        const prefix = freshPrefix();
        // A 6 s TTL: heartbeats 2 s apart, so an entry back within a moment of the reconnect
        // was written by the heartbeat that runs on 'ready', not by the periodic one.
        const ttlMs = 6000;
        const a = startMap(redis.url, prefix, 'a', { ttlMs });
        const b = startMap(redis.url, prefix, 'b', { ttlMs });
        await eventually(() => a.map.connected && b.map.connected, Boolean, 5000, 'connected');
        a.map.register('live/cam');
        await eventually(() => b.map.lookup('live/cam'), Boolean, 2000, 'the entry');

        await redis.kill();
        const killed = Date.now();
        // While Redis is down every lookup settles null within the timeout (the first ones may
        // still be on the dying connection).
        while (Date.now() - killed < 2000) {
          const { value, ms } = await timed(b.map.lookup('live/cam'));
          assert.equal(value, null);
          assert.ok(ms < TIMEOUT_MS + SLACK_MS, `lookup took ${ms} ms`);
          const listed = await timed(b.map.nodes());
          assert.deepEqual(listed.value, []);
          assert.ok(listed.ms < 2 * TIMEOUT_MS + SLACK_MS, `nodes() took ${listed.ms} ms`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        assert.equal(a.map.connected, false);
        assert.equal(b.map.connected, false);
        // Reconnect attempts 100 ms to 2 s apart, each a connection error: one report per 10 s.
        for (const { errors } of [a, b]) {
          const connection = errors.filter(({ what }) => what.startsWith('redis connection'));
          assert.ok(
            connection.length >= 1 && connection.length <= 2,
            `${connection.length} reports`,
          );
          assert.ok(errors.length <= 5, `${errors.length} reports in all`);
        }
        // Registered while Redis is down: written after it comes back.
        a.map.register('live/late');

        await redis.restart();
        const restarted = Date.now();
        const raw = createClient({ url: redis.url });
        raw.on('error', () => undefined);
        await raw.connect();
        try {
          // The restarted Redis is empty; a's heartbeat on reconnect writes everything back.
          await eventually(() => a.map.connected, Boolean, 5000, 'a reconnected');
          const reconnected = Date.now();
          const keys = [`${prefix}stream:live/cam`, `${prefix}stream:live/late`, `${prefix}node:a`];
          await eventually(
            () => raw.exists(keys),
            (n) => n === 3,
            3000,
            'the entries back',
          );
          const back = Date.now() - reconnected;
          assert.ok(back < 600, `back ${back} ms after the reconnect`);
          assert.ok(
            reconnected - restarted < 2000 + 100 + 2 * SLACK_MS,
            'reconnect backoff at most 2 s (+ jitter)',
          );
        } finally {
          raw.destroy();
        }
        assert.equal(
          (await eventually(() => b.map.lookup('live/late'), Boolean, 3000, 'b'))?.nodeId,
          'a',
        );
        await eventually(
          () => b.map.nodes(),
          (nodes) => nodes.length === 2,
          3000,
          'both nodes',
        );
      } finally {
        await redis.stop();
      }
    },
  );

  test(
    'Redis hung (SIGSTOP): lookups null within the timeout; resumed: working again',
    TEST,
    async () => {
      const redis = await redisServer();
      try {
        const prefix = freshPrefix();
        const a = startMap(redis.url, prefix, 'a');
        const b = startMap(redis.url, prefix, 'b');
        await eventually(() => a.map.connected && b.map.connected, Boolean, 5000, 'connected');
        a.map.register('live/cam');
        await eventually(() => b.map.lookup('live/cam'), Boolean, 2000, 'the entry');

        redis.pause();
        const paused = Date.now();
        while (Date.now() - paused < 2500) {
          const lookups = await Promise.all([1, 2, 3].map(() => timed(b.map.lookup('live/cam'))));
          for (const { value, ms } of lookups) {
            assert.equal(value, null);
            assert.ok(ms < TIMEOUT_MS + SLACK_MS, `lookup took ${ms} ms`);
          }
          const listed = await timed(b.map.nodes());
          assert.deepEqual(listed.value, []);
          assert.ok(listed.ms < 2 * TIMEOUT_MS + SLACK_MS, `nodes() took ${listed.ms} ms`);
        }
        assert.ok(b.errors.some(({ what }) => what.startsWith('lookup')));
        assert.ok(b.errors.length <= 5, `${b.errors.length} reports`);

        redis.resume();
        await eventually(() => b.map.lookup('live/cam'), Boolean, 5000, 'lookups again');
        await eventually(
          () => b.map.nodes(),
          (nodes) => nodes.length === 2,
          3000,
          'both nodes',
        );
        const closed = await timed(Promise.all([a.map.close(), b.map.close()]));
        assert.ok(closed.ms < 2 * TIMEOUT_MS + SLACK_MS, `close took ${closed.ms} ms`);
      } finally {
        await redis.stop();
      }
    },
  );

  test(
    'a connection that stops answering (black-holed) is dropped and reopened',
    TEST,
    async () => {
      const redis = await redisServer();
      const proxy = await blackholeProxy(redis.port);
      try {
        const a = startMap(`redis://127.0.0.1:${proxy.port}`, freshPrefix(), 'a');
        await eventually(() => a.map.connected, Boolean, 5000, 'connected');
        a.map.register('live/cam');
        await eventually(() => a.map.lookup('live/cam'), Boolean, 2000, 'the entry');

        proxy.blackholeExisting();
        const holed = Date.now();
        const { value, ms } = await timed(a.map.lookup('live/cam'));
        assert.equal(value, null);
        assert.ok(ms < TIMEOUT_MS + SLACK_MS, `lookup took ${ms} ms`);
        // Unanswered for longer than max(heartbeat, 3 timeouts): a new connection, through
        // which the entry (refreshed by the heartbeat) is found again.
        await eventually(() => a.map.lookup('live/cam'), Boolean, 5000, 'lookups again');
        const recovered = Date.now() - holed;
        assert.ok(recovered >= 3 * TIMEOUT_MS, `recovered after ${recovered} ms`);
        assert.ok(
          a.errors.some(({ error }) => String(error).includes('stopped answering')),
          'the reconnect reported',
        );
      } finally {
        await proxy.close();
        await redis.stop();
      }
    },
  );
});
