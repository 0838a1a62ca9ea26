import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from './codec-error.ts';
import { FlvDecoder, FlvTagType, encodeFlvHeader, encodeFlvTag } from './flv.ts';
import type { FlvTag } from './flv.ts';
import { AV1_OPUS_FLV } from '../../test/support/fixtures.ts';

const FIXTURE = AV1_OPUS_FLV;

/** Feeds `bytes` to a new decoder cut at `cuts` (sorted offsets) and collects every tag. */
function decodeSplit(bytes: Buffer, cuts: readonly number[], decoder = new FlvDecoder()): FlvTag[] {
  const tags: FlvTag[] = [];
  let start = 0;
  for (const cut of [...cuts, bytes.length]) {
    tags.push(...decoder.push(bytes.subarray(start, cut)));
    start = cut;
  }
  return tags;
}

function assertCodecError(fn: () => unknown, code: string): void {
  assert.throws(fn, (error: unknown) => error instanceof CodecError && error.code === code);
}

void test('encodeFlvHeader() writes the 9-byte header and PreviousTagSize0', () => {
  assert.equal(
    encodeFlvHeader({ audio: true, video: true }).toString('hex'),
    '464c5601050000000900000000',
  );
  assert.equal(
    encodeFlvHeader({ audio: false, video: true }).toString('hex'),
    '464c5601010000000900000000',
  );
  assert.equal(
    encodeFlvHeader({ audio: true, video: false }).toString('hex'),
    '464c5601040000000900000000',
  );
});

void test('encodeFlvTag() writes header, body and PreviousTagSize with the extended timestamp byte', () => {
  const tag = encodeFlvTag(FlvTagType.Video, 0x12345678, Buffer.from([0xaa, 0xbb]));
  assert.equal(
    tag.toString('hex'),
    '09' + '000002' + '345678' + '12' + '000000' + 'aabb' + '0000000d',
  );
});

void test('encodeFlvTag() writes timestamps modulo 2^32', () => {
  const tag = encodeFlvTag(FlvTagType.Audio, 2 ** 32 + 5, Buffer.alloc(0));
  assert.equal(tag.subarray(4, 8).toString('hex'), '00000500');
});

void test('encodeFlvTag() rejects a body larger than DataSize allows', () => {
  assertCodecError(
    () => encodeFlvTag(FlvTagType.Video, 0, Buffer.alloc(0x1000000)),
    'ERR_FLV_TAG_TOO_LARGE',
  );
});

void test('FlvDecoder.push() returns decode(encode(tags)) equal to tags for any split', () => {
  const tagArb = fc.record({
    type: fc.constantFrom(FlvTagType.Audio, FlvTagType.Video, FlvTagType.Script),
    timestamp: fc.integer({ min: 0, max: 0xffffffff }),
    body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  });
  fc.assert(
    fc.property(
      fc.array(tagArb, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (tags, rawCuts) => {
        const bytes = Buffer.concat([
          encodeFlvHeader({ audio: true, video: true }),
          ...tags.map((t) => encodeFlvTag(t.type, t.timestamp, t.body)),
        ]);
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const decoded = decodeSplit(bytes, cuts);
        assert.deepEqual(
          decoded.map((t) => ({ ...t, body: t.body.toString('hex') })),
          tags.map((t) => ({ ...t, body: t.body.toString('hex') })),
        );
      },
    ),
  );
});

void test('FlvDecoder.push() decodes one byte at a time', () => {
  const bytes = Buffer.concat([
    encodeFlvHeader({ audio: true, video: false }),
    encodeFlvTag(FlvTagType.Audio, 40, Buffer.from('abc')),
  ]);
  const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  const tags = decodeSplit(bytes, cuts);
  assert.equal(tags.length, 1);
  assert.equal(tags[0]!.body.toString(), 'abc');
  assert.equal(tags[0]!.timestamp, 40);
});

void test('FlvDecoder.push() returns a tag before its PreviousTagSize arrives', () => {
  const tag = encodeFlvTag(FlvTagType.Video, 1, Buffer.from([1, 2, 3]));
  const decoder = new FlvDecoder();
  const header = encodeFlvHeader({ audio: false, video: true });
  const tags = decoder.push(Buffer.concat([header, tag.subarray(0, tag.length - 4)]));
  assert.equal(tags.length, 1);
  assert.deepEqual(decoder.push(tag.subarray(tag.length - 4)), []);
});

void test('FlvDecoder.push() returns bodies as subarrays of a chunk that holds the whole tag', () => {
  const bytes = Buffer.concat([
    encodeFlvHeader({ audio: true, video: true }),
    encodeFlvTag(FlvTagType.Video, 0, Buffer.from('payload')),
  ]);
  const [tag] = new FlvDecoder().push(bytes);
  assert.equal(tag!.body.buffer, bytes.buffer);
  assert.equal(tag!.body.byteOffset, bytes.byteOffset + 13 + 11);
});

void test('FlvDecoder.push() ignores a PreviousTagSize that does not match', () => {
  const tag = encodeFlvTag(FlvTagType.Video, 7, Buffer.from('x'));
  tag.writeUInt32BE(0xffffffff, tag.length - 4);
  const bytes = Buffer.concat([encodeFlvHeader({ audio: true, video: true }), tag, tag]);
  assert.equal(new FlvDecoder().push(bytes).length, 2);
});

void test('FlvDecoder.push() skips header bytes beyond a DataOffset of 9', () => {
  const header = encodeFlvHeader({ audio: true, video: true });
  header.writeUInt32BE(12, 5);
  const bytes = Buffer.concat([
    header.subarray(0, 9),
    Buffer.from([0xee, 0xee, 0xee]),
    Buffer.alloc(4),
    encodeFlvTag(FlvTagType.Script, 0, Buffer.from('meta')),
  ]);
  const tags = new FlvDecoder().push(bytes);
  assert.equal(tags.length, 1);
  assert.equal(tags[0]!.body.toString(), 'meta');
});

void test('FlvDecoder.push() rejects a bad signature, version or DataOffset with ERR_FLV_HEADER', () => {
  const good = encodeFlvHeader({ audio: true, video: true });
  const cases = [
    Buffer.from('GIF89a\0\0\0\0\0\0\0'),
    Buffer.concat([Buffer.from('FLV'), Buffer.from([2]), good.subarray(4)]),
    Buffer.from(good).fill(0, 5, 9),
    Buffer.concat([good.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff, 0xff])]),
  ];
  for (const bytes of cases) assertCodecError(() => new FlvDecoder().push(bytes), 'ERR_FLV_HEADER');
});

void test('FlvDecoder.push() rejects a DataSize above maxTagBytes before the body arrives', () => {
  const header = encodeFlvHeader({ audio: true, video: true });
  const tagHeader = Buffer.from('09ffffff00000000000000', 'hex');
  const oneMiB = new FlvDecoder({ maxTagBytes: 1024 * 1024 });
  assertCodecError(() => oneMiB.push(Buffer.concat([header, tagHeader])), 'ERR_FLV_TAG_TOO_LARGE');
  const small = new FlvDecoder({ maxTagBytes: 10 });
  const tag = encodeFlvTag(FlvTagType.Video, 0, Buffer.alloc(11));
  assertCodecError(
    () => small.push(Buffer.concat([header, tag.subarray(0, 11)])),
    'ERR_FLV_TAG_TOO_LARGE',
  );
  const ok = new FlvDecoder({ maxTagBytes: 10 });
  assert.equal(
    ok.push(Buffer.concat([header, encodeFlvTag(FlvTagType.Video, 0, Buffer.alloc(10))])).length,
    1,
  );
});

void test('FlvDecoder.push() on random bytes only throws CodecError', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 400 }), (withHeader, random) => {
      const bytes = Buffer.concat([
        withHeader ? encodeFlvHeader({ audio: true, video: true }) : Buffer.alloc(0),
        Buffer.from(random),
      ]);
      try {
        new FlvDecoder().push(bytes);
      } catch (error) {
        assert.ok(error instanceof CodecError, String(error));
      }
    }),
  );
});

void test('FlvDecoder.push() reads every tag of the enhanced-RTMP fixture, whole or in 1000-byte pieces', () => {
  const bytes = readFileSync(FIXTURE);
  const whole = new FlvDecoder().push(bytes);
  assert.equal(whole.length, 807);
  assert.equal(whole[0]!.type, FlvTagType.Script);
  assert.ok(whole.some((t) => t.type === FlvTagType.Video));
  assert.ok(whole.some((t) => t.type === FlvTagType.Audio));
  const cuts = Array.from({ length: Math.floor(bytes.length / 1000) }, (_, i) => (i + 1) * 1000);
  const pieces = decodeSplit(bytes, cuts);
  assert.deepEqual(
    pieces.map((t) => [t.type, t.timestamp, t.body.length]),
    whole.map((t) => [t.type, t.timestamp, t.body.length]),
  );
  // Re-encoding gives the file back byte for byte (after the header).
  const reencoded = Buffer.concat(whole.map((t) => encodeFlvTag(t.type, t.timestamp, t.body)));
  assert.ok(reencoded.equals(bytes.subarray(13)));
});
