import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CodecError } from './codec-error.ts';
import {
  box,
  encodeAudioSampleEntry,
  encodeDinf,
  encodeDops,
  encodeEsds,
  encodeFtyp,
  encodeHdlr,
  encodeMdhd,
  encodeMoofMdat,
  encodeMvex,
  encodeMvhd,
  encodeSmhd,
  encodeStbl,
  encodeTkhd,
  encodeVisualSampleEntry,
  encodeVmhd,
  fullBox,
  uints,
} from './mp4-boxes.ts';

/** Hex with spaces and line breaks ignored. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const isRangeError = (e: unknown): boolean =>
  e instanceof CodecError && e.code === 'ERR_FMP4_FIELD_RANGE';

test('box() writes the total size, the type and the payloads in order', () => {
  assert.deepEqual(box('free'), hex('00000008 66726565'));
  assert.deepEqual(
    box('abcd', Buffer.from([1, 2]), Buffer.from([3])),
    hex('0000000b 61626364 010203'),
  );
  const nested = box('moov', box('abcd', Buffer.alloc(4)), box('efgh'));
  assert.equal(nested.readUInt32BE(0), 8 + 12 + 8);
  assert.equal(nested.readUInt32BE(8), 12);
  assert.equal(nested.readUInt32BE(20), 8);
});

test('box() rejects a type that is not 4 characters with ERR_FMP4_FIELD_RANGE', () => {
  assert.throws(() => box('abc'), isRangeError);
  assert.throws(() => box('abcde'), isRangeError);
});

test('fullBox() puts version and 24-bit flags before the payload; rejects out-of-range ones', () => {
  assert.deepEqual(fullBox('tfdt', 1, 0x020001, hex('ff')), hex('0000000d 74666474 01020001 ff'));
  assert.throws(() => fullBox('tfdt', 256, 0), isRangeError);
  assert.throws(() => fullBox('tfdt', 0, 0x1000000), isRangeError);
});

test('uints() writes big-endian fields, u64 from a safe integer, and rejects values that do not fit', () => {
  assert.deepEqual(uints(2, 1, 0xffff), hex('0001 ffff'));
  assert.deepEqual(uints(3, 0x123456), hex('123456'));
  assert.deepEqual(uints(8, 2 ** 32 + 2), hex('00000001 00000002'));
  assert.throws(() => uints(1, 256), isRangeError);
  assert.throws(() => uints(4, -1), isRangeError);
  assert.throws(() => uints(4, 1.5), isRangeError);
  assert.throws(() => uints(8, 2 ** 53), isRangeError);
});

test('encodeFtyp(), encodeMvhd(), encodeTkhd(), encodeMdhd() have their ISO BMFF sizes', () => {
  assert.deepEqual(
    encodeFtyp('iso6', 0, ['iso6', 'cmfc']),
    Buffer.concat([
      hex('00000018'),
      Buffer.from('ftypiso6'),
      hex('00000000'),
      Buffer.from('iso6cmfc'),
    ]),
  );
  const mvhd = encodeMvhd(1000, 3);
  assert.equal(mvhd.length, 108);
  assert.equal(mvhd.readUInt32BE(20), 1000, 'timescale');
  assert.equal(mvhd.readUInt32BE(104), 3, 'next_track_ID');
  const tkhd = encodeTkhd({ trackId: 2, audio: false, widthPx: 1280, heightPx: 720 });
  assert.equal(tkhd.length, 92);
  assert.equal(tkhd.readUInt32BE(8), 3, 'version 0, flags enabled | in movie');
  assert.equal(tkhd.readUInt32BE(20), 2, 'track_ID');
  assert.equal(tkhd.readUInt32BE(84), 1280 * 65536);
  assert.equal(tkhd.readUInt32BE(88), 720 * 65536);
  assert.throws(
    () => encodeTkhd({ trackId: 1, audio: false, widthPx: 65536, heightPx: 1 }),
    isRangeError,
  );
  const mdhd = encodeMdhd(48000);
  assert.equal(mdhd.length, 32);
  assert.equal(mdhd.readUInt32BE(20), 48000);
  assert.equal(mdhd.readUInt16BE(28), 0x55c4, "language 'und'");
});

test('encodeHdlr(), encodeVmhd(), encodeSmhd(), encodeDinf(), encodeMvex() write the fixed layouts', () => {
  assert.deepEqual(
    encodeHdlr('vide', 'V'),
    Buffer.concat([
      hex('00000022'),
      Buffer.from('hdlr'),
      hex('00000000 00000000'),
      Buffer.from('vide'),
      Buffer.alloc(12),
      Buffer.from('V\0'),
    ]),
  );
  assert.deepEqual(encodeVmhd(), hex('00000014 766d6864 00000001 0000 0000 0000 0000'));
  assert.deepEqual(encodeSmhd(), hex('00000010 736d6864 00000000 0000 0000'));
  assert.deepEqual(
    encodeDinf(),
    hex('00000024 64696e66 0000001c 64726566 00000000 00000001 0000000c 75726c20 00000001'),
  );
  assert.deepEqual(
    encodeMvex([1]),
    hex(
      '00000028 6d766578 00000020 74726578 00000000 00000001 00000001 00000000 00000000 00000000',
    ),
  );
});

test('encodeStbl() holds stsd with the entry, then empty stts, stsc, stsz and stco', () => {
  const entry = box('test');
  assert.deepEqual(
    encodeStbl(entry),
    hex(`00000064 7374626c
      00000018 73747364 00000000 00000001 00000008 74657374
      00000010 73747473 00000000 00000000
      00000010 73747363 00000000 00000000
      00000014 7374737a 00000000 00000000 00000000
      00000010 7374636f 00000000 00000000`),
  );
});

test('encodeVisualSampleEntry() writes the 78-byte VisualSampleEntry fields, then the avcC', () => {
  const avcC = box('avcC', hex('0164001fffe100'));
  const avc1 = encodeVisualSampleEntry('avc1', { widthPx: 320, heightPx: 240 }, avcC);
  assert.deepEqual(
    avc1,
    Buffer.concat([
      hex('00000065'),
      Buffer.from('avc1'),
      hex('000000000000 0001'), // reserved, data_reference_index
      hex('0000 0000 00000000 00000000 00000000'), // pre_defined, reserved, pre_defined
      hex('0140 00f0 00480000 00480000 00000000 0001'), // 320 x 240, 72 dpi, frame_count
      Buffer.alloc(32), // compressorname
      hex('0018 ffff'),
      hex('0000000f 61766343 0164001fffe100'),
    ]),
  );
});

test('encodeAudioSampleEntry() writes channels, 16-bit samples and a 16.16 rate (0 above 65535 Hz)', () => {
  const mp4a = encodeAudioSampleEntry('mp4a', { channels: 2, sampleRateHz: 44100 });
  assert.deepEqual(
    mp4a,
    hex('00000024 6d703461 000000000000 0001 00000000 00000000 0002 0010 0000 0000 ac440000'),
  );
  assert.equal(
    encodeAudioSampleEntry('mp4a', { channels: 2, sampleRateHz: 96000 }).readUInt32BE(32),
    0,
  );
});

test('encodeEsds() nests ES, DecoderConfig (MPEG-4 audio) and DecoderSpecificInfo = the ASC', () => {
  assert.deepEqual(
    encodeEsds(hex('1210')),
    hex(`00000027 65736473 00000000
      03 19 0000 00
        04 11 40 15 000000 00000000 00000000
          05 02 1210
        06 01 02`),
  );
  // A 200-byte DecoderSpecificInfo needs a 2-byte expandable size: 0x81 0x48.
  const esds = encodeEsds(Buffer.alloc(200, 7));
  const dsi = esds.indexOf(hex('05 8148 07'));
  assert.ok(dsi > 0, 'DecoderSpecificInfo with size 81 48');
  assert.equal(esds.length, 12 + 3 + 3 + 3 + 13 + 3 + 200 + 3);
});

test('encodeDops() converts a little-endian OpusHead to a big-endian dOps, keeping the mapping table', () => {
  // OpusHead: version 1, 2 channels, pre-skip 312, 48000 Hz, gain -256, family 0.
  const head = Buffer.concat([Buffer.from('OpusHead'), hex('01 02 3801 80bb0000 00ff 00')]);
  assert.deepEqual(encodeDops(head), hex('00000013 644f7073 00 02 0138 0000bb80 ff00 00'));
  // Family 1, 3 channels: stream count 2, coupled 1, mapping 0 2 1.
  const surround = Buffer.concat([
    Buffer.from('OpusHead'),
    hex('01 03 3801 80bb0000 0000 01 02 01 000201'),
  ]);
  assert.deepEqual(
    encodeDops(surround),
    hex('00000018 644f7073 00 03 0138 0000bb80 0000 01 02 01 000201'),
  );
  // A dOps body is copied (big-endian already).
  assert.deepEqual(
    encodeDops(hex('00 02 0138 0000bb80 0000 00')),
    hex('00000013 644f7073 00 02 0138 0000bb80 0000 00'),
  );
  assert.throws(
    () =>
      encodeDops(Buffer.concat([Buffer.from('OpusHead'), hex('01 03 3801 80bb0000 0000 01 02')])),
    {
      code: 'ERR_OPUS_HEAD',
    },
  );
});

test('encodeMoofMdat() writes a hand-checked moof + mdat for one sample', () => {
  const fragment = encodeMoofMdat(1, [
    {
      trackId: 1,
      baseDecodeTimeTicks: 2 ** 32 + 1,
      samples: [
        { data: Buffer.from('ab'), durationTicks: 1024, ctsOffsetTicks: 0, keyframe: true },
      ],
    },
  ]);
  assert.deepEqual(
    fragment,
    hex(`00000064 6d6f6f66
      00000010 6d666864 00000000 00000001
      0000004c 74726166
        00000010 74666864 00020000 00000001
        00000014 74666474 01000000 00000001 00000001
        00000020 7472756e 01000701 00000001 0000006c 00000400 00000002 02000000
      0000000a 6d646174 6162`),
  );
});

test('encodeMoofMdat() adds the signed composition offset column only when an offset is non-zero', () => {
  const sample = {
    data: Buffer.from('x'),
    durationTicks: 3000,
    ctsOffsetTicks: -3000,
    keyframe: false,
  };
  const fragment = encodeMoofMdat(2, [{ trackId: 1, baseDecodeTimeTicks: 0, samples: [sample] }]);
  const trun = fragment.indexOf('trun') - 4;
  assert.equal(fragment.readUInt32BE(trun), 12 + 8 + 16, 'trun size');
  assert.equal(fragment.readUInt32BE(trun + 8), 0x01000f01, 'version 1, flags with cts offsets');
  assert.equal(fragment.readUInt32BE(trun + 28), 0x01010000, 'non-sync sample flags');
  assert.equal(fragment.readInt32BE(trun + 32), -3000);
});

test('encodeMoofMdat() property: the moof size plus the mdat size is the whole buffer', () => {
  const sample = fc.record({
    data: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
    durationTicks: fc.nat({ max: 0xffffffff }),
    ctsOffsetTicks: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    keyframe: fc.boolean(),
  });
  const run = fc.record({
    trackId: fc.integer({ min: 1, max: 0xffffffff }),
    baseDecodeTimeTicks: fc.maxSafeNat(),
    samples: fc.array(sample, { maxLength: 8 }),
  });
  fc.assert(
    fc.property(fc.nat({ max: 0xffffffff }), fc.array(run, { maxLength: 3 }), (seq, runs) => {
      const out = encodeMoofMdat(seq, runs);
      const moofBytes = out.readUInt32BE(0);
      assert.equal(out.toString('latin1', 4, 8), 'moof');
      assert.equal(out.toString('latin1', moofBytes + 4, moofBytes + 8), 'mdat');
      assert.equal(moofBytes + out.readUInt32BE(moofBytes), out.length);
    }),
  );
});
