// StreamRecorder: one stream's recording, a sink of its fMP4 fragmenter. It appends the
// fragmenter's parts (moof re-based so each file starts at time 0, mdat bytes shared) to a
// file, starts a new file every segmentMinutes (on a keyframe) or when the codecs change, and on
// close writes the mfra index and the duration into the header.
import { resolve, sep } from 'node:path';
import type {
  FragmentInit,
  FragmentPart,
  FragmentSink,
  SegmentStart,
} from '../media/fragmenter.ts';
import { codecsString, timescaleOf } from '../media/fmp4-muxer.ts';
import {
  encodeMfra,
  parseMoof,
  rebaseMoof,
  recordingInit,
  type RandomAccessEntry,
  type RecordingInit,
} from '../media/fmp4-file.ts';
import type { Track } from '../media/track.ts';
import type { FileIndex, FragmentRef } from './file-index.ts';
import { RecordingWriter, type RecordingWriteError, type WriteBudget } from './recording-writer.ts';
import { recordingFileName, recordingId, type RecordingInfo } from './recording-info.ts';

/** What a stream recorder is given. */
export interface StreamRecorderOptions {
  readonly stream: string;
  /** The recordings folder (absolute); files go to `<root>/<stream>/<start>.mp4`. */
  readonly root: string;
  readonly segmentMinutes: number;
  readonly budget: WriteBudget;
  /** Whether a file name is taken (in the catalogue or on disk). */
  readonly taken: (relativeFile: string) => boolean;
  /** A file was started: its catalogue entry (still being written) and how to read its index. */
  readonly onFileOpened: (file: LiveRecording) => void;
  /** A file is complete on disk (or failed to be completed: `error`). */
  readonly onFileClosed: (file: LiveRecording, error: unknown) => void;
  /** Writing failed: the recorder has stopped (the stream goes on without it). */
  readonly onWriteError: (error: RecordingWriteError) => void;
}

/** A file being written, as the catalogue and readers see it. */
export interface LiveRecording {
  readonly info: RecordingInfo;
  /** The fragments written to disk so far (readers never see a fragment still queued). */
  index(): FileIndex;
  /** Bytes on disk so far. */
  readonly written: number;
}

interface OpenFile extends LiveRecording {
  readonly info: RecordingInfo & { bytes: number; durationMs: number; endMs: number };
  readonly writer: RecordingWriter;
  readonly init: RecordingInit;
  readonly initVersion: number;
  readonly originDtsMs: number;
  readonly startWallMs: number;
  /** Per fMP4 track id: ticks per ms, to re-base times to the file's start. */
  readonly ticksPerMs: ReadonlyMap<number, number>;
  readonly fragments: FragmentRef[];
  readonly randomAccess: RandomAccessEntry[];
  sequence: number;
  lastEndDtsMs: number;
}

const MINUTE_MS = 60_000;

/** Records one stream; see the file comment. */
export class StreamRecorder implements FragmentSink {
  readonly #options: StreamRecorderOptions;
  #init: FragmentInit | null = null;
  #initKey = '';
  #file: OpenFile | null = null;
  #stopped = false;
  readonly #closing = new Set<Promise<void>>();

  constructor(options: StreamRecorderOptions) {
    this.#options = options;
  }

  /** The file being written, if any. */
  get current(): LiveRecording | null {
    return this.#file;
  }

  onInit(init: FragmentInit): void {
    const key = tracksKey(init.tracks);
    // The same codecs and configuration (a publisher back within the grace period) continue
    // the file; anything else needs another init, so another file.
    if (this.#file && key !== this.#initKey) this.#closeFile();
    this.#init = init;
    this.#initKey = key;
  }

  onSegmentStart(segment: SegmentStart): void {
    if (this.#stopped || !segment.independent) return;
    const file = this.#file;
    if (file) {
      const ageMs = segment.startDtsMs - file.originDtsMs;
      // A clock that went back (an encoder restart) cannot continue the file's timeline.
      const backwards = segment.startDtsMs < file.lastEndDtsMs - 1;
      if (ageMs < this.#options.segmentMinutes * MINUTE_MS && !backwards) return;
      this.#closeFile();
    }
    this.#openFile(segment);
  }

  onPart(part: FragmentPart): void {
    const file = this.#file;
    if (file === null) return;
    const moofSize = part.bytes.readUInt32BE(0);
    const moof = part.bytes.subarray(0, moofSize);
    const info = parseMoof(moof);
    const bases = new Map<number, number>();
    for (const track of info.tracks) {
      const ticksPerMs = file.ticksPerMs.get(track.trackId) ?? 1;
      const offset = Math.round(file.originDtsMs * ticksPerMs);
      bases.set(track.trackId, Math.max(0, track.baseDecodeTimeTicks - offset));
    }
    file.sequence++;
    const offset = file.writer.size;
    const rebased = rebaseMoof(moof, file.sequence, bases);
    if (!file.writer.append([rebased, part.bytes.subarray(moofSize)])) return;
    const timeMs = part.startDtsMs - file.originDtsMs;
    const durationMs = part.durationS * 1000;
    file.fragments.push({
      offset,
      size: part.bytes.length,
      moofSize,
      timeMs,
      durationMs,
      independent: part.independent,
    });
    if (part.independent) {
      const first = info.tracks[0];
      if (first)
        file.randomAccess.push({ timeTicks: bases.get(first.trackId) ?? 0, moofOffset: offset });
    }
    file.lastEndDtsMs = part.startDtsMs + durationMs;
    file.info.bytes = file.writer.size;
    file.info.durationMs = timeMs + durationMs;
    file.info.endMs = file.startWallMs + file.info.durationMs;
  }

  onSegmentEnd(): void {
    // Parts are written as they come; a segment's end changes nothing on disk.
  }

  onClockResync(anchor: { readonly dtsMs: number; readonly wallMs: number }): void {
    const file = this.#file;
    // Only a file that has just begun (from a cached GOP) is re-dated.
    if (file && file.fragments.length <= 1) {
      const startMs = anchor.wallMs + (file.originDtsMs - anchor.dtsMs);
      Object.assign(file, { startWallMs: startMs });
      file.info.startMs = startMs;
      file.info.endMs = startMs + file.info.durationMs;
    }
  }

  onEnd(): void {
    this.stop();
  }

  /** Closes the file in progress and records nothing more. */
  stop(): void {
    this.#stopped = true;
    this.#closeFile();
  }

  /** Resolves when every file this recorder closed is complete on disk. */
  async settled(): Promise<void> {
    while (this.#closing.size > 0) await Promise.allSettled([...this.#closing]);
  }

  #openFile(segment: SegmentStart): void {
    const init = this.#init;
    if (init?.bytes == null || init.tracks.length === 0) return;
    const { stream, root } = this.#options;
    const relativeFile = recordingFileName(stream, segment.programDateTimeMs, this.#options.taken);
    const path = resolve(root, relativeFile);
    // Stream paths are allow-listed by the hub; this holds even if one were not.
    if (!path.startsWith(resolve(root) + sep)) {
      throw new Error(`a recording of ${stream} would be written outside the recordings folder`);
    }
    const header = recordingInit(init.bytes);
    const codecs = init.tracks.map((track) => codecsString(track));
    const video = init.tracks.find((t) => t.kind === 'video');
    const info = {
      id: recordingId(relativeFile),
      stream,
      file: relativeFile,
      startMs: segment.programDateTimeMs,
      endMs: segment.programDateTimeMs,
      durationMs: 0,
      bytes: 0,
      codecs,
      ...(video?.width !== undefined ? { width: video.width } : {}),
      ...(video?.height !== undefined ? { height: video.height } : {}),
      recording: true,
    };
    const writer = new RecordingWriter(path, this.#options.budget, (error) => {
      if (this.#file?.writer === writer) {
        this.#stopped = true;
        this.#closeFile();
      }
      this.#options.onWriteError(error);
    });
    const fragments: FragmentRef[] = [];
    const tracks = init.tracks.map((track, i) => ({
      trackId: i + 1,
      timescale: timescaleOf(track),
    }));
    const file: OpenFile = {
      info,
      writer,
      init: header,
      initVersion: init.version,
      originDtsMs: segment.startDtsMs,
      startWallMs: segment.programDateTimeMs,
      ticksPerMs: new Map(tracks.map((t) => [t.trackId, t.timescale / 1000])),
      fragments,
      randomAccess: [],
      sequence: 0,
      lastEndDtsMs: segment.startDtsMs,
      get written(): number {
        return writer.written;
      },
      index: (): FileIndex => {
        const written = writer.written;
        let count = fragments.length;
        while (
          count > 0 &&
          (fragments[count - 1] as FragmentRef).offset +
            (fragments[count - 1] as FragmentRef).size >
            written
        )
          count--;
        return { initEnd: header.bytes.length, fragments: fragments.slice(0, count), tracks };
      },
    };
    if (!writer.append([header.bytes])) return;
    info.bytes = writer.size;
    this.#file = file;
    this.#options.onFileOpened(file);
  }

  #closeFile(): void {
    const file = this.#file;
    if (file === null) return;
    this.#file = null;
    // Still "being written" until its index is: the API then shows the final size.
    const firstTrack = file.ticksPerMs.keys().next().value ?? 1;
    const tail = encodeMfra([{ trackId: firstTrack, entries: file.randomAccess }]);
    const closing = file.writer
      .close(tail, file.init.patchDuration(Math.round(file.info.durationMs)))
      .then(
        () => {
          file.info.bytes = file.writer.size;
          file.info.recording = false;
          this.#options.onFileClosed(file, null);
        },
        (error: unknown) => {
          file.info.recording = false;
          this.#options.onFileClosed(file, error);
        },
      )
      .finally(() => {
        this.#closing.delete(closing);
      });
    this.#closing.add(closing);
  }
}

/** Codecs and configurations of the carried tracks: a file holds one such set. */
function tracksKey(tracks: readonly Track[]): string {
  return tracks.map((t) => `${t.kind}:${t.codec}:${t.config.toString('hex')}`).join('|');
}
