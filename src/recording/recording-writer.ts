// RecordingWriter: appends to one file off the live path. Appends are queued synchronously and
// written in batches (one writev per batch) by an asynchronous loop, so a slow disk never holds
// up the publisher or a viewer; what waits is bounded by a budget shared by every recording.
import { open, mkdir, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Bytes waiting to be written, all recordings together; `maxBytes` bounds them. */
export interface WriteBudget {
  readonly maxBytes: number;
  queuedBytes: number;
}

/** Why a writer stopped. */
export class RecordingWriteError extends Error {
  readonly code: 'queue-overflow' | 'write-failed';
  constructor(code: 'queue-overflow' | 'write-failed', message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RecordingWriteError';
    this.code = code;
  }
}

/** A write at a fixed position, applied when the file is closed (durations in the header). */
export interface Patch {
  readonly offset: number;
  readonly bytes: Buffer;
}

/** writev takes at most IOV_MAX (1024 on Linux) buffers. */
const MAX_BATCH_BUFFERS = 1024;

/** Appends to one new file; see the file comment. */
export class RecordingWriter {
  readonly path: string;
  readonly #budget: WriteBudget;
  readonly #onError: (error: RecordingWriteError) => void;
  #handle: FileHandle | null = null;
  #queue: Buffer[] = [];
  #queuedBytes = 0;
  #writing = false;
  #failed: RecordingWriteError | null = null;
  #closing: Promise<void> | null = null;
  /** Bytes appended so far (queued or written). */
  #appended = 0;
  /** Bytes on disk (written; not necessarily synced). */
  #written = 0;
  #drained: (() => void) | null = null;
  readonly #opened: Promise<void>;

  constructor(path: string, budget: WriteBudget, onError: (error: RecordingWriteError) => void) {
    this.path = path;
    this.#budget = budget;
    this.#onError = onError;
    this.#opened = this.#open();
  }

  /** Bytes appended so far: the offset of the next append. */
  get size(): number {
    return this.#appended;
  }

  /** Bytes already written to the file (readers may read up to here). */
  get written(): number {
    return this.#written;
  }

  get failed(): RecordingWriteError | null {
    return this.#failed;
  }

  /** Queues `buffers` at the end of the file; false when the writer has failed (or fails now). */
  append(buffers: readonly Buffer[]): boolean {
    if (this.#failed || this.#closing) return false;
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    if (this.#budget.queuedBytes + bytes > this.#budget.maxBytes) {
      this.#fail(
        new RecordingWriteError(
          'queue-overflow',
          `the disk is slower than the recordings: over recording.maxQueuedBytes (${this.#budget.maxBytes} bytes) wait to be written`,
        ),
      );
      return false;
    }
    for (const buffer of buffers) this.#queue.push(buffer);
    this.#queuedBytes += bytes;
    this.#budget.queuedBytes += bytes;
    this.#appended += bytes;
    void this.#flush();
    return true;
  }

  /**
   * Writes what is queued, then `tail` (at the end) and `patches` (in place), syncs and closes.
   * Resolves when the file is complete on disk; rejects if it could not be finished.
   */
  close(tail: Buffer | null, patches: readonly Patch[]): Promise<void> {
    this.#closing ??= this.#finish(tail, patches);
    return this.#closing;
  }

  async #open(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      // 'wx': a recording never overwrites a file (names carry the start time).
      this.#handle = await open(this.path, 'wx', 0o644);
    } catch (error) {
      this.#fail(new RecordingWriteError('write-failed', `cannot create ${this.path}`, error));
      return;
    }
    void this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#writing || this.#handle === null || this.#failed) return;
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && this.failed === null) {
        const batch = this.#queue.splice(0, MAX_BATCH_BUFFERS);
        let bytes = 0;
        for (const buffer of batch) bytes += buffer.length;
        const { bytesWritten } = await this.#handle.writev(batch);
        if (bytesWritten !== bytes) {
          throw new Error(`short write: ${bytesWritten} of ${bytes} bytes`);
        }
        this.#written += bytes;
        // A writer that failed meanwhile gave its whole queue (this batch too) back already.
        if (this.#hasFailed()) break;
        this.#queuedBytes -= bytes;
        this.#budget.queuedBytes -= bytes;
      }
    } catch (error) {
      this.#fail(new RecordingWriteError('write-failed', `cannot write ${this.path}`, error));
    } finally {
      this.#writing = false;
    }
    if (this.#queue.length === 0) this.#drained?.();
  }

  async #finish(tail: Buffer | null, patches: readonly Patch[]): Promise<void> {
    await this.#opened;
    if (this.#queue.length > 0 || this.#writing) {
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        if (this.#failed) resolve();
      });
    }
    const handle = this.#handle;
    this.#handle = null;
    if (handle === null) throw this.#failed ?? new Error('not open');
    try {
      if (this.#failed) throw this.#failed;
      if (tail) {
        await handle.write(tail, 0, tail.length, this.#written);
        this.#written += tail.length;
        this.#appended += tail.length;
      }
      for (const patch of patches) {
        await handle.write(patch.bytes, 0, patch.bytes.length, patch.offset);
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Whether the writer failed (read after an await: another callback may have failed it). */
  #hasFailed(): boolean {
    return this.#failed !== null;
  }

  #fail(error: RecordingWriteError): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#budget.queuedBytes -= this.#queuedBytes;
    this.#queuedBytes = 0;
    this.#queue = [];
    this.#drained?.();
    this.#onError(error);
  }
}
