// Frame: one coded frame of one track, the unit the hub moves. Immutable; payloads are shared.
import type { Track } from './track.ts';

/** Which kind of message a Frame carries. `data` is script data (onMetaData and the like). */
export type FrameKind = 'video' | 'audio' | 'data';

/**
 * One coded frame, or one sequence header, or one script-data message.
 *
 * `body` is the FLV tag body (the RTMP message payload) exactly as the publisher sent it, so
 * FLV and RTMP viewers get the publisher's bytes unchanged (enhanced RTMP included) and no one
 * re-muxes them. `payloadOffset` says where the codec payload starts inside `body` (after the
 * FLV audio/video header), for muxers that need the raw codec data (HLS).
 */
export interface Frame {
  readonly kind: FrameKind;
  /** Decode timestamp in milliseconds (the RTMP/FLV timescale), re-based by the hub. */
  readonly dtsMs: number;
  /** Composition offset in milliseconds (pts = dts + ctsMs); 0 for audio and data. */
  readonly ctsMs: number;
  /** A video frame that starts a GOP (decodable on its own). False for audio and data. */
  readonly keyframe: boolean;
  /** A codec configuration frame (AVC/HEVC/AV1 sequence start, AAC AudioSpecificConfig). */
  readonly sequenceHeader: boolean;
  /** The FLV tag body / RTMP message payload as received. Shared, never copied or mutated. */
  readonly body: Buffer;
  /** Where the codec payload starts in `body`; equal to `body.length` when there is none. */
  readonly payloadOffset: number;
}

/** One message from a publisher, before the hub re-bases its timestamp. */
export interface FrameInput {
  readonly kind: FrameKind;
  /** The publisher's timestamp in ms (32-bit, as RTMP carries it). */
  readonly timestampMs: number;
  readonly ctsMs: number;
  readonly keyframe: boolean;
  readonly body: Buffer;
  readonly payloadOffset: number;
  /** Set on sequence headers: the track this header defines. */
  readonly track?: Track;
}
