// HLS playlist writer: media playlists with Low-Latency HLS (parts, preload hints, delta updates),
// multivariant playlists, and the blocking-reload query. RFC 8216 and draft-pantos-hls-rfc8216bis
// sections 4.4 (tags), 6.2.2 (live playlists), 6.2.5 (delivery directives), 8 (versions).

/** One partial segment (4.4.4.9 EXT-X-PART). */
export interface HlsPart {
  readonly uri: string;
  readonly durationS: number;
  /** The part starts with an independent frame (INDEPENDENT=YES). */
  readonly independent: boolean;
}

/** One complete media segment, in playback order. */
export interface HlsSegment {
  readonly uri: string;
  /** EXTINF; rounded to the nearest integer it must not exceed the target duration (4.4.3.1). */
  readonly durationS: number;
  /** Wall-clock time of the first sample (4.4.4.6 EXT-X-PROGRAM-DATE-TIME), ms since the epoch. */
  readonly programDateTimeMs?: number;
  /** EXT-X-DISCONTINUITY before this segment. */
  readonly discontinuity?: boolean;
  /** Parts of this segment; listed only while the segment is near the live edge (6.2.2). */
  readonly parts?: readonly HlsPart[];
  /** Initialization section; EXT-X-MAP is written when it differs from the previous one. */
  readonly mapUri?: string;
}

/** The Parent Segment being produced (not a part): its parts so far and the tags that open it,
 * listed after the last complete segment, without EXTINF or URI line. */
export interface HlsPartialSegment {
  readonly parts: readonly HlsPart[];
  readonly programDateTimeMs?: number;
  readonly discontinuity?: boolean;
  readonly mapUri?: string;
}

/** What a media playlist lists. Values that the spec bounds from below are raised to the bound. */
export interface MediaPlaylist {
  /** An integer; a fraction is rounded up. */
  readonly targetDurationS: number;
  readonly mediaSequence: number;
  readonly discontinuitySequence: number;
  readonly segments: readonly HlsSegment[];
  /** Low-Latency HLS when set: parts, `partialSegment` and the preload hint are written. */
  readonly partTargetS?: number;
  readonly partialSegment?: HlsPartialSegment;
  /** PART-HOLD-BACK >= 3 x part target (default), HOLD-BACK >= 3 x and CAN-SKIP-UNTIL >= 6 x target. */
  readonly serverControl?: {
    readonly canBlockReload: boolean;
    readonly partHoldBackS?: number;
    readonly canSkipUntilS?: number;
    readonly holdBackS?: number;
  };
  /** The next part (EXT-X-PRELOAD-HINT TYPE=PART); dropped with EXT-X-ENDLIST. */
  readonly preloadHint?: { readonly uri: string };
  readonly renditionReports?: readonly { uri: string; lastMsn: number; lastPart?: number }[];
  readonly independentSegments?: boolean;
  readonly endList?: boolean;
}

/** Options of `encodeMediaPlaylist()`. */
export interface EncodeMediaPlaylistOptions {
  /** `_HLS_skip=YES` or `v2`: a Playlist Delta Update (6.2.5.1), if CAN-SKIP-UNTIL is advertised. */
  readonly deltaUpdate?: boolean;
}

/** One variant stream of a multivariant playlist (4.4.6.2 EXT-X-STREAM-INF). */
export interface HlsVariant {
  readonly uri: string;
  /** Peak bits per second (of any segment). */
  readonly bandwidth: number;
  /** Average bits per second (AVERAGE-BANDWIDTH), when known. */
  readonly averageBandwidth?: number;
  readonly codecs: string;
  readonly resolution?: { width: number; height: number };
  readonly frameRate?: number;
  /** The GROUP-ID of the audio renditions it plays with (AUDIO), when audio is apart. */
  readonly audio?: string;
}

/** An audio rendition (EXT-X-MEDIA TYPE=AUDIO) that variants name by its group id. */
export interface HlsAudioRendition {
  readonly groupId: string;
  readonly name: string;
  readonly uri: string;
  /** Channel count (CHANNELS), when known. */
  readonly channels?: number;
}

/** The delivery directives of a playlist request (6.2.5). */
export interface HlsQuery {
  readonly msn?: number;
  readonly part?: number;
  readonly skip: 'YES' | 'v2' | null;
}

/** Decimals of every decimal-floating-point value written (the spec's examples use 5). */
const DECIMALS = 5;
const SCALE = 10 ** DECIMALS;
/** Absorbs binary fractions near a decimal boundary: 0.3 * 1e5 is 30000.000000000004. */
const EPSILON = 1e-6;
/** 4.4.3.8: HOLD-BACK MUST be at least three Target Durations. */
const HOLD_BACK_TARGETS = 3;
/** 4.4.3.8: PART-HOLD-BACK SHOULD be at least three Part Target Durations. */
const PART_HOLD_BACK_PARTS = 3;
/** 4.4.3.8: the Skip Boundary MUST be at least six Target Durations. */
const SKIP_BOUNDARY_TARGETS = 6;
/** 6.2.2: EXT-X-PART tags SHOULD go once more than three Target Durations from the end. */
const PART_RETENTION_TARGETS = 3;
/** Section 8: decimal EXTINF needs 3, EXT-X-MAP (without I-FRAMES-ONLY) 6, EXT-X-SKIP 9. */
const VERSION_BASE = 3;
const VERSION_MAP = 6;
const VERSION_SKIP = 9;
/** ECMAScript time value range; `new Date()` beyond it is invalid. */
const MAX_TIME_MS = 8.64e15;
/** Quotes, spaces and control characters, and a leading '#': they would end a quoted string or
 * a line, or turn a URI line into a comment. Written percent-encoded. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE_TEXT = /[\u0000-\u0020"\u007f-\u009f]|^#/;
// eslint-disable-next-line no-control-regex -- the same, global for replace()
const UNSAFE_TEXT_ALL = /[\u0000-\u0020"\u007f-\u009f]|^#/g;
const DECIMAL_INTEGER = /^[0-9]{1,16}$/;

function nonNegative(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

function decimal(value: number): string {
  return nonNegative(value).toFixed(DECIMALS);
}

/** The smallest written value >= `value`, for lower bounds (hold backs, skip boundary). */
function decimalUp(value: number): string {
  return (Math.ceil(nonNegative(value) * SCALE - EPSILON) / SCALE).toFixed(DECIMALS);
}

/** EXTINF that rounds to the same integer as `durationS`: 5.499996 is written 5.49999, not 5.50000. */
function extinf(durationS: number): string {
  const value = nonNegative(durationS);
  const text = value.toFixed(DECIMALS);
  const rounded = Math.round(value);
  return Math.round(Number(text)) > rounded ? (rounded + 0.5 - 1 / SCALE).toFixed(DECIMALS) : text;
}

function safeText(text: string): string {
  return UNSAFE_TEXT.test(text) ? text.replace(UNSAFE_TEXT_ALL, encodeURIComponent) : text;
}

function dateTime(ms: number): string | undefined {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS
    ? new Date(ms).toISOString()
    : undefined;
}

function integer(value: number): number {
  return Number.isFinite(value) && value > 0 ? Math.floor(value) : 0;
}

/** Segments whose end is further than `boundaryS` from the end of the last one (6.2.5.1). */
function countSkipped(segments: readonly HlsSegment[], boundaryS: number): number {
  let distanceS = 0;
  for (let i = segments.length - 1; i >= 0; i--) {
    if (distanceS > boundaryS) return i + 1;
    distanceS += nonNegative(segments[i]?.durationS ?? 0);
  }
  return 0;
}

/** Index of the oldest segment that starts within `windowS` of the playlist end (6.2.2). */
function firstSegmentWithParts(
  segments: readonly HlsSegment[],
  pendingS: number,
  windowS: number,
): number {
  let distanceS = pendingS;
  for (let i = segments.length - 1; i >= 0; i--) {
    distanceS += nonNegative(segments[i]?.durationS ?? 0);
    if (distanceS > windowS) return i + 1;
  }
  return 0;
}

function pushParts(lines: string[], parts: readonly HlsPart[]): void {
  for (const part of parts) {
    const independent = part.independent ? ',INDEPENDENT=YES' : '';
    lines.push(
      `#EXT-X-PART:DURATION=${decimal(part.durationS)},URI="${safeText(part.uri)}"${independent}`,
    );
  }
}

function serverControlLine(playlist: MediaPlaylist, targetS: number, partTarget?: string): string {
  const control = playlist.serverControl;
  const attributes: string[] = [];
  if (control?.canBlockReload === true) attributes.push('CAN-BLOCK-RELOAD=YES');
  if (control?.canSkipUntilS !== undefined) {
    const boundaryS = Math.max(control.canSkipUntilS, SKIP_BOUNDARY_TARGETS * targetS);
    attributes.push(`CAN-SKIP-UNTIL=${decimalUp(boundaryS)}`);
  }
  if (control?.holdBackS !== undefined) {
    const holdBackS = Math.max(control.holdBackS, HOLD_BACK_TARGETS * targetS);
    attributes.push(`HOLD-BACK=${decimalUp(holdBackS)}`);
  }
  if (partTarget !== undefined) {
    // Required with EXT-X-PART-INF; computed from the written PART-TARGET so the bound holds.
    const minimumS = PART_HOLD_BACK_PARTS * Number(partTarget);
    attributes.push(`PART-HOLD-BACK=${decimalUp(Math.max(control?.partHoldBackS ?? 0, minimumS))}`);
  }
  return `#EXT-X-SERVER-CONTROL:${attributes.join(',')}`;
}

/**
 * Writes a media playlist (RFC 8216bis 4.3, 4.4). Parts are written before their segment's EXTINF,
 * only for segments starting within three target durations of the end, and only when `partTargetS`
 * is set. With `skip` (and CAN-SKIP-UNTIL, and no EXT-X-ENDLIST) segments ending further than the
 * Skip Boundary from the end are replaced by EXT-X-SKIP; EXT-X-DISCONTINUITY-SEQUENCE counts their
 * discontinuities, and the first kept segment restates its EXT-X-MAP and, derived from the last
 * skipped one, its EXT-X-PROGRAM-DATE-TIME. EXT-X-VERSION is the least the tags written need.
 * URIs are written with quotes, spaces and control characters percent-encoded. Never throws.
 */
export function encodeMediaPlaylist(
  playlist: MediaPlaylist,
  options: EncodeMediaPlaylistOptions = {},
): string {
  const { segments } = playlist;
  const targetS = Math.max(1, Math.ceil(nonNegative(playlist.targetDurationS)));
  const lowLatency = nonNegative(playlist.partTargetS ?? 0) > 0;
  const partTarget = lowLatency ? decimal(playlist.partTargetS ?? 0) : undefined;
  const canSkipUntilS = playlist.serverControl?.canSkipUntilS;
  const skipped =
    options.deltaUpdate === true && canSkipUntilS !== undefined && playlist.endList !== true
      ? countSkipped(segments, Math.max(canSkipUntilS, SKIP_BOUNDARY_TARGETS * targetS))
      : 0;
  const hint = lowLatency && playlist.endList !== true ? playlist.preloadHint : undefined;
  // The pending segment's tags are written only with something after them: parts or the hint.
  const pending =
    lowLatency &&
    playlist.partialSegment !== undefined &&
    (playlist.partialSegment.parts.length > 0 || hint !== undefined)
      ? playlist.partialSegment
      : undefined;
  let pendingS = 0;
  for (const part of pending?.parts ?? []) pendingS += nonNegative(part.durationS);
  const firstWithParts = lowLatency
    ? firstSegmentWithParts(segments, pendingS, PART_RETENTION_TARGETS * targetS)
    : segments.length;

  let discontinuitySequence = integer(playlist.discontinuitySequence);
  let mapUri: string | undefined;
  let hasMap = pending?.mapUri !== undefined;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment?.mapUri !== undefined) hasMap = true;
    if (i >= skipped) continue;
    if (segment?.discontinuity === true) discontinuitySequence++;
    mapUri = segment?.mapUri ?? mapUri;
  }
  let version = hasMap ? VERSION_MAP : VERSION_BASE;
  if (skipped > 0) version = VERSION_SKIP;

  const lines = [
    '#EXTM3U',
    `#EXT-X-VERSION:${version}`,
    `#EXT-X-TARGETDURATION:${targetS}`,
    `#EXT-X-MEDIA-SEQUENCE:${integer(playlist.mediaSequence)}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuitySequence}`,
  ];
  if (playlist.independentSegments === true) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  if (playlist.serverControl !== undefined || partTarget !== undefined) {
    lines.push(serverControlLine(playlist, targetS, partTarget));
  }
  if (partTarget !== undefined) lines.push(`#EXT-X-PART-INF:PART-TARGET=${partTarget}`);

  // The first kept segment of a delta update carries the map and date the skipped ones set.
  let restatedMap = mapUri;
  mapUri = undefined;
  let derivedDateMs: number | undefined;
  if (skipped > 0) {
    lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skipped}`);
    let elapsedS = 0;
    for (let i = skipped - 1; i >= 0; i--) {
      const segment = segments[i];
      elapsedS += nonNegative(segment?.durationS ?? 0);
      if (segment?.programDateTimeMs !== undefined) {
        derivedDateMs = segment.programDateTimeMs + elapsedS * 1000;
        break;
      }
    }
  }

  const pushTags = (tags: HlsPartialSegment | HlsSegment): void => {
    if (tags.discontinuity === true) lines.push('#EXT-X-DISCONTINUITY');
    const map = tags.mapUri ?? restatedMap;
    restatedMap = undefined;
    if (map !== undefined && map !== mapUri) lines.push(`#EXT-X-MAP:URI="${safeText(map)}"`);
    mapUri = map ?? mapUri;
    const date = dateTime(tags.programDateTimeMs ?? derivedDateMs ?? Number.NaN);
    derivedDateMs = undefined;
    if (date !== undefined) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${date}`);
  };

  for (let i = skipped; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === undefined) continue;
    pushTags(segment);
    if (i >= firstWithParts && segment.parts !== undefined) pushParts(lines, segment.parts);
    lines.push(`#EXTINF:${extinf(segment.durationS)},`, safeText(segment.uri));
  }
  if (pending !== undefined) {
    pushTags(pending);
    pushParts(lines, pending.parts);
  }
  if (hint !== undefined) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${safeText(hint.uri)}"`);
  for (const report of playlist.renditionReports ?? []) {
    const lastPart = report.lastPart === undefined ? '' : `,LAST-PART=${integer(report.lastPart)}`;
    lines.push(
      `#EXT-X-RENDITION-REPORT:URI="${safeText(report.uri)}",LAST-MSN=${integer(report.lastMsn)}${lastPart}`,
    );
  }
  if (playlist.endList === true) lines.push('#EXT-X-ENDLIST');
  lines.push('');
  return lines.join('\n');
}

/**
 * Writes a multivariant playlist (RFC 8216bis 4.4.6.2): one EXT-X-STREAM-INF and URI per variant,
 * in the order given. CODECS is omitted when empty; FRAME-RATE has three decimals.
 */
export function encodeMultivariantPlaylist(
  variants: readonly HlsVariant[],
  audio: readonly HlsAudioRendition[] = [],
): string {
  const lines = ['#EXTM3U'];
  // A group's first rendition is its default: there is one language here.
  const defaults = new Set<string>();
  for (const rendition of audio) {
    const first = !defaults.has(rendition.groupId);
    defaults.add(rendition.groupId);
    const attributes = [
      'TYPE=AUDIO',
      `GROUP-ID="${safeText(rendition.groupId)}"`,
      `NAME="${safeText(rendition.name)}"`,
      `DEFAULT=${first ? 'YES' : 'NO'}`,
      'AUTOSELECT=YES',
    ];
    if (rendition.channels !== undefined && rendition.channels > 0) {
      attributes.push(`CHANNELS="${integer(rendition.channels)}"`);
    }
    attributes.push(`URI="${safeText(rendition.uri)}"`);
    lines.push(`#EXT-X-MEDIA:${attributes.join(',')}`);
  }
  for (const variant of variants) {
    const attributes = [`BANDWIDTH=${integer(Math.round(variant.bandwidth))}`];
    if (variant.averageBandwidth !== undefined) {
      attributes.push(`AVERAGE-BANDWIDTH=${integer(Math.round(variant.averageBandwidth))}`);
    }
    if (variant.codecs !== '') attributes.push(`CODECS="${safeText(variant.codecs)}"`);
    const { resolution, frameRate } = variant;
    if (resolution !== undefined) {
      attributes.push(`RESOLUTION=${integer(resolution.width)}x${integer(resolution.height)}`);
    }
    if (frameRate !== undefined) attributes.push(`FRAME-RATE=${nonNegative(frameRate).toFixed(3)}`);
    if (variant.audio !== undefined) attributes.push(`AUDIO="${safeText(variant.audio)}"`);
    lines.push(`#EXT-X-STREAM-INF:${attributes.join(',')}`, safeText(variant.uri));
  }
  lines.push('');
  return lines.join('\n');
}

function decimalInteger(search: URLSearchParams, name: string): number | undefined | string {
  const values = search.getAll(name);
  if (values.length === 0) return undefined;
  const [text] = values;
  if (values.length > 1 || text === undefined) return `${name} is given more than once`;
  const value = Number(text);
  if (!DECIMAL_INTEGER.test(text) || !Number.isSafeInteger(value)) {
    return `${name} must be a decimal integer from 0 to 2^53 - 1`;
  }
  return value;
}

/**
 * Parses the delivery directives of a playlist request (RFC 8216bis 6.2.5): `_HLS_msn`,
 * `_HLS_part` (decimal integers up to 2^53 - 1) and `_HLS_skip` (`YES` or `v2`). Returns `{ error }`
 * (the server answers 400) for a malformed or repeated value, or `_HLS_part` without `_HLS_msn`
 * (6.2.5.2). Whether the numbers are too far ahead of the playlist is for the caller to check.
 */
export function parseHlsQuery(search: URLSearchParams): HlsQuery | { error: string } {
  const msn = decimalInteger(search, '_HLS_msn');
  if (typeof msn === 'string') return { error: msn };
  const part = decimalInteger(search, '_HLS_part');
  if (typeof part === 'string') return { error: part };
  if (part !== undefined && msn === undefined) return { error: '_HLS_part without _HLS_msn' };
  const skipValues = search.getAll('_HLS_skip');
  const [skip] = skipValues;
  if (skipValues.length > 1) return { error: '_HLS_skip is given more than once' };
  if (skip !== undefined && skip !== 'YES' && skip !== 'v2') {
    return { error: '_HLS_skip must be YES or v2' };
  }
  return {
    ...(msn === undefined ? {} : { msn }),
    ...(part === undefined ? {} : { part }),
    skip: skip ?? null,
  };
}
