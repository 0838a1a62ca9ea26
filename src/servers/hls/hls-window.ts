// HlsWindow: one stream's HLS window. A sink of the stream's Fragmenter (media/fragmenter.ts),
// which makes the cuts and the bytes; the window keeps the last segments and the parts of the
// one in progress in memory, for playlists and media requests.
import type {
  FragmentInit,
  FragmentPart,
  FragmentSink,
  SegmentStart,
} from '../../media/fragmenter.ts';
import type { Track } from '../../media/track.ts';
import type { HlsDvr } from './hls-dvr.ts';
import type { HlsProfile } from './hls-profile.ts';

/** One LL-HLS part, kept while its segment is among the last few. */
export interface HlsPartEntry {
  readonly index: number;
  readonly bytes: Buffer;
  readonly durationS: number;
  readonly independent: boolean;
  readonly videoFrames: number;
}

/** One segment: complete (bytes set) or in progress (parts only). */
export interface HlsSegmentEntry {
  readonly msn: number;
  readonly parts: HlsPartEntry[];
  bytes: Buffer | null;
  durationS: number;
  readonly startDtsMs: number;
  /** Wall clock of the first frame (EXT-X-PROGRAM-DATE-TIME); moved by onClockResync(). */
  programDateTimeMs: number;
  readonly discontinuity: boolean;
  readonly initVersion: number;
}

/** Settings of a window. */
export interface HlsWindowOptions {
  readonly profile: HlsProfile;
  readonly windowSegments: number;
  readonly maxWindowBytes: number;
  /** Called after every new part or segment, and at the end. */
  readonly onUpdate: () => void;
  /** The stream ended (or the hub evicted the fragmenter). */
  readonly onClose: (reason: string) => void;
  /** The DVR window, which takes the segments that leave this one (hls.dvrWindowS). */
  readonly dvr?: HlsDvr;
}

/** Segments kept while the process is over its memory budget (see HlsWindow.lean). */
export const LEAN_WINDOW_SEGMENTS = 4;

/** The HLS window of one stream, fed by its fragmenter. */
export class HlsWindow implements FragmentSink {
  readonly #options: HlsWindowOptions;
  readonly #segments: HlsSegmentEntry[] = [];
  #current: HlsSegmentEntry | null = null;
  #discontinuitySequence = 0;
  /** A segment that ended with no part had a discontinuity (see onSegmentEnd). */
  #lostDiscontinuity = false;
  #windowBytes = 0;
  #tracks: readonly Track[] = [];
  #init: Buffer | null = null;
  #initVersion = 0;
  #ended = false;
  #longestPartS = 0;
  #lean = false;
  /** Parts and segments made since this window started (for metrics). */
  readonly made = { parts: 0, segments: 0 };

  constructor(options: HlsWindowOptions) {
    this.#options = options;
  }

  /** Complete segments in the window, oldest first. */
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
    return this.#discontinuitySequence + (this.#options.dvr?.droppedDiscontinuities ?? 0);
  }

  /** The media sequence number of the first segment in the playlist (DVR window included). */
  get mediaSequence(): number {
    return (
      this.#options.dvr?.segments[0]?.msn ??
      this.#segments[0]?.msn ??
      this.#current?.msn ??
      this.nextMsn
    );
  }

  /** The DVR window before the memory window, if the stream has one. */
  get dvr(): HlsDvr | undefined {
    return this.#options.dvr;
  }

  /** The tracks of the stream (carried or not). */
  get tracks(): readonly Track[] {
    return this.#tracks;
  }

  /** The init segment (fMP4) for `version`, or null. */
  init(version: number): Buffer | null {
    if (version === this.#initVersion) return this.#init;
    return this.#options.dvr?.init(version) ?? null;
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

  /** The msn after the newest segment seen (the next to come when none is in progress). */
  get nextMsn(): number {
    return this.#lastMsn + 1;
  }

  #lastMsn = -1;

  /** The tracks the container carries (what CODECS names). */
  get carriedTracks(): readonly Track[] {
    return this.#carried;
  }

  #carried: readonly Track[] = [];

  onInit(init: FragmentInit): void {
    this.#carried = init.tracks;
    this.#tracks = init.streamTracks;
    this.#init = init.bytes;
    this.#initVersion = init.version;
    this.#options.dvr?.keepInit(init.version, init.bytes);
  }

  onSegmentStart(segment: SegmentStart): void {
    // Segments numbered after another stream's (an ABR rendition restarted, see CutGrid) can
    // skip numbers; a playlist's cannot, so the window starts over after a discontinuity.
    const gap = this.#lastMsn >= 0 && segment.msn > this.#lastMsn + 1;
    if (gap) this.#startOver();
    let discontinuity = segment.discontinuity || gap || this.#lostDiscontinuity;
    this.#lostDiscontinuity = false;
    // A rendition's segments count discontinuities as its source's do (RFC 8216bis 6.2.4: the
    // same discontinuity sequence in every variant): when its own differ (ffmpeg restarted, or
    // it joined late), the window starts over on the source's count.
    const counted = segment.sourceDiscontinuities;
    if (counted !== undefined && this.#discontinuitiesThrough(discontinuity) !== counted) {
      this.#startOver();
      // The first segment of a playlist needs no tag to count from the source's number.
      discontinuity = discontinuity && counted > 0;
      this.#discontinuitySequence = counted - (discontinuity ? 1 : 0);
    }
    this.#current = {
      msn: segment.msn,
      parts: [],
      bytes: null,
      durationS: 0,
      startDtsMs: segment.startDtsMs,
      programDateTimeMs: segment.programDateTimeMs,
      discontinuity,
      initVersion: segment.initVersion,
    };
    this.#lastMsn = segment.msn;
  }

  onPart(part: FragmentPart): void {
    const current = this.#current;
    if (current === null || current.msn !== part.msn) return;
    current.parts.push({
      index: part.index,
      bytes: part.bytes,
      durationS: part.durationS,
      independent: part.independent,
      videoFrames: part.videoFrames,
    });
    current.durationS += part.durationS;
    this.made.parts++;
    if (part.durationS > this.#longestPartS) this.#longestPartS = part.durationS;
    // Held requests are answered once the segment is complete, not between its last part and
    // its end: a playlist rendered there would hint a part after the last one, which never
    // comes (and a cache in front would pass every viewer's request for it to onair).
    if (!part.last) this.#options.onUpdate();
  }

  onSegmentEnd(msn: number): void {
    const current = this.#current;
    if (current === null || current.msn !== msn) return;
    this.#current = null;
    if (current.parts.length === 0) {
      // Never listed: its discontinuity goes to the next one, so the count stays the same.
      if (current.discontinuity) this.#lostDiscontinuity = true;
      return;
    }
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

  onClockResync(anchor: { readonly dtsMs: number; readonly wallMs: number }): void {
    for (const segment of [...this.#segments, ...(this.#current ? [this.#current] : [])]) {
      segment.programDateTimeMs = anchor.wallMs + (segment.startDtsMs - anchor.dtsMs);
    }
  }

  onEnd(reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#options.onUpdate();
    this.#options.onClose(reason);
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

  /** The discontinuity count of a segment started now, with its own `discontinuity`. */
  #discontinuitiesThrough(discontinuity: boolean): number {
    let count = this.discontinuitySequence + (discontinuity ? 1 : 0);
    for (const segment of this.#segments) if (segment.discontinuity) count++;
    return count;
  }

  /** Drops every segment (the DVR window keeps none: renditions, which skip, have none). */
  #startOver(): void {
    for (const dropped of this.#segments.splice(0)) {
      if (dropped.discontinuity) this.#discontinuitySequence++;
    }
    this.#windowBytes = 0;
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
      const { dvr } = this.#options;
      if (dvr) dvr.add(dropped);
      // EXT-X-DISCONTINUITY-SEQUENCE counts the discontinuities that left the playlist.
      else if (dropped.discontinuity) this.#discontinuitySequence++;
    }
    this.#options.dvr?.trim(this.#segments.reduce((sum, segment) => sum + segment.durationS, 0));
    return trimmed;
  }
}
