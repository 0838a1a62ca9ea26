// The catalogue of recordings: every file under the recordings folder, with a small JSON
// sidecar (`<file>.json`) written when the file is closed. A file without its sidecar (a crash,
// a kill -9, a lost index) is scanned, repaired (a torn last fragment cut off, the mfra index
// and duration written) and given one: the files are the truth, the sidecars a cache.
import { open, readdir, readFile, stat, truncate, unlink } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { writeFileDurably } from '../files/durable-file.ts';
import { encodeMfra, recordingInit, scanFmp4File, type Fmp4Index } from '../media/fmp4-file.ts';
import type { Logger } from '../log/logger.ts';
import { fileIndexOf, indexDurationMs, type FileIndex } from './file-index.ts';
import { recordingId, startOfFileName, type RecordingInfo } from './recording-info.ts';
import type { LiveRecording } from './stream-recorder.ts';

/** Folder depth searched below the recordings folder (a stream path has at most this many). */
const MAX_DEPTH = 16;
/** Files the catalogue tracks; beyond, older ones are still on disk but not listed. */
const MAX_RECORDINGS = 1_000_000;
/** Indexes of closed files kept in memory for replay and clips. */
const INDEX_CACHE_SIZE = 32;

/** Filters of list(). */
export interface RecordingQuery {
  readonly stream?: string;
  /** Recordings that end after this (ms since the epoch). */
  readonly fromMs?: number;
  /** Recordings that start before this. */
  readonly toMs?: number;
}

/** See the file comment. */
export class RecordingCatalogue {
  readonly root: string;
  readonly #logger: Logger;
  readonly #byId = new Map<string, RecordingInfo>();
  readonly #byFile = new Set<string>();
  readonly #live = new Map<string, LiveRecording>();
  readonly #indexes = new Map<string, { size: number; index: FileIndex }>();

  constructor(root: string, logger: Logger) {
    this.root = resolve(root);
    this.#logger = logger;
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Reads every recording on disk (repairing those a crash left open). */
  async load(): Promise<void> {
    const files: string[] = [];
    await this.#walk(this.root, 0, files);
    for (const absolute of files) {
      const file = relative(this.root, absolute).split(sep).join('/');
      try {
        const info = await this.#read(file);
        if (info) this.#add(info);
      } catch (error) {
        this.#logger.warn({ err: error, file }, 'recording left out of the catalogue');
      }
    }
  }

  /** The absolute path of a recording's file (always inside the recordings folder). */
  pathOf(info: RecordingInfo): string {
    const path = resolve(this.root, info.file);
    if (!path.startsWith(this.root + sep))
      throw new Error(`outside the recordings folder: ${info.file}`);
    return path;
  }

  has(file: string): boolean {
    return this.#byFile.has(file);
  }

  get(id: string): RecordingInfo | undefined {
    return this.#byId.get(id);
  }

  /** Recordings matching `query`, oldest first. */
  list(query: RecordingQuery = {}): RecordingInfo[] {
    const out: RecordingInfo[] = [];
    for (const info of this.#byId.values()) {
      if (query.stream !== undefined && info.stream !== query.stream) continue;
      if (query.fromMs !== undefined && info.endMs < query.fromMs) continue;
      if (query.toMs !== undefined && info.startMs > query.toMs) continue;
      out.push(info);
    }
    return out.sort((a, b) => a.startMs - b.startMs || (a.file < b.file ? -1 : 1));
  }

  /** A file the recorder started. */
  opened(file: LiveRecording): void {
    this.#live.set(file.info.id, file);
    this.#add(file.info);
  }

  /** A file the recorder finished: its sidecar is written. */
  closed(file: LiveRecording): void {
    this.#live.delete(file.info.id);
    this.#indexes.delete(file.info.id);
    if (!this.#byId.has(file.info.id)) return; // deleted while being written
    try {
      this.#writeSidecar(file.info);
    } catch (error) {
      this.#logger.warn({ err: error, file: file.info.file }, 'recording index not written');
    }
  }

  /** Whether the recording is being written now. */
  isLive(id: string): boolean {
    return this.#live.has(id);
  }

  /** Bytes on disk a reader may read (all of a closed file, what is written of a live one). */
  readableBytes(info: RecordingInfo): number {
    return this.#live.get(info.id)?.written ?? info.bytes;
  }

  /** Where the fragments of a recording are; a live one's index grows. */
  async index(info: RecordingInfo): Promise<FileIndex> {
    const live = this.#live.get(info.id);
    if (live) return live.index();
    const cached = this.#indexes.get(info.id);
    if (cached && cached.size === info.bytes) {
      this.#indexes.delete(info.id); // most recently used last
      this.#indexes.set(info.id, cached);
      return cached.index;
    }
    const index = fileIndexOf(await scanFmp4File(this.pathOf(info)));
    this.#indexes.set(info.id, { size: info.bytes, index });
    while (this.#indexes.size > INDEX_CACHE_SIZE) {
      const oldest = this.#indexes.keys().next().value;
      if (oldest === undefined) break;
      this.#indexes.delete(oldest);
    }
    return index;
  }

  /** Deletes a recording's file and sidecar; false when it is being written (stop it first). */
  async delete(id: string): Promise<boolean> {
    const info = this.#byId.get(id);
    if (info === undefined || this.#live.has(id)) return false;
    this.#byId.delete(id);
    this.#byFile.delete(info.file);
    this.#indexes.delete(id);
    const path = this.pathOf(info);
    await unlink(path).catch(ignoreMissing);
    await unlink(`${path}.json`).catch(ignoreMissing);
    return true;
  }

  #add(info: RecordingInfo): void {
    if (this.#byId.size >= MAX_RECORDINGS && !this.#byId.has(info.id)) return;
    this.#byId.set(info.id, info);
    this.#byFile.add(info.file);
  }

  async #walk(dir: string, depth: number, out: string[]): Promise<void> {
    if (depth > MAX_DEPTH || out.length >= MAX_RECORDINGS) return;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await this.#walk(path, depth + 1, out);
      else if (entry.isFile() && entry.name.endsWith('.mp4')) out.push(path);
    }
  }

  /** A file's info from its sidecar, or from the file itself (repairing it). */
  async #read(file: string): Promise<RecordingInfo | null> {
    const slash = file.lastIndexOf('/');
    const startMs = startOfFileName(file.slice(slash + 1));
    if (slash <= 0 || startMs === null) return null; // not a recording onair made
    const path = join(this.root, file);
    const { size } = await stat(path);
    const sidecar = await readFile(`${path}.json`, 'utf8').then(parseSidecar, () => null);
    if (sidecar && sidecar.bytes === size && sidecar.file === file) return sidecar;
    const scan = await scanFmp4File(path);
    const repaired = await this.#repair(path, size, scan);
    const index = fileIndexOf(scan);
    const durationMs = indexDurationMs(index);
    const video = scan.tracks.find((t) => t.kind === 'video');
    const info: RecordingInfo = {
      id: recordingId(file),
      stream: file.slice(0, slash),
      file,
      startMs: sidecar?.startMs ?? startMs,
      endMs: (sidecar?.startMs ?? startMs) + durationMs,
      durationMs,
      bytes: repaired,
      codecs: scan.tracks.map((t) => t.codec),
      ...(video?.width !== undefined ? { width: video.width } : {}),
      ...(video?.height !== undefined ? { height: video.height } : {}),
      recording: false,
    };
    this.#writeSidecar(info);
    this.#logger.info({ file, durationMs, bytes: repaired }, 'recording indexed from its file');
    return info;
  }

  /**
   * Finishes a file a crash left open: cuts a torn last fragment, appends the mfra index and
   * writes the duration. Returns the file's size after.
   */
  async #repair(path: string, size: number, scan: Fmp4Index): Promise<number> {
    // The mfra is written last, at close: a file that has one is complete.
    if (scan.hasMfra) return size;
    const index = fileIndexOf(scan);
    const handle = await open(path, 'r+');
    try {
      const initBytes = Buffer.alloc(scan.initEnd);
      await handle.read(initBytes, 0, scan.initEnd, 0);
      await truncate(path, scan.end);
      const first = scan.tracks[0];
      const timescale = first?.timescale ?? 1000;
      const entries = index.fragments
        .filter((f) => f.independent)
        .map((f) => ({
          timeTicks: Math.round((f.timeMs * timescale) / 1000),
          moofOffset: f.offset,
        }));
      const mfra = encodeMfra([{ trackId: first?.trackId ?? 1, entries }]);
      await handle.write(mfra, 0, mfra.length, scan.end);
      try {
        for (const patch of recordingInit(initBytes).patchDuration(
          Math.round(indexDurationMs(index)),
        )) {
          await handle.write(patch.bytes, 0, patch.bytes.length, patch.offset);
        }
      } catch {
        // An init without mvex cannot carry a duration; the fragments still play.
      }
      await handle.sync();
      return scan.end + mfra.length;
    } finally {
      await handle.close();
    }
  }

  #writeSidecar(info: RecordingInfo): void {
    const stored: Omit<RecordingInfo, 'recording'> & { recording?: boolean } = { ...info };
    delete stored.recording;
    writeFileDurably(`${this.pathOf(info)}.json`, `${JSON.stringify(stored)}\n`, { mode: 0o644 });
  }
}

/** A sidecar's content, or null when it is not one. */
function parseSidecar(text: string): RecordingInfo | null {
  try {
    const value = JSON.parse(text) as Partial<RecordingInfo>;
    if (
      typeof value.id !== 'string' ||
      typeof value.stream !== 'string' ||
      typeof value.file !== 'string' ||
      typeof value.startMs !== 'number' ||
      typeof value.endMs !== 'number' ||
      typeof value.durationMs !== 'number' ||
      typeof value.bytes !== 'number' ||
      !Array.isArray(value.codecs)
    ) {
      return null;
    }
    return { ...(value as RecordingInfo), recording: false };
  } catch {
    return null;
  }
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}
