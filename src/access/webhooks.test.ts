// Tests of the webhook client against real node:http receivers on 127.0.0.1, and of the
// signature and query-masking helpers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { maskQuery } from './hook-messages.ts';
import { signWebhook, verifyWebhookSignature } from './webhook-signature.ts';
import { MAX_HOOK_BODY_BYTES, WebhookClient } from './webhooks.ts';
import type { HookAction, HookAttemptResult, HookEvent, WebhookClientOptions } from './webhooks.ts';

const SECRET = 'whsec_0123456789abcdef';

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  readonly server: Server;
  close(): Promise<void>;
}

/** Starts a receiver on 127.0.0.1; `answer` gets each request once its body is read. */
async function startReceiver(
  answer: (res: ServerResponse, received: Received, index: number) => void,
): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const entry = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(entry);
      answer(res, entry, received.length - 1);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A receiver answering every request with `status` and `body`. */
function answering(status: number, body = '', headers: Record<string, string> = {}) {
  return startReceiver((res) => {
    res.writeHead(status, headers);
    res.end(body);
  });
}

/** A receiver that reads requests and never answers. */
function hanging() {
  return startReceiver(() => undefined);
}

/** A client for one receiver URL on every action. */
function clientFor(url: string, options: Partial<WebhookClientOptions> = {}): WebhookClient {
  return new WebhookClient({
    urls: { on_publish: url, on_unpublish: url, on_play: url, on_stop: url },
    secret: SECRET,
    timeoutMs: 2000,
    failOpen: false,
    retries: 0,
    ...options,
  });
}

const publish: HookEvent = {
  action: 'on_publish',
  id: 'sess-1',
  stream: 'live/cam1',
  protocol: 'rtmp',
  ip: '203.0.113.7',
  query: '?key=secret123&x=1',
};

/** Runs `body` with a receiver and a client, closing both afterwards. */
async function withHook(
  receiver: Promise<Receiver>,
  options: Partial<WebhookClientOptions>,
  body: (client: WebhookClient, receiver: Receiver) => Promise<void>,
): Promise<void> {
  const started = await receiver;
  const client = clientFor(started.url, options);
  try {
    await body(client, started);
  } finally {
    client.close();
    await started.close();
  }
}

/** Polls until `condition` holds (bounded: fails after 5 s). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  return port;
}

const allowingAnswers: readonly (readonly [string, number, string])[] = [
  ['200 with an empty body', 200, ''],
  ['204', 204, ''],
  ['200 with 0', 200, '0\n'],
  ['200 with {"code":0}', 200, '{"code":0,"data":null}'],
  ['200 with {"allowed":true}', 200, '{"allowed":true}'],
  ['200 with a non-JSON body (nginx-rtmp: any 2xx allows)', 200, '<html>ok</html>'],
  ['200 with broken JSON', 200, '{"code":'],
];

for (const [what, status, body] of allowingAnswers) {
  test(`decide() allows on ${what}`, { timeout: 10_000 }, async () => {
    await withHook(answering(status, body), {}, async (client) => {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, true, decision.reason);
      assert.equal(decision.status, status);
      assert.equal(decision.reason, 'allowed by hook');
      assert.ok(decision.durationMs >= 0);
    });
  });
}

const denyingAnswers: readonly (readonly [string, number, string, string | RegExp])[] = [
  ['200 with {"code":1}', 200, '{"code":1}', 'hook answered code 1'],
  ['200 with {"code":"1"}', 200, '{"code":"1"}', 'hook answered code not 0'],
  ['200 with {"code":403,"reason":"no key"}', 200, '{"code":403,"reason":"no key"}', 'no key'],
  [
    '200 with {"allowed":false,"reason":"banned"}',
    200,
    '{"allowed":false,"reason":"banned"}',
    'banned',
  ],
  ['200 with {"allowed":false}', 200, '{"allowed":false}', 'denied by hook'],
  ['200 with {"code":0,"allowed":false}', 200, '{"code":0,"allowed":false}', 'denied by hook'],
  ['403', 403, '', 'hook answered 403'],
  ['401 with {"code":0}', 401, '{"code":0}', 'hook answered 401'],
  ['500', 500, 'oops', 'hook answered 500'],
];

for (const [what, status, body, reason] of denyingAnswers) {
  test(`decide() denies on ${what}`, { timeout: 10_000 }, async () => {
    // failOpen true: a clear answer denies whatever failOpen says.
    await withHook(answering(status, body), { failOpen: true }, async (client) => {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, false);
      assert.equal(decision.status, status);
      if (typeof reason === 'string') assert.equal(decision.reason, reason);
      else assert.match(decision.reason, reason);
    });
  });
}

test('decide() strips control characters from a reason and keeps 200 characters', async () => {
  const reason = `bad\u0000\r\nX-Injected: 1\u202e${'x'.repeat(300)}`;
  const body = JSON.stringify({ allowed: false, reason });
  await withHook(answering(200, body), {}, async (client) => {
    const decision = await client.decide(publish);
    assert.equal(decision.allowed, false);
    assert.equal(decision.reason.length, 200);
    assert.ok(decision.reason.startsWith('badX-Injected: 1xxx'), decision.reason);
    assert.doesNotMatch(decision.reason, /[\p{Cc}\p{Cf}]/u);
  });
});

test('the receiver verifies the signature over the raw body and sees the fields', async () => {
  await withHook(answering(200), {}, async (client, receiver) => {
    const before = Date.now();
    await client.decide(publish);
    const [request] = receiver.received;
    assert.ok(request);
    const header = request.headers['x-onair-signature'];
    assert.equal(typeof header, 'string');
    const nowS = Math.floor(Date.now() / 1000);
    assert.equal(verifyWebhookSignature(SECRET, String(header), request.body, nowS), true);
    assert.equal(
      verifyWebhookSignature('another-secret-xyz', String(header), request.body, nowS),
      false,
    );
    assert.equal(verifyWebhookSignature(SECRET, String(header), `${request.body} `, nowS), false);
    assert.equal(verifyWebhookSignature(SECRET, String(header), request.body, nowS + 301), false);
    assert.equal(request.headers['content-type'], 'application/json');
    assert.equal(request.headers['x-onair-event'], 'on_publish');
    assert.equal(request.headers['user-agent'], 'onair-webhooks');
    assert.equal(request.body.includes('secret123'), false);
    const fields = JSON.parse(request.body) as Record<string, unknown>;
    assert.deepEqual(
      { ...fields, time: undefined },
      {
        action: 'on_publish',
        id: 'sess-1',
        stream: 'live/cam1',
        app: 'live',
        name: 'cam1',
        protocol: 'rtmp',
        ip: '203.0.113.7',
        param: '?key=***&x=1',
        time: undefined,
      },
    );
    const time = Date.parse(String(fields.time));
    assert.ok(time >= before - 1000 && time <= Date.now() + 1000, String(fields.time));
    assert.equal(new Date(time).toISOString(), fields.time);
  });
});

test('a notification body carries durationS, bytes and reason; app keeps inner slashes', async () => {
  await withHook(answering(200), {}, async (client, receiver) => {
    client.notify({
      action: 'on_stop',
      id: 'v-9',
      stream: 'app/sub/name',
      protocol: 'http-flv',
      ip: '::1',
      query: 'token=abc',
      durationS: 12.5,
      bytes: 1234,
      reason: 'client closed',
    });
    await until(() => client.pending === 0, 'the notification');
    const [request] = receiver.received;
    assert.ok(request);
    const fields = JSON.parse(request.body) as Record<string, unknown>;
    assert.equal(fields.action, 'on_stop');
    assert.equal(fields.app, 'app/sub');
    assert.equal(fields.name, 'name');
    assert.equal(fields.param, '?token=***');
    assert.equal(fields.durationS, 12.5);
    assert.equal(fields.bytes, 1234);
    assert.equal(fields.reason, 'client closed');
    assert.equal(request.headers['x-onair-event'], 'on_stop');
    const header = String(request.headers['x-onair-signature']);
    const nowS = Math.floor(Date.now() / 1000);
    assert.equal(verifyWebhookSignature(SECRET, header, request.body, nowS), true);
  });
});

test('a 302 is not followed: denied, and its target gets no request', async () => {
  const target = await answering(200);
  try {
    const redirect = answering(302, '', { Location: target.url });
    await withHook(redirect, { failOpen: true }, async (client) => {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, false);
      assert.equal(decision.reason, 'redirect not followed');
      assert.equal(decision.status, 302);
      assert.equal(target.received.length, 0);
    });
  } finally {
    await target.close();
  }
});

for (const failOpen of [false, true]) {
  test(`a hook that never answers times out (failOpen ${failOpen})`, async () => {
    await withHook(hanging(), { failOpen, timeoutMs: 200 }, async (client) => {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, failOpen);
      assert.equal(decision.reason, 'hook failed: timeout');
      assert.equal(decision.status, undefined);
    });
  });
}

for (const failOpen of [false, true]) {
  test(`a body over 64 KiB fails the hook (failOpen ${failOpen})`, async () => {
    const huge = 'x'.repeat(MAX_HOOK_BODY_BYTES + 1);
    await withHook(answering(200, huge), { failOpen }, async (client) => {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, failOpen);
      assert.match(decision.reason, /^hook failed: response body over 64 KiB$/);
    });
  });

  test(`a chunked body over 64 KiB fails the hook (failOpen ${failOpen})`, async () => {
    const receiver = startReceiver((res) => {
      res.writeHead(200); // no Content-Length: chunked
      const piece = 'y'.repeat(16 * 1024);
      for (let i = 0; i < 5; i += 1) res.write(piece);
      // Never ended: the client must stop reading at the cap, not wait for the end.
    });
    await withHook(receiver, { failOpen }, async (client) => {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, failOpen);
      assert.match(decision.reason, /over 64 KiB/);
    });
  });
}

test('a body of exactly 64 KiB is read (and, not being JSON, allows)', async () => {
  await withHook(answering(200, ' '.repeat(MAX_HOOK_BODY_BYTES)), {}, async (client) => {
    const decision = await client.decide(publish);
    assert.equal(decision.allowed, true);
    assert.equal(decision.reason, 'allowed by hook');
  });
});

for (const failOpen of [false, true]) {
  test(`connection refused fails the hook (failOpen ${failOpen})`, async () => {
    const port = await closedPort();
    const client = clientFor(`http://127.0.0.1:${port}/hook`, { failOpen });
    try {
      const decision = await client.decide(publish);
      assert.equal(decision.allowed, failOpen);
      assert.equal(decision.reason, 'hook failed: connection refused');
    } finally {
      client.close();
    }
  });
}

test('a slow hook does not hold up 20 decisions on a fast one', { timeout: 10_000 }, async () => {
  const slow = await hanging();
  const fast = await answering(200, '{"code":0}');
  const client = new WebhookClient({
    urls: { on_publish: slow.url, on_play: fast.url },
    secret: SECRET,
    timeoutMs: 5000,
    failOpen: false,
    retries: 0,
  });
  try {
    const order: string[] = [];
    const slowDecision = client.decide(publish).then((decision) => {
      order.push('slow');
      return decision;
    });
    await until(() => slow.received.length === 1, 'the slow hook to get its request');
    const fastDecisions = Array.from({ length: 20 }, (_, i) =>
      client.decide({ ...publish, action: 'on_play', id: `v-${i}` }).then((decision) => {
        order.push('fast');
        return decision;
      }),
    );
    for (const decision of await Promise.all(fastDecisions)) assert.equal(decision.allowed, true);
    assert.equal(order.length, 20);
    assert.equal(order.includes('slow'), false);
    client.close();
    const closed = await slowDecision;
    assert.equal(closed.allowed, false);
    assert.equal(closed.reason, 'hook client closed');
  } finally {
    client.close();
    await slow.close();
    await fast.close();
  }
});

test('a notification is retried: 500, 500, then 200 makes 3 attempts', async () => {
  const receiver = startReceiver((res, _request, index) => {
    res.writeHead(index < 2 ? 500 : 200);
    res.end();
  });
  const results: HookAttemptResult[] = [];
  const onResult = (action: HookAction, result: HookAttemptResult): void => {
    assert.equal(action, 'on_unpublish');
    results.push(result);
  };
  await withHook(receiver, { retries: 3, retryBaseMs: 10, onResult }, async (client, hook) => {
    client.notify({ ...publish, action: 'on_unpublish', durationS: 3, bytes: 10, reason: 'eof' });
    assert.equal(client.pending, 1);
    await until(() => client.pending === 0, 'the retries');
    assert.equal(hook.received.length, 3);
    assert.deepEqual(
      results.map((r) => [r.ok, r.reason]),
      [
        [false, 'hook answered 500'],
        [false, 'hook answered 500'],
        [true, 'delivered'],
      ],
    );
    // Every attempt is signed afresh over the same body.
    const bodies = new Set(hook.received.map((r) => r.body));
    assert.equal(bodies.size, 1);
  });
});

test('a notification gives up after `retries` retries', async () => {
  await withHook(answering(503), { retries: 2, retryBaseMs: 1 }, async (client, hook) => {
    client.notify({ ...publish, action: 'on_stop' });
    await until(() => client.pending === 0, 'the retries');
    assert.equal(hook.received.length, 3);
  });
});

test('notify() is bounded: over maxPending, new notifications are dropped', async () => {
  await withHook(hanging(), { maxPending: 2, timeoutMs: 5000 }, async (client, hook) => {
    const event: HookEvent = { ...publish, action: 'on_unpublish' };
    client.notify(event);
    client.notify(event);
    client.notify(event);
    assert.equal(client.pending, 2);
    assert.equal(client.dropped, 1);
    await until(() => hook.received.length === 2, 'two requests');
    client.close();
    await until(() => client.pending === 0, 'close() to end the pending notifications');
    assert.equal(client.dropped, 3, 'the two cut off by close() count too');
    client.notify(event);
    assert.equal(client.dropped, 4);
    assert.deepEqual([...client.droppedByAction], [['on_unpublish', 4]]);
  });
});

test('close() stops a notification waiting for its retry', async () => {
  const results: HookAttemptResult[] = [];
  const options = {
    retries: 5,
    retryBaseMs: 60_000,
    onResult: (_: HookAction, r: HookAttemptResult) => results.push(r),
  };
  await withHook(answering(500), options, async (client, hook) => {
    client.notify({ ...publish, action: 'on_stop' });
    await until(() => results.length === 1, 'the first attempt');
    assert.equal(client.pending, 1);
    client.close();
    await until(() => client.pending === 0, 'close() to cancel the retry');
    assert.equal(hook.received.length, 1);
  });
});

test('close() aborts an in-flight decision and later ones are denied', async () => {
  await withHook(hanging(), { failOpen: true, timeoutMs: 30_000 }, async (client, hook) => {
    const pending = client.decide(publish);
    await until(() => hook.received.length === 1, 'the request');
    client.close();
    assert.deepEqual(
      { ...(await pending), durationMs: 0 },
      { allowed: false, reason: 'hook client closed', durationMs: 0 },
    );
    const after = await client.decide(publish);
    assert.equal(after.allowed, false);
    assert.equal(after.reason, 'hook client closed');
  });
});

test('no URL: decide() allows at once and notify() sends nothing', async () => {
  const results: HookAttemptResult[] = [];
  const client = new WebhookClient({
    urls: { on_publish: '' },
    secret: '',
    timeoutMs: 1000,
    failOpen: false,
    retries: 3,
    onResult: (_action, result) => results.push(result),
  });
  assert.deepEqual(await client.decide(publish), {
    allowed: true,
    reason: 'no hook',
    durationMs: 0,
  });
  client.notify({ ...publish, action: 'on_stop' });
  assert.equal(client.pending, 0);
  assert.equal(client.dropped, 0);
  assert.equal(results.length, 0);
  client.close();
});

test('onResult is called once per decision attempt, and a throwing one is ignored', async () => {
  const seen: HookAttemptResult[] = [];
  const onResult = (_action: HookAction, result: HookAttemptResult): void => {
    seen.push(result);
    throw new Error('metrics broke');
  };
  await withHook(answering(403), { onResult }, async (client) => {
    const decision = await client.decide(publish);
    assert.equal(decision.allowed, false);
    assert.deepEqual(
      seen.map((r) => [r.ok, r.reason]),
      [[false, 'hook answered 403']],
    );
  });
});

test('the constructor refuses bad URLs and options without echoing the URL', () => {
  const base = { secret: SECRET, timeoutMs: 1000, failOpen: false, retries: 0 };
  const bad: readonly (readonly [Partial<Record<HookAction, string>>, Partial<typeof base>])[] = [
    [{ on_play: 'not a url secretpart' }, {}],
    [{ on_play: 'ftp://user:secretpart@example.com/' }, {}],
    [{ on_play: 'http://127.0.0.1/' }, { secret: '' }],
    [{}, { timeoutMs: 0 }],
    [{}, { retries: -1 }],
    [{}, { retries: 1.5 }],
  ];
  for (const [urls, override] of bad) {
    assert.throws(
      () => new WebhookClient({ ...base, ...override, urls }),
      (error: unknown) => error instanceof Error && !error.message.includes('secretpart'),
    );
  }
  assert.throws(
    () => new WebhookClient({ ...base, urls: {}, maxPending: 0 }),
    /maxPending must be a whole number >= 1/,
  );
});

test('signWebhook() matches a known HMAC-SHA256 vector', () => {
  // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test'
  assert.equal(
    signWebhook('whsec_test', 1_700_000_000.9, '{"a":1}'),
    't=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789',
  );
  assert.throws(() => signWebhook('whsec_test', Number.NaN, ''), RangeError);
});

test('verifyWebhookSignature() refuses malformed headers and honours the tolerance', () => {
  const body = '{"action":"on_play"}';
  const header = signWebhook(SECRET, 1000, body);
  const v1 = header.split(',v1=')[1]!;
  assert.equal(verifyWebhookSignature(SECRET, header, body, 1000), true);
  assert.equal(verifyWebhookSignature(SECRET, header, body, 1300), true);
  assert.equal(verifyWebhookSignature(SECRET, header, body, 1301), false);
  assert.equal(verifyWebhookSignature(SECRET, header, body, 699), false);
  assert.equal(verifyWebhookSignature(SECRET, header, body, 1010, 5), false);
  assert.equal(
    verifyWebhookSignature(SECRET, ` t=1000 , v1=${v1.toUpperCase()} `, body, 1000),
    true,
  );
  // Another v1 first (a rotated secret) does not hide the right one.
  assert.equal(
    verifyWebhookSignature(SECRET, `t=1000,v1=${'0'.repeat(64)},v1=${v1}`, body, 1000),
    true,
  );
  for (const bad of [
    '',
    `v1=${v1}`,
    't=1000',
    `t=1000,v1=${v1.slice(1)}`,
    `t=1000,v1=${v1}00`,
    `t=1000,t=1000,v1=${v1}`,
    `t=-1000,v1=${v1}`,
    `t=1e3,v1=${v1}`,
    `t=1000,v0=${v1}`,
    `t=1000,v1=${v1}${','.repeat(5000)}`,
  ]) {
    assert.equal(verifyWebhookSignature(SECRET, bad, body, 1000), false, bad);
  }
  assert.equal(verifyWebhookSignature('', signWebhook('', 1000, body), body, 1000), false);
});

test('maskQuery() masks key, token, response and challenge values only', () => {
  const cases: readonly (readonly [string, string])[] = [
    ['', ''],
    ['?key=secret123&x=1', '?key=***&x=1'],
    ['key=a&token=b&response=c&challenge=d', 'key=***&token=***&response=***&challenge=***'],
    ['?x=1&KEY=a&Token=b', '?x=1&KEY=***&Token=***'],
    ['?%6Bey=a&k%65y=b', '?%6Bey=***&k%65y=***'],
    ['?key+=a', '?key+=***'],
    ['?key=a=b&y', '?key=***&y'],
    ['?x=1;token=t', '?x=1;token=***'],
    ['?key', '?key'],
    ['?keys=a&monkey=b&key2=c', '?keys=a&monkey=b&key2=c'],
    ['?%E0%A4%A=1&key=z', '?%E0%A4%A=1&key=***'],
    ['?key=', '?key=***'],
  ];
  for (const [input, expected] of cases) assert.equal(maskQuery(input), expected, input);
});

test('maskQuery() property: secret values never survive, other queries are unchanged', () => {
  const name = fc.constantFrom('key', 'token', 'response', 'challenge', 'Key', 'TOKEN');
  const secretValue = fc.stringMatching(/^[A-Za-z0-9]{6,20}$/).map((s) => `S3cr${s}`);
  const plainName = fc
    .stringMatching(/^[a-z]{1,8}$/)
    .filter((n) => !['key', 'token', 'response', 'challenge'].includes(n));
  const plain = fc
    .tuple(plainName, fc.stringMatching(/^[a-z0-9]{0,8}$/))
    .map(([n, v]) => `${n}=${v}`);
  fc.assert(
    fc.property(
      fc.array(plain, { maxLength: 5 }),
      name,
      secretValue,
      fc.nat(5),
      (parts, n, v, at) => {
        const all = [...parts];
        all.splice(Math.min(at, all.length), 0, `${n}=${v}`);
        const query = `?${all.join('&')}`;
        const masked = maskQuery(query);
        assert.equal(masked.includes(v), false);
        assert.equal(maskQuery(masked), masked);
        assert.equal(maskQuery(`?${parts.join('&')}`), `?${parts.join('&')}`);
      },
    ),
  );
});

/** An on_stop of a viewer at `ip`, or an on_unpublish. */
function ended(action: 'on_stop' | 'on_unpublish', ip: string, id: string): HookEvent {
  return { action, id, stream: 'live/cam1', protocol: 'hls', ip, durationS: 1, bytes: 1 };
}

/** The address and action of each request a receiver got, in order. */
function senders(receiver: Receiver): string[] {
  return receiver.received.map((r) => {
    const body = JSON.parse(r.body) as { action: string; ip: string };
    return `${body.action} ${body.ip}`;
  });
}

test('a flood of on_stop from one address leaves room for other addresses and on_unpublish, sent soon', async () => {
  await withHook(
    answering(200),
    { maxPending: 100, maxConcurrent: 2 },
    async (client, receiver) => {
      for (let i = 0; i < 10_000; i++) client.notify(ended('on_stop', '198.51.100.1', `v${i}`));
      assert.equal(client.pending, 100);
      assert.deepEqual([...client.droppedByAction], [['on_stop', 9900]]);
      client.notify(ended('on_stop', '198.51.100.2', 'other'));
      assert.equal(client.pending, 100, 'room made by dropping one of the flood');
      assert.deepEqual([...client.droppedByAction], [['on_stop', 9901]]);
      // on_unpublish has a share of its own: viewers ending never take it.
      client.notify(ended('on_unpublish', '198.51.100.1', 'p1'));
      assert.equal(client.pending, 101);
      await until(() => client.pending === 0, 'the queue to drain');
      const order = senders(receiver);
      assert.equal(order.length, 101);
      // Flows take turns: both are sent right after the two of the flood already in flight.
      const first = order.slice(0, 5);
      assert.ok(first.includes('on_stop 198.51.100.2'), first.join());
      assert.ok(first.includes('on_unpublish 198.51.100.1'), first.join());
      assert.deepEqual([...client.droppedByAction], [['on_stop', 9901]]);
    },
  );
});

test('two flooding addresses share the queue evenly, whichever came first', async () => {
  await withHook(
    answering(200),
    { maxPending: 100, maxConcurrent: 1 },
    async (client, receiver) => {
      for (let i = 0; i < 1000; i++) client.notify(ended('on_stop', '198.51.100.1', `a${i}`));
      for (let i = 0; i < 1000; i++) client.notify(ended('on_stop', '198.51.100.2', `b${i}`));
      await until(() => client.pending === 0, 'the queue to drain');
      const order = senders(receiver);
      const first = order.filter((s) => s.endsWith('.1')).length;
      assert.equal(order.length, 100);
      assert.ok(Math.abs(first - 50) <= 1, `${first} of the first address, of 100`);
      assert.equal(client.dropped, 1900);
    },
  );
});

test('property: whatever the mix, no address that ended a session goes unheard, and counts add up', async () => {
  const received: string[] = [];
  const receiver = await startReceiver((res, request) => {
    received.push((JSON.parse(request.body) as { ip: string }).ip);
    res.writeHead(200).end();
  });
  try {
    await fc.assert(
      fc.asyncProperty(
        // Up to 20 addresses (fewer than maxPending - maxConcurrent), some flooding.
        fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 40, maxLength: 400, size: 'max' }),
        async (senders) => {
          received.length = 0;
          const client = clientFor(receiver.url, { maxPending: 30, maxConcurrent: 3 });
          try {
            for (const [i, n] of senders.entries()) {
              client.notify(ended('on_stop', `198.51.100.${n}`, `v${i}`));
            }
            assert.ok(client.pending <= 30);
            assert.equal(client.pending + client.dropped, senders.length);
            const held = client.pending;
            await until(() => client.pending === 0, 'delivery');
            assert.equal(received.length, held);
            const heard = new Set(received);
            for (const n of new Set(senders)) assert.ok(heard.has(`198.51.100.${n}`), String(n));
          } finally {
            client.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  } finally {
    await receiver.close();
  }
});

test('notifications use at most maxConcurrent sockets; a decision still gets its answer', async () => {
  const connections = new Set<unknown>();
  const receiver = startReceiver((res, request) => {
    if (request.headers['x-onair-event'] === 'on_publish') res.writeHead(200).end('{"code":0}');
    // Notifications are held: their sockets stay busy.
  });
  await withHook(receiver, { maxConcurrent: 4, timeoutMs: 30_000 }, async (client, hook) => {
    hook.server.on('connection', (socket) => connections.add(socket));
    for (let i = 0; i < 50; i++) client.notify(ended('on_stop', `198.51.100.${i}`, `v${i}`));
    await until(() => hook.received.length === 4, 'four notifications in flight');
    const decision = await client.decide(publish);
    assert.equal(decision.allowed, true, decision.reason);
    assert.equal(hook.received.length, 5, 'four notifications and the decision, no more');
    assert.equal(connections.size, 5);
    assert.equal(client.pending, 50);
  });
});

test('drain() delivers what is queued and in flight, retrying while it may, then closes', async () => {
  const receiver = startReceiver((res, _request, index) => {
    res.writeHead(index === 2 ? 500 : 200).end(); // the third request fails once
  });
  await withHook(
    receiver,
    { maxConcurrent: 1, retries: 2, retryBaseMs: 5 },
    async (client, hook) => {
      for (let i = 0; i < 5; i++) client.notify(ended('on_stop', '198.51.100.1', `v${i}`));
      const drained = client.drain(30_000);
      client.notify(ended('on_unpublish', '203.0.113.7', 'p1')); // a session ending meanwhile
      assert.deepEqual(await client.decide(publish), {
        allowed: false,
        reason: 'hook client closed',
        durationMs: 0,
      });
      await drained;
      assert.equal(client.pending, 0);
      assert.equal(client.dropped, 0);
      const delivered = new Set(
        hook.received.map((r) => (JSON.parse(r.body) as { id: string }).id),
      );
      assert.deepEqual([...delivered].sort(), ['p1', 'v0', 'v1', 'v2', 'v3', 'v4']);
      assert.equal(hook.received.length, 7, 'six notifications, one of them twice');
      assert.equal(
        hook.received.some((r) => r.headers['x-onair-event'] === 'on_publish'),
        false,
        'no decision is asked while draining',
      );
      client.notify(ended('on_stop', '198.51.100.1', 'late'));
      assert.equal(client.dropped, 1, 'closed once drained');
      await client.drain(1000); // again: settled at once
    },
  );
});

test(
  'drain() ends at its deadline: a hanging hook does not hold the shutdown',
  { timeout: 20_000 },
  async () => {
    const results: HookAttemptResult[] = [];
    const options = {
      timeoutMs: 60_000,
      onResult: (action: HookAction, r: HookAttemptResult) => {
        if (action === 'on_unpublish') results.push(r);
      },
    };
    await withHook(hanging(), options, async (client, hook) => {
      client.notify(ended('on_unpublish', '203.0.113.7', 'p1'));
      await until(() => hook.received.length === 1, 'the request');
      const inFlight = client.decide({ ...publish, action: 'on_play' });
      await client.drain(200);
      assert.equal(client.pending, 0);
      assert.deepEqual([...client.droppedByAction], [['on_unpublish', 1]]);
      assert.deepEqual(
        results.map((r) => r.reason),
        ['hook client closed'],
      );
      assert.equal((await inFlight).reason, 'hook client closed');
    });
  },
);

test('drain() gives up a retry that cannot start before its deadline, instead of waiting', async () => {
  const results: string[] = [];
  const options = {
    retries: 5,
    retryBaseMs: 60_000, // capped at 10 s: later than the deadline below
    onResult: (_: HookAction, r: HookAttemptResult) => results.push(r.reason),
  };
  await withHook(answering(503), options, async (client, hook) => {
    client.notify(ended('on_stop', '198.51.100.1', 'v1'));
    await client.drain(5000);
    assert.equal(hook.received.length, 1);
    assert.equal(client.pending, 0);
    assert.deepEqual(results, ['hook answered 503']);
    // Given up after its answer, not cut off at the deadline (that would count as dropped).
    assert.equal(client.dropped, 0);
  });
});

test('drain() with nothing pending closes at once; after close() it resolves too', async () => {
  const client = clientFor('http://127.0.0.1:9/hook');
  await client.drain(60_000);
  assert.equal((await client.decide(publish)).reason, 'hook client closed');
  const other = clientFor('http://127.0.0.1:9/hook');
  other.close();
  await other.drain(60_000);
});
