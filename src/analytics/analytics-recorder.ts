// AnalyticsRecorder: feeds a running server into the AnalyticsStore: every ended session, a
// sample of every stream on each 10 s boundary, and an hourly prune. It never throws into the
// server: failures go to onError.
//
// Ended sessions are queued and written in batches, one transaction each: a synchronous SQLite
// commit per session made the end of 10,000 HLS sessions stall the event loop for most of a
// second. The queue is bounded (a burst beyond it is dropped and counted, never buffered
// without limit), a batch is written at most `flushMs` after its first row, one batch per
// event-loop turn, and stop() writes whatever is left.
import type { IngestFigures } from '../hub/ingest-stats.ts';
import type { Session, SessionEnd, SessionRegistry } from '../hub/session-registry.ts';
import {
  SAMPLE_STEP_MS,
  type AnalyticsStore,
  type SessionRecord,
  type StreamSample,
} from './analytics-store.ts';

const PRUNE_EVERY_MS = 3_600_000;
/** Ended sessions waiting to be written, at most (a few hundred bytes each). */
export const MAX_PENDING_SESSIONS = 50_000;
/** Rows per transaction: a few ms of one core, so one batch never stalls the loop for long
 * (with WAL and synchronous=NORMAL a commit does not wait for the disk, so small is cheap). */
export const SESSION_BATCH = 200;
/** An ended session is written this long after it ends, at most (plus the batches before it). */
export const SESSION_FLUSH_MS = 1_000;

/** Options of AnalyticsRecorder. */
export interface AnalyticsRecorderOptions {
  readonly store: AnalyticsStore;
  readonly sessions: SessionRegistry;
  /** The streams now (the composition root reads the hub and the registry; see sampleStreams()). */
  readonly sample: () => StreamSample[];
  /** Sampling period, a multiple of 10 s (10 s). */
  readonly intervalMs?: number;
  /** Wall clock in ms (tests give a fake one). */
  readonly now?: () => number;
  /** Told of every failed write or sample (the recorder itself goes on). */
  readonly onError?: (error: unknown) => void;
  /** Ended sessions queued at most; more are dropped and counted (MAX_PENDING_SESSIONS). */
  readonly maxPending?: number;
  /** Rows per transaction (SESSION_BATCH). */
  readonly batchSize?: number;
  /** Delay from the first queued row to its batch's write, ms (SESSION_FLUSH_MS). */
  readonly flushMs?: number;
  /** Told how many ended sessions were dropped since it was last told (at most once a flush). */
  readonly onDrop?: (dropped: number) => void;
}

/** Records sessions as they end and samples streams on a timer, once started. */
export class AnalyticsRecorder {
  readonly #store: AnalyticsStore;
  readonly #sessions: SessionRegistry;
  readonly #sample: () => StreamSample[];
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #maxPending: number;
  readonly #batchSize: number;
  readonly #flushMs: number;
  readonly #onDrop: (dropped: number) => void;
  #unsubscribe: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastPruneMs = Number.NEGATIVE_INFINITY;
  /** Ended sessions not written yet, oldest first; `#head` is the first one still pending. */
  #pending: SessionRecord[] = [];
  #head = 0;
  #flushTimer: NodeJS.Timeout | null = null;
  #flushNext: NodeJS.Immediate | null = null;
  #dropped = 0;
  #droppedReported = 0;

  constructor(options: AnalyticsRecorderOptions) {
    const intervalMs = options.intervalMs ?? SAMPLE_STEP_MS;
    if (!Number.isInteger(intervalMs) || intervalMs <= 0 || intervalMs % SAMPLE_STEP_MS !== 0) {
      throw new RangeError(`AnalyticsRecorder: intervalMs must be a multiple of ${SAMPLE_STEP_MS}`);
    }
    this.#store = options.store;
    this.#sessions = options.sessions;
    this.#sample = options.sample;
    this.#intervalMs = intervalMs;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? (() => undefined);
    this.#maxPending = positive(options.maxPending ?? MAX_PENDING_SESSIONS, 'maxPending');
    this.#batchSize = positive(options.batchSize ?? SESSION_BATCH, 'batchSize');
    this.#flushMs = positive(options.flushMs ?? SESSION_FLUSH_MS, 'flushMs');
    this.#onDrop = options.onDrop ?? (() => undefined);
  }

  /** Ended sessions queued and not written yet. */
  get pending(): number {
    return this.#pending.length - this.#head;
  }

  /** Ended sessions never written because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Subscribes to the session registry and starts the sampling timer (idempotent). */
  start(): void {
    if (this.#unsubscribe !== null) return;
    this.#unsubscribe = this.#sessions.subscribe({
      removed: (session, end) => {
        this.#guard(() => {
          this.record(session, end);
        });
      },
    });
    this.#schedule();
  }

  /** Stops listening and sampling, and writes every queued session before returning. Sessions
   * still open are not recorded (they are when they end, and on shutdown the server removes
   * them before stopping the recorder). */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.flush();
  }

  /** Writes every queued session now, a transaction per batch; never throws. */
  flush(): void {
    this.#cancelFlush();
    while (this.pending > 0) this.#writeBatch();
    this.#reportDrops();
  }

  /** Samples every stream now (and prunes when the last prune is an hour old); never throws. */
  tick(): void {
    const now = this.#now();
    this.#guard(() => {
      this.#store.recordSamples(now, this.#sample());
    });
    if (now - this.#lastPruneMs >= PRUNE_EVERY_MS) {
      this.#lastPruneMs = now;
      this.#guard(() => this.#store.prune());
    }
  }

  /** Queues one ended session (what the registry listener does); dropped and counted when the
   * queue is full. */
  record(session: Session, end: SessionEnd): void {
    if (this.pending >= this.#maxPending) {
      this.#dropped++;
      return;
    }
    this.#pending.push({
      id: session.id,
      stream: session.path,
      role: session.role,
      protocol: session.protocol,
      startedMs: session.since,
      endedMs: Math.max(session.since, this.#now()),
      bytes: end.bytes,
      ip: session.ip,
      userAgent: session.userAgent,
      droppedFrames: end.droppedFrames,
      reason: end.reason,
    });
    // One timer per drain: while batches are being written, they pick the new rows up.
    if (this.#flushTimer === null && this.#flushNext === null) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = null;
        this.#reportDrops();
        this.#flushStep();
      }, this.#flushMs).unref();
    }
  }

  #reportDrops(): void {
    const dropped = this.#dropped - this.#droppedReported;
    if (dropped === 0) return;
    this.#droppedReported = this.#dropped;
    this.#guard(() => {
      this.#onDrop(dropped);
    });
  }

  /** One batch now; the next one on the next turn of the event loop, so I/O runs in between. */
  #flushStep(): void {
    this.#flushNext = null;
    this.#writeBatch();
    if (this.pending > 0) {
      this.#flushNext = setImmediate(() => {
        this.#flushStep();
      });
      this.#flushNext.unref();
    }
  }

  /** Writes (or on failure, reports and forgets) the oldest batch. */
  #writeBatch(): void {
    if (this.pending === 0) return;
    const end = Math.min(this.#pending.length, this.#head + this.#batchSize);
    const batch = this.#pending.slice(this.#head, end);
    this.#head = end;
    if (this.#head === this.#pending.length) {
      this.#pending = [];
      this.#head = 0;
    } else if (this.#head >= this.#batchSize * 8) {
      // Drop the written prefix now and then, so the array does not keep it (amortized O(1)).
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    this.#guard(() => {
      this.#store.recordSessions(batch);
    });
  }

  #cancelFlush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#flushNext !== null) clearImmediate(this.#flushNext);
    this.#flushNext = null;
  }

  /** Arms the timer for the next interval boundary of the wall clock. */
  #schedule(): void {
    const delay = this.#intervalMs - (this.#now() % this.#intervalMs);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.tick();
      if (this.#unsubscribe !== null) this.#schedule();
    }, delay);
    this.#timer.unref();
  }

  #guard(write: () => unknown): void {
    try {
      write();
    } catch (error) {
      try {
        this.#onError(error);
      } catch {
        // the error handler's own failure must not reach the server either
      }
    }
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RangeError(`AnalyticsRecorder: ${name} must be a positive integer`);
  }
  return value;
}

/** What sampleStreams() reads of a hub Stream (structural, so this layer needs no StreamHub). */
export interface SampledStream {
  readonly path: string;
  /** The live publisher, or null (idle, or in its reconnect grace period). */
  readonly publisher: unknown;
  readonly ingest: { figures(): IngestFigures };
}

/**
 * The sample of every stream: viewers (total and by protocol) from the sessions, ingest rate
 * and frame rate from the stream while it has a publisher. Streams with viewers but no entry in
 * `streams` are sampled too (viewers waiting for a publisher).
 */
export function sampleStreams(
  streams: Iterable<SampledStream>,
  sessions: Iterable<Pick<Session, 'role' | 'path' | 'protocol'>>,
): StreamSample[] {
  const viewers = new Map<string, Map<string, number>>();
  for (const session of sessions) {
    if (session.role !== 'viewer') continue;
    let byProtocol = viewers.get(session.path);
    if (byProtocol === undefined) {
      byProtocol = new Map();
      viewers.set(session.path, byProtocol);
    }
    byProtocol.set(session.protocol, (byProtocol.get(session.protocol) ?? 0) + 1);
  }
  const samples: StreamSample[] = [];
  const seen = new Set<string>();
  const add = (path: string, figures: IngestFigures | null): void => {
    seen.add(path);
    const byProtocol = viewers.get(path) ?? new Map<string, number>();
    let total = 0;
    for (const n of byProtocol.values()) total += n;
    samples.push({
      stream: path,
      viewers: total,
      viewersByProtocol: Object.fromEntries(byProtocol),
      ingestKbps: figures?.kbps5s ?? null,
      fps: figures?.fps ?? null,
    });
  };
  for (const stream of streams) {
    add(stream.path, stream.publisher === null ? null : stream.ingest.figures());
  }
  for (const path of viewers.keys()) if (!seen.has(path)) add(path, null);
  return samples;
}
