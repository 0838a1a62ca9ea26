// The RTMP <-> Frame mapping: media messages from a publisher (or a pulled origin) become hub
// frames (FLV tag bodies, parsed once), and frames become the RTMP chunks every RTMP viewer, relay
// and push shares. Pure: used by the RTMP server and by the cluster's relay client alike.
import { decodeAmf0 } from '../codecs/amf0.ts';
import { encodeMessage } from '../codecs/rtmp-chunk-encoder.ts';
import { Csid, MessageType, type RtmpMessage } from '../codecs/rtmp-message.ts';
import type { Frame, FrameInput } from './frame.ts';
import {
  mp3TrackFromHeader,
  parseAudioTag,
  parseVideoTag,
  type IgnoreReason,
} from './flv-tag-parser.ts';

/** Why a message did not become a frame (counted and, at debug level, logged). */
export type IngestSkip = IgnoreReason | 'not-metadata';

/** Packets that are not frames but are forwarded as they are (HDR metadata, end of sequence). */
const PASS_THROUGH: ReadonlySet<string> = new Set(['metadata', 'sequence-end']);

/** `@setDataFrame` encoded as an AMF0 string: stripped so viewers get plain onMetaData. */
const SET_DATA_FRAME = Buffer.from([0x02, 0x00, 0x0d, ...Buffer.from('@setDataFrame')]);
const ON_METADATA = Buffer.from([0x02, 0x00, 0x0a, ...Buffer.from('onMetaData')]);

/** Converts one audio (8), video (9) or data (18) message into a FrameInput, or says why not. */
export function frameFromMessage(
  message: RtmpMessage,
  state: { mp3Announced: boolean },
): FrameInput | IngestSkip {
  const { payload: body, timestamp: timestampMs } = message;
  if (message.typeId === MessageType.DataAmf0) return metadataFrame(body, timestampMs);
  const parsed = message.typeId === MessageType.Video ? parseVideoTag(body) : parseAudioTag(body);
  switch (parsed.type) {
    case 'ignored':
      if (PASS_THROUGH.has(parsed.reason)) {
        // Not media, but part of the stream: FLV and RTMP viewers get it unchanged; muxers
        // see an empty codec payload and skip it.
        const kind = message.typeId === MessageType.Video ? 'video' : 'audio';
        return { kind, timestampMs, ctsMs: 0, keyframe: false, body, payloadOffset: body.length };
      }
      return parsed.reason;
    case 'sequence-header':
      return {
        kind: parsed.track.kind,
        timestampMs,
        ctsMs: 0,
        keyframe: false,
        body,
        payloadOffset: body.length,
        track: parsed.track,
      };
    case 'frame': {
      const kind = message.typeId === MessageType.Video ? 'video' : 'audio';
      const frame: FrameInput = {
        kind,
        timestampMs,
        ctsMs: parsed.ctsMs,
        keyframe: parsed.keyframe,
        body,
        payloadOffset: parsed.payloadOffset,
      };
      // MP3 has no sequence header: its first frame announces the track.
      if (kind === 'audio' && (body[0] ?? 0) >> 4 === 2 && !state.mp3Announced) {
        state.mp3Announced = true;
        return { ...frame, track: mp3TrackFromHeader(body[0] ?? 0) };
      }
      return frame;
    }
  }
}

function metadataFrame(body: Buffer, timestampMs: number): FrameInput | IngestSkip {
  let payload = body;
  if (body.subarray(0, SET_DATA_FRAME.length).equals(SET_DATA_FRAME)) {
    payload = body.subarray(SET_DATA_FRAME.length);
  }
  if (!payload.subarray(0, ON_METADATA.length).equals(ON_METADATA)) return 'not-metadata';
  // Metadata is advisory: it must decode, but nothing is sized from it.
  decodeAmf0(payload);
  return { kind: 'data', timestampMs, ctsMs: 0, keyframe: false, body: payload, payloadOffset: 0 };
}

/** The message types of the three frame kinds, and their chunk streams. */
const TYPE_OF = { video: MessageType.Video, audio: MessageType.Audio, data: MessageType.DataAmf0 };
const CSID_OF = { video: Csid.Video, audio: Csid.Audio, data: Csid.Data };

/**
 * Encodes frames for RTMP viewers: fmt 0 chunks with the stream's absolute timestamps, so the
 * bytes are the same for every viewer playing on message stream `streamId` (one Buffer each).
 */
export function rtmpFrameEncoder(streamId: number, chunkSize: number): (frame: Frame) => Buffer {
  return (frame) =>
    encodeMessage(
      {
        csid: CSID_OF[frame.kind],
        typeId: TYPE_OF[frame.kind],
        streamId,
        timestamp: frame.dtsMs,
        payload: frame.body,
      },
      chunkSize,
    );
}
