// Tests for the PROXY protocol codec: the spec's examples, hand-built v2 bytes, every prefix,
// hostile headers, and properties (only CodecError; encode/parse round trips at any split).
// Spec: proxy-protocol.txt (HAProxy 2.9), sections 2.1 (v1) and 2.2 (v2).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError, type CodecErrorCode } from './codec-error.ts';
import {
  MAX_V1_BYTES,
  MAX_V2_BLOCK_BYTES,
  V2_SIGNATURE,
  encodeProxyHeaderV1,
  encodeProxyHeaderV2,
  parseProxyHeader,
  type ProxyParseResult,
} from './proxy-protocol.ts';

function hex(...parts: string[]): Buffer {
  return Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
}

function ascii(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

function assertCodecError(bytes: Buffer, code: CodecErrorCode): void {
  assert.throws(
    () => parseProxyHeader(bytes),
    (err: unknown) => {
      assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`);
      assert.equal(err.code, code, err.message);
      return true;
    },
  );
}

/** Every strict prefix of `bytes` needs more; the whole gives `expected`. */
function assertParses(bytes: Buffer, expected: ProxyParseResult): void {
  for (let n = 1; n < bytes.length; n++) {
    assert.deepEqual(parseProxyHeader(bytes.subarray(0, n)), { status: 'more' }, `prefix ${n}`);
  }
  assert.deepEqual(parseProxyHeader(bytes), expected);
  // What follows the header (RTMP's C0 here) is not read.
  assert.deepEqual(parseProxyHeader(Buffer.concat([bytes, hex('03 0102')])), expected);
}

const FF6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

void test('parseProxyHeader() reads the spec examples of v1 (2.1), each byte by byte', () => {
  const tcp4 = ascii('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n');
  assertParses(tcp4, {
    status: 'done',
    header: {
      command: 'proxy',
      version: 1,
      family: 'tcp4',
      source: { address: '255.255.255.255', port: 65535 },
      destination: { address: '255.255.255.255', port: 65535 },
    },
    length: 56,
  });
  const tcp6 = ascii(`PROXY TCP6 ${FF6} ${FF6} 65535 65535\r\n`);
  assert.equal(tcp6.length, 104);
  const parsed = parseProxyHeader(tcp6);
  assert.ok(parsed.status === 'done' && parsed.header.command === 'proxy');
  assert.deepEqual(parsed.header.source, { address: FF6, port: 65535 });
  assertParses(ascii('PROXY UNKNOWN\r\n'), {
    status: 'done',
    header: { command: 'unknown', version: 1 },
    length: 15,
  });
  const worst = ascii(`PROXY UNKNOWN ${FF6} ${FF6} 65535 65535\r\n`);
  assert.equal(worst.length, MAX_V1_BYTES, 'the longest line the spec allows');
  assertParses(worst, {
    status: 'done',
    header: { command: 'unknown', version: 1 },
    length: 107,
  });
  assertParses(ascii('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'), {
    status: 'done',
    header: {
      command: 'proxy',
      version: 1,
      family: 'tcp4',
      source: { address: '192.168.0.1', port: 56324 },
      destination: { address: '192.168.0.11', port: 443 },
    },
    length: 47,
  });
});

void test('parseProxyHeader() gives IPv6 in RFC 5952 text and IPv4-mapped ones as IPv4', () => {
  const line = ascii('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:203.0.113.7 1 2\r\n');
  const parsed = parseProxyHeader(line);
  assert.ok(parsed.status === 'done' && parsed.header.command === 'proxy');
  assert.equal(parsed.header.source.address, '2001:db8::1');
  assert.equal(parsed.header.destination.address, '203.0.113.7');
});

void test('parseProxyHeader() reads hand-built v2 headers: TCP4, TCP6, LOCAL, UNSPEC, UNIX, UDP, TLVs', () => {
  const sig = V2_SIGNATURE.toString('hex');
  // PROXY, TCP over IPv4, 12 bytes: 203.0.113.7:51000 -> 192.0.2.1:1935.
  assertParses(hex(sig, '21 11 000c', 'cb007107 c0000201', 'c738 078f'), {
    status: 'done',
    header: {
      command: 'proxy',
      version: 2,
      family: 'tcp4',
      source: { address: '203.0.113.7', port: 51000 },
      destination: { address: '192.0.2.1', port: 1935 },
    },
    length: 28,
  });
  // PROXY, TCP over IPv6, 36 bytes, then two TLVs (ALPN "h2", and AWS's 0xEA) of 9 bytes.
  const v6 = hex(
    sig,
    '21 21 002f', // 36 bytes of addresses, 11 of TLVs
    '20010db8000000000000000000000007',
    '20010db8000000000000000000000001',
    '0050 01bb',
    '01 0002 6832',
    'ea 0003 767063',
  );
  assert.deepEqual(parseProxyHeader(v6), {
    status: 'done',
    header: {
      command: 'proxy',
      version: 2,
      family: 'tcp6',
      source: { address: '2001:db8::7', port: 80 },
      destination: { address: '2001:db8::1', port: 443 },
    },
    length: 16 + 36 + 11,
  });
  // LOCAL (a health check), with an address block it must skip.
  assertParses(hex(sig, '20 11 000c', '7f000001 7f000001 0001 0002'), {
    status: 'done',
    header: { command: 'local', version: 2 },
    length: 28,
  });
  const unknown = { status: 'done', header: { command: 'unknown', version: 2 } } as const;
  assert.deepEqual(parseProxyHeader(hex(sig, '21 00 0000')), { ...unknown, length: 16 });
  assert.deepEqual(parseProxyHeader(hex(sig, '21 12 000c', '00'.repeat(12))), {
    ...unknown,
    length: 28,
  });
  assert.deepEqual(parseProxyHeader(hex(sig, '21 31 00d8', '00'.repeat(216))), {
    ...unknown,
    length: 232,
  });
});

void test('parseProxyHeader() says none for anything else, at its first byte that differs', () => {
  for (const bytes of [
    hex('03'), // RTMP C0
    ascii('GET / HTTP/1.1\r\n'),
    ascii('PROXX'),
    ascii('PROXY'.slice(0, 3) + 'z'),
    hex('0d0a0d0a00 0d0a51 5549 0b'), // the v2 signature with its last byte wrong
    hex('16030100'),
  ]) {
    assert.deepEqual(parseProxyHeader(bytes), { status: 'none' }, bytes.toString('hex'));
  }
  assert.deepEqual(parseProxyHeader(Buffer.alloc(0)), { status: 'none' });
});

void test('parseProxyHeader() refuses malformed v1 lines with ERR_PROXY_HEADER', () => {
  for (const line of [
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', // LF without CR
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rx\r\n', // CR inside
    'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', // two spaces
    'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', // a field missing
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n', // a field too many
    'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n',
    'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 ::1 5.6.7.8 1 2\r\n',
    'PROXY TCP6 1.2.3.4 ::1 1 2\r\n',
    'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n',
    'PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\u00e9\r\n',
  ]) {
    assertCodecError(ascii(line), 'ERR_PROXY_HEADER');
  }
});

void test('parseProxyHeader() refuses a v1 line with no CR LF in 107 bytes, and never reads further', () => {
  const long = ascii(`PROXY UNKNOWN ${'x'.repeat(200)}`);
  for (let n = 6; n < MAX_V1_BYTES; n++) {
    assert.deepEqual(parseProxyHeader(long.subarray(0, n)), { status: 'more' });
  }
  assertCodecError(long.subarray(0, MAX_V1_BYTES), 'ERR_PROXY_TOO_LARGE');
  assertCodecError(long, 'ERR_PROXY_TOO_LARGE');
  // A CR LF just past the limit is still too late.
  assertCodecError(
    Buffer.concat([long.subarray(0, MAX_V1_BYTES - 1), ascii('x\r\n')]),
    'ERR_PROXY_TOO_LARGE',
  );
});

void test('parseProxyHeader() refuses malformed and oversized v2 headers', () => {
  const sig = V2_SIGNATURE.toString('hex');
  const bad: [string, Buffer, CodecErrorCode][] = [
    ['version 1', hex(sig, '11 11 000c'), 'ERR_PROXY_HEADER'],
    ['version 3', hex(sig, '31'), 'ERR_PROXY_HEADER'],
    ['command 2', hex(sig, '22 11 000c'), 'ERR_PROXY_HEADER'],
    ['family 4', hex(sig, '21 41 0000'), 'ERR_PROXY_HEADER'],
    ['transport 3', hex(sig, '21 13 000c', '00'.repeat(12)), 'ERR_PROXY_HEADER'],
    [
      'a block shorter than TCP4 addresses',
      hex(sig, '21 11 000b', '00'.repeat(11)),
      'ERR_PROXY_HEADER',
    ],
    [
      'a block shorter than TCP6 addresses',
      hex(sig, '21 21 000c', '00'.repeat(12)),
      'ERR_PROXY_HEADER',
    ],
    ['a TLV cut short', hex(sig, '21 11 000e', '00'.repeat(12), '01 00'), 'ERR_PROXY_HEADER'],
    [
      'a TLV past the block',
      hex(sig, '21 11 0010', '00'.repeat(12), '01 0002 68'),
      'ERR_PROXY_HEADER',
    ],
    ['a block of 4097 bytes', hex(sig, '21 11 1001'), 'ERR_PROXY_TOO_LARGE'],
    ['a block of 65535 bytes', hex(sig, '21 11 ffff'), 'ERR_PROXY_TOO_LARGE'],
  ];
  for (const [what, bytes, code] of bad) {
    assert.throws(
      () => parseProxyHeader(bytes),
      (err: unknown) => err instanceof CodecError && err.code === code,
      what,
    );
  }
  // The largest block accepted: 4096 bytes, mostly one TLV, is read once it is all there.
  const block = Buffer.concat([hex('00'.repeat(12)), hex('ea 0ff1'), Buffer.alloc(4081)]);
  assert.equal(block.length, MAX_V2_BLOCK_BYTES);
  const max = Buffer.concat([hex(sig, '21 11 1000'), block]);
  assert.deepEqual(parseProxyHeader(max.subarray(0, max.length - 1)), { status: 'more' });
  assert.equal(parseProxyHeader(max).status, 'done');
});

// ---- Properties ----

const ipv4Arb = fc.ipV4();
const ipv6Arb = fc.ipV6();
const portArb = fc.integer({ min: 0, max: 65535 });
const endpoint = (address: fc.Arbitrary<string>) =>
  fc.record({ address, port: portArb }).map((e) => ({ ...e }));

/** What the parser reports for an address it was given: canonical text, mapped ones as IPv4. */
function canonical(address: string): string {
  const parsed = parseProxyHeader(
    encodeProxyHeaderV1({
      command: 'proxy',
      family: address.includes(':') ? 'tcp6' : 'tcp4',
      source: { address, port: 1 },
      destination: { address, port: 1 },
    }),
  );
  assert.ok(parsed.status === 'done' && parsed.header.command === 'proxy');
  return parsed.header.source.address;
}

void test('property: encode then parse gives the endpoints back, v1 and v2, at any split', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.tuple(fc.constant('tcp4' as const), endpoint(ipv4Arb), endpoint(ipv4Arb)),
        fc.tuple(fc.constant('tcp6' as const), endpoint(ipv6Arb), endpoint(ipv6Arb)),
      ),
      fc.boolean(),
      fc.array(
        fc.record({
          type: fc.integer({ min: 0, max: 255 }),
          value: fc.uint8Array({ maxLength: 40 }),
        }),
        {
          maxLength: 4,
        },
      ),
      fc.nat(),
      ([family, source, destination], v2, tlvs, cutSeed) => {
        const bytes = v2
          ? encodeProxyHeaderV2(
              { command: 'proxy', source, destination },
              tlvs.map((t) => ({ type: t.type, value: Buffer.from(t.value) })),
            )
          : encodeProxyHeaderV1({ command: 'proxy', family, source, destination });
        const parsed = parseProxyHeader(Buffer.concat([bytes, hex('03')]));
        assert.ok(parsed.status === 'done' && parsed.header.command === 'proxy');
        assert.equal(parsed.length, bytes.length);
        assert.deepEqual(parsed.header.source, { ...source, address: canonical(source.address) });
        assert.deepEqual(parsed.header.destination, {
          ...destination,
          address: canonical(destination.address),
        });
        const cut = cutSeed % bytes.length;
        assert.deepEqual(parseProxyHeader(bytes.subarray(0, cut)), {
          status: cut === 0 ? 'none' : 'more',
        });
      },
    ),
    { numRuns: 300 },
  );
});

void test('property: any bytes, or a header with bytes flipped, only ever give a result or CodecError', () => {
  const headerArb = fc.constantFrom(
    encodeProxyHeaderV1({
      command: 'proxy',
      family: 'tcp4',
      source: { address: '203.0.113.7', port: 5000 },
      destination: { address: '192.0.2.1', port: 1935 },
    }),
    encodeProxyHeaderV1({ command: 'unknown' }),
    encodeProxyHeaderV2({
      command: 'proxy',
      source: { address: '2001:db8::7', port: 1 },
      destination: { address: '2001:db8::1', port: 2 },
    }),
    encodeProxyHeaderV2({ command: 'local' }, [{ type: 0xea, value: Buffer.from('vpce-1') }]),
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        fc
          .tuple(
            headerArb,
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
          )
          .map(([header, flips]) => {
            const copy = Buffer.from(header);
            for (const [at, byte] of flips) copy[at % copy.length] = byte;
            return copy;
          }),
      ),
      (bytes) => {
        try {
          const result = parseProxyHeader(bytes);
          if (result.status === 'done') assert.ok(result.length <= bytes.length);
        } catch (err) {
          if (!(err instanceof CodecError)) throw err;
        }
      },
    ),
    { numRuns: 1000 },
  );
});
