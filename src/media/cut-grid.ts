// CutGrid: the cuts one fragmenter made (the source of an ABR ladder), kept so the fragmenters
// of its renditions cut on the same presentation times with the same media sequence numbers and
// part indexes: a player can then switch rendition at any part (RFC 8216bis 6.2.4 asks that the
// variants of a multivariant playlist line up). A sink of the source's fragmenter.
import type { FragmentSink, SegmentStart } from './fragmenter.ts';

/** One segment of the source, as the renditions follow it. */
export interface GridSegment {
  readonly msn: number;
  /** Presentation time of the frame the segment starts with. */
  readonly startPtsMs: number;
  readonly startDtsMs: number;
  /** Moved with the source's clock anchor (onClockResync), as its HLS window's dates are. */
  programDateTimeMs: number;
  readonly discontinuity: boolean;
  /**
   * Discontinuities of the source up to this segment, its own included, counted from the
   * first segment the grid saw: the source's HLS window (made with the grid) counts the same.
   */
  readonly discontinuities: number;
  /** The earliest presentation time in each part, by part index (see onPartPts). */
  readonly partFirstPtsMs: number[];
}

/** Segments remembered: renditions trail the source by ffmpeg's delay, a second or two. */
const KEPT_SEGMENTS = 16;
/** Timestamps are whole milliseconds both ways; a rendition's frame may round one off. */
export const GRID_TOLERANCE_MS = 2;

/** The source's cuts, newest last. */
export class CutGrid implements FragmentSink {
  readonly #segments: GridSegment[] = [];
  #discontinuities = 0;
  #ended = false;

  /** Whether the source's fragmenter ended (its stream stopped). */
  get ended(): boolean {
    return this.#ended;
  }

  /** The newest source segment whose start is at or before `ptsMs` and whose msn is after `afterMsn`. */
  segmentFor(ptsMs: number, afterMsn: number): GridSegment | null {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i] as GridSegment;
      if (segment.msn <= afterMsn) return null;
      if (segment.startPtsMs <= ptsMs + GRID_TOLERANCE_MS) return segment;
    }
    return null;
  }

  /** The source segment `msn`, if still remembered. */
  segment(msn: number): GridSegment | null {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i] as GridSegment;
      if (segment.msn === msn) return segment;
      if (segment.msn < msn) return null;
    }
    return null;
  }

  onInit(): void {
    this.#ended = false;
  }

  onSegmentStart(segment: SegmentStart): void {
    if (this.#segments.at(-1)?.msn === segment.msn) return; // replayed to a late sink
    if (segment.discontinuity) this.#discontinuities++;
    this.#segments.push({
      discontinuities: this.#discontinuities,
      msn: segment.msn,
      startPtsMs: segment.startPtsMs,
      startDtsMs: segment.startDtsMs,
      programDateTimeMs: segment.programDateTimeMs,
      discontinuity: segment.discontinuity,
      partFirstPtsMs: [],
    });
    if (this.#segments.length > KEPT_SEGMENTS) this.#segments.shift();
  }

  onPart(): void {}

  onPartPts(msn: number, index: number, ptsMs: number): void {
    const segment = this.#segments.at(-1);
    if (segment?.msn !== msn || index > segment.partFirstPtsMs.length) return;
    segment.partFirstPtsMs[index] = ptsMs;
  }

  onSegmentEnd(): void {}

  onClockResync(anchor: { readonly dtsMs: number; readonly wallMs: number }): void {
    for (const segment of this.#segments) {
      segment.programDateTimeMs = anchor.wallMs + (segment.startDtsMs - anchor.dtsMs);
    }
  }

  onEnd(): void {
    this.#ended = true;
  }
}
