// Tests for the RTMP chunk encoders: the spec's chunking examples byte for byte, header forms.
// Spec: Adobe RTMP 1.0, sections 5.3.1 and 5.3.2.1-5.3.2.2 (examples 1 and 2).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError } from './codec-error.ts';
import type { CodecErrorCode } from './codec-error.ts';
import { ChunkDecoder } from './rtmp-chunk-decoder.ts';
import { ChunkEncoder, encodeMessage } from './rtmp-chunk-encoder.ts';
import type { RtmpMessage } from './rtmp-message.ts';

/** Bytes from hex written by hand; whitespace is ignored so fields can be laid out. */
function hex(...parts: string[]): Buffer {
  return Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
}

/** `length` bytes counting up from `seed`, so misplaced data shows. */
function pattern(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i) & 0xff;
  return out;
}

/** Asserts that `fn` throws a CodecError with `code`. */
function assertCodecError(fn: () => unknown, code: CodecErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

// Spec 5.3.2.1, example 1: four audio messages on chunk stream 3, message stream 12345,
// 32 bytes each, timestamps 1000, 1033, 1066, 1099. Chunks use fmt 0, 2, 3, 3.
const example1: RtmpMessage[] = [0, 1, 2, 3].map((i) => ({
  csid: 3,
  typeId: 8,
  streamId: 12345,
  timestamp: 1000 + 33 * i,
  payload: pattern(32, i * 32),
}));
const example1Bytes = Buffer.concat([
  // fmt 0, csid 3 | timestamp 1000 | length 32 | type 8 | stream id 12345 (little-endian)
  hex('03', '0003e8', '000020', '08', '39300000'),
  example1[0]!.payload,
  // fmt 2, csid 3 | timestamp delta 33
  hex('83', '000021'),
  example1[1]!.payload,
  // fmt 3, csid 3 (delta 33 again)
  hex('c3'),
  example1[2]!.payload,
  hex('c3'),
  example1[3]!.payload,
]);

// Spec 5.3.2.2, example 2: one 307-byte video message on chunk stream 4, message stream 12346,
// timestamp 1000, chunk size 128: fmt 0 with 128 bytes, fmt 3 with 128, fmt 3 with 51.
const example2: RtmpMessage = {
  csid: 4,
  typeId: 9,
  streamId: 12346,
  timestamp: 1000,
  payload: pattern(307, 7),
};
const example2Bytes = Buffer.concat([
  hex('04', '0003e8', '000133', '09', '3a300000'),
  example2.payload.subarray(0, 128),
  hex('c4'),
  example2.payload.subarray(128, 256),
  hex('c4'),
  example2.payload.subarray(256),
]);

void test('ChunkEncoder.encode() reproduces RTMP 1.0 example 1 (fmt 0, 2, 3, 3) byte for byte', () => {
  const encoder = new ChunkEncoder();
  const out = Buffer.concat(example1.map((msg) => encoder.encode(msg)));
  assert.equal(out.length, 44 + 36 + 33 + 33); // the chunk sizes in the spec's table
  assert.deepEqual(out, example1Bytes);
});

void test('ChunkEncoder.encode() reproduces RTMP 1.0 example 2 (307 bytes, fmt 0, 3, 3) byte for byte', () => {
  const out = new ChunkEncoder(128).encode(example2);
  assert.equal(out.length, 140 + 129 + 52);
  assert.deepEqual(out, example2Bytes);
});

void test('ChunkDecoder.push() decodes the RTMP 1.0 examples back to their messages', () => {
  const decoder = new ChunkDecoder();
  assert.deepEqual(decoder.push(example1Bytes), example1);
  assert.deepEqual(decoder.push(example2Bytes), [example2]);
});

void test('encodeMessage() writes the 1-, 2- and 3-byte basic header forms at their boundaries', () => {
  const cases: [number, string][] = [
    [2, '02'],
    [63, '3f'],
    [64, '0000'],
    [319, '00ff'],
    [320, '010001'],
    [65599, '01ffff'],
  ];
  for (const [csid, basic] of cases) {
    const msg = { csid, typeId: 20, streamId: 0, timestamp: 0, payload: pattern(3, 0) };
    const out = encodeMessage(msg, 128);
    assert.deepEqual(
      out,
      hex(basic, '000000', '000003', '14', '00000000', '000102'),
      `csid ${csid}`,
    );
    assert.deepEqual(new ChunkDecoder().push(out), [msg], `csid ${csid}`);
  }
});

void test('encodeMessage() repeats the extended timestamp on every type 3 chunk', () => {
  const msg = { csid: 320, typeId: 9, streamId: 1, timestamp: 0x12345678, payload: pattern(5, 0) };
  const out = encodeMessage(msg, 2);
  assert.deepEqual(
    out,
    hex(
      '010001 ffffff 000005 09 01000000 12345678 0001',
      'c10001 12345678 0203',
      'c10001 12345678 04',
    ),
  );
});

void test('encodeMessage() uses the extended field from exactly 0xFFFFFF', () => {
  const base = { csid: 3, typeId: 8, streamId: 0, payload: pattern(1, 0) };
  assert.deepEqual(
    encodeMessage({ ...base, timestamp: 0xfffffe }, 128),
    hex('03 fffffe 000001 08 00000000 00'),
  );
  assert.deepEqual(
    encodeMessage({ ...base, timestamp: 0xffffff }, 128),
    hex('03 ffffff 000001 08 00000000 00ffffff 00'),
  );
});

void test('encodeMessage() writes an empty message as one header-only chunk', () => {
  const out = encodeMessage(
    { csid: 5, typeId: 18, streamId: 1, timestamp: 7, payload: Buffer.alloc(0) },
    128,
  );
  assert.deepEqual(out, hex('05 000007 000000 12 01000000'));
});

void test('encodeMessage() rejects chunk stream ids outside 2..65599 and bad chunk sizes', () => {
  const msg = { csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: pattern(4, 0) };
  for (const csid of [0, 1, 65600]) {
    assertCodecError(() => encodeMessage({ ...msg, csid }, 128), 'ERR_RTMP_CHUNK_HEADER');
  }
  assertCodecError(() => encodeMessage(msg, 0), 'ERR_RTMP_CHUNK_SIZE');
  assertCodecError(
    () => encodeMessage({ ...msg, payload: Buffer.alloc(0x1000000) }, 128),
    'ERR_RTMP_MESSAGE_TOO_LARGE',
  );
});

void test('ChunkEncoder.encode() picks fmt 1 on a new length or type and fmt 0 on a new stream id', () => {
  const encoder = new ChunkEncoder();
  const first = { csid: 6, typeId: 9, streamId: 1, timestamp: 100, payload: pattern(2, 0) };
  assert.equal(encoder.encode(first)[0]! >> 6, 0);
  assert.deepEqual(
    encoder.encode({ ...first, timestamp: 140, payload: pattern(3, 0) }),
    hex('46 000028 000003 09 000102'),
  );
  assert.deepEqual(
    encoder.encode({ ...first, timestamp: 180, typeId: 8, payload: pattern(3, 0) }),
    hex('46 000028 000003 08 000102'),
  );
  assert.equal(encoder.encode({ ...first, streamId: 2, timestamp: 200 })[0]! >> 6, 0);
});

void test('ChunkEncoder.encode() sends fmt 0 when the timestamp goes backwards', () => {
  const encoder = new ChunkEncoder();
  const msg = { csid: 4, typeId: 9, streamId: 1, timestamp: 5000, payload: pattern(1, 0) };
  encoder.encode(msg);
  assert.deepEqual(
    encoder.encode({ ...msg, timestamp: 4000 }),
    hex('04 000fa0 000001 09 01000000 00'),
  );
});

void test('ChunkEncoder.encode() sends fmt 2 (not 3) after fmt 0 even for an equal timestamp', () => {
  // Peers disagree on what a type 3 new message adds after a type 0 header; avoid the case.
  const encoder = new ChunkEncoder();
  const msg = { csid: 3, typeId: 8, streamId: 1, timestamp: 10, payload: pattern(1, 0) };
  encoder.encode(msg);
  assert.deepEqual(encoder.encode(msg), hex('83 000000 00'));
  assert.deepEqual(encoder.encode(msg), hex('c3 00'));
});

void test('ChunkEncoder.encode() carries an extended delta on fmt 2 and the fmt 3 that repeats it', () => {
  const encoder = new ChunkEncoder();
  const msg = { csid: 3, typeId: 8, streamId: 1, timestamp: 0, payload: pattern(1, 0) };
  const bytes = [
    encoder.encode(msg),
    encoder.encode({ ...msg, timestamp: 0x1000000 }),
    encoder.encode({ ...msg, timestamp: 0x2000000 }),
  ];
  assert.deepEqual(bytes[1], hex('83 ffffff 01000000 00'));
  assert.deepEqual(bytes[2], hex('c3 01000000 00'));
  const decoded = new ChunkDecoder().push(Buffer.concat(bytes));
  assert.deepEqual(
    decoded.map((m) => m.timestamp),
    [0, 0x1000000, 0x2000000],
  );
});

void test('ChunkEncoder.chunkSize validates and clamps like Set Chunk Size', () => {
  const encoder = new ChunkEncoder();
  assert.equal(encoder.chunkSize, 128);
  encoder.chunkSize = 4096;
  assert.equal(encoder.chunkSize, 4096);
  encoder.chunkSize = 2 ** 31 - 1;
  assert.equal(encoder.chunkSize, 0xffffff);
  assertCodecError(() => {
    encoder.chunkSize = 0;
  }, 'ERR_RTMP_CHUNK_SIZE');
  assertCodecError(() => new ChunkEncoder(2 ** 31), 'ERR_RTMP_CHUNK_SIZE');
});
