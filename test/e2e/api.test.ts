// End to end: the admin API (/api/v1) through the real HTTP port, with real clients: bearer token
// and address checks, no CORS, publish keys that ffmpeg uses and that revoking cuts off, session
// listing and kicking, minted playback tokens that ffprobe plays with, and bad input answered
// without disturbing a running publisher or viewer.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { startServer, type TestServer } from '../support/server.ts';
import {
  livePublisher,
  openFlv,
  publishOnce,
  refusals,
  type FlvViewer,
} from '../support/access-helpers.ts';
import { probe, waitFor } from '../support/media-tools.ts';

const EVIL_ORIGIN = 'https://evil.example';

/** Waits until `viewer` has read more bytes than it has now. */
async function stillPlaying(viewer: FlvViewer, what: string): Promise<void> {
  const before = viewer.received();
  await waitFor(() => viewer.received() > before, 5000, `${what}: the viewer still gets bytes`);
}

/** An answer read in full, with its headers. */
interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * A request with node:http, so headers a browser would send (Origin, preflight headers) go out
 * exactly as given; bounded by 5 s.
 */
function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {}, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
        });
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Names of the Access-Control-* headers of an answer. */
function corsHeaders(headers: IncomingHttpHeaders | Headers): string[] {
  const names = headers instanceof Headers ? [...headers.keys()] : Object.keys(headers);
  return names.filter((name) => name.toLowerCase().startsWith('access-control-'));
}

/** An error answer of the API. */
interface ApiErrorBody {
  readonly error: string;
  readonly message: string;
}

/** The admin API of one server, called with fetch and its token. */
function apiClient(server: TestServer) {
  const token = server.onair.apiToken.value;
  return async (
    method: string,
    route: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown; headers: Headers }> => {
    const response = await fetch(server.httpUrl(`api/v1/${route}`), {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    return {
      status: response.status,
      json: text === '' ? null : (JSON.parse(text) as unknown),
      headers: response.headers,
    };
  };
}

describe('who may use the API', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  test('no token or a wrong token: 401 with WWW-Authenticate', async () => {
    const url = server.httpUrl('api/v1/sessions');
    const none = await fetch(url);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
    assert.equal(((await none.json()) as ApiErrorBody).error, 'unauthorized');
    const wrong = await fetch(url, { headers: { Authorization: 'Bearer not-the-token' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers.get('www-authenticate') ?? '', /^Bearer /);
    await wrong.body?.cancel();
    const right = await fetch(url, {
      headers: { Authorization: `Bearer ${server.onair.apiToken.value}` },
    });
    assert.equal(right.status, 200);
    assert.equal(((await right.json()) as { total: number }).total, 0);
  });

  test('a cross-origin caller never gets an Access-Control-* header, preflight included', async () => {
    const token = server.onair.apiToken.value;
    const origin = { Origin: EVIL_ORIGIN };
    const cases: [string, Parameters<typeof rawRequest>[1]][] = [
      ['no token', { headers: origin }],
      ['with the token', { headers: { ...origin, Authorization: `Bearer ${token}` } }],
      [
        'preflight',
        {
          method: 'OPTIONS',
          headers: {
            ...origin,
            'Access-Control-Request-Method': 'DELETE',
            'Access-Control-Request-Headers': 'authorization',
          },
        },
      ],
      [
        'preflight with the token',
        {
          method: 'OPTIONS',
          headers: {
            ...origin,
            Authorization: `Bearer ${token}`,
            'Access-Control-Request-Method': 'POST',
          },
        },
      ],
      [
        'a bad body',
        {
          method: 'POST',
          headers: { ...origin, Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain' },
          body: 'hello',
        },
      ],
    ];
    for (const route of ['api/v1/sessions', 'api/v1/tokens', 'api/v1/nope']) {
      for (const [what, options] of cases) {
        const answer = await rawRequest(server.httpUrl(route), options);
        assert.ok(
          answer.status >= 200 && answer.status < 500,
          `${route} ${what}: ${answer.status}`,
        );
        assert.deepEqual(corsHeaders(answer.headers), [], `${route} ${what}`);
      }
    }
    // The media side is open to other origins, so the check above means something.
    const media = await rawRequest(server.httpUrl('live/x.flv'), {
      method: 'OPTIONS',
      headers: { ...origin, 'Access-Control-Request-Method': 'GET' },
    });
    assert.equal(media.headers['access-control-allow-origin'], '*');
  });

  test("api.allowFrom '10.0.0.0/8': 403 from 127.0.0.1 even with the right token", async () => {
    const fenced = await startServer({ api: { allowFrom: '10.0.0.0/8' } });
    try {
      for (const [method, route] of [
        ['GET', 'sessions'],
        ['POST', 'streams/live/k/keys'],
        ['GET', 'nope'],
      ] as const) {
        const response = await fetch(fenced.httpUrl(`api/v1/${route}`), {
          method,
          headers: { Authorization: `Bearer ${fenced.onair.apiToken.value}` },
        });
        assert.equal(response.status, 403, `${method} ${route}`);
        assert.equal(((await response.json()) as ApiErrorBody).error, 'forbidden');
      }
    } finally {
      await fenced.stop();
    }
  });
});

describe('publish keys, sessions and tokens through the API', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  before(async () => {
    server = await startServer();
    api = apiClient(server);
  });
  after(async () => {
    await server.stop();
  });

  test('a key made through the API publishes; revoking it disconnects the publisher', async () => {
    const path = 'live/k';
    const created = await api('POST', `streams/${path}/keys`, { label: 'studio' });
    assert.equal(created.status, 201);
    const { id, key } = created.json as { id: string; key: string };
    assert.ok(id !== '' && key.length >= 16, JSON.stringify(created.json));
    const listed = await api('GET', `streams/${path}/keys`);
    assert.equal(listed.status, 200);
    assert.ok(!JSON.stringify(listed.json).includes(key), 'the key is shown once, never listed');

    const publisher = await livePublisher(
      server,
      path,
      server.rtmpUrl(`${path}?key=${encodeURIComponent(key)}`),
    );
    // A second key keeps the stream keyed after the revocation (a stream with no key left
    // would be open to this machine again, as every keyless stream is).
    const spare = await api('POST', `streams/${path}/keys`, { label: 'backup' });
    assert.equal(spare.status, 201);
    try {
      const revoked = await api('DELETE', `keys/${id}`);
      assert.equal(revoked.status, 204);
      await waitFor(
        () => (server.onair.hub.get(path)?.publisher ?? null) === null,
        5000,
        'the publisher disconnected',
      );
      assert.equal(server.onair.sessions.publishers, 0);
      assert.equal((await api('DELETE', `keys/${id}`)).status, 404, 'revoked once');
    } finally {
      await publisher.stop();
    }
    const before = refusals(server, 'bad-key');
    const again = await publishOnce(server.rtmpUrl(`${path}?key=${encodeURIComponent(key)}`));
    assert.notEqual(again.code, 0, 'a revoked key no longer publishes');
    assert.equal(server.onair.hub.get(path)?.publisher ?? null, null);
    assert.equal(refusals(server, 'bad-key'), before + 1);
  });

  test('GET /sessions lists the publisher and a viewer; DELETE kicks the viewer', async () => {
    const path = 'live/s';
    const publisher = await livePublisher(server, path);
    let viewer: FlvViewer | undefined;
    try {
      viewer = await openFlv(server.httpUrl(`${path}.flv`));
      assert.equal(viewer.status, 200);
      await waitFor(() => (viewer?.received() ?? 0) > 0, 5000, 'viewer bytes');
      const listed = await api('GET', 'sessions');
      assert.equal(listed.status, 200);
      const { items, total } = listed.json as {
        items: { id: string; role: string; protocol: string; stream: string; ip: string }[];
        total: number;
      };
      assert.equal(total, 2);
      const pub = items.find((s) => s.role === 'publisher');
      const view = items.find((s) => s.role === 'viewer');
      assert.ok(pub && view, JSON.stringify(items));
      assert.deepEqual(
        { protocol: pub.protocol, stream: pub.stream, ip: pub.ip },
        { protocol: 'rtmp', stream: path, ip: '127.0.0.1' },
      );
      assert.deepEqual(
        { protocol: view.protocol, stream: view.stream, ip: view.ip },
        { protocol: 'http-flv', stream: path, ip: '127.0.0.1' },
      );

      const kicked = await api('DELETE', `sessions/${view.id}`);
      assert.equal(kicked.status, 204);
      const open = viewer;
      await waitFor(() => open.isEnded(), 5000, "the kicked viewer's body ends");
      assert.equal(server.onair.sessions.get(view.id), undefined);
      assert.equal((await api('DELETE', `sessions/${view.id}`)).status, 404);
      const after = (await api('GET', 'sessions')).json as { items: { id: string }[] };
      assert.deepEqual(
        after.items.map((s) => s.id),
        [pub.id],
      );
      assert.notEqual(server.onair.hub.get(path)?.publisher ?? null, null, 'the publisher stays');
    } finally {
      await viewer?.close();
      await publisher.stop();
    }
  });

  test('a token minted by the API plays a stream made private through the API', async () => {
    const path = 'live/p';
    const made = await api('PUT', `streams/${path}/private`, { private: true });
    assert.equal(made.status, 200);
    assert.deepEqual(made.json, { stream: path, private: true });
    const access = await api('GET', `streams/${path}/access`);
    assert.deepEqual(access.json, { stream: path, private: true, keys: 0 });
    const publisher = await livePublisher(server, path);
    try {
      const anonymous = await fetch(server.httpUrl(`${path}.flv`));
      assert.equal(anonymous.status, 401);
      await anonymous.body?.cancel();
      const minted = await api('POST', 'tokens', { stream: path, expiresIn: '10m' });
      assert.equal(minted.status, 201);
      const { query, purpose } = minted.json as { query: string; purpose: string };
      assert.equal(purpose, 'play');
      assert.match(query, /^token=/);
      const streams = await probe(server.httpUrl(`${path}.flv?${query}`));
      assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264');
    } finally {
      await publisher.stop();
    }
  });

  test('bad input gets 400/404/413 naming the problem; a running viewer keeps playing', async () => {
    const path = 'live/busy';
    const publisher = await livePublisher(server, path);
    let viewer: FlvViewer | undefined;
    try {
      viewer = await openFlv(server.httpUrl(`${path}.flv`));
      assert.equal(viewer.status, 200);
      const playing = viewer;
      await stillPlaying(playing, 'at first');

      const badTokens: [string, Record<string, unknown>][] = [
        ['stream', { stream: 'live/../x', expiresIn: '1h' }],
        ['stream', { stream: 'nohyphen', expiresIn: '1h' }],
        ['expiresIn', { stream: path, expiresIn: 'soon' }],
        ['expiresIn', { stream: path, expiresIn: 0 }],
        ['expiresIn', { stream: path, expiresIn: '100y' }],
        ['ip', { stream: path, expiresIn: '1h', ip: 'not-an-address' }],
        ['ip', { stream: path, expiresIn: '1h', ip: '10.0.0.0/99' }],
      ];
      for (const [field, body] of badTokens) {
        const answer = await api('POST', 'tokens', body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        const error = answer.json as ApiErrorBody;
        assert.equal(error.error, 'bad-request');
        assert.ok(
          error.message.startsWith(`${field}:`),
          `${JSON.stringify(body)}: ${error.message}`,
        );
      }

      const unknown = await api('GET', 'nope');
      assert.equal(unknown.status, 404);
      assert.match(unknown.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal((unknown.json as ApiErrorBody).error, 'not-found');

      const token = server.onair.apiToken.value;
      const huge = await fetch(server.httpUrl('api/v1/tokens'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ stream: path, expiresIn: '1h', pad: 'x'.repeat(100 * 1024) }),
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(huge.status, 413);
      await huge.body?.cancel();

      const notJson = await fetch(server.httpUrl('api/v1/tokens'), {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: '{"stream": live/busy, oops',
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(notJson.status, 400);
      assert.equal(((await notJson.json()) as ApiErrorBody).error, 'bad-request');

      await stillPlaying(playing, 'after the bad requests');
      assert.equal(playing.isEnded(), false);
      assert.notEqual(server.onair.hub.get(path)?.publisher ?? null, null, 'the publisher stays');
      assert.equal(server.onair.sessions.viewersOf(path), 1);
    } finally {
      await viewer?.close();
      await publisher.stop();
    }
  });
});
