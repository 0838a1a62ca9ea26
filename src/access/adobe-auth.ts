// The server side of Adobe RTMP challenge authentication ("authmod=adobe"), as spoken by OBS
// ("Use authentication") and ffmpeg (`rtmp://user:pass@host/app/name`).
//
// a) connect without authmod        -> _error needAuthDescription()
// b) connect ?authmod=adobe&user=U  -> _error AdobeChallenges.issue(U).description
// c) connect ?authmod=adobe&user=U&challenge=C2&response=R&opaque=O
//    -> AdobeChallenges.take(O), then verifyAdobeResponse():
//    R = base64(md5(base64(md5(U + salt + password)) + (opaque || challenge) + C2))
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The adobe fields of a connect query (the part after `?` of the app or tcUrl). */
export interface AdobeQuery {
  /** The user name ('' when the query has none). */
  user: string;
  /** The client's own challenge (step c). */
  challenge?: string;
  /** The response hash (step c). */
  response?: string;
  /** The opaque value the server issued in step b, echoed back (step c). */
  opaque?: string;
}

/** A challenge remembered between steps b and c. */
interface Pending {
  user: string;
  salt: string;
  challenge: string;
  issuedAtMs: number;
}

/** Longest query value kept; longer ones are cut (no honest client sends them). */
const MAX_VALUE_LENGTH = 256;

function decodeValue(raw: string): string {
  // Values are not form-encoded: base64 `+` stays `+` (OBS and ffmpeg send it raw).
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    value = raw;
  }
  return value.slice(0, MAX_VALUE_LENGTH);
}

/**
 * Reads the adobe fields of a connect query (`authmod=adobe&user=U[&challenge=..&response=..
 * &opaque=..]`; a leading `?` is allowed, may be empty). Values are percent-decoded, `+` is kept
 * (base64). The first occurrence of a key wins. Returns null when authmod is not `adobe`.
 */
export function parseAdobeQuery(query: string): AdobeQuery | null {
  const text = query.startsWith('?') ? query.slice(1) : query;
  const fields = new Map<string, string>();
  for (const pair of text.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq === -1 ? pair : pair.slice(0, eq);
    const value = eq === -1 ? '' : pair.slice(eq + 1);
    if (key !== '' && !fields.has(key)) fields.set(key, decodeValue(value));
  }
  if (fields.get('authmod') !== 'adobe') return null;
  const result: AdobeQuery = { user: fields.get('user') ?? '' };
  const challenge = fields.get('challenge');
  const response = fields.get('response');
  const opaque = fields.get('opaque');
  if (challenge !== undefined) result.challenge = challenge;
  if (response !== undefined) result.response = response;
  if (opaque !== undefined) result.opaque = opaque;
  return result;
}

/** The `_error` description of step a: the client must retry with authmod=adobe and a user. */
export function needAuthDescription(): string {
  return '[ AccessManager.Reject ] : [ code=403 need auth; authmod=adobe ] : ';
}

/**
 * The challenges of step b, remembered by their opaque value until the client answers (step c).
 * Bounded: at most `max` entries (default 10 000, the oldest evicted first), each valid for
 * `ttlMs` (default 60 s) and usable once.
 */
export class AdobeChallenges {
  private readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;
  /** By opaque, in insertion order (oldest first). */
  private readonly pending = new Map<string, Pending>();

  constructor(options: { ttlMs?: number; max?: number; now?: () => number } = {}) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.max = Math.max(1, options.max ?? 10_000);
    this.now = options.now ?? Date.now;
  }

  /**
   * Step b: makes a salt, a challenge and an opaque value (hex, safe in a query string) for the
   * user, remembers them, and returns them with the `_error` description to send.
   */
  issue(user: string): { salt: string; challenge: string; opaque: string; description: string } {
    const nowMs = this.now();
    this.prune(nowMs);
    while (this.pending.size >= this.max) {
      const oldest = this.pending.keys().next();
      if (oldest.done === true) break;
      this.pending.delete(oldest.value);
    }
    const salt = randomBytes(8).toString('hex');
    const challenge = randomBytes(8).toString('hex');
    const opaque = randomBytes(12).toString('hex');
    this.pending.set(opaque, { user, salt, challenge, issuedAtMs: nowMs });
    const description =
      `[ AccessManager.Reject ] : [ authmod=adobe ] : ?reason=needauth` +
      `&user=${encodeURIComponent(user)}&salt=${salt}&challenge=${challenge}&opaque=${opaque}`;
    return { salt, challenge, opaque, description };
  }

  /** Step c: the challenge issued with this opaque value, once; undefined if unknown or expired. */
  take(opaque: string): { user: string; salt: string; challenge: string } | undefined {
    const entry = this.pending.get(opaque);
    if (entry === undefined) return undefined;
    this.pending.delete(opaque);
    if (this.now() - entry.issuedAtMs > this.ttlMs) return undefined;
    return { user: entry.user, salt: entry.salt, challenge: entry.challenge };
  }

  /** Challenges currently remembered (expired ones may still count until the next issue()). */
  get size(): number {
    return this.pending.size;
  }

  /** Drops expired entries from the oldest end. */
  private prune(nowMs: number): void {
    for (const [opaque, entry] of this.pending) {
      if (nowMs - entry.issuedAtMs <= this.ttlMs) break;
      this.pending.delete(opaque);
    }
  }
}

function md5Base64(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('base64');
}

/**
 * Checks a step-c response: base64(md5(base64(md5(user + salt + password)) + (opaque if not
 * empty, else challenge) + clientChallenge)). The comparison is constant-time (of SHA-256
 * digests, so the lengths never differ).
 */
export function verifyAdobeResponse(options: {
  user: string;
  password: string;
  salt: string;
  challenge: string;
  opaque: string;
  clientChallenge: string;
  response: string;
}): boolean {
  const { user, password, salt, challenge, opaque, clientChallenge, response } = options;
  const hash1 = md5Base64(user + salt + password);
  const expected = md5Base64(hash1 + (opaque !== '' ? opaque : challenge) + clientChallenge);
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(response, 'utf8').digest();
  return timingSafeEqual(a, b);
}
