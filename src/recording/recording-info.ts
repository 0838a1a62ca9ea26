// A recording as the catalogue and the API show it, and how its file is named.
import { createHash } from 'node:crypto';

/** One recording file. */
export interface RecordingInfo {
  /** Stable: derived from the file's path, so it survives a restart and a lost index. */
  readonly id: string;
  readonly stream: string;
  /** The file, relative to the recordings folder (`live/cam/20261202T101500Z.mp4`). */
  readonly file: string;
  /** Wall clock of the first frame, ms since the epoch. */
  startMs: number;
  endMs: number;
  durationMs: number;
  bytes: number;
  /** RFC 6381 codec strings where known (`avc1.64001f`, `mp4a.40.2`), else the sample entry. */
  readonly codecs: readonly string[];
  readonly width?: number;
  readonly height?: number;
  /** Still being written. */
  recording: boolean;
}

/** The id of the recording stored at `relativeFile`: 16 hex digits of its SHA-256. */
export function recordingId(relativeFile: string): string {
  return createHash('sha256').update(relativeFile).digest('hex').slice(0, 16);
}

/** `20261202T101500Z`: ISO 8601 basic format, UTC, whole seconds. */
export function basicTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** The start time a file name carries (`20261202T101500Z.mp4`, `...Z-2.mp4`), or null. */
export function startOfFileName(name: string): number | null {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(?:-\d{1,4})?\.mp4$/.exec(name);
  if (match === null) return null;
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = match.slice(1).map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  // Date.UTC rolls 20261399T... over into another date: only a real time names a recording.
  return Number.isFinite(ms) && basicTime(ms) === name.slice(0, 16) ? ms : null;
}

/** `<stream>/<start>.mp4`, with `-1`, `-2`... when a file of that second exists already. */
export function recordingFileName(
  stream: string,
  startMs: number,
  taken: (relativeFile: string) => boolean,
): string {
  const base = `${stream}/${basicTime(startMs)}`;
  let name = `${base}.mp4`;
  for (let n = 1; taken(name) && n < 10_000; n++) name = `${base}-${n}.mp4`;
  return name;
}
