// What an HLS request names and how it is answered, apart from the handler's state: URL
// parsing, the request kinds counted, Cache-Control of playlists, and lookups in a window.
import type { HlsWindow } from './hls-window.ts';

/** A parsed HLS request target. */
export type HlsTarget =
  | { readonly kind: 'playlist'; readonly path: string; readonly prefix: string }
  | { readonly kind: 'init'; readonly path: string; readonly id: string; readonly version: number }
  | {
      readonly kind: 'media';
      readonly path: string;
      readonly id: string;
      readonly msn: number;
      readonly part: number | null;
      readonly container: 'fmp4' | 'mpegts';
    };

/** What an HLS request asks for: the kinds of `onair_hls_requests_total` (metrics.ts). */
export type HlsRequestKind = 'playlist' | 'blocking_playlist' | 'part' | 'segment' | 'init';

const MEDIA_FILE = /^([0-9a-f]{8})-(?:init(\d{1,9})\.mp4|(\d{1,12})(?:\.(\d{1,6}))?\.(m4s|ts))$/;

/** Parses an HLS URL path, or returns null when it is not an HLS URL. */
export function parseHlsTarget(path: string): HlsTarget | null {
  if (path.endsWith('/index.m3u8')) {
    return { kind: 'playlist', path: path.slice(1, -'/index.m3u8'.length), prefix: '' };
  }
  if (path.endsWith('.m3u8')) {
    const streamPath = path.slice(1, -'.m3u8'.length);
    const name = streamPath.slice(streamPath.lastIndexOf('/') + 1);
    return { kind: 'playlist', path: streamPath, prefix: `${name}/` };
  }
  const slash = path.lastIndexOf('/');
  const match = MEDIA_FILE.exec(path.slice(slash + 1));
  if (slash <= 0 || match === null) return null;
  const streamPath = path.slice(1, slash);
  const [, id = '', version, msn, part, ext] = match;
  if (version !== undefined)
    return { kind: 'init', path: streamPath, id, version: Number(version) };
  return {
    kind: 'media',
    path: streamPath,
    id,
    msn: Number(msn),
    part: part === undefined ? null : Number(part),
    container: ext === 'ts' ? 'mpegts' : 'fmp4',
  };
}

/**
 * Cache-Control of a playlist. A blocking reload names its msn/part (and skip) in the URL, so a
 * cache may keep its answer as long as a player may ask for it (6 target durations). A plain
 * reload must never be older than a part, and max-age counts whole seconds: no-cache with parts,
 * half a segment target (1 s) without. An answer to a request with an Authorization header is
 * never for a shared cache, which would hand it to viewers without the header (RFC 9111 3.5).
 */
export function playlistCacheControl(options: {
  readonly blocking: boolean;
  readonly partTargetS: number | null;
  readonly segmentTargetS: number;
  readonly authorized: boolean;
}): string {
  const scope = options.authorized ? 'private' : 'public';
  if (options.blocking) return `${scope}, max-age=${6 * options.segmentTargetS}`;
  if (options.partTargetS !== null) return options.authorized ? 'private, no-cache' : 'no-cache';
  return `${scope}, max-age=${Math.max(1, Math.floor(options.segmentTargetS / 2))}`;
}

/** The kind of an HLS request, for the request counters. */
export function requestKind(target: HlsTarget, search: URLSearchParams): HlsRequestKind {
  if (target.kind === 'playlist') {
    return search.has('_HLS_msn') ? 'blocking_playlist' : 'playlist';
  }
  if (target.kind === 'init') return 'init';
  return target.part === null ? 'segment' : 'part';
}

/**
 * True once the playlist has a complete segment: players that ignore parts (ffmpeg, older
 * players) need one, and LL-HLS players lose at most one segment target of start-up.
 */
export function playlistReady(segmenter: HlsWindow): boolean {
  return segmenter.segments.length > 0;
}

/**
 * Whether the playlist already holds segment `msn` (complete) or, with `part`, that part of it
 * (a part past the end of a complete segment means part 0 of the next one; RFC 8216bis 6.2.5.2).
 */
export function hasPart(segmenter: HlsWindow, msn: number, part: number | undefined): boolean {
  if (msn < segmenter.mediaSequence) return true;
  const complete = segmenter.segments.find((s) => s.msn === msn);
  if (complete) {
    if (part === undefined || part < complete.parts.length) return true;
    return hasPart(segmenter, msn + 1, 0);
  }
  const current = segmenter.current;
  if (current === null || current.msn !== msn || part === undefined) return false;
  return part < current.parts.length;
}

/** The bytes of a complete segment, or of one part, or null. */
export function findMedia(segmenter: HlsWindow, msn: number, part: number | null): Buffer | null {
  const segment =
    segmenter.current?.msn === msn
      ? segmenter.current
      : segmenter.segments.find((s) => s.msn === msn);
  if (segment === undefined) return null;
  if (part === null) return segment.bytes;
  return segment.parts[part]?.bytes ?? null;
}
