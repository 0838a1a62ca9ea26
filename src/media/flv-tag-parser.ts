// Turns one RTMP audio/video message body (= FLV tag body) into a new Track or a frame description.
// Legacy FLV v10.1 annex E.4.2/E.4.3 and veovera enhanced RTMP v1/v2 (ExAudioTagHeader, ExVideoTagHeader).

import { aacObjectTypeName, parseAudioSpecificConfig } from '../codecs/aac.ts';
import { CodecError } from '../codecs/codec-error.ts';
import {
  av1LevelName,
  av1ProfileName,
  hevcProfileName,
  parseAv1CodecConfig,
  parseHevcDecoderConfig,
  parseOpusHead,
} from '../codecs/codec-config.ts';
import { h264LevelName, h264ProfileName, parseAvcDecoderConfig, parseSps } from '../codecs/h264.ts';
import type { AudioTrack, Track, VideoCodec, VideoTrack } from './track.ts';

/** Why a tag carries nothing for the hub. */
export type IgnoreReason =
  | 'empty'
  | 'too-short'
  | 'unsupported-codec'
  | 'sequence-end'
  | 'metadata'
  | 'multitrack'
  | 'bad-config';

/**
 * What one audio/video tag body is: a new track configuration, a coded frame (with where its
 * payload starts) or something to ignore, with the reason. Video info/command frames and
 * enhanced MultichannelConfig are reported as 'metadata'; unknown codecs and packet types as
 * 'unsupported-codec'.
 */
export type TagParse =
  | { type: 'sequence-header'; track: Track } // new track config
  | { type: 'frame'; keyframe: boolean; ctsMs: number; payloadOffset: number }
  | { type: 'ignored'; reason: IgnoreReason };

const FRAME_TYPE_KEY = 1;
const FRAME_TYPE_COMMAND = 5;
const CODEC_ID_AVC = 7;
const AVC_SEQUENCE_HEADER = 0;
const AVC_NALU = 1;
const AVC_END_OF_SEQUENCE = 2;

/** Enhanced RTMP VideoPacketType / AudioPacketType values shared by both. */
const PacketType = {
  SequenceStart: 0,
  CodedFrames: 1,
  SequenceEnd: 2,
  CodedFramesX: 3,
  Metadata: 4,
  Mpeg2TsSequenceStart: 5,
  Multitrack: 6,
  ModEx: 7,
} as const;
const AudioPacketType = { MultichannelConfig: 4, Multitrack: 5 } as const;
/** Bound on chained ModEx prefixes in one message. */
const MAX_MOD_EX = 8;

const SOUND_FORMAT_MP3 = 2;
const SOUND_FORMAT_EX_HEADER = 9;
const SOUND_FORMAT_AAC = 10;
const SOUND_FORMAT_MP3_8K = 14;
const AAC_SEQUENCE_HEADER = 0;
const AAC_RAW = 1;
/** Legacy SoundRate (E.4.2.1): 5.5, 11, 22, 44 kHz. */
const MP3_SAMPLE_RATES = [5512, 11025, 22050, 44100] as const;

const VIDEO_FOURCC: Readonly<Record<string, VideoCodec>> = {
  avc1: 'h264',
  hvc1: 'hevc',
  av01: 'av1',
  vp09: 'vp9',
  vp08: 'vp8',
};

const ignored = (reason: IgnoreReason): TagParse => ({ type: 'ignored', reason });
const frame = (keyframe: boolean, ctsMs: number, payloadOffset: number): TagParse => ({
  type: 'frame',
  keyframe,
  ctsMs,
  payloadOffset,
});

/** Reads a big-endian SI24 (composition time offset, FLV E.4.3.1). */
function readSi24(body: Buffer, offset: number): number {
  return body.readIntBE(offset, 3);
}

/** Runs a config parser; a CodecError becomes 'bad-config' (the caller keeps the previous header). */
function sequenceHeader(parse: () => Track): TagParse {
  try {
    return { type: 'sequence-header', track: parse() };
  } catch (error) {
    if (error instanceof CodecError) return ignored('bad-config');
    throw error;
  }
}

/** An H.264 track from an AVCDecoderConfigurationRecord and its first SPS. */
function avcTrack(config: Buffer): VideoTrack {
  const record = parseAvcDecoderConfig(config);
  const first = record.sps[0];
  if (first === undefined)
    throw new CodecError('ERR_H264_CONFIG', 'AVCDecoderConfigurationRecord has no SPS');
  const sps = parseSps(first);
  return {
    kind: 'video',
    codec: 'h264',
    config,
    profile: h264ProfileName(sps.profileIdc),
    level: h264LevelName(sps.levelIdc),
    width: sps.width,
    height: sps.height,
  };
}

/** A video track for an enhanced-RTMP FourCC codec. */
function videoTrack(codec: VideoCodec, config: Buffer): VideoTrack {
  switch (codec) {
    case 'h264':
      return avcTrack(config);
    case 'hevc': {
      const hevc = parseHevcDecoderConfig(config);
      return {
        kind: 'video',
        codec,
        config,
        profile: hevcProfileName(hevc.profileIdc),
        level: hevc.levelIdc,
      };
    }
    case 'av1': {
      const av1 = parseAv1CodecConfig(config);
      return {
        kind: 'video',
        codec,
        config,
        profile: av1ProfileName(av1.seqProfile),
        level: av1LevelName(av1.seqLevelIdx),
      };
    }
    case 'vp9':
    case 'vp8':
      // VPCodecConfigurationRecord is carried through unparsed.
      return { kind: 'video', codec, config };
  }
}

/** An AAC track from an AudioSpecificConfig (throws CodecError when it is unusable). */
export function aacTrack(config: Buffer): AudioTrack {
  const asc = parseAudioSpecificConfig(config);
  return {
    kind: 'audio',
    codec: 'aac',
    config,
    sampleRate: asc.sampleRate,
    channels: asc.channels,
    profile: aacObjectTypeName(asc.objectType),
  };
}

/**
 * Skips enhanced-RTMP ModEx prefixes (v2 "ExVideoTagHeader"/"ExAudioTagHeader"): each is
 * modExDataSize (UI8 + 1, or UI16 + 1 when the UI8 is 255), the data, then a byte whose low
 * nibble is the next packet type. Returns the real packet type and the offset after the last
 * prefix, 'too-short' when truncated, or 'unsupported-codec' when chained more than
 * {@link MAX_MOD_EX} times.
 */
function skipModEx(
  body: Buffer,
  packetType: number,
  offset: number,
): { packetType: number; offset: number } | IgnoreReason {
  let type = packetType;
  let at = offset;
  for (let i = 0; type === PacketType.ModEx; i++) {
    if (i === MAX_MOD_EX) return 'unsupported-codec';
    if (at >= body.length) return 'too-short';
    let size = (body[at] ?? 0) + 1;
    at += 1;
    if (size === 256) {
      if (at + 2 > body.length) return 'too-short';
      size = body.readUInt16BE(at) + 1;
      at += 2;
    }
    at += size;
    const next = body[at];
    if (next === undefined) return 'too-short';
    type = next & 0x0f; // high nibble: ModExType (TimestampOffsetNano), not needed here
    at += 1;
  }
  return { packetType: type, offset: at };
}

/** Parses one video message body (legacy or enhanced). Never throws: every problem is a TagParse. */
export function parseVideoTag(body: Buffer): TagParse {
  const byte0 = body[0];
  if (byte0 === undefined) return ignored('empty');
  if ((byte0 & 0x80) !== 0) return parseExVideoTag(body, byte0);
  const frameType = byte0 >>> 4;
  if (frameType === FRAME_TYPE_COMMAND) return ignored('metadata');
  if ((byte0 & 0x0f) !== CODEC_ID_AVC) return ignored('unsupported-codec');
  if (body.length < 5) return ignored('too-short');
  switch (body.readUInt8(1)) {
    case AVC_SEQUENCE_HEADER:
      return sequenceHeader(() => avcTrack(body.subarray(5)));
    case AVC_NALU:
      return frame(frameType === FRAME_TYPE_KEY, readSi24(body, 2), 5);
    case AVC_END_OF_SEQUENCE:
      return ignored('sequence-end');
    default:
      return ignored('unsupported-codec');
  }
}

/** The enhanced-RTMP video path: IsExHeader is set in `byte0`. */
function parseExVideoTag(body: Buffer, byte0: number): TagParse {
  const frameType = (byte0 >>> 4) & 0x07;
  const header = skipModEx(body, byte0 & 0x0f, 1);
  if (typeof header === 'string') return ignored(header);
  const { packetType, offset } = header;
  // FrameType is ignored for Metadata; otherwise a Command frame carries only a VideoCommand.
  if (packetType === PacketType.Metadata) return ignored('metadata');
  if (frameType === FRAME_TYPE_COMMAND) return ignored('metadata');
  if (packetType === PacketType.Multitrack) return ignored('multitrack');
  if (offset + 4 > body.length) return ignored('too-short');
  const codec = VIDEO_FOURCC[body.toString('latin1', offset, offset + 4)];
  if (codec === undefined) return ignored('unsupported-codec');
  const payloadOffset = offset + 4;
  const keyframe = frameType === FRAME_TYPE_KEY;
  switch (packetType) {
    case PacketType.SequenceStart:
      return sequenceHeader(() => videoTrack(codec, body.subarray(payloadOffset)));
    case PacketType.CodedFrames:
      if (codec === 'h264' || codec === 'hevc') {
        // SI24 composition time offset precedes the AVC/HEVC NAL units.
        if (payloadOffset + 3 > body.length) return ignored('too-short');
        return frame(keyframe, readSi24(body, payloadOffset), payloadOffset + 3);
      }
      return frame(keyframe, 0, payloadOffset);
    case PacketType.CodedFramesX:
      return frame(keyframe, 0, payloadOffset);
    case PacketType.SequenceEnd:
      return ignored('sequence-end');
    default:
      // MPEG2TSSequenceStart and reserved values.
      return ignored('unsupported-codec');
  }
}

/** An MP3 track from the legacy AudioTagHeader byte: SoundRate bits 2-3, SoundType bit 0. */
export function mp3TrackFromHeader(byte0: number): AudioTrack {
  const sampleRate =
    byte0 >>> 4 === SOUND_FORMAT_MP3_8K ? 8000 : (MP3_SAMPLE_RATES[(byte0 >>> 2) & 0x03] ?? 44100);
  return {
    kind: 'audio',
    codec: 'mp3',
    config: Buffer.alloc(0),
    sampleRate,
    channels: (byte0 & 0x01) + 1,
  };
}

/** Parses one audio message body (legacy or enhanced). Never throws; audio frames are never keyframes. */
export function parseAudioTag(body: Buffer): TagParse {
  const byte0 = body[0];
  if (byte0 === undefined) return ignored('empty');
  const soundFormat = byte0 >>> 4;
  switch (soundFormat) {
    case SOUND_FORMAT_AAC:
      if (body.length < 2) return ignored('too-short');
      if (body[1] === AAC_SEQUENCE_HEADER) return sequenceHeader(() => aacTrack(body.subarray(2)));
      if (body[1] === AAC_RAW) return frame(false, 0, 2);
      return ignored('unsupported-codec');
    case SOUND_FORMAT_MP3:
    case SOUND_FORMAT_MP3_8K:
      return frame(false, 0, 1);
    case SOUND_FORMAT_EX_HEADER:
      return parseExAudioTag(body, byte0);
    default:
      return ignored('unsupported-codec');
  }
}

/** The enhanced-RTMP audio path: SoundFormat is ExHeader (9). */
function parseExAudioTag(body: Buffer, byte0: number): TagParse {
  const header = skipModEx(body, byte0 & 0x0f, 1);
  if (typeof header === 'string') return ignored(header);
  const { packetType, offset } = header;
  if (packetType === AudioPacketType.Multitrack) return ignored('multitrack');
  if (offset + 4 > body.length) return ignored('too-short');
  const fourCc = body.toString('latin1', offset, offset + 4);
  if (fourCc !== 'Opus' && fourCc !== 'mp4a') return ignored('unsupported-codec');
  const payloadOffset = offset + 4;
  switch (packetType) {
    case PacketType.SequenceStart: {
      const config = body.subarray(payloadOffset);
      if (fourCc === 'mp4a') return sequenceHeader(() => aacTrack(config));
      return sequenceHeader(() => {
        const head = parseOpusHead(config);
        return { kind: 'audio', codec: 'opus', config, sampleRate: 48000, channels: head.channels };
      });
    }
    case PacketType.CodedFrames:
      return frame(false, 0, payloadOffset);
    case PacketType.SequenceEnd:
      return ignored('sequence-end');
    case AudioPacketType.MultichannelConfig:
      return ignored('metadata');
    default:
      return ignored('unsupported-codec');
  }
}
