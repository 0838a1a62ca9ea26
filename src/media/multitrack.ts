// Enhanced RTMP v2 multitrack video (OBS's multitrack video, "Enhanced Broadcasting"): one video
// message carrying one or several tracks, each an encoding of the same pictures. Split into one
// ordinary video tag body per track, so each track is ingested like a single-track publisher's:
// H.264 as a legacy AVC tag (what every FLV and RTMP player reads), other codecs as an enhanced
// single-track tag. Pure.
import type { IgnoreReason } from './flv-tag-parser.ts';

/** One track of a multitrack message, as a single-track video tag body. */
export interface TrackBody {
  /** 0 is the encoder's main (highest quality) track; higher ids are lesser ones. */
  readonly trackId: number;
  readonly body: Buffer;
}

const PACKET_TYPE_MULTITRACK = 6;
const PACKET_TYPE_MOD_EX = 7;
const PACKET = { SequenceStart: 0, CodedFrames: 1, SequenceEnd: 2, CodedFramesX: 3 } as const;
const MULTITRACK = { OneTrack: 0, ManyTracks: 1, ManyTracksManyCodecs: 2 } as const;
/** Tracks in one message: trackId is a UI8. */
const MAX_TRACKS = 256;
const CODEC_ID_AVC = 7;

/**
 * The tracks of a multitrack video message body, null when it is not one (legacy, or enhanced
 * single track), or why it cannot be used. Never throws. ModEx before Multitrack is not split
 * (OBS sends none); it is reported as 'unsupported-codec'.
 */
export function splitMultitrackVideo(body: Buffer): TrackBody[] | IgnoreReason | null {
  const byte0 = body[0];
  if (byte0 === undefined || (byte0 & 0x80) === 0) return null;
  const outer = byte0 & 0x0f;
  if (outer === PACKET_TYPE_MOD_EX) return null; // the single-track parser skips ModEx
  if (outer !== PACKET_TYPE_MULTITRACK) return null;
  const frameType = (byte0 >>> 4) & 0x07;
  const byte1 = body[1];
  if (byte1 === undefined) return 'too-short';
  const kind = byte1 >>> 4;
  const packetType = byte1 & 0x0f;
  if (packetType === PACKET_TYPE_MULTITRACK || packetType === PACKET_TYPE_MOD_EX) {
    return 'unsupported-codec';
  }
  if (kind > MULTITRACK.ManyTracksManyCodecs) return 'unsupported-codec';
  let at = 2;
  let fourCc: Buffer | null = null;
  if (kind !== MULTITRACK.ManyTracksManyCodecs) {
    if (at + 4 > body.length) return 'too-short';
    fourCc = body.subarray(at, at + 4);
    at += 4;
  }
  const tracks: TrackBody[] = [];
  while (at < body.length) {
    if (tracks.length === MAX_TRACKS) return 'unsupported-codec';
    let codec = fourCc;
    if (kind === MULTITRACK.ManyTracksManyCodecs) {
      if (at + 4 > body.length) return 'too-short';
      codec = body.subarray(at, at + 4);
      at += 4;
    }
    const trackId = body[at];
    if (trackId === undefined || codec === null) return 'too-short';
    at += 1;
    let end = body.length;
    if (kind !== MULTITRACK.OneTrack) {
      if (at + 3 > body.length) return 'too-short';
      end = at + 3 + body.readUIntBE(at, 3);
      at += 3;
      if (end > body.length) return 'too-short';
    }
    tracks.push({
      trackId,
      body: singleTrack(frameType, packetType, codec, body.subarray(at, end)),
    });
    at = end;
    if (kind === MULTITRACK.OneTrack) break;
  }
  return tracks.length === 0 ? 'too-short' : tracks;
}

/** A single-track video tag body for one track's packet. */
function singleTrack(frameType: number, packetType: number, fourCc: Buffer, data: Buffer): Buffer {
  if (fourCc.toString('latin1') === 'avc1') {
    const legacy = legacyAvc(frameType, packetType, data);
    if (legacy !== null) return legacy;
  }
  const header = Buffer.from([0x80 | (frameType << 4) | packetType]);
  return Buffer.concat([header, fourCc, data]);
}

/**
 * H.264 as FLV's own AVC tag (E.4.3.1): FrameType | CodecID 7, AVCPacketType, SI24 composition
 * time, data. Null for a packet type that has no legacy form (left enhanced).
 */
function legacyAvc(frameType: number, packetType: number, data: Buffer): Buffer | null {
  const header = (frameType << 4) | CODEC_ID_AVC;
  switch (packetType) {
    case PACKET.SequenceStart:
      return Buffer.concat([Buffer.from([header, 0, 0, 0, 0]), data]);
    case PACKET.CodedFrames:
      // CodedFrames of avc1 start with the SI24 composition time, as the legacy tag does.
      return Buffer.concat([Buffer.from([header, 1]), data]);
    case PACKET.CodedFramesX:
      return Buffer.concat([Buffer.from([header, 1, 0, 0, 0]), data]);
    case PACKET.SequenceEnd:
      return Buffer.from([header, 2, 0, 0, 0]);
    default:
      return null;
  }
}
