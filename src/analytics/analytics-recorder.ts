// AnalyticsRecorder: feeds a running server into the AnalyticsStore: every ended session, a
// sample of every stream on each 10 s boundary, and an hourly prune. It never throws into the
// server: failures go to onError.
import type { IngestFigures } from '../hub/ingest-stats.ts';
import type { Session, SessionEnd, SessionRegistry } from '../hub/session-registry.ts';
import { SAMPLE_STEP_MS, type AnalyticsStore, type StreamSample } from './analytics-store.ts';

const PRUNE_EVERY_MS = 3_600_000;

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
}

/** Records sessions as they end and samples streams on a timer, once started. */
export class AnalyticsRecorder {
  readonly #store: AnalyticsStore;
  readonly #sessions: SessionRegistry;
  readonly #sample: () => StreamSample[];
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #onError: (error: unknown) => void;
  #unsubscribe: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastPruneMs = Number.NEGATIVE_INFINITY;

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

  /** Stops listening and sampling. Sessions still open are not recorded (they are when they end,
   * and on shutdown the server removes them before stopping the recorder). */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
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

  /** Writes one ended session (what the registry listener does); throws on store failure. */
  record(session: Session, end: SessionEnd): void {
    this.#store.recordSession({
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
