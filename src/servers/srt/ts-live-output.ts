// The `mpegts` output for SRT viewers: a stream's frames as one continuous MPEG-TS (ISO/IEC
// 13818-1), encoded once per frame by a SharedOutput and sent as is to every viewer.
// PAT + PMT go before every video keyframe (a viewer starts at a GOP start, so the first bytes
// it gets tell it the program) or, with no video carried, before an audio frame every 500 ms.
// The TsMuxer is made again when a track's configuration changes; continuity counters are kept
// here, per PID, so they run on across those rebuilds.
import { TS_PACKET_SIZE } from '../../codecs/mpegts.ts';
import { dtsMsOf, type Frame } from '../../media/frame.ts';
import type { AudioTrack, Track, VideoTrack } from '../../media/track.ts';
import { TsMuxer } from '../../media/ts-muxer.ts';

/** TS packets in one SRT message (the payload size libsrt and ffmpeg use for live). */
export const TS_PACKETS_PER_SRT_MESSAGE = 7;
/** Bytes of one SRT message: 7 TS packets (fits a 1500-byte MTU with SRT, UDP and IP headers). */
export const SRT_MESSAGE_BYTES = 1316;
/** With no video carried, PAT + PMT go out before an audio frame at least this often. */
export const AUDIO_ONLY_HEADER_INTERVAL_MS = 500;

/** Whether `b` announces the same configuration as `a` (no new muxer needed). */
function sameTrack(a: Track | undefined, b: Track): boolean {
  if (a === b) return true;
  return (
    a !== undefined &&
    a.kind === b.kind &&
    a.codec === b.codec &&
    a.config.equals(b.config) &&
    (a.kind !== 'audio' || b.kind !== 'audio' || a.sampleRate === b.sampleRate)
  );
}

/** Whether a TsMuxer takes the track's configuration (its constructor throws on a bad one). */
function muxable(track: Track): boolean {
  try {
    new TsMuxer([track]);
    return true;
  } catch {
    return false;
  }
}

/**
 * A FrameEncoder (src/hub/shared-output.ts) for SRT playback: called once per frame, in order,
 * it returns the frame's TS packets (PAT + PMT first where a viewer may start), or null for
 * sequence headers, script data and frames that encode to nothing. A frame's `track` (on a
 * sequence header, or on a media frame whose header this encoder did not see) replaces the
 * track of its kind; a new configuration makes a new TsMuxer. Never throws on a bad
 * configuration: that track is left out.
 */
export function createTsLiveEncoder(): (frame: Frame) => Buffer | null {
  let video: VideoTrack | undefined;
  let audio: AudioTrack | undefined;
  let muxer: TsMuxer | undefined;
  let videoCarried = false;
  let needHeader = true;
  let lastHeaderMs = 0;
  /** The continuity_counter each PID's next packet with payload gets. */
  const nextCc = new Map<number, number>();

  const adopt = (track: Track): void => {
    if (sameTrack(track.kind === 'video' ? video : audio, track)) return;
    if (track.kind === 'video') video = track;
    else audio = track;
    const tracks = [video, audio].filter((t): t is Track => t !== undefined && muxable(t));
    muxer = new TsMuxer(tracks);
    videoCarried =
      video !== undefined &&
      (video.codec === 'h264' || video.codec === 'hevc') &&
      tracks.includes(video);
    needHeader = true;
  };

  /** Rewrites the continuity counters of `packets` (fresh buffers from the muxer) in place. */
  const renumber = (packets: Buffer): void => {
    for (let at = 0; at + TS_PACKET_SIZE <= packets.length; at += TS_PACKET_SIZE) {
      const pid = packets.readUInt16BE(at + 1) & 0x1fff;
      const flags = packets.readUInt8(at + 3);
      const cc = nextCc.get(pid) ?? 0;
      if ((flags & 0x10) !== 0) {
        packets[at + 3] = (flags & 0xf0) | cc;
        nextCc.set(pid, (cc + 1) & 0x0f);
      } else {
        // No payload: the counter does not advance (2.4.3.3).
        packets[at + 3] = (flags & 0xf0) | ((cc + 15) & 0x0f);
      }
    }
  };

  return (frame) => {
    if (frame.track !== undefined) adopt(frame.track);
    if (frame.sequenceHeader || frame.kind === 'data' || muxer === undefined) return null;
    const body = muxer.encodeFrame(frame);
    if (body.length === 0) return null;
    const ms = dtsMsOf(frame);
    const header =
      needHeader ||
      (frame.kind === 'video' && frame.keyframe) ||
      (!videoCarried &&
        frame.kind === 'audio' &&
        (ms - lastHeaderMs >= AUDIO_ONLY_HEADER_INTERVAL_MS || ms < lastHeaderMs));
    const out = header ? Buffer.concat([muxer.segmentHeader(), body]) : body;
    if (header) {
      needHeader = false;
      lastHeaderMs = ms;
    }
    renumber(out);
    return out;
  };
}
