// Fragmented MP4 (CMAF) for HLS and LL-HLS: init segment, moof + mdat fragments, sample bytes and
// RFC 6381 codecs strings for onair Tracks. ISO/IEC 14496-12/-14/-15, AV1-ISOBMFF, Opus-ISOBMFF.

import { parseAudioSpecificConfig } from '../codecs/aac.ts';
import { CodecError } from '../codecs/codec-error.ts';
import {
  parseAv1CodecConfig,
  parseHevcDecoderConfig,
  parseOpusHead,
} from '../codecs/codec-config.ts';
import { av1SequenceHeaderSize, withoutTemporalDelimiters } from '../codecs/av1.ts';
import { parseAvcDecoderConfig } from '../codecs/h264.ts';
import { parseVpCodecConfig } from '../codecs/rtp-vp8.ts';
import { hevcSpsSize } from '../codecs/hevc.ts';
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
const EMPTY = Buffer.alloc(0);

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
 * 'av01.0.04M.08' (AV1-ISOBMFF annex A), 'vp08.00.21.08' (VP codec ISO binding), 'mp4a.40.2',
 * 'opus'. Throws `CodecError` when the config record is malformed, `ERR_FMP4_UNSUPPORTED_CODEC` for VP9 and MP3.
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
    case 'vp8': {
      const vp = vpConfig(track);
      const two = (n: number): string => String(n).padStart(2, '0');
      return `vp08.${two(vp.profile)}.${two(vp.level)}.${two(vp.bitDepth)}`;
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

/** The VPCodecConfigurationRecord of a VP8 track; `ERR_FMP4_FIELD_RANGE` when it is short. */
function vpConfig(track: VideoTrack): { profile: number; level: number; bitDepth: number } {
  const vp = parseVpCodecConfig(track.config);
  if (vp === null) {
    throw new CodecError(
      'ERR_FMP4_FIELD_RANGE',
      `Cannot write vpcC: the VPCodecConfigurationRecord has ${track.config.length} bytes, not 8`,
    );
  }
  return vp;
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
 * track with an empty sample table and its sample entry (avc1+avcC, hvc1+hvcC, av01+av1C, vp08+vpcC,
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
    case 'vp8':
      vpConfig(track);
      // vpcC is a full box, version 1 (the record the track carries has no version and flags).
      return encodeVisualSampleEntry('vp08', size, fullBox('vpcC', 1, 0, track.config));
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
 * packets as they came (the frame's payload, not a copy); AV1 with its temporal
 * delimiter OBUs removed (AV1-ISOBMFF 2.4). An empty Buffer for sequence headers, script data and
 * frames without payload: skip those. Never throws: AV1 bytes past a malformed OBU are kept as is.
 */
export function sampleData(track: Track, frame: Frame): Buffer {
  if (frame.kind === 'data' || frame.sequenceHeader || frame.payload.length === 0) return EMPTY;
  const { payload } = frame;
  return track.codec === 'av1' ? withoutTemporalDelimiters(payload) : payload;
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
