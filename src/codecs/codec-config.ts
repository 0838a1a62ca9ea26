// Codec configuration records of the enhanced-RTMP codecs, parsed as far as profile and level:
// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3.1), AV1CodecConfigurationRecord
// (AV1 ISOBMFF binding 2.3), Opus ID header (RFC 7845 5.1) and dOps (Opus in ISOBMFF 4.3.2).

import { CodecError } from './codec-error.ts';

/** What an HEVCDecoderConfigurationRecord says about the general profile, tier and level. */
export interface HevcDecoderConfig {
  readonly profileIdc: number;
  /** general_level_idc / 30 as a level string: 93 -> '3.1', 120 -> '4'. */
  readonly levelIdc: string;
  /** general_tier_flag: 0 Main tier, 1 High tier. */
  readonly tierFlag: number;
}

/** What an AV1CodecConfigurationRecord says. */
export interface Av1CodecConfig {
  readonly seqProfile: number;
  readonly seqLevelIdx: number;
  /** seq_tier_0: 0 Main tier, 1 High tier. */
  readonly tier: number;
  /** 8, 10 or 12. */
  readonly bitDepth: number;
}

/** What an Opus identification header says. */
export interface OpusHead {
  readonly channels: number;
  /** The encoder's input rate in Hz, informational only: Opus always decodes at 48 kHz. */
  readonly inputSampleRate: number;
  /** Samples (at 48 kHz) to drop at the start of decoding. */
  readonly preSkip: number;
}

/** Fixed part of hvcC, up to and including numOfArrays. */
const HVCC_HEADER_BYTES = 23;
const AV1C_HEADER_BYTES = 4;
const OPUS_MAGIC = 'OpusHead';
/** 'OpusHead' + version, channels, pre-skip, rate, gain, mapping family (RFC 7845 5.1). */
const OPUS_HEAD_BYTES = 19;
/** dOps: version, channels, pre-skip, rate, gain, mapping family. */
const DOPS_BYTES = 11;

/**
 * Parses the general profile, tier and level of an HEVCDecoderConfigurationRecord (ISO/IEC
 * 14496-15 8.3.3.1.2). Throws `CodecError` `ERR_HEVC_CONFIG` when shorter than its 23-byte fixed
 * part or when configurationVersion is not 1.
 */
export function parseHevcDecoderConfig(hvcC: Buffer): HevcDecoderConfig {
  if (hvcC.length < HVCC_HEADER_BYTES) {
    throw new CodecError(
      'ERR_HEVC_CONFIG',
      `Cannot parse HEVCDecoderConfigurationRecord: needs ${HVCC_HEADER_BYTES} bytes, has ${hvcC.length}`,
      0,
    );
  }
  if (hvcC[0] !== 1) {
    throw new CodecError(
      'ERR_HEVC_CONFIG',
      `Cannot parse HEVCDecoderConfigurationRecord: configurationVersion is ${hvcC[0]}, expected 1`,
      0,
    );
  }
  const byte1 = hvcC[1] ?? 0;
  const generalLevelIdc = hvcC[12] ?? 0;
  return {
    profileIdc: byte1 & 0x1f,
    tierFlag: (byte1 >>> 5) & 1,
    levelIdc: String(Math.round(generalLevelIdc / 3) / 10),
  };
}

/** HEVC general_profile_idc as a name ('Main 10'), or the number as a string. */
export function hevcProfileName(idc: number): string {
  const names: Record<number, string> = {
    1: 'Main',
    2: 'Main 10',
    3: 'Main Still Picture',
    4: 'Rext',
  };
  return names[idc] ?? String(idc);
}

/**
 * Parses the fixed 4 bytes of an AV1CodecConfigurationRecord (AV1 ISOBMFF binding 2.3.3): the
 * marker bit must be 1 and the version 1. Throws `CodecError` `ERR_AV1_CONFIG`.
 */
export function parseAv1CodecConfig(av1C: Buffer): Av1CodecConfig {
  if (av1C.length < AV1C_HEADER_BYTES) {
    throw new CodecError(
      'ERR_AV1_CONFIG',
      `Cannot parse AV1CodecConfigurationRecord: needs ${AV1C_HEADER_BYTES} bytes, has ${av1C.length}`,
      0,
    );
  }
  const byte0 = av1C[0] ?? 0;
  if (byte0 !== 0x81) {
    throw new CodecError(
      'ERR_AV1_CONFIG',
      `Cannot parse AV1CodecConfigurationRecord: marker ${byte0 >>> 7}, version ${byte0 & 0x7f}; expected 1, 1`,
      0,
    );
  }
  const byte1 = av1C[1] ?? 0;
  const byte2 = av1C[2] ?? 0;
  const highBitdepth = (byte2 >>> 6) & 1;
  const twelveBit = (byte2 >>> 5) & 1;
  return {
    seqProfile: byte1 >>> 5,
    seqLevelIdx: byte1 & 0x1f,
    tier: byte2 >>> 7,
    bitDepth: highBitdepth === 0 ? 8 : twelveBit === 1 ? 12 : 10,
  };
}

/** AV1 seq_profile as a name ('Main'), or the number as a string. */
export function av1ProfileName(seqProfile: number): string {
  return ['Main', 'High', 'Professional'][seqProfile] ?? String(seqProfile);
}

/** AV1 seq_level_idx as a level string (AV1 spec annex A.3): 8 -> '4.0', 31 -> 'max'. */
export function av1LevelName(seqLevelIdx: number): string {
  if (seqLevelIdx === 31) return 'max';
  return `${2 + (seqLevelIdx >>> 2)}.${seqLevelIdx & 3}`;
}

/**
 * Parses an Opus identification header: either the RFC 7845 5.1 'OpusHead' packet (little-endian
 * fields; enhanced RTMP carries this form) or the ISOBMFF dOps box body (big-endian). Channel
 * mapping tables are bounds-checked. Throws `CodecError` `ERR_OPUS_HEAD`.
 */
export function parseOpusHead(buf: Buffer): OpusHead {
  const fail = (message: string, offset: number): CodecError =>
    new CodecError('ERR_OPUS_HEAD', `Cannot parse Opus header: ${message}`, offset);
  const magic =
    buf.length >= OPUS_MAGIC.length && buf.toString('latin1', 0, OPUS_MAGIC.length) === OPUS_MAGIC;
  const base = magic ? OPUS_MAGIC.length : 0;
  const fixedBytes = magic ? OPUS_HEAD_BYTES : DOPS_BYTES;
  if (buf.length < fixedBytes) throw fail(`needs ${fixedBytes} bytes, has ${buf.length}`, 0);
  const version = buf[base] ?? 0;
  // RFC 7845: the upper 4 bits are the major version; only major version 0 is defined.
  if (magic ? version >>> 4 !== 0 : version !== 0)
    throw fail(`version ${version} is not supported`, base);
  const channels = buf[base + 1] ?? 0;
  if (channels === 0) throw fail('channel count is 0', base + 1);
  const preSkip = magic ? buf.readUInt16LE(base + 2) : buf.readUInt16BE(base + 2);
  const inputSampleRate = magic ? buf.readUInt32LE(base + 4) : buf.readUInt32BE(base + 4);
  const mappingFamily = buf[base + 10] ?? 0;
  if (mappingFamily !== 0) {
    // Stream count, coupled count, then one mapping byte per channel.
    const needed = fixedBytes + 2 + channels;
    if (buf.length < needed)
      throw fail(`channel mapping table needs ${needed} bytes, has ${buf.length}`, fixedBytes);
  }
  return { channels, inputSampleRate, preSkip };
}
