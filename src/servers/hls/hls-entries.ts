// The HLS windows onair keeps: one entry per live stream asked for over HLS (and, for a ladder
// whose audio is apart, one per kind of track), each an HlsWindow fed by the stream's shared
// fragmenter, made on the first playlist request and dropped when nobody asked for a while.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { HlsConfig, StreamsConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Stream } from '../../hub/stream.ts';
import { acquireFragments, type FragmentsLease } from '../../hub/fragmenters.ts';
import { CutGrid } from '../../media/cut-grid.ts';
import { HlsDvr } from './hls-dvr.ts';
import { hlsProfile, type HlsProfile } from './hls-profile.ts';
import type { Carry } from './hls-variants.ts';
import { HlsWindow } from './hls-window.ts';

/** One stream's HLS state (one kind of its tracks, or all). */
export interface HlsEntry {
  readonly stream: Stream;
  /** Its key in the handler's table: the path, and the kind of track when it carries one. */
  readonly key: string;
  /** The one kind of track it carries (a variant of a ladder whose audio is apart), or null. */
  readonly carry: Carry | null;
  readonly segmenter: HlsWindow;
  /** The stream's fragmenter for this profile, shared with other sinks (the recorder). */
  leases: FragmentsLease[];
  /** The cuts this stream's fragmenter makes, which the entries of its renditions follow. */
  readonly grid: CutGrid;
  /** The entry of the ladder's source, when this is a rendition's (its cuts are that one's). */
  readonly follows: HlsEntry | null;
  readonly profile: HlsProfile;
  /** Prefix of every media file name, unique per entry so cached URLs never collide. */
  readonly id: string;
  readonly playlists: Map<string, Buffer>;
  /** The DVR window (segments older than the memory window, on disk), if the stream has one. */
  readonly dvr: HlsDvr | null;
  lastRequestMs: number;
  idleTimer: NodeJS.Timeout | null;
}

/** The entry of `path` carrying `carry` (null: every track). */
export function entryKey(path: string, carry: Carry | null): string {
  return carry === null ? path : `${path}#${carry}`;
}

/** What the table needs. */
export interface HlsEntriesOptions {
  readonly hub: StreamHub;
  readonly config: HlsConfig;
  readonly streams?: StreamsConfig;
  /** The configured profile (hls.profile); streams.<path>.hls.profile overrides it. */
  readonly profile: HlsProfile;
  /** This process's folder of DVR windows, or null for none. */
  readonly dvrDir: string | null;
  readonly logger: Logger;
  /** The source of a rendition path (whose cuts it follows), or null. */
  readonly sourceOf: (path: string) => string | null;
  /** A window changed: held requests may be answered now. */
  readonly onUpdate: () => void;
}

/** The HLS entries by key (entryKey). */
export class HlsEntries {
  readonly #options: HlsEntriesOptions;
  readonly #logger: Logger;
  readonly #entries = new Map<string, HlsEntry>();
  /** Parts and segments of windows already dropped, so the totals only grow. */
  readonly #madeByDropped = { parts: 0, segments: 0 };
  #lean = false;

  constructor(options: HlsEntriesOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  get(key: string): HlsEntry | undefined {
    return this.#entries.get(key);
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  values(): IterableIterator<HlsEntry> {
    return this.#entries.values();
  }

  /** Parts and segments made by every window, dropped ones too, and the streams segmented now. */
  made(): { parts: number; segments: number; streams: number } {
    let { parts, segments } = this.#madeByDropped;
    let streams = 0;
    for (const entry of this.#entries.values()) {
      parts += entry.segmenter.made.parts;
      segments += entry.segmenter.made.segments;
      if (entry.carry === null) streams++;
    }
    return { parts, segments, streams };
  }

  /** See HlsHandler.lean. */
  set lean(lean: boolean) {
    this.#lean = lean;
    for (const entry of this.#entries.values()) entry.segmenter.lean = lean;
  }

  /** Drops every entry (shutdown). */
  close(): void {
    for (const entry of [...this.#entries.values()]) this.drop(entry);
  }

  /** The DVR window of `path` in seconds (0: none). */
  dvrWindowS(path: string): number {
    // A rendition's window starts over when its ffmpeg restarts (see HlsWindow): no DVR.
    if (this.#options.dvrDir === null || this.#options.sourceOf(path) != null) return 0;
    return this.#options.streams?.[path]?.hls?.dvrWindowS ?? this.#options.config.dvrWindowS;
  }

  /** The entry of `path` whose media file names start with `id`. */
  withId(path: string, id: string): HlsEntry | undefined {
    for (const carry of [null, 'video', 'audio'] as const) {
      const entry = this.#entries.get(entryKey(path, carry));
      if (entry?.id === id) return entry;
    }
    return undefined;
  }

  /**
   * The entry of a live stream, created (and subscribed) on its first playlist request. One
   * carrying one kind of track is cut where the stream (or its ladder's source) is.
   */
  entryFor(path: string, carry: Carry | null = null): HlsEntry | undefined {
    const key = entryKey(path, carry);
    const existing = this.#entries.get(key);
    const stream = this.#options.hub.get(path);
    if (existing && (existing.stream === stream || stream?.publisher == null)) return existing;
    if (existing) this.drop(existing);
    if (stream?.publisher == null) return undefined; // unknown: a fast 404, no state
    // A rendition is cut where its source is, so the source's entry comes first.
    const sourcePath = this.#options.sourceOf(path) ?? (carry === null ? null : path);
    const source = sourcePath === null ? undefined : this.entryFor(sourcePath);
    if (source === undefined && carry !== null) return undefined;
    const id = randomBytes(4).toString('hex');
    const profileName = this.#options.streams?.[path]?.hls?.profile;
    const profile =
      source?.profile ??
      (profileName === undefined ? this.#options.profile : hlsProfile(profileName));
    const dvrWindowS = carry === null ? this.dvrWindowS(path) : 0;
    const dvr =
      dvrWindowS > 0 && this.#options.dvrDir !== null
        ? new HlsDvr({
            dir: join(this.#options.dvrDir, id),
            windowS: dvrWindowS,
            maxBytes: this.#options.config.dvrMaxBytes,
            maxPendingBytes: this.#options.config.maxWindowBytes,
            extension: profile.container === 'fmp4' ? 'm4s' : 'ts',
            onProblem: (problem) => {
              const { error, ...rest } = problem;
              this.#logger.warn({ err: error, stream: path, ...rest }, 'DVR window problem');
            },
            onChange: () => {
              entry.playlists.clear();
            },
          })
        : null;
    const entry: HlsEntry = {
      stream,
      key,
      carry,
      profile,
      id,
      dvr,
      playlists: new Map(),
      lastRequestMs: Date.now(),
      idleTimer: null,
      leases: [],
      grid: new CutGrid(),
      follows: source ?? null,
      segmenter: new HlsWindow({
        profile,
        windowSegments: this.#options.config.windowSegments,
        maxWindowBytes: this.#options.config.maxWindowBytes,
        onUpdate: () => {
          entry.playlists.clear();
          this.#options.onUpdate();
        },
        onClose: () => {
          // Keep the ended playlist (with EXT-X-ENDLIST) for players to see, then forget it.
          this.#scheduleIdle(entry, this.#options.config.idleTimeoutMs);
        },
        ...(dvr ? { dvr } : {}),
      }),
    };
    entry.segmenter.lean = this.#lean;
    this.#entries.set(key, entry);
    const request = {
      container: profile.container,
      // A rendition's cuts are its source's, not the profile's own: another fragmenter.
      cutName: [profile.name, ...(source ? [source.id] : []), ...(carry ? [carry] : [])].join('/'),
      cut: profile,
      ...(source ? { follow: source.grid } : {}),
      ...(carry ? { carry } : {}),
      onSinkError: (error: unknown) => {
        this.#logger.error({ err: error, stream: path }, 'HLS window failed');
      },
    };
    // Only the stream's own cuts are followed: one that carries a kind of track needs no grid.
    entry.leases = [
      ...(carry === null ? [acquireFragments(stream, request, entry.grid)] : []),
      acquireFragments(stream, request, entry.segmenter),
    ];
    this.#scheduleIdle(entry, this.#options.config.idleTimeoutMs);
    this.#logger.info(
      {
        stream: path,
        profile: profile.name,
        ...(carry ? { carry } : {}),
        ...(dvr ? { dvrWindowS } : {}),
      },
      'HLS segmenting started',
    );
    return entry;
  }

  #scheduleIdle(entry: HlsEntry, afterMs: number): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = null;
      const idleMs = Date.now() - entry.lastRequestMs;
      // A DVR window is kept while the stream is live, watched or not.
      const idle = idleMs >= this.#options.config.idleTimeoutMs && entry.dvr === null;
      if (idle || entry.segmenter.ended) this.drop(entry);
      else this.#scheduleIdle(entry, this.#options.config.idleTimeoutMs - idleMs);
    }, afterMs);
    entry.idleTimer.unref();
  }

  drop(entry: HlsEntry): void {
    if (entry.idleTimer) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
    if (this.#entries.get(entry.key) === entry) {
      this.#entries.delete(entry.key);
      this.#madeByDropped.parts += entry.segmenter.made.parts;
      this.#madeByDropped.segments += entry.segmenter.made.segments;
    }
    for (const lease of entry.leases.splice(0)) lease.release();
    // Renditions following this one's cuts would follow none: they start over with the next.
    for (const other of [...this.#entries.values()]) {
      if (other.follows === entry) this.drop(other);
    }
    void entry.dvr?.close();
    this.#logger.debug({ stream: entry.stream.path, carry: entry.carry }, 'HLS segmenting stopped');
  }
}
