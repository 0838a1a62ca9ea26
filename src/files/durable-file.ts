// Durable, atomic replacement of a small file (access.json, the secret files, later recordings'
// indexes): a reader sees the old content or the new, never a part, even after a full disk, an
// I/O error or a power cut.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The file-system calls writeFileDurably() makes (node:fs; a test may pass failing ones). */
export type FileIo = Pick<
  typeof fs,
  | 'closeSync'
  | 'fsyncSync'
  | 'linkSync'
  | 'mkdirSync'
  | 'openSync'
  | 'renameSync'
  | 'unlinkSync'
  | 'writeSync'
>;

/** Options of writeFileDurably(). */
export interface DurableWriteOptions {
  /** Mode of the new file (default 0600: everything written this way is private). */
  readonly mode?: number;
  /**
   * Only create: when the file already exists nothing is replaced and an Error with code
   * EEXIST is thrown (two processes generating the same secret keep the first one).
   */
  readonly exclusive?: boolean;
  /** The calls to make (default node:fs). */
  readonly io?: FileIo;
}

/** Thrown when write(2) reports no progress: a disk that takes nothing yet reports no error. */
class NoProgressError extends Error {
  readonly code = 'EIO';
}

/**
 * Replaces `file` with `data`: written in full to a temporary file in the same directory
 * (parents created, mode 0700), fsync'ed, closed, renamed over `file` (linked, when
 * `exclusive`), then the directory fsync'ed so the rename itself survives a crash. A short
 * write is continued until everything is written or write(2) fails (ENOSPC on a full disk).
 * On any failure before the rename the old file is untouched, the temporary file is removed
 * and the error is thrown as it came (its `code`, e.g. ENOSPC, kept).
 */
export function writeFileDurably(
  file: string,
  data: string | Uint8Array,
  options: DurableWriteOptions = {},
): void {
  const io = options.io ?? fs;
  const dir = dirname(file);
  io.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A name of its own, so two writers (the server and `onair token` on a fresh data directory)
  // never share a temporary file; the dot keeps it out of casual listings.
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const fd = io.openSync(tmp, 'wx', options.mode ?? 0o600);
  let open = true;
  try {
    for (let offset = 0; offset < bytes.length;) {
      const written = io.writeSync(fd, bytes, offset, bytes.length - offset);
      if (written <= 0) throw new NoProgressError(`write to ${tmp} made no progress`);
      offset += written;
    }
    io.fsyncSync(fd);
    open = false;
    io.closeSync(fd); // close(2) may report a deferred write error (NFS)
    if (options.exclusive === true) {
      io.linkSync(tmp, file); // EEXIST when another writer got there first
      // The file is in place: a stray temporary name is harmless.
      ignoreErrors(() => {
        io.unlinkSync(tmp);
      });
    } else {
      io.renameSync(tmp, file);
    }
  } catch (error) {
    ignoreErrors(() => {
      if (open) io.closeSync(fd);
    });
    ignoreErrors(() => {
      io.unlinkSync(tmp);
    });
    throw error;
  }
  syncDirectory(io, dir);
}

/** fsync of a directory, so a rename in it is on disk; Windows cannot open directories. */
function syncDirectory(io: FileIo, dir: string): void {
  if (process.platform === 'win32') return;
  const fd = io.openSync(dir, 'r');
  try {
    io.fsyncSync(fd);
  } finally {
    io.closeSync(fd);
  }
}

function ignoreErrors(action: () => void): void {
  try {
    action();
  } catch {
    // Cleanup after a failure: the first error is the one that matters.
  }
}
