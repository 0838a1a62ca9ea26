// Tests of the admin API: address and bearer-token gate, no CORS, every route and status, key
// revocation closing the publisher, and one mount on a real node:http server.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import ipaddr from 'ipaddr.js';
import { smallFilesystem } from '../../test/support/small-filesystem.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { AccessStore, MAX_KEYS } from '../access/access-store.ts';
import { SessionRegistry, type SessionSpec } from '../hub/session-registry.ts';
import { checkStreamPath } from '../hub/stream-path.ts';
import { createLogger } from '../log/logger.ts';
import { MAX_TOKEN_LIFETIME_S, createApiApp, type ApiDeps } from './api-app.ts';

const TOKEN = 'api-token-for-tests-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const LOCAL = '127.0.0.1';

/** A test's API with its collaborators, and the log lines written. */
interface Harness {
  readonly app: FastifyInstance;
  readonly sessions: SessionRegistry;
  readonly store: AccessStore;
  readonly signed: Parameters<ApiDeps['signToken']>[0][];
  readonly logs: string[];
  /** Injects a request from 127.0.0.1 with the right token unless told otherwise. */
  readonly call: (options: InjectOptions) => Promise<LightMyRequestResponse>;
}

/** A toy duration parser for the tests: `<n>s|m|h|d|y`. */
function parseDuration(text: string): number | null {
  const match = /^(\d+)([smhdy])$/.exec(text);
  if (match === null) return null;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400, y: 365 * 86_400 }[match[2] as 's'];
  return Number(match[1]) * unit;
}

function isValidCidr(text: string): boolean {
  try {
    if (text.includes('/')) ipaddr.parseCIDR(text);
    else ipaddr.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Builds the API over a real SessionRegistry and AccessStore in a temporary directory. */
async function harness(
  t: TestContext,
  overrides: Partial<ApiDeps> = {},
  storeFile?: string,
): Promise<Harness> {
  const dir = tempDir(t, 'onair-api-');
  const sessions = new SessionRegistry();
  const store = AccessStore.open(storeFile ?? join(dir, 'access.json'));
  const signed: Parameters<ApiDeps['signToken']>[0][] = [];
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const configPrivate = new Set(['live/config-private']);
  const app = await createApiApp({
    token: TOKEN,
    isAllowedAddress: (ip) => ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1',
    sessions,
    store,
    isPrivate: (path) => store.privateFlag(path) ?? configPrivate.has(path),
    checkStreamPath,
    parseDuration,
    signToken: (o) => {
      signed.push(o);
      return `signed+${o.purpose}/${o.path}=${o.expiresAtS}`;
    },
    isValidCidr,
    logger: createLogger({ level: 'debug', format: 'json', destination }),
    ...overrides,
  });
  t.after(() => app.close());
  const call = (options: InjectOptions) =>
    app.inject({ remoteAddress: LOCAL, ...options, headers: { ...AUTH, ...options.headers } });
  return { app, sessions, store, signed, logs, call };
}

/** The parsed JSON body of a response. */
function json(response: LightMyRequestResponse): Record<string, unknown> {
  return response.json<Record<string, unknown>>();
}

/** Asserts an error response: status, `error` code, JSON, no-store, no CORS header. */
function assertError(response: LightMyRequestResponse, status: number, code: string): string {
  assert.equal(response.statusCode, status, response.body);
  assert.match(String(response.headers['content-type']), /^application\/json/);
  assert.equal(response.headers['cache-control'], 'no-store');
  assertNoCors(response);
  const body = json(response);
  assert.equal(body.error, code);
  assert.equal(typeof body.message, 'string');
  return body.message as string;
}

function assertNoCors(response: LightMyRequestResponse): void {
  const cors = Object.keys(response.headers).filter((name) =>
    name.toLowerCase().startsWith('access-control-'),
  );
  assert.deepEqual(cors, []);
}

/** A session spec whose close() calls are recorded. */
function spec(
  role: SessionSpec['role'],
  path: string,
  closes: string[],
  bytes?: number,
): SessionSpec {
  return {
    role,
    protocol: role === 'publisher' ? 'rtmp' : 'http-flv',
    path,
    ip: '192.0.2.10',
    close: (reason) => closes.push(reason),
    ...(bytes === undefined ? {} : { bytes: () => bytes }),
  };
}

void test('a request without a token, with a wrong one or one of another length gets 401', async (t) => {
  const { app } = await harness(t);
  const wrongSameLength = 'x'.repeat(TOKEN.length);
  const cases: readonly (readonly [string, Record<string, string>])[] = [
    ['no header', {}],
    ['a wrong token of the same length', { authorization: `Bearer ${wrongSameLength}` }],
    ['a shorter token', { authorization: `Bearer ${TOKEN.slice(0, 10)}` }],
    ['a longer token', { authorization: `Bearer ${TOKEN}${TOKEN}` }],
    ['the token as Basic', { authorization: `Basic ${TOKEN}` }],
    ['the token without a scheme', { authorization: TOKEN }],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['the token plus junk', { authorization: `Bearer ${TOKEN} x` }],
  ];
  for (const [name, headers] of cases) {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/sessions',
      remoteAddress: LOCAL,
      headers,
    });
    assertError(response, 401, 'unauthorized');
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="onair"', name);
  }
  const ok = await app.inject({
    method: 'GET',
    url: '/api/v1/sessions',
    remoteAddress: LOCAL,
    headers: { authorization: `bearer ${TOKEN}` },
  });
  assert.equal(ok.statusCode, 200, 'the scheme is case-insensitive');
});

void test('an address outside api.allowFrom gets 403 before the token is looked at', async (t) => {
  const { app, call } = await harness(t);
  for (const headers of [AUTH, {}]) {
    const response = await app.inject({
      method: 'GET',
      url: '/api/v1/sessions',
      remoteAddress: '203.0.113.9',
      headers,
    });
    const message = assertError(response, 403, 'forbidden');
    assert.equal(message, 'the API answers only configured addresses (api.allowFrom)');
    assert.equal(response.headers['www-authenticate'], undefined);
  }
  assert.equal(
    (await call({ method: 'GET', url: '/api/v1/sessions', remoteAddress: '::1' })).statusCode,
    200,
  );
});

void test('no CORS header on any answer, including preflights and an Origin from elsewhere', async (t) => {
  const { app, call } = await harness(t);
  const origin = { origin: 'https://evil.example' };
  const preflight = {
    ...origin,
    'access-control-request-method': 'DELETE',
    'access-control-request-headers': 'authorization',
  };
  const ok = await call({ method: 'GET', url: '/api/v1/sessions', headers: origin });
  assert.equal(ok.statusCode, 200);
  assertNoCors(ok);
  assert.equal(ok.headers['cache-control'], 'no-store');

  assertError(
    await app.inject({
      method: 'GET',
      url: '/api/v1/sessions',
      remoteAddress: LOCAL,
      headers: origin,
    }),
    401,
    'unauthorized',
  );
  assertError(
    await app.inject({
      method: 'OPTIONS',
      url: '/api/v1/sessions',
      remoteAddress: LOCAL,
      headers: preflight,
    }),
    401,
    'unauthorized',
  );
  assertError(
    await app.inject({
      method: 'OPTIONS',
      url: '/api/v1/keys/0011223344556677',
      remoteAddress: '198.51.100.1',
      headers: preflight,
    }),
    403,
    'forbidden',
  );
  assertError(
    await call({ method: 'OPTIONS', url: '/api/v1/sessions', headers: preflight }),
    404,
    'not-found',
  );
  assertError(
    await call({ method: 'DELETE', url: '/api/v1/sessions/nope', headers: origin }),
    404,
    'not-found',
  );
});

void test('unknown /api routes are 404 JSON, and 401 without the token', async (t) => {
  const { app, call } = await harness(t);
  assertError(await call({ method: 'GET', url: '/api/v1/nothing' }), 404, 'not-found');
  assertError(await call({ method: 'GET', url: '/api/' }), 404, 'not-found');
  assertError(await call({ method: 'PATCH', url: '/api/v1/sessions' }), 404, 'not-found');
  assertError(
    await app.inject({ method: 'GET', url: '/api/v1/nothing', remoteAddress: LOCAL }),
    401,
    'unauthorized',
  );
});

void test('a malformed URL is checked like any request, then answered 400', async (t) => {
  const { app, call } = await harness(t);
  assertError(
    await app.inject({ method: 'DELETE', url: '/api/v1/keys/%zz', remoteAddress: LOCAL }),
    401,
    'unauthorized',
  );
  assertError(
    await app.inject({
      method: 'DELETE',
      url: '/api/v1/keys/%zz',
      remoteAddress: '203.0.113.9',
      headers: AUTH,
    }),
    403,
    'forbidden',
  );
  assertError(await call({ method: 'DELETE', url: '/api/v1/keys/%zz' }), 400, 'bad-request');
});

void test('createApiApp() refuses an empty token', async () => {
  await assert.rejects(
    createApiApp({
      token: '',
      isAllowedAddress: () => true,
      sessions: new SessionRegistry(),
      store: AccessStore.open(join(tmpdir(), 'onair-never-written.json')),
      isPrivate: () => false,
      checkStreamPath,
      parseDuration,
      signToken: () => 'x',
      isValidCidr,
      logger: createLogger({ level: 'silent', format: 'json' }),
    }),
    /non-empty token/,
  );
});

void test('GET /api/v1/sessions lists sessions by page', async (t) => {
  const { sessions, call } = await harness(t);
  const closes: string[] = [];
  const publisher = sessions.add(spec('publisher', 'live/cam1', closes, 1234));
  const viewer1 = sessions.add(spec('viewer', 'live/cam1', closes));
  const viewer2 = sessions.add(spec('viewer', 'live/cam1', closes, 99));

  const all = await call({ method: 'GET', url: '/api/v1/sessions' });
  assert.equal(all.statusCode, 200);
  assert.equal(all.headers['cache-control'], 'no-store');
  assert.deepEqual(all.json(), {
    items: [
      {
        id: publisher.id,
        role: 'publisher',
        protocol: 'rtmp',
        stream: 'live/cam1',
        ip: '192.0.2.10',
        since: new Date(publisher.since).toISOString(),
        bytes: 1234,
        droppedFrames: null,
        queueDepth: null,
        transport: null,
        userAgent: null,
      },
      {
        id: viewer1.id,
        role: 'viewer',
        protocol: 'http-flv',
        stream: 'live/cam1',
        ip: '192.0.2.10',
        since: new Date(viewer1.since).toISOString(),
        bytes: null,
        droppedFrames: null,
        queueDepth: null,
        transport: null,
        userAgent: null,
      },
      {
        id: viewer2.id,
        role: 'viewer',
        protocol: 'http-flv',
        stream: 'live/cam1',
        ip: '192.0.2.10',
        since: new Date(viewer2.since).toISOString(),
        bytes: 99,
        droppedFrames: null,
        queueDepth: null,
        transport: null,
        userAgent: null,
      },
    ],
    page: 0,
    itemsPerPage: 100,
    total: 3,
  });

  const page1 = json(await call({ method: 'GET', url: '/api/v1/sessions?page=1&itemsPerPage=2' }));
  assert.deepEqual(
    (page1.items as { id: string }[]).map((item) => item.id),
    [viewer2.id],
  );
  assert.deepEqual([page1.page, page1.itemsPerPage, page1.total], [1, 2, 3]);
  const beyond = json(
    await call({ method: 'GET', url: '/api/v1/sessions?page=5&itemsPerPage=1000' }),
  );
  assert.deepEqual(beyond.items, []);

  for (const [query, field] of [
    ['itemsPerPage=0', 'itemsPerPage'],
    ['itemsPerPage=1001', 'itemsPerPage'],
    ['itemsPerPage=abc', 'itemsPerPage'],
    ['page=-1', 'page'],
    ['page=1.5', 'page'],
    ['page=1&page=2', 'page'],
  ] as const) {
    const message = assertError(
      await call({ method: 'GET', url: `/api/v1/sessions?${query}` }),
      400,
      'bad-request',
    );
    assert.ok(message.startsWith(`${field}:`), message);
  }
});

void test('DELETE /api/v1/sessions/:id kicks the session (204), and is 404 for an unknown id', async (t) => {
  const { sessions, call, logs } = await harness(t);
  const closes: string[] = [];
  const viewer = sessions.add(spec('viewer', 'live/cam1', closes));
  const response = await call({ method: 'DELETE', url: `/api/v1/sessions/${viewer.id}` });
  assert.equal(response.statusCode, 204);
  assert.equal(response.body, '');
  assert.equal(response.headers['cache-control'], 'no-store');
  assert.deepEqual(closes, ['kicked by the API']);
  assert.ok(
    logs.some((line) => line.includes('session kicked by the API') && line.includes(viewer.id)),
  );

  sessions.remove(viewer);
  assertError(
    await call({ method: 'DELETE', url: `/api/v1/sessions/${viewer.id}` }),
    404,
    'not-found',
  );
  assertError(
    await call({ method: 'DELETE', url: '/api/v1/sessions/000000000000' }),
    404,
    'not-found',
  );
});

void test('POST /api/v1/tokens signs a token for a duration text or a number of seconds', async (t) => {
  const { call, signed } = await harness(t);
  const before = Math.floor(Date.now() / 1000);
  const response = await call({
    method: 'POST',
    url: '/api/v1/tokens',
    payload: { stream: 'live/cam1', expiresIn: '2h' },
  });
  const after = Math.floor(Date.now() / 1000);
  assert.equal(response.statusCode, 201, response.body);
  assert.equal(response.headers['cache-control'], 'no-store');
  const body = json(response);
  const call0 = signed[0]!;
  assert.equal(call0.purpose, 'play');
  assert.equal(call0.path, 'live/cam1');
  assert.equal(call0.cidr, undefined);
  assert.ok(!('cidr' in call0));
  assert.ok(call0.expiresAtS >= before + 7200 && call0.expiresAtS <= after + 7200);
  const token = `signed+play/live/cam1=${call0.expiresAtS}`;
  assert.deepEqual(body, {
    token,
    stream: 'live/cam1',
    purpose: 'play',
    expiresAt: new Date(call0.expiresAtS * 1000).toISOString(),
    query: `token=${encodeURIComponent(token)}`,
  });
  assert.equal(body.query, `token=signed%2Bplay%2Flive%2Fcam1%3D${call0.expiresAtS}`);

  const publish = await call({
    method: 'POST',
    url: '/api/v1/tokens',
    payload: { stream: 'app/sub/name', expiresIn: 7200, ip: '203.0.113.0/24', purpose: 'publish' },
  });
  assert.equal(publish.statusCode, 201, publish.body);
  assert.equal(json(publish).purpose, 'publish');
  assert.deepEqual(
    { ...signed[1]!, expiresAtS: 0 },
    {
      purpose: 'publish',
      path: 'app/sub/name',
      expiresAtS: 0,
      cidr: '203.0.113.0/24',
    },
  );
  const year = await call({
    method: 'POST',
    url: '/api/v1/tokens',
    payload: { stream: 'live/cam1', expiresIn: MAX_TOKEN_LIFETIME_S },
  });
  assert.equal(year.statusCode, 201);
});

void test('POST /api/v1/tokens answers 400 naming the field at fault', async (t) => {
  const { call, signed } = await harness(t);
  const cases: readonly (readonly [unknown, string])[] = [
    [{ expiresIn: '2h' }, 'stream'],
    [{ stream: 'cam1', expiresIn: '2h' }, 'stream'],
    [{ stream: 'live/../x', expiresIn: '2h' }, 'stream'],
    [{ stream: 42, expiresIn: '2h' }, 'stream'],
    [{ stream: 'live/cam1' }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: 'forever' }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: '2y' }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: 0 }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: -5 }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: 1.5 }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: MAX_TOKEN_LIFETIME_S + 1 }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: true }, 'expiresIn'],
    [{ stream: 'live/cam1', expiresIn: '2h', ip: 'not-an-ip' }, 'ip'],
    [{ stream: 'live/cam1', expiresIn: '2h', ip: '10.0.0.0/99' }, 'ip'],
    [{ stream: 'live/cam1', expiresIn: '2h', purpose: 'admin' }, 'purpose'],
    [{ stream: 'live/cam1', expiresIn: '2h', extra: 1 }, 'extra'],
    [[], 'body'],
  ];
  for (const [payload, field] of cases) {
    const response = await call({
      method: 'POST',
      url: '/api/v1/tokens',
      payload: payload as object,
    });
    const message = assertError(response, 400, 'bad-request');
    assert.ok(message.startsWith(`${field}:`), `${JSON.stringify(payload)} -> ${message}`);
  }
  assertError(await call({ method: 'POST', url: '/api/v1/tokens' }), 400, 'bad-request');
  assertError(
    await call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { 'content-type': 'application/json' },
      payload: '{"stream":',
    }),
    400,
    'bad-request',
  );
  assertError(
    await call({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { 'content-type': 'text/plain' },
      payload: 'stream=live/cam1',
    }),
    415,
    'unsupported-media-type',
  );
  assertError(
    await call({
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { stream: 'live/cam1', expiresIn: '2h', pad: 'x'.repeat(16 * 1024) },
    }),
    413,
    'payload-too-large',
  );
  assert.equal(signed.length, 0);
});

void test('a failing dependency is a 500 that names nothing internal', async (t) => {
  const { call, logs } = await harness(t, {
    signToken: () => {
      throw new Error('boom inside the signer');
    },
  });
  const message = assertError(
    await call({
      method: 'POST',
      url: '/api/v1/tokens',
      payload: { stream: 'live/cam1', expiresIn: 60 },
    }),
    500,
    'internal',
  );
  assert.ok(!message.includes('boom'));
  assert.ok(logs.some((line) => line.includes('boom inside the signer')));
});

void test('publish keys: create (shown once), list, match, revoke closes the publisher', async (t) => {
  const { sessions, store, call, logs } = await harness(t);
  assert.deepEqual(json(await call({ method: 'GET', url: '/api/v1/streams/live/cam1/keys' })), {
    items: [],
  });

  const response = await call({
    method: 'POST',
    url: '/api/v1/streams/live/cam1/keys',
    payload: { label: 'OBS in studio 2' },
  });
  assert.equal(response.statusCode, 201, response.body);
  assert.equal(response.headers['cache-control'], 'no-store');
  const created = json(response) as {
    id: string;
    key: string;
    path: string;
    createdAt: string;
    label: string;
  };
  assert.equal(created.path, 'live/cam1');
  assert.equal(created.label, 'OBS in studio 2');
  assert.match(created.key, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(store.matchKey('live/cam1', created.key), true);

  const unlabelled = await call({ method: 'POST', url: '/api/v1/streams/live/cam1/keys' });
  assert.equal(unlabelled.statusCode, 201, unlabelled.body);
  assert.equal(json(unlabelled).label, undefined);

  const listed = await call({ method: 'GET', url: '/api/v1/streams/live/cam1/keys' });
  assert.equal(listed.statusCode, 200);
  const items = json(listed).items as Record<string, unknown>[];
  assert.equal(items.length, 2);
  assert.deepEqual(items[0], {
    id: created.id,
    path: 'live/cam1',
    createdAt: created.createdAt,
    label: 'OBS in studio 2',
  });
  assert.ok(!listed.body.includes(created.key), 'a listed key never shows its value');
  assert.deepEqual(json(await call({ method: 'GET', url: '/api/v1/streams/live/cam2/keys' })), {
    items: [],
  });

  const publisherCloses: string[] = [];
  const otherCloses: string[] = [];
  sessions.add(spec('publisher', 'live/cam1', publisherCloses));
  sessions.add(spec('viewer', 'live/cam1', otherCloses));
  sessions.add(spec('publisher', 'live/cam2', otherCloses));

  const revoked = await call({ method: 'DELETE', url: `/api/v1/keys/${created.id}` });
  assert.equal(revoked.statusCode, 204);
  assert.deepEqual(publisherCloses, ['publish key revoked']);
  assert.deepEqual(otherCloses, []);
  assert.equal(store.matchKey('live/cam1', created.key), false);
  assertError(
    await call({ method: 'DELETE', url: `/api/v1/keys/${created.id}` }),
    404,
    'not-found',
  );
  assertError(await call({ method: 'DELETE', url: '/api/v1/keys/not-an-id' }), 404, 'not-found');

  const all = logs.join('');
  assert.ok(all.includes('publish key created') && all.includes('publish key revoked'));
  assert.ok(!all.includes(created.key), 'the key is never logged');
  assert.ok(!all.includes(TOKEN), 'the API token is never logged');
});

void test('publish keys: bad labels and bad stream paths are 400', async (t) => {
  const { call, store } = await harness(t);
  const bad: readonly (readonly [string, unknown, string])[] = [
    ['/api/v1/streams/live/cam1/keys', { label: 'x'.repeat(101) }, 'label'],
    ['/api/v1/streams/live/cam1/keys', { label: 'two\nlines' }, 'label'],
    ['/api/v1/streams/live/cam1/keys', { label: 7 }, 'label'],
    ['/api/v1/streams/live/cam1/keys', { name: 'x' }, 'name'],
    ['/api/v1/streams/live/cam%201/keys', {}, 'stream'],
    ['/api/v1/streams/live/..%2F..%2Fetc/keys', {}, 'stream'],
    ['/api/v1/streams/live/..%2Fx/keys', {}, 'stream'],
    [`/api/v1/streams/live/${'s'.repeat(129)}/keys`, {}, 'stream'],
  ];
  for (const [url, payload, field] of bad) {
    const message = assertError(
      await call({ method: 'POST', url, payload: payload as object }),
      400,
      'bad-request',
    );
    assert.ok(message.startsWith(`${field}:`), `${url} -> ${message}`);
  }
  assertError(
    await call({ method: 'GET', url: '/api/v1/streams/live/cam%201/keys' }),
    400,
    'bad-request',
  );
  assert.deepEqual(store.listKeys(), []);
  // A percent-encoded slash reaches a stream path of three segments.
  const deep = await call({ method: 'POST', url: '/api/v1/streams/app%2Fsub/name/keys' });
  assert.equal(deep.statusCode, 201, deep.body);
  assert.equal(json(deep).path, 'app/sub/name');
});

void test('creating a key past the store bound is 409', async (t) => {
  const dir = tempDir(t, 'onair-api-full-');
  const file = join(dir, 'access.json');
  const keys = Array.from({ length: MAX_KEYS }, (_, i) => ({
    id: i.toString(16).padStart(16, '0'),
    path: 'live/cam1',
    hash: '0'.repeat(64),
    createdAt: '2024-01-01T00:00:00.000Z',
  }));
  writeFileSync(file, JSON.stringify({ version: 1, keys, private: {} }));
  const { call } = await harness(t, {}, file);
  assertError(
    await call({ method: 'POST', url: '/api/v1/streams/live/cam2/keys' }),
    409,
    'limit-reached',
  );
});

void test('PUT .../private sets the flag; GET .../access reports it with the key count', async (t) => {
  const { call, store } = await harness(t);
  assert.deepEqual(json(await call({ method: 'GET', url: '/api/v1/streams/live/cam1/access' })), {
    stream: 'live/cam1',
    private: false,
    keys: 0,
  });
  const set = await call({
    method: 'PUT',
    url: '/api/v1/streams/live/cam1/private',
    payload: { private: true },
  });
  assert.equal(set.statusCode, 200);
  assert.equal(set.headers['cache-control'], 'no-store');
  assert.deepEqual(set.json(), { stream: 'live/cam1', private: true });
  assert.equal(store.privateFlag('live/cam1'), true);
  await call({ method: 'POST', url: '/api/v1/streams/live/cam1/keys' });
  assert.deepEqual(json(await call({ method: 'GET', url: '/api/v1/streams/live/cam1/access' })), {
    stream: 'live/cam1',
    private: true,
    keys: 1,
  });

  // The config says private; the API overrides it.
  assert.equal(
    json(await call({ method: 'GET', url: '/api/v1/streams/live/config-private/access' })).private,
    true,
  );
  const unset = await call({
    method: 'PUT',
    url: '/api/v1/streams/live/config-private/private',
    payload: { private: false },
  });
  assert.deepEqual(unset.json(), { stream: 'live/config-private', private: false });

  for (const payload of [{ private: 'yes' }, {}, { private: true, also: 1 }]) {
    assertError(
      await call({ method: 'PUT', url: '/api/v1/streams/live/cam1/private', payload }),
      400,
      'bad-request',
    );
  }
  assertError(
    await call({ method: 'PUT', url: '/api/v1/streams/live/cam1/private' }),
    400,
    'bad-request',
  );
  assertError(
    await call({
      method: 'PUT',
      url: '/api/v1/streams/live/cam%201/private',
      payload: { private: true },
    }),
    400,
    'bad-request',
  );
  assertError(
    await call({ method: 'GET', url: '/api/v1/streams/live/cam%201/access' }),
    400,
    'bad-request',
  );
  assert.equal(store.privateFlag('live/cam1'), true);
});

void test('mounted on a real node:http server through routing(), the API answers fetch()', async (t) => {
  const { app, store } = await harness(t);
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/api/') === true) {
      app.routing(req, res);
      return;
    }
    res.writeHead(404, { 'access-control-allow-origin': '*' }).end('not the API\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const signal = AbortSignal.timeout(5000);

  const refused = await fetch(`${base}/api/v1/sessions`, {
    signal,
    headers: { origin: 'https://evil.example' },
  });
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="onair"');
  assert.equal(refused.headers.get('access-control-allow-origin'), null);
  assert.deepEqual(((await refused.json()) as { error: string }).error, 'unauthorized');

  const created = await fetch(`${base}/api/v1/streams/live/cam1/keys`, {
    signal,
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ label: 'over http' }),
  });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const key = (await created.json()) as { id: string; key: string };
  assert.equal(store.matchKey('live/cam1', key.key), true);

  const revoked = await fetch(`${base}/api/v1/keys/${key.id}`, {
    signal,
    method: 'DELETE',
    headers: AUTH,
  });
  assert.equal(revoked.status, 204);
  assert.equal(store.matchKey('live/cam1', key.key), false);

  const sessions = await fetch(`${base}/api/v1/sessions`, { signal, headers: AUTH });
  assert.equal(sessions.status, 200);
  assert.deepEqual(await sessions.json(), { items: [], page: 0, itemsPerPage: 100, total: 0 });

  const other = await fetch(`${base}/watch/live/cam1`, { signal });
  assert.equal(other.status, 404);
  await other.text();
});

test('GET /api/v1/sessions?stream= lists only that stream', async (t) => {
  const { sessions, call } = await harness(t);
  const closes: string[] = [];
  const a = sessions.add(spec('viewer', 'live/a', closes));
  sessions.add(spec('viewer', 'live/b', closes));
  const publisher = sessions.add(spec('publisher', 'live/a', closes));
  const listed = json(await call({ method: 'GET', url: '/api/v1/sessions?stream=live%2Fa' }));
  assert.deepEqual(
    (listed.items as { id: string }[]).map((item) => item.id),
    [a.id, publisher.id],
  );
  assert.equal(listed.total, 2);
});

void test('on a full disk, creating a key or setting a flag is a logged 500 and changes nothing', async (t) => {
  const disk = smallFilesystem(t, 256);
  const file = join(disk.dir, 'access.json');
  const store = AccessStore.open(file, { io: disk.io });
  const { call, logs } = await harness(t, { store });
  for (let i = 0; i < 40; i++) store.createKey(`live/cam${i}`, 'x'.repeat(100));
  const before = readFileSync(file, 'utf8');
  disk.fill(4096);
  assertError(
    await call({ method: 'POST', url: '/api/v1/streams/live/cam1/keys' }),
    500,
    'internal',
  );
  assertError(
    await call({
      method: 'PUT',
      url: '/api/v1/streams/live/cam1/private',
      payload: { private: true },
    }),
    500,
    'internal',
  );
  assert.ok(
    logs.some((line) => line.includes('API route failed') && line.includes('ENOSPC')),
    'the failure is logged with its cause',
  );
  assert.equal(readFileSync(file, 'utf8'), before);
  const listed = json(await call({ method: 'GET', url: '/api/v1/streams/live/cam1/keys' }));
  assert.equal((listed.items as unknown[]).length, 1);
  assert.equal(store.privateFlag('live/cam1'), undefined);
  disk.free();
  const created = await call({ method: 'POST', url: '/api/v1/streams/live/cam1/keys' });
  assert.equal(created.statusCode, 201, created.body);
});
