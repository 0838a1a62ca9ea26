// AccessStore: publish keys and private flags created through the admin API, kept in one JSON
// file (<dataDir>/access.json). Keys are stored as SHA-256 hashes; the clear key is shown once.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { writeFileDurably, type FileIo } from '../files/durable-file.ts';
import { checkStreamPath } from '../hub/stream-path.ts';

/** Most publish keys the store holds, over all streams. */
export const MAX_KEYS = 10_000;
/** Most streams with a private flag set through the API. */
export const MAX_PRIVATE_FLAGS = 10_000;
/** Longest key label. */
export const MAX_LABEL_LENGTH = 100;

/** What the error of an unusable file tells the operator (onair does not start without it). */
const UNUSABLE_HINT =
  'It holds the publish keys and private flags set through the API, and starting without them ' +
  'would let anyone publish to those streams and watch private ones: restore the file from a ' +
  'backup, or move it away to start with none';

/** Version of the file format written by this code. */
const FILE_VERSION = 1;

/** A publish key as listed (never its hash or clear value). */
export interface KeyInfo {
  readonly id: string;
  readonly path: string;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly label?: string;
}

/** A key just created: the only time its clear value exists. */
export interface CreatedKey extends KeyInfo {
  readonly key: string;
}

/** Thrown when a bound (MAX_KEYS, MAX_PRIVATE_FLAGS) would be exceeded. */
export class AccessStoreLimitError extends Error {
  override readonly name = 'AccessStoreLimitError';
}

/** A label: at most 100 characters, no control characters. */
export function checkLabel(label: string): string | null {
  if (label.length > MAX_LABEL_LENGTH) return `longer than ${MAX_LABEL_LENGTH} characters`;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(label)) return 'control characters are not allowed';
  return null;
}

const streamPath = z.string().check((ctx) => {
  const reason = checkStreamPath(ctx.value);
  if (reason !== null)
    ctx.issues.push({ code: 'custom', message: `bad stream path: ${reason}`, input: ctx.value });
});

const label = z.string().check((ctx) => {
  const reason = checkLabel(ctx.value);
  if (reason !== null)
    ctx.issues.push({ code: 'custom', message: `bad label: ${reason}`, input: ctx.value });
});

const keyRecordSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/, { error: 'must be 16 hex digits' }),
  path: streamPath,
  hash: z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be a SHA-256 hex digest' }),
  createdAt: z.iso.datetime({ error: 'must be an ISO 8601 date-time' }),
  label: label.optional(),
});

const fileSchema = z
  .strictObject({
    version: z.literal(FILE_VERSION, { error: `must be ${FILE_VERSION}` }),
    keys: z.array(keyRecordSchema).max(MAX_KEYS),
    private: z.record(streamPath, z.boolean()),
  })
  .check((ctx) => {
    const seen = new Set<string>();
    for (const [index, key] of ctx.value.keys.entries()) {
      if (seen.has(key.id)) {
        ctx.issues.push({
          code: 'custom',
          message: `duplicate key id ${key.id}`,
          input: key.id,
          path: ['keys', index, 'id'],
        });
      }
      seen.add(key.id);
    }
    if (Object.keys(ctx.value.private).length > MAX_PRIVATE_FLAGS) {
      ctx.issues.push({
        code: 'custom',
        message: `more than ${MAX_PRIVATE_FLAGS} entries`,
        input: ctx.value.private,
        path: ['private'],
      });
    }
  });

type KeyRecord = z.output<typeof keyRecordSchema>;
type StoreFile = z.output<typeof fileSchema>;

/** A key in memory: its record plus the hash as bytes, ready for timingSafeEqual. */
interface KeyEntry {
  readonly record: KeyRecord;
  readonly digest: Buffer;
}

/** The SHA-256 digest of a key's UTF-8 bytes. */
function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Publish keys and private flags set through the API, persisted on every change. */
export class AccessStore {
  readonly #file: string;
  readonly #io: FileIo | undefined;
  readonly #keys = new Map<string, KeyEntry>();
  readonly #keysByPath = new Map<string, KeyEntry[]>();
  readonly #private = new Map<string, boolean>();

  /** Called after every change is on disk (another process may reload the file). */
  onChange: (() => void) | null = null;

  private constructor(file: string, data: StoreFile, io: FileIo | undefined) {
    this.#file = file;
    this.#io = io;
    this.#load(data);
  }

  #load(data: StoreFile): void {
    this.#keys.clear();
    this.#keysByPath.clear();
    this.#private.clear();
    for (const record of data.keys)
      this.#index({ record, digest: Buffer.from(record.hash, 'hex') });
    for (const [path, value] of Object.entries(data.private)) this.#private.set(path, value);
  }

  /**
   * Reads the file again (another process of the group changed it). On a file that cannot be
   * used the store keeps what it has and throws.
   */
  reload(): void {
    this.#load(AccessStore.open(this.#file).#snapshot());
  }

  #snapshot(): StoreFile {
    return {
      version: FILE_VERSION,
      keys: [...this.#keys.values()].map((entry) => entry.record),
      private: Object.fromEntries(this.#private),
    };
  }

  /**
   * Loads the store from `file`; a missing file is an empty store (created on the first change).
   * Throws an Error naming the file when it is unreadable, not JSON or not of the right shape:
   * starting with an empty store instead would silently make every stream keyed through the API
   * publishable without a key. `io` replaces the file-system calls of the writes (tests).
   */
  static open(file: string, options: { io?: FileIo } = {}): AccessStore {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return new AccessStore(file, { version: FILE_VERSION, keys: [], private: {} }, options.io);
      }
      throw new Error(
        `cannot read the access store ${file}: ${(error as Error).message}. ${UNUSABLE_HINT}`,
        { cause: error },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw new Error(
        `the access store ${file} is not valid JSON: ${(error as Error).message}. ${UNUSABLE_HINT}`,
        { cause: error },
      );
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .slice(0, 5)
        .map(
          (issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`,
        )
        .join('; ');
      throw new Error(
        `the access store ${file} is not of the expected shape: ${problems}. ${UNUSABLE_HINT}`,
      );
    }
    return new AccessStore(file, parsed.data, options.io);
  }

  /** The file the store lives in. */
  get file(): string {
    return this.#file;
  }

  /**
   * Creates a publish key for `path`: 24 random bytes, base64url. The clear key is returned here
   * and never again (only its SHA-256 is kept). Throws AccessStoreLimitError past MAX_KEYS.
   */
  createKey(path: string, label?: string): CreatedKey {
    assertPath(path);
    if (label !== undefined) {
      const reason = checkLabel(label);
      if (reason !== null) throw new Error(`bad label: ${reason}`);
    }
    if (this.#keys.size >= MAX_KEYS) {
      throw new AccessStoreLimitError(
        `the access store holds ${MAX_KEYS} keys already; revoke some first`,
      );
    }
    let id = randomBytes(8).toString('hex');
    while (this.#keys.has(id)) id = randomBytes(8).toString('hex');
    const key = randomBytes(24).toString('base64url');
    const digest = sha256(key);
    const record: KeyRecord = {
      id,
      path,
      hash: digest.toString('hex'),
      createdAt: new Date().toISOString(),
      ...(label === undefined ? {} : { label }),
    };
    const entry: KeyEntry = { record, digest };
    this.#index(entry);
    try {
      this.#save();
    } catch (error) {
      this.#unindex(entry);
      throw error;
    }
    return { ...info(record), key };
  }

  /** Keys of `path` (of every stream when absent), oldest first, without hashes. */
  listKeys(path?: string): KeyInfo[] {
    const entries =
      path === undefined ? [...this.#keys.values()] : (this.#keysByPath.get(path) ?? []);
    return entries.map((entry) => info(entry.record));
  }

  /** Deletes a key; returns its id and stream path, or undefined when there is no such key. */
  revokeKey(id: string): { id: string; path: string } | undefined {
    const entry = this.#keys.get(id);
    if (entry === undefined) return undefined;
    this.#unindex(entry);
    try {
      this.#save();
    } catch (error) {
      this.#index(entry);
      throw error;
    }
    return { id, path: entry.record.path };
  }

  /** Whether `path` has at least one API-created key. */
  hasKeys(path: string): boolean {
    return this.#keysByPath.has(path);
  }

  /**
   * Whether `key` is one of the keys of `path`: its SHA-256 is compared with every key hash of
   * the path in constant time (no early exit). False when the path has no keys.
   */
  matchKey(path: string, key: string): boolean {
    const entries = this.#keysByPath.get(path);
    if (entries === undefined) return false;
    const candidate = sha256(key);
    let matched = false;
    for (const entry of entries) {
      if (timingSafeEqual(candidate, entry.digest)) matched = true;
    }
    return matched;
  }

  /** Sets the private flag of `path` (persisted). Throws AccessStoreLimitError past MAX_PRIVATE_FLAGS. */
  setPrivate(path: string, value: boolean): void {
    assertPath(path);
    const previous = this.#private.get(path);
    if (previous === value) return;
    if (previous === undefined && this.#private.size >= MAX_PRIVATE_FLAGS) {
      throw new AccessStoreLimitError(
        `the access store holds ${MAX_PRIVATE_FLAGS} private flags already`,
      );
    }
    this.#private.set(path, value);
    try {
      this.#save();
    } catch (error) {
      if (previous === undefined) this.#private.delete(path);
      else this.#private.set(path, previous);
      throw error;
    }
  }

  /** The private flag set through the API; undefined when never set (the config decides). */
  privateFlag(path: string): boolean | undefined {
    return this.#private.get(path);
  }

  #index(entry: KeyEntry): void {
    this.#keys.set(entry.record.id, entry);
    const list = this.#keysByPath.get(entry.record.path);
    if (list === undefined) this.#keysByPath.set(entry.record.path, [entry]);
    else list.push(entry);
  }

  #unindex(entry: KeyEntry): void {
    this.#keys.delete(entry.record.id);
    const list = this.#keysByPath.get(entry.record.path);
    if (list === undefined) return;
    const rest = list.filter((other) => other !== entry);
    if (rest.length === 0) this.#keysByPath.delete(entry.record.path);
    else this.#keysByPath.set(entry.record.path, rest);
  }

  /**
   * Replaces the file with the whole store (mode 0600), all or nothing: on a full disk or an I/O
   * error it throws, the file keeps the previous state and the caller undoes the change in memory.
   */
  #save(): void {
    writeFileDurably(this.#file, JSON.stringify(this.#snapshot(), null, 2) + '\n', {
      ...(this.#io === undefined ? {} : { io: this.#io }),
    });
    this.onChange?.();
  }
}

/** The listed form of a key record. */
function info(record: KeyRecord): KeyInfo {
  return {
    id: record.id,
    path: record.path,
    createdAt: record.createdAt,
    ...(record.label === undefined ? {} : { label: record.label }),
  };
}

function assertPath(path: string): void {
  const reason = checkStreamPath(path);
  if (reason !== null) throw new Error(`bad stream path: ${reason}`);
}
