// HlsSegmenter: one stream's HLS window. Subscribes to the Stream, cuts segments on keyframes
// and LL-HLS parts on time, muxes them once (fMP4 or MPEG-TS) and keeps them in memory.
import type { Frame } from '../../media/frame.ts';
import type { AudioTrack, Track } from '../../media/track.ts';
import type { CloseReason, Subscriber } from '../../hub/subscriber.ts';
import {
  encodeFragment,
  encodeInitSegment,
  opusPacketDurationSamples,
  sampleData,
  timescaleOf,
  type Fmp4Sample,
} from '../../media/fmp4-muxer.ts';
import { TsMuxer } from '../../media/ts-muxer.ts';
import type { HlsProfile } from './hls-profile.ts';

/** One LL-HLS part, kept while its segment is among the last few. */
export interface HlsPartEntry {
  readonly index: number;
  readonly bytes: Buffer;
  readonly durationS: number;
  readonly independent: boolean;
}

/** One segment: complete (bytes set) or in progress (parts only). */
export interface HlsSegmentEntry {
  readonly msn: number;
  readonly parts: HlsPartEntry[];
  bytes: Buffer | null;
  durationS: number;
  readonly startDtsMs: number;
  /** Wall clock of the first frame (EXT-X-PROGRAM-DATE-TIME); moved by resyncClock(). */
  programDateTimeMs: number;
  readonly discontinuity: boolean;
  readonly initVersion: number;
}

/** Settings of a segmenter. */
export interface HlsSegmenterOptions {
  readonly profile: HlsProfile;
  readonly windowSegments: number;
  readonly maxWindowBytes: number;
  /** Wall clock in ms (Date.now), for EXT-X-PROGRAM-DATE-TIME. */
  readonly now: () => number;
  /** Called after every new part or segment, and at the end. */
  readonly onUpdate: () => void;
  /** The stream ended (or the hub evicted us). */
  readonly onClose: (reason: CloseReason) => void;
}

/** Codecs each container carries. */
const CARRIED: Readonly<Record<HlsProfile['container'], ReadonlySet<string>>> = {
  fmp4: new Set(['h264', 'hevc', 'av1', 'aac', 'opus']),
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
 * Builds the HLS window of one stream. Video drives the cuts: a part closes when a video frame
 * arrives a part target after the part began, a segment when that frame is a keyframe and the
 * segment is long enough (or has run past the maximum). Audio-only streams are cut on time.
 */
/** Segments kept while the process is over its memory budget (see HlsSegmenter.lean). */
export const LEAN_WINDOW_SEGMENTS = 4;

export class HlsSegmenter implements Subscriber {
  readonly #options: HlsSegmenterOptions;
  readonly #segments: HlsSegmentEntry[] = [];
  #current: HlsSegmentEntry | null = null;
  #nextMsn = 0;
  #discontinuitySequence = 0;
  #windowBytes = 0;
  #tracks: readonly Track[] = [];
  #video: Track | null = null;
  #audio: AudioTrack | null = null;
  #init: Buffer | null = null;
  #initVersion = 0;
  #pendingDiscontinuity = false;
  #ended = false;
  // Part being built (fMP4).
  #partVideo: Fmp4Sample[] = [];
  #partAudio: Fmp4Sample[] = [];
  #partVideoBaseTicks = 0;
  #partAudioBaseTicks = 0;
  #partStartDtsMs = 0;
  #partIndependent = false;
  #partBytesTs: Buffer[] = [];
  #fragmentSequence = 1;
  #pendingVideo: Frame | null = null;
  #lastDtsMs: number | null = null;
  /** Timestamp of the last frame of the track that drives cuts (video, else audio). */
  #lastDriverDtsMs: number | null = null;
  #frameIntervalMs = 0;
  #longestPartS = 0;
  #audioTicks: number | null = null;
  #ts: TsMuxer | null = null;
  #anchor: { dtsMs: number; wallMs: number } | null = null;

  #lean = false;

  constructor(options: HlsSegmenterOptions) {
    this.#options = options;
  }

  /** Complete segments in the window, oldest first. */
  /** Parts and segments made since this segmenter started (for metrics). */
  readonly made = { parts: 0, segments: 0 };

  get segments(): readonly HlsSegmentEntry[] {
    return this.#segments;
  }

  /** The segment being built, if any (its parts are playable). */
  get current(): HlsSegmentEntry | null {
    return this.#current;
  }

  /**
   * The longest part made so far: with timestamps in whole milliseconds a part can come out a
   * millisecond over the target (29.97 fps), and PART-TARGET must cover every part.
   */
  get longestPartS(): number {
    return this.#longestPartS;
  }

  get discontinuitySequence(): number {
    return this.#discontinuitySequence;
  }

  /** The media sequence number of the first segment in the window. */
  get mediaSequence(): number {
    return this.#segments[0]?.msn ?? this.#current?.msn ?? this.#nextMsn;
  }

  get tracks(): readonly Track[] {
    return this.#tracks;
  }

  /** The init segment (fMP4) for `version`, or null. */
  init(version: number): Buffer | null {
    return version === this.#initVersion ? this.#init : null;
  }

  get initVersion(): number {
    return this.#initVersion;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get profile(): HlsProfile {
    return this.#options.profile;
  }

  onTracks(tracks: readonly Track[]): void {
    const first = this.#tracks.length === 0;
    this.#closeSegment();
    this.#tracks = tracks;
    // Tracks the container cannot carry are left out (TS has no AV1/Opus, fMP4 here no VP9/MP3).
    const carried = CARRIED[this.#options.profile.container];
    this.#video = tracks.find((t) => t.kind === 'video' && carried.has(t.codec)) ?? null;
    this.#audio =
      tracks.find((t): t is AudioTrack => t.kind === 'audio' && carried.has(t.codec)) ?? null;
    this.#initVersion++;
    if (this.#options.profile.container === 'fmp4') {
      this.#init = encodeInitSegment(this.#carriedTracks());
    } else {
      this.#ts = new TsMuxer(this.#carriedTracks());
    }
    // A new publisher (or new codecs) continues the playlist after a discontinuity.
    if (!first) this.#pendingDiscontinuity = true;
    this.#resetTimeline();
  }

  onFrame(frame: Frame): void {
    if (this.#ended || frame.kind === 'data' || frame.sequenceHeader) return;
    if (frame.payloadOffset >= frame.body.length) return;
    if (frame.kind === 'audio' && this.#audio === null) return;
    if (frame.kind === 'video' && this.#video === null) return;
    if (this.#lastDtsMs !== null) {
      const step = frame.dtsMs - this.#lastDtsMs;
      if (step < -MAX_TIMESTAMP_STEP_MS || step > MAX_TIMESTAMP_STEP_MS) {
        // A jump or a wrap: never a huge or negative EXTINF, a discontinuity instead.
        this.#closeSegment();
        this.#pendingDiscontinuity = true;
        this.#resetTimeline();
      }
    }
    const driver = this.#video === null || frame.kind === 'video';
    if (
      driver &&
      this.#lastDriverDtsMs !== null &&
      frame.dtsMs < this.#lastDriverDtsMs - MAX_DRIVER_STEP_BACK_MS
    ) {
      // The encoder's clock went back (a restart): parts could never close otherwise.
      this.#closeSegment();
      this.#pendingDiscontinuity = true;
      this.#resetTimeline();
    }
    if (driver && this.#lastDriverDtsMs !== null && frame.dtsMs > this.#lastDriverDtsMs) {
      this.#frameIntervalMs = frame.dtsMs - this.#lastDriverDtsMs;
    }
    if (driver) this.#lastDriverDtsMs = frame.dtsMs;
    this.#lastDtsMs = Math.max(this.#lastDtsMs ?? frame.dtsMs, frame.dtsMs);
    if (this.#video !== null) this.#onFrameWithVideo(frame);
    else this.#onAudioOnlyFrame(frame);
  }

  /**
   * Anchors EXT-X-PROGRAM-DATE-TIME on the newest frame received. Call it right after subscribing
   * to a live stream: its cached GOP arrives in one synchronous burst, so the first keyframe (the
   * default anchor) was captured up to a GOP before now, and only the newest frame just now.
   */
  resyncClock(): void {
    const newestDtsMs = this.#lastDtsMs;
    if (this.#anchor === null || newestDtsMs === null) return;
    const wallMs = this.#options.now();
    this.#anchor = { dtsMs: newestDtsMs, wallMs };
    for (const segment of [...this.#segments, ...(this.#current ? [this.#current] : [])]) {
      segment.programDateTimeMs = wallMs + (segment.startDtsMs - newestDtsMs);
    }
  }

  onClose(reason: CloseReason): void {
    if (this.#ended) return;
    this.#closeSegment();
    this.#ended = true;
    this.#options.onUpdate();
    this.#options.onClose(reason);
  }

  /** Video drives cuts: the new frame starts the next part or segment. */
  #onFrameWithVideo(frame: Frame): void {
    if (frame.kind === 'audio') {
      if (this.#current !== null) this.#addAudio(frame);
      return;
    }
    if (this.#current === null && !frame.keyframe) return; // start on a keyframe
    const pending = this.#pendingVideo;
    if (pending !== null && this.#current !== null) {
      this.#addVideo(pending, frame.dtsMs - pending.dtsMs);
    }
    this.#pendingVideo = frame;
    const { segmentTargetS, maxSegmentS, partTargetS } = this.#options.profile;
    const current = this.#current;
    if (current === null) {
      this.#startSegment(frame.dtsMs, true);
      return;
    }
    const segmentS = (frame.dtsMs - current.startDtsMs) / 1000;
    if ((frame.keyframe && segmentS >= segmentTargetS) || segmentS >= maxSegmentS) {
      this.#closeSegment(frame.dtsMs);
      this.#startSegment(frame.dtsMs, frame.keyframe);
    } else if (partTargetS !== null && this.#partFull(frame.dtsMs, partTargetS)) {
      this.#closePart(frame.dtsMs);
      this.#startPart(frame.dtsMs, frame.keyframe);
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

  #onAudioOnlyFrame(frame: Frame): void {
    const { segmentTargetS, partTargetS } = this.#options.profile;
    const current = this.#current;
    if (current === null) this.#startSegment(frame.dtsMs, true);
    else if ((frame.dtsMs - current.startDtsMs) / 1000 >= segmentTargetS) {
      this.#closeSegment(frame.dtsMs);
      this.#startSegment(frame.dtsMs, true);
    } else if (partTargetS !== null && this.#partFull(frame.dtsMs, partTargetS)) {
      this.#closePart(frame.dtsMs);
      this.#startPart(frame.dtsMs, true);
    }
    this.#addAudio(frame);
  }

  #addVideo(frame: Frame, durationMs: number): void {
    const track = this.#video;
    if (track === null) return;
    if (this.#ts) {
      this.#partBytesTs.push(this.#ts.encodeFrame(frame));
      return;
    }
    const data = sampleData(track, frame);
    if (data.length === 0) return;
    if (this.#partVideo.length === 0) this.#partVideoBaseTicks = frame.dtsMs * 90;
    this.#partVideo.push({
      data,
      durationTicks: Math.max(1, Math.round(durationMs * 90)),
      ctsOffsetTicks: Math.round(frame.ctsMs * 90),
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
    const expected = Math.round((frame.dtsMs * timescale) / 1000);
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

  #startSegment(dtsMs: number, independent: boolean): void {
    this.#anchor ??= { dtsMs, wallMs: this.#options.now() };
    this.#current = {
      msn: this.#nextMsn++,
      parts: [],
      bytes: null,
      durationS: 0,
      startDtsMs: dtsMs,
      programDateTimeMs: this.#anchor.wallMs + (dtsMs - this.#anchor.dtsMs),
      discontinuity: this.#pendingDiscontinuity,
      initVersion: this.#initVersion,
    };
    this.#pendingDiscontinuity = false;
    if (this.#ts) this.#partBytesTs = [this.#ts.segmentHeader()];
    this.#startPart(dtsMs, independent);
  }

  #startPart(dtsMs: number, independent: boolean): void {
    this.#partStartDtsMs = dtsMs;
    this.#partIndependent = independent;
  }

  /**
   * Muxes what was collected since the part began into one part of the current segment, and
   * tells the handler unless `notify` is false (the segment closes with it, and tells it then).
   */
  #closePart(endDtsMs: number, notify = true): void {
    const current = this.#current;
    if (current === null) return;
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
    const durationS = (endDtsMs - this.#partStartDtsMs) / 1000;
    if (durationS <= 0) return; // nothing playable to list
    current.parts.push({
      index: current.parts.length,
      bytes,
      durationS,
      independent: this.#partIndependent,
    });
    current.durationS += durationS;
    this.made.parts++;
    if (durationS > this.#longestPartS) this.#longestPartS = durationS;
    if (notify) this.#options.onUpdate();
  }

  /**
   * Closes the current part and segment and moves the segment into the window. `cutAtDtsMs` is
   * the frame that starts the next segment; without it the stream stopped or changed here.
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
      // The stream stopped or changed: its last frame lasts one frame interval.
      endDtsMs = pending.dtsMs + Math.max(1, this.#frameIntervalMs);
      this.#addVideo(pending, endDtsMs - pending.dtsMs);
      this.#pendingVideo = null;
    }
    // Held requests are answered once the segment is complete, not between its last part and
    // its end: a playlist rendered there would hint a part after the last one, which never
    // comes (and a cache in front would pass every viewer's request for it to onair).
    this.#closePart(endDtsMs, false);
    this.#current = null;
    if (current.parts.length === 0) return;
    current.bytes =
      current.parts.length === 1
        ? (current.parts[0] as HlsPartEntry).bytes
        : Buffer.concat(current.parts.map((p) => p.bytes));
    this.#segments.push(current);
    this.made.segments++;
    this.#windowBytes += current.bytes.length;
    this.#trimWindow();
    this.#options.onUpdate();
  }

  /**
   * Keeps the window to its bounds, or to LEAN_WINDOW_SEGMENTS while `lean` (the process is
   * over its memory budget): the fewest segments RFC 8216 6.2.2 lets a live playlist keep
   * (three target durations after the oldest is removed).
   */
  set lean(lean: boolean) {
    if (lean === this.#lean) return;
    this.#lean = lean;
    if (lean && this.#trimWindow()) this.#options.onUpdate();
  }

  /** Drops the oldest segments beyond the bounds; returns whether any went. */
  #trimWindow(): boolean {
    const { maxWindowBytes } = this.#options;
    const windowSegments = this.#lean
      ? Math.min(this.#options.windowSegments, LEAN_WINDOW_SEGMENTS)
      : this.#options.windowSegments;
    let trimmed = false;
    while (
      this.#segments.length > windowSegments ||
      (this.#windowBytes > maxWindowBytes && this.#segments.length > 1)
    ) {
      const dropped = this.#segments.shift();
      if (!dropped) break;
      trimmed = true;
      this.#windowBytes -= dropped.bytes?.length ?? 0;
      // EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the playlist.
      if (dropped.discontinuity) this.#discontinuitySequence++;
    }
    return trimmed;
  }

  #resetTimeline(): void {
    this.#pendingVideo = null;
    this.#lastDtsMs = null;
    this.#lastDriverDtsMs = null;
    this.#audioTicks = null;
    this.#anchor = null;
    this.#partVideo = [];
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
