// Recordings: which streams are recorded (recording.enabled, streams.<path>.record, the API),
// one StreamRecorder per recorded stream as a sink of its fMP4 fragmenter, the catalogue,
// retention (age and size caps, oldest first) and the free-space guard. Live delivery never
// waits for any of it: a full or slow disk stops recording, with a log line, a metric and the
// reason in the API, and the stream goes on.
import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { RecordingConfig, StreamsConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import type { Stream } from '../hub/stream.ts';
import {
  acquireFragments,
  type FragmentsLease,
  type FragmentsRequest,
} from '../hub/fragmenters.ts';
import { RecordingCatalogue } from './catalogue.ts';
import type { RecordingInfo } from './recording-info.ts';
import type { WriteBudget } from './recording-writer.ts';
import { StreamRecorder, type LiveRecording } from './stream-recorder.ts';

/** What Recordings is built from. */
export interface RecordingsOptions {
  readonly config: RecordingConfig;
  readonly streams: StreamsConfig;
  readonly dataDir: string;
  readonly hub: StreamHub;
  readonly logger: Logger;
  /** The fMP4 cuts to record a stream with (its HLS profile's when that is fMP4: shared bytes). */
  readonly fragments: (path: string) => FragmentsRequest;
  /** A file was completed (the on_record hook). */
  readonly onRecord?: (info: RecordingInfo) => void;
  readonly now?: () => number;
}

/** Why recording stopped, when it did without being asked to. */
export type RecordingError = 'disk-full' | 'queue-overflow' | 'write-failed';

/** Whether a stream is recorded, and what is being written. */
export interface RecordingState {
  readonly enabled: boolean;
  /** A file is being written now. */
  readonly recording: boolean;
  readonly current?: RecordingInfo;
  readonly error?: RecordingError;
}

interface Active {
  readonly stream: Stream;
  readonly recorder: StreamRecorder;
  readonly lease: FragmentsLease;
}

/** How often free space is checked while something records. */
const DISK_CHECK_MS = 5_000;
/** How often retention runs (also after every file closed). */
const RETENTION_MS = 60_000;
const DAY_MS = 86_400_000;

/** See the file comment. */
export class Recordings {
  readonly catalogue: RecordingCatalogue;
  readonly #options: RecordingsOptions;
  readonly #logger: Logger;
  readonly #active = new Map<string, Active>();
  /** API overrides of the configured choice, by stream path (kept until restart). */
  readonly #overrides = new Map<string, boolean>();
  readonly #errors = new Map<string, RecordingError>();
  readonly #budget: WriteBudget;
  readonly #unsubscribe: (() => void)[] = [];
  #diskFull = false;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  #retention: Promise<void> | null = null;
  /** Files of stopped recorders still being finished (close() waits for them). */
  readonly #settling = new Set<Promise<void>>();
  /** For metrics. */
  readonly counters = { bytesWritten: 0, filesClosed: 0, writeErrors: 0, deleted: 0 };

  constructor(options: RecordingsOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'recording' });
    this.catalogue = new RecordingCatalogue(join(options.dataDir, 'recordings'), this.#logger);
    this.#budget = { maxBytes: options.config.maxQueuedBytes, queuedBytes: 0 };
  }

  /** Files being written now. */
  get filesOpen(): number {
    let open = 0;
    for (const active of this.#active.values()) if (active.recorder.current) open++;
    return open;
  }

  /** Bytes waiting for the disk. */
  get queuedBytes(): number {
    return this.#budget.queuedBytes;
  }

  /** Bytes written to recording files so far (closed files, and what is on disk of open ones). */
  get bytesWritten(): number {
    let bytes = this.counters.bytesWritten;
    for (const active of this.#active.values()) bytes += active.recorder.current?.written ?? 0;
    return bytes;
  }

  get diskFull(): boolean {
    return this.#diskFull;
  }

  /** Loads the catalogue and starts recording streams as they are published. */
  async start(): Promise<void> {
    await mkdir(this.catalogue.root, { recursive: true });
    await this.catalogue.load();
    const { events } = this.#options.hub;
    this.#unsubscribe.push(
      events.on('published', (event) => {
        this.#maybeStart(event.stream, event.publisher.onYield !== undefined);
      }),
      events.on('resumed', (event) => {
        this.#maybeStart(event.stream, event.publisher.onYield !== undefined);
      }),
      events.on('ended', (event) => {
        this.#stop(event.stream.path, event.stream);
      }),
    );
    const disk = setInterval(() => void this.#checkDisk(), DISK_CHECK_MS);
    const retention = setInterval(() => void this.enforceRetention(), RETENTION_MS);
    disk.unref();
    retention.unref();
    this.#timers = [disk, retention];
    await this.#checkDisk();
    await this.enforceRetention();
    // Streams already live (a restart of the recorder, not of the server) are picked up too.
    for (const stream of this.#options.hub.list()) {
      if (stream.publisher) this.#maybeStart(stream, stream.publisher.info.onYield !== undefined);
    }
  }

  /** Whether `path` is to be recorded (API choice, else streams.<path>.record, else enabled). */
  enabled(path: string): boolean {
    return (
      this.#overrides.get(path) ??
      this.#options.streams[path]?.record ??
      this.#options.config.enabled
    );
  }

  /** Starts or stops recording `path` now (and for its later publishes, until restart). */
  async setEnabled(path: string, enabled: boolean): Promise<RecordingState> {
    this.#overrides.set(path, enabled);
    this.#errors.delete(path);
    if (enabled) {
      const stream = this.#options.hub.get(path);
      if (stream?.publisher) {
        await this.#checkDisk();
        this.#maybeStart(stream, false);
      }
    } else {
      const active = this.#active.get(path);
      this.#stop(path);
      await active?.recorder.settled();
    }
    return this.state(path);
  }

  state(path: string): RecordingState {
    const current = this.#active.get(path)?.recorder.current?.info;
    const error = this.#errors.get(path);
    return {
      enabled: this.enabled(path),
      recording: current !== undefined,
      ...(current ? { current } : {}),
      ...(error ? { error } : {}),
    };
  }

  /** Finishes every open file (shutdown); resolves when all are complete on disk. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const off of this.#unsubscribe) off();
    for (const path of [...this.#active.keys()]) this.#stop(path);
    await Promise.all([...this.#settling]);
    await this.#retention;
  }

  /** Deletes what the age and size caps no longer allow, oldest first. */
  enforceRetention(): Promise<void> {
    this.#retention ??= this.#runRetention().finally(() => {
      this.#retention = null;
    });
    return this.#retention;
  }

  async #runRetention(): Promise<void> {
    const { maxAgeDays, maxBytes, maxBytesPerStream } = this.#options.config;
    if (maxAgeDays === 0 && maxBytes === 0 && maxBytesPerStream === 0) return;
    const now = (this.#options.now ?? Date.now)();
    const all = this.catalogue.list();
    const doomed = new Set<RecordingInfo>();
    if (maxAgeDays > 0) {
      for (const info of all) if (info.endMs < now - maxAgeDays * DAY_MS) doomed.add(info);
    }
    const overCap = (infos: RecordingInfo[], cap: number): void => {
      let total = 0;
      for (const info of infos) if (!doomed.has(info)) total += info.bytes;
      for (const info of infos) {
        if (total <= cap) break;
        if (doomed.has(info) || this.catalogue.isLive(info.id)) continue;
        doomed.add(info);
        total -= info.bytes;
      }
    };
    if (maxBytesPerStream > 0) {
      const byStream = new Map<string, RecordingInfo[]>();
      for (const info of all)
        byStream.set(info.stream, [...(byStream.get(info.stream) ?? []), info]);
      for (const infos of byStream.values()) overCap(infos, maxBytesPerStream);
    }
    if (maxBytes > 0) overCap(all, maxBytes);
    for (const info of doomed) {
      if (this.catalogue.isLive(info.id)) continue;
      try {
        if (await this.catalogue.delete(info.id)) {
          this.counters.deleted++;
          this.#logger.info(
            { file: info.file, bytes: info.bytes },
            'recording deleted by retention',
          );
        }
      } catch (error) {
        this.#logger.warn({ err: error, file: info.file }, 'recording not deleted');
      }
    }
  }

  #maybeStart(stream: Stream, isPull: boolean): void {
    const path = stream.path;
    if (this.#closed || isPull || !this.enabled(path)) return;
    const active = this.#active.get(path);
    if (active?.stream === stream && active.recorder.current !== null) return;
    if (active) this.#stop(path);
    if (this.#diskFull) {
      this.#errors.set(path, 'disk-full');
      return;
    }
    const recorder = new StreamRecorder({
      stream: path,
      root: this.catalogue.root,
      segmentMinutes: this.#options.config.segmentMinutes,
      budget: this.#budget,
      taken: (file) => this.catalogue.has(file),
      onFileOpened: (file) => {
        this.catalogue.opened(file);
        this.#logger.info({ stream: path, file: file.info.file }, 'recording started');
      },
      onFileClosed: (file, error) => {
        this.#fileClosed(file, error);
      },
      onWriteError: (error) => {
        this.counters.writeErrors++;
        this.#errors.set(path, error.code);
        this.#logger.error(
          { stream: path, err: error, reason: error.code },
          'recording stopped: live delivery goes on',
        );
        if (this.#active.get(path)?.recorder === recorder) this.#stop(path);
      },
    });
    const lease = acquireFragments(
      stream,
      {
        ...this.#options.fragments(path),
        onSinkError: (error) => {
          this.counters.writeErrors++;
          this.#logger.error(
            { err: error, stream: path },
            'recording stopped: live delivery goes on',
          );
          if (this.#active.get(path)?.recorder === recorder) this.#stop(path);
        },
      },
      recorder,
    );
    this.#active.set(path, { stream, recorder, lease });
    this.#errors.delete(path);
  }

  #stop(path: string, stream?: Stream): void {
    const active = this.#active.get(path);
    if (active === undefined || (stream !== undefined && active.stream !== stream)) return;
    this.#active.delete(path);
    active.recorder.stop();
    active.lease.release();
    const settled = active.recorder.settled().finally(() => {
      this.#settling.delete(settled);
    });
    this.#settling.add(settled);
  }

  #fileClosed(file: LiveRecording, error: unknown): void {
    this.catalogue.closed(file);
    this.counters.filesClosed++;
    this.counters.bytesWritten += file.info.bytes;
    if (error) {
      this.#logger.error({ err: error, file: file.info.file }, 'recording file not completed');
      return;
    }
    this.#logger.info(
      {
        stream: file.info.stream,
        file: file.info.file,
        durationMs: Math.round(file.info.durationMs),
        bytes: file.info.bytes,
      },
      'recording file completed',
    );
    this.#options.onRecord?.(file.info);
    void this.enforceRetention();
  }

  /** Stops every recording when free space is under recording.minFreeBytes. */
  async #checkDisk(): Promise<void> {
    const { minFreeBytes } = this.#options.config;
    if (minFreeBytes === 0) return;
    let free: number;
    try {
      const stats = await statfs(this.catalogue.root);
      free = stats.bavail * stats.bsize;
    } catch (error) {
      this.#logger.warn({ err: error }, 'free space of the recordings folder unknown');
      return;
    }
    const full = free < minFreeBytes;
    if (full && !this.#diskFull) {
      this.#logger.error(
        { freeBytes: free, minFreeBytes, reason: 'disk-full' },
        'recording stopped: the disk is nearly full; live delivery goes on',
      );
      this.counters.writeErrors++;
      for (const path of [...this.#active.keys()]) {
        this.#errors.set(path, 'disk-full');
        this.#stop(path);
      }
      this.#diskFull = true;
    } else if (!full && this.#diskFull) {
      this.#diskFull = false;
      this.#logger.info({ freeBytes: free }, 'recording resumes: free space is back');
      for (const stream of this.#options.hub.list()) {
        if (stream.publisher) this.#maybeStart(stream, stream.publisher.info.onYield !== undefined);
      }
    }
  }
}
