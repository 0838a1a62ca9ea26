// Fragmenter: cuts one stream into segments on keyframes and LL-HLS parts on time, muxes each
// part once (fMP4 or MPEG-TS) and hands init segments, parts and segment boundaries to its
// sinks: the HLS window, the recorder, and later DVR and ABR renditions all see the same cuts
// and share the same bytes.
import { opusPacketDurationSamples } from '../codecs/opus.ts';
import { GRID_TOLERANCE_MS, type CutGrid, type GridSegment } from './cut-grid.ts';
import { ctsMsOf, dtsMsOf, rescale, type Frame } from './frame.ts';
import type { AudioTrack, Track } from './track.ts';
import {
  encodeFragment,
  encodeInitSegment,
  sampleData,
  timescaleOf,
  type Fmp4Sample,
} from './fmp4-muxer.ts';
import { TsMuxer } from './ts-muxer.ts';

/** Where cuts fall. */
export interface CutPolicy {
  /** Segments are cut on the first keyframe after this much media. */
  readonly segmentTargetS: number;
  /** Part target, or null for one part per segment (plain HLS). */
  readonly partTargetS: number | null;
  /** A segment with no keyframe is cut anyway at this length. */
  readonly maxSegmentS: number;
}

/** The container the parts are muxed into. */
export type FragmentContainer = 'fmp4' | 'mpegts';

/** A new set of tracks: every part after it belongs to this init version. */
export interface FragmentInit {
  readonly version: number;
  /** The tracks the container carries, video first (their order gives fMP4 track ids 1, 2). */
  readonly tracks: readonly Track[];
  /** All tracks the stream has, carried or not. */
  readonly streamTracks: readonly Track[];
  /** The fMP4 init segment; null for MPEG-TS (each segment starts with PAT/PMT). */
  readonly bytes: Buffer | null;
}

/** A segment begins. Its parts follow, then {@link FragmentSink.onSegmentEnd}. */
export interface SegmentStart {
  readonly msn: number;
  readonly startDtsMs: number;
  /** Presentation time of its first frame (what renditions line up on; see CutGrid). */
  readonly startPtsMs: number;
  /** Wall clock of the first frame (EXT-X-PROGRAM-DATE-TIME); see onClockResync. */
  readonly programDateTimeMs: number;
  /** A timeline break (new publisher, new codecs, a timestamp jump) comes before it. */
  readonly discontinuity: boolean;
  /** Whether it starts on a keyframe (false only for a forced cut at maxSegmentS). */
  readonly independent: boolean;
  readonly initVersion: number;
  /** Following a grid: the source's discontinuities up to this segment (GridSegment). */
  readonly sourceDiscontinuities?: number;
}

/** One part: a moof+mdat (fMP4) or a run of TS packets (the first part carries PAT/PMT). */
export interface FragmentPart {
  readonly msn: number;
  readonly index: number;
  readonly bytes: Buffer;
  readonly startDtsMs: number;
  /** Video frames in it (the playlist's FRAME-RATE is measured from these). */
  readonly videoFrames: number;
  readonly durationS: number;
  /** It starts with a keyframe (or is audio only). */
  readonly independent: boolean;
  /** The segment closes with this part: onSegmentEnd follows at once. */
  readonly last: boolean;
}

/** Receives what a fragmenter makes. Called synchronously: queue, never block. */
export interface FragmentSink {
  onInit(init: FragmentInit): void;
  onSegmentStart(segment: SegmentStart): void;
  onPart(part: FragmentPart): void;
  /** The segment `msn` is complete (it may have no part, when the stream stopped at once). */
  onSegmentEnd(msn: number): void;
  /**
   * The earliest presentation time in part `index` of segment `msn` so far: told when the part
   * begins and again when a later frame (a B-frame) is presented before it. For CutGrid.
   */
  onPartPts?(msn: number, index: number, ptsMs: number): void;
  /** The wall clock anchor moved: a segment's time is `wallMs + (startDtsMs - dtsMs)`. */
  onClockResync?(anchor: { readonly dtsMs: number; readonly wallMs: number }): void;
  /** The stream ended (after the last onSegmentEnd). */
  onEnd(reason: string): void;
}

/** Settings of a fragmenter. */
export interface FragmenterOptions {
  readonly container: FragmentContainer;
  readonly cut: CutPolicy;
  /** Wall clock in ms (Date.now), for program date times. */
  readonly now: () => number;
  /** A sink threw: it is removed (the other sinks and the stream go on); say why. */
  readonly onSinkError?: (error: unknown, sink: FragmentSink) => void;
  /**
   * The cuts of the stream this one was made from (an ABR rendition of it): segments and parts
   * are then cut where that stream's were, with its media sequence numbers and program date
   * times, instead of by `cut`. The source must not have frames the rendition lacks at its
   * segment starts (the ladder forces keyframes on the source's); audio alone (`carry`) is cut
   * within one audio frame of the source's cuts.
   */
  readonly follow?: CutGrid;
  /**
   * Only this kind of track is carried (the video-only variants and the audio rendition of a
   * multivariant playlist whose audio is apart); both by default.
   */
  readonly carry?: 'video' | 'audio';
}

/** Codecs each container carries. */
const CARRIED: Readonly<Record<FragmentContainer, ReadonlySet<string>>> = {
  fmp4: new Set(['h264', 'hevc', 'av1', 'vp8', 'aac', 'opus']),
  mpegts: new Set(['h264', 'hevc', 'aac', 'mp3']),
};

/** A timestamp step larger than this (or backwards) starts a new segment with a discontinuity. */
const MAX_TIMESTAMP_STEP_MS = 10_000;
/** Video (or, without video, audio) timestamps never step back more than this in a live stream. */
const MAX_DRIVER_STEP_BACK_MS = 500;
/** Audio base time is re-synced to the stream clock when it drifts this far. */
const MAX_AUDIO_DRIFT_MS = 200;
/** Samples per frame of codecs with a fixed frame size. */
const AAC_FRAME_SAMPLES = 1024;
const MP3_FRAME_SAMPLES = 1152;

/**
 * Cuts one stream. Video drives the cuts: a part closes when a video frame arrives a part
 * target after the part began, a segment when that frame is a keyframe and the segment is long
 * enough (or has run past the maximum). Audio-only streams are cut on time. A sink added while
 * a segment is in progress gets the init, that segment's start and its parts at once.
 */
export class Fragmenter {
  readonly #options: FragmenterOptions;
  readonly #sinks = new Set<FragmentSink>();
  #init: FragmentInit | null = null;
  #current: SegmentStart | null = null;
  /** Parts of the current segment, replayed to a sink that joins mid-segment. */
  #currentParts: FragmentPart[] = [];
  #nextMsn = 0;
  #initVersion = 0;
  #video: Track | null = null;
  #audio: AudioTrack | null = null;
  #pendingDiscontinuity = false;
  #ended = false;
  // Part being built (fMP4).
  #partVideo: Fmp4Sample[] = [];
  #partAudio: Fmp4Sample[] = [];
  #partVideoBaseTicks = 0;
  #partAudioBaseTicks = 0;
  #partStartDtsMs = 0;
  #partIndependent = false;
  #partVideoFrames = 0;
  /** The earliest presentation time of the part being built (B-frames lower it). */
  #partFirstPtsMs = Infinity;
  #partBytesTs: Buffer[] = [];
  #fragmentSequence = 1;
  #pendingVideo: Frame | null = null;
  /** Following a grid with audio alone, the frame not yet placed (see #followAudio). */
  #pendingAudio: Frame | null = null;
  #lastDtsMs: number | null = null;
  /** Timestamp of the last frame of the track that drives cuts (video, else audio). */
  #lastDriverDtsMs: number | null = null;
  #frameIntervalMs = 0;
  #audioTicks: number | null = null;
  #ts: TsMuxer | null = null;
  #anchor: { dtsMs: number; wallMs: number } | null = null;

  constructor(options: FragmenterOptions) {
    this.#options = options;
  }

  get container(): FragmentContainer {
    return this.#options.container;
  }

  get cut(): CutPolicy {
    return this.#options.cut;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get sinkCount(): number {
    return this.#sinks.size;
  }

  /** Adds a sink; one that joins mid-stream gets the init and the segment in progress now. */
  addSink(sink: FragmentSink): void {
    if (this.#sinks.has(sink)) return;
    this.#sinks.add(sink);
    if (this.#init) sink.onInit(this.#init);
    if (this.#current) {
      sink.onSegmentStart(this.#current);
      for (const part of this.#currentParts) sink.onPart(part);
    }
    if (this.#ended) sink.onEnd('stream-ended');
  }

  removeSink(sink: FragmentSink): void {
    this.#sinks.delete(sink);
  }

  onTracks(tracks: readonly Track[]): void {
    this.#closeSegment();
    // Tracks the container cannot carry are left out (TS: no AV1/VP8/Opus; fMP4 here no VP9/MP3).
    const carried = CARRIED[this.#options.container];
    const { carry } = this.#options;
    this.#video =
      carry === 'audio'
        ? null
        : (tracks.find((t) => t.kind === 'video' && carried.has(t.codec)) ?? null);
    this.#audio =
      carry === 'video'
        ? null
        : (tracks.find((t): t is AudioTrack => t.kind === 'audio' && carried.has(t.codec)) ?? null);
    const first = this.#initVersion === 0;
    this.#initVersion++;
    const carriedTracks = this.#carriedTracks();
    let bytes: Buffer | null = null;
    if (this.#options.container === 'fmp4') bytes = encodeInitSegment(carriedTracks);
    else this.#ts = new TsMuxer(carriedTracks);
    this.#init = {
      version: this.#initVersion,
      tracks: carriedTracks,
      streamTracks: tracks,
      bytes,
    };
    // A new publisher (or new codecs) continues after a discontinuity.
    if (!first) this.#pendingDiscontinuity = true;
    this.#resetTimeline();
    const init = this.#init;
    this.#emit((sink) => {
      sink.onInit(init);
    });
  }

  onFrame(frame: Frame): void {
    if (this.#ended || frame.kind === 'data' || frame.sequenceHeader) return;
    if (frame.payload.length === 0) return;
    if (frame.kind === 'audio' && this.#audio === null) return;
    if (frame.kind === 'video' && this.#video === null) return;
    const dtsMs = dtsMsOf(frame);
    if (this.#lastDtsMs !== null) {
      const step = dtsMs - this.#lastDtsMs;
      if (step < -MAX_TIMESTAMP_STEP_MS || step > MAX_TIMESTAMP_STEP_MS) {
        // A jump or a wrap: never a huge or negative duration, a discontinuity instead.
        this.#break();
      }
    }
    const driver = this.#video === null || frame.kind === 'video';
    if (
      driver &&
      this.#lastDriverDtsMs !== null &&
      dtsMs < this.#lastDriverDtsMs - MAX_DRIVER_STEP_BACK_MS
    ) {
      // The encoder's clock went back (a restart): parts could never close otherwise.
      this.#break();
    }
    if (driver && this.#lastDriverDtsMs !== null && dtsMs > this.#lastDriverDtsMs) {
      this.#frameIntervalMs = dtsMs - this.#lastDriverDtsMs;
    }
    if (driver) this.#lastDriverDtsMs = dtsMs;
    this.#lastDtsMs = Math.max(this.#lastDtsMs ?? dtsMs, dtsMs);
    if (this.#video !== null) this.#onFrameWithVideo(frame, dtsMs);
    else this.#onAudioOnlyFrame(frame, dtsMs);
  }

  /**
   * Anchors program date times on the newest frame received. Call it right after subscribing
   * to a live stream: its cached GOP arrives in one synchronous burst, so the first keyframe (the
   * default anchor) was captured up to a GOP before now, and only the newest frame just now.
   */
  resyncClock(): void {
    // Following a grid, the dates are the source's (already anchored where it was made).
    if (this.#options.follow) return;
    const newestDtsMs = this.#lastDtsMs;
    if (this.#anchor === null || newestDtsMs === null) return;
    const anchor = { dtsMs: newestDtsMs, wallMs: this.#options.now() };
    this.#anchor = anchor;
    if (this.#current) {
      this.#current = {
        ...this.#current,
        programDateTimeMs: anchor.wallMs + (this.#current.startDtsMs - anchor.dtsMs),
      };
    }
    this.#emit((sink) => sink.onClockResync?.(anchor));
  }

  /** The stream ended: closes the segment in progress with its last frame and tells the sinks. */
  onClose(reason: string): void {
    if (this.#ended) return;
    const pending = this.#pendingAudio;
    this.#pendingAudio = null;
    if (pending !== null && this.#current !== null) this.#addAudio(pending);
    this.#closeSegment();
    this.#ended = true;
    this.#emit((sink) => {
      sink.onEnd(reason);
    });
  }

  /** Calls every sink; one that throws is removed and reported, the others still get it. */
  #emit(call: (sink: FragmentSink) => void): void {
    for (const sink of this.#sinks) {
      try {
        call(sink);
      } catch (error) {
        this.#sinks.delete(sink);
        this.#options.onSinkError?.(error, sink);
      }
    }
  }

  /** A timeline break: closes the segment, and the next one starts after a discontinuity. */
  #break(): void {
    this.#closeSegment();
    this.#pendingDiscontinuity = true;
    this.#resetTimeline();
  }

  /** Video drives cuts: the new frame starts the next part or segment. */
  #onFrameWithVideo(frame: Frame, dtsMs: number): void {
    if (frame.kind === 'audio') {
      if (this.#current !== null) this.#addAudio(frame);
      return;
    }
    const ptsMs = dtsMs + ctsMsOf(frame);
    const grid = this.#options.follow;
    // Following a grid, a segment starts only where the source's did.
    const opens = grid && this.#current === null ? grid.segmentFor(ptsMs, -1) : null;
    if (this.#current === null) {
      if (!frame.keyframe) return; // start on a keyframe
      if (grid && (opens === null || ptsMs - opens.startPtsMs > GRID_TOLERANCE_MS)) return;
    }
    const pending = this.#pendingVideo;
    if (pending !== null && this.#current !== null) {
      this.#addVideo(pending, dtsMs - dtsMsOf(pending));
    }
    this.#pendingVideo = frame;
    const current = this.#current;
    if (current === null) {
      this.#startSegment(dtsMs, ptsMs, true, opens);
      this.#notePartPts(ptsMs);
      return;
    }
    if (grid) this.#followCut(grid, current, frame, dtsMs, ptsMs);
    else this.#ownCut(current, frame, dtsMs, ptsMs);
    this.#notePartPts(ptsMs);
  }

  /** The part being built has a picture presented at `ptsMs`: tells sinks of a new earliest. */
  #notePartPts(ptsMs: number): void {
    if (ptsMs >= this.#partFirstPtsMs) return;
    this.#partFirstPtsMs = ptsMs;
    const current = this.#current;
    if (current === null) return;
    const index = this.#currentParts.length;
    this.#emit((sink) => sink.onPartPts?.(current.msn, index, ptsMs));
  }

  /** Cuts by the cut policy: segments on keyframes, parts on time. */
  #ownCut(current: SegmentStart, frame: Frame, dtsMs: number, ptsMs: number): void {
    const { segmentTargetS, maxSegmentS, partTargetS } = this.#options.cut;
    const segmentS = (dtsMs - current.startDtsMs) / 1000;
    if ((frame.keyframe && segmentS >= segmentTargetS) || segmentS >= maxSegmentS) {
      this.#closeSegment(dtsMs);
      this.#startSegment(dtsMs, ptsMs, frame.keyframe, null);
    } else if (partTargetS !== null && this.#partFull(dtsMs, partTargetS)) {
      this.#closePart(dtsMs, false);
      this.#startPart(dtsMs, frame.keyframe);
    }
  }

  /**
   * Cuts where the source did: a segment at the first frame at or past the start of a source
   * segment newer than this one, a part at the first frame presented at or after the earliest
   * picture of the source's next part (with B-frames that is not the frame the source cut on;
   * renditions have none). The source is ahead by ffmpeg's delay, so its part is complete. Should the source's cuts stop coming (it ended), the cut policy takes over.
   */
  #followCut(
    grid: CutGrid,
    current: SegmentStart,
    frame: Frame,
    dtsMs: number,
    ptsMs: number,
  ): void {
    const next = grid.segmentFor(ptsMs, current.msn);
    if (next !== null) {
      this.#closeSegment(dtsMs);
      this.#startSegment(dtsMs, ptsMs, frame.keyframe, next);
      return;
    }
    const source = grid.segment(current.msn);
    if (source === null) {
      if ((dtsMs - current.startDtsMs) / 1000 >= this.#options.cut.maxSegmentS) {
        this.#ownCut(current, frame, dtsMs, ptsMs);
      }
      return;
    }
    const nextPart = source.partFirstPtsMs[this.#currentParts.length + 1];
    if (nextPart !== undefined && ptsMs >= nextPart - GRID_TOLERANCE_MS) {
      this.#closePart(dtsMs, false);
      this.#startPart(dtsMs, frame.keyframe);
    }
  }

  /**
   * A part closes at the frame after which one more frame would take it past the part target,
   * so parts stay within PART-TARGET (RFC 8216bis 4.4.4.9) instead of overshooting by a frame.
   */
  #partFull(dtsMs: number, partTargetS: number): boolean {
    const elapsedMs = dtsMs - this.#partStartDtsMs;
    if (elapsedMs <= 0) return false;
    const nextMs = elapsedMs + this.#frameIntervalMs;
    return nextMs > partTargetS * 1000 + 1;
  }

  #onAudioOnlyFrame(frame: Frame, dtsMs: number): void {
    const grid = this.#options.follow;
    if (grid) {
      this.#followAudio(grid, frame, dtsMs);
      return;
    }
    const { segmentTargetS, partTargetS } = this.#options.cut;
    const current = this.#current;
    if (current === null) this.#startSegment(dtsMs, dtsMs, true, null);
    else if ((dtsMs - current.startDtsMs) / 1000 >= segmentTargetS) {
      this.#closeSegment(dtsMs);
      this.#startSegment(dtsMs, dtsMs, true, null);
    } else if (partTargetS !== null && this.#partFull(dtsMs, partTargetS)) {
      this.#closePart(dtsMs, false);
      this.#startPart(dtsMs, true);
    }
    this.#addAudio(frame);
  }

  /**
   * Audio alone on another stream's cuts (the audio rendition of a ladder): a segment or part
   * starts with the audio frame that plays at the source's cut, so at most one audio frame
   * before it. Players hold alternate audio back until the video is loaded to where it starts:
   * an audio segment starting after the video's one would wait for the next video segment. A
   * frame's end is the next one's start, so each waits for the next. Should the source's cuts
   * stop coming, cuts are on time again.
   */
  #followAudio(grid: CutGrid, frame: Frame, dtsMs: number): void {
    const pending = this.#pendingAudio;
    this.#pendingAudio = frame;
    if (pending === null) return;
    const startMs = this.#audioStartMs(pending);
    // A source cut before this frame's start lies in (or before) the pending frame.
    const beforeMs = dtsMs - GRID_TOLERANCE_MS - 1;
    const current = this.#current;
    const next = grid.segmentFor(beforeMs, current?.msn ?? -1);
    if (current === null) {
      if (next === null) return;
      this.#startSegment(startMs, startMs, true, next);
    } else if (next !== null) {
      this.#closeSegment(startMs);
      this.#startSegment(startMs, startMs, true, next);
    } else {
      const source = grid.segment(current.msn);
      const nextPart = source?.partFirstPtsMs[this.#currentParts.length + 1];
      const segmentS = (startMs - current.startDtsMs) / 1000;
      if (source === null && segmentS >= this.#options.cut.maxSegmentS) {
        this.#closeSegment(startMs);
        this.#startSegment(startMs, startMs, true, null);
      } else if (nextPart !== undefined && nextPart < dtsMs) {
        this.#closePart(startMs, false);
        this.#startPart(startMs, true);
      }
    }
    this.#addAudio(pending);
  }

  /**
   * Where `frame` will start in the fMP4 timeline (its samples follow on from the last, see
   * #addAudio), in milliseconds with the fraction: an audio rendition's times and durations are
   * these, not the whole milliseconds of the stream's timestamps, so the playlist never places a
   * part after its samples begin (a player whose buffer ends a few microseconds before the part
   * the playlist lists would ask for the part it has again).
   */
  #audioStartMs(frame: Frame): number {
    const track = this.#audio;
    if (track === null) return dtsMsOf(frame);
    const timescale = timescaleOf(track);
    const expected = rescale(frame.dts, frame.timescale, timescale);
    const ticks =
      this.#audioTicks === null ||
      Math.abs(this.#audioTicks - expected) > (MAX_AUDIO_DRIFT_MS * timescale) / 1000
        ? expected
        : this.#audioTicks;
    return (ticks * 1000) / timescale;
  }

  #addVideo(frame: Frame, durationMs: number): void {
    const track = this.#video;
    if (track === null) return;
    this.#partVideoFrames++;
    if (this.#ts) {
      this.#partBytesTs.push(this.#ts.encodeFrame(frame));
      return;
    }
    const data = sampleData(track, frame);
    if (data.length === 0) return;
    if (this.#partVideo.length === 0) {
      this.#partVideoBaseTicks = rescale(frame.dts, frame.timescale, timescaleOf(track));
    }
    this.#partVideo.push({
      data,
      durationTicks: Math.max(1, Math.round((durationMs * timescaleOf(track)) / 1000)),
      ctsOffsetTicks: rescale(frame.pts - frame.dts, frame.timescale, timescaleOf(track)),
      keyframe: frame.keyframe,
    });
  }

  #addAudio(frame: Frame): void {
    const track = this.#audio;
    if (track === null) return;
    if (this.#ts) {
      this.#partBytesTs.push(this.#ts.encodeFrame(frame));
      return;
    }
    const data = sampleData(track, frame);
    if (data.length === 0) return;
    const timescale = timescaleOf(track);
    const expected = rescale(frame.dts, frame.timescale, timescale);
    if (
      this.#audioTicks === null ||
      Math.abs(this.#audioTicks - expected) > (MAX_AUDIO_DRIFT_MS * timescale) / 1000
    ) {
      this.#audioTicks = expected;
    }
    if (this.#partAudio.length === 0) this.#partAudioBaseTicks = this.#audioTicks;
    const durationTicks = audioFrameTicks(track, data);
    this.#partAudio.push({ data, durationTicks, ctsOffsetTicks: 0, keyframe: true });
    this.#audioTicks += durationTicks;
  }

  /** Starts a segment: numbered and dated as the source's `followed` one, when following. */
  #startSegment(
    dtsMs: number,
    ptsMs: number,
    independent: boolean,
    followed: GridSegment | null,
  ): void {
    this.#anchor ??= { dtsMs, wallMs: this.#options.now() };
    const msn = followed === null ? this.#nextMsn : Math.max(followed.msn, this.#nextMsn);
    this.#nextMsn = msn + 1;
    const segment: SegmentStart = {
      msn,
      startDtsMs: dtsMs,
      startPtsMs: ptsMs,
      programDateTimeMs:
        followed === null
          ? this.#anchor.wallMs + (dtsMs - this.#anchor.dtsMs)
          : followed.programDateTimeMs + (ptsMs - followed.startPtsMs),
      discontinuity: this.#pendingDiscontinuity || (followed?.discontinuity ?? false),
      independent,
      initVersion: this.#initVersion,
      ...(followed === null ? {} : { sourceDiscontinuities: followed.discontinuities }),
    };
    this.#current = segment;
    this.#currentParts = [];
    this.#pendingDiscontinuity = false;
    if (this.#ts) this.#partBytesTs = [this.#ts.segmentHeader()];
    this.#startPart(dtsMs, independent);
    this.#emit((sink) => {
      sink.onSegmentStart(segment);
    });
  }

  #startPart(dtsMs: number, independent: boolean): void {
    this.#partFirstPtsMs = Infinity;
    this.#partStartDtsMs = dtsMs;
    this.#partIndependent = independent;
  }

  /** Muxes what was collected since the part began into one part of the current segment. */
  #closePart(endDtsMs: number, last: boolean): void {
    const current = this.#current;
    if (current === null) return;
    const videoFrames = this.#partVideoFrames;
    this.#partVideoFrames = 0;
    let bytes: Buffer;
    if (this.#ts) {
      bytes = Buffer.concat(this.#partBytesTs);
      this.#partBytesTs = [];
    } else {
      const runs = [];
      let trackId = 1;
      for (const track of this.#carriedTracks()) {
        const samples = track.kind === 'video' ? this.#partVideo : this.#partAudio;
        const base = track.kind === 'video' ? this.#partVideoBaseTicks : this.#partAudioBaseTicks;
        if (samples.length > 0) runs.push({ trackId, baseDecodeTimeTicks: base, samples });
        trackId++;
      }
      this.#partVideo = [];
      this.#partAudio = [];
      if (runs.length === 0) return;
      bytes = encodeFragment(this.#fragmentSequence++, runs);
    }
    // Written with 5 decimals: an audio rendition's are cut down, never rounded past its samples.
    const exactS = (endDtsMs - this.#partStartDtsMs) / 1000;
    const audioFollows = this.#options.follow !== undefined && this.#video === null;
    const durationS = audioFollows ? Math.floor(exactS * 1e5) / 1e5 : exactS;
    if (durationS <= 0) return; // nothing playable to list
    const part: FragmentPart = {
      msn: current.msn,
      index: this.#currentParts.length,
      bytes,
      startDtsMs: this.#partStartDtsMs,
      videoFrames,
      durationS,
      independent: this.#partIndependent,
      last,
    };
    this.#currentParts.push(part);
    this.#emit((sink) => {
      sink.onPart(part);
    });
  }

  /**
   * Closes the current part and segment. `cutAtDtsMs` is the frame that starts the next
   * segment; without it the stream stopped or changed here.
   */
  #closeSegment(cutAtDtsMs: number | null = null): void {
    const current = this.#current;
    if (current === null) return;
    // Without a cut the last frame lasts one frame interval: its bytes are in the part already
    // (audio-only) or are added below (the pending video frame).
    let endDtsMs =
      cutAtDtsMs ??
      (this.#lastDriverDtsMs ?? current.startDtsMs) + Math.max(1, this.#frameIntervalMs);
    const pending = this.#pendingVideo;
    if (cutAtDtsMs === null && pending !== null) {
      const pendingMs = dtsMsOf(pending);
      endDtsMs = pendingMs + Math.max(1, this.#frameIntervalMs);
      this.#addVideo(pending, endDtsMs - pendingMs);
      this.#pendingVideo = null;
    }
    this.#closePart(endDtsMs, true);
    this.#current = null;
    this.#currentParts = [];
    this.#emit((sink) => {
      sink.onSegmentEnd(current.msn);
    });
  }

  #resetTimeline(): void {
    this.#pendingVideo = null;
    this.#pendingAudio = null;
    this.#lastDtsMs = null;
    this.#lastDriverDtsMs = null;
    this.#audioTicks = null;
    this.#anchor = null;
    this.#partVideo = [];
    this.#partVideoFrames = 0;
    this.#partAudio = [];
  }

  /** The carried tracks, video first: their order gives the fMP4 track ids. */
  #carriedTracks(): Track[] {
    const tracks: Track[] = [];
    if (this.#video) tracks.push(this.#video);
    if (this.#audio) tracks.push(this.#audio);
    return tracks;
  }
}

/** The duration of one audio frame in its track's timescale. */
function audioFrameTicks(track: AudioTrack, data: Buffer): number {
  switch (track.codec) {
    case 'aac':
      return AAC_FRAME_SAMPLES;
    case 'mp3':
      return MP3_FRAME_SAMPLES;
    case 'opus':
      return opusPacketDurationSamples(data);
  }
}
