// Tests of the QoE beacon schema (hostile bodies) and of the per-address beacon limiter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { QoeLimiter, parseQoeBeacon } from './qoe.ts';

const good = {
  stream: 'live/cam1',
  session: 'abcDEF12_-',
  startupMs: 850,
  rebufferCount: 1,
  rebufferMs: 400,
  playedMs: 10_000,
  latencyS: 2.5,
  bitrateKbps: 2500,
  width: 1920,
  height: 1080,
  errors: ['NETWORK_ERROR'],
};

function refused(body: unknown): string {
  const result = parseQoeBeacon(body);
  if (result.ok)
    assert.fail(
      `accepted ${(JSON.stringify(body) as string | undefined)?.slice(0, 200) ?? 'undefined'}`,
    );
  return result.error;
}

test('a good beacon is accepted as is; optional fields may be left out', () => {
  assert.deepEqual(parseQoeBeacon(good), { ok: true, beacon: good });
  const minimal = {
    stream: 'a/b',
    session: '12345678',
    rebufferCount: 0,
    rebufferMs: 0,
    playedMs: 0,
  };
  assert.deepEqual(parseQoeBeacon(minimal), { ok: true, beacon: minimal });
});

test('malformed and wrong-type bodies are refused with the field named', () => {
  for (const body of [null, undefined, 'text', 42, [], [good], true]) refused(body);
  assert.match(refused({ ...good, rebufferCount: '1' }), /^rebufferCount: /);
  assert.match(refused({ ...good, rebufferCount: 1.5 }), /^rebufferCount: /);
  assert.match(refused({ ...good, playedMs: -1 }), /^playedMs: /);
  assert.match(refused({ ...good, playedMs: Number.POSITIVE_INFINITY }), /^playedMs: /);
  assert.match(refused({ ...good, latencyS: Number.NaN }), /^latencyS: /);
  assert.match(refused({ ...good, width: 16_385 }), /^width: /);
  assert.match(refused({ ...good, startupMs: 600_001 }), /^startupMs: /);
  assert.match(refused({ ...good, errors: 'x' }), /^errors: /);
  assert.match(refused({ ...good, errors: [1] }), /^errors\.0: /);
  const missing: Record<string, unknown> = { ...good };
  delete missing.playedMs;
  assert.match(refused(missing), /^playedMs: /);
});

test('stream paths and session ids follow their allow-lists', () => {
  for (const stream of [
    '',
    'cam1',
    'live/../x',
    'live//x',
    '/live/x',
    'live/cam 1',
    'live/c\u0430m',
  ]) {
    assert.match(refused({ ...good, stream }), /^stream: /);
  }
  for (const session of [
    'short',
    'x'.repeat(65),
    'has space1',
    'semi;colon',
    '\u0000\u0000\u0000\u0000\u0000\u0000\u0000\u0000',
  ]) {
    assert.match(refused({ ...good, session }), /^session: /);
  }
});

test('unknown keys are refused, including __proto__, and the reason stays short and printable', () => {
  assert.match(refused({ ...good, extra: 1 }), /extra/);
  assert.ok(
    refused(
      JSON.parse(
        `{"stream":"live/a","session":"12345678","rebufferCount":0,"rebufferMs":0,"playedMs":0,"__proto__":{"x":1}}`,
      ),
    ),
  );
  const many: Record<string, unknown> = { ...good };
  for (let i = 0; i < 1000; i++) many[`key\u0007\n${'k'.repeat(100)}${i}`] = i;
  const error = refused(many);
  assert.ok(error.length <= 300, `${error.length}`);
  assert.match(error, /^[\x20-\x7e]*$/);
});

test('huge bodies are refused', () => {
  assert.match(refused({ ...good, stream: `live/${'a'.repeat(1_000_000)}` }), /^stream: /);
  assert.match(refused({ ...good, errors: Array.from({ length: 11 }, () => 'e') }), /^errors: /);
  assert.match(refused({ ...good, errors: ['e'.repeat(201)] }), /^errors\.0: /);
  assert.match(refused({ ...good, rebufferCount: 100_001 }), /^rebufferCount: /);
  assert.match(refused({ ...good, playedMs: 86_400_001 }), /^playedMs: /);
});

test('property: parseQoeBeacon never throws, and what it accepts is in range', () => {
  const nearlyGood = fc.record(
    {
      stream: fc.oneof(fc.constant('live/cam1'), fc.string({ maxLength: 300 })),
      session: fc.oneof(fc.constant('abcdefgh'), fc.string({ maxLength: 80 })),
      startupMs: fc.oneof(fc.integer({ min: -10, max: 700_000 }), fc.double(), fc.anything()),
      rebufferCount: fc.oneof(fc.integer({ min: -10, max: 200_000 }), fc.anything()),
      rebufferMs: fc.oneof(fc.nat(), fc.double()),
      playedMs: fc.oneof(fc.nat(), fc.double()),
      latencyS: fc.double(),
      errors: fc.array(fc.string({ maxLength: 250 }), { maxLength: 12 }),
      extra: fc.anything(),
    },
    { requiredKeys: [] },
  );
  fc.assert(
    fc.property(fc.oneof(fc.anything(), nearlyGood), (body) => {
      const result = parseQoeBeacon(body);
      if (!result.ok) {
        assert.ok(result.error.length > 0 && result.error.length <= 300);
        return;
      }
      const beacon = result.beacon;
      assert.ok(beacon.rebufferCount >= 0 && beacon.rebufferCount <= 100_000);
      assert.ok(Number.isFinite(beacon.playedMs) && beacon.playedMs <= 86_400_000);
      assert.ok(beacon.latencyS === undefined || (beacon.latencyS >= 0 && beacon.latencyS <= 3600));
      assert.ok((beacon.errors?.length ?? 0) <= 10);
    }),
    { numRuns: 500 },
  );
});

test('property: generated valid beacons are accepted', () => {
  fc.assert(
    fc.property(
      fc.record({
        stream: fc.constantFrom('live/a', 'app/sub/name', 'x/y-1.z_2'),
        session: fc.stringMatching(/^[A-Za-z0-9_-]{8,64}$/),
        rebufferCount: fc.integer({ min: 0, max: 100_000 }),
        rebufferMs: fc.integer({ min: 0, max: 86_400_000 }),
        playedMs: fc.double({ min: 0, max: 86_400_000, noNaN: true }),
        latencyS: fc.double({ min: 0, max: 3600, noNaN: true }),
      }),
      (body) => {
        assert.equal(parseQoeBeacon(body).ok, true);
      },
    ),
  );
});

test('QoeLimiter: a budget per address per minute', () => {
  let now = 0;
  const limiter = new QoeLimiter({ perIpPerMinute: 3, now: () => now });
  assert.deepEqual(
    [1, 2, 3, 4].map(() => limiter.allow('192.0.2.1')),
    [true, true, true, false],
  );
  assert.equal(limiter.allow('192.0.2.2'), true, 'another address has its own budget');
  now = 59_999;
  assert.equal(limiter.allow('192.0.2.1'), false);
  now = 60_000;
  assert.equal(limiter.allow('192.0.2.1'), true, 'a new window');
});

test('QoeLimiter: the table of addresses is bounded; new ones wait for windows to expire', () => {
  let now = 0;
  const limiter = new QoeLimiter({ perIpPerMinute: 60, maxIps: 2, now: () => now });
  assert.equal(limiter.allow('a'), true);
  now = 10_000;
  assert.equal(limiter.allow('b'), true);
  assert.equal(limiter.allow('c'), false, 'full');
  assert.equal(limiter.allow('a'), true, 'known addresses go on');
  now = 60_000;
  assert.equal(limiter.allow('c'), true, "a's window expired");
  assert.equal(limiter.size, 2);
  assert.throws(() => new QoeLimiter({ perIpPerMinute: 0 }), RangeError);
  assert.throws(() => new QoeLimiter({ maxIps: 1.5 }), RangeError);
});

test('QoeLimiter property: never more than maxIps addresses nor perIpPerMinute per window', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.nat({ max: 5_000 })), {
        maxLength: 300,
      }),
      (events) => {
        let now = 0;
        const limiter = new QoeLimiter({ perIpPerMinute: 5, maxIps: 8, now: () => now });
        const accepted = new Map<string, number[]>();
        for (const [ip, dt] of events) {
          now += dt;
          if (limiter.allow(`10.0.0.${ip}`)) {
            const times = accepted.get(`${ip}`) ?? [];
            times.push(now);
            accepted.set(`${ip}`, times);
          }
          assert.ok(limiter.size <= 8);
        }
        for (const times of accepted.values()) {
          // Fixed windows: any 60 s span holds at most two windows' budgets.
          for (let i = 0; i + 10 < times.length; i++) {
            assert.ok((times[i + 10] ?? 0) - (times[i] ?? 0) >= 60_000);
          }
        }
      },
    ),
  );
});
