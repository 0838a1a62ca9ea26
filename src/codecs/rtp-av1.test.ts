import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  av1SequenceHeaderSize,
  buildAv1CodecConfig,
  encodeLeb128,
  parseAv1SequenceHeader,
  readLeb128,
} from './av1.ts';
import { Av1Depacketizer } from './rtp-av1.ts';
import { withoutTemporalDelimiters } from './av1.ts';
import { FlvDecoder, FlvTagType } from './flv.ts';
import { AV1_OPUS_FLV } from '../../test/support/fixtures.ts';
import { av1RtpPayloads as packetize, unsizedObus } from '../../test/support/av1-rtp.ts';

/** av1C of the enhanced-RTMP fixture (libaom, 4:4:4 so profile 1, seq_level_idx 4). */
const FIXTURE_AV1C = Buffer.from('812400000a0e20000024cfa70dbfff3404340080', 'hex');
/** Its sequence header OBU, with its size field. */
const SEQUENCE_HEADER = FIXTURE_AV1C.subarray(4);
const LIMITS = { maxTemporalUnitBytes: 1 << 20, maxObus: 64 };

/** An OBU of `type` without a size field (as RTP carries it). */
function obu(type: number, payload: Buffer, extension?: number): Buffer {
  const header = Buffer.from(
    extension === undefined ? [type << 3] : [(type << 3) | 0x04, extension],
  );
  return Buffer.concat([header, payload]);
}

/** The same OBU in the low-overhead format (obu_has_size_field = 1). */
function sized(unsized: Buffer): Buffer {
  const headerBytes = ((unsized[0] ?? 0) & 0x04) !== 0 ? 2 : 1;
  const header = Buffer.from(unsized.subarray(0, headerBytes));
  header[0] = (header[0] ?? 0) | 0x02;
  const payload = unsized.subarray(headerBytes);
  return Buffer.concat([header, encodeLeb128(payload.length), payload]);
}

/** Sequence header OBU without its size field. */
const SEQUENCE_HEADER_UNSIZED = obu(1, SEQUENCE_HEADER.subarray(2));
/** A frame OBU whose uncompressed header starts show_existing_frame 0, KEY_FRAME. */
const KEY_FRAME = obu(6, Buffer.from([0x10, 1, 2, 3, 4]));
/** An INTER_FRAME (frame_type 1). */
const INTER_FRAME = obu(6, Buffer.from([0x20, 5, 6, 7]));
const TEMPORAL_DELIMITER = obu(2, Buffer.alloc(0));

test('buildAv1CodecConfig() makes the fixture av1C from its sequence header', () => {
  const { config, header } = buildAv1CodecConfig(SEQUENCE_HEADER);
  assert.deepEqual(config, FIXTURE_AV1C);
  assert.equal(header.seqProfile, 1);
  assert.equal(header.seqLevelIdx0, 4);
  assert.equal(header.subsamplingX, 0);
  assert.deepEqual(av1SequenceHeaderSize(SEQUENCE_HEADER), {
    widthPx: header.widthPx,
    heightPx: header.heightPx,
  });
  assert.throws(() => buildAv1CodecConfig(KEY_FRAME));
  assert.equal(parseAv1SequenceHeader(SEQUENCE_HEADER.subarray(2)).monochrome, false);
});

test('encodeLeb128() and readLeb128() are inverse, in the fewest bytes', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (value) => {
      const bytes = encodeLeb128(value);
      assert.deepEqual(readLeb128(bytes, 0), { value, bytes: bytes.length });
      assert.equal(bytes.length, Math.max(1, Math.ceil(Math.log2(value + 1) / 7)));
    }),
  );
});

test('a keyframe temporal unit: size fields added, temporal delimiter dropped, sequence header kept', () => {
  const d = new Av1Depacketizer(LIMITS);
  const [payload] = packetize([TEMPORAL_DELIMITER, SEQUENCE_HEADER_UNSIZED, KEY_FRAME], 1200, true);
  assert.ok(payload);
  assert.equal((payload[0] ?? 0) & 0x38, 0x38, 'W=3, N');
  const units = d.push(payload, 3000, true);
  assert.equal(units.length, 1);
  const unit = units[0];
  assert.ok(unit);
  assert.deepEqual(unit.data, Buffer.concat([SEQUENCE_HEADER, sized(KEY_FRAME)]));
  assert.equal(unit.keyframe, true);
  assert.equal(unit.newSequence, true);
  assert.deepEqual(unit.sequenceHeader, SEQUENCE_HEADER);
  assert.equal(unit.timestamp, 3000);
  assert.deepEqual(d.takeDrops(), []);
});

test('an inter frame, or a key frame without a sequence header, is no keyframe; a new timestamp ends a unit', () => {
  const d = new Av1Depacketizer(LIMITS);
  const [inter] = packetize([INTER_FRAME], 1200, false);
  const [key] = packetize([KEY_FRAME], 1200, true);
  assert.ok(inter && key);
  assert.deepEqual(d.push(inter, 1, false), []);
  const units = d.push(key, 2, true);
  assert.deepEqual(
    units.map((u) => [u.timestamp, u.keyframe]),
    [
      [1, false],
      [2, false],
    ],
  );
});

test('OBUs that already have size fields, and extension headers, come out as they were', () => {
  const d = new Av1Depacketizer(LIMITS);
  const frame = sized(obu(6, Buffer.from([0x20, 9, 9]), 0x08));
  const [payload] = packetize([sized(SEQUENCE_HEADER_UNSIZED), frame], 1200, false);
  assert.ok(payload);
  const [unit] = d.push(payload, 0, true);
  assert.deepEqual(unit?.data, Buffer.concat([SEQUENCE_HEADER, frame]));
});

test('property: packetized OBUs come back as the low-overhead temporal unit, whatever the split', () => {
  const obuArb = fc
    .tuple(
      fc.constantFrom(3, 4, 5, 6, 2),
      fc.uint8Array({ maxLength: 3000 }),
      fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
    )
    .map(([type, body, ext]) => obu(type, Buffer.from(body), ext));
  fc.assert(
    fc.property(
      fc.array(obuArb, { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 8, max: 1400 }),
      fc.boolean(),
      (obus, maxPayload, useW) => {
        const d = new Av1Depacketizer(LIMITS);
        const packets = packetize(obus, maxPayload, useW);
        const units = packets.flatMap((p, i) => d.push(p, 90, i === packets.length - 1));
        const kept = obus.filter((o) => (o[0] ?? 0) >>> 3 !== 2).map(sized);
        assert.deepEqual(d.takeDrops(), []);
        if (kept.length === 0) assert.deepEqual(units, []);
        else assert.deepEqual(units[0]?.data, Buffer.concat(kept));
      },
    ),
  );
});

test('a fragment without its start drops that temporal unit, the next one comes through', () => {
  const d = new Av1Depacketizer(LIMITS);
  const big = obu(6, Buffer.alloc(3000, 0x20));
  const packets = packetize([big], 1000, false);
  assert.ok(packets.length >= 3);
  d.lost();
  assert.deepEqual(
    packets.slice(1).flatMap((p, i) => d.push(p, 10, i === packets.length - 2)),
    [],
  );
  assert.deepEqual(d.takeDrops(), ['fragment-lost']);
  const [next] = packetize([SEQUENCE_HEADER_UNSIZED, KEY_FRAME], 1200, true);
  assert.ok(next);
  assert.equal(d.push(next, 20, true)[0]?.keyframe, true);
});

test('a loss in the middle of a temporal unit drops it', () => {
  const d = new Av1Depacketizer(LIMITS);
  const packets = packetize([obu(6, Buffer.alloc(3000, 0x20))], 1000, false);
  d.push(packets[0] ?? Buffer.alloc(0), 10, false);
  d.lost();
  d.push(packets[2] ?? Buffer.alloc(0), 10, true);
  assert.deepEqual(d.takeDrops(), ['fragment-lost']);
});

test('a malformed LEB128 length, an element past the payload, a forbidden bit: the unit is dropped', () => {
  const cases = [
    Buffer.from([0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    Buffer.from([0x00, 0x10, 0x30, 1, 2]),
    Buffer.from([0x10, 0xb0, 1, 2]),
    Buffer.from([0x20, 0x02, 0x30, 1]), // W=2, one element
    Buffer.from([0x10, 0x32, 0x05, 1]), // size field past the element
  ];
  for (const payload of cases) {
    const d = new Av1Depacketizer(LIMITS);
    assert.deepEqual(d.push(payload, 0, true), [], payload.toString('hex'));
    assert.deepEqual(d.takeDrops(), ['malformed'], payload.toString('hex'));
  }
});

test('a temporal unit over the bound is dropped with too-large; so is one with too many OBUs', () => {
  const d = new Av1Depacketizer({ maxTemporalUnitBytes: 4000, maxObus: 4 });
  const packets = packetize([obu(6, Buffer.alloc(5000, 0x20))], 1200, true);
  assert.deepEqual(
    packets.flatMap((p, i) => d.push(p, 0, i === packets.length - 1)),
    [],
  );
  assert.deepEqual(d.takeDrops(), ['too-large']);
  const many = packetize(
    Array.from({ length: 6 }, () => INTER_FRAME),
    1200,
    false,
  );
  assert.deepEqual(
    many.flatMap((p, i) => d.push(p, 1, i === many.length - 1)),
    [],
  );
  assert.deepEqual(d.takeDrops(), ['too-large']);
});

test('property: random payloads never throw and never yield more than the bound', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.nat(3)), {
        maxLength: 40,
      }),
      (packets) => {
        const d = new Av1Depacketizer({ maxTemporalUnitBytes: 2000, maxObus: 8 });
        for (const [bytes, marker, ts] of packets) {
          for (const unit of d.push(Buffer.from(bytes), ts, marker)) {
            assert.ok(unit.data.length <= 2000);
          }
          if (ts === 0) d.lost();
        }
        assert.ok(d.takeDrops().length <= 16);
      },
    ),
  );
});

test('the libaom fixture through RTP and back: the same temporal units, keyframes and av1C', () => {
  const tags = new FlvDecoder().push(readFileSync(AV1_OPUS_FLV));
  const d = new Av1Depacketizer({ maxTemporalUnitBytes: 4 << 20, maxObus: 256 });
  let av1C: Buffer | null = null;
  let compared = 0;
  let keyframes = 0;
  for (const tag of tags) {
    if (tag.type !== FlvTagType.Video) continue;
    // ExVideoTagHeader (enhanced RTMP): frame type, packet type, 'av01', then the body.
    const byte0 = tag.body[0] ?? 0;
    assert.equal(tag.body.toString('latin1', 1, 5), 'av01');
    const packetType = byte0 & 0x0f;
    if (packetType === 0) {
      av1C = tag.body.subarray(5);
      continue;
    }
    if (packetType !== 1) continue;
    const keyframe = ((byte0 >>> 4) & 0x07) === 1;
    const payload = tag.body.subarray(5);
    const packets = packetize(unsizedObus(payload), 1200, compared % 2 === 0);
    const timestamp = tag.timestamp * 90;
    const units = packets.flatMap((p, i) => d.push(p, timestamp, i === packets.length - 1));
    assert.equal(units.length, 1);
    const unit = units[0];
    assert.ok(unit);
    assert.deepEqual(unit.data, withoutTemporalDelimiters(payload), `frame at ${tag.timestamp}`);
    assert.equal(unit.keyframe, keyframe, `keyframe at ${tag.timestamp}`);
    if (unit.keyframe) {
      keyframes++;
      assert.ok(unit.sequenceHeader && av1C);
      assert.deepEqual(buildAv1CodecConfig(unit.sequenceHeader).config, av1C);
    }
    compared++;
  }
  assert.deepEqual(d.takeDrops(), []);
  assert.ok(compared > 100 && keyframes >= 1, `${compared} frames, ${keyframes} keyframes`);
});

test('a loss between two temporal units drops the next one (its first packets were lost)', () => {
  const d = new Av1Depacketizer(LIMITS);
  const [inter] = packetize([INTER_FRAME], 1200, true);
  assert.ok(inter);
  assert.equal(d.push(inter, 1, true).length, 1);
  d.lost();
  assert.deepEqual(d.push(inter, 2, true), []);
  assert.deepEqual(d.takeDrops(), ['fragment-lost']);
  assert.equal(d.push(inter, 3, true).length, 1);
});

test('padding-only packets (empty payloads) between and inside temporal units change nothing', () => {
  const d = new Av1Depacketizer(LIMITS);
  const packets = packetize(
    [SEQUENCE_HEADER_UNSIZED, obu(6, Buffer.alloc(2500, 0x10))],
    1000,
    false,
  );
  assert.deepEqual(d.push(Buffer.alloc(0), 5, false), []);
  const units = packets.flatMap((p, i) => [
    ...d.push(p, 10, i === packets.length - 1),
    ...d.push(Buffer.alloc(0), 10, false),
  ]);
  assert.equal(units.length, 1);
  assert.equal(units[0]?.keyframe, true);
  assert.deepEqual(d.takeDrops(), []);
});

/** Bits, MSB first, as a buffer (zero-padded to a byte). */
function bitsOf(fields: readonly (readonly [number, number])[]): Buffer {
  let bits = '';
  for (const [value, width] of fields) bits += value.toString(2).padStart(width, '0');
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '0');
  return Buffer.from(bits.match(/.{8}/g)?.map((byte) => parseInt(byte, 2)) ?? []);
}

test('buildAv1CodecConfig(): a profile 0 4:2:0 sequence header with a level over 7 (tier read) and the chroma position', () => {
  const payload = bitsOf([
    [0, 3], // seq_profile
    [0, 1], // still_picture
    [0, 1], // reduced_still_picture_header
    [0, 1], // timing_info_present_flag
    [0, 1], // initial_display_delay_present_flag
    [0, 5], // operating_points_cnt_minus_1
    [0, 12], // operating_point_idc[0]
    [8, 5], // seq_level_idx[0]: 4.0
    [1, 1], // seq_tier[0]
    [9, 4], // frame_width_bits_minus_1
    [8, 4], // frame_height_bits_minus_1
    [639, 10],
    [359, 9],
    [0, 1], // frame_id_numbers_present_flag
    [0b011, 3], // 128x128 superblock, filter intra, intra edge filter
    [0, 4], // interintra, masked, warped, dual filter
    [1, 1], // enable_order_hint
    [0, 2], // jnt_comp, ref_frame_mvs
    [1, 1], // seq_choose_screen_content_tools
    [1, 1], // seq_choose_integer_mv
    [6, 3], // order_hint_bits_minus_1
    [0b011, 3], // superres, cdef, restoration
    [0, 1], // high_bitdepth
    [0, 1], // mono_chrome
    [0, 1], // color_description_present_flag
    [0, 1], // color_range
    [2, 2], // chroma_sample_position: colocated
    [0, 1], // separate_uv_delta_q
    [0, 1], // film_grain_params_present
    [1, 1], // trailing one bit
  ]);
  const sequenceHeader = Buffer.concat([Buffer.from([0x0a, payload.length]), payload]);
  const { config, header } = buildAv1CodecConfig(sequenceHeader);
  assert.deepEqual(config.subarray(0, 4), Buffer.from([0x81, 0x08, 0x8e, 0x00]));
  assert.deepEqual(config.subarray(4), sequenceHeader);
  assert.deepEqual([header.widthPx, header.heightPx], [640, 360]);
  assert.equal(header.seqTier0, 1);
  assert.throws(() => buildAv1CodecConfig(sequenceHeader.subarray(0, 8)));
});
