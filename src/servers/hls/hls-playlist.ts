// Renders a stream's HLS window as an HLS media playlist (LL-HLS when the profile has parts).
import {
  encodeMediaPlaylist,
  type HlsPart,
  type HlsSegment,
  type MediaPlaylist,
} from '../../codecs/m3u8.ts';
import { partHoldBackS } from './hls-profile.ts';
import type { HlsSegmentEntry, HlsWindow } from './hls-window.ts';

/** How a playlist is asked for. */
export interface PlaylistRequest {
  /** Prepended to every URI: `NAME/` for `/app/NAME.m3u8`, empty for `/app/NAME/index.m3u8`. */
  readonly prefix: string;
  /** The file-name prefix of this stream's media (unique per segmenter). */
  readonly id: string;
  /** `_HLS_skip=YES`: a delta update. */
  readonly skip: boolean;
  /** Appended to every media URI (`hs=...` for a private stream), or ''. */
  readonly mediaQuery?: string;
  /**
   * The windows of the other variants of the stream's ABR ladder: every variant must have the
   * same target duration (RFC 8216bis 6.2.4), so it is the longest of them all (and so is the
   * part target).
   */
  readonly variants?: readonly HlsWindow[];
  /** The other variants of the stream's ABR ladder (EXT-X-RENDITION-REPORT), LL-HLS only. */
  readonly renditionReports?: readonly { uri: string; lastMsn: number; lastPart?: number }[];
}

/** The playlist text for the segmenter's current window. */
export function renderPlaylist(segmenter: HlsWindow, request: PlaylistRequest): string {
  const { profile } = segmenter;
  const { prefix, id } = request;
  const q = request.mediaQuery ? `?${request.mediaQuery}` : '';
  const ext = profile.container === 'fmp4' ? 'm4s' : 'ts';
  const all = [segmenter, ...(request.variants ?? [])];
  const partTargetS =
    profile.partTargetS === null
      ? null
      : Math.max(profile.partTargetS, ...all.map((window) => window.longestPartS));
  const complete = segmenter.segments;
  const current = segmenter.current;
  const dvr = segmenter.dvr;
  const targetDurationS = Math.max(...all.map(targetDurationOf));
  const mapUri = (segment: { readonly initVersion: number }): string | undefined =>
    profile.container === 'fmp4' ? `${prefix}${id}-init${segment.initVersion}.mp4${q}` : undefined;
  const parts = (segment: HlsSegmentEntry): HlsPart[] =>
    segment.parts.map((part) => ({
      uri: `${prefix}${id}-${segment.msn}.${part.index}.${ext}${q}`,
      durationS: part.durationS,
      independent: part.independent,
    }));
  // The DVR window's segments (on disk) come first; parts are only ever listed for the last ones.
  const archived: HlsSegment[] = (dvr?.segments ?? []).map((segment) => ({
    uri: `${prefix}${id}-${segment.msn}.${ext}${q}`,
    durationS: segment.durationS,
    programDateTimeMs: segment.programDateTimeMs,
    discontinuity: segment.discontinuity,
    ...optional('mapUri', mapUri(segment)),
  }));
  const inMemory: HlsSegment[] = complete.map((segment) => ({
    uri: `${prefix}${id}-${segment.msn}.${ext}${q}`,
    durationS: segment.durationS,
    programDateTimeMs: segment.programDateTimeMs,
    discontinuity: segment.discontinuity,
    ...optional('mapUri', mapUri(segment)),
    // The writer keeps parts only for the last segments (RFC 8216bis 4.4.4.9).
    ...(partTargetS !== null ? { parts: parts(segment) } : {}),
  }));
  const playlist: MediaPlaylist = {
    targetDurationS,
    mediaSequence: segmenter.mediaSequence,
    discontinuitySequence: segmenter.discontinuitySequence,
    segments: archived.length === 0 ? inMemory : [...archived, ...inMemory],
    independentSegments: true,
    ...(segmenter.ended ? { endList: true } : {}),
    ...(partTargetS !== null
      ? {
          partTargetS,
          serverControl: {
            canBlockReload: true,
            partHoldBackS: Math.max(partHoldBackS(profile), 3 * partTargetS),
            canSkipUntilS: 6 * targetDurationS,
          },
          ...(current && !segmenter.ended
            ? {
                partialSegment: {
                  programDateTimeMs: current.programDateTimeMs,
                  discontinuity: current.discontinuity,
                  ...optional('mapUri', mapUri(current)),
                  parts: parts(current),
                },
              }
            : {}),
          // The next part is hinted whenever more will come, including between segments (the
          // segmenter holds the keyframe that opens the next one until the frame after it):
          // then it is part 0 of the segment after the last complete one.
          ...(!segmenter.ended
            ? {
                preloadHint: {
                  uri: current
                    ? `${prefix}${id}-${current.msn}.${current.parts.length}.${ext}${q}`
                    : `${prefix}${id}-${segmenter.nextMsn}.0.${ext}${q}`,
                },
              }
            : {}),
          ...(request.renditionReports && request.renditionReports.length > 0
            ? { renditionReports: request.renditionReports }
            : {}),
        }
      : {}),
  };
  return encodeMediaPlaylist(playlist, { deltaUpdate: request.skip });
}

/** EXT-X-TARGETDURATION of one window: its longest segment (DVR included), rounded up. */
function targetDurationOf(window: HlsWindow): number {
  const longest = Math.max(
    window.profile.segmentTargetS,
    window.dvr?.longestS ?? 0,
    ...window.segments.map((s) => s.durationS),
  );
  return Math.ceil(longest);
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}
