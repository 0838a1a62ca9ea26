// H.264 codec configuration: AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) and the
// sequence parameter set (ITU-T H.264 7.3.2.1.1) as far as profile, level and picture size.

import { BitReader } from './bit-reader.ts';
import { CodecError } from './codec-error.ts';

/** What an AVCDecoderConfigurationRecord says. SPS/PPS are subarrays of the record. */
export interface AvcDecoderConfig {
  readonly profileIdc: number;
  readonly profileCompat: number;
  readonly levelIdc: number;
  /** Bytes in each NAL unit length prefix of the coded frames: 1, 2, 3 or 4. */
  readonly lengthSize: number;
  readonly sps: Buffer[];
  readonly pps: Buffer[];
}

/** What a sequence parameter set says about the picture. */
export interface SpsInfo {
  readonly profileIdc: number;
  readonly levelIdc: number;
  /** Displayed width in pixels, after frame cropping. */
  readonly width: number;
  /** Displayed height in pixels, after frame cropping. */
  readonly height: number;
  readonly chromaFormatIdc: number;
}

const AVC_CONFIG_HEADER_BYTES = 6;
const NAL_TYPE_SPS = 7;
/** Profiles whose SPS carries chroma_format_idc, bit depths and scaling lists (7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** 8192 x 8192 pixels, well above level 6.2; larger SPS sizes are garbage. */
const MAX_MBS_PER_DIMENSION = 512;

/**
 * Parses an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1). Every length and count is
 * checked against the bytes present; configurationVersion must be 1; zero-length parameter sets
 * are rejected. Throws `CodecError` `ERR_H264_CONFIG`.
 */
export function parseAvcDecoderConfig(record: Buffer): AvcDecoderConfig {
  const fail = (message: string, offset: number): CodecError =>
    new CodecError(
      'ERR_H264_CONFIG',
      `Cannot parse AVCDecoderConfigurationRecord: ${message}`,
      offset,
    );
  if (record.length < AVC_CONFIG_HEADER_BYTES + 1) {
    throw fail(`needs at least ${AVC_CONFIG_HEADER_BYTES + 1} bytes, has ${record.length}`, 0);
  }
  if (record[0] !== 1) throw fail(`configurationVersion is ${record[0]}, expected 1`, 0);
  const profileIdc = record[1] ?? 0;
  const profileCompat = record[2] ?? 0;
  const levelIdc = record[3] ?? 0;
  const lengthSize = ((record[4] ?? 0) & 0x03) + 1;
  let offset = 5;
  const readSets = (count: number, kind: string): Buffer[] => {
    const sets: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      if (offset + 2 > record.length) throw fail(`${kind} ${i} length is past the end`, offset);
      const length = record.readUInt16BE(offset);
      if (length === 0) throw fail(`${kind} ${i} has length 0`, offset);
      offset += 2;
      if (offset + length > record.length) {
        throw fail(`${kind} ${i} needs ${length} bytes, has ${record.length - offset}`, offset);
      }
      sets.push(record.subarray(offset, offset + length));
      offset += length;
    }
    return sets;
  };
  const spsCount = (record[offset] ?? 0) & 0x1f;
  offset += 1;
  const sps = readSets(spsCount, 'SPS');
  if (offset >= record.length) throw fail('numOfPictureParameterSets is past the end', offset);
  const ppsCount = record[offset] ?? 0;
  offset += 1;
  const pps = readSets(ppsCount, 'PPS');
  // High-profile trailers (chroma_format, bit depths, SPS extensions) are not needed here.
  return { profileIdc, profileCompat, levelIdc, lengthSize, sps, pps };
}

/**
 * Copies `nal` without its emulation-prevention bytes (00 00 03 -> 00 00), H.264 7.4.1; HEVC
 * (7.4.2) uses the same escaping.
 */
export function toRbsp(nal: Buffer): Buffer {
  const out = Buffer.allocUnsafe(nal.length);
  let written = 0;
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 0x03) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out[written++] = byte;
  }
  return out.subarray(0, written);
}

/** Skips one scaling_list() (7.3.2.1.1.1); only the delta_scale syntax matters. */
function skipScalingList(reader: BitReader, size: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < size; j++) {
    if (nextScale !== 0) nextScale = (lastScale + reader.se() + 256) % 256;
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/**
 * Parses a sequence parameter set NAL unit (with its 1-byte NAL header) for profile, level,
 * chroma format and the cropped picture size (H.264 7.3.2.1.1, 7.4.2.1.1). Throws `CodecError`
 * `ERR_H264_SPS` on a non-SPS NAL, truncation or out-of-range values.
 */
export function parseSps(nal: Buffer): SpsInfo {
  const fail = (message: string): CodecError =>
    new CodecError('ERR_H264_SPS', `Cannot parse SPS: ${message}`);
  if (nal.length < 4) throw fail(`needs at least 4 bytes, has ${nal.length}`);
  if (((nal[0] ?? 0) & 0x1f) !== NAL_TYPE_SPS)
    throw fail(`NAL unit type is ${(nal[0] ?? 0) & 0x1f}, expected 7`);
  const reader = new BitReader(toRbsp(nal.subarray(1)), 'ERR_H264_SPS');
  const profileIdc = reader.bits(8);
  reader.bits(8); // constraint_set flags + reserved_zero_2bits
  const levelIdc = reader.bits(8);
  reader.ue(); // seq_parameter_set_id
  let chromaFormatIdc = 1;
  let separateColourPlane = 0;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = reader.ue();
    if (chromaFormatIdc > 3) throw fail(`chroma_format_idc ${chromaFormatIdc} > 3`);
    if (chromaFormatIdc === 3) separateColourPlane = reader.bit();
    reader.ue(); // bit_depth_luma_minus8
    reader.ue(); // bit_depth_chroma_minus8
    reader.bit(); // qpprime_y_zero_transform_bypass_flag
    if (reader.bit() === 1) {
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) {
        if (reader.bit() === 1) skipScalingList(reader, i < 6 ? 16 : 64);
      }
    }
  }
  reader.ue(); // log2_max_frame_num_minus4
  const picOrderCntType = reader.ue();
  if (picOrderCntType === 0) {
    reader.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (picOrderCntType === 1) {
    reader.bit(); // delta_pic_order_always_zero_flag
    reader.se(); // offset_for_non_ref_pic
    reader.se(); // offset_for_top_to_bottom_field
    const cycle = reader.ue();
    if (cycle > 255) throw fail(`num_ref_frames_in_pic_order_cnt_cycle ${cycle} > 255`);
    for (let i = 0; i < cycle; i++) reader.se();
  } else if (picOrderCntType !== 2) {
    throw fail(`pic_order_cnt_type ${picOrderCntType} > 2`);
  }
  reader.ue(); // max_num_ref_frames
  reader.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = reader.ue() + 1;
  const heightMapUnits = reader.ue() + 1;
  if (widthMbs > MAX_MBS_PER_DIMENSION || heightMapUnits > MAX_MBS_PER_DIMENSION) {
    throw fail(`picture of ${widthMbs}x${heightMapUnits} macroblocks is too large`);
  }
  const frameMbsOnly = reader.bit();
  if (frameMbsOnly === 0) reader.bit(); // mb_adaptive_frame_field_flag
  reader.bit(); // direct_8x8_inference_flag
  let width = widthMbs * 16;
  let height = (2 - frameMbsOnly) * heightMapUnits * 16;
  if (reader.bit() === 1) {
    // frame_cropping_flag: offsets are in chroma sample units (7.4.2.1.1, table 6-1).
    const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
    const cropUnitX = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const cropUnitY = (chromaArrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
    const left = reader.ue();
    const right = reader.ue();
    const top = reader.ue();
    const bottom = reader.ue();
    width -= (left + right) * cropUnitX;
    height -= (top + bottom) * cropUnitY;
    if (width <= 0 || height <= 0) throw fail('frame cropping removes the whole picture');
  }
  return { profileIdc, levelIdc, width, height, chromaFormatIdc };
}

const PROFILE_NAMES = new Map<number, string>([
  [66, 'Baseline'],
  [77, 'Main'],
  [88, 'Extended'],
  [100, 'High'],
  [110, 'High 10'],
  [122, 'High 4:2:2'],
  [244, 'High 4:4:4'],
]);

/** H.264 profile_idc as a name ('High'), or the number as a string when unknown. */
export function h264ProfileName(idc: number): string {
  return PROFILE_NAMES.get(idc) ?? String(idc);
}

/** H.264 level_idc as a level string: 31 -> '3.1', 40 -> '4', 9 -> '1b'. */
export function h264LevelName(idc: number): string {
  if (idc === 9) return '1b';
  const minor = idc % 10;
  return minor === 0 ? String(Math.floor(idc / 10)) : `${Math.floor(idc / 10)}.${minor}`;
}

/**
 * An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1) of one SPS and its PPS, with
 * 4-byte NAL unit lengths; High profiles get the chroma and bit-depth trailer (8-bit assumed,
 * what WebRTC encoders send). Throws `CodecError` `ERR_H264_SPS` when the SPS does not parse.
 */
export function buildAvcDecoderConfig(sps: Buffer, pps: readonly Buffer[]): Buffer {
  const info = parseSps(sps);
  const high = HIGH_PROFILES.has(info.profileIdc);
  const size = 8 + sps.length + pps.reduce((sum, p) => sum + 2 + p.length, 1) + (high ? 4 : 0);
  const out = Buffer.alloc(size);
  out[0] = 1; // configurationVersion
  out[1] = sps[1] ?? 0; // AVCProfileIndication
  out[2] = sps[2] ?? 0; // profile_compatibility
  out[3] = sps[3] ?? 0; // AVCLevelIndication
  out[4] = 0xfc | 3; // lengthSizeMinusOne = 3
  out[5] = 0xe0 | 1; // one SPS
  out.writeUInt16BE(sps.length, 6);
  let at = 8 + sps.copy(out, 8);
  out[at++] = pps.length;
  for (const set of pps) {
    out.writeUInt16BE(set.length, at);
    at += 2 + set.copy(out, at + 2);
  }
  if (high) {
    out[at++] = 0xfc | (info.chromaFormatIdc & 3);
    out[at++] = 0xf8; // bit_depth_luma_minus8 = 0
    out[at++] = 0xf8; // bit_depth_chroma_minus8 = 0
    out[at] = 0; // no SPS extensions
  }
  return out;
}
