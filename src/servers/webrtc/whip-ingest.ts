// RTP from one WHIP publisher to hub frames: each track's packets go through a bounded reorder
// buffer (NACKs for the missing video ones), H.264 payloads become access units (RFC 6184,
// codecs/rtp-h264.ts) written as AVCC frames with a sequence header whenever SPS/PPS change, AV1
// payloads become temporal units (codecs/rtp-av1.ts) written as low-overhead OBUs, with an av1C
// sequence header whenever a keyframe's sequence header OBU changes (the frames an enhanced-RTMP
// AV1 publisher's would be), VP8 payloads become frames (RFC 7741, codecs/rtp-vp8.ts) with a
// vpcC sequence header made from the keyframe's picture size whenever it changes, and Opus
// packets are written as they are. Both tracks are put on one timeline by the arrival time
// of their first packet. After a loss, video waits for the next keyframe and asks for it (PLI);
// a keyframe is also asked for every WHIP_KEYFRAME_INTERVAL_MS, browsers sending none unasked.
import { randomInt } from 'node:crypto';
import {
  buildAvcDecoderConfig,
  h264LevelName,
  h264ProfileName,
  parseSps,
} from '../../codecs/h264.ts';
import {
  ReceptionStats,
  encodeNack,
  encodePli,
  encodeReceiverReport,
  parseSenderReport,
} from '../../codecs/rtcp.ts';
import { parseRtp, type RtpPacket } from '../../codecs/rtp.ts';
import { H264Depacketizer, avccOf, type H264AccessUnit } from '../../codecs/rtp-h264.ts';
import { Av1Depacketizer, type Av1TemporalUnit } from '../../codecs/rtp-av1.ts';
import { buildAv1CodecConfig, type Av1SequenceHeader } from '../../codecs/av1.ts';
import { av1LevelName, av1ProfileName } from '../../codecs/codec-config.ts';
import { Vp8Depacketizer, buildVp8CodecConfig, type Vp8Frame } from '../../codecs/rtp-vp8.ts';
import type { FrameInput } from '../../media/frame.ts';
import type { AudioTrack, VideoTrack } from '../../media/track.ts';
import { RtpReorderBuffer } from '../../protocols/webrtc/rtp-reorder.ts';

/** Video packets wait this long for a missing one (NACKs go out meanwhile). */
const VIDEO_REORDER = { maxPackets: 256, maxDelayMs: 150, maxNacks: 3, nackIntervalMs: 40 };
/** Audio is not retransmitted (no NACK for Opus): a short wait for reordering only. */
const AUDIO_REORDER = { maxPackets: 25, maxDelayMs: 60, maxNacks: 0, nackIntervalMs: 0 };
/** A 4K keyframe from a browser is well under this. */
const MAX_ACCESS_UNIT_BYTES = 4 * 1024 * 1024;
const MAX_UNITS_PER_ACCESS_UNIT = 256;
/** OBUs per AV1 temporal unit (a frame of many tile groups, a few temporal layers' headers). */
const MAX_OBUS_PER_TEMPORAL_UNIT = 256;
/** RTP packets per VP8 frame (4 MiB in ~1200-byte packets is ~3500). */
const MAX_PACKETS_PER_VP8_FRAME = 4096;
/** Receiver reports (each track's loss and jitter: the publisher's rate control reads them). */
const REPORT_INTERVAL_MS = 1000;
/** PLIs are sent at most this often while a keyframe is awaited. */
const PLI_INTERVAL_MS = 500;
/**
 * A keyframe is asked for (PLI) when the last one is this old: browsers send one only at the
 * start and when asked, and HLS segments and the GOP cache need them (2 s: the `balanced`
 * profile's segment; a shorter interval costs picture quality at WebRTC bitrates).
 */
export const WHIP_KEYFRAME_INTERVAL_MS = 2000;
const NAL_SPS = 7;
const NAL_PPS = 8;
/** AUD, SEI-free: what is left out of frames (the parameter sets live in the sequence header). */
const LEFT_OUT = new Set([7, 8, 9, 12]);
/** An SPS or PPS larger than this is garbage. */
const MAX_PARAMETER_SET_BYTES = 1024;

/** What one ingest writes to and sends back through. */
export interface WhipIngestOptions {
  readonly videoPayloadType: number;
  /** The video's codec (parseWhipOffer's choice); H.264 when not given. */
  readonly videoCodec?: 'h264' | 'av1' | 'vp8';
  readonly audioPayloadType: number | null;
  /** The hub publication's write. */
  readonly write: (frame: FrameInput) => void;
  /** RTCP feedback to the publisher (NACK and PLI on the video track). */
  readonly sendRtcp: (kind: 'video' | 'audio', packet: Buffer) => void;
  /** A frame or packet dropped, with the reason (for the debug log). */
  readonly onDrop?: (reason: string) => void;
  readonly now?: () => number;
}

/** 32-bit RTP timestamps unwrapped onto one increasing line. */
class TimestampLine {
  #last: number | null = null;
  #extended = 0;

  unwrap(timestamp: number): number {
    if (this.#last === null) {
      this.#last = timestamp;
      this.#extended = timestamp;
      return timestamp;
    }
    let step = (timestamp - this.#last) % 2 ** 32;
    if (step >= 2 ** 31) step -= 2 ** 32;
    else if (step < -(2 ** 31)) step += 2 ** 32;
    this.#last = timestamp;
    this.#extended += step;
    return this.#extended;
  }
}

interface Timeline {
  readonly line: TimestampLine;
  /** The unwrapped RTP timestamp that is `offset` on the shared timeline. */
  readonly base: number;
  readonly offset: number;
  last: number;
}

/** What the H.264, AV1 and VP8 depacketizers have in common. */
interface VideoDepacketizer<U> {
  push(payload: Buffer, timestamp: number, marker: boolean): U[];
  lost(): void;
  takeDrops(): readonly string[];
}

/** See the file comment. */
export class WhipIngest {
  readonly #options: WhipIngestOptions;
  readonly #now: () => number;
  readonly #senderSsrc = randomInt(1, 2 ** 32 - 1);
  readonly #video = new RtpReorderBuffer<RtpPacket>(VIDEO_REORDER);
  readonly #audio = new RtpReorderBuffer<RtpPacket>(AUDIO_REORDER);
  readonly #depacketizer = new H264Depacketizer({
    maxAccessUnitBytes: MAX_ACCESS_UNIT_BYTES,
    maxUnits: MAX_UNITS_PER_ACCESS_UNIT,
  });
  readonly #av1: Av1Depacketizer | null;
  readonly #vp8: Vp8Depacketizer | null;
  #videoSsrc: number | null = null;
  #audioSsrc: number | null = null;
  /** Wall-clock ms of the first packet of either track: 0 on the shared timeline. */
  #startMs: number | null = null;
  #videoTime: Timeline | null = null;
  #audioTime: Timeline | null = null;
  #sps: Buffer | null = null;
  #pps: Buffer | null = null;
  #videoConfig: Buffer | null = null;
  /** The picture size of the last VP8 sequence header (its vpcC does not say it). */
  #vp8Size: { width: number; height: number } | null = null;
  #audioAnnounced = false;
  #awaitingKeyframe = true;
  #lastPliMs = -Infinity;
  #lastKeyframeMs = -Infinity;
  readonly #videoStats = new ReceptionStats(90_000);
  readonly #audioStats = new ReceptionStats(48_000);
  #lastReportMs = -Infinity;
  /** Packets given up as lost, and frames dropped (for the session's droppedFrames). */
  packetsLost = 0;
  framesDropped = 0;
  lastPacketMs: number;

  constructor(options: WhipIngestOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.lastPacketMs = this.#now();
    this.#av1 =
      options.videoCodec === 'av1'
        ? new Av1Depacketizer({
            maxTemporalUnitBytes: MAX_ACCESS_UNIT_BYTES,
            maxObus: MAX_OBUS_PER_TEMPORAL_UNIT,
          })
        : null;
    this.#vp8 =
      options.videoCodec === 'vp8'
        ? new Vp8Depacketizer({
            maxFrameBytes: MAX_ACCESS_UNIT_BYTES,
            maxPackets: MAX_PACKETS_PER_VP8_FRAME,
          })
        : null;
  }

  /** One RTP packet of the publisher's track of `kind` (never throws on bad input). */
  push(kind: 'video' | 'audio', raw: Buffer): void {
    const packet = parseRtp(raw);
    if (packet === null) {
      this.#options.onDrop?.('malformed-rtp');
      return;
    }
    const now = this.#now();
    if (kind === 'video') {
      if (packet.payloadType !== this.#options.videoPayloadType) return;
      this.#videoSsrc ??= packet.ssrc;
      if (packet.ssrc !== this.#videoSsrc) return; // one video SSRC (no simulcast, no RTX)
      this.lastPacketMs = now;
      this.#videoStats.packet(packet.sequenceNumber, packet.timestamp, now);
      this.#videoTime ??= this.#timeline(packet.timestamp, 90_000, now);
      this.#releaseVideo(this.#video.push(packet.sequenceNumber, packet, now));
    } else {
      if (packet.payloadType !== this.#options.audioPayloadType) return;
      this.#audioSsrc ??= packet.ssrc;
      if (packet.ssrc !== this.#audioSsrc) return;
      this.lastPacketMs = now;
      this.#audioStats.packet(packet.sequenceNumber, packet.timestamp, now);
      this.#audioTime ??= this.#timeline(packet.timestamp, 48_000, now);
      this.#releaseAudio(this.#audio.push(packet.sequenceNumber, packet, now));
    }
  }

  /** One RTCP packet of the publisher: its sender reports go into the receiver reports. */
  rtcp(kind: 'video' | 'audio', raw: Buffer): void {
    const sr = parseSenderReport(raw);
    if (sr === null) return;
    if (kind === 'video' && sr.ssrc === this.#videoSsrc) {
      this.#videoStats.senderReport(sr.ntpMiddle, this.#now());
    } else if (kind === 'audio' && sr.ssrc === this.#audioSsrc) {
      this.#audioStats.senderReport(sr.ntpMiddle, this.#now());
    }
  }

  /** Called every few tens of ms: gives up late packets, sends the RTCP due (RR, NACK, PLI). */
  tick(): void {
    const now = this.#now();
    this.#releaseVideo(this.#video.poll(now));
    this.#releaseAudio(this.#audio.poll(now));
    if (now - this.#lastReportMs >= REPORT_INTERVAL_MS) {
      this.#lastReportMs = now;
      this.#report('video', this.#videoStats, this.#videoSsrc, now);
      this.#report('audio', this.#audioStats, this.#audioSsrc, now);
    }
    if (this.#videoSsrc === null) return;
    const missing = this.#video.nacks(now);
    const nack = encodeNack(this.#senderSsrc, this.#videoSsrc, missing);
    if (nack !== null) this.#options.sendRtcp('video', nack);
    const due = this.#awaitingKeyframe || now - this.#lastKeyframeMs >= WHIP_KEYFRAME_INTERVAL_MS;
    if (due && now - this.#lastPliMs >= PLI_INTERVAL_MS) {
      this.#lastPliMs = now;
      this.#options.sendRtcp('video', encodePli(this.#senderSsrc, this.#videoSsrc));
    }
  }

  #report(kind: 'video' | 'audio', stats: ReceptionStats, ssrc: number | null, now: number): void {
    const block = ssrc === null ? null : stats.report(ssrc, now);
    if (block !== null) this.#options.sendRtcp(kind, encodeReceiverReport(this.#senderSsrc, block));
  }

  #timeline(timestamp: number, clock: number, now: number): Timeline {
    this.#startMs ??= now;
    const line = new TimestampLine();
    const base = line.unwrap(timestamp);
    const offset = Math.round(((now - this.#startMs) * clock) / 1000);
    return { line, base, offset, last: -Infinity };
  }

  /** The shared-timeline time of an RTP timestamp, or null when it goes backwards. */
  #ticks(timeline: Timeline, timestamp: number): number | null {
    const ticks = timeline.line.unwrap(timestamp) - timeline.base + timeline.offset;
    if (ticks < timeline.last) return null;
    timeline.last = ticks;
    return ticks;
  }

  #releaseVideo(outputs: ReturnType<RtpReorderBuffer<RtpPacket>['poll']>): void {
    if (this.#av1 !== null) this.#release(this.#av1, outputs, 'av1-', this.#onTemporalUnit);
    else if (this.#vp8 !== null) this.#release(this.#vp8, outputs, 'vp8-', this.#onVp8Frame);
    else this.#release(this.#depacketizer, outputs, '', this.#onAccessUnit);
  }

  readonly #onAccessUnit = (unit: H264AccessUnit): void => {
    this.#accessUnit(unit);
  };
  readonly #onTemporalUnit = (unit: Av1TemporalUnit): void => {
    this.#temporalUnit(unit);
  };
  readonly #onVp8Frame = (frame: Vp8Frame): void => {
    this.#vp8Frame(frame);
  };

  /**
   * Released packets through the codec's depacketizer: a loss, or a frame it dropped (its
   * reason prefixed by `dropPrefix` for AV1 and VP8), makes the picture wait for a keyframe.
   */
  #release<U>(
    depacketizer: VideoDepacketizer<U>,
    outputs: ReturnType<RtpReorderBuffer<RtpPacket>['poll']>,
    dropPrefix: string,
    onUnit: (unit: U) => void,
  ): void {
    for (const output of outputs) {
      if (output.type === 'lost') {
        this.packetsLost += output.count;
        depacketizer.lost();
        this.#keyframeNeeded('packet-lost');
        continue;
      }
      const { packet } = output;
      // Padding only (a bandwidth probe when no RTX is negotiated): no payload, no damage.
      if (packet.payload.length === 0) continue;
      const units = depacketizer.push(packet.payload, packet.timestamp, packet.marker);
      for (const drop of depacketizer.takeDrops()) {
        this.framesDropped++;
        this.#keyframeNeeded(`${dropPrefix}${drop}`);
      }
      for (const unit of units) onUnit(unit);
    }
  }

  #temporalUnit(unit: Av1TemporalUnit): void {
    const timeline = this.#videoTime;
    if (timeline === null) return;
    const ticks = this.#ticks(timeline, unit.timestamp);
    if (ticks === null) {
      this.#drop('timestamp-backwards');
      return;
    }
    if (unit.keyframe && unit.sequenceHeader !== null) {
      if (!this.#announceAv1(ticks, unit.sequenceHeader)) return;
    }
    if (this.#admitVideo(unit.keyframe)) this.#writeVideo(ticks, unit.keyframe, unit.data);
  }

  #vp8Frame(frame: Vp8Frame): void {
    const timeline = this.#videoTime;
    if (timeline === null) return;
    const ticks = this.#ticks(timeline, frame.timestamp);
    if (ticks === null) {
      this.#drop('timestamp-backwards');
      return;
    }
    if (frame.size !== null) this.#announceVp8(ticks, frame.size.width, frame.size.height);
    if (this.#admitVideo(frame.keyframe)) this.#writeVideo(ticks, frame.keyframe, frame.data);
  }

  /** Writes a vpcC sequence header (with the picture size) when the size is new. */
  #announceVp8(ticks: number, width: number, height: number): void {
    if (this.#vp8Size?.width === width && this.#vp8Size.height === height) return;
    this.#vp8Size = { width, height };
    const config = buildVp8CodecConfig(width, height);
    this.#writeVideoConfig(ticks, config, {
      kind: 'video',
      codec: 'vp8',
      config,
      profile: '0',
      level: ((config[1] ?? 0) / 10).toFixed(1),
      width,
      height,
    });
  }

  /** False (and a drop) until a decoder config and, after a loss, a keyframe have come. */
  #admitVideo(keyframe: boolean): boolean {
    if (this.#videoConfig === null || (this.#awaitingKeyframe && !keyframe)) {
      this.#drop('awaiting-keyframe');
      return false;
    }
    if (keyframe) {
      this.#awaitingKeyframe = false;
      this.#lastKeyframeMs = this.#now();
    }
    return true;
  }

  #writeVideo(ticks: number, keyframe: boolean, payload: Buffer): void {
    this.#options.write({
      kind: 'video',
      timescale: 90_000,
      dts: ticks,
      pts: ticks,
      keyframe,
      payload,
    });
  }

  /** Writes `config` as the video sequence header, with its track, and makes it the current one. */
  #writeVideoConfig(ticks: number, config: Buffer, track: VideoTrack): void {
    this.#videoConfig = config;
    this.#options.write({
      kind: 'video',
      timescale: 90_000,
      dts: ticks,
      pts: ticks,
      keyframe: false,
      payload: config,
      track,
    });
  }

  /** Writes an av1C sequence header when the sequence header OBU is new; false when unreadable. */
  #announceAv1(ticks: number, sequenceHeaderObu: Buffer): boolean {
    let config: Buffer;
    let header: Av1SequenceHeader;
    try {
      ({ config, header } = buildAv1CodecConfig(sequenceHeaderObu));
    } catch {
      this.#drop('bad-av1-sequence-header');
      return false;
    }
    if (this.#videoConfig?.equals(config) === true) return true;
    this.#writeVideoConfig(ticks, config, {
      kind: 'video',
      codec: 'av1',
      config,
      profile: av1ProfileName(header.seqProfile),
      level: av1LevelName(header.seqLevelIdx0),
      width: header.widthPx,
      height: header.heightPx,
    });
    return true;
  }

  #keyframeNeeded(reason: string): void {
    this.#options.onDrop?.(reason);
    this.#awaitingKeyframe = true;
  }

  #accessUnit(unit: H264AccessUnit): void {
    const timeline = this.#videoTime;
    if (timeline === null) return;
    for (const nal of unit.units) {
      const type = (nal[0] ?? 0) & 0x1f;
      if (nal.length > MAX_PARAMETER_SET_BYTES) continue;
      if (type === NAL_SPS) this.#sps = Buffer.from(nal);
      else if (type === NAL_PPS) this.#pps = Buffer.from(nal);
    }
    const ticks = this.#ticks(timeline, unit.timestamp);
    if (ticks === null) {
      this.#drop('timestamp-backwards');
      return;
    }
    if (unit.keyframe && !this.#announceVideo(ticks)) return;
    if (!this.#admitVideo(unit.keyframe)) return;
    const media = unit.units.filter((nal) => !LEFT_OUT.has((nal[0] ?? 0) & 0x1f));
    if (media.length > 0) this.#writeVideo(ticks, unit.keyframe, avccOf(media));
  }

  /** Writes a sequence header when the parameter sets are new; false when there are none. */
  #announceVideo(ticks: number): boolean {
    if (this.#sps === null || this.#pps === null) {
      this.#drop('keyframe-without-sps-pps');
      return false;
    }
    let config: Buffer;
    let track: VideoTrack;
    try {
      config = buildAvcDecoderConfig(this.#sps, [this.#pps]);
      if (this.#videoConfig?.equals(config) === true) return true;
      const sps = parseSps(this.#sps);
      track = {
        kind: 'video',
        codec: 'h264',
        config,
        profile: h264ProfileName(sps.profileIdc),
        level: h264LevelName(sps.levelIdc),
        width: sps.width,
        height: sps.height,
      };
    } catch {
      this.#sps = null;
      this.#drop('bad-sps');
      return false;
    }
    this.#writeVideoConfig(ticks, config, track);
    return true;
  }

  #releaseAudio(outputs: ReturnType<RtpReorderBuffer<RtpPacket>['poll']>): void {
    const timeline = this.#audioTime;
    if (timeline === null) return;
    for (const output of outputs) {
      if (output.type === 'lost') {
        this.packetsLost += output.count;
        continue;
      }
      const { packet } = output;
      const ticks = this.#ticks(timeline, packet.timestamp);
      // Audio waits for the picture: a stream whose video header came late would start as
      // audio-only in the hub.
      if (ticks === null || packet.payload.length === 0 || this.#videoConfig === null) continue;
      if (!this.#audioAnnounced) {
        this.#audioAnnounced = true;
        const track: AudioTrack = {
          kind: 'audio',
          codec: 'opus',
          config: OPUS_HEAD,
          sampleRate: 48_000,
          channels: 2,
        };
        this.#options.write({
          kind: 'audio',
          timescale: 48_000,
          dts: ticks,
          pts: ticks,
          keyframe: false,
          payload: OPUS_HEAD,
          track,
        });
      }
      this.#options.write({
        kind: 'audio',
        timescale: 48_000,
        dts: ticks,
        pts: ticks,
        keyframe: false,
        payload: packet.payload,
      });
    }
  }

  #drop(reason: string): void {
    this.framesDropped++;
    this.#options.onDrop?.(reason);
  }
}

/**
 * The Opus identification header (RFC 7845 5.1) of a WebRTC Opus stream: 2 channels (the RTP
 * format is always opus/48000/2, RFC 7587; mono packets decode to both), no pre-skip known.
 */
const OPUS_HEAD = (() => {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head[8] = 1; // version
  head[9] = 2; // channels
  head.writeUInt16LE(0, 10); // pre-skip
  head.writeUInt32LE(48_000, 12); // input sample rate
  head.writeInt16LE(0, 16); // output gain
  head[18] = 0; // mapping family 0 (mono or stereo)
  return head;
})();
