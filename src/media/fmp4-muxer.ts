// Fragmented MP4 (CMAF) for HLS and LL-HLS: init segment, moof + mdat fragments, sample bytes and
// RFC 6381 codecs strings for onair Tracks. ISO/IEC 14496-12/-14/-15, AV1-ISOBMFF, Opus-ISOBMFF.

import { parseAudioSpecificConfig } from '../codecs/aac.ts';
import { CodecError } from '../codecs/codec-error.ts';
import {
  parseAv1CodecConfig,
  parseHevcDecoderConfig,
  parseOpusHead,
} from '../codecs/codec-config.ts';
import { BitReader } from '../codecs/bit-reader.ts';
import { parseAvcDecoderConfig, toRbsp } from '../codecs/h264.ts';
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
} from '../codecs/mp4-boxes.ts';
import type { Frame } from './frame.ts';
import type { AudioTrack, Track, VideoTrack } from './track.ts';

/** One sample (coded frame) of a track fragment run. */
export interface Fmp4Sample {
  /** The sample bytes, from {@link sampleData}. */
  readonly data: Buffer;
  /** Duration in the track's timescale ({@link timescaleOf}), 0 to 2^32 - 1. */
  readonly durationTicks: number;
  /** pts - dts in the track's timescale; signed 32-bit (trun version 1). */
  readonly ctsOffsetTicks: number;
  /** A sync sample: a video keyframe, and every audio sample (AAC and Opus frames all are). */
  readonly keyframe: boolean;
}

/** The samples of one track in one fragment, contiguous in decode order. */
export interface Fmp4TrackRun {
  /** 1-based, in the order of the tracks given to {@link encodeInitSegment}. */
  readonly trackId: number;
  /** Decode time of the first sample, in the track's timescale (tfdt, 64-bit). */
  readonly baseDecodeTimeTicks: number;
  readonly samples: readonly Fmp4Sample[];
}

/** Timescale of every video track: the MPEG 90 kHz clock. */
export const VIDEO_TIMESCALE = 90000;
/** Opus always decodes at 48 kHz (RFC 7845 4), whatever the encoder's input rate. */
const OPUS_TIMESCALE = 48000;
/**
 * PCM samples per AAC frame at the AudioSpecificConfig's (core) sample rate, which is the
 * timescale: the duration of one AAC sample (ISO/IEC 14496-3; 960-sample frames are not used).
 */
export const AAC_SAMPLES_PER_FRAME = 1024;
/** Milliseconds per second, for ms <-> ticks. */
const MS_PER_SECOND = 1000;

/** Timescale used for a track: 90000 for video, the sample rate for audio (48000 for Opus). */
export function timescaleOf(track: Track): number {
  if (track.kind === 'video') return VIDEO_TIMESCALE;
  if (track.codec === 'opus') return OPUS_TIMESCALE;
  if (track.sampleRate !== undefined) return track.sampleRate;
  if (track.codec === 'aac') return parseAudioSpecificConfig(track.config).sampleRate;
  throw unsupported(track);
}

/**
 * Milliseconds (an RTMP/FLV timestamp) to ticks of `timescale`, rounded to the nearest tick.
 * Convert absolute timestamps and take differences (`msToTicks(nextDts) - msToTicks(dts)`) so the
 * rounding never accumulates. For audio prefer the codec frame duration where it is known
 * ({@link AAC_SAMPLES_PER_FRAME} at the sample rate; {@link opusPacketDurationSamples}):
 * millisecond timestamps cannot express 1024/44100 s, so durations taken from them jitter
 * between 23 and 24 ms and the fragment's end drifts from where the audio really ends.
 */
export function msToTicks(ms: number, timescale: number): number {
  return Math.round((ms * timescale) / MS_PER_SECOND);
}

/** Samples at 48 kHz of one frame for each TOC config 0..31 (RFC 6716 3.1, table 2). */
const OPUS_FRAME_SAMPLES = [
  ...[480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880], // SILK NB, MB, WB
  ...[480, 960, 480, 960], // Hybrid SWB, FB
  ...[120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960], // CELT
];
/** A packet holds at most 120 ms of audio (RFC 6716 3.2.5). */
const OPUS_MAX_PACKET_SAMPLES = 5760;

/**
 * Duration in 48 kHz samples of one Opus packet from its TOC byte and, for code 3, the frame count
 * byte (RFC 6716 3.1, 3.2). Returns 0 when the packet does not say (empty, code 3 without a count
 * or with 0 frames, more than 120 ms): the caller then falls back to the timestamp difference.
 */
export function opusPacketDurationSamples(packet: Buffer): number {
  const toc = packet[0];
  if (toc === undefined) return 0;
  const frameSamples = OPUS_FRAME_SAMPLES[toc >>> 3] ?? 0;
  const code = toc & 0x03;
  let frames = code === 0 ? 1 : 2;
  if (code === 3) {
    const count = packet[1];
    if (count === undefined) return 0;
    frames = count & 0x3f;
  }
  const samples = frames * frameSamples;
  return samples > OPUS_MAX_PACKET_SAMPLES ? 0 : samples;
}

/** The CodecError for a codec fMP4 output does not carry. */
function unsupported(track: Track): CodecError {
  return new CodecError(
    'ERR_FMP4_UNSUPPORTED_CODEC',
    `Cannot carry ${track.kind} codec ${track.codec} in fragmented MP4`,
  );
}

/** Two lowercase hex digits. */
const hex2 = (byte: number): string => byte.toString(16).padStart(2, '0');

/**
 * RFC 6381 CODECS string: 'avc1.64001f' (ISO/IEC 14496-15 annex E), 'hvc1.1.6.L93.B0',
 * 'av01.0.04M.08' (AV1-ISOBMFF annex A), 'mp4a.40.2', 'opus'. Throws `CodecError` when the
 * config record is malformed, `ERR_FMP4_UNSUPPORTED_CODEC` for VP9 and MP3.
 */
export function codecsString(track: Track): string {
  switch (track.codec) {
    case 'h264': {
      const avc = parseAvcDecoderConfig(track.config);
      return `avc1.${hex2(avc.profileIdc)}${hex2(avc.profileCompat)}${hex2(avc.levelIdc)}`;
    }
    case 'hevc':
      return hevcCodecsString(track.config);
    case 'av1': {
      const av1 = parseAv1CodecConfig(track.config);
      const level = String(av1.seqLevelIdx).padStart(2, '0');
      const depth = String(av1.bitDepth).padStart(2, '0');
      return `av01.${av1.seqProfile}.${level}${av1.tier === 1 ? 'H' : 'M'}.${depth}`;
    }
    case 'aac':
      return `mp4a.40.${parseAudioSpecificConfig(track.config).objectType}`;
    case 'opus':
      parseOpusHead(track.config);
      return 'opus';
    case 'vp9':
    case 'mp3':
      throw unsupported(track);
  }
}

/** hvc1.[space][profile].[compat flags, bit-reversed].[L|H][level].[constraint bytes] (E.3). */
function hevcCodecsString(hvcC: Buffer): string {
  parseHevcDecoderConfig(hvcC);
  const byte1 = hvcC[1] ?? 0;
  const compat = hvcC.readUInt32BE(2);
  let reversed = 0;
  for (let bit = 0; bit < 32; bit++) reversed = reversed * 2 + ((compat >>> bit) & 1);
  const constraints = [...hvcC.subarray(6, 12)];
  while (constraints.at(-1) === 0) constraints.pop();
  return [
    'hvc1',
    `${['', 'A', 'B', 'C'][byte1 >>> 6] ?? ''}${byte1 & 0x1f}`,
    reversed.toString(16).toUpperCase(),
    `${(byte1 & 0x20) === 0 ? 'L' : 'H'}${hvcC[12] ?? 0}`,
    ...constraints.map((b) => b.toString(16).toUpperCase()),
  ].join('.');
}

/**
 * ftyp (iso6, cmfc brands) + moov for these tracks (track ids 1.. in order): mvhd, one trak per
 * track with an empty sample table and its sample entry (avc1+avcC, hvc1+hvcC, av01+av1C,
 * mp4a+esds, Opus+dOps), then mvex with a trex per track. Throws `CodecError`
 * `ERR_FMP4_UNSUPPORTED_CODEC` for VP9 and MP3, or the codec's error for a malformed config.
 */
export function encodeInitSegment(tracks: readonly Track[]): Buffer {
  const traks = tracks.map((track, index) => encodeTrak(track, index + 1));
  const trackIds = tracks.map((_, index) => index + 1);
  return Buffer.concat([
    encodeFtyp('iso6', 0, ['iso6', 'cmfc']),
    box('moov', encodeMvhd(MS_PER_SECOND, tracks.length + 1), ...traks, encodeMvex(trackIds)),
  ]);
}

/** trak > tkhd, mdia > mdhd, hdlr, minf > vmhd|smhd, dinf, stbl (ISO/IEC 14496-12 8.3). */
function encodeTrak(track: Track, trackId: number): Buffer {
  const video = track.kind === 'video';
  const size = video ? videoSize(track) : { widthPx: 0, heightPx: 0 };
  const entry = video ? videoSampleEntry(track, size) : audioSampleEntry(track);
  return box(
    'trak',
    encodeTkhd({ trackId, audio: !video, ...size }),
    box(
      'mdia',
      encodeMdhd(timescaleOf(track)),
      encodeHdlr(video ? 'vide' : 'soun', video ? 'VideoHandler' : 'SoundHandler'),
      box('minf', video ? encodeVmhd() : encodeSmhd(), encodeDinf(), encodeStbl(entry)),
    ),
  );
}

/** The sample entry of a video track (validating its configuration record). */
function videoSampleEntry(track: VideoTrack, size: { widthPx: number; heightPx: number }): Buffer {
  switch (track.codec) {
    case 'h264':
      parseAvcDecoderConfig(track.config);
      return encodeVisualSampleEntry('avc1', size, box('avcC', track.config));
    case 'hevc':
      parseHevcDecoderConfig(track.config);
      return encodeVisualSampleEntry('hvc1', size, box('hvcC', track.config));
    case 'av1':
      parseAv1CodecConfig(track.config);
      return encodeVisualSampleEntry('av01', size, box('av1C', track.config));
    case 'vp9':
      throw unsupported(track);
  }
}

/** The sample entry of an audio track (validating its configuration). */
function audioSampleEntry(track: AudioTrack): Buffer {
  switch (track.codec) {
    case 'aac': {
      const asc = parseAudioSpecificConfig(track.config);
      // channelConfiguration 0 defers to a program_config_element: use what the track says.
      const channels = asc.channels || track.channels || 2;
      const format = { channels, sampleRateHz: asc.sampleRate };
      return encodeAudioSampleEntry('mp4a', format, encodeEsds(track.config));
    }
    case 'opus': {
      const head = parseOpusHead(track.config);
      const format = { channels: head.channels, sampleRateHz: OPUS_TIMESCALE };
      return encodeAudioSampleEntry('Opus', format, encodeDops(track.config));
    }
    case 'mp3':
      throw unsupported(track);
  }
}

/**
 * Picture size for tkhd and the sample entry: the track's (from the H.264 SPS), else parsed from
 * the HEVC SPS in hvcC or the AV1 sequence header OBU in av1C; 0 x 0 when absent or unparsable
 * (decoders take the size from the bitstream; the sample entry's is informative).
 */
function videoSize(track: VideoTrack): { widthPx: number; heightPx: number } {
  if (track.width !== undefined && track.height !== undefined)
    return { widthPx: track.width, heightPx: track.height };
  try {
    if (track.codec === 'av1') return av1SequenceHeaderSize(track.config.subarray(4));
    if (track.codec === 'hevc') return hevcSpsSize(track.config);
  } catch (error) {
    if (!(error instanceof CodecError)) throw error;
  }
  return { widthPx: 0, heightPx: 0 };
}

/**
 * One frame's sample bytes for `track`: AVCC/HEVC length-prefixed NAL units and AAC/Opus
 * packets as they came (a subarray of the frame body, not a copy); AV1 with its temporal
 * delimiter OBUs removed (AV1-ISOBMFF 2.4). An empty Buffer for sequence headers, script data and
 * frames without payload: skip those. Never throws: AV1 bytes past a malformed OBU are kept as is.
 */
export function sampleData(track: Track, frame: Frame): Buffer {
  if (frame.kind === 'data' || frame.sequenceHeader || frame.payloadOffset >= frame.body.length)
    return Buffer.alloc(0);
  const payload = frame.body.subarray(frame.payloadOffset);
  return track.codec === 'av1' ? withoutTemporalDelimiters(payload) : payload;
}

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
function withoutTemporalDelimiters(data: Buffer): Buffer {
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
  const r = new BitReader(toRbsp(sps.subarray(2)), 'ERR_HEVC_CONFIG');
  r.bits(4); // sps_video_parameter_set_id
  const subLayers = r.bits(3); // sps_max_sub_layers_minus1
  r.bits(1); // sps_temporal_id_nesting_flag
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
  return { widthPx, heightPx };
}

/**
 * One moof + mdat: the runs in order, one traf each (tfhd default-base-is-moof, tfdt version 1,
 * trun version 1 with data offset, per-sample duration, size, flags and signed composition
 * offsets), samples in one mdat. One allocation. Throws `CodecError` `ERR_FMP4_FIELD_RANGE`
 * when a value does not fit its field.
 */
export function encodeFragment(sequenceNumber: number, runs: readonly Fmp4TrackRun[]): Buffer {
  return encodeMoofMdat(sequenceNumber, runs);
}
