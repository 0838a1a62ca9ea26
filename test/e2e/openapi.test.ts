// The admin API against its own OpenAPI document: every documented route and status is called
// on a running server (with a publisher and a viewer), and every answer's status and JSON body
// is checked against the document with a JSON Schema validator (ajv, draft 2020-12).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { openFlv, type FlvViewer } from '../support/access-helpers.ts';
import { API_ROUTES } from '../../src/api/openapi.ts';

interface Case {
  readonly method: 'get' | 'post' | 'put' | 'delete';
  readonly path: string;
  readonly status: number;
  /** Default: the API token. */
  readonly token?: string | null;
  readonly body?: unknown;
  readonly rawBody?: string;
}

type Operation = {
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
};

/** The documented route template a concrete path matches, e.g. /api/v1/streams/{app}/{name}. */
function templateOf(path: string, method: string): string | undefined {
  const bare = path.split('?')[0] ?? '';
  return API_ROUTES.find(
    (route) =>
      route.method === method &&
      new RegExp(`^${route.path.replace(/\{\w+\}/g, '[^/]+').replace(/\./g, '\\.')}$`).test(bare),
  )?.path;
}

describe('the admin API matches its OpenAPI document', () => {
  let server: TestServer;
  let publisher: Publisher;
  let viewer: FlvViewer;
  let document: { openapi: string; paths: Record<string, Record<string, Operation>> };

  before(async () => {
    server = await startServer();
    publisher = publishTestPattern(server.rtmpUrl('live/doc'), { gop: 25 });
    await waitFor(() => server.onair.hub.get('live/doc')?.tracks.length === 2, 15_000);
    viewer = await openFlv(server.httpUrl('live/doc.flv'));
    await waitFor(() => viewer.received() > 1000, 10_000, 'viewer bytes');
    document = (await (
      await fetch(server.httpUrl('api/v1/openapi.json'))
    ).json()) as typeof document;
  });
  after(async () => {
    await viewer.close();
    await publisher.stop();
    await server.stop();
  });

  async function call(c: Case): Promise<Response> {
    const token = c.token === undefined ? server.onair.apiToken.value : c.token;
    const headers: Record<string, string> = {};
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    if (c.body !== undefined || c.rawBody !== undefined)
      headers['Content-Type'] = 'application/json';
    return fetch(server.httpUrl(c.path.slice(1)), {
      method: c.method.toUpperCase(),
      headers,
      ...(c.rawBody !== undefined
        ? { body: c.rawBody }
        : c.body !== undefined
          ? { body: JSON.stringify(c.body) }
          : {}),
      signal: AbortSignal.timeout(10_000),
    });
  }

  test('every route and status, each answer valid against the document', async () => {
    assert.equal(document.openapi, '3.1.0');
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const viewerSession = (): string =>
      server.onair.sessions.list().find((s) => s.role === 'viewer')?.id ?? 'none';
    const keyId = async (): Promise<string> => {
      const created = await call({
        method: 'post',
        // Not live/doc: revoking a key disconnects the stream's publisher.
        path: '/api/v1/streams/live/other/keys',
        status: 201,
        body: { label: 'doc' },
      });
      return ((await created.json()) as { id: string }).id;
    };
    // Restreams of live/doc to a closed port: the push is listed (in backoff), then deleted.
    const pushId = async (): Promise<string> => {
      const listed = await call({
        method: 'get',
        path: '/api/v1/streams/live/doc/pushes',
        status: 200,
      });
      const { items } = (await listed.json()) as { items: { id: string }[] };
      return items[0]?.id ?? 'none';
    };
    const beacon = {
      stream: 'live/doc',
      session: 'openapi-test-1',
      rebufferCount: 0,
      rebufferMs: 0,
      playedMs: 1000,
    };
    const cases: (Case | (() => Promise<Case>))[] = [
      { method: 'get', path: '/healthz', status: 200, token: null },
      { method: 'get', path: '/readyz', status: 200, token: null },
      { method: 'get', path: '/metrics', status: 200, token: null },
      { method: 'get', path: '/api/v1/openapi.json', status: 200, token: null },
      { method: 'get', path: '/api/v1/server', status: 200 },
      { method: 'get', path: '/api/v1/server', status: 401, token: null },
      { method: 'get', path: '/api/v1/streams', status: 200 },
      { method: 'get', path: '/api/v1/streams?itemsPerPage=0', status: 400 },
      { method: 'get', path: '/api/v1/streams/live/doc', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/nothing', status: 404 },
      { method: 'get', path: '/api/v1/streams/live/bad%20name', status: 400 },
      { method: 'get', path: '/api/v1/streams/live/doc/thumbnail.jpg', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/nothing/thumbnail.jpg', status: 404 },
      { method: 'get', path: '/api/v1/streams/live/doc/history', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/doc/history?from=yesterday', status: 400 },
      { method: 'get', path: '/api/v1/analytics/summary', status: 200 },
      {
        method: 'get',
        path: '/api/v1/analytics/summary?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z',
        status: 400,
      },
      { method: 'post', path: '/api/v1/qoe', status: 204, token: null, body: beacon },
      { method: 'post', path: '/api/v1/qoe', status: 400, token: null, body: { stream: 1 } },
      {
        method: 'post',
        path: '/api/v1/qoe',
        status: 413,
        token: null,
        rawBody: JSON.stringify({ ...beacon, errors: ['x'.repeat(20_000)] }),
      },
      { method: 'get', path: '/api/v1/sessions', status: 200 },
      { method: 'get', path: '/api/v1/sessions?stream=live%2Fdoc', status: 200 },
      { method: 'get', path: '/api/v1/sessions?page=x', status: 400 },
      { method: 'get', path: '/api/v1/sessions', status: 401, token: 'wrong' },
      { method: 'delete', path: '/api/v1/sessions/nope', status: 404 },
      () =>
        Promise.resolve({
          method: 'delete',
          path: `/api/v1/sessions/${viewerSession()}`,
          status: 204,
        }),
      {
        method: 'post',
        path: '/api/v1/tokens',
        status: 201,
        body: { stream: 'live/doc', expiresIn: '1h' },
      },
      { method: 'post', path: '/api/v1/tokens', status: 400, body: { stream: 'x', expiresIn: 1 } },
      { method: 'get', path: '/api/v1/streams/live/doc/keys', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/bad%20name/keys', status: 400 },
      { method: 'post', path: '/api/v1/streams/live/doc/keys', status: 201, body: {} },
      {
        method: 'post',
        path: '/api/v1/streams/live/doc/keys',
        status: 400,
        body: { label: 'x'.repeat(500) },
      },
      async () => ({ method: 'delete', path: `/api/v1/keys/${await keyId()}`, status: 204 }),
      { method: 'delete', path: '/api/v1/keys/nope', status: 404 },
      {
        method: 'put',
        path: '/api/v1/streams/live/other/private',
        status: 200,
        body: { private: true },
      },
      {
        method: 'put',
        path: '/api/v1/streams/live/other/private',
        status: 400,
        body: { private: 'yes' },
      },
      { method: 'get', path: '/api/v1/streams/live/doc/access', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/bad%20name/access', status: 400 },
      {
        method: 'post',
        path: '/api/v1/streams/live/doc/pushes',
        status: 201,
        body: { url: 'rtmp://127.0.0.1:1/live/doc-copy-key' },
      },
      { method: 'get', path: '/api/v1/streams/live/doc/pushes', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/nothing/pushes', status: 404 },
      { method: 'get', path: '/api/v1/streams/live/bad%20name/pushes', status: 400 },
      async () => ({
        method: 'delete',
        path: `/api/v1/streams/live/doc/pushes/${await pushId()}`,
        status: 204,
      }),
      { method: 'delete', path: '/api/v1/streams/live/doc/pushes/p999', status: 404 },
      { method: 'delete', path: '/api/v1/streams/live/bad%20name/pushes/p1', status: 400 },
      {
        method: 'post',
        path: '/api/v1/streams/live/doc/pushes',
        status: 400,
        body: { url: 'http://127.0.0.1/live/x' },
      },
      {
        method: 'post',
        path: '/api/v1/streams/live/nothing/pushes',
        status: 404,
        body: { url: 'rtmp://127.0.0.1:1/live/x' },
      },
      { method: 'get', path: '/api/v1/recordings?stream=live/doc', status: 200 },
      { method: 'get', path: '/api/v1/recordings?from=yesterday', status: 400 },
      { method: 'get', path: '/api/v1/recordings/0123456789abcdef', status: 404 },
      { method: 'delete', path: '/api/v1/recordings/0123456789abcdef', status: 404 },
      { method: 'get', path: '/api/v1/recordings/0123456789abcdef/file', status: 404 },
      { method: 'get', path: '/api/v1/streams/live/doc/abr', status: 404 },
      { method: 'get', path: '/api/v1/streams/live/bad%20name/abr', status: 400 },
      { method: 'get', path: '/api/v1/streams/live/doc/recording', status: 200 },
      { method: 'get', path: '/api/v1/streams/live/bad%20name/recording', status: 400 },
      {
        method: 'put',
        path: '/api/v1/streams/live/other/recording',
        status: 200,
        body: { enabled: false },
      },
      {
        method: 'put',
        path: '/api/v1/streams/live/other/recording',
        status: 400,
        body: { enabled: 'yes' },
      },
      {
        method: 'get',
        path: '/api/v1/streams/live/doc/clip.mp4?from=2026-01-01T00:00:00Z&to=2026-01-01T00:01:00Z',
        status: 404,
      },
      { method: 'get', path: '/api/v1/streams/live/doc/clip.mp4?from=now&to=later', status: 400 },
    ];
    // Every route that needs the token answers 401 without it (/metrics: not from loopback).
    for (const route of API_ROUTES) {
      if (route.public === true || route.path === '/metrics') continue;
      const path = route.path
        .replace('{app}', 'live')
        .replace('{name}', 'doc')
        .replace('{id}', 'x');
      cases.push({ method: route.method, path, status: 401, token: null });
    }
    // QoE beacons beyond analytics.qoeBeaconsPerMinute (60) from one address: 429.
    cases.push(async () => {
      for (let i = 0; i < 60; i++) {
        await call({ method: 'post', path: '/api/v1/qoe', status: 204, token: null, body: beacon });
      }
      return { method: 'post', path: '/api/v1/qoe', status: 429, token: null, body: beacon };
    });
    const covered = new Set<string>();
    for (const entry of cases) {
      const c = typeof entry === 'function' ? await entry() : entry;
      const template = templateOf(c.path, c.method);
      assert.ok(template, `${c.method} ${c.path} is documented`);
      const operation = document.paths[template]?.[c.method];
      assert.ok(operation, `${c.method} ${template} in the document`);
      const response = await call(c);
      const what = `${c.method.toUpperCase()} ${c.path}`;
      const text = await response.text();
      assert.equal(response.status, c.status, `${what}: ${text.slice(0, 300)}`);
      const documented = operation.responses[String(c.status)];
      assert.ok(documented, `${what}: status ${c.status} is documented`);
      covered.add(`${c.method} ${template} ${c.status}`);
      const content = documented.content ?? {};
      const json = content['application/json'];
      const type = response.headers.get('content-type') ?? '';
      if (json !== undefined) {
        assert.match(type, /^application\/json/, what);
        const validate = ajv.compile(json.schema);
        const valid = validate(JSON.parse(text));
        assert.ok(valid, `${what}: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 500)}`);
      } else if (Object.keys(content).length > 0) {
        const [expected = ''] = Object.keys(content);
        assert.ok(type.startsWith(expected), `${what}: ${type} is ${expected}`);
      } else {
        assert.equal(text.slice(0, 200), '', `${what}: no body`);
      }
    }
    // Checked elsewhere: /api/v1/events (SSE) below, analytics off below, 403 (api.allowFrom)
    // in api.test.ts, /metrics 401 (loopback is always allowed here), 409/503 limits.
    const elsewhere = ['get /metrics 401', 'get /api/v1/streams/{app}/{name}/history 404'];
    // Answers about recordings that exist: test/e2e/recording.test.ts reads each of them.
    elsewhere.push(
      'get /api/v1/recordings/{id} 200',
      'delete /api/v1/recordings/{id} 204',
      'get /api/v1/recordings/{id}/file 200',
      'get /api/v1/streams/{app}/{name}/clip.mp4 200',
    );
    elsewhere.push('get /api/v1/analytics/summary 404');
    // A stream with an ABR ladder: test/e2e/abr.test.ts reads it.
    elsewhere.push('get /api/v1/streams/{app}/{name}/abr 200');
    const untested = API_ROUTES.flatMap((route) =>
      Object.keys(route.responses)
        .filter((status) => !['403', '409', '503'].includes(status))
        .map((status) => `${route.method} ${route.path} ${status}`),
    ).filter(
      (key) =>
        !covered.has(key) && !elsewhere.includes(key) && !key.startsWith('get /api/v1/events'),
    );
    assert.deepEqual(untested, [], 'every documented route and status is called');
  });

  test('/api/v1/events sends a snapshot a second with the live stream, valid against the schema', async () => {
    const controller = new AbortController();
    const response = await fetch(server.httpUrl('api/v1/events'), {
      headers: { Authorization: `Bearer ${server.onair.apiToken.value}` },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let text = '';
    const deadline = Date.now() + 5000;
    while ((text.match(/event: snapshot/g) ?? []).length < 2 && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    controller.abort();
    const events = text.split('\n\n').filter((block) => block.includes('event: snapshot'));
    assert.ok(events.length >= 2, text.slice(0, 500));
    const data = JSON.parse(events[1]?.split('data: ')[1] ?? '{}') as {
      streams: { path: string; live: boolean }[];
      server: { version: string };
    };
    assert.deepEqual(
      data.streams.map((s) => [s.path, s.live]),
      [['live/doc', true]],
    );
    assert.equal(typeof data.server.version, 'string');
  });

  test('with analytics off, history and summary answer 404 (documented)', async () => {
    const plain = await startServer({ analytics: { enabled: false } });
    try {
      for (const path of ['api/v1/streams/live/doc/history', 'api/v1/analytics/summary']) {
        const response = await fetch(plain.httpUrl(path), {
          headers: { Authorization: `Bearer ${plain.onair.apiToken.value}` },
        });
        assert.equal(response.status, 404, path);
        assert.equal(((await response.json()) as { error: string }).error, 'analytics-off');
      }
    } finally {
      await plain.stop();
    }
  });
});
