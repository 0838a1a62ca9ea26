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
function readLeb128(data: Buffer, at: number): { value: number; bytes: number } | undefined {
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

/**
 * max_frame_width/height_minus_1 + 1 from the first sequence header OBU among `obus` (AV1
 * 5.5.1). Throws `CodecError` `ERR_AV1_CONFIG` when there is none or it is truncated.
 */
export function av1SequenceHeaderSize(obus: Buffer): { widthPx: number; heightPx: number } {
  const found = readObus(obus).find((obu) => obu.type === OBU_SEQUENCE_HEADER);
  if (found === undefined)
    throw new CodecError('ERR_AV1_CONFIG', 'Cannot find an AV1 sequence header OBU');
  const r = new BitReader(obus.subarray(found.payloadStart, found.end), 'ERR_AV1_CONFIG');
  r.bits(3); // seq_profile
  r.bits(1); // still_picture
  if (r.bits(1) === 1) {
    r.bits(5); // reduced_still_picture_header: seq_level_idx[0] only
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
      if (r.bits(5) > 7) r.bits(1); // seq_level_idx, seq_tier
      if (decoderModelInfo === 1 && r.bits(1) === 1) r.bits(2 * bufferDelayBits + 1);
      if (initialDisplayDelay === 1 && r.bits(1) === 1) r.bits(4);
    }
  }
  const widthBits = r.bits(4) + 1;
  const heightBits = r.bits(4) + 1;
  return { widthPx: r.bits(widthBits) + 1, heightPx: r.bits(heightBits) + 1 };
}
