// SRT streamid -> what the caller asks for (publish or play, which path, with which key or
// token). Three spellings are read: the SRT access-control syntax (`#!::r=live/foo,m=publish,
// s=KEY`, Haivision's SRT AccessControl.md, as SRS uses it), MediaMTX's (`publish:live/foo:KEY`,
// `read:live/foo:TOKEN`) and a bare path (`live/foo`, a play request, as SRS takes it).
// The streamid is client input from before the handshake is accepted: plain string scanning, no
// regular expression, bounded length, control characters refused, nothing throws.

/** What a valid streamid asks for. */
export interface StreamIdRequest {
  readonly mode: 'publish' | 'play';
  /** The stream path (`app/name`), without a query. */
  readonly path: string;
  /**
   * A URLSearchParams-style query without `?` (`key=SECRET`, `token=T`, or empty): the query
   * given on the path, with the publish key as `key=` or the play token as `token=`.
   */
  readonly query: string;
}

/** A refused streamid: a short reason, for the log. */
export interface StreamIdError {
  readonly error: string;
}

/** Longest streamid accepted, in UTF-8 bytes (libsrt's own limit is 512). */
export const MAX_STREAMID_BYTES = 512;
/** The prefix of the SRT access-control syntax. */
const ACCESS_CONTROL_PREFIX = '#!::';
/** Keys of the access-control syntax that are accepted and not used (user, host). */
const IGNORED_KEYS = new Set(['u', 'h']);

/** Checks a stream path: the reason it is refused, or null. */
export type StreamPathCheck = (path: string) => string | null;

/**
 * Parses an SRT streamid. `checkPath` is applied to the path on top of the checks made here
 * (not empty, no leading `/`, no `..` segment); callers that may import the hub pass its
 * `checkStreamPath` (src/hub/stream-path.ts), which the hub applies anyway when the stream is
 * opened. Never throws.
 */
export function parseStreamId(
  raw: string,
  checkPath?: StreamPathCheck,
): StreamIdRequest | StreamIdError {
  if (raw.length === 0) return { error: 'empty' };
  if (raw.length > MAX_STREAMID_BYTES || Buffer.byteLength(raw, 'utf8') > MAX_STREAMID_BYTES) {
    return { error: `longer than ${MAX_STREAMID_BYTES} bytes` };
  }
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return { error: 'control character' };
  }
  if (raw.startsWith('#!') && !raw.startsWith(ACCESS_CONTROL_PREFIX)) {
    return { error: 'only the #!:: form of the access-control syntax is read' };
  }
  const parsed = raw.startsWith(ACCESS_CONTROL_PREFIX)
    ? parseAccessControl(raw.slice(ACCESS_CONTROL_PREFIX.length))
    : raw.startsWith('publish:')
      ? parseMediaMtx('publish', raw.slice('publish:'.length))
      : raw.startsWith('read:')
        ? parseMediaMtx('play', raw.slice('read:'.length))
        : request('play', raw, undefined);
  if ('error' in parsed) return parsed;
  const refused = structuralCheck(parsed.path) ?? checkPath?.(parsed.path) ?? null;
  return refused === null ? parsed : { error: `path: ${refused}` };
}

/** `#!::k=v,k=v` (after the prefix). */
function parseAccessControl(body: string): StreamIdRequest | StreamIdError {
  const pairs = new Map<string, string>();
  for (const item of body.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { error: `malformed pair "${item}"` };
    const key = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (key !== 'r' && key !== 'm' && key !== 's' && key !== 't' && !IGNORED_KEYS.has(key)) {
      return { error: `unknown key ${key}` };
    }
    if (pairs.has(key)) return { error: `duplicate key ${key}` };
    pairs.set(key, value);
  }
  const resource = pairs.get('r');
  if (resource === undefined) return { error: 'no r (resource)' };
  const type = pairs.get('t');
  if (type !== undefined && type !== 'stream') return { error: `t=${type} is not stream` };
  const m = pairs.get('m');
  let mode: 'publish' | 'play';
  if (m === undefined || m === 'request') mode = 'play';
  else if (m === 'publish') mode = 'publish';
  else return { error: `unsupported m=${m}` };
  const session = pairs.get('s');
  if (session === '') return { error: 'empty s' };
  return request(mode, resource, session);
}

/** `PATH[?query][:KEY]` or `PATH[?query]:USER:PASS` (after `publish:` or `read:`). */
function parseMediaMtx(mode: 'publish' | 'play', rest: string): StreamIdRequest | StreamIdError {
  const parts = rest.split(':');
  if (parts.length > 3) return { error: 'too many : fields' };
  const [target = '', first, second] = parts;
  const credential = parts.length === 3 ? second : first;
  if (credential === '') return { error: mode === 'publish' ? 'empty key' : 'empty token' };
  return request(mode, target, credential);
}

/** The request for `target` (a path, maybe with `?query`) and a key or token. */
function request(
  mode: 'publish' | 'play',
  target: string,
  credential: string | undefined,
): StreamIdRequest {
  const mark = target.indexOf('?');
  const path = mark === -1 ? target : target.slice(0, mark);
  const params = new URLSearchParams(mark === -1 ? '' : target.slice(mark + 1));
  if (credential !== undefined) params.set(mode === 'publish' ? 'key' : 'token', credential);
  return { mode, path, query: params.toString() };
}

/** What any stream path must pass here: not empty, not absolute, no `..` segment. */
function structuralCheck(path: string): string | null {
  if (path.length === 0) return 'empty';
  if (path.startsWith('/')) return 'leading /';
  if (path.split('/').includes('..')) return '.. segment';
  return null;
}
