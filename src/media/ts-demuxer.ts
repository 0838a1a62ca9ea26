// MPEG-TS -> Frames, for SRT ingest (ISO/IEC 13818-1): TS packets, PAT/PMT of the first
// program, PES reassembly, 33-bit PTS/DTS unwrapped. H.264/HEVC Annex B access units become
// length-prefixed NAL units with a sequence header from the in-band parameter sets; AAC in ADTS
// (ISO/IEC 14496-3 1.A.2) becomes raw AAC; Opus (as ffmpeg muxes it: stream
// type 0x06, registration descriptor 'Opus', control headers 0x7fe0) becomes raw Opus packets.
// Sans-I/O and hostile by default: every buffer is bounded, nothing is allocated from a length
// field before its bytes arrived, every dropped thing is counted by reason, nothing throws.
import { aacTrack } from './flv-tag-parser.ts';
import { hevcProfileName, parseHevcDecoderConfig } from '../codecs/codec-config.ts';
import { buildAvcDecoderConfig, h264LevelName, h264ProfileName, parseSps } from '../codecs/h264.ts';
import { buildHevcDecoderConfig, hevcSpsSize } from '../codecs/hevc.ts';
import {
  PAT_PID,
  TIMESTAMP_MODULUS,
  TS_PACKET_SIZE,
  TS_SYNC_BYTE,
  decodePat,
  decodePesHeader,
  decodePmt,
  decodeTsPacket,
  psiSectionBytes,
  codecOfPmtEntry,
  opusDescriptorsOf,
  type PmtEntry,
  type TsCodec,
} from '../codecs/mpegts.ts';
import { buildOpusHead, opusPacketDurationSamples } from '../codecs/opus.ts';
import { forEachNal } from '../codecs/annex-b.ts';
import { avccOf } from '../codecs/rtp-h264.ts';
import type { FrameInput } from './frame.ts';
import type { AudioTrack, VideoTrack } from './track.ts';

/** Elementary streams of the PMT looked at; the rest of a longer PMT is ignored (counted). */
export const MAX_TRACKED_PIDS = 16;
/**
 * Bytes one video PES may buffer (8 MiB): a contribution-grade 4K intra frame at 50+ Mbit/s
 * is a few MiB, so WHIP's 4 MiB would be tight; a PES past this is dropped (counted).
 */
export const MAX_VIDEO_PES_BYTES = 8 * 1024 * 1024;
/** Bytes one audio PES may buffer: PES_packet_length is 16 bits, audio PES always has one. */
export const MAX_AUDIO_PES_BYTES = 0x10000 + 6;
/** Media frames one push() returns at most; the rest are dropped (counted). */
export const MAX_FRAMES_PER_PUSH = 4096;
/** NAL units in one access unit (a 4K frame of many slices is well under this). */
const MAX_NALS_PER_ACCESS_UNIT = 1024;
/** An SPS, PPS or VPS larger than this is garbage. */
const MAX_PARAMETER_SET_BYTES = 1024;
/** A PSI section is at most 1024 bytes (section_length <= 1021, 2.4.4.3, 2.4.4.8). */
const MAX_PSI_SECTION_BYTES = 1024;
/**
 * A DTS this far (90 kHz ticks, 10 s) before the stream's last one is a discontinuity (an
 * encoder restart): the timeline is shifted so that it goes on from where it was.
 */
export const DISCONTINUITY_THRESHOLD_90K = 10 * 90_000;
const TS_TIMESCALE = 90_000;
const HALF_MODULUS = TIMESTAMP_MODULUS / 2;
const INITIAL_PES_CAPACITY = 4096;
/** A video PES buffer grown past this is let go after its PES instead of being reused. */
const KEEP_PES_CAPACITY = 1024 * 1024;
const AAC_SAMPLES_PER_FRAME = 1024;
const OPUS_RATE = 48_000;
/** Table 1.16 (ISO/IEC 14496-3): samplingFrequencyIndex -> Hz. */
const AAC_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/** Why something was dropped; each has a counter in {@link TsDemuxerStats.drops}. */
export type TsDropReason =
  /** A packet's adaptation_field_length runs past the packet (or its PCR does). */
  | 'adaptation-field-past-packet'
  /** transport_error_indicator set. */
  | 'transport-error'
  /** Scrambled payload (no descrambling here). */
  | 'scrambled'
  /** A continuity_counter gap: the PES in progress on that PID. */
  | 'continuity-gap'
  /** PSI section that is malformed, fails its CRC or is too long. */
  | 'bad-psi'
  /** PMT streams past {@link MAX_TRACKED_PIDS}. */
  | 'pid-cap'
  /** A second video or audio stream, or a stream type not carried (one of each is taken). */
  | 'stream-ignored'
  /** PES data before its first payload_unit_start_indicator. */
  | 'pes-without-start'
  /** A PES over its buffer cap. */
  | 'pes-too-large'
  /** A PES ended (next start, or continuity gap) before PES_packet_length bytes came. */
  | 'pes-length-mismatch'
  /** No PES start code, a PES header past the data, or no PTS. */
  | 'bad-pes-header'
  /** Video before the first usable SPS/PPS(/VPS). */
  | 'no-sequence-header'
  /** An SPS that does not parse, or parameter sets that make no configuration record. */
  | 'bad-parameter-set'
  /** Video frames after a loss or at the start, until a keyframe. */
  | 'awaiting-keyframe'
  /** An access unit with no media NAL unit, or too many. */
  | 'bad-access-unit'
  /** An ADTS frame with a bad syncword, length or configuration: the rest of that PES. */
  | 'bad-adts'
  /** A bad Opus control header or size: the rest of that PES. */
  | 'bad-opus'
  /** Opus with more than 2 channels (no channel mapping table is made). */
  | 'opus-channels'
  /** Frames past {@link MAX_FRAMES_PER_PUSH} in one push(). */
  | 'frame-cap';

const DROP_REASONS: readonly TsDropReason[] = [
  'adaptation-field-past-packet',
  'transport-error',
  'scrambled',
  'continuity-gap',
  'bad-psi',
  'pid-cap',
  'stream-ignored',
  'pes-without-start',
  'pes-too-large',
  'pes-length-mismatch',
  'bad-pes-header',
  'no-sequence-header',
  'bad-parameter-set',
  'awaiting-keyframe',
  'bad-access-unit',
  'bad-adts',
  'bad-opus',
  'opus-channels',
  'frame-cap',
];

/** What a {@link TsDemuxer} has seen and dropped. */
export interface TsDemuxerStats {
  /** 188-byte packets read. */
  packets: number;
  /** Times the sync byte was lost and found again. */
  resyncs: number;
  /** Bytes skipped while looking for sync. */
  bytesSkipped: number;
  /** Backwards DTS jumps treated as a discontinuity. */
  discontinuities: number;
  /** Media frames (not sequence headers) returned. */
  frames: number;
  readonly drops: Record<TsDropReason, number>;
}

/** One elementary stream being reassembled. */
interface EsState {
  readonly pid: number;
  readonly codec: TsCodec;
  readonly streamType: number;
  readonly kind: 'video' | 'audio';
  /** Opus channel count from the extension descriptor. */
  readonly opusChannels: number;
  readonly cap: number;
  buf: Buffer;
  length: number;
  /** A PES is being gathered (a start was seen and nothing broke it since). */
  open: boolean;
  /** PES_packet_length + 6, or 0 for "until the next start". */
  expected: number;
  lastCc: number;
  lastDts: number | undefined;
  // Video.
  sps: Buffer | undefined;
  pps: Buffer | undefined;
  vps: Buffer | undefined;
  setsChanged: boolean;
  config: Buffer | undefined;
  awaitingKeyframe: boolean;
  // Audio.
  audioConfig: Buffer | undefined;
}

/**
 * A streaming MPEG-TS demuxer: push() bytes split anywhere, get FrameInputs (timescale 90 kHz)
 * back. The first program of the PAT; its first H.264 (0x1b) or HEVC (0x24) stream and its
 * first AAC-in-ADTS (0x0f) or Opus (0x06 + 'Opus') stream; other PIDs are skipped without
 * state. A sequence header FrameInput (with `track`) comes before the first frame of a track
 * and whenever its configuration changes. Bounded: under 2 packets of carry-over, one PSI
 * section, and one PES per stream ({@link MAX_VIDEO_PES_BYTES}, {@link MAX_AUDIO_PES_BYTES}).
 */
export class TsDemuxer {
  readonly stats: TsDemuxerStats = {
    packets: 0,
    resyncs: 0,
    bytesSkipped: 0,
    discontinuities: 0,
    frames: 0,
    drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<TsDropReason, number>,
  };
  /** Bytes of an incomplete packet (or of a resync window) carried to the next push. */
  #pending: Buffer = Buffer.alloc(0);
  #inSync = true;
  #pmtPid: number | undefined;
  #lastPat: Buffer | undefined;
  #lastPmt: Buffer | undefined;
  /** One PSI section being gathered over packets. */
  #psi: { pid: number; buf: Buffer; length: number; need: number } | undefined;
  #video: EsState | undefined;
  #audio: EsState | undefined;
  /** The 33-bit unwrap reference shared by the program's streams (keeps A/V on one timeline). */
  #lastRaw: number | undefined;
  #lastUnwrapped = 0;
  /** Added to every unwrapped time after discontinuities. */
  #offset = 0;
  #out: FrameInput[] = [];
  #mediaOut = 0;

  /** Bytes held across pushes: carry-over, PSI and PES buffers (for tests and metrics). */
  get bufferedBytes(): number {
    return (
      this.#pending.length +
      (this.#psi?.length ?? 0) +
      (this.#video?.length ?? 0) +
      (this.#audio?.length ?? 0)
    );
  }

  /** Takes the next bytes; returns the frames they complete. Never throws. */
  push(chunk: Buffer): FrameInput[] {
    this.#out = [];
    this.#mediaOut = 0;
    const buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let at = 0;
    for (;;) {
      if (!this.#inSync) {
        const found = findSync(buf, at);
        this.stats.bytesSkipped += found.at - at;
        at = found.at;
        if (!found.synced) break;
        this.#inSync = true;
      }
      if (buf.length - at < TS_PACKET_SIZE) break;
      if (buf[at] !== TS_SYNC_BYTE) {
        this.#inSync = false;
        this.stats.resyncs += 1;
        continue;
      }
      this.#packet(buf.subarray(at, at + TS_PACKET_SIZE));
      at += TS_PACKET_SIZE;
    }
    // Keep what is left: a partial packet, or the bytes still to be searched for sync.
    const rest = buf.length - at;
    this.#pending = rest === 0 ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return this.#out;
  }

  /** Ends the stream: returns the frames of the PES in progress that has no length. */
  flush(): FrameInput[] {
    this.#out = [];
    this.#mediaOut = 0;
    for (const es of [this.#video, this.#audio]) {
      if (es?.open === true && es.expected === 0) this.#finishPes(es);
    }
    return this.#out;
  }

  #drop(reason: TsDropReason): void {
    this.stats.drops[reason] += 1;
  }

  #packet(bytes: Buffer): void {
    this.stats.packets += 1;
    const packet = decodeTsPacket(bytes);
    if (packet === undefined) {
      this.#drop('adaptation-field-past-packet');
      return;
    }
    if (packet.transportError) {
      this.#drop('transport-error');
      return;
    }
    const { pid } = packet;
    if (pid === PAT_PID || pid === this.#pmtPid) {
      if (packet.hasPayload) this.#psiPacket(pid, packet.payloadUnitStart, packet.payload);
      return;
    }
    const es =
      pid === this.#video?.pid ? this.#video : pid === this.#audio?.pid ? this.#audio : undefined;
    if (es === undefined || !packet.hasPayload) return;
    if (packet.scrambled) {
      this.#drop('scrambled');
      this.#breakPes(es);
      return;
    }
    const expectedCc = (es.lastCc + 1) & 0x0f;
    if (es.lastCc >= 0 && packet.cc !== expectedCc && !packet.discontinuity) {
      if (packet.cc === es.lastCc) return; // a duplicate packet (2.4.3.3): ignored
      es.lastCc = packet.cc;
      this.#drop('continuity-gap');
      this.#breakPes(es);
      if (es.kind === 'video') es.awaitingKeyframe = true;
      if (!packet.payloadUnitStart) return;
    }
    es.lastCc = packet.cc;
    if (packet.payloadUnitStart) {
      if (es.open) {
        if (es.expected === 0) this.#finishPes(es);
        else {
          this.#drop('pes-length-mismatch');
          es.length = 0;
        }
      }
      es.open = true;
      es.length = 0;
      es.expected = 0;
    } else if (!es.open) {
      this.#drop('pes-without-start');
      return;
    }
    this.#append(es, packet.payload);
    // A PES without a length ends at the next start, unless its last packet says so first: a
    // muxer stuffs the packet it has no more PES data for. Finishing the frame there, not a frame
    // interval later at the next start, is what keeps SRT ingest at its configured latency.
    if (packet.stuffed && es.expected === 0 && es.length > 0) this.#finishPes(es);
  }

  /** Drops the PES in progress on `es` (a gap or a broken packet; counted by the caller). */
  #breakPes(es: EsState): void {
    es.open = false;
    es.length = 0;
  }

  #append(es: EsState, data: Buffer): void {
    const needed = es.length + data.length;
    if (needed > es.cap) {
      this.#drop('pes-too-large');
      es.open = false;
      es.length = 0;
      return;
    }
    if (needed > es.buf.length) {
      let capacity = es.buf.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(Math.min(capacity, es.cap));
      es.buf.copy(grown, 0, 0, es.length);
      es.buf = grown;
    }
    data.copy(es.buf, es.length);
    es.length = needed;
    if (es.expected === 0 && es.length >= 6) {
      const pesLength = es.buf.readUInt16BE(4);
      if (pesLength !== 0) es.expected = 6 + pesLength;
    }
    if (es.expected !== 0 && es.length >= es.expected) {
      es.length = es.expected; // stuffing past PES_packet_length is not data
      this.#finishPes(es);
    }
  }

  /** A whole PES is in `es.buf`: parse its header and hand its data to the codec. */
  #finishPes(es: EsState): void {
    const pes = es.buf.subarray(0, es.length);
    es.open = false;
    es.length = 0;
    // Audio frames are views of the PES buffer: they keep it, so the next PES gets a new one.
    if (es.kind === 'audio') es.buf = Buffer.allocUnsafe(INITIAL_PES_CAPACITY);
    const header = decodePesHeader(pes);
    if (header?.ptsTicks === undefined) {
      this.#drop('bad-pes-header');
      return;
    }
    const dtsRaw = header.dtsTicks ?? header.ptsTicks;
    const dts = this.#time(es, dtsRaw);
    const pts = dts + signedDelta(header.ptsTicks, dtsRaw);
    const data = pes.subarray(header.payloadOffset);
    try {
      if (es.codec === 'h264' || es.codec === 'hevc') this.#videoAccessUnit(es, data, dts, pts);
      else if (es.codec === 'aac') this.#adts(es, data, pts);
      else this.#opus(es, data, pts);
    } catch {
      // The codec parsers throw CodecError on bad input; every path above catches its own,
      // this is the last net so that push() never throws.
      this.#drop('bad-access-unit');
    }
    if (es.kind === 'video' && es.buf.length > KEEP_PES_CAPACITY) {
      es.buf = Buffer.allocUnsafe(INITIAL_PES_CAPACITY);
    }
  }

  /** A 33-bit DTS on the program's unwrapped timeline, with discontinuities smoothed. */
  #time(es: EsState, raw: number): number {
    const unwrapped =
      this.#lastRaw === undefined ? raw : this.#lastUnwrapped + signedDelta(raw, this.#lastRaw);
    this.#lastRaw = raw;
    this.#lastUnwrapped = unwrapped;
    let t = unwrapped + this.#offset;
    if (es.lastDts !== undefined && t < es.lastDts - DISCONTINUITY_THRESHOLD_90K) {
      this.stats.discontinuities += 1;
      this.#offset += es.lastDts - t;
      t = es.lastDts;
    }
    es.lastDts = t;
    return t;
  }

  #emit(frame: FrameInput): void {
    if (frame.track === undefined) {
      if (this.#mediaOut >= MAX_FRAMES_PER_PUSH) {
        this.#drop('frame-cap');
        return;
      }
      this.#mediaOut += 1;
      this.stats.frames += 1;
    }
    this.#out.push(frame);
  }

  // ---- Video -------------------------------------------------------------------------------

  #videoAccessUnit(es: EsState, data: Buffer, dts: number, pts: number): void {
    const hevc = es.codec === 'hevc';
    const media: Buffer[] = [];
    const seen = { keyframe: false };
    let nals = 0;
    const complete = forEachNal(data, (nal) => {
      if (++nals > MAX_NALS_PER_ACCESS_UNIT) return false;
      const b0 = nal[0] ?? 0;
      const type = hevc ? (b0 >>> 1) & 0x3f : b0 & 0x1f;
      if (hevc ? type === 32 || type === 33 || type === 34 : type === 7 || type === 8) {
        this.#parameterSet(es, type, nal);
      } else if (hevc ? type !== 35 && type !== 38 : type !== 9 && type !== 12) {
        media.push(nal);
        seen.keyframe ||= hevc ? type >= 16 && type <= 23 : type === 5;
      }
      return true;
    });
    if (!complete) {
      this.#drop('bad-access-unit');
      return;
    }
    const { keyframe } = seen;
    if (es.setsChanged) this.#announceVideo(es, dts);
    if (media.length === 0) {
      this.#drop('bad-access-unit');
      return;
    }
    if (es.config === undefined) {
      this.#drop('no-sequence-header');
      return;
    }
    if (es.awaitingKeyframe && !keyframe) {
      this.#drop('awaiting-keyframe');
      return;
    }
    if (keyframe) es.awaitingKeyframe = false;
    this.#emit({
      kind: 'video',
      timescale: TS_TIMESCALE,
      dts,
      pts,
      keyframe,
      payload: avccOf(media),
    });
  }

  #parameterSet(es: EsState, type: number, nal: Buffer): void {
    if (nal.length > MAX_PARAMETER_SET_BYTES || nal.length < 2) {
      this.#drop('bad-parameter-set');
      return;
    }
    const slot =
      type === 7 || type === 33 ? 'sps' : type === 8 || type === 34 ? 'pps' : ('vps' as const);
    if (es[slot]?.equals(nal) === true) return;
    es[slot] = Buffer.from(nal); // kept across PES: a copy
    es.setsChanged = true;
  }

  /** Builds the configuration record from the parameter sets; emits it when it is new. */
  #announceVideo(es: EsState, dts: number): void {
    const { sps, pps, vps } = es;
    if (sps === undefined || pps === undefined || (es.codec === 'hevc' && vps === undefined)) {
      return;
    }
    es.setsChanged = false;
    let config: Buffer;
    let track: VideoTrack;
    try {
      if (es.codec === 'h264') {
        config = buildAvcDecoderConfig(sps, [pps]);
        if (es.config?.equals(config) === true) return;
        const info = parseSps(sps);
        track = {
          kind: 'video',
          codec: 'h264',
          config,
          profile: h264ProfileName(info.profileIdc),
          level: h264LevelName(info.levelIdc),
          width: info.width,
          height: info.height,
        };
      } else {
        config = buildHevcDecoderConfig(vps ?? Buffer.alloc(0), sps, pps);
        if (es.config?.equals(config) === true) return;
        const general = parseHevcDecoderConfig(config);
        const size = hevcSpsSize(config);
        track = {
          kind: 'video',
          codec: 'hevc',
          config,
          profile: hevcProfileName(general.profileIdc),
          level: general.levelIdc,
          width: size.widthPx,
          height: size.heightPx,
        };
      }
    } catch {
      this.#drop('bad-parameter-set');
      es.sps = undefined;
      return;
    }
    es.config = config;
    es.awaitingKeyframe = true;
    this.#emit({
      kind: 'video',
      timescale: TS_TIMESCALE,
      dts,
      pts: dts,
      keyframe: false,
      payload: config,
      track,
    });
  }

  // ---- Audio -------------------------------------------------------------------------------

  #adts(es: EsState, data: Buffer, pts: number): void {
    let at = 0;
    let samples = 0;
    while (at < data.length) {
      if (data.length - at < 7 || data[at] !== 0xff || ((data[at + 1] ?? 0) & 0xf6) !== 0xf0) {
        this.#drop('bad-adts');
        return;
      }
      const b2 = data[at + 2] ?? 0;
      const b3 = data[at + 3] ?? 0;
      const headerBytes = ((data[at + 1] ?? 0) & 0x01) === 1 ? 7 : 9;
      const length = ((b3 & 0x03) << 11) | ((data[at + 4] ?? 0) << 3) | ((data[at + 5] ?? 0) >>> 5);
      const blocks = ((data[at + 6] ?? 0) & 0x03) + 1;
      const objectType = (b2 >>> 6) + 1;
      const frequencyIndex = (b2 >>> 2) & 0x0f;
      const channelConfig = ((b2 & 0x01) << 2) | (b3 >>> 6);
      const rate = AAC_RATES[frequencyIndex];
      if (length <= headerBytes || at + length > data.length || rate === undefined || blocks > 1) {
        this.#drop('bad-adts');
        return;
      }
      const config = Buffer.from([
        (objectType << 3) | (frequencyIndex >>> 1),
        ((frequencyIndex & 1) << 7) | (channelConfig << 3),
      ]);
      if (es.audioConfig?.equals(config) !== true) {
        let track: AudioTrack;
        try {
          track = aacTrack(config);
        } catch {
          this.#drop('bad-adts');
          return;
        }
        es.audioConfig = config;
        this.#audioHeader(pts, config, track);
      }
      const t = pts + Math.round((samples * TS_TIMESCALE) / rate);
      this.#audioFrame(t, data.subarray(at + headerBytes, at + length));
      samples += AAC_SAMPLES_PER_FRAME;
      at += length;
    }
  }

  #opus(es: EsState, data: Buffer, pts: number): void {
    if (es.audioConfig === undefined) {
      if (es.opusChannels > 2) {
        this.#drop('opus-channels');
        return;
      }
      const head = buildOpusHead(es.opusChannels);
      es.audioConfig = head;
      this.#audioHeader(pts, head, {
        kind: 'audio',
        codec: 'opus',
        config: head,
        sampleRate: OPUS_RATE,
        channels: es.opusChannels,
      });
    }
    let at = 0;
    let samples = 0;
    while (at < data.length) {
      // opus_control_header (as ffmpeg writes it): 11 bits 0x3ff,
      // start_trim_flag, end_trim_flag, control_extension_flag, 2 reserved; au_size in 0xff runs.
      if (data.length - at < 3 || data[at] !== 0x7f || ((data[at + 1] ?? 0) & 0xe0) !== 0xe0) {
        this.#drop('bad-opus');
        return;
      }
      const flags = data[at + 1] ?? 0;
      at += 2;
      let size = 0;
      for (;;) {
        const b = data[at++];
        if (b === undefined) {
          this.#drop('bad-opus');
          return;
        }
        size += b;
        if (b !== 0xff) break;
      }
      if (flags & 0x10) at += 2; // start_trim
      if (flags & 0x08) at += 2; // end_trim
      if (flags & 0x04) at += 1 + (data[at] ?? 0); // control extension
      if (size === 0 || at + size > data.length) {
        this.#drop('bad-opus');
        return;
      }
      const packet = data.subarray(at, at + size);
      this.#audioFrame(pts + Math.round((samples * TS_TIMESCALE) / OPUS_RATE), packet);
      samples += opusPacketDurationSamples(packet);
      at += size;
    }
  }

  #audioHeader(pts: number, config: Buffer, track: AudioTrack): void {
    this.#emit({
      kind: 'audio',
      timescale: TS_TIMESCALE,
      dts: pts,
      pts,
      keyframe: false,
      payload: config,
      track,
    });
  }

  #audioFrame(t: number, payload: Buffer): void {
    this.#emit({
      kind: 'audio',
      timescale: TS_TIMESCALE,
      dts: t,
      pts: t,
      keyframe: false,
      payload,
    });
  }

  // ---- PSI ---------------------------------------------------------------------------------

  #psiPacket(pid: number, start: boolean, payload: Buffer): void {
    if (start) {
      const pointer = payload[0] ?? 0;
      const section = payload.subarray(1 + pointer);
      if (1 + pointer > payload.length) {
        this.#drop('bad-psi');
        this.#psi = undefined;
        return;
      }
      const need = psiSectionBytes(section);
      if (need !== undefined && need <= section.length) {
        this.#psi = undefined;
        this.#section(pid, section.subarray(0, need)); // the common case: no copy
        return;
      }
      if (need !== undefined && need > MAX_PSI_SECTION_BYTES) {
        this.#drop('bad-psi');
        this.#psi = undefined;
        return;
      }
      const buf = Buffer.allocUnsafe(MAX_PSI_SECTION_BYTES);
      this.#psi = { pid, buf, length: section.copy(buf), need: need ?? 0 };
      return;
    }
    const psi = this.#psi;
    if (psi?.pid !== pid) return;
    const take = Math.min(payload.length, MAX_PSI_SECTION_BYTES - psi.length);
    psi.length += payload.copy(psi.buf, psi.length, 0, take);
    if (psi.need === 0) psi.need = psiSectionBytes(psi.buf.subarray(0, psi.length)) ?? 0;
    if (psi.need > MAX_PSI_SECTION_BYTES) {
      this.#drop('bad-psi');
      this.#psi = undefined;
    } else if (psi.need !== 0 && psi.length >= psi.need) {
      this.#psi = undefined;
      this.#section(pid, psi.buf.subarray(0, psi.need));
    }
  }

  #section(pid: number, section: Buffer): void {
    if (pid === PAT_PID) {
      if (this.#lastPat?.equals(section) === true) return;
      const pat = decodePat(section);
      if (pat === undefined) {
        this.#drop('bad-psi');
        return;
      }
      this.#lastPat = Buffer.from(section);
      if (pat.pmtPid !== this.#pmtPid) {
        this.#pmtPid = pat.pmtPid === PAT_PID ? undefined : pat.pmtPid;
        this.#lastPmt = undefined;
      }
      return;
    }
    if (this.#lastPmt?.equals(section) === true) return;
    const pmt = decodePmt(section, MAX_TRACKED_PIDS);
    if (pmt === undefined) {
      this.#drop('bad-psi');
      return;
    }
    this.#lastPmt = Buffer.from(section);
    if (pmt.truncated) this.#drop('pid-cap');
    let video: PmtEntry | undefined;
    let audio: PmtEntry | undefined;
    for (const stream of pmt.streams) {
      const codec = codecOfPmtEntry(stream);
      const isVideo = codec === 'h264' || codec === 'hevc';
      if (
        codec === undefined ||
        stream.pid === PAT_PID ||
        stream.pid === this.#pmtPid ||
        (isVideo ? video : audio) !== undefined
      ) {
        this.#drop('stream-ignored');
      } else if (isVideo) video = stream;
      else audio = stream;
    }
    this.#video = keepOrMake(this.#video, video);
    this.#audio = keepOrMake(this.#audio, audio);
  }
}

/**
 * The first position from `at` where a sync byte repeats 188 bytes later (`synced`), or where
 * the search must go on once more bytes have come (at most 188 bytes before the end).
 */
function findSync(buf: Buffer, at: number): { at: number; synced: boolean } {
  let p = at;
  while (p + TS_PACKET_SIZE < buf.length) {
    const next = buf.indexOf(TS_SYNC_BYTE, p);
    if (next === -1) return { at: buf.length, synced: false };
    if (next + TS_PACKET_SIZE >= buf.length) return { at: next, synced: false };
    if (buf[next + TS_PACKET_SIZE] === TS_SYNC_BYTE) return { at: next, synced: true };
    p = next + 1;
  }
  return { at: p, synced: false };
}

/** `a - b` of two 33-bit timestamps as the shortest signed distance. */
function signedDelta(a: number, b: number): number {
  let d = (a - b) % TIMESTAMP_MODULUS;
  if (d >= HALF_MODULUS) d -= TIMESTAMP_MODULUS;
  else if (d < -HALF_MODULUS) d += TIMESTAMP_MODULUS;
  return d;
}

/** The stream state for `entry`: the current one when it is the same PID and type. */
function keepOrMake(
  current: EsState | undefined,
  entry: PmtEntry | undefined,
): EsState | undefined {
  if (entry === undefined) return undefined;
  if (current?.pid === entry.pid && current.streamType === entry.streamType) return current;
  const codec = codecOfPmtEntry(entry) ?? 'h264';
  const video = codec === 'h264' || codec === 'hevc';
  return {
    pid: entry.pid,
    codec,
    streamType: entry.streamType,
    kind: video ? 'video' : 'audio',
    opusChannels: codec === 'opus' ? opusDescriptorsOf(entry.descriptors).channels : 0,
    cap: video ? MAX_VIDEO_PES_BYTES : MAX_AUDIO_PES_BYTES,
    buf: Buffer.allocUnsafe(INITIAL_PES_CAPACITY),
    length: 0,
    open: false,
    expected: 0,
    lastCc: -1,
    lastDts: undefined,
    sps: undefined,
    pps: undefined,
    vps: undefined,
    setsChanged: false,
    config: undefined,
    awaitingKeyframe: true,
    audioConfig: undefined,
  };
}
