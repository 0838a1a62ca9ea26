// A directory on a small file system a test can fill up: a real tmpfs mounted for the test (root
// on Linux) and unmounted after it. Where no tmpfs can be mounted, the same directory API over a
// temporary directory whose writes go through a FileIo with a byte budget, so the test still runs
// (and says so in a diagnostic) instead of being skipped.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileIo } from '../../src/files/durable-file.ts';

/** A fillable directory. */
export interface SmallFilesystem {
  readonly dir: string;
  /** True on a real tmpfs; false when writes are limited by the FileIo below. */
  readonly real: boolean;
  /** The calls to write with (node:fs on a real tmpfs). */
  readonly io: FileIo;
  /** Fills the file system, leaving about `leaveBytes` free, so a bigger write comes up short. */
  fill(leaveBytes: number): void;
  /** Frees what fill() took. */
  free(): void;
}

interface TestContext {
  after: (fn: () => void) => void;
  diagnostic: (message: string) => void;
}

const PAGE = 4096;

/** A directory on a `sizeKiB` tmpfs (unmounted when the test ends), or the fallback. */
export function smallFilesystem(t: TestContext, sizeKiB = 256): SmallFilesystem {
  const dir = fs.mkdtempSync(join(tmpdir(), 'onair-small-fs-'));
  let mounted = false;
  t.after(() => {
    if (mounted) execFileSync('umount', ['--lazy', dir], { stdio: 'pipe', timeout: 10_000 });
    fs.rmSync(dir, { recursive: true, force: true });
  });
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    t.diagnostic('not root on Linux, so no tmpfs: writes limited by a byte budget instead');
    return budgeted(dir);
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir], {
      stdio: 'pipe',
      timeout: 10_000,
    });
    mounted = true;
  } catch (error) {
    const why = (error as Error).message.split('\n')[0] ?? '';
    t.diagnostic(`no tmpfs (${why}): writes limited by a byte budget instead`);
    return budgeted(dir);
  }
  return onTmpfs(dir);
}

function onTmpfs(dir: string): SmallFilesystem {
  const filler = join(dir, 'filler');
  return {
    dir,
    real: true,
    io: fs,
    fill(leaveBytes) {
      const fd = fs.openSync(filler, 'w');
      try {
        const block = Buffer.alloc(PAGE);
        let size = 0;
        for (;;) {
          try {
            size += fs.writeSync(fd, block);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
            throw error;
          }
        }
        fs.ftruncateSync(fd, Math.max(0, size - Math.ceil(leaveBytes / PAGE) * PAGE));
      } finally {
        fs.closeSync(fd);
      }
    },
    free() {
      fs.rmSync(filler, { force: true });
    },
  };
}

function budgeted(dir: string): SmallFilesystem {
  let left = Number.POSITIVE_INFINITY;
  const io: FileIo = {
    ...fs,
    // What a full disk does: a write gets what space is left (a short write), the next ENOSPC.
    writeSync: ((fd: number, buffer: NodeJS.ArrayBufferView, at?: number, length?: number) => {
      const offset = at ?? 0;
      const wanted = length ?? buffer.byteLength - offset;
      if (left <= 0 && wanted > 0) {
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
          code: 'ENOSPC',
        });
      }
      const granted = Math.min(wanted, left);
      left -= granted;
      return fs.writeSync(fd, buffer, offset, granted);
    }) as FileIo['writeSync'],
  };
  return {
    dir,
    real: false,
    io,
    fill(leaveBytes) {
      left = leaveBytes;
    },
    free() {
      left = Number.POSITIVE_INFINITY;
    },
  };
}
