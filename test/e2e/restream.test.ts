// End to end: restreaming (streams.<path>.push and the pushes API). A stream published to one
// onair is pushed to a second onair and to nginx-rtmp, where ffprobe reads it; the destination
// going away and coming back on the same port is reconnected; a destination that refuses is
// reported with its error while the stream and the other pushes keep flowing; keys are masked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import {
  assertVideo,
  probe,
  publishTestPattern,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import { startNginxRtmp, type Nginx } from '../support/nginx.ts';
import { freePort } from '../support/ports.ts';

interface PushJson {
  readonly id: string;
  readonly url: string;
  readonly origin: string;
  readonly state: string;
  readonly bytesSent: number;
  readonly reconnects: number;
  readonly lastError: string | null;
}

const expectTestPattern = (streams: Awaited<ReturnType<typeof probe>>, where: string): void => {
  assertVideo(streams, 'h264', [320, 240], where);
  assert.equal(streams.find((s) => s.codec_type === 'audio')?.codec_name, 'aac', where);
};

describe('restreaming a stream to other RTMP servers', () => {
  let source: TestServer;
  let destination: TestServer;
  let destinationPort: number;
  let publisher: Publisher;
  let nginx: Nginx | null = null;

  /** Calls the source's pushes API of live/a. */
  async function api(method: string, suffix = '', body?: unknown): Promise<Response> {
    return fetch(source.httpUrl(`api/v1/streams/live/a/pushes${suffix}`), {
      method,
      headers: {
        authorization: `Bearer ${source.onair.apiToken.value}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  }

  async function pushes(): Promise<PushJson[]> {
    const response = await api('GET');
    assert.equal(response.status, 200);
    return ((await response.json()) as { items: PushJson[] }).items;
  }

  async function pushTo(prefix: string): Promise<PushJson | undefined> {
    return (await pushes()).find((push) => push.url.startsWith(prefix));
  }

  before(async () => {
    destination = await startServer();
    destinationPort = destination.rtmpPort;
    source = await startServer({
      streams: {
        'live/a': { push: [`rtmp://127.0.0.1:${String(destinationPort)}/live/copy-key-0123`] },
      },
    });
    publisher = publishTestPattern(source.rtmpUrl('live/a'), { size: '320x240', gop: 25 });
  });

  after(async () => {
    await publisher.stop();
    await source.stop();
    await destination.stop();
    await nginx?.stop();
  });

  const copyUrl = (): string => `rtmp://127.0.0.1:${String(destinationPort)}/live/copy-key-0123`;
  const maskedCopy = (): string => `rtmp://127.0.0.1:${String(destinationPort)}/live/****0123`;

  test('the configured destination gets the stream: ffprobe reads it there', async () => {
    await waitFor(
      () => destination.onair.hub.get('live/copy-key-0123')?.tracks.length === 2,
      20_000,
      'the pushed stream on the destination',
    );
    expectTestPattern(await probe(destination.httpUrl('live/copy-key-0123.flv')), 'destination');
    const push = await pushTo(maskedCopy());
    assert.ok(push, 'the push is listed, its key masked');
    assert.equal(push.state, 'live');
    assert.equal(push.origin, 'config');
    assert.ok(push.bytesSent > 0);
    assert.ok(!JSON.stringify(await pushes()).includes('copy-key'), 'no key in the answer');
    assert.ok(!JSON.stringify(source.logs).includes('copy-key'), 'no key in the logs');
  });

  test('the destination going away and coming back on the same port is reconnected', async () => {
    await destination.stop();
    await waitFor(
      async () => (await pushTo(maskedCopy()))?.lastError != null,
      20_000,
      'the push to notice the destination left',
    );
    assert.notEqual((await pushTo(maskedCopy()))?.state, 'live');
    destination = await startServer({ rtmp: { port: destinationPort } });
    assert.equal(destination.rtmpPort, destinationPort);
    await waitFor(
      () => destination.onair.hub.get('live/copy-key-0123')?.tracks.length === 2,
      30_000,
      'the push to reconnect',
    );
    expectTestPattern(await probe(destination.httpUrl('live/copy-key-0123.flv')), 'reconnected');
    const push = await pushTo(maskedCopy());
    assert.equal(push?.state, 'live');
    assert.ok(push.reconnects >= 1);
    assert.ok(source.onair.hub.get('live/a')?.publisher, 'the source stream never stopped');
  });

  test('a destination that refuses is reported with its error; the rest keeps flowing', async () => {
    const closedPort = await freePort();
    const key = 'sk_live_secret_987654321';
    const created = await api('POST', '', {
      url: `rtmp://127.0.0.1:${String(closedPort)}/live/${key}`,
    });
    assert.equal(created.status, 201);
    const body = (await created.json()) as PushJson;
    assert.equal(body.url, `rtmp://127.0.0.1:${String(closedPort)}/live/****4321`);
    assert.equal(body.origin, 'api');
    await waitFor(
      async () => {
        const push = (await pushes()).find((p) => p.id === body.id);
        return push?.state === 'backoff' && push.lastError !== null;
      },
      20_000,
      'the refused push to be reported',
    );
    const refused = (await pushes()).find((p) => p.id === body.id);
    assert.match(refused?.lastError ?? '', /ECONNREFUSED/);
    // The stream and the other push go on.
    const before = (await pushTo(maskedCopy()))?.bytesSent ?? 0;
    await waitFor(
      async () => ((await pushTo(maskedCopy()))?.bytesSent ?? 0) > before + 10_000,
      20_000,
      'the working push to keep sending',
    );
    assert.equal((await pushTo(maskedCopy()))?.state, 'live');
    assert.ok(source.onair.hub.get('live/a')?.publisher);
    expectTestPattern(await probe(source.httpUrl('live/a.flv')), 'source');
    assert.ok(!JSON.stringify(source.logs).includes(key.slice(0, 12)), 'no key in the logs');

    assert.equal((await api('DELETE', `/${body.id}`)).status, 204);
    assert.equal((await api('DELETE', `/${body.id}`)).status, 404);
    assert.ok(!(await pushes()).some((p) => p.id === body.id));
  });

  test('the API refuses bad URLs, duplicates and streams that are not live', async () => {
    assert.equal((await api('POST', '', { url: 'http://127.0.0.1/live/x' })).status, 400);
    assert.equal((await api('POST', '', { url: 'rtmp://127.0.0.1/live' })).status, 400);
    assert.equal((await api('POST', '', { nope: 1 })).status, 400);
    assert.equal((await api('POST', '', { url: copyUrl() })).status, 409);
    const other = await fetch(source.httpUrl('api/v1/streams/live/nobody/pushes'), {
      headers: { authorization: `Bearer ${source.onair.apiToken.value}` },
    });
    assert.equal(other.status, 404);
    const anonymous = await fetch(source.httpUrl('api/v1/streams/live/a/pushes'));
    assert.equal(anonymous.status, 401);
  });

  test('nginx-rtmp as a destination, added while live', async () => {
    nginx = await startNginxRtmp(await freePort());
    const url = `rtmp://127.0.0.1:${String(nginx.port)}/live/from-onair`;
    const created = await api('POST', '', { url });
    assert.equal(created.status, 201);
    const { id } = (await created.json()) as PushJson;
    await waitFor(
      async () => (await pushes()).find((p) => p.id === id)?.state === 'live',
      20_000,
      'the push to nginx-rtmp to be live',
    );
    expectTestPattern(await probe(url), 'nginx-rtmp');
  });

  test('/metrics counts pushes by state and the bytes pushed', async () => {
    const response = await fetch(source.httpUrl('metrics'));
    const text = await response.text();
    assert.match(text, /^onair_pushes\{state="live"\} 2$/m);
    assert.match(text, /^onair_pushes\{state="backoff"\} 0$/m);
    const bytes = /^onair_push_bytes_total (\d+)/m.exec(text);
    assert.ok(Number(bytes?.[1]) > 0);
  });
});
