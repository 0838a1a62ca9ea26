// Frames -> MPEG-TS packets for HLS in its compatible profile (RFC 8216 3.2; ISO/IEC 13818-1).
// H.264/HEVC go out as Annex B access units with an AUD, AAC as ADTS (ISO/IEC 14496-3 1.A.2).

import { parseAudioSpecificConfig } from '../codecs/aac.ts';
import { CodecError } from '../codecs/codec-error.ts';
import { parseHevcDecoderConfig } from '../codecs/codec-config.ts';
import { parseAvcDecoderConfig } from '../codecs/h264.ts';
import { DEFAULT_PMT_PID, NO_PCR_PID, encodePat, encodePes, encodePmt } from '../codecs/mpegts.ts';
import type { PmtStream } from '../codecs/mpegts.ts';
import type { Frame } from './frame.ts';
import type { AudioTrack, Track, VideoTrack } from './track.ts';

/** PID of the video elementary stream. */
export const VIDEO_PID = 0x100;
/** PID of the audio elementary stream. */
export const AUDIO_PID = 0x101;
/**
 * Added to every PTS and DTS (90 kHz ticks, = 1 s): a stream re-based to start at 0 ms, with
 * small negative audio timestamps or a B-frame delay, never needs a negative or wrapped value
 * near the start. The PCR is the DTS minus this offset, so decoders get 1 s to fill buffers.
 */
export const TIMESTAMP_OFFSET_90K = 90_000;

/** stream_type values (ISO/IEC 13818-1 table 2-34). */
const StreamType = { H264: 0x1b, Hevc: 0x24, AacAdts: 0x0f, Mpeg1Audio: 0x03, Mpeg2Audio: 0x04 };
const STREAM_ID_VIDEO = 0xe0;
const STREAM_ID_AUDIO = 0xc0;
const TICKS_PER_MS = 90;
const START_CODE = Buffer.from([0, 0, 0, 1]);
const EMPTY = Buffer.alloc(0);
const ADTS_HEADER_BYTES = 7;
/** aac_frame_length is 13 bits and counts the header. */
const MAX_ADTS_FRAME_BYTES = 0x1fff;
/** PES_packet_length (16 bits) minus the 8 header bytes after it; 0 ("unbounded") is video-only. */
const MAX_AUDIO_PES_DATA_BYTES = 0xffff - 8;
/** Lowest MPEG-1 audio sample rate; below it the frames are MPEG-2 (ISO/IEC 13818-3). */
const MPEG1_MIN_SAMPLE_RATE = 32000;

/** How one video codec marks its NAL units (H.264 7.4.1.2.3, H.265 7.4.2.2). */
interface NalSyntax {
  readonly type: (firstByte: number) => number;
  /** The access unit delimiter, with its start code. */
  readonly aud: Buffer;
  readonly audType: number;
  /** The NAL type whose presence means the frame carries its own parameter sets. */
  readonly spsType: number;
  readonly isKeyframe: (type: number) => boolean;
}

const H264_SYNTAX: NalSyntax = {
  type: (b) => b & 0x1f,
  aud: Buffer.from([0, 0, 0, 1, 0x09, 0xf0]), // primary_pic_type 7 (any slice)
  audType: 9,
  spsType: 7,
  isKeyframe: (t) => t === 5,
};

const HEVC_SYNTAX: NalSyntax = {
  type: (b) => (b >>> 1) & 0x3f,
  aud: Buffer.from([0, 0, 0, 1, 0x46, 0x01, 0x50]), // type 35, TemporalId 0, pic_type 2
  audType: 35,
  spsType: 33,
  isKeyframe: (t) => t >= 16 && t <= 23, // IRAP
};

/** What the muxer needs to turn the video track's frames into Annex B. */
interface VideoPlan {
  readonly streamType: number;
  readonly syntax: NalSyntax;
  readonly lengthSize: number;
  /** Parameter sets to put before a keyframe that has none, in decoding order. */
  readonly parameterSets: readonly Buffer[];
}

/** What the muxer needs for the audio track's frames. */
type AudioPlan =
  | { readonly codec: 'aac'; readonly adtsFixed: Buffer }
  | { readonly codec: 'mp3'; readonly streamType: number };

/** Reads the hvcC arrays (ISO/IEC 14496-15 8.3.3.1.2): VPS, SPS and PPS in that order. */
function hevcParameterSets(hvcC: Buffer): { lengthSize: number; sets: Buffer[] } {
  parseHevcDecoderConfig(hvcC); // length and configurationVersion
  const fail = (at: number): CodecError =>
    new CodecError('ERR_HEVC_CONFIG', 'Cannot parse HEVC parameter set arrays: truncated', at);
  const lengthSize = ((hvcC[21] ?? 0) & 0x03) + 1;
  const byType = new Map<number, Buffer[]>([
    [32, []],
    [33, []],
    [34, []],
  ]);
  let at = 23;
  for (let array = 0; array < (hvcC[22] ?? 0); array++) {
    if (at + 3 > hvcC.length) throw fail(at);
    const list = byType.get((hvcC[at] ?? 0) & 0x3f);
    const count = hvcC.readUInt16BE(at + 1);
    at += 3;
    for (let i = 0; i < count; i++) {
      if (at + 2 > hvcC.length) throw fail(at);
      const length = hvcC.readUInt16BE(at);
      if (at + 2 + length > hvcC.length) throw fail(at);
      if (length > 0) list?.push(hvcC.subarray(at + 2, at + 2 + length));
      at += 2 + length;
    }
  }
  return { lengthSize, sets: [...byType.values()].flat() };
}

/** The video plan for a track, or undefined for codecs HLS carries only in fMP4 (AV1, VP9). */
function videoPlan(track: VideoTrack): VideoPlan | undefined {
  switch (track.codec) {
    case 'h264': {
      const avc = parseAvcDecoderConfig(track.config);
      return {
        streamType: StreamType.H264,
        syntax: H264_SYNTAX,
        lengthSize: avc.lengthSize,
        parameterSets: [...avc.sps, ...avc.pps],
      };
    }
    case 'hevc': {
      const hevc = hevcParameterSets(track.config);
      return {
        streamType: StreamType.Hevc,
        syntax: HEVC_SYNTAX,
        lengthSize: hevc.lengthSize,
        parameterSets: hevc.sets,
      };
    }
    case 'av1':
    case 'vp9':
      return undefined;
  }
}

/**
 * The audio plan for a track, or undefined when TS cannot carry it: Opus, and AAC that ADTS
 * cannot describe (object types other than Main/LC/SSR/LTP and SBR/PS over them, an explicit
 * sample rate, channelConfiguration above 7).
 */
function audioPlan(track: AudioTrack): AudioPlan | undefined {
  switch (track.codec) {
    case 'aac': {
      const asc = parseAudioSpecificConfig(track.config);
      // SBR/PS (5, 29): ADTS carries the LC core at the core rate; decoders find SBR implicitly.
      const core = asc.objectType === 5 || asc.objectType === 29 ? 2 : asc.objectType;
      if (core < 1 || core > 4 || asc.frequencyIndex > 12) return undefined;
      const channelConfig = ((track.config[1] ?? 0) >>> 3) & 0x0f; // bits 9..12 (no escapes here)
      if (channelConfig > 7) return undefined;
      const adtsFixed = Buffer.from([
        0xff,
        0xf1, // syncword, MPEG-4, layer 0, protection_absent
        ((core - 1) << 6) | (asc.frequencyIndex << 2) | (channelConfig >>> 2),
        (channelConfig & 0x03) << 6,
      ]);
      return { codec: 'aac', adtsFixed };
    }
    case 'mp3': {
      const mpeg2 = track.sampleRate !== undefined && track.sampleRate < MPEG1_MIN_SAMPLE_RATE;
      return { codec: 'mp3', streamType: mpeg2 ? StreamType.Mpeg2Audio : StreamType.Mpeg1Audio };
    }
    case 'opus':
      return undefined;
  }
}

/** Reads a big-endian NAL unit length of 1-4 bytes. */
function readLength(buf: Buffer, at: number, size: number): number {
  return buf.readUIntBE(at, size);
}

/**
 * AVCC/HVCC (length-prefixed NAL units) to one Annex B access unit: an AUD first (any AUD in
 * the frame is dropped), the track's parameter sets before a keyframe that carries none, then
 * every NAL unit with a 4-byte start code. A truncated trailing NAL unit is dropped; a frame
 * with no complete NAL unit gives an empty Buffer. `keyframe` is also true when an IDR/IRAP NAL
 * unit is present. Two passes, one allocation.
 */
function toAnnexB(
  payload: Buffer,
  plan: VideoPlan,
  keyframe: boolean,
): { accessUnit: Buffer; keyframe: boolean } {
  const { syntax, lengthSize } = plan;
  let size = syntax.aud.length;
  let nals = 0;
  let hasSps = false;
  let isKey = keyframe;
  let end = 0;
  for (let at = 0; at + lengthSize <= payload.length;) {
    const length = readLength(payload, at, lengthSize);
    if (at + lengthSize + length > payload.length) break;
    at += lengthSize;
    end = at + length;
    if (length > 0) {
      const type = syntax.type(payload[at] ?? 0);
      if (type !== syntax.audType) {
        nals += 1;
        size += START_CODE.length + length;
        hasSps ||= type === syntax.spsType;
        isKey ||= syntax.isKeyframe(type);
      }
    }
    at = end;
  }
  if (nals === 0) return { accessUnit: EMPTY, keyframe: isKey };
  const insert = isKey && !hasSps ? plan.parameterSets : [];
  for (const set of insert) size += START_CODE.length + set.length;
  const out = Buffer.allocUnsafe(size);
  let w = syntax.aud.copy(out, 0);
  for (const set of insert) {
    w += START_CODE.copy(out, w);
    w += set.copy(out, w);
  }
  for (let at = 0; at < end;) {
    const length = readLength(payload, at, lengthSize);
    at += lengthSize;
    if (length > 0 && syntax.type(payload[at] ?? 0) !== syntax.audType) {
      w += START_CODE.copy(out, w);
      w += payload.copy(out, w, at, at + length);
    }
    at += length;
  }
  return { accessUnit: out, keyframe: isKey };
}

/** Prepends a 7-byte ADTS header (no CRC) to one raw AAC access unit. */
function toAdts(payload: Buffer, adtsFixed: Buffer): Buffer {
  const frameLength = ADTS_HEADER_BYTES + payload.length;
  if (frameLength > MAX_ADTS_FRAME_BYTES) return EMPTY;
  const out = Buffer.allocUnsafe(frameLength);
  adtsFixed.copy(out, 0);
  out[3] = (adtsFixed[3] ?? 0) | (frameLength >>> 11);
  out[4] = (frameLength >>> 3) & 0xff;
  out[5] = ((frameLength & 0x07) << 5) | 0x1f; // adts_buffer_fullness 0x7FF: variable rate
  out[6] = 0xfc; // rest of the fullness, number_of_raw_data_blocks_in_frame 0
  payload.copy(out, ADTS_HEADER_BYTES);
  return out;
}

/**
 * One stream's MPEG-TS muxer: video on PID 0x100 (H.264 0x1b, HEVC 0x24), audio on PID 0x101
 * (AAC in ADTS 0x0f, MP3 0x03/0x04), PMT on PID 0x1000. The PCR rides on the first packet of
 * every video PES, or of every audio PES when no video is carried. AV1, VP9 and Opus are not
 * carried (HLS uses fMP4 for them). Continuity counters run on across segments: the caller cuts
 * segments and calls {@link TsMuxer.segmentHeader} at the start of each.
 *
 * Throws `CodecError` (`ERR_H264_CONFIG`, `ERR_HEVC_CONFIG`, `ERR_AAC_CONFIG`) from the
 * constructor when a carried track's configuration record cannot be parsed.
 */
export class TsMuxer {
  readonly #video: VideoPlan | undefined;
  readonly #audio: AudioPlan | undefined;
  readonly #streams: readonly PmtStream[];
  readonly #pcrPid: number;
  #patCc = 0;
  #pmtCc = 0;
  #videoCc = 0;
  #audioCc = 0;

  constructor(tracks: readonly Track[]) {
    const video = tracks.find((t): t is VideoTrack => t.kind === 'video');
    const audio = tracks.find((t): t is AudioTrack => t.kind === 'audio');
    this.#video = video === undefined ? undefined : videoPlan(video);
    this.#audio = audio === undefined ? undefined : audioPlan(audio);
    const streams: PmtStream[] = [];
    if (this.#video) streams.push({ streamType: this.#video.streamType, pid: VIDEO_PID });
    if (this.#audio) {
      const streamType = this.#audio.codec === 'aac' ? StreamType.AacAdts : this.#audio.streamType;
      streams.push({ streamType, pid: AUDIO_PID });
    }
    this.#streams = streams;
    this.#pcrPid = this.#video ? VIDEO_PID : this.#audio ? AUDIO_PID : NO_PCR_PID;
  }

  /** PAT + PMT (two TS packets): the start of every segment (RFC 8216 3.2). */
  segmentHeader(): Buffer {
    const pat = encodePat(DEFAULT_PMT_PID, this.#patCc);
    const pmt = encodePmt({ pcrPid: this.#pcrPid, streams: this.#streams }, this.#pmtCc);
    this.#patCc = (this.#patCc + 1) & 0x0f;
    this.#pmtCc = (this.#pmtCc + 1) & 0x0f;
    return Buffer.concat([pat, pmt], pat.length + pmt.length);
  }

  /**
   * One frame as TS packets (a whole PES). An empty Buffer for frames it cannot carry: script
   * data, sequence headers, frames with no payload, frames of tracks not carried, video with no
   * complete NAL unit, AAC frames too long for ADTS, audio frames too long for one PES packet.
   */
  encodeFrame(frame: Frame): Buffer {
    if (frame.sequenceHeader || frame.payloadOffset >= frame.body.length) return EMPTY;
    const payload = frame.body.subarray(frame.payloadOffset);
    if (frame.kind === 'video') return this.#encodeVideo(frame, payload);
    if (frame.kind === 'audio') return this.#encodeAudio(frame, payload);
    return EMPTY;
  }

  #encodeVideo(frame: Frame, payload: Buffer): Buffer {
    if (!this.#video) return EMPTY;
    const { accessUnit, keyframe } = toAnnexB(payload, this.#video, frame.keyframe);
    if (accessUnit.length === 0) return EMPTY;
    const ptsTicks = (frame.dtsMs + frame.ctsMs) * TICKS_PER_MS + TIMESTAMP_OFFSET_90K;
    // A negative composition offset would put PTS before DTS; keep the PTS, lower the DTS.
    const dtsTicks = Math.min(frame.dtsMs * TICKS_PER_MS + TIMESTAMP_OFFSET_90K, ptsTicks);
    const { packets, cc } = encodePes({
      pid: VIDEO_PID,
      streamId: STREAM_ID_VIDEO,
      ptsTicks,
      dtsTicks,
      payload: accessUnit,
      pcrTicks: dtsTicks - TIMESTAMP_OFFSET_90K,
      randomAccess: keyframe,
      cc: this.#videoCc,
    });
    this.#videoCc = cc;
    return packets;
  }

  #encodeAudio(frame: Frame, payload: Buffer): Buffer {
    const plan = this.#audio;
    if (!plan) return EMPTY;
    const data = plan.codec === 'aac' ? toAdts(payload, plan.adtsFixed) : payload;
    if (data.length === 0 || data.length > MAX_AUDIO_PES_DATA_BYTES) return EMPTY;
    const ptsTicks = frame.dtsMs * TICKS_PER_MS + TIMESTAMP_OFFSET_90K;
    const carriesPcr = this.#pcrPid === AUDIO_PID;
    const { packets, cc } = encodePes({
      pid: AUDIO_PID,
      streamId: STREAM_ID_AUDIO,
      ptsTicks,
      payload: data,
      ...(carriesPcr ? { pcrTicks: ptsTicks - TIMESTAMP_OFFSET_90K } : {}),
      randomAccess: carriesPcr,
      cc: this.#audioCc,
    });
    this.#audioCc = cc;
    return packets;
  }
}
