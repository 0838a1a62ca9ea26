// AV1 bitstream pieces (AV1 spec 5.3, 5.5): OBUs of the low-overhead format, temporal
// delimiters removed for ISO BMFF (AV1-ISOBMFF 2.4), the frame size of a sequence header.
import { BitReader } from './bit-reader.ts';
import { CodecError } from './codec-error.ts';

/** AV1 OBU types (AV1 spec 6.2.2). */
const OBU_SEQUENCE_HEADER = 1;
const OBU_TEMPORAL_DELIMITER = 2;

/** Where one OBU lies in its buffer. */
interface ObuSpan {
  readonly type: number;
  readonly start: number;
  readonly payloadStart: number;
  readonly end: number;
}

/** Reads leb128() (AV1 4.10.5) at `at`: at most 8 bytes, value below 2^32. */
export function readLeb128(data: Buffer, at: number): { value: number; bytes: number } | undefined {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const byte = data[at + i];
    if (byte === undefined) return undefined;
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return value < 2 ** 32 ? { value, bytes: i + 1 } : undefined;
  }
  return undefined;
}

/**
 * The OBUs of `data` in the low-overhead bitstream format (AV1 5.3), up to the first malformed
 * one. An OBU without obu_has_size_field runs to the end of `data`.
 */
function readObus(data: Buffer): ObuSpan[] {
  const obus: ObuSpan[] = [];
  let at = 0;
  while (at < data.length) {
    const header = data[at] ?? 0;
    if ((header & 0x80) !== 0) break; // obu_forbidden_bit
    const payloadAt = at + 1 + ((header >>> 2) & 1); // obu_extension_flag adds a byte
    let payloadStart = payloadAt;
    let end = data.length;
    if ((header & 0x02) !== 0) {
      const size = readLeb128(data, payloadAt);
      if (size === undefined) break;
      payloadStart = payloadAt + size.bytes;
      end = payloadStart + size.value;
    }
    if (payloadStart > data.length || end > data.length) break;
    obus.push({ type: (header >>> 3) & 0x0f, start: at, payloadStart, end });
    at = end;
  }
  return obus;
}

/** AV1 sample bytes: every OBU but temporal delimiters, plus any unparsed tail, unchanged. */
export function withoutTemporalDelimiters(data: Buffer): Buffer {
  const obus = readObus(data);
  const kept: Buffer[] = [];
  let runStart = 0;
  for (const obu of obus) {
    if (obu.type !== OBU_TEMPORAL_DELIMITER) continue;
    if (obu.start > runStart) kept.push(data.subarray(runStart, obu.start));
    runStart = obu.end;
  }
  if (runStart === 0) return data;
  // Bytes after `end` (a malformed OBU) are kept as they are.
  if (runStart < data.length) kept.push(data.subarray(runStart));
  if (kept.length === 1 && kept[0] !== undefined) return kept[0];
  return Buffer.concat(kept);
}

/** What a sequence header OBU says (AV1 5.5), as far as av1C and the track need. */
export interface Av1SequenceHeader {
  readonly seqProfile: number;
  readonly stillPicture: boolean;
  readonly reducedStillPictureHeader: boolean;
  /** seq_level_idx[0] and seq_tier[0]: the first operating point's. */
  readonly seqLevelIdx0: number;
  readonly seqTier0: number;
  readonly widthPx: number;
  readonly heightPx: number;
  readonly highBitdepth: boolean;
  readonly twelveBit: boolean;
  readonly monochrome: boolean;
  readonly subsamplingX: number;
  readonly subsamplingY: number;
  readonly chromaSamplePosition: number;
}

/** The fields of a sequence header up to max_frame_height_minus_1 (AV1 5.5.1). */
function readSequenceHeaderStart(
  r: BitReader,
): Pick<
  Av1SequenceHeader,
  | 'seqProfile'
  | 'stillPicture'
  | 'reducedStillPictureHeader'
  | 'seqLevelIdx0'
  | 'seqTier0'
  | 'widthPx'
  | 'heightPx'
> {
  const seqProfile = r.bits(3);
  const stillPicture = r.bits(1) === 1;
  const reduced = r.bits(1) === 1;
  let seqLevelIdx0 = 0;
  let seqTier0 = 0;
  if (reduced) {
    seqLevelIdx0 = r.bits(5); // seq_level_idx[0] only
  } else {
    let decoderModelInfo = 0;
    let bufferDelayBits = 0;
    if (r.bits(1) === 1) {
      // timing_info()
      r.bits(32); // num_units_in_display_tick
      r.bits(32); // time_scale
      if (r.bits(1) === 1) r.ue(); // equal_picture_interval: num_ticks_per_picture_minus_1
      decoderModelInfo = r.bits(1);
      if (decoderModelInfo === 1) {
        bufferDelayBits = r.bits(5) + 1;
        r.bits(32 + 5 + 5); // num_units_in_decoding_tick, two length fields
      }
    }
    const initialDisplayDelay = r.bits(1);
    const operatingPoints = r.bits(5) + 1;
    for (let i = 0; i < operatingPoints; i++) {
      r.bits(12); // operating_point_idc
      const level = r.bits(5);
      const tier = level > 7 ? r.bits(1) : 0;
      if (i === 0) {
        seqLevelIdx0 = level;
        seqTier0 = tier;
      }
      if (decoderModelInfo === 1 && r.bits(1) === 1) r.bits(2 * bufferDelayBits + 1);
      if (initialDisplayDelay === 1 && r.bits(1) === 1) r.bits(4);
    }
  }
  const widthBits = r.bits(4) + 1;
  const heightBits = r.bits(4) + 1;
  const widthPx = r.bits(widthBits) + 1;
  const heightPx = r.bits(heightBits) + 1;
  return {
    seqProfile,
    stillPicture,
    reducedStillPictureHeader: reduced,
    seqLevelIdx0,
    seqTier0,
    widthPx,
    heightPx,
  };
}

/**
 * Parses the payload of a sequence header OBU (AV1 5.5.1, 5.5.2): everything up to and including
 * color_config(). Throws `CodecError` `ERR_AV1_CONFIG` when it is truncated.
 */
export function parseAv1SequenceHeader(payload: Buffer): Av1SequenceHeader {
  const r = new BitReader(payload, 'ERR_AV1_CONFIG');
  const start = readSequenceHeaderStart(r);
  const { seqProfile, reducedStillPictureHeader: reduced } = start;
  if (!reduced && r.bits(1) === 1) r.bits(4 + 3); // frame_id_numbers_present_flag: two lengths
  r.bits(3); // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
  if (!reduced) {
    r.bits(4); // interintra, masked compound, warped motion, dual filter
    const orderHint = r.bits(1);
    if (orderHint === 1) r.bits(2); // enable_jnt_comp, enable_ref_frame_mvs
    // seq_choose_screen_content_tools, else seq_force_screen_content_tools
    const forceScreenContentTools = r.bits(1) === 1 ? 2 : r.bits(1);
    if (forceScreenContentTools > 0 && r.bits(1) === 0) r.bits(1); // seq_force_integer_mv
    if (orderHint === 1) r.bits(3); // order_hint_bits_minus_1
  }
  r.bits(3); // enable_superres, enable_cdef, enable_restoration
  // color_config() (5.5.2)
  const highBitdepth = r.bits(1) === 1;
  const twelveBit = seqProfile === 2 && highBitdepth && r.bits(1) === 1;
  const monochrome = seqProfile !== 1 && r.bits(1) === 1;
  let primaries = 2;
  let transfer = 2;
  let matrix = 2;
  if (r.bits(1) === 1) {
    primaries = r.bits(8);
    transfer = r.bits(8);
    matrix = r.bits(8);
  }
  let subsamplingX = 1;
  let subsamplingY = 1;
  let chromaSamplePosition = 0;
  if (monochrome) {
    r.bits(1); // color_range
  } else if (primaries === 1 && transfer === 13 && matrix === 0) {
    subsamplingX = 0; // sRGB: 4:4:4
    subsamplingY = 0;
  } else {
    r.bits(1); // color_range
    if (seqProfile === 1) {
      subsamplingX = 0;
      subsamplingY = 0;
    } else if (seqProfile === 2) {
      if (twelveBit) {
        subsamplingX = r.bits(1);
        subsamplingY = subsamplingX === 1 ? r.bits(1) : 0;
      } else {
        subsamplingY = 0;
      }
    }
    if (subsamplingX === 1 && subsamplingY === 1) chromaSamplePosition = r.bits(2);
  }
  return {
    ...start,
    highBitdepth,
    twelveBit,
    monochrome,
    subsamplingX,
    subsamplingY,
    chromaSamplePosition,
  };
}

/**
 * max_frame_width/height_minus_1 + 1 from the first sequence header OBU among `obus` (AV1
 * 5.5.1). Throws `CodecError` `ERR_AV1_CONFIG` when there is none or it is truncated.
 */
export function av1SequenceHeaderSize(obus: Buffer): { widthPx: number; heightPx: number } {
  const r = new BitReader(firstSequenceHeaderPayload(obus), 'ERR_AV1_CONFIG');
  const { widthPx, heightPx } = readSequenceHeaderStart(r);
  return { widthPx, heightPx };
}

function firstSequenceHeaderPayload(obus: Buffer): Buffer {
  const found = readObus(obus).find((obu) => obu.type === OBU_SEQUENCE_HEADER);
  if (found === undefined)
    throw new CodecError('ERR_AV1_CONFIG', 'Cannot find an AV1 sequence header OBU');
  return obus.subarray(found.payloadStart, found.end);
}

/**
 * The AV1CodecConfigurationRecord (AV1-ISOBMFF 2.3.3) of a sequence header OBU written with its
 * size field: the 4 fixed bytes from its fields (no initial_presentation_delay), then the OBU
 * as configOBUs. Throws `CodecError` `ERR_AV1_CONFIG` when it is not a readable sequence header.
 */
export function buildAv1CodecConfig(sequenceHeaderObu: Buffer): {
  config: Buffer;
  header: Av1SequenceHeader;
} {
  const header = parseAv1SequenceHeader(firstSequenceHeaderPayload(sequenceHeaderObu));
  const fixed = Buffer.from([
    0x81, // marker, version 1
    (header.seqProfile << 5) | header.seqLevelIdx0,
    (header.seqTier0 << 7) |
      (Number(header.highBitdepth) << 6) |
      (Number(header.twelveBit) << 5) |
      (Number(header.monochrome) << 4) |
      (header.subsamplingX << 3) |
      (header.subsamplingY << 2) |
      header.chromaSamplePosition,
    0, // reserved, initial_presentation_delay_present 0
  ]);
  return { config: Buffer.concat([fixed, sequenceHeaderObu]), header };
}

/** leb128() bytes of `value` (below 2^32), the fewest that hold it. */
export function encodeLeb128(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    const low = rest % 128;
    rest = Math.floor(rest / 128);
    bytes.push(rest > 0 ? low | 0x80 : low);
  } while (rest > 0);
  return Buffer.from(bytes);
}
