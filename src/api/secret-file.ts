// Secrets kept in files of the data directory (<dataDir>/api-token, <dataDir>/auth-secret):
// read when present, generated (random, base64url, mode 0600) on first start.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileDurably, type FileIo } from '../files/durable-file.ts';

/** Fewest random bytes a generated secret may have. */
const MIN_BYTES = 16;
/** Most random bytes a generated secret may have. */
const MAX_BYTES = 1024;

/**
 * Returns the secret kept in `file` (trimmed) when the file exists and is not blank; otherwise
 * writes `bytes` random bytes, base64url, to it (mode 0600, parent directories created, durably:
 * see writeFileDurably) and returns that with `created: true`. A missing file is only created,
 * never replaced, so when another process (the server and `onair token` on a fresh data
 * directory) wrote one meanwhile, that one is returned. A file that exists but cannot be read,
 * or cannot be written (a full disk), throws an Error naming the path; nothing half-written is
 * left. The secret itself is never in an error. `io` replaces the file-system calls (tests).
 */
export function loadOrCreateSecret(
  file: string,
  bytes = 32,
  io?: FileIo,
): { value: string; created: boolean } {
  if (!Number.isInteger(bytes) || bytes < MIN_BYTES || bytes > MAX_BYTES) {
    throw new RangeError(`a secret needs ${MIN_BYTES} to ${MAX_BYTES} random bytes, not ${bytes}`);
  }
  const existing = readSecret(file);
  if (existing.value !== undefined) return { value: existing.value, created: false };
  const value = randomBytes(bytes).toString('base64url');
  try {
    // A blank file is replaced; a missing one is created only if still missing.
    writeFileDurably(file, value + '\n', {
      exclusive: existing.missing,
      ...(io === undefined ? {} : { io }),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const theirs = readSecret(file).value;
      if (theirs !== undefined) return { value: theirs, created: false };
    }
    throw new Error(`cannot write the secret file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { value, created: true };
}

/** The trimmed contents of `file` (undefined when blank or missing), and whether it is missing. */
function readSecret(file: string): { value: string | undefined; missing: boolean } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return { value: undefined, missing: true };
    }
    throw new Error(`cannot read the secret file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const value = text.trim();
  return { value: value === '' ? undefined : value, missing: false };
}
