// Tests of the client address behind trusted proxies: X-Forwarded-For and Forwarded, read right
// to left, trusting only the listed hops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressList } from './cidr.ts';
import {
  MAX_FORWARDED_HEADER_BYTES,
  UNKNOWN_ADDRESS,
  resolveClientAddress,
} from './client-address.ts';

const proxies = AddressList.parse('127.0.0.1/8, 10.0.0.0/8, ::1');
const none = AddressList.parse('');

test('an untrusted peer is the client, whatever headers it sends', () => {
  const headers = { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=198.51.100.1' };
  assert.equal(resolveClientAddress('192.0.2.10', headers, proxies), '192.0.2.10');
  // With no trusted list, a proxy on this machine does not make every client loopback...
  // but it cannot name them either: the peer stays the address.
  assert.equal(resolveClientAddress('127.0.0.1', headers, none), '127.0.0.1');
});

test('a trusted peer: the rightmost untrusted X-Forwarded-For hop is the client', () => {
  // The client forged the first hop; nginx appended what it saw (203.0.113.7).
  const headers = { 'x-forwarded-for': '127.0.0.1, 203.0.113.7, 10.1.1.1' };
  assert.equal(resolveClientAddress('127.0.0.1', headers, proxies), '203.0.113.7');
  assert.equal(
    resolveClientAddress('::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.7' }, proxies),
    '203.0.113.7',
  );
});

test('a trusted peer with no header, or only trusted hops, resolves to the leftmost hop', () => {
  assert.equal(resolveClientAddress('127.0.0.1', {}, proxies), '127.0.0.1');
  assert.equal(
    resolveClientAddress('10.0.0.2', { 'x-forwarded-for': '10.9.9.9' }, proxies),
    '10.9.9.9',
  );
});

test('only the configured header counts: the other one, however forged, is ignored', () => {
  const headers = {
    forwarded: 'for=198.51.100.9;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.1',
    'x-forwarded-for': '192.0.2.1',
  };
  assert.equal(
    resolveClientAddress('10.0.0.1', headers, proxies, 'forwarded'),
    '2001:db8:cafe::17',
  );
  assert.equal(resolveClientAddress('10.0.0.1', headers, proxies, 'x-forwarded-for'), '192.0.2.1');
  // nginx keeps X-Forwarded-For and passes Forwarded on as the client wrote it.
  const forged = { forwarded: 'for=127.0.0.1', 'x-forwarded-for': '203.0.113.7' };
  assert.equal(resolveClientAddress('127.0.0.1', forged, proxies), '203.0.113.7');
});

test('Forwarded nodes: quoted, bracketed and with ports; repeated headers are one list', () => {
  assert.equal(
    resolveClientAddress('10.0.0.1', { forwarded: 'for="203.0.113.5:80"' }, proxies, 'forwarded'),
    '203.0.113.5',
  );
  assert.equal(
    resolveClientAddress('10.0.0.1', { 'x-forwarded-for': ['203.0.113.5', '10.0.0.3'] }, proxies),
    '203.0.113.5',
  );
});

test('a malformed, obfuscated or unknown hop resolves to "unknown", never to the proxy', () => {
  const cases: [Record<string, string>, 'x-forwarded-for' | 'forwarded'][] = [
    [{ 'x-forwarded-for': 'not-an-ip' }, 'x-forwarded-for'],
    [{ 'x-forwarded-for': '203.0.113.7, 300.1.1.1' }, 'x-forwarded-for'],
    [{ 'x-forwarded-for': '010.1.1.1' }, 'x-forwarded-for'],
    [{ forwarded: 'for=_hidden' }, 'forwarded'],
    [{ forwarded: 'for=unknown' }, 'forwarded'],
    [{ forwarded: 'proto=https' }, 'forwarded'],
  ];
  for (const [headers, header] of cases) {
    assert.equal(
      resolveClientAddress('127.0.0.1', headers, proxies, header),
      UNKNOWN_ADDRESS,
      JSON.stringify(headers),
    );
  }
});

test('an over-long header is ignored whole: the trusted peer is the client', () => {
  const long = `${'203.0.113.7, '.repeat(MAX_FORWARDED_HEADER_BYTES / 10)}198.51.100.1`;
  assert.equal(
    resolveClientAddress('127.0.0.1', { 'x-forwarded-for': long }, proxies),
    '127.0.0.1',
  );
});

test('hops beyond the 32 read from the right are not trusted to name anyone', () => {
  const trustedHops = Array.from({ length: 40 }, (_, i) => `10.0.0.${i + 1}`);
  const headers = { 'x-forwarded-for': ['203.0.113.7', ...trustedHops].join(', ') };
  // 32 trusted hops read, all trusted: the leftmost of those, not the forged-looking far one.
  assert.equal(resolveClientAddress('127.0.0.1', headers, proxies), '10.0.0.9');
});

test('property: whatever the header, the answer is the peer, "unknown" or an address in it', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), (xff, fwd) => {
      for (const [headers, header] of [
        [{ 'x-forwarded-for': xff }, 'x-forwarded-for'],
        [{ forwarded: fwd }, 'forwarded'],
      ] as const) {
        const got = resolveClientAddress('127.0.0.1', headers, proxies, header);
        const text = Object.values(headers)[0] ?? '';
        assert.ok(
          got === '127.0.0.1' || got === UNKNOWN_ADDRESS || text.includes(got.split(':')[0] ?? got),
        );
      }
    }),
  );
});
