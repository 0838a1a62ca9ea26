// Frame -> FLV tag body, the encoding FLV and RTMP outputs send: legacy FLV (E.4.2, E.4.3) for
// H.264, AAC and MP3, enhanced RTMP (ExVideoTagHeader, ExAudioTagHeader) for HEVC, AV1, VP9,
// VP8 and Opus. The inverse of flv-tag-parser.ts. RTMP and FLV ingest keep the body they received, so
// this runs only for frames from other ingests, once per frame (the result stays on the frame).
import { FlvTagType, encodeFlvTag } from '../codecs/flv.ts';
import { ctsMsOf, dtsMsOf, type Frame } from './frame.ts';
import type { AudioTrack, VideoTrack } from './track.ts';

const FRAME_TYPE_KEY = 1;
const FRAME_TYPE_INTER = 2;
const CODEC_ID_AVC = 7;
const EX_HEADER = 0x80;
const PACKET_SEQUENCE_START = 0;
const PACKET_CODED_FRAMES = 1;
const SOUND_FORMAT_MP3 = 2;
const SOUND_FORMAT_EX_HEADER = 9;
const SOUND_FORMAT_AAC = 10;
const SOUND_FORMAT_MP3_8K = 14;
/** Legacy SoundRate values (E.4.2.1), by sample rate; others are sent as 44 kHz. */
const SOUND_RATE: Readonly<Record<number, number>> = { 5512: 0, 11025: 1, 22050: 2, 44100: 3 };

const FOURCC: Readonly<Record<string, Buffer>> = {
  hevc: Buffer.from('hvc1', 'latin1'),
  av1: Buffer.from('av01', 'latin1'),
  vp9: Buffer.from('vp09', 'latin1'),
  vp8: Buffer.from('vp08', 'latin1'),
  opus: Buffer.from('Opus', 'latin1'),
};

/**
 * The FLV tag body of `frame`: the one it arrived with, else one built now and kept on the frame.
 * Null for a media frame with no track to say its codec (it came before its configuration).
 */
export function flvBodyOf(frame: Frame): Buffer | null {
  if (frame.flvBody !== undefined) return frame.flvBody;
  const body = encodeFlvBody(frame);
  if (body !== null) frame.flvBody = body;
  return body;
}

/** Builds the FLV tag body of `frame` (see the file comment); null when its codec is unknown. */
export function encodeFlvBody(frame: Frame): Buffer | null {
  if (frame.kind === 'data') return frame.payload;
  const track = frame.track;
  if (track === undefined || track.kind !== frame.kind) return null;
  return track.kind === 'video' ? videoBody(frame, track) : audioBody(frame, track);
}

function videoBody(frame: Frame, track: VideoTrack): Buffer {
  const key = frame.sequenceHeader || frame.keyframe;
  const frameType = key ? FRAME_TYPE_KEY : FRAME_TYPE_INTER;
  const cts = Math.round(ctsMsOf(frame));
  if (track.codec === 'h264') {
    const header = Buffer.allocUnsafe(5);
    header[0] = (frameType << 4) | CODEC_ID_AVC;
    header[1] = frame.sequenceHeader ? 0 : 1;
    header.writeIntBE(frame.sequenceHeader ? 0 : clampSi24(cts), 2, 3);
    return Buffer.concat([header, frame.payload]);
  }
  const fourCc = FOURCC[track.codec];
  const packetType = frame.sequenceHeader ? PACKET_SEQUENCE_START : PACKET_CODED_FRAMES;
  const withCts = !frame.sequenceHeader && track.codec === 'hevc';
  const header = Buffer.allocUnsafe(withCts ? 8 : 5);
  header[0] = EX_HEADER | (frameType << 4) | packetType;
  fourCc?.copy(header, 1);
  if (withCts) header.writeIntBE(clampSi24(cts), 5, 3);
  return Buffer.concat([header, frame.payload]);
}

function audioBody(frame: Frame, track: AudioTrack): Buffer {
  switch (track.codec) {
    case 'aac': {
      // SoundRate 3 and SoundType 1 always: decoders take both from the AudioSpecificConfig.
      const header = Buffer.from([(SOUND_FORMAT_AAC << 4) | 0x0f, frame.sequenceHeader ? 0 : 1]);
      return Buffer.concat([header, frame.payload]);
    }
    case 'mp3': {
      const rate = track.sampleRate ?? 44100;
      const format = rate === 8000 ? SOUND_FORMAT_MP3_8K : SOUND_FORMAT_MP3;
      const stereo = (track.channels ?? 2) > 1 ? 1 : 0;
      const byte0 = (format << 4) | ((SOUND_RATE[rate] ?? 3) << 2) | 0x02 | stereo;
      return Buffer.concat([Buffer.from([byte0]), frame.payload]);
    }
    case 'opus': {
      const packetType = frame.sequenceHeader ? PACKET_SEQUENCE_START : PACKET_CODED_FRAMES;
      const header = Buffer.allocUnsafe(5);
      header[0] = (SOUND_FORMAT_EX_HEADER << 4) | packetType;
      FOURCC.opus?.copy(header, 1);
      return Buffer.concat([header, frame.payload]);
    }
  }
}

/** A composition offset as FLV's SI24 can carry it. */
function clampSi24(value: number): number {
  return Math.max(-0x800000, Math.min(0x7fffff, value));
}

const TAG_TYPE = { video: FlvTagType.Video, audio: FlvTagType.Audio, data: FlvTagType.Script };

/**
 * A frame as one FLV tag (with its PreviousTagSize), the stream's timestamp in it; null when it
 * has no FLV encoding. What HTTP-FLV viewers and an ABR ladder's ffmpeg read.
 */
export function encodeFlvFrame(frame: Frame): Buffer | null {
  const body = flvBodyOf(frame);
  if (body === null) return null;
  return encodeFlvTag(TAG_TYPE[frame.kind], Math.round(dtsMsOf(frame)) >>> 0, body);
}
