// Tests for the RTMP chunk decoder: header forms, timestamps, control messages, hostile inputs
// (HOSTILE-INPUTS.md section 2), fuzz seeds and round-trip properties. Spec: RTMP 1.0 5.3-5.4.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from './codec-error.ts';
import type { CodecErrorCode } from './codec-error.ts';
import { ChunkDecoder } from './rtmp-chunk-decoder.ts';
import type { ChunkDecoderOptions } from './rtmp-chunk-decoder.ts';
import { ChunkEncoder, encodeMessage } from './rtmp-chunk-encoder.ts';
import { MessageType, encodeUint32Payload } from './rtmp-message.ts';
import type { RtmpMessage } from './rtmp-message.ts';
import { heldMemory } from '../../test/support/held-memory.ts';
import { RTMP_FUZZ_SEEDS } from '../../test/support/fixtures.ts';

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

/** Pushes `bytes` in pieces that end at each of `cuts`; returns all messages. */
function decodeSplit(bytes: Buffer, cuts: readonly number[], options?: ChunkDecoderOptions) {
  const decoder = new ChunkDecoder(options);
  const out: RtmpMessage[] = [];
  let start = 0;
  for (const cut of [...cuts].sort((a, b) => a - b).concat(bytes.length)) {
    out.push(...decoder.push(bytes.subarray(start, cut)));
    start = cut;
  }
  return out;
}

/** Pushes `bytes` one byte at a time; returns all messages. */
function decodeByteByByte(bytes: Buffer, options?: ChunkDecoderOptions): RtmpMessage[] {
  return decodeSplit(
    bytes,
    Array.from({ length: bytes.length }, (_, i) => i),
    options,
  );
}

/** Decodes whole and byte by byte; asserts both give `expected`. */
function assertDecodes(bytes: Buffer, expected: RtmpMessage[]): void {
  assert.deepEqual(new ChunkDecoder().push(bytes), expected);
  assert.deepEqual(decodeByteByByte(bytes), expected);
}

/** Runs `fn`, accepting only success or a CodecError (the fuzz contract). */
function decodeOrCodecError(fn: () => unknown): CodecErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    if (!(err instanceof CodecError)) throw err;
    return err.code;
  }
}

/** A Set Chunk Size message as a peer sends it, at the initial chunk size. */
function setChunkSize(size: number): Buffer {
  const payload = encodeUint32Payload(size);
  return encodeMessage({ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload }, 128);
}

const msg = (fields: Partial<RtmpMessage>): RtmpMessage => ({
  csid: 3,
  typeId: 9,
  streamId: 1,
  timestamp: 0,
  payload: Buffer.alloc(0),
  ...fields,
});

void test('ChunkDecoder.push() decodes csids in all three basic header forms at their boundaries', () => {
  const cases: [number, string][] = [
    [2, '02'],
    [63, '3f'],
    [64, '00 00'],
    [65, '00 01'],
    [319, '00 ff'],
    [320, '01 00 01'],
    [65599, '01 ff ff'],
  ];
  for (const [csid, basic] of cases) {
    assertDecodes(hex(basic, '000010 000002 14 00000000 abcd'), [
      msg({ csid, typeId: 20, streamId: 0, timestamp: 16, payload: hex('abcd') }),
    ]);
  }
  // The 3-byte form can also name low csids (64 + 0 + 256 * 0 = 64).
  assertDecodes(hex('01 00 00', '000000 000001 14 00000000 ff'), [
    msg({ csid: 64, typeId: 20, streamId: 0, payload: hex('ff') }),
  ]);
});

void test('ChunkDecoder.push() applies fmt 1 (delta, length, type) and fmt 2 (delta) headers', () => {
  const bytes = hex(
    '04 000064 000001 09 01000000 aa', // fmt 0: ts 100, len 1, type 9, msid 1
    '44 00000a 000002 08 bbcc', //         fmt 1: +10, len 2, type 8
    '84 000005 ddee', //                   fmt 2: +5
    'c4 ff11', //                          fmt 3 new message: +5 again
  );
  assertDecodes(bytes, [
    msg({ csid: 4, timestamp: 100, payload: hex('aa') }),
    msg({ csid: 4, typeId: 8, timestamp: 110, payload: hex('bbcc') }),
    msg({ csid: 4, typeId: 8, timestamp: 115, payload: hex('ddee') }),
    msg({ csid: 4, typeId: 8, timestamp: 120, payload: hex('ff11') }),
  ]);
});

void test('ChunkDecoder.push() adds the fmt 0 timestamp again for a fmt 3 new message after it', () => {
  // FMLE and FFmpeg send this (SRS documents the FMLE case: fmt 0 at 26, then c4 means 52).
  assertDecodes(hex('04 00001a 000001 08 01000000 01', 'c4 02', 'c4 03'), [
    msg({ csid: 4, typeId: 8, timestamp: 26, payload: hex('01') }),
    msg({ csid: 4, typeId: 8, timestamp: 52, payload: hex('02') }),
    msg({ csid: 4, typeId: 8, timestamp: 78, payload: hex('03') }),
  ]);
  // With timestamp 0 (what librtmp/OBS send before a type 3) every reading agrees.
  assertDecodes(hex('05 000000 000001 12 01000000 01', 'c5 02'), [
    msg({ csid: 5, typeId: 18, payload: hex('01') }),
    msg({ csid: 5, typeId: 18, payload: hex('02') }),
  ]);
});

void test('ChunkDecoder.push() reads an extended timestamp as absolute on fmt 0 and as a delta on fmt 1/2', () => {
  const bytes = hex(
    '03 ffffff 000001 08 01000000 01000000 aa', // fmt 0: ts 0x01000000
    '43 ffffff 000001 08 01000000 bb', //          fmt 1: + 0x01000000
    '83 ffffff 00000010 cc', //                     fmt 2: + 0x10 through the extended field
  );
  assertDecodes(bytes, [
    msg({ typeId: 8, timestamp: 0x1000000, payload: hex('aa') }),
    msg({ typeId: 8, timestamp: 0x2000000, payload: hex('bb') }),
    msg({ typeId: 8, timestamp: 0x2000010, payload: hex('cc') }),
  ]);
});

void test('ChunkDecoder.push() wraps accumulated timestamps at 2^32', () => {
  assertDecodes(hex('03 ffffff 000001 08 01000000 fffffff0 aa', '83 000020 bb'), [
    msg({ typeId: 8, timestamp: 0xfffffff0, payload: hex('aa') }),
    msg({ typeId: 8, timestamp: 0x10, payload: hex('bb') }),
  ]);
});

void test('ChunkDecoder.push() accepts type 3 chunks that repeat the extended timestamp (FFmpeg)', () => {
  const bytes = hex(
    setChunkSize(2).toString('hex'),
    '03 ffffff 000005 09 01000000 01020304 aabb',
    'c3 01020304 ccdd',
    'c3 01020304 ee',
  );
  assertDecodes(bytes, [
    msg({ csid: 2, typeId: 1, streamId: 0, payload: hex('00000002') }),
    msg({ timestamp: 0x01020304, payload: hex('aabbccddee') }),
  ]);
});

void test('ChunkDecoder.push() accepts type 3 chunks without the repeated extended timestamp', () => {
  const bytes = hex(
    setChunkSize(2).toString('hex'),
    '03 ffffff 000005 09 01000000 01020304 aabb',
    'c3 ccdd',
    'c3 01', // one byte that matches the field's first byte: undecided until more arrives
    '03 000000 000000 09 01000000', // then a new header rules the field out
  );
  assertDecodes(bytes, [
    msg({ csid: 2, typeId: 1, streamId: 0, payload: hex('00000002') }),
    msg({ timestamp: 0x01020304, payload: hex('aabbccdd01') }),
    msg({ timestamp: 0 }),
  ]);
});

void test('ChunkDecoder.push() gives a type 3 new message after an extended delta that delta again', () => {
  const bytes = hex(
    '03 000000 000001 09 01000000 aa',
    '83 ffffff 01000000 bb', // fmt 2: + 0x01000000 (extended)
    'c3 01000000 cc', //         fmt 3 new message with the repeated field
    'c3 dd', //                  fmt 3 new message without it
  );
  assertDecodes(bytes, [
    msg({ payload: hex('aa') }),
    msg({ timestamp: 0x1000000, payload: hex('bb') }),
    msg({ timestamp: 0x2000000, payload: hex('cc') }),
    msg({ timestamp: 0x3000000, payload: hex('dd') }),
  ]);
});

void test('ChunkDecoder.push() delivers a zero-length message as an empty payload', () => {
  assertDecodes(hex('03 000005 000000 08 01000000', '03 000006 000001 08 01000000 ee'), [
    msg({ typeId: 8, timestamp: 5, payload: Buffer.alloc(0) }),
    msg({ typeId: 8, timestamp: 6, payload: hex('ee') }),
  ]);
});

void test('ChunkDecoder.push() reassembles messages interleaved across chunk streams', () => {
  const a = pattern(200, 0);
  const b = pattern(130, 100);
  const bytes = Buffer.concat([
    hex('04 000001 0000c8 09 01000000'),
    a.subarray(0, 128),
    hex('06 000002 000082 08 01000000'),
    b.subarray(0, 128),
    hex('c4'),
    a.subarray(128),
    hex('c6'),
    b.subarray(128),
  ]);
  assertDecodes(bytes, [
    msg({ csid: 4, timestamp: 1, payload: a }),
    msg({ csid: 6, typeId: 8, timestamp: 2, payload: b }),
  ]);
});

void test('ChunkDecoder.push() applies Set Chunk Size to later chunks of the same push', () => {
  const big = msg({ csid: 6, timestamp: 40, payload: pattern(5000, 3) });
  const bytes = Buffer.concat([setChunkSize(4096), encodeMessage(big, 4096)]);
  const decoder = new ChunkDecoder();
  const out = decoder.push(bytes);
  assert.equal(decoder.chunkSize, 4096);
  assert.deepEqual(out, [
    msg({ csid: 2, typeId: MessageType.SetChunkSize, streamId: 0, payload: hex('00001000') }),
    big,
  ]);
  assert.deepEqual(decodeByteByByte(bytes), out);
});

void test('ChunkDecoder.push() accepts chunk sizes 1 and 127 (spec-legal, never sent by encoders)', () => {
  for (const size of [1, 127]) {
    const m = msg({ payload: pattern(300, size) });
    const decoder = new ChunkDecoder();
    assert.deepEqual(
      decoder.push(Buffer.concat([setChunkSize(size), encodeMessage(m, size)]))[1],
      m,
    );
    assert.equal(decoder.chunkSize, size);
  }
});

void test('ChunkDecoder.push() rejects Set Chunk Size 0 and 2^31 (hostile 2)', () => {
  for (const size of [0, 2 ** 31, 0xffffffff]) {
    assertCodecError(() => new ChunkDecoder().push(setChunkSize(size)), 'ERR_RTMP_CHUNK_SIZE');
  }
});

void test('ChunkDecoder.push() clamps Set Chunk Size 2^31-1 to 0xFFFFFF (hostile 2)', () => {
  const decoder = new ChunkDecoder();
  decoder.push(setChunkSize(2 ** 31 - 1));
  assert.equal(decoder.chunkSize, 0xffffff);
  const m = msg({ payload: pattern(70_000, 1) });
  assert.deepEqual(decoder.push(encodeMessage(m, 0xffffff)), [m]);
});

void test('ChunkDecoder.push() rejects a Set Chunk Size or Abort body that is not 4 bytes', () => {
  assertCodecError(
    () => new ChunkDecoder().push(hex('02 000000 000003 01 00000000 000080')),
    'ERR_RTMP_CONTROL_MESSAGE',
  );
  assertCodecError(
    () => new ChunkDecoder().push(hex('02 000000 000005 02 00000000 0000000300')),
    'ERR_RTMP_CONTROL_MESSAGE',
  );
});

void test('ChunkDecoder.push() drops the partial message named by Abort and ignores unknown csids', () => {
  const bytes = hex(
    '04 000001 000100 09 01000000',
    'aa'.repeat(128), //                     first half of a 256-byte message
    '02 000000 000004 02 00000000 00000063', // Abort csid 99 (unknown): ignored
    '02 000000 000004 02 00000000 00000004', // Abort csid 4
    '44 000001 000002 09 bbcc', //            csid 4 starts over with fmt 1
  );
  const decoder = new ChunkDecoder();
  const out = decoder.push(bytes);
  assert.equal(decoder.bufferedBytes, 0);
  assert.deepEqual(
    out.map((m) => [m.csid, m.typeId, m.timestamp, m.payload.toString('hex')]),
    [
      [2, 2, 0, '00000063'],
      [2, 2, 0, '00000004'],
      [4, 9, 2, 'bbcc'],
    ],
  );
});

void test('ChunkDecoder.push() accepts fmt 1 as the first chunk on a csid (librtmp sends its acks so), as message stream 0', () => {
  const [message] = new ChunkDecoder().push(hex('42 000007 000004 03 0000ffff'));
  assert.deepEqual(
    message && [message.csid, message.typeId, message.streamId, message.timestamp],
    [2, 3, 0, 7],
  );
  assert.equal(message?.payload.toString('hex'), '0000ffff');
});

void test('ChunkDecoder.push() rejects fmt 2 or 3 as the first chunk on a csid (hostile 2)', () => {
  for (const bytes of [hex('83 000000 00'), hex('c3 00')]) {
    assertCodecError(() => new ChunkDecoder().push(bytes), 'ERR_RTMP_CHUNK_HEADER');
    assertCodecError(() => decodeByteByByte(bytes), 'ERR_RTMP_CHUNK_HEADER');
  }
});

void test('ChunkDecoder.push() rejects a new fmt 0/1/2 header before the current message ends', () => {
  const bytes = hex('04 000000 000100 09 01000000', '00'.repeat(128), '84 000001 00');
  assertCodecError(() => new ChunkDecoder().push(bytes), 'ERR_RTMP_CHUNK_HEADER');
});

void test('ChunkDecoder.push() rejects a message over maxMessageBytes at its header, before any data', () => {
  const header = hex('04 000000 010000 09 01000000'); // 65536 bytes announced, none sent
  assertCodecError(
    () => new ChunkDecoder({ maxMessageBytes: 65535 }).push(header),
    'ERR_RTMP_MESSAGE_TOO_LARGE',
  );
  const decoder = new ChunkDecoder({ maxMessageBytes: 65536 });
  decoder.push(hex('04 000000 000001 09 01000000 00'));
  assertCodecError(() => decoder.push(hex('44 000000 010001 09')), 'ERR_RTMP_MESSAGE_TOO_LARGE');
});

void test('ChunkDecoder.push() allocates nothing for a 16 MiB length with no data (hostile 2)', () => {
  const decoder = new ChunkDecoder();
  const before = process.memoryUsage().arrayBuffers;
  assert.deepEqual(decoder.push(hex('04 000000 ffffff 09 01000000')), []);
  assert.deepEqual(decoder.push(pattern(100, 0)), []);
  assert.equal(decoder.bufferedBytes, 100);
  assert.ok(process.memoryUsage().arrayBuffers - before < 4 * 1024 * 1024);
});

void test('ChunkDecoder.push() rejects more csids than maxChunkStreams (hostile 2)', () => {
  const decoder = new ChunkDecoder({ maxChunkStreams: 4 });
  const chunk = (csid: number) => encodeMessage(msg({ csid, payload: hex('00') }), 128);
  for (const csid of [3, 4, 5, 6]) assert.equal(decoder.push(chunk(csid)).length, 1);
  assert.equal(decoder.push(chunk(3)).length, 1); // known csids stay usable
  assertCodecError(() => decoder.push(chunk(70_000 - 64_000)), 'ERR_RTMP_TOO_MANY_CHUNK_STREAMS');
  assertCodecError(
    () =>
      new ChunkDecoder().push(Buffer.concat(Array.from({ length: 65 }, (_, i) => chunk(3 + i)))),
    'ERR_RTMP_TOO_MANY_CHUNK_STREAMS',
  );
});

void test('ChunkDecoder.push() rejects partial messages beyond maxBufferedBytes (hostile 2)', () => {
  // Many csids, each with the first chunk of a large message.
  const partial = (csid: number) =>
    Buffer.concat([
      encodeMessage(msg({ csid }), 128).subarray(0, 1),
      hex('000000 100000 09 01000000'),
      pattern(128, 0),
    ]);
  const decoder = new ChunkDecoder({ maxBufferedBytes: 1000 });
  for (let csid = 3; csid < 10; csid++) decoder.push(partial(csid));
  assert.equal(decoder.bufferedBytes, 7 * 128);
  assertCodecError(() => decoder.push(partial(10)), 'ERR_RTMP_BUFFERED_BYTES');
});

void test('ChunkDecoder.push() stays unusable after an error and counts bytesReceived', () => {
  const decoder = new ChunkDecoder();
  decoder.push(hex('03 000000 000001 08 01000000'));
  assert.equal(decoder.bytesReceived, 12);
  assertCodecError(() => decoder.push(hex('00 c5 00')), 'ERR_RTMP_CHUNK_HEADER');
  assertCodecError(() => decoder.push(hex('c3')), 'ERR_RTMP_CHUNK_HEADER');
});

void test('ChunkDecoder.push() hands a one-chunk message out as a view of the input (no copy)', () => {
  const input = hex('03 000000 000002 08 01000000 abcd');
  const [m] = new ChunkDecoder().push(input);
  assert.equal(m?.payload.buffer, input.buffer);
});

/** The bytes of a `length`-byte video message on csid 6 at chunk size 1, all but its last chunk. */
function unfinishedInOneByteChunks(length: number): {
  bytes: Buffer;
  last: Buffer;
  payload: Buffer;
} {
  const payload = pattern(length, 7);
  const whole = Buffer.concat([setChunkSize(1), encodeMessage(msg({ csid: 6, payload }), 1)]);
  return { bytes: whole.subarray(0, whole.length - 2), last: whole.subarray(-2), payload };
}

/** Pushes `bytes` in 64 KiB pieces (socket reads), calling `each` after every push. */
function pushAsReads(decoder: ChunkDecoder, bytes: Buffer, each: () => void = () => undefined) {
  for (let off = 0; off < bytes.length; off += 64 * 1024) {
    assert.deepEqual(decoder.push(bytes.subarray(off, off + 64 * 1024)).length, off === 0 ? 1 : 0);
    each();
  }
}

void test('ChunkDecoder.push() holds an unfinished message in 1-byte chunks in at most twice its bytes (hostile 2)', () => {
  const { bytes, last, payload } = unfinishedInOneByteChunks(1 << 20);
  const decoder = new ChunkDecoder();
  pushAsReads(decoder, bytes, () => {
    const { retainedBytes, bufferedBytes } = decoder;
    assert.ok(retainedBytes <= 2 * bufferedBytes + 256, `${retainedBytes} for ${bufferedBytes}`);
  });
  assert.equal(decoder.bufferedBytes, payload.length - 1);
  const [message] = decoder.push(last);
  assert.ok(message?.payload.equals(payload), 'the message arrives intact');
  assert.deepEqual([decoder.bufferedBytes, decoder.retainedBytes], [0, 0]);
});

void test('ChunkDecoder.push() grows the heap by about the data, not per chunk, for 1-byte chunks (hostile 2)', () => {
  // 1 MiB of data in 1-byte chunks: a Buffer view per chunk (~100 bytes of heap each) would
  // hold over 100 MB until the message ends; a copy holds at most 2 MiB.
  const { bytes } = unfinishedInOneByteChunks(1 << 20);
  const decoder = new ChunkDecoder();
  const before = heldMemory();
  pushAsReads(decoder, bytes);
  const growth = heldMemory() - before;
  assert.equal(decoder.bufferedBytes, (1 << 20) - 1);
  assert.ok(growth < 8 * 1024 * 1024, `held ${growth} bytes for 1 MiB of data`);
});

void test('ChunkDecoder.push() hands a message spanning pushes out intact, in no input buffer', () => {
  const m = msg({ csid: 6, payload: pattern(20_000, 9) });
  const bytes = Buffer.concat([setChunkSize(4096), encodeMessage(m, 4096)]);
  const pieces = [bytes.subarray(0, 3000), bytes.subarray(3000, 9000), bytes.subarray(9000)];
  const decoder = new ChunkDecoder();
  const out = pieces.flatMap((piece) => decoder.push(piece));
  assert.deepEqual(out[1], m);
  assert.ok(pieces.every((piece) => piece.buffer !== out[1]?.payload.buffer));
  assert.deepEqual([decoder.bufferedBytes, decoder.retainedBytes], [0, 0]);
});

/** `bytes` cut into separate 64 KiB buffers, as a socket delivers them. */
function socketReads(bytes: Buffer): Buffer[] {
  const reads: Buffer[] = [];
  for (let off = 0; off < bytes.length; off += 64 * 1024) {
    reads.push(Buffer.from(bytes.subarray(off, off + 64 * 1024)));
  }
  return reads;
}

void test('ChunkDecoder.push() keeps large chunks of a message straddling reads as views of the reads (no copy)', () => {
  const m = msg({ csid: 6, payload: pattern(100_000, 5) });
  const [first, second] = socketReads(Buffer.concat([setChunkSize(4096), encodeMessage(m, 4096)]));
  assert.ok(first && second);
  const decoder = new ChunkDecoder();
  assert.equal(decoder.push(first).length, 1);
  // What is kept is the read itself (plus a Buffer object per chunk), not a copy beside it.
  assert.ok(decoder.retainedBytes >= first.length);
  assert.ok(decoder.retainedBytes <= first.length + 16 * 128, String(decoder.retainedBytes));
  assert.deepEqual(decoder.push(second), [m]);
  assert.equal(decoder.retainedBytes, 0);
});

void test('ChunkDecoder.push() copies instead of pinning reads that are mostly other data (hostile 2)', () => {
  // Each 64 KiB read: one 4096-byte chunk of an unfinished 1 MiB message, then 15 finished
  // 4000-byte messages. Views would pin all of every read for 4 KiB of it.
  const filler = encodeMessage(msg({ csid: 8, payload: pattern(4000, 1) }), 4096);
  // csid 6, fmt 0: timestamp 0, length 0x100000, video, message stream 1.
  const reads = [Buffer.concat([setChunkSize(4096), hex('06 000000 100000 09 01000000')])];
  for (let i = 0; i < 40; i++) {
    const chunk = Buffer.concat([i === 0 ? Buffer.alloc(0) : hex('c6'), pattern(4096, i)]);
    reads.push(Buffer.concat([chunk, ...Array.from({ length: 15 }, () => filler)]));
  }
  const decoder = new ChunkDecoder();
  for (const read of reads) decoder.push(read);
  assert.equal(decoder.bufferedBytes, 40 * 4096);
  const bound = 2 * decoder.bufferedBytes + 256 + 64 * 1024;
  assert.ok(decoder.retainedBytes <= bound, `${decoder.retainedBytes} > ${bound}`);
});

// ---- Fuzz seeds (gortmplib corpora) and properties ----

interface Seed {
  readonly package: string;
  readonly name: string;
  readonly args: readonly { readonly hex: string }[];
}

const seeds = (JSON.parse(readFileSync(RTMP_FUZZ_SEEDS, 'utf8')) as Seed[]).filter((s) =>
  ['chunk', 'message', 'rawmessage'].includes(s.package),
);

void test('ChunkDecoder.push() decodes or raises CodecError on every gortmplib fuzz seed, whole or byte by byte', () => {
  assert.ok(seeds.length >= 50, `only ${seeds.length} seeds`);
  for (const seed of seeds) {
    for (const arg of seed.args) {
      const bytes = Buffer.from(arg.hex, 'hex');
      const whole = decodeOrCodecError(() => new ChunkDecoder().push(bytes));
      const split = decodeOrCodecError(() => decodeByteByByte(bytes));
      assert.equal(split, whole, `${seed.package}/${seed.name}`);
      // After a valid Set Chunk Size of 1 the same bytes still only decode or raise CodecError.
      decodeOrCodecError(() => new ChunkDecoder().push(Buffer.concat([setChunkSize(1), bytes])));
    }
  }
});

const timestampArb = fc.oneof(
  fc.integer({ min: 0, max: 0xfffffe }),
  fc.integer({ min: 0xffffff, max: 0xffffffff }),
);
const messageArb = fc
  .record({
    csid: fc.integer({ min: 2, max: 65599 }),
    typeId: fc.integer({ min: 3, max: 255 }), // not 1/2: those change decoder state
    streamId: fc.integer({ min: 0, max: 0xffffffff }),
    timestamp: timestampArb,
    payload: fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
  })
  .map((m): RtmpMessage => ({ ...m })); // fc.record objects have a null prototype

void test('property: decode(encodeMessage(m)) equals m for any chunk size and any input split', () => {
  fc.assert(
    fc.property(
      fc.array(messageArb, { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 65536 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (messages, chunkSize, cutSeeds) => {
        const bytes = Buffer.concat([
          setChunkSize(chunkSize),
          ...messages.map((m) => encodeMessage(m, chunkSize)),
        ]);
        const whole = new ChunkDecoder().push(bytes).slice(1);
        assert.deepEqual(whole, messages);
        const cuts = cutSeeds.map((n) => n % (bytes.length + 1));
        assert.deepEqual(decodeSplit(bytes, cuts).slice(1), messages);
      },
    ),
    { numRuns: 150 },
  );
});

void test('property: memory held for unfinished messages stays within twice their bytes, any chunk size and split', () => {
  fc.assert(
    fc.property(
      fc.array(messageArb, { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (messages, chunkSize, cutSeeds) => {
        const bytes = Buffer.concat([
          setChunkSize(chunkSize),
          ...messages.map((m) => encodeMessage(m, chunkSize)),
        ]);
        const cuts = [...new Set(cutSeeds.map((n) => n % (bytes.length + 1)))].sort(
          (a, b) => a - b,
        );
        const decoder = new ChunkDecoder();
        const out: RtmpMessage[] = [];
        let start = 0;
        for (const cut of [...cuts, bytes.length]) {
          out.push(...decoder.push(bytes.subarray(start, cut)));
          start = cut;
          // One message unfinished at a time (they are sent one after another): twice its
          // bytes, plus one pushed buffer its views may keep alive.
          assert.ok(decoder.retainedBytes <= 2 * decoder.bufferedBytes + 256 + 64 * 1024);
        }
        assert.deepEqual(out.slice(1), messages);
        assert.deepEqual([decoder.bufferedBytes, decoder.retainedBytes], [0, 0]);
      },
    ),
    { numRuns: 150 },
  );
});

void test('property: byte-by-byte delivery gives the same messages as one push', () => {
  fc.assert(
    fc.property(messageArb, fc.integer({ min: 1, max: 300 }), (m, chunkSize) => {
      const bytes = Buffer.concat([setChunkSize(chunkSize), encodeMessage(m, chunkSize)]);
      assert.deepEqual(decodeByteByByte(bytes).slice(1), [m]);
    }),
    { numRuns: 40 },
  );
});

void test('property: ChunkEncoder output (compressed headers) decodes to the same messages', () => {
  // Few csids, streams, types and sizes, so fmt 1/2/3 headers occur; deltas include extended
  // ones and backward jumps (which force fmt 0).
  const stepArb = fc.record({
    csid: fc.constantFrom(3, 4, 64, 400),
    typeId: fc.constantFrom(8, 9, 18),
    streamId: fc.constantFrom(0, 1),
    deltaMs: fc.oneof(
      fc.constantFrom(0, 20, 33),
      fc.integer({ min: -5000, max: 5000 }),
      fc.integer({ min: 0xffffff, max: 0x7fffffff }),
    ),
    size: fc.oneof(fc.constantFrom(0, 10, 300), fc.integer({ min: 0, max: 3000 })),
  });
  fc.assert(
    fc.property(
      fc.array(stepArb, { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (steps, chunkSize, cutSeeds) => {
        const last = new Map<number, number>();
        const messages = steps.map((s, i): RtmpMessage => {
          const timestamp = ((last.get(s.csid) ?? 0) + s.deltaMs) >>> 0;
          last.set(s.csid, timestamp);
          return { ...s, timestamp, payload: pattern(s.size, i) };
        });
        const encoder = new ChunkEncoder(chunkSize);
        const bytes = Buffer.concat([
          setChunkSize(chunkSize),
          ...messages.map((m) => encoder.encode(m)),
        ]);
        const expected = messages.map(({ csid, typeId, streamId, timestamp, payload }) => ({
          csid,
          typeId,
          streamId,
          timestamp,
          payload,
        }));
        assert.deepEqual(new ChunkDecoder().push(bytes).slice(1), expected);
        const cuts = cutSeeds.map((n) => n % (bytes.length + 1));
        assert.deepEqual(decodeSplit(bytes, cuts).slice(1), expected);
      },
    ),
    { numRuns: 150 },
  );
});

void test('property: random bytes only ever raise CodecError and buffer no more than they bring', () => {
  const optionsArb = fc.constantFrom<ChunkDecoderOptions>(
    {},
    { maxMessageBytes: 1000, maxChunkStreams: 3, maxBufferedBytes: 2000 },
  );
  const prefixArb = fc.constantFrom(Buffer.alloc(0), setChunkSize(1), setChunkSize(0x7fffffff));
  fc.assert(
    fc.property(
      optionsArb,
      prefixArb,
      fc.array(fc.uint8Array({ maxLength: 600 }), { minLength: 1, maxLength: 6 }),
      (options, prefix, pieces) => {
        const decoder = new ChunkDecoder(options);
        let pushed = 0;
        decodeOrCodecError(() => {
          decoder.push(prefix);
          for (const piece of pieces) {
            pushed += piece.length;
            decoder.push(Buffer.from(piece));
            assert.ok(decoder.bufferedBytes <= pushed);
          }
        });
      },
    ),
    { numRuns: 500 },
  );
});
