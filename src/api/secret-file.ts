// Secrets kept in files of the data directory (<dataDir>/api-token, <dataDir>/auth-secret):
// read when present, generated (random, base64url, mode 0600) on first start.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** Fewest random bytes a generated secret may have. */
const MIN_BYTES = 16;
/** Most random bytes a generated secret may have. */
const MAX_BYTES = 1024;

/**
 * Returns the secret kept in `file` (trimmed) when the file exists and is not blank; otherwise
 * writes `bytes` random bytes, base64url, to it (mode 0600, parent directories created, written
 * to `file.tmp` then renamed) and returns that with `created: true`. A file that exists but
 * cannot be read throws an Error naming the path. The secret itself is never in an error.
 */
export function loadOrCreateSecret(file: string, bytes = 32): { value: string; created: boolean } {
  if (!Number.isInteger(bytes) || bytes < MIN_BYTES || bytes > MAX_BYTES) {
    throw new RangeError(`a secret needs ${MIN_BYTES} to ${MAX_BYTES} random bytes, not ${bytes}`);
  }
  const existing = readSecret(file);
  if (existing !== undefined) return { value: existing, created: false };
  const value = randomBytes(bytes).toString('base64url');
  try {
    writeSecret(file, value);
  } catch (error) {
    throw new Error(`cannot write the secret file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { value, created: true };
}

/** The trimmed contents of `file`; undefined when it is missing or blank. */
function readSecret(file: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the secret file ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const value = text.trim();
  return value === '' ? undefined : value;
}

/** Writes `value` to `file.tmp` (mode 0600, fsync) and renames it over `file`. */
function writeSecret(file: string, value: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, value + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
