// One HLS viewer of the load generator over one keep-alive connection. LL-HLS (RFC 8216bis 6.2.5):
// blocking playlist reloads for the next part, as hls.js does, each part fetched once in order.
// Plain HLS (RFC 8216 6.3.4): polls the playlist, starts 3 segments from the end, fetches each once.
import type { SentFrame } from './publisher.ts';
import { HttpConnection, type ResponseHandler } from './http-connection.ts';
import {
  comparePart,
  llStartIndex,
  resolvePath,
  scanPlaylist,
  scanPlaylistAfter,
  type ListedPart,
  type PlaylistScan,
} from './hls-playlist-scan.ts';
import { HlsViewerStats } from './hls-viewer-stats.ts';
import {
  fmp4VideoTrack,
  moofEnd,
  moofTrackTiming,
  tsFirstVideoDts,
  type VideoTrackInfo,
} from './media-timing.ts';
import type { LoadViewer } from './rtmp-viewer.ts';
import type { LoadContext } from './viewer-stats.ts';

/** Plain HLS viewers start this many segments from the end of the playlist (hls.js, Safari). */
export const PLAIN_START_SEGMENTS = 3;
/** A request unanswered this long fails (blocking reloads are held up to 6 s by onair). */
const REQUEST_TIMEOUT_MS = 15_000;
/** Wait before asking again after a failed playlist request. */
const RETRY_MS = 500;
/** Bytes kept from the start of a media body to read its timestamps. */
const MAX_MEDIA_HEAD_BYTES = 64 * 1024;
/** Playlists larger than this are refused. */
const MAX_PLAYLIST_BYTES = 1024 * 1024;
/** MPEG-TS bytes scanned for the first video PES. */
const TS_HEAD_BYTES = 16 * 1024;

/** One file to fetch. */
interface MediaItem {
  readonly kind: 'init' | 'part' | 'segment';
  readonly path: string;
  readonly durationS: number;
  /** Fetched as it appeared (not part of the join): its delivery latency is measured. */
  readonly live: boolean;
}

/** The next plain HLS poll: target duration after a change, half of it otherwise (RFC 8216 6.3.4). */
export function plainPollDelayMs(options: {
  targetDurationS: number;
  changed: boolean;
  loadStartedAtMs: number;
  nowMs: number;
}): number {
  const intervalMs = (options.changed ? 1 : 0.5) * options.targetDurationS * 1000;
  return Math.max(50, intervalMs - (options.nowMs - options.loadStartedAtMs));
}

/**
 * Asks for a playlist until it lists media (onair starts segmenting a stream at its first playlist
 * request; nginx-rtmp writes it after the first fragment). Rejects after `timeoutMs`.
 */
export async function waitForPlaylist(url: string, timeoutMs: number): Promise<void> {
  const target = new URL(url);
  const conn = new HttpConnection({ host: target.hostname, port: Number(target.port || 80) });
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const text = await new Promise<string | null>((done) => {
        const pieces: Buffer[] = [];
        conn.request(
          `${target.pathname}${target.search}`,
          {
            onBody: (piece) => pieces.push(Buffer.from(piece)),
            onEnd: (status, error) => {
              done(
                status === 200 && error === null ? Buffer.concat(pieces).toString('latin1') : null,
              );
            },
          },
          Date.now(),
        );
      });
      if (text !== null) {
        const scan = scanPlaylist(text);
        if (scan.segments.length > 0 || scan.parts.length > 0) return;
      }
      await new Promise((wake) => setTimeout(wake, 250));
    }
  } finally {
    conn.close();
  }
  throw new Error(`no playable playlist at ${url} within ${timeoutMs} ms`);
}

/** Plays an HLS or LL-HLS playlist URL. */
export class HlsViewer implements LoadViewer {
  readonly stats: HlsViewerStats;
  readonly #ctx: LoadContext;
  readonly #conn: HttpConnection;
  readonly #playlistPath: string;
  readonly #queue: MediaItem[] = [];
  #joined = false;
  #targetDurationS = 2;
  #canSkip = false;
  #ended = false;
  #video: VideoTrackInfo | null = null;
  /** LL-HLS: the last part listed (fetched or queued) and the next one to ask for. */
  #lastPart: ListedPart | null = null;
  #next = { msn: 0, part: 0 };
  /** Plain HLS: the next segment to fetch, the last one listed, and whether that changed. */
  #nextMsn: number | null = null;
  #lastListedMsn = -1;
  #changed = true;
  #loadStartedAtMs = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;

  constructor(options: { index: number; url: string; ctx: LoadContext }) {
    this.stats = new HlsViewerStats(options.index, options.ctx);
    this.#ctx = options.ctx;
    const url = new URL(options.url);
    this.#conn = new HttpConnection({ host: url.hostname, port: Number(url.port || 80) });
    this.#playlistPath = `${url.pathname}${url.search}`;
  }

  get localPort(): number {
    return this.#conn.localPort;
  }

  start(): void {
    this.stats.connecting();
    this.#loadPlaylist(null);
  }

  stop(): void {
    this.stats.finish(null);
    this.#close();
  }

  tick(nowMs: number): void {
    this.#conn.checkTimeout(nowMs, REQUEST_TIMEOUT_MS);
  }

  #close(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.stats.connects = this.#conn.connects;
    this.#conn.close();
  }

  #later(delayMs: number, action: () => void): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#stopped) action();
    }, delayMs);
  }

  /** Playlist request; `query` holds the LL-HLS delivery directives. */
  #loadPlaylist(query: string | null): void {
    let text = '';
    let bytes = 0;
    const blocking = query !== null;
    this.#loadStartedAtMs = this.#ctx.now();
    const path =
      query === null
        ? this.#playlistPath
        : `${this.#playlistPath}${this.#playlistPath.includes('?') ? '&' : '?'}${query}`;
    const handler: ResponseHandler = {
      onBody: (piece) => {
        bytes += piece.length;
        if (bytes <= MAX_PLAYLIST_BYTES) text += piece.toString('latin1');
      },
      onEnd: (status, error) => {
        if (this.#stopped) return;
        const stats = this.stats;
        stats.answered(true, bytes, this.#ctx.now());
        if (blocking) stats.blockingPlaylists++;
        if (error !== null || status !== 200 || bytes > MAX_PLAYLIST_BYTES) {
          stats.failedRequests++;
          this.#ctx.noteError(`hls playlist: ${error ?? `HTTP ${status}`}`);
          this.#later(RETRY_MS, () => {
            this.#loadPlaylist(query);
          });
          return;
        }
        this.#onPlaylist(text, blocking);
      },
    };
    this.#conn.request(path, handler, this.#loadStartedAtMs);
  }

  #onPlaylist(text: string, blocking: boolean): void {
    if (!this.#joined) {
      const scan = scanPlaylist(text);
      if (scan.segments.length === 0 && scan.parts.length === 0) {
        this.#later(RETRY_MS, () => {
          this.#loadPlaylist(null);
        });
        return;
      }
      this.#joined = true;
      this.#targetDurationS = scan.targetDurationS ?? this.#targetDurationS;
      this.#canSkip = scan.canSkipUntilS !== null && scan.canSkipUntilS > 0;
      const ll = scan.partTargetS !== null && scan.canBlockReload && scan.parts.length > 0;
      this.stats.mode = ll ? 'll-hls' : 'hls';
      if (scan.mapUri !== null) this.#enqueue('init', scan.mapUri, 0, false);
      if (ll) this.#joinLl(scan);
      else this.#plainUpdate(scan);
    } else if (this.stats.mode === 'll-hls') {
      this.#llUpdate(text, blocking);
    } else {
      this.#plainUpdate(scanPlaylist(text));
    }
    this.#pump();
  }

  #enqueue(kind: MediaItem['kind'], uri: string, durationS: number, live: boolean): void {
    this.#queue.push({ kind, path: resolvePath(this.#playlistPath, uri), durationS, live });
  }

  /** LL-HLS join: from the independent part PART-HOLD-BACK behind the live edge. */
  #joinLl(scan: PlaylistScan): void {
    const holdBackS = scan.partHoldBackS ?? 3 * (scan.partTargetS ?? 0);
    const from = llStartIndex(scan.parts, holdBackS);
    for (const part of scan.parts.slice(from))
      this.#enqueue('part', part.uri, part.durationS, false);
    this.#lastPart = scan.parts.at(-1) ?? null;
    this.#next = scan.next;
    this.#ended = scan.endList;
  }

  /** A blocking reload answered: queue the parts after the last one known, in order. */
  #llUpdate(text: string, blocking: boolean): void {
    const last = this.#lastPart;
    let scan = last === null ? null : scanPlaylistAfter(text, last);
    let parts = scan?.parts ?? [];
    if (scan === null) {
      // Our last part is not listed any more (we fell behind, or the stream restarted).
      scan = scanPlaylist(text);
      parts = last === null ? scan.parts : scan.parts.filter((p) => comparePart(p, last) > 0);
      const first = parts[0];
      if (
        first !== undefined &&
        comparePart(first, { msn: this.#next.msn, index: this.#next.part }) > 0
      ) {
        this.stats.skippedMs += 1000 * (scan.partTargetS ?? 0); // at least one part lost
      }
    }
    for (const part of parts) this.#enqueue('part', part.uri, part.durationS, blocking);
    this.#lastPart = parts.at(-1) ?? this.#lastPart;
    this.#next = scan.next;
    this.#ended = scan.endList;
  }

  /** Plain HLS: queue the segments not fetched yet (3 from the end at the first load). */
  #plainUpdate(scan: PlaylistScan): void {
    const segments = scan.segments;
    const first = segments[0];
    this.#ended = scan.endList;
    if (first === undefined) return;
    this.#targetDurationS = scan.targetDurationS ?? this.#targetDurationS;
    const lastMsn = segments.at(-1)?.msn ?? -1;
    this.#changed = lastMsn !== this.#lastListedMsn;
    this.#lastListedMsn = lastMsn;
    const joining = this.#nextMsn === null;
    let nextMsn = this.#nextMsn ?? Math.max(first.msn, lastMsn - PLAIN_START_SEGMENTS + 1);
    if (nextMsn < first.msn) {
      // Fell behind the sliding window: that media is lost.
      this.stats.skippedMs += (first.msn - nextMsn) * 1000 * this.#targetDurationS;
      nextMsn = first.msn;
    }
    for (const segment of segments) {
      if (segment.msn < nextMsn) continue;
      this.#enqueue('segment', segment.uri, segment.durationS, !joining);
      nextMsn = segment.msn + 1;
    }
    this.#nextMsn = nextMsn;
  }

  /** Fetches the next queued file, or asks for the next playlist. */
  #pump(): void {
    if (this.#stopped || this.#conn.busy) return;
    const item = this.#queue.shift();
    if (item !== undefined) {
      this.#fetch(item);
      return;
    }
    if (this.#ended) {
      this.stats.finish('hls: stream ended');
      this.#close();
      return;
    }
    if (this.stats.mode === 'll-hls') {
      const skip = this.#canSkip ? '&_HLS_skip=YES' : '';
      this.#loadPlaylist(`_HLS_msn=${this.#next.msn}&_HLS_part=${this.#next.part}${skip}`);
      return;
    }
    const delayMs = plainPollDelayMs({
      targetDurationS: this.#targetDurationS,
      changed: this.#changed,
      loadStartedAtMs: this.#loadStartedAtMs,
      nowMs: this.#ctx.now(),
    });
    this.#later(delayMs, () => {
      this.#loadPlaylist(null);
    });
  }

  #fetch(item: MediaItem): void {
    const ctx = this.#ctx;
    const stats = this.stats;
    /** Bytes kept from the start until its timestamps are read (init: the whole of it). */
    let head: Buffer | null = null;
    let done = false;
    let sent: SentFrame | undefined;
    const handler: ResponseHandler = {
      onBody: (piece) => {
        stats.countBytes(piece.length, ctx.now());
        if (done) return;
        // Most bodies bring their moof or first PES in the first read: no copy then.
        const view = head === null ? piece : Buffer.concat([head, piece]);
        if (item.kind !== 'init') {
          const found = this.#timing(item, view, false);
          if (found !== null) {
            done = true;
            sent = found === false ? undefined : found;
            head = null;
            return;
          }
        }
        head = view === piece ? Buffer.from(piece) : view;
        if (head.length > MAX_MEDIA_HEAD_BYTES) {
          done = true;
          head = null;
        }
      },
      onEnd: (status, error) => {
        if (this.#stopped) return;
        const nowMs = ctx.now();
        stats.answered(false, 0, nowMs);
        if (error !== null || status !== 200) {
          stats.failedRequests++;
          ctx.noteError(`hls ${item.kind}: ${error ?? `HTTP ${status}`}`);
          if (item.kind === 'init') {
            this.#queue.unshift(item);
            this.#later(RETRY_MS, () => {
              this.#pump();
            });
            return;
          }
        } else if (item.kind === 'init') {
          this.#video = head === null ? null : fmp4VideoTrack(head);
        } else {
          if (!done && head !== null) {
            const found = this.#timing(item, head, true);
            sent = found === null || found === false ? undefined : found;
          }
          if (item.kind === 'part') stats.parts++;
          else stats.segments++;
          stats.played(item.durationS, nowMs);
          if (item.live) stats.delivered(sent, nowMs);
        }
        this.#pump();
      },
    };
    this.#conn.request(item.path, handler, ctx.now());
  }

  /**
   * The send-log frame a media body is timed by: a part's last video frame, a segment's first
   * keyframe. Null: more bytes needed; false: none.
   */
  #timing(item: MediaItem, head: Buffer, complete: boolean): SentFrame | false | null {
    const log = this.#ctx.sendLog;
    if (head[0] === 0x47) {
      const dts = tsFirstVideoDts(head);
      if (dts === null) return complete || head.length >= TS_HEAD_BYTES ? false : null;
      // TS timestamps carry the muxer's offset (onair +1000 ms, nginx-rtmp its own): the keyframe
      // that starts the segment is the latest one at or before its first DTS.
      const dtsMs = Math.round(dts / 90);
      const keyframe = log.keyframeAtOrBefore(dtsMs);
      if (keyframe === undefined) return false;
      this.stats.tsOffsetMs = dtsMs - keyframe.timestampMs;
      return keyframe;
    }
    const end = moofEnd(head);
    if (end === null || end > head.length) return complete ? false : null;
    const video = this.#video;
    if (video === null) return false;
    const timing = moofTrackTiming(head, video.trackId);
    if (timing === null) return false;
    const dts = item.kind === 'part' ? timing.lastDts : timing.firstDts;
    return log.get(Math.round((dts * 1000) / video.timescale)) ?? false;
  }
}
