import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RTP_HEADER_BYTES, encodeRtp, isRtcp, parseRtp } from './rtp.ts';

test('encodeRtp() and parseRtp() round-trip every header field and the payload', () => {
  fc.assert(
    fc.property(
      fc.record({
        marker: fc.boolean(),
        payloadType: fc.integer({ min: 0, max: 127 }),
        sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
        timestamp: fc.integer({ min: 0, max: 0xffffffff }),
        ssrc: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      fc.uint8Array({ maxLength: 1400 }).map((b) => Buffer.from(b)),
      (header, payload) => {
        const packet = encodeRtp(header, payload);
        assert.equal(packet.length, RTP_HEADER_BYTES + payload.length);
        const parsed = parseRtp(packet);
        assert.ok(parsed);
        assert.deepEqual(
          { ...parsed, payload: Buffer.from(parsed.payload) },
          { ...header, payload },
        );
      },
    ),
  );
});

test('parseRtp() skips CSRCs and a header extension, removes padding', () => {
  const packet = Buffer.from([
    0xb2,
    0x60,
    0,
    1,
    0,
    0,
    0,
    2,
    0,
    0,
    0,
    3, // V2, padding, extension, 2 CSRCs; PT 96
    ...[0, 0, 0, 9, 0, 0, 0, 10], // CSRCs
    ...[0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0], // one-byte extension header, 1 word
    0xaa,
    0xbb, // payload
    0,
    0,
    3, // 3 bytes of padding
  ]);
  const parsed = parseRtp(packet);
  assert.ok(parsed);
  assert.equal(parsed.payloadType, 96);
  assert.deepEqual([...parsed.payload], [0xaa, 0xbb]);
});

test('parseRtp() refuses what is not RTP or runs past its end', () => {
  const cases: [string, number[]][] = [
    ['too short', [0x80, 96, 0, 1]],
    ['version 1', [0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]],
    ['CSRCs past the end', [0x8f, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]],
    ['extension past the end', [0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 9]],
    ['padding longer than the packet', [0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200]],
  ];
  for (const [what, bytes] of cases) assert.equal(parseRtp(Buffer.from(bytes)), null, what);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const parsed = parseRtp(Buffer.from(bytes));
      if (parsed) assert.ok(parsed.payload.length <= bytes.length - RTP_HEADER_BYTES);
    }),
  );
});

test('isRtcp() tells RTCP (payload types 192-223 in the second byte) from RTP', () => {
  assert.equal(isRtcp(Buffer.from([0x81, 201, 0, 1])), true); // receiver report
  assert.equal(isRtcp(Buffer.from([0x81, 206, 0, 2])), true); // PSFB (PLI)
  assert.equal(isRtcp(Buffer.from([0x80, 96, 0, 1])), false);
  assert.equal(isRtcp(Buffer.from([0x80, 0xe0, 0, 1])), false, 'PT 96 with the marker');
});
