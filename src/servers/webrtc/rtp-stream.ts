// One stream's RTP for its WebRTC viewers: each H.264 frame is packetized once (RFC 6184, one
// set of packets per payload type the viewers negotiated, usually one) and each Opus frame made
// one packet (AAC first becomes Opus through one ffmpeg per stream, while viewers watch), with
// the stream's SSRCs and sequence numbers, and the same Buffers go to every
// viewer (libdatachannel encrypts per peer). A viewer starts on a keyframe; one that cannot take
// a frame (its send buffer full) is skipped to the next keyframe, as ViewerQueue does.
import { randomInt } from 'node:crypto';
import { nalFormatOf, type NalFormat } from '../../codecs/annex-b.ts';
import { parseAvcDecoderConfig } from '../../codecs/h264.ts';
import { encodeRtp } from '../../codecs/rtp.ts';
import { h264RtpPayloads, nalUnitsOfAvcc } from '../../codecs/rtp-h264.ts';
import type { CloseReason, Subscriber } from '../../hub/subscriber.ts';
import { rescale, type Frame } from '../../media/frame.ts';
import type { AudioTrack, Track } from '../../media/track.ts';

/** RTP payload bytes per packet: under a 1280-byte path MTU with SRTP and IP/UDP headers. */
export const MAX_RTP_PAYLOAD_BYTES = 1160;
const VIDEO_CLOCK = 90_000;
const OPUS_CLOCK = 48_000;

/** Turns a stream's AAC into Opus frames for WebRTC (one ffmpeg), while the output runs. */
export interface AudioToOpus {
  write(frame: Frame): void;
  close(): void;
}

/** Starts an AAC -> Opus transcoder for `track`, delivering to `onFrame`; null when it cannot. */
export type AudioToOpusFactory = (
  track: AudioTrack,
  onFrame: (frame: Frame) => void,
) => AudioToOpus | null;

/** A viewer as the stream output sees it. */
export interface RtpViewer {
  readonly videoPayloadType: number | null;
  readonly audioPayloadType: number | null;
  /** Connected: until then it gets nothing (and nothing counts as dropped). */
  readonly ready: boolean;
  /** False while its transport holds too much unsent: frames are skipped to the next keyframe. */
  readonly writable: boolean;
  /** Sends a packet; false when the transport could not take it (the frame is then skipped). */
  sendVideo(packet: Buffer): boolean;
  sendAudio(packet: Buffer): boolean;
  /** The stream ended or changed to something WebRTC cannot carry. */
  end(reason: CloseReason | 'unsupported-codec'): void;
}

interface ViewerState {
  started: boolean;
  dropped: number;
}

/** What WebRTC can send of a stream's tracks: H.264 video, Opus audio. */
export interface RtpTracks {
  readonly h264: { readonly format: NalFormat; readonly profileIdc: number } | null;
  readonly opus: boolean;
  /** An AAC audio track (WebRTC carries it once transcoded to Opus). */
  readonly aac: AudioTrack | null;
  /** A video track that is not H.264 (WebRTC viewers get no picture). */
  readonly otherVideo: string | null;
}

/** The parts of `tracks` WebRTC carries (throws CodecError for a bad H.264 record). */
export function rtpTracksOf(tracks: readonly Track[]): RtpTracks {
  const video = tracks.find((t) => t.kind === 'video');
  const audio = tracks.find((t) => t.kind === 'audio');
  const h264 =
    video?.codec === 'h264'
      ? {
          format: nalFormatOf('h264', video.config),
          profileIdc: parseAvcDecoderConfig(video.config).profileIdc,
        }
      : null;
  return {
    h264,
    opus: audio?.codec === 'opus',
    aac: audio?.codec === 'aac' ? audio : null,
    otherVideo: video !== undefined && video.codec !== 'h264' ? video.codec : null,
  };
}

/** See the file comment. */
export class RtpStreamOutput implements Subscriber {
  readonly videoSsrc = randomInt(1, 2 ** 31);
  readonly audioSsrc = randomInt(1, 2 ** 31);
  readonly #viewers = new Map<RtpViewer, ViewerState>();
  #tracks: RtpTracks = { h264: null, opus: false, aac: null, otherVideo: null };
  #videoSeq = randomInt(0, 0x10000);
  #audioSeq = randomInt(0, 0x10000);
  readonly #onIdle: () => void;
  readonly #toOpus: AudioToOpusFactory | null;
  #transcoder: AudioToOpus | null = null;

  /**
   * `onIdle` runs when the last viewer left or the stream ended (unsubscribe it there);
   * `toOpus`, when given, makes AAC audio reach viewers as Opus while this output runs.
   */
  constructor(onIdle: () => void, toOpus: AudioToOpusFactory | null = null) {
    this.#onIdle = onIdle;
    this.#toOpus = toOpus;
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /** Frames skipped for `viewer` because its transport was full. */
  droppedFrames(viewer: RtpViewer): number {
    return this.#viewers.get(viewer)?.dropped ?? 0;
  }

  add(viewer: RtpViewer): void {
    this.#viewers.set(viewer, { started: false, dropped: 0 });
  }

  remove(viewer: RtpViewer): void {
    this.#viewers.delete(viewer);
    if (this.#viewers.size === 0) this.#idle();
  }

  #idle(): void {
    this.#transcoder?.close();
    this.#transcoder = null;
    this.#onIdle();
  }

  onTracks(tracks: readonly Track[]): void {
    try {
      this.#tracks = rtpTracksOf(tracks);
    } catch {
      this.#tracks = {
        h264: null,
        opus: false,
        aac: null,
        otherVideo: 'h264 with a bad configuration',
      };
    }
    this.#transcoder?.close();
    this.#transcoder = null;
    const aac = this.#tracks.aac;
    if (aac !== null && this.#toOpus !== null) {
      this.#transcoder = this.#toOpus(aac, (opus) => {
        this.#audio(opus);
      });
    }
    if (this.#tracks.otherVideo !== null) {
      for (const viewer of [...this.#viewers.keys()]) viewer.end('unsupported-codec');
      return;
    }
    // New tracks (a republish): everyone starts again on a keyframe.
    for (const state of this.#viewers.values()) state.started = false;
  }

  onFrame(frame: Frame): void {
    if (frame.sequenceHeader || frame.payload.length === 0) return;
    if (frame.kind === 'video') this.#video(frame);
    else if (frame.kind === 'audio' && this.#tracks.opus) this.#audio(frame);
    else if (frame.kind === 'audio') this.#transcoder?.write(frame);
  }

  onClose(reason: CloseReason): void {
    for (const viewer of [...this.#viewers.keys()]) viewer.end(reason);
    this.#viewers.clear();
    this.#idle();
  }

  #video(frame: Frame): void {
    const h264 = this.#tracks.h264;
    if (h264 === null) return;
    const units = nalUnitsOfAvcc(frame.payload, h264.format.lengthSize);
    const payloads = h264RtpPayloads(
      units,
      h264.format.parameterSets,
      frame.keyframe,
      MAX_RTP_PAYLOAD_BYTES,
    );
    if (payloads.length === 0) return;
    const timestamp = rescale(frame.pts, frame.timescale, VIDEO_CLOCK) >>> 0;
    const firstSeq = this.#videoSeq;
    this.#videoSeq = (this.#videoSeq + payloads.length) & 0xffff;
    const byType = new Map<number, Buffer[]>();
    const packetsFor = (payloadType: number): Buffer[] => {
      let packets = byType.get(payloadType);
      if (packets === undefined) {
        packets = payloads.map((payload, i) =>
          encodeRtp(
            {
              marker: i === payloads.length - 1,
              payloadType,
              sequenceNumber: (firstSeq + i) & 0xffff,
              timestamp,
              ssrc: this.videoSsrc,
            },
            payload,
          ),
        );
        byType.set(payloadType, packets);
      }
      return packets;
    };
    for (const [viewer, state] of this.#viewers) {
      const payloadType = viewer.videoPayloadType;
      if (payloadType === null || !viewer.ready) continue;
      if (!state.started && !frame.keyframe) continue;
      if (!viewer.writable) {
        state.started = false;
        state.dropped += 1;
        continue;
      }
      state.started = true;
      for (const packet of packetsFor(payloadType)) {
        if (viewer.sendVideo(packet)) continue;
        state.started = false; // a frame with a hole: wait for the next keyframe
        state.dropped += 1;
        break;
      }
    }
  }

  #audio(frame: Frame): void {
    const timestamp = rescale(frame.pts, frame.timescale, OPUS_CLOCK) >>> 0;
    const sequenceNumber = this.#audioSeq;
    this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
    const byType = new Map<number, Buffer>();
    const videoless = this.#tracks.h264 === null;
    for (const [viewer, state] of this.#viewers) {
      const payloadType = viewer.audioPayloadType;
      if (payloadType === null || !viewer.ready) continue;
      // With video, audio starts with the picture; without, at once.
      if (!videoless && !state.started) continue;
      if (!viewer.writable) continue;
      state.started ||= videoless;
      let packet = byType.get(payloadType);
      if (packet === undefined) {
        packet = encodeRtp(
          { marker: false, payloadType, sequenceNumber, timestamp, ssrc: this.audioSsrc },
          frame.payload,
        );
        byType.set(payloadType, packet);
      }
      viewer.sendAudio(packet);
    }
  }
}
