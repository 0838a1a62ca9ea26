// AVCC/HVCC (length-prefixed NAL units, ISO/IEC 14496-15) to Annex B (start codes, H.264 B.1,
// H.265 B.2): what MPEG-TS carries, with an access unit delimiter and the parameter sets a
// keyframe needs; and Annex B split back into NAL units (forEachNal, for TS ingest).
import { parseHevcDecoderConfig } from './codec-config.ts';
import { CodecError } from './codec-error.ts';
import { parseAvcDecoderConfig } from './h264.ts';

const START_CODE = Buffer.from([0, 0, 0, 1]);
const EMPTY = Buffer.alloc(0);

/** How one video codec marks its NAL units (H.264 7.4.1.2.3, H.265 7.4.2.2). */
export interface NalSyntax {
  readonly type: (firstByte: number) => number;
  /** The access unit delimiter, with its start code. */
  readonly aud: Buffer;
  readonly audType: number;
  /** The NAL type whose presence means the frame carries its own parameter sets. */
  readonly spsType: number;
  readonly isKeyframe: (type: number) => boolean;
}

const H264_SYNTAX: NalSyntax = {
  type: (b) => b & 0x1f,
  aud: Buffer.from([0, 0, 0, 1, 0x09, 0xf0]), // primary_pic_type 7 (any slice)
  audType: 9,
  spsType: 7,
  isKeyframe: (t) => t === 5,
};

const HEVC_SYNTAX: NalSyntax = {
  type: (b) => (b >>> 1) & 0x3f,
  aud: Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]), // type 35, TemporalId 0, pic_type 2
  audType: 35,
  spsType: 33,
  isKeyframe: (t) => t >= 16 && t <= 23, // IRAP
};

/** How a track's frames are turned into Annex B. */
export interface NalFormat {
  readonly syntax: NalSyntax;
  /** Bytes of each NAL unit length in the frames (lengthSizeMinusOne + 1). */
  readonly lengthSize: number;
  /** Parameter sets to put before a keyframe that has none, in decoding order. */
  readonly parameterSets: readonly Buffer[];
}

/**
 * The NAL format of an H.264 or HEVC track from its configuration record. Throws `CodecError`
 * (`ERR_H264_CONFIG`, `ERR_HEVC_CONFIG`) when the record cannot be parsed.
 */
export function nalFormatOf(codec: 'h264' | 'hevc', config: Buffer): NalFormat {
  if (codec === 'h264') {
    const avc = parseAvcDecoderConfig(config);
    return {
      syntax: H264_SYNTAX,
      lengthSize: avc.lengthSize,
      parameterSets: [...avc.sps, ...avc.pps],
    };
  }
  const hevc = hevcParameterSets(config);
  return { syntax: HEVC_SYNTAX, lengthSize: hevc.lengthSize, parameterSets: hevc.sets };
}

/** Reads the hvcC arrays (ISO/IEC 14496-15 8.3.3.1.2): VPS, SPS and PPS in that order. */
export function hevcParameterSets(hvcC: Buffer): { lengthSize: number; sets: Buffer[] } {
  parseHevcDecoderConfig(hvcC); // length and configurationVersion
  const fail = (at: number): CodecError =>
    new CodecError('ERR_HEVC_CONFIG', 'Cannot parse HEVC parameter set arrays: truncated', at);
  const lengthSize = ((hvcC[21] ?? 0) & 0x03) + 1;
  const byType = new Map<number, Buffer[]>([
    [32, []],
    [33, []],
    [34, []],
  ]);
  let at = 23;
  for (let array = 0; array < (hvcC[22] ?? 0); array++) {
    if (at + 3 > hvcC.length) throw fail(at);
    const list = byType.get((hvcC[at] ?? 0) & 0x3f);
    const count = hvcC.readUInt16BE(at + 1);
    at += 3;
    for (let i = 0; i < count; i++) {
      if (at + 2 > hvcC.length) throw fail(at);
      const length = hvcC.readUInt16BE(at);
      if (at + 2 + length > hvcC.length) throw fail(at);
      if (length > 0) list?.push(hvcC.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
  }
  return { lengthSize, sets: [...byType.values()].flat() };
}

/** Reads a big-endian NAL unit length of 1-4 bytes. */
function readLength(buf: Buffer, at: number, size: number): number {
  return buf.readUIntBE(at, size);
}

/**
 * AVCC/HVCC (length-prefixed NAL units) to one Annex B access unit: an AUD first (any AUD in
 * the frame is dropped), the track's parameter sets before a keyframe that carries none, then
 * every NAL unit with a 4-byte start code. A truncated trailing NAL unit is dropped; a frame
 * with no complete NAL unit gives an empty Buffer. `keyframe` is also true when an IDR/IRAP NAL
 * unit is present. Two passes, one allocation.
 */
export function toAnnexB(
  payload: Buffer,
  format: NalFormat,
  keyframe: boolean,
): { accessUnit: Buffer; keyframe: boolean } {
  const { syntax, lengthSize } = format;
  let size = syntax.aud.length;
  let nals = 0;
  let hasSps = false;
  let isKey = keyframe;
  let end = 0;
  for (let at = 0; at + lengthSize <= payload.length;) {
    const length = readLength(payload, at, lengthSize);
    if (at + lengthSize + length > payload.length) break;
    at += lengthSize;
    end = at + length;
    if (length > 0) {
      const type = syntax.type(payload[at] ?? 0);
      if (type !== syntax.audType) {
        nals += 1;
        size += START_CODE.length + length;
        hasSps ||= type === syntax.spsType;
        isKey ||= syntax.isKeyframe(type);
      }
    }
    at = end;
  }
  if (nals === 0) return { accessUnit: EMPTY, keyframe: isKey };
  const insert = isKey && !hasSps ? format.parameterSets : [];
  for (const set of insert) size += START_CODE.length + set.length;
  const out = Buffer.allocUnsafe(size);
  let w = syntax.aud.copy(out, 0);
  for (const set of insert) {
    w += START_CODE.copy(out, w);
    w += set.copy(out, w);
  }
  for (let at = 0; at < end;) {
    const length = readLength(payload, at, lengthSize);
    at += lengthSize;
    if (length > 0 && syntax.type(payload[at] ?? 0) !== syntax.audType) {
      w += START_CODE.copy(out, w);
      w += payload.copy(out, w, at, at + length);
    }
    at += length;
  }
  return { accessUnit: out, keyframe: isKey };
}

/** A 3-byte start code: what {@link forEachNal} splits on. */
const START_CODE_3 = Buffer.from([0, 0, 1]);

/**
 * Calls `visit` with each NAL unit of an Annex B byte stream (H.264 B.1, H.265 B.2): the bytes
 * between 3-byte start codes, trailing zero bytes (a 4-byte start code's first zero,
 * trailing_zero_8bits) trimmed, empty units and bytes before the first start code skipped.
 * `visit` returns false to stop (forEachNal then returns false). One native indexOf per unit;
 * no copies.
 */
export function forEachNal(data: Buffer, visit: (nal: Buffer) => boolean): boolean {
  let start = data.indexOf(START_CODE_3);
  while (start !== -1) {
    const from = start + 3;
    const next = data.indexOf(START_CODE_3, from);
    let end = next === -1 ? data.length : next;
    while (end > from && data[end - 1] === 0) end -= 1;
    if (end > from && !visit(data.subarray(from, end))) return false;
    start = next;
  }
  return true;
}
