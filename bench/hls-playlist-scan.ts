// The HLS viewers' playlist reader: the tags a player model needs (RFC 8216 4.3, RFC 8216bis 4.4.3
// and 4.4.4 for LL-HLS parts, skips and server control), read in one pass, from the start or after a part.

/** One EXT-X-PART, numbered like `_HLS_msn` / `_HLS_part` (RFC 8216bis 6.2.5.2). */
export interface ListedPart {
  readonly msn: number;
  readonly index: number;
  /** The URI exactly as the playlist writes it (relative to the playlist). */
  readonly uri: string;
  readonly durationS: number;
  readonly independent: boolean;
}

/** One complete segment (EXTINF + URI). */
export interface ListedSegment {
  readonly msn: number;
  readonly uri: string;
  readonly durationS: number;
}

/** What one scan found. Header fields stay at their defaults in a scan that starts after a part. */
export interface PlaylistScan {
  readonly targetDurationS: number | null;
  readonly partTargetS: number | null;
  readonly canBlockReload: boolean;
  readonly canSkipUntilS: number | null;
  readonly partHoldBackS: number | null;
  /** The last EXT-X-MAP URI. */
  readonly mapUri: string | null;
  readonly endList: boolean;
  readonly segments: readonly ListedSegment[];
  readonly parts: readonly ListedPart[];
  /** What a blocking reload asks for next: the part after the last listed part or segment. */
  readonly next: { readonly msn: number; readonly part: number };
}

type Mutable = { -readonly [K in keyof PlaylistScan]: PlaylistScan[K] };

/** The value of attribute `name` in an attribute list (RFC 8216 4.2), without quotes, or null. */
export function attributeValue(line: string, name: string): string | null {
  let at = line.indexOf(':') + 1;
  while (at > 0 && at < line.length) {
    const eq = line.indexOf('=', at);
    if (eq < 0) return null;
    const key = line.slice(at, eq);
    let end: number;
    let value: string;
    if (line.charCodeAt(eq + 1) === 0x22) {
      const close = line.indexOf('"', eq + 2);
      if (close < 0) return null;
      value = line.slice(eq + 2, close);
      end = close + 1;
    } else {
      const comma = line.indexOf(',', eq + 1);
      end = comma < 0 ? line.length : comma;
      value = line.slice(eq + 1, end);
    }
    if (key === name) return value;
    at = end + 1; // past the comma
  }
  return null;
}

function decimalOrNull(text: string | null): number | null {
  if (text === null) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/**
 * Reads lines from `from` to the end; `msn`/`part` number the first part met (EXT-X-MEDIA-SEQUENCE
 * and EXT-X-SKIP renumber it in a full scan).
 */
function scan(text: string, from: number, msn: number, part: number): PlaylistScan {
  const out: Mutable = {
    targetDurationS: null,
    partTargetS: null,
    canBlockReload: false,
    canSkipUntilS: null,
    partHoldBackS: null,
    mapUri: null,
    endList: false,
    segments: [],
    parts: [],
    next: { msn, part },
  };
  const segments: ListedSegment[] = [];
  const parts: ListedPart[] = [];
  let durationS = 0;
  let pos = from;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const lineEnd = end > pos && text.charCodeAt(end - 1) === 0x0d ? end - 1 : end;
    const line = text.slice(pos, lineEnd);
    pos = end + 1;
    if (line.length === 0) continue;
    if (line.charCodeAt(0) !== 0x23) {
      segments.push({ msn, uri: line.trim(), durationS });
      msn++;
      part = 0;
      durationS = 0;
    } else if (line.startsWith('#EXT-X-PART:')) {
      const uri = attributeValue(line, 'URI');
      if (uri !== null) {
        parts.push({
          msn,
          index: part++,
          uri,
          durationS: decimalOrNull(attributeValue(line, 'DURATION')) ?? 0,
          independent: attributeValue(line, 'INDEPENDENT') === 'YES',
        });
      }
    } else if (line.startsWith('#EXTINF:')) {
      durationS = Number.parseFloat(line.slice(8)) || 0;
    } else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      msn = Number.parseInt(line.slice(22), 10) || 0;
    } else if (line.startsWith('#EXT-X-SKIP:')) {
      msn += Number(attributeValue(line, 'SKIPPED-SEGMENTS') ?? 0) || 0;
    } else if (line.startsWith('#EXT-X-TARGETDURATION:')) {
      out.targetDurationS = decimalOrNull(line.slice(22));
    } else if (line.startsWith('#EXT-X-PART-INF:')) {
      out.partTargetS = decimalOrNull(attributeValue(line, 'PART-TARGET'));
    } else if (line.startsWith('#EXT-X-SERVER-CONTROL:')) {
      out.canBlockReload = attributeValue(line, 'CAN-BLOCK-RELOAD') === 'YES';
      out.canSkipUntilS = decimalOrNull(attributeValue(line, 'CAN-SKIP-UNTIL'));
      out.partHoldBackS = decimalOrNull(attributeValue(line, 'PART-HOLD-BACK'));
    } else if (line.startsWith('#EXT-X-MAP:')) {
      out.mapUri = attributeValue(line, 'URI');
    } else if (line.startsWith('#EXT-X-ENDLIST')) {
      out.endList = true;
    }
  }
  out.segments = segments;
  out.parts = parts;
  out.next = { msn, part };
  return out;
}

/** Scans a whole media playlist. */
export function scanPlaylist(text: string): PlaylistScan {
  return scan(text, 0, 0, 0);
}

/**
 * Scans only the lines after `after` (a part this viewer already knows), numbering from it: the
 * cheap path of a blocking reload, which usually adds one part at the end. Returns null when the
 * part is not in the playlist (then scan all of it).
 */
export function scanPlaylistAfter(text: string, after: ListedPart): PlaylistScan | null {
  const at = text.lastIndexOf(`URI="${after.uri}"`);
  if (at < 0) return null;
  const lineStart = text.lastIndexOf('\n', at) + 1;
  if (!text.startsWith('#EXT-X-PART:', lineStart)) return null;
  const end = text.indexOf('\n', at);
  return scan(text, end < 0 ? text.length : end + 1, after.msn, after.index + 1);
}

/** Orders parts by (msn, index). */
export function comparePart(
  a: { readonly msn: number; readonly index: number },
  b: { readonly msn: number; readonly index: number },
): number {
  return a.msn !== b.msn ? a.msn - b.msn : a.index - b.index;
}

/**
 * Where a viewer joining an LL-HLS playlist starts: the latest independent part with at least
 * `holdBackS` of media from its start to the live edge (a player starts PART-HOLD-BACK behind the
 * edge, on a part it can decode alone), else the earliest independent part, else the first part.
 * Returns an index into `parts`, or -1 when there are none.
 */
export function llStartIndex(parts: readonly ListedPart[], holdBackS: number): number {
  let mediaS = 0;
  let earliestIndependent = -1;
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i];
    if (part === undefined) continue;
    mediaS += part.durationS;
    if (!part.independent) continue;
    if (mediaS >= holdBackS - 1e-6) return i;
    earliestIndependent = i;
  }
  return earliestIndependent >= 0 ? earliestIndependent : parts.length > 0 ? 0 : -1;
}

/** The request path of `uri` relative to the playlist at `playlistPath` (RFC 3986 5.2, common cases). */
export function resolvePath(playlistPath: string, uri: string): string {
  if (uri.startsWith('/')) return uri;
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    const url = new URL(uri);
    return `${url.pathname}${url.search}`;
  }
  const query = playlistPath.indexOf('?');
  const path = query < 0 ? playlistPath : playlistPath.slice(0, query);
  return `${path.slice(0, path.lastIndexOf('/') + 1)}${uri}`;
}
