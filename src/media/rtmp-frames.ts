// The RTMP <-> Frame mapping: media messages from a publisher (or a pulled origin) become hub
// frames (FLV tag bodies, parsed once), and frames become the RTMP chunks every RTMP viewer, relay
// and push shares. Pure: used by the RTMP server and by the cluster's relay client alike.
import { decodeAmf0 } from '../codecs/amf0.ts';
import { encodeMessage } from '../codecs/rtmp-chunk-encoder.ts';
import { Csid, MessageType, type RtmpMessage } from '../codecs/rtmp-message.ts';
import { flvBodyOf } from './flv-body.ts';
import { dtsMsOf, type Frame, type FrameInput } from './frame.ts';
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

/** RTMP timestamps are 32-bit milliseconds. */
const WRAP = 2 ** 32;
const HALF_WRAP = 2 ** 31;

/** What mapping one publisher's messages needs to remember. */
export class RtmpIngestState {
  /** MP3 has no sequence header: its first frame announces the track, once. */
  mp3Announced = false;
  #last: number | null = null;
  #extended = 0;

  /**
   * The 32-bit timestamp as a position on an unwrapped millisecond timeline: each step is taken
   * as the shortest way round the 32-bit circle, so a wrap after 49.7 days continues forward.
   */
  unwrap(timestamp: number): number {
    if (this.#last === null) {
      this.#last = timestamp;
      this.#extended = timestamp;
      return timestamp;
    }
    let step = (timestamp - this.#last) % WRAP;
    if (step >= HALF_WRAP) step -= WRAP;
    else if (step < -HALF_WRAP) step += WRAP;
    this.#last = timestamp;
    this.#extended += step;
    return this.#extended;
  }
}

/**
 * Converts one audio (8), video (9) or data (18) message into a FrameInput (milliseconds, the
 * payload a view into the body, the body kept as the frame's FLV encoding), or says why not.
 */
export function frameFromMessage(
  message: RtmpMessage,
  state: RtmpIngestState,
): FrameInput | IngestSkip {
  const { payload: body } = message;
  if (message.typeId === MessageType.DataAmf0) {
    return metadataFrame(body, state.unwrap(message.timestamp));
  }
  const parsed = message.typeId === MessageType.Video ? parseVideoTag(body) : parseAudioTag(body);
  if (parsed.type === 'ignored' && !PASS_THROUGH.has(parsed.reason)) return parsed.reason;
  const dts = state.unwrap(message.timestamp);
  const kind = message.typeId === MessageType.Video ? 'video' : 'audio';
  switch (parsed.type) {
    case 'ignored':
      // Not media, but part of the stream: FLV and RTMP viewers get it unchanged; muxers see
      // an empty codec payload and skip it.
      return {
        kind,
        timescale: 1000,
        dts,
        pts: dts,
        keyframe: false,
        payload: EMPTY,
        flvBody: body,
      };
    case 'sequence-header':
      return {
        kind: parsed.track.kind,
        timescale: 1000,
        dts,
        pts: dts,
        keyframe: false,
        payload: parsed.track.config,
        flvBody: body,
        track: parsed.track,
      };
    case 'frame': {
      const frame: FrameInput = {
        kind,
        timescale: 1000,
        dts,
        pts: dts + parsed.ctsMs,
        keyframe: parsed.keyframe,
        payload: body.subarray(parsed.payloadOffset),
        flvBody: body,
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

const EMPTY = Buffer.alloc(0);

function metadataFrame(body: Buffer, dts: number): FrameInput | IngestSkip {
  let payload = body;
  if (body.subarray(0, SET_DATA_FRAME.length).equals(SET_DATA_FRAME)) {
    payload = body.subarray(SET_DATA_FRAME.length);
  }
  if (!payload.subarray(0, ON_METADATA.length).equals(ON_METADATA)) return 'not-metadata';
  // Metadata is advisory: it must decode, but nothing is sized from it.
  decodeAmf0(payload);
  return {
    kind: 'data',
    timescale: 1000,
    dts,
    pts: dts,
    keyframe: false,
    payload,
    flvBody: payload,
  };
}

/** The message types of the three frame kinds, and their chunk streams. */
const TYPE_OF = { video: MessageType.Video, audio: MessageType.Audio, data: MessageType.DataAmf0 };
const CSID_OF = { video: Csid.Video, audio: Csid.Audio, data: Csid.Data };

/**
 * Encodes frames for RTMP viewers: fmt 0 chunks with the stream's absolute timestamps (32-bit,
 * wrapping), so the bytes are the same for every viewer playing on message stream `streamId`
 * (one Buffer each). Null for a frame with no FLV encoding (see flvBodyOf). `publishing`: the
 * chunks a relay publishes to another server (a push), metadata as a publisher sends it.
 */
export function rtmpFrameEncoder(
  streamId: number,
  chunkSize: number,
  options: { readonly publishing?: boolean } = {},
): (frame: Frame) => Buffer | null {
  return (frame) => {
    const body = flvBodyOf(frame);
    if (body === null) return null;
    // A publisher sends metadata as `@setDataFrame onMetaData ...` (what OBS and ffmpeg send,
    // and what platforms expect); a player gets plain onMetaData.
    const payload =
      options.publishing === true && frame.kind === 'data'
        ? Buffer.concat([SET_DATA_FRAME, body])
        : body;
    return encodeMessage(
      {
        csid: CSID_OF[frame.kind],
        typeId: TYPE_OF[frame.kind],
        streamId,
        timestamp: Math.round(dtsMsOf(frame)) >>> 0,
        payload,
      },
      chunkSize,
    );
  };
}
