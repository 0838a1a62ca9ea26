// End to end: RTMPS destinations (RTMP inside TLS), destinations that refuse the publish, and
// one slower than the stream.
// A TLS terminator with a self-signed certificate stands in front of a second onair.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';
import { startServer, type TestServer } from '../support/server.ts';
import {
  assertVideo,
  probe,
  publishTestPattern,
  run,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import type { PushInfo } from '../../src/relay/push.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';

interface PushJson {
  readonly id: string;
  readonly url: string;
  readonly state: string;
  readonly lastError: string | null;
}

/** A self-signed certificate for `localhost`, made by openssl in a temp dir. */
async function selfSigned(): Promise<{ key: string; cert: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'onair-tls-'));
  try {
    const result = await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    assert.equal(result.code, 0, result.stderr);
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('RTMPS destinations and destinations that refuse', () => {
  let source: TestServer;
  let destination: TestServer;
  let publisher: Publisher;
  let terminator: TlsServer;
  let tlsPort: number;
  let cert: string;
  const serverNames: (string | false | null)[] = [];
  const silentSockets = new Set<Socket>();
  const sockets = new Set<Socket>();

  async function api(method: string, body?: unknown, suffix = ''): Promise<Response> {
    return fetch(source.httpUrl(`api/v1/streams/live/t/pushes${suffix}`), {
      method,
      headers: {
        authorization: `Bearer ${source.onair.apiToken.value}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function push(id: string): Promise<PushJson | undefined> {
    const items = ((await (await api('GET')).json()) as { items: PushJson[] }).items;
    return items.find((item) => item.id === id);
  }

  async function addPush(url: string): Promise<string> {
    const created = await api('POST', { url });
    assert.equal(created.status, 201);
    return ((await created.json()) as PushJson).id;
  }

  before(async () => {
    destination = await startServer({
      streams: { 'live/locked': { publishKey: 'a-long-publish-key-0123' } },
    });
    source = await startServer();
    publisher = publishTestPattern(source.rtmpUrl('live/t'), { size: '320x240', gop: 25 });
    await waitFor(() => source.onair.hub.get('live/t')?.tracks.length === 2, 15_000, 'tracks');
    const pair = await selfSigned();
    cert = pair.cert;
    // TLS in, plain RTMP out to the destination (what a platform's RTMPS front end does).
    terminator = createTlsServer({ key: pair.key, cert: pair.cert }, (clear: TLSSocket) => {
      serverNames.push(clear.servername);
      const upstream = connect(destination.rtmpPort, '127.0.0.1');
      for (const socket of [clear, upstream]) {
        sockets.add(socket);
        socket.on('error', () => socket.destroy());
        socket.on('close', () => {
          sockets.delete(socket);
          clear.destroy();
          upstream.destroy();
        });
      }
      clear.pipe(upstream);
      upstream.pipe(clear);
    });
    terminator.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => terminator.listen(0, '127.0.0.1', resolve));
    tlsPort = (terminator.address() as { port: number }).port;
  });

  after(async () => {
    await publisher.stop();
    await source.stop();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => terminator.close(resolve));
    await destination.stop();
  });

  test('RtmpClient publishes over rtmps:// with SNI = the host name', async () => {
    const client = await RtmpClient.connect(`rtmps://localhost:${String(tlsPort)}/live/direct`, {
      ca: cert,
      timeoutMs: 10_000,
    });
    await client.publish();
    await waitFor(
      () => destination.onair.hub.get('live/direct')?.publisher != null,
      10_000,
      'the publish through TLS',
    );
    assert.ok(serverNames.includes('localhost'));
    client.close();
  });

  test('a push to an RTMPS destination whose certificate is not trusted reports why', async () => {
    const id = await addPush(`rtmps://localhost:${String(tlsPort)}/live/tls-secret-key-5678`);
    await waitFor(async () => (await push(id))?.lastError != null, 20_000, 'the certificate error');
    const state = await push(id);
    assert.match(state?.lastError ?? '', /self[- ]signed|certificate/i);
    assert.equal(state?.url, `rtmps://localhost:${String(tlsPort)}/live/****5678`);
    assert.notEqual(state.state, 'live');
    assert.ok(!JSON.stringify(source.logs).includes('tls-secret'), 'no key in the logs');
    assert.equal((await api('DELETE', undefined, `/${id}`)).status, 204);
  });

  test('a destination that accepts the connection and never answers meets the deadline', async () => {
    const silent = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      silentSockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    try {
      const id = await addPush(`rtmp://127.0.0.1:${String(port)}/live/silent`);
      await waitFor(async () => (await push(id))?.lastError != null, 30_000, 'the deadline');
      assert.match((await push(id))?.lastError ?? '', /handshake-timeout/);
      assert.equal((await api('DELETE', undefined, `/${id}`)).status, 204);
    } finally {
      for (const socket of silentSockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  test('a destination that refuses the publish (a key is needed there) is reported', async () => {
    const id = await addPush(`rtmp://127.0.0.1:${String(destination.rtmpPort)}/live/locked`);
    await waitFor(async () => (await push(id))?.lastError != null, 20_000, 'the refusal');
    const state = await push(id);
    assert.match(state?.lastError ?? '', /NetStream\.Publish\.Unauthorized/);
    assert.notEqual(state?.state, 'live');
    assert.equal(destination.onair.hub.get('live/locked')?.publisher ?? null, null);
    assert.ok(source.onair.hub.get('live/t')?.publisher, 'the source stream goes on');
  });
});

describe('a destination slower than the stream', () => {
  let source: TestServer;
  let destination: TestServer;
  let publisher: Publisher;
  let proxy: Server;
  let paused = false;
  const fromPush = new Set<Socket>();

  before(async () => {
    destination = await startServer();
    // A plain TCP relay to the destination that stops reading from the push on demand.
    proxy = createServer((down) => {
      const up = connect(destination.rtmpPort, '127.0.0.1');
      fromPush.add(down);
      for (const socket of [down, up]) {
        socket.on('error', () => socket.destroy());
        socket.on('close', () => {
          fromPush.delete(down);
          down.destroy();
          up.destroy();
        });
      }
      down.on('data', (bytes: Buffer) => {
        if (!up.write(bytes)) down.pause();
      });
      up.on('drain', () => {
        if (!paused) down.resume();
      });
      up.pipe(down);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyPort = (proxy.address() as { port: number }).port;
    source = await startServer({
      hub: { viewer: { maxQueueBytes: 64 * 1024, maxQueueDurationMs: 500, maxBehindMs: 120_000 } },
      streams: { 'live/s': { push: [`rtmp://127.0.0.1:${String(proxyPort)}/live/slow`] } },
    });
    publisher = publishTestPattern(source.rtmpUrl('live/s'), { size: '1280x720', gop: 25 });
  });

  after(async () => {
    await publisher.stop();
    await source.stop();
    for (const socket of fromPush) socket.destroy();
    await new Promise((resolve) => proxy.close(resolve));
    await destination.stop();
  });

  const pushOf = (): PushInfo | undefined =>
    source.onair.pushes.list('live/s')?.find((push) => push.url.includes('/live/'));

  test('drops to the next keyframe, never holds the stream back, and catches up', async () => {
    await waitFor(() => pushOf()?.state === 'live', 20_000, 'the push to be live');
    await waitFor(
      () => destination.onair.hub.get('live/slow')?.tracks.length === 2,
      20_000,
      'the pushed stream',
    );
    paused = true;
    for (const socket of fromPush) socket.pause();
    await waitFor(() => (pushOf()?.droppedFrames ?? 0) > 0, 90_000, 'frames dropped for the push');
    assert.ok(source.onair.hub.get('live/s')?.publisher, 'the source stream goes on');
    expectPlays(await probe(source.httpUrl('live/s.flv')));
    paused = false;
    for (const socket of fromPush) socket.resume();
    const sent = pushOf()?.bytesSent ?? 0;
    await waitFor(() => (pushOf()?.bytesSent ?? 0) > sent + 100_000, 30_000, 'the push to go on');
    expectPlays(await probe(destination.httpUrl('live/slow.flv')));
  });
});

function expectPlays(streams: Awaited<ReturnType<typeof probe>>): void {
  assertVideo(streams, 'h264', [1280, 720], 'the slow push');
}
