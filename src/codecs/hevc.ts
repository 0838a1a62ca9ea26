// HEVC parameter sets: the picture size of the SPS in an HEVCDecoderConfigurationRecord, and
// an HEVCDecoderConfigurationRecord built from a VPS, SPS and PPS (what MPEG-TS ingest needs).
import { BitReader } from './bit-reader.ts';
import { CodecError } from './codec-error.ts';
import { toRbsp } from './h264.ts';

/** HEVC NAL unit type of a sequence parameter set (H.265 table 7-1). */
const HEVC_NAL_SPS = 33;
/** Fixed part of hvcC before its arrays, numOfArrays included (ISO/IEC 14496-15 8.3.3.1). */
const HVCC_ARRAYS_OFFSET = 23;

/**
 * The cropped picture size from the first SPS in an HEVCDecoderConfigurationRecord (H.265
 * 7.3.2.2.1, 7.4.3.2.1). Throws `CodecError` `ERR_HEVC_CONFIG` when there is none or it is bad.
 */
export function hevcSpsSize(hvcC: Buffer): { widthPx: number; heightPx: number } {
  const fail = (message: string): CodecError =>
    new CodecError('ERR_HEVC_CONFIG', `Cannot read the HEVC SPS: ${message}`);
  const arrays = hvcC[HVCC_ARRAYS_OFFSET - 1] ?? 0;
  let at = HVCC_ARRAYS_OFFSET;
  let sps: Buffer | undefined;
  for (let i = 0; i < arrays && sps === undefined; i++) {
    if (at + 3 > hvcC.length) throw fail('array header past the end');
    const nalType = (hvcC[at] ?? 0) & 0x3f;
    const count = hvcC.readUInt16BE(at + 1);
    at += 3;
    for (let j = 0; j < count; j++) {
      if (at + 2 > hvcC.length) throw fail('NAL unit length past the end');
      const length = hvcC.readUInt16BE(at);
      if (at + 2 + length > hvcC.length) throw fail('NAL unit past the end');
      if (nalType === HEVC_NAL_SPS && sps === undefined)
        sps = hvcC.subarray(at + 2, at + 2 + length);
      at += 2 + length;
    }
  }
  if (sps === undefined) throw fail('no SPS in hvcC');
  const { widthPx, heightPx } = parseHevcSps(sps);
  return { widthPx, heightPx };
}

/** What an HEVC SPS says, as far as an HEVCDecoderConfigurationRecord needs. */
export interface HevcSpsInfo {
  readonly widthPx: number;
  readonly heightPx: number;
  readonly chromaFormatIdc: number;
  readonly bitDepthLumaMinus8: number;
  readonly bitDepthChromaMinus8: number;
  /** sps_max_sub_layers_minus1 + 1. */
  readonly subLayers: number;
  readonly temporalIdNesting: number;
}

/**
 * Parses an HEVC SPS NAL unit (with its 2-byte NAL header) up to the bit depths (H.265
 * 7.3.2.2.1). Throws `CodecError` `ERR_HEVC_CONFIG` when it is truncated or out of range.
 */
export function parseHevcSps(sps: Buffer): HevcSpsInfo {
  const fail = (message: string): CodecError =>
    new CodecError('ERR_HEVC_CONFIG', `Cannot read the HEVC SPS: ${message}`);
  const r = new BitReader(toRbsp(sps.subarray(2)), 'ERR_HEVC_CONFIG');
  r.bits(4); // sps_video_parameter_set_id
  const subLayers = r.bits(3); // sps_max_sub_layers_minus1
  const temporalIdNesting = r.bits(1); // sps_temporal_id_nesting_flag
  r.bits(48); // general_profile_space, tier, idc, compatibility flags, 8 constraint bits
  r.bits(48); // the other 40 constraint bits, general_level_idc
  const present: number[] = [];
  for (let i = 0; i < subLayers; i++) present.push(r.bits(2));
  if (subLayers > 0) r.bits(2 * (8 - subLayers)); // reserved_zero_2bits
  for (const flags of present) r.bits((flags & 2 ? 88 : 0) + (flags & 1 ? 8 : 0));
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormat = r.ue();
  if (chromaFormat > 3) throw fail(`chroma_format_idc ${chromaFormat}`);
  const separatePlanes = chromaFormat === 3 ? r.bits(1) : 0;
  let widthPx = r.ue();
  let heightPx = r.ue();
  if (r.bits(1) === 1) {
    // conformance_window offsets count chroma samples (table 6-1).
    const chroma = separatePlanes === 1 ? 0 : chromaFormat;
    const unitX = chroma === 1 || chroma === 2 ? 2 : 1;
    const unitY = chroma === 1 ? 2 : 1;
    widthPx -= unitX * (r.ue() + r.ue());
    heightPx -= unitY * (r.ue() + r.ue());
  }
  if (widthPx <= 0 || heightPx <= 0 || widthPx > 0xffff || heightPx > 0xffff)
    throw fail(`picture size ${widthPx}x${heightPx}`);
  const bitDepthLumaMinus8 = r.ue();
  const bitDepthChromaMinus8 = r.ue();
  if (bitDepthLumaMinus8 > 8 || bitDepthChromaMinus8 > 8) throw fail('bit depth above 16');
  return {
    widthPx,
    heightPx,
    chromaFormatIdc: chromaFormat,
    bitDepthLumaMinus8,
    bitDepthChromaMinus8,
    subLayers: subLayers + 1,
    temporalIdNesting,
  };
}

/**
 * An HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1) of one VPS, SPS and PPS with
 * 4-byte NAL unit lengths: the general profile, tier and level copied from the SPS's
 * profile_tier_level, chroma format and bit depths parsed from it. Throws `CodecError`
 * `ERR_HEVC_CONFIG` when the SPS does not parse.
 */
export function buildHevcDecoderConfig(vps: Buffer, sps: Buffer, pps: Buffer): Buffer {
  const info = parseHevcSps(sps);
  const rbsp = toRbsp(sps.subarray(2, 40));
  const sets: [number, Buffer][] = [
    [32, vps],
    [33, sps],
    [34, pps],
  ];
  const size = HVCC_ARRAYS_OFFSET + sets.reduce((sum, [, nal]) => sum + 5 + nal.length, 0);
  const out = Buffer.alloc(size);
  out[0] = 1; // configurationVersion
  rbsp.copy(out, 1, 1, 13); // profile_space/tier/idc, compatibility, constraints, level_idc
  out.writeUInt16BE(0xf000, 13); // min_spatial_segmentation_idc 0
  out[15] = 0xfc; // parallelismType 0 (unknown)
  out[16] = 0xfc | info.chromaFormatIdc;
  out[17] = 0xf8 | info.bitDepthLumaMinus8;
  out[18] = 0xf8 | info.bitDepthChromaMinus8;
  out.writeUInt16BE(0, 19); // avgFrameRate unknown
  // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3.
  out[21] = ((info.subLayers & 7) << 3) | ((info.temporalIdNesting & 1) << 2) | 3;
  out[22] = sets.length;
  let at = HVCC_ARRAYS_OFFSET;
  for (const [type, nal] of sets) {
    out[at] = 0x80 | type; // array_completeness 1
    out.writeUInt16BE(1, at + 1);
    out.writeUInt16BE(nal.length, at + 3);
    at += 5 + nal.copy(out, at + 5);
  }
  return out;
}
