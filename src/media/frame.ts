// Frame: one coded frame of one track, the unit the hub moves. Codec-native: the payload is the
// codec's own bytes, times are ticks of a declared timescale. Immutable but for the FLV body,
// which is an encoding made at most once per frame (media/flv-body.ts).
import type { Track } from './track.ts';

/** Which kind of message a Frame carries. `data` is script data (onMetaData and the like). */
export type FrameKind = 'video' | 'audio' | 'data';

/**
 * One coded frame, or one codec configuration (a sequence header), or one script-data message.
 *
 * `payload` is what the codec defines, whatever the ingest protocol: H.264/HEVC access units as
 * length-prefixed (AVCC) NAL units, AV1 temporal units as low-overhead OBUs, a VP9 or VP8
 * frame, a raw AAC or Opus packet, an MP3 frame; for a sequence header the configuration record
 * (the track's `config`); for `data` an AMF0 onMetaData. FLV and RTMP outputs need the FLV tag body: RTMP and
 * FLV ingest hand theirs over (`flvBody`, so pass-through stays zero-copy); for any other ingest
 * flvBodyOf() builds it once, on first use, and keeps it here.
 */
export interface Frame {
  readonly kind: FrameKind;
  /**
   * The track this frame belongs to; for a sequence header, the track it announces. Absent for
   * script data, and for frames that came before their track's configuration.
   */
  readonly track?: Track | undefined;
  /** Ticks per second of `dts` and `pts` (1000 for RTMP, 90000 for MPEG-TS and RTP video). */
  readonly timescale: number;
  /** Decode time in ticks on the stream's timeline (re-based by the hub, never wraps). */
  readonly dts: number;
  /** Presentation time in ticks; `pts - dts` is the composition offset. dts for audio and data. */
  readonly pts: number;
  /** A video frame that starts a GOP (decodable on its own). False for audio and data. */
  readonly keyframe: boolean;
  /** A codec configuration frame (AVC/HEVC/AV1 sequence start, AAC AudioSpecificConfig). */
  readonly sequenceHeader: boolean;
  /** The codec payload (see above). Shared, never copied or mutated; may be empty. */
  readonly payload: Buffer;
  /** The FLV tag body: as received, or made by flvBodyOf(). Set at most once, then shared. */
  flvBody?: Buffer | undefined;
}

/** One message from a publisher, before the hub re-bases its times and names its track. */
export interface FrameInput {
  readonly kind: FrameKind;
  /** Ticks per second of `dts` and `pts`. */
  readonly timescale: number;
  /** The publisher's decode time in ticks, unwrapped (monotonic across 32-bit RTMP wraps). */
  readonly dts: number;
  readonly pts: number;
  readonly keyframe: boolean;
  readonly payload: Buffer;
  /** The FLV tag body as received (RTMP, FLV); absent for other ingests. */
  readonly flvBody?: Buffer | undefined;
  /** Set on sequence headers: the track this header defines. */
  readonly track?: Track | undefined;
}

/** Milliseconds of `ticks` at `timescale` (not rounded). */
export function ticksToMs(ticks: number, timescale: number): number {
  return timescale === 1000 ? ticks : (ticks * 1000) / timescale;
}

/** `ticks` at `from` ticks per second as a whole number of ticks at `to`. */
export function rescale(ticks: number, from: number, to: number): number {
  return from === to ? ticks : Math.round((ticks * to) / from);
}

/** The frame's decode time in milliseconds (not rounded). */
export function dtsMsOf(frame: Frame): number {
  return ticksToMs(frame.dts, frame.timescale);
}

/** The frame's composition offset (`pts - dts`) in milliseconds (not rounded). */
export function ctsMsOf(frame: Frame): number {
  return ticksToMs(frame.pts - frame.dts, frame.timescale);
}
