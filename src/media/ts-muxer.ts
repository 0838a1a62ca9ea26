// Frames -> MPEG-TS packets for HLS in its compatible profile (RFC 8216 3.2; ISO/IEC 13818-1).
// H.264/HEVC go out as Annex B access units with an AUD, AAC as ADTS (ISO/IEC 14496-3 1.A.2).

import { adtsFixedHeaderOf, toAdts } from '../codecs/aac.ts';
import { nalFormatOf, toAnnexB, type NalFormat } from '../codecs/annex-b.ts';
import { DEFAULT_PMT_PID, NO_PCR_PID, encodePat, encodePes, encodePmt } from '../codecs/mpegts.ts';
import type { PmtStream } from '../codecs/mpegts.ts';
import { rescale, type Frame } from './frame.ts';
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
/** MPEG-TS times are 90 kHz ticks. */
const TS_TIMESCALE = 90_000;
const EMPTY = Buffer.alloc(0);
/** PES_packet_length (16 bits) minus the 8 header bytes after it; 0 ("unbounded") is video-only. */
const MAX_AUDIO_PES_DATA_BYTES = 0xffff - 8;
/** Lowest MPEG-1 audio sample rate; below it the frames are MPEG-2 (ISO/IEC 13818-3). */
const MPEG1_MIN_SAMPLE_RATE = 32000;

/** What the muxer needs to turn the video track's frames into Annex B. */
interface VideoPlan extends NalFormat {
  readonly streamType: number;
}

/** What the muxer needs for the audio track's frames. */
type AudioPlan =
  | { readonly codec: 'aac'; readonly adtsFixed: Buffer }
  | { readonly codec: 'mp3'; readonly streamType: number };

/** The video plan for a track, or undefined for codecs TS cannot carry (AV1, VP8, VP9). */
function videoPlan(track: VideoTrack): VideoPlan | undefined {
  switch (track.codec) {
    case 'h264':
      return { streamType: StreamType.H264, ...nalFormatOf('h264', track.config) };
    case 'hevc':
      return { streamType: StreamType.Hevc, ...nalFormatOf('hevc', track.config) };
    case 'av1':
    case 'vp9':
    case 'vp8':
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
      const adtsFixed = adtsFixedHeaderOf(track.config);
      return adtsFixed === undefined ? undefined : { codec: 'aac', adtsFixed };
    }
    case 'mp3': {
      const mpeg2 = track.sampleRate !== undefined && track.sampleRate < MPEG1_MIN_SAMPLE_RATE;
      return { codec: 'mp3', streamType: mpeg2 ? StreamType.Mpeg2Audio : StreamType.Mpeg1Audio };
    }
    case 'opus':
      return undefined;
  }
}

/**
 * One stream's MPEG-TS muxer: video on PID 0x100 (H.264 0x1b, HEVC 0x24), audio on PID 0x101
 * (AAC in ADTS 0x0f, MP3 0x03/0x04), PMT on PID 0x1000. The PCR rides on the first packet of
 * every video PES, or of every audio PES when no video is carried. AV1, VP9, VP8 and Opus are not
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
    const { payload } = frame;
    if (frame.sequenceHeader || payload.length === 0) return EMPTY;
    if (frame.kind === 'video') return this.#encodeVideo(frame, payload);
    if (frame.kind === 'audio') return this.#encodeAudio(frame, payload);
    return EMPTY;
  }

  #encodeVideo(frame: Frame, payload: Buffer): Buffer {
    if (!this.#video) return EMPTY;
    const { accessUnit, keyframe } = toAnnexB(payload, this.#video, frame.keyframe);
    if (accessUnit.length === 0) return EMPTY;
    const ptsTicks = rescale(frame.pts, frame.timescale, TS_TIMESCALE) + TIMESTAMP_OFFSET_90K;
    // A negative composition offset would put PTS before DTS; keep the PTS, lower the DTS.
    const dtsTicks = Math.min(
      rescale(frame.dts, frame.timescale, TS_TIMESCALE) + TIMESTAMP_OFFSET_90K,
      ptsTicks,
    );
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
    const ptsTicks = rescale(frame.dts, frame.timescale, TS_TIMESCALE) + TIMESTAMP_OFFSET_90K;
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
