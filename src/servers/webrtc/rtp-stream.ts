// One stream's RTP for its WebRTC viewers: each H.264 frame is packetized once (RFC 6184; a VP8
// frame, from WHIP or enhanced RTMP, RFC 7741; one set of packets for every viewer) and each Opus frame made
// one packet (AAC first becomes Opus through one ffmpeg per stream, while viewers watch), with
// the stream's SSRCs and sequence numbers, and the same Buffers go to every
// viewer (libdatachannel copies and encrypts per peer). A viewer starts on a keyframe; one that
// cannot take a frame (its send buffer full) is skipped to the next keyframe, as ViewerQueue does.
//
// Loss recovery (docs/webrtc.md#loss-recovery): each viewer's video has its own gapless sequence
// numbers (written into the shared packet's header just before it is handed over), so a skip is
// no loss to its receiver; the stream's last packets stay in one bounded ring, and a viewer's
// NACK is answered from it within a per-viewer byte budget. PLI and FIR never reach the
// publisher: the viewer is sent no frame it cannot decode until the stream's next keyframe.
import type { LossRecoveryCounts } from '../../metrics/metrics.ts';
import { randomInt } from 'node:crypto';
import { nalFormatOf, type NalFormat } from '../../codecs/annex-b.ts';
import { parseAvcDecoderConfig } from '../../codecs/h264.ts';
import { encodeRtp } from '../../codecs/rtp.ts';
import { parseRtcpFeedback } from '../../codecs/rtcp.ts';
import {
  PacketRing,
  RateMeter,
  TokenBucket,
  ViewerSeqMap,
} from '../../protocols/webrtc/rtx-ring.ts';
import { h264RtpPayloads, nalUnitsOfAvcc } from '../../codecs/rtp-h264.ts';
import { vp8RtpPayloads } from '../../codecs/rtp-vp8.ts';
import type { CloseReason, Subscriber } from '../../hub/subscriber.ts';
import { rescale, type Frame } from '../../media/frame.ts';
import type { AudioTrack, Track } from '../../media/track.ts';

/** RTP payload bytes per packet: under a 1280-byte path MTU with SRTP and IP/UDP headers. */
export const MAX_RTP_PAYLOAD_BYTES = 1160;
const VIDEO_CLOCK = 90_000;
const OPUS_CLOCK = 48_000;
/** The stream's video packets kept for retransmission: at most this many, and RING_BYTES. */
const RING_PACKETS = 4096;
const RING_BYTES = 4 * 1024 * 1024;
/** A NACK for a packet sent longer ago than this is not answered (the viewer gave up on it). */
const RETRANSMIT_MAX_AGE_MS = 1000;
/** Retransmits a viewer may take: this share of the stream's video rate, at least the floor. */
const RETRANSMIT_SHARE = 0.5;
const RETRANSMIT_FLOOR_BYTES_PER_S = 64 * 1024;
/** Retransmits answered for one RTCP packet, whatever it asks. */
const MAX_RETRANSMITS_PER_FEEDBACK = 256;

export type { LossRecoveryCounts };

/** A LossRecoveryCounts of zeros. */
export function noLossRecovery(): LossRecoveryCounts {
  return {
    nackedPackets: 0,
    retransmittedPackets: 0,
    retransmittedBytes: 0,
    unavailablePackets: 0,
    overBudgetPackets: 0,
    pli: 0,
    fir: 0,
    malformedRtcp: 0,
  };
}

/** Adds `from` into `into`. */
export function addLossRecovery(into: LossRecoveryCounts, from: LossRecoveryCounts): void {
  for (const key of Object.keys(into) as (keyof LossRecoveryCounts)[]) into[key] += from[key];
}

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
  /** Its video is in step: false until a keyframe (after a join, a skip, a PLI). */
  started: boolean;
  /** It was sent a first keyframe: its audio flows from then on. */
  begun: boolean;
  dropped: number;
  /** The viewer's video sequence numbers (gapless over what it was sent). */
  readonly seq: ViewerSeqMap;
  readonly budget: TokenBucket;
  readonly recovery: LossRecoveryCounts;
}

/** What WebRTC can send of a stream's tracks: H.264 or VP8 video, Opus audio. */
export interface RtpTracks {
  readonly h264: { readonly format: NalFormat; readonly profileIdc: number } | null;
  /** The video is VP8 (sent as it is, RFC 7741). */
  readonly vp8: boolean;
  readonly opus: boolean;
  /** An AAC audio track (WebRTC carries it once transcoded to Opus). */
  readonly aac: AudioTrack | null;
  /** A video track that is neither H.264 nor VP8 (WebRTC viewers get no picture). */
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
  const vp8 = video?.codec === 'vp8';
  return {
    h264,
    vp8,
    opus: audio?.codec === 'opus',
    aac: audio?.codec === 'aac' ? audio : null,
    otherVideo: video !== undefined && video.codec !== 'h264' && !vp8 ? video.codec : null,
  };
}

/** See the file comment. */
export class RtpStreamOutput implements Subscriber {
  readonly videoSsrc = randomInt(1, 2 ** 31);
  readonly audioSsrc = randomInt(1, 2 ** 31);
  readonly #viewers = new Map<RtpViewer, ViewerState>();
  #tracks: RtpTracks = { h264: null, vp8: false, opus: false, aac: null, otherVideo: null };
  /** The 15-bit PictureID of the next VP8 frame. */
  #pictureId = randomInt(0, 0x8000);
  #videoSeq = randomInt(0, 0x10000);
  #audioSeq = randomInt(0, 0x10000);
  /** The last video packets sent, by stream sequence number, for NACKs. */
  readonly #ring = new PacketRing({ maxPackets: RING_PACKETS, maxBytes: RING_BYTES });
  readonly #videoRate = new RateMeter(performance.now());
  /** The stream's video has B-frames: its non-reference frames are not sent (see #video). */
  #bFrames = false;
  #droppedNonReference = 0;
  /** Loss recovery of viewers that left (theirs are added when they go). */
  readonly #pastRecovery = noLossRecovery();
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

  /** Non-reference frames of a B-frame stream not sent to its WebRTC viewers. */
  get droppedNonReferenceFrames(): number {
    return this.#droppedNonReference;
  }

  /** Frames skipped for `viewer` because its transport was full. */
  droppedFrames(viewer: RtpViewer): number {
    return this.#viewers.get(viewer)?.dropped ?? 0;
  }

  /** Loss recovery of `viewer` (zeros for one not here). */
  lossRecovery(viewer: RtpViewer): LossRecoveryCounts {
    return this.#viewers.get(viewer)?.recovery ?? noLossRecovery();
  }

  /** Loss recovery of every viewer this output has had. */
  totalLossRecovery(): LossRecoveryCounts {
    const total = { ...this.#pastRecovery };
    for (const state of this.#viewers.values()) addLossRecovery(total, state.recovery);
    return total;
  }

  add(viewer: RtpViewer): void {
    this.#viewers.set(viewer, {
      started: false,
      begun: false,
      dropped: 0,
      seq: new ViewerSeqMap(randomInt(0, 0x10000)),
      budget: new TokenBucket(RETRANSMIT_FLOOR_BYTES_PER_S, performance.now()),
      recovery: noLossRecovery(),
    });
  }

  remove(viewer: RtpViewer): void {
    const state = this.#viewers.get(viewer);
    if (state !== undefined) addLossRecovery(this.#pastRecovery, state.recovery);
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
        vp8: false,
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
    // New tracks (a republish): everyone starts again on a keyframe; old packets go.
    this.#ring.clear();
    this.#bFrames = false;
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
    for (const state of this.#viewers.values()) addLossRecovery(this.#pastRecovery, state.recovery);
    this.#viewers.clear();
    this.#idle();
  }

  #video(frame: Frame): void {
    const payloads = this.#videoPayloads(frame);
    if (payloads.length === 0) return;
    const timestamp = rescale(frame.pts, frame.timescale, VIDEO_CLOCK) >>> 0;
    const firstSeq = this.#videoSeq;
    this.#videoSeq = (this.#videoSeq + payloads.length) & 0xffff;
    // One set of packets for every viewer: each send writes the viewer's payload type and
    // sequence number into the header first (libdatachannel copies the packet synchronously).
    const nowMs = performance.now();
    const packets = payloads.map((payload, i) => {
      const packet = encodeRtp(
        {
          marker: i === payloads.length - 1,
          payloadType: 0,
          sequenceNumber: (firstSeq + i) & 0xffff,
          timestamp,
          ssrc: this.videoSsrc,
        },
        payload,
      );
      this.#ring.push((firstSeq + i) & 0xffff, packet, nowMs);
      this.#videoRate.add(packet.length, nowMs);
      return packet;
    });
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
      state.begun = true;
      for (let i = 0; i < packets.length; i++) {
        const packet = packets[i] as Buffer;
        stampFor(packet, payloadType, state.seq.seqFor((firstSeq + i) & 0xffff));
        if (viewer.sendVideo(packet)) {
          state.seq.sent();
          continue;
        }
        state.started = false; // a frame with a hole: wait for the next keyframe
        state.dropped += 1;
        break;
      }
    }
  }

  /** The RTP payloads of a video frame: H.264 (RFC 6184) or VP8 (RFC 7741); none to send. */
  #videoPayloads(frame: Frame): Buffer[] {
    if (this.#tracks.vp8) {
      const pictureId = this.#pictureId;
      this.#pictureId = (pictureId + 1) & 0x7fff;
      return vp8RtpPayloads(frame.payload, MAX_RTP_PAYLOAD_BYTES, pictureId);
    }
    const h264 = this.#tracks.h264;
    if (h264 === null) return [];
    const units = nalUnitsOfAvcc(frame.payload, h264.format.lengthSize);
    // WebRTC decoders expect frames in presentation order: with B-frames, the ones nothing
    // refers to (nal_ref_idc 0) are left out, so what is sent is in order but for B-pyramids.
    if (frame.pts !== frame.dts) this.#bFrames = true;
    if (this.#bFrames && !frame.keyframe && isNonReference(units)) {
      this.#droppedNonReference += 1;
      return [];
    }
    return h264RtpPayloads(units, h264.format.parameterSets, frame.keyframe, MAX_RTP_PAYLOAD_BYTES);
  }

  /**
   * RTCP `viewer` sent about its video (its NACKs, PLIs and FIRs; the rest is skipped):
   * NACKed packets still held go again within the viewer's budget; a keyframe request makes
   * the viewer wait for the stream's next keyframe.
   */
  feedback(viewer: RtpViewer, rtcp: Buffer): void {
    const state = this.#viewers.get(viewer);
    const payloadType = viewer.videoPayloadType;
    if (state === undefined || payloadType === null) return;
    const feedback = parseRtcpFeedback(rtcp);
    const { recovery } = state;
    if (feedback === null) {
      recovery.malformedRtcp += 1;
      return;
    }
    const nowMs = performance.now();
    let answered = 0;
    for (const nack of feedback.nacks) {
      if (nack.mediaSsrc !== this.videoSsrc) continue;
      for (const viewerSeq of nack.sequenceNumbers) {
        recovery.nackedPackets += 1;
        const streamSeq = state.seq.streamSeqOf(viewerSeq);
        const packet =
          streamSeq === null || answered >= MAX_RETRANSMITS_PER_FEEDBACK
            ? null
            : this.#ring.get(streamSeq, nowMs, RETRANSMIT_MAX_AGE_MS);
        if (packet === null) {
          recovery.unavailablePackets += 1;
          continue;
        }
        const rate = Math.max(
          RETRANSMIT_FLOOR_BYTES_PER_S,
          this.#videoRate.bytesPerS * RETRANSMIT_SHARE,
        );
        if (!state.budget.take(packet.length, nowMs, rate, rate)) {
          recovery.overBudgetPackets += 1;
          continue;
        }
        answered += 1;
        stampFor(packet, payloadType, viewerSeq);
        if (!viewer.sendVideo(packet)) break; // its transport is full: nothing more now
        recovery.retransmittedPackets += 1;
        recovery.retransmittedBytes += packet.length;
      }
    }
    const pli = feedback.pli.filter((ssrc) => ssrc === this.videoSsrc).length;
    const fir = feedback.fir.filter((ssrc) => ssrc === this.videoSsrc).length;
    recovery.pli += pli;
    recovery.fir += fir;
    if (pli + fir > 0) state.started = false;
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
      if (!videoless && !state.begun) continue;
      if (!viewer.writable) continue;
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

/** Writes the viewer's payload type (keeping the marker bit) and sequence number into `packet`. */
function stampFor(packet: Buffer, payloadType: number, sequenceNumber: number): void {
  packet[1] = ((packet[1] ?? 0) & 0x80) | payloadType;
  packet.writeUInt16BE(sequenceNumber, 2);
}

/** True when every slice of the frame has nal_ref_idc 0 (no other frame refers to it). */
export function isNonReference(units: readonly Buffer[]): boolean {
  let slices = 0;
  for (const unit of units) {
    const header = unit[0] ?? 0;
    const type = header & 0x1f;
    if (type !== 1 && type !== 5) continue; // slices only (SEI, AUD... say nothing)
    if ((header & 0x60) !== 0) return false;
    slices++;
  }
  return slices > 0;
}
