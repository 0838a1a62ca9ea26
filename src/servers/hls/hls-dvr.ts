// HlsDvr: the DVR window of one stream. Segments that leave the in-memory HLS window
// (hls-window.ts) are written here, one file each, and stay listed in the live playlist until
// the playlist covers more than hls.dvrWindowS, so a viewer can rewind and come back to live.
// Writes are asynchronous and one at a time; until a segment is on disk its bytes stay in memory,
// and those are bounded: past maxPendingBytes (a disk slower than the stream) the oldest go.
// The window must stay contiguous with the memory window, so losing a segment (a failed write,
// the pending bound) drops it and every older one.
import { mkdir, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HlsSegmentEntry } from './hls-window.ts';

/** One segment on disk (or on its way there). */
export interface DvrSegment {
  readonly msn: number;
  readonly durationS: number;
  readonly programDateTimeMs: number;
  readonly discontinuity: boolean;
  readonly initVersion: number;
  readonly byteLength: number;
}

interface Kept extends DvrSegment {
  /** The bytes until they are written. */
  pending: Buffer | null;
  /** Set when the segment left the window: its file goes once written. */
  dropped: boolean;
}

/** What a DVR window is made with. */
export interface HlsDvrOptions {
  /** The folder of this window's files (created on the first write, removed by close()). */
  readonly dir: string;
  /** Seconds the playlist covers, memory window included. */
  readonly windowS: number;
  /** Bytes on disk at most; the oldest segments go first. */
  readonly maxBytes: number;
  /** Bytes waiting to be written at most. */
  readonly maxPendingBytes: number;
  /** Segment file extension ('m4s' or 'ts'). */
  readonly extension: string;
  /** A write or delete failed, or segments were lost: logged by the owner. */
  readonly onProblem: (problem: { reason: string; error?: unknown; lost?: number }) => void;
  /** The window changed (segments added or dropped): the owner re-renders its playlists. */
  readonly onChange: () => void;
}

/** Init segments kept at most (one per codec configuration of the window). */
const MAX_INITS = 64;

/** Disk reads of one window running at once; past it a request is answered 503. */
export const MAX_DVR_READS = 32;

/** The DVR window of one stream: segments older than the memory window, on disk. */
export class HlsDvr {
  readonly #options: HlsDvrOptions;
  readonly #segments: Kept[] = [];
  readonly #inits = new Map<number, Buffer>();
  readonly #reads = new Map<number, Promise<Buffer | null>>();
  #bytes = 0;
  #pendingBytes = 0;
  #durationS = 0;
  #longestS = 0;
  #droppedDiscontinuities = 0;
  #writing = false;
  #dirMade = false;
  #closed = false;
  /** Resolves when the write loop has nothing left to do. */
  #idle: Promise<void> = Promise.resolve();
  /** Segments written since the window started (for tests and metrics). */
  written = 0;

  constructor(options: HlsDvrOptions) {
    this.#options = options;
  }

  /** Segments of the DVR window, oldest first; all older than the memory window's. */
  get segments(): readonly DvrSegment[] {
    return this.#segments;
  }

  /** Discontinuities that left the playlist from here (EXT-X-DISCONTINUITY-SEQUENCE). */
  get droppedDiscontinuities(): number {
    return this.#droppedDiscontinuities;
  }

  /** The longest segment in the window (TARGETDURATION covers it). */
  get longestS(): number {
    return this.#longestS;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps init segment `version` while a segment of the window needs it. */
  keepInit(version: number, bytes: Buffer | null): void {
    if (bytes === null) return;
    this.#inits.set(version, bytes);
    // A publisher that changes its codec settings over and over: keep the newest.
    if (this.#inits.size > MAX_INITS) this.#inits.delete(Math.min(...this.#inits.keys()));
  }

  init(version: number): Buffer | null {
    return this.#inits.get(version) ?? null;
  }

  /** Takes a segment that left the memory window (the newest of the DVR window). */
  add(segment: HlsSegmentEntry): void {
    if (this.#closed || segment.bytes === null) return;
    const kept: Kept = {
      msn: segment.msn,
      durationS: segment.durationS,
      programDateTimeMs: segment.programDateTimeMs,
      discontinuity: segment.discontinuity,
      initVersion: segment.initVersion,
      byteLength: segment.bytes.length,
      pending: segment.bytes,
      dropped: false,
    };
    this.#segments.push(kept);
    this.#bytes += kept.byteLength;
    this.#pendingBytes += kept.byteLength;
    this.#durationS += kept.durationS;
    if (kept.durationS > this.#longestS) this.#longestS = kept.durationS;
    let lost = 0;
    while (this.#pendingBytes > this.#options.maxPendingBytes && this.#segments.length > 0) {
      lost += this.#dropOldest();
    }
    if (lost > 0) this.#options.onProblem({ reason: 'disk-slower-than-stream', lost });
    this.#pump();
  }

  /** Drops the oldest segments until the playlist (with `memoryS` in memory) fits the window. */
  trim(memoryS: number): void {
    let changed = false;
    while (
      this.#segments.length > 0 &&
      (this.#durationS + memoryS - (this.#segments[0] as Kept).durationS >= this.#options.windowS ||
        this.#bytes > this.#options.maxBytes)
    ) {
      this.#dropOldest();
      changed = true;
    }
    if (changed) this.#options.onChange();
  }

  /** The bytes of segment `msn` if it is in the window (from memory or disk), else null. */
  read(msn: number): Buffer | Promise<Buffer | null> | null | 'busy' {
    const segment = this.#find(msn);
    if (segment === undefined) return null;
    if (segment.pending !== null) return segment.pending;
    const running = this.#reads.get(msn);
    if (running) return running;
    if (this.#reads.size >= MAX_DVR_READS) return 'busy';
    const read = readFile(this.#file(msn)).then(
      (bytes) => (this.#find(msn) === undefined ? null : bytes),
      () => null, // deleted in the meantime (left the window)
    );
    this.#reads.set(msn, read);
    void read.finally(() => this.#reads.delete(msn));
    return read;
  }

  /** Whether segment `msn` is in the DVR window. */
  has(msn: number): boolean {
    return this.#find(msn) !== undefined;
  }

  /** Stops writing and removes the window's files. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const segment of this.#segments) segment.dropped = true;
    this.#segments.length = 0;
    this.#inits.clear();
    await this.#idle;
    await rm(this.#options.dir, { recursive: true, force: true }).catch((error: unknown) => {
      this.#options.onProblem({ reason: 'remove-failed', error });
    });
  }

  /** Resolves once every queued write (and delete) is done (for tests). */
  settled(): Promise<void> {
    return this.#idle;
  }

  #find(msn: number): Kept | undefined {
    const first = this.#segments[0];
    if (first === undefined) return undefined;
    // msns are consecutive from the first (segments only ever leave from the oldest end).
    const segment = this.#segments[msn - first.msn];
    return segment?.msn === msn ? segment : undefined;
  }

  /** Removes the oldest segment; returns 1 when it had not reached the disk yet. */
  #dropOldest(): number {
    const dropped = this.#segments.shift();
    if (dropped === undefined) return 0;
    dropped.dropped = true;
    this.#bytes -= dropped.byteLength;
    this.#durationS -= dropped.durationS;
    if (dropped.discontinuity) this.#droppedDiscontinuities++;
    // Init versions only grow: those older than the oldest segment's are needed no more.
    const oldest = this.#segments[0]?.initVersion ?? dropped.initVersion + 1;
    for (const version of this.#inits.keys()) if (version < oldest) this.#inits.delete(version);
    if (this.#segments.length === 0) this.#durationS = 0; // no drift from float sums
    if (dropped.pending !== null) {
      this.#pendingBytes -= dropped.byteLength;
      dropped.pending = null;
      return 1;
    }
    this.#remove(dropped.msn);
    return 0;
  }

  #file(msn: number): string {
    return join(this.#options.dir, `${msn}.${this.#options.extension}`);
  }

  #remove(msn: number): void {
    const previous = this.#idle;
    this.#idle = previous.then(() =>
      unlink(this.#file(msn)).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.#options.onProblem({ reason: 'delete-failed', error });
        }
      }),
    );
  }

  /** Starts the write loop unless it runs. */
  #pump(): void {
    if (this.#writing) return;
    this.#writing = true;
    const previous = this.#idle;
    this.#idle = previous.then(() => this.#writeAll()).finally(() => (this.#writing = false));
  }

  async #writeAll(): Promise<void> {
    for (;;) {
      const next = this.#segments.find((segment) => segment.pending !== null);
      if (next === undefined || this.#closed) return;
      const bytes = next.pending as Buffer;
      try {
        if (!this.#dirMade) {
          await mkdir(this.#options.dir, { recursive: true });
          this.#dirMade = true;
        }
        await writeFile(this.#file(next.msn), bytes);
      } catch (error) {
        // That segment is lost, and with it every older one (the window stays contiguous).
        let lost = 0;
        while (this.#segments.length > 0 && (this.#segments[0] as Kept).msn <= next.msn) {
          lost += this.#dropOldest();
        }
        this.#options.onProblem({ reason: 'write-failed', error, lost });
        this.#options.onChange();
        continue;
      }
      if (next.pending !== null) {
        next.pending = null;
        this.#pendingBytes -= next.byteLength;
      }
      this.written++;
      if (next.dropped) await unlink(this.#file(next.msn)).catch(() => undefined);
    }
  }
}

/** Removes the DVR folders (`<root>/<pid>/`) of processes that are gone. */
export async function removeStaleDvrFolders(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (pid === process.pid || alive(pid)) continue;
    await rm(join(root, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
