// What replay and clips need to know about a recording file: where its init ends and where
// each fragment is, when it plays and whether it starts on a keyframe. Made while recording
// (in memory) or from the file itself (scanFmp4).
import type { Fmp4Index } from '../media/fmp4-file.ts';

/** One moof + mdat of a recording file. */
export interface FragmentRef {
  readonly offset: number;
  readonly size: number;
  readonly moofSize: number;
  /** Start, in ms from the start of the file's media. */
  readonly timeMs: number;
  readonly durationMs: number;
  /** It starts with a keyframe (always true for audio-only files). */
  readonly independent: boolean;
}

/** A recording file's layout. */
export interface FileIndex {
  /** Bytes of ftyp + moov at the start of the file. */
  readonly initEnd: number;
  readonly fragments: readonly FragmentRef[];
  /** Track ids and timescales, video first (the order the recorder writes them). */
  readonly tracks: ReadonlyArray<{ readonly trackId: number; readonly timescale: number }>;
}

/** A FileIndex from a scanned file: times come from the first track (video when there is one). */
export function fileIndexOf(scan: Fmp4Index): FileIndex {
  const driver = scan.tracks[0];
  const fragments: FragmentRef[] = [];
  if (driver !== undefined) {
    const scale = 1000 / driver.timescale;
    let originTicks: number | null = null;
    for (const fragment of scan.fragments) {
      const track = fragment.tracks.find((t) => t.trackId === driver.trackId);
      if (track === undefined) continue;
      originTicks ??= track.baseDecodeTimeTicks;
      fragments.push({
        offset: fragment.offset,
        size: fragment.size,
        moofSize: fragment.moofSize,
        timeMs: (track.baseDecodeTimeTicks - originTicks) * scale,
        durationMs: track.durationTicks * scale,
        independent: driver.kind === 'audio' || track.firstSampleSync,
      });
    }
  }
  return {
    initEnd: scan.initEnd,
    fragments,
    tracks: scan.tracks.map((t) => ({ trackId: t.trackId, timescale: t.timescale })),
  };
}

/** The media duration of an index, in ms (end of its last fragment). */
export function indexDurationMs(index: FileIndex): number {
  const last = index.fragments.at(-1);
  return last === undefined ? 0 : last.timeMs + last.durationMs;
}
