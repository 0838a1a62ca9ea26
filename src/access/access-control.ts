// AccessControl: every publish and play decision in one place. Address rules, limits, publish
// keys, signed playback tokens (HMAC or JWT), the on_publish / on_play webhooks and the HLS
// media signatures that carry a playlist's token to its parts and segments.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import {
  SessionRegistry,
  type Session,
  type SessionEnd,
  type SessionSlot,
} from '../hub/session-registry.ts';
import type { AccessStore } from './access-store.ts';
import { AddressList, isLoopback } from './cidr.ts';
import type { JwtVerifier } from './jwt.ts';
import type { AccessKeys } from './keys.ts';
import { looksLikeJwt } from './jwt.ts';
import { hlsAccessExpiry, signHlsAccess, verifyHlsAccess, verifyToken } from './tokens.ts';
import type { WebhookClient } from './webhooks.ts';

/** Why something was refused: an HTTP status for HTTP clients and a stable code for logs. */
export interface Refusal {
  readonly ok: false;
  readonly status: 401 | 403 | 429 | 503;
  /** Stable reason code: `bad-key`, `token-expired`, `ip-denied`, `max-viewers`... */
  readonly code: string;
  readonly message: string;
}

/**
 * The answer to a publish or play attempt. An attempt that asked to `reserve` gets the slot that
 * has counted it toward the limits since its check: it must become the session
 * (`sessions.add(spec, slot)`) or be released (the client left before it started).
 */
export type AccessResult = { readonly ok: true; readonly slot?: SessionSlot } | Refusal;

/** A publisher asking to publish. */
export interface PublishAttempt {
  readonly path: string;
  readonly ip: string;
  readonly protocol: string;
  /** The query that came with the stream name (`key=...`, `token=...`), without `?`. */
  readonly query: string;
  readonly sessionId: string;
  /** Adobe challenge credentials from the connect, checked against the stream's key. */
  readonly adobe?: { readonly user: string; readonly check: (password: string) => boolean };
  /**
   * A publish key or publish token from `Authorization: Bearer` (WHIP), checked as either when
   * the query names neither.
   */
  readonly bearer?: string;
  /** Hold a slot from the limit check on, returned with an allowed result (see AccessResult). */
  readonly reserve?: boolean;
}

/** A viewer asking to play. */
export interface PlayAttempt {
  readonly path: string;
  readonly ip: string;
  readonly protocol: string;
  /** The query of the request (`token=...`), without `?`. */
  readonly query: string;
  /** A token from `Authorization: Bearer`, preferred over the query. */
  readonly bearer?: string;
  /** The id its on_play carries (and its on_stop later); made here when absent (HLS). */
  readonly sessionId?: string;
  /**
   * Viewer limits apply: connection-like protocols, and with limits.countHlsViewers the HLS
   * playlist request that would start a new session (not its reloads, already counted).
   */
  readonly counted: boolean;
  /**
   * A probe (HEAD): only whether it may play is decided (address rules, the token of a private
   * stream); no webhook is asked, no limit applies and nothing is cached.
   */
  readonly probe?: boolean;
  /** Hold a slot from the limit check on (counted attempts), returned with an allowed result. */
  readonly reserve?: boolean;
  /** The viewer has no connection of its own (HLS): its slot counts as such. */
  readonly connectionless?: boolean;
}

/** What AccessControl is built from. */
export interface AccessControlOptions {
  readonly config: Config;
  /**
   * The keys derived from the auth secret: `token` verifies play/publish tokens, `hlsMedia`
   * signs and verifies `hs=`; never the secret itself, nor the hooks key.
   */
  readonly keys: Pick<AccessKeys, 'token' | 'hlsMedia' | 'cluster'>;
  readonly store: AccessStore;
  readonly sessions: SessionRegistry;
  readonly hooks: WebhookClient;
  readonly jwt: JwtVerifier | null;
  readonly logger: Logger;
  readonly nowMs?: () => number;
  /** Whether the process is over its memory budget: new publishers and viewers are refused. */
  readonly overMemoryBudget?: () => boolean;
  /** Whether the node sends limits.maxEgressMbps or more: new counted viewers are refused. */
  readonly overEgress?: () => boolean;
  /**
   * The source stream of a rendition path (`live/x` for `live/x_480p`), or null: a rendition of
   * a private stream is private too (its tokens name the rendition's own path).
   */
  readonly renditionSourceOf?: (path: string) => string | null;
}

const FAILURE_WINDOW_MS = 60_000;
const MAX_TRACKED_IPS = 10_000;
const HLS_DECISION_TTL_MS = 60_000;
const MAX_HLS_DECISIONS = 10_000;

interface FailureRecord {
  count: number;
  windowStart: number;
  lockedUntil: number;
}

/** Decides publishes and plays; counts refusals by code. */
export class AccessControl {
  readonly #options: AccessControlOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #publishAllow: AddressList;
  readonly #publishDeny: AddressList;
  readonly #playAllow: AddressList;
  readonly #playDeny: AddressList;
  readonly #failures = new Map<string, FailureRecord>();
  /** HLS play decisions (token + on_play) by ip|path|sha256(token): a player's reloads are cheap. */
  readonly #hlsDecisions = new Map<string, { result: AccessResult; until: number }>();
  /** Refusals by code (metrics read it). */
  readonly refusals = new Map<string, number>();

  constructor(options: AccessControlOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'access' });
    this.#now = options.nowMs ?? Date.now;
    const { limits } = options.config;
    this.#publishAllow = AddressList.parse(limits.publishAllow);
    this.#publishDeny = AddressList.parse(limits.publishDeny);
    this.#playAllow = AddressList.parse(limits.playAllow);
    this.#playDeny = AddressList.parse(limits.playDeny);
    options.sessions.subscribe({
      removed: (session, end) => {
        this.#notifyEnd(session, end);
      },
    });
  }

  /** Whether playing `path` needs a token: the API's flag, else the config's. */
  isPrivate(path: string): boolean {
    const own =
      this.#options.store.privateFlag(path) ?? this.#options.config.streams[path]?.private ?? false;
    if (own) return true;
    // A rendition's source is never itself a rendition (no ladder of a ladder): one step.
    const source = this.#options.renditionSourceOf?.(path) ?? null;
    if (source === null) return false;
    return (
      this.#options.store.privateFlag(source) ??
      this.#options.config.streams[source]?.private ??
      false
    );
  }

  /** Whether `path` has a publish key (config or API). */
  hasPublishKey(path: string): boolean {
    return (
      this.#options.config.streams[path]?.publishKey !== undefined ||
      this.#options.store.hasKeys(path)
    );
  }

  /** Decides a publish; the on_publish hook is awaited, so no media flows before the answer. */
  async authorizePublish(attempt: PublishAttempt): Promise<AccessResult> {
    const early = this.#publishEarly(attempt);
    if (early) return this.#refused(early, attempt, 'publish');
    const slot =
      attempt.reserve === true
        ? this.#options.sessions.reserve({ role: 'publisher', path: attempt.path, ip: attempt.ip })
        : undefined;
    return holding(slot, this.#decidePublish(attempt));
  }

  /**
   * The part of a publish decision that needs no waiting (address rules, limits, the key or
   * token), or null when it passes. SRT decides its handshake with it, before accept; the
   * whole decision (on_publish) follows with authorizePublish().
   */
  precheckPublish(attempt: PublishAttempt): Refusal | null {
    const refusal = this.#publishEarly(attempt) ?? this.#publishCredential(attempt);
    return refusal === null ? null : this.#refused(refusal, attempt, 'publish');
  }

  /**
   * The part of a play decision that needs no waiting (address rules, limits, a private
   * stream's HMAC token; a JWT is left to authorizePlay()), or null when it passes.
   */
  precheckPlay(attempt: PlayAttempt): Refusal | null {
    let refusal = this.#playEarly(attempt);
    if (refusal === null && this.isPrivate(attempt.path)) {
      const token = attempt.bearer ?? new URLSearchParams(attempt.query).get('token') ?? undefined;
      const jwt = this.#options.jwt !== null && token !== undefined && looksLikeJwt(token);
      refusal = jwt ? null : this.#checkHmacPlayToken(attempt, token);
      if (refusal) this.#recordFailure(attempt.ip);
    }
    return refusal === null ? null : this.#refused(refusal, attempt, 'play');
  }

  #publishEarly(attempt: PublishAttempt): Refusal | null {
    const { config, sessions } = this.#options;
    return (
      this.#lockedOut(attempt.ip) ??
      this.#addressRule(attempt.ip, this.#publishAllow, this.#publishDeny, 'publish') ??
      this.#memoryRefusal() ??
      (sessions.publishers >= config.limits.maxPublishers
        ? refuse(503, 'max-publishers', `at most ${config.limits.maxPublishers} publishers`)
        : null)
    );
  }

  /** Keys, tokens and on_publish, once the limits let the attempt through. */
  async #decidePublish(attempt: PublishAttempt): Promise<AccessResult> {
    const { config } = this.#options;
    const refusal = this.#publishCredential(attempt);
    if (refusal) return this.#refused(refusal, attempt, 'publish');
    if (config.hooks.onPublish !== '') {
      const denied = await this.#hookDenied('on_publish', attempt.sessionId, attempt);
      if (denied) return this.#refused(denied, attempt, 'publish');
    }
    return { ok: true };
  }

  /** Why the key, token or Adobe credentials do not let the attempt publish, or null. */
  #publishCredential(attempt: PublishAttempt): Refusal | null {
    const { config } = this.#options;
    const params = new URLSearchParams(attempt.query);
    const key = params.get('key') ?? attempt.bearer ?? null;
    const token = params.get('token') ?? attempt.bearer ?? null;
    const configKey = config.streams[attempt.path]?.publishKey;
    const keyed = this.hasPublishKey(attempt.path);
    const nowS = Math.floor(this.#now() / 1000);
    const tokenOk =
      token !== null &&
      verifyToken(this.#options.keys.token, token, {
        purpose: 'publish',
        path: attempt.path,
        ip: attempt.ip,
        nowS,
      }).ok;
    const keyOk =
      key !== null &&
      ((configKey !== undefined && sameSecret(key, configKey)) ||
        this.#options.store.matchKey(attempt.path, key));
    const adobeOk = configKey !== undefined && attempt.adobe?.check(configKey) === true;
    if (tokenOk || keyOk || adobeOk) return null;
    // A stream with a key needs it. On a stream without one, a key or token that does not
    // check out is ignored: this machine may publish, and the hook may allow anyone.
    const presented = key !== null || token !== null || attempt.adobe !== undefined;
    const loopbackOk = !keyed && config.auth.loopbackPublish && isLoopback(attempt.ip);
    if (!keyed && (loopbackOk || config.hooks.onPublish !== '')) return null;
    if (presented) this.#recordFailure(attempt.ip);
    return refuse(
      401,
      presented ? 'bad-key' : 'key-required',
      keyed ? 'wrong or missing publish key' : 'publishing from another machine needs a key',
    );
  }

  /**
   * Whether a play is another node of the cluster pulling `path`: its query carries `relay=`, a
   * token signed with the cluster key (derived from the shared auth.secret). Such a pull is not
   * a viewer: viewer limits do not apply to it, and it is listed as a relay.
   */
  isClusterPull(path: string, query: string, ip: string): boolean {
    const proof = new URLSearchParams(query).get('relay');
    if (proof === null) return false;
    return verifyToken(this.#options.keys.cluster, proof, {
      purpose: 'play',
      path,
      ip,
      nowS: Math.floor(this.#now() / 1000),
    }).ok;
  }

  /** Decides a play: address rules, limits, the token of a private stream, on_play. */
  async authorizePlay(attempt: PlayAttempt): Promise<AccessResult> {
    const early = this.#playEarly(attempt);
    if (early) return this.#refused(early, attempt, 'play');
    const slot =
      attempt.reserve === true && attempt.counted
        ? this.#options.sessions.reserve({
            role: 'viewer',
            path: attempt.path,
            ip: attempt.ip,
            connectionless: attempt.connectionless === true,
          })
        : undefined;
    return holding(slot, this.#playDecision(attempt));
  }

  #playEarly(attempt: PlayAttempt): Refusal | null {
    return (
      this.#lockedOut(attempt.ip) ??
      this.#addressRule(attempt.ip, this.#playAllow, this.#playDeny, 'play') ??
      (attempt.counted ? this.#viewerLimit(attempt) : null)
    );
  }

  /** The token, on_play and the HLS decision cache, once the limits let the attempt through. */
  async #playDecision(attempt: PlayAttempt): Promise<AccessResult> {
    const token = attempt.bearer ?? new URLSearchParams(attempt.query).get('token') ?? undefined;
    const cacheKey = attempt.counted || attempt.probe === true ? null : decisionKey(attempt, token);
    if (cacheKey !== null) {
      const cached = this.#hlsDecisions.get(cacheKey);
      if (cached && cached.until > this.#now()) return cached.result;
    }
    const result = await this.#decidePlay(attempt, token);
    if (cacheKey !== null) {
      if (this.#hlsDecisions.size >= MAX_HLS_DECISIONS) {
        const oldest = this.#hlsDecisions.keys().next().value;
        if (oldest !== undefined) this.#hlsDecisions.delete(oldest);
      }
      this.#hlsDecisions.set(cacheKey, { result, until: this.#now() + HLS_DECISION_TTL_MS });
    }
    return result;
  }

  /**
   * The query every HLS media URI of `path` carries (`hs=<expiry>.<signature>`), or '' for a
   * public stream. It changes once a minute, so one rendered playlist serves every viewer.
   */
  hlsMediaQuery(path: string): string {
    if (!this.isPrivate(path)) return '';
    const nowS = Math.floor(this.#now() / 1000);
    return `hs=${signHlsAccess(this.#options.keys.hlsMedia, path, hlsAccessExpiry(nowS))}`;
  }

  /** Whether an HLS media request of `path` may be served (always, for a public stream). */
  checkHlsMedia(path: string, query: string): boolean {
    if (!this.isPrivate(path)) return true;
    const value = new URLSearchParams(query).get('hs');
    if (value === null) return false;
    const nowS = Math.floor(this.#now() / 1000);
    return verifyHlsAccess(this.#options.keys.hlsMedia, value, path, nowS);
  }

  /** Tells the on_unpublish / on_stop hook that a session ended (fire and forget). */
  #notifyEnd(session: Session, details: SessionEnd): void {
    this.#options.hooks.notify({
      action: session.role === 'publisher' ? 'on_unpublish' : 'on_stop',
      id: session.id,
      stream: session.path,
      protocol: session.protocol,
      ip: session.ip,
      durationS: Math.max(0, Math.round((this.#now() - session.since) / 1000)),
      bytes: details.bytes,
      reason: details.reason,
    });
  }

  async #decidePlay(attempt: PlayAttempt, token: string | undefined): Promise<AccessResult> {
    if (this.isPrivate(attempt.path)) {
      const refusal = await this.#checkPlayTokenOrSource(attempt, token);
      if (refusal) {
        this.#recordFailure(attempt.ip);
        return this.#refused(refusal, attempt, 'play');
      }
    }
    if (this.#options.config.hooks.onPlay !== '' && attempt.probe !== true) {
      const id = attempt.sessionId ?? SessionRegistry.newId();
      const denied = await this.#hookDenied('on_play', id, attempt);
      if (denied) return this.#refused(denied, attempt, 'play');
    }
    return { ok: true };
  }

  /**
   * A rendition plays with its own path's token or with its source's: the multivariant playlist
   * passes the viewer's token on to every variant.
   */
  async #checkPlayTokenOrSource(
    attempt: PlayAttempt,
    token: string | undefined,
  ): Promise<Refusal | null> {
    const refusal = await this.#checkPlayToken(attempt, token);
    const source =
      refusal === null ? null : (this.#options.renditionSourceOf?.(attempt.path) ?? null);
    if (source === null) return refusal;
    return (await this.#checkPlayToken({ ...attempt, path: source }, token)) === null
      ? null
      : refusal;
  }

  async #checkPlayToken(attempt: PlayAttempt, token: string | undefined): Promise<Refusal | null> {
    const jwt = this.#options.jwt;
    if (jwt !== null && token !== undefined && looksLikeJwt(token)) {
      const checked = await jwt.verify(token, attempt.path);
      if (checked.ok) return null;
      return refuse(
        checked.reason === 'stream' ? 403 : 401,
        `token-${checked.reason}`,
        `playback token refused (${checked.reason})`,
      );
    }
    return this.#checkHmacPlayToken(attempt, token);
  }

  /** Why a play token signed with the auth secret does not let the attempt play, or null. */
  #checkHmacPlayToken(attempt: PlayAttempt, token: string | undefined): Refusal | null {
    if (token === undefined || token === '') {
      return refuse(401, 'token-required', 'this stream is private: a playback token is needed');
    }
    const checked = verifyToken(this.#options.keys.token, token, {
      purpose: 'play',
      path: attempt.path,
      ip: attempt.ip,
      nowS: Math.floor(this.#now() / 1000),
    });
    if (checked.ok) return null;
    return refuse(
      checked.reason === 'ip' ? 403 : 401,
      `token-${checked.reason}`,
      `playback token refused (${checked.reason})`,
    );
  }

  #addressRule(
    ip: string,
    allow: AddressList,
    deny: AddressList,
    what: 'publish' | 'play',
  ): Refusal | null {
    if (deny.matches(ip)) return refuse(403, 'ip-denied', `this address may not ${what}`);
    if (!allow.empty && !allow.matches(ip)) {
      return refuse(403, 'ip-not-allowed', `this address may not ${what}`);
    }
    return null;
  }

  /**
   * Why a counted viewer may not start now (the memory budget or a limit), or null. HLS sessions
   * (connectionless) count toward maxViewers and maxViewersPerStream only with
   * limits.countHlsViewers, and never toward maxViewersPerIp (hls.maxSessionsPerIp bounds them).
   */
  #viewerLimit(attempt: PlayAttempt): Refusal | null {
    const { sessions, config } = this.#options;
    const { limits } = config;
    const withHls = limits.countHlsViewers;
    const viewers = withHls ? sessions.viewers : sessions.connectedViewers;
    const ofStream = withHls
      ? sessions.viewersOf(attempt.path)
      : sessions.connectedViewersOf(attempt.path);
    const perIp =
      limits.maxViewersPerIp > 0 && attempt.protocol !== 'rtmp' && attempt.protocol !== 'hls';
    return (
      this.#memoryRefusal() ??
      this.#egressRefusal() ??
      (viewers >= limits.maxViewers
        ? refuse(503, 'max-viewers', `at most ${limits.maxViewers} viewers`)
        : ofStream >= limits.maxViewersPerStream
          ? refuse(503, 'max-viewers-per-stream', 'this stream has all the viewers it may have')
          : perIp && sessions.connectedViewersFrom(attempt.ip) >= limits.maxViewersPerIp
            ? refuse(429, 'max-viewers-per-ip', 'too many viewers from this address')
            : null)
    );
  }

  #egressRefusal(): Refusal | null {
    if (this.#options.overEgress?.() !== true) return null;
    return refuse(503, 'max-egress', 'this server sends all the bandwidth it may; try another');
  }

  #memoryRefusal(): Refusal | null {
    if (this.#options.overMemoryBudget?.() !== true) return null;
    return refuse(503, 'memory-budget', 'the server is at its memory budget; try again later');
  }

  #lockedOut(ip: string): Refusal | null {
    const record = this.#failures.get(ip);
    if (record === undefined || record.lockedUntil <= this.#now()) return null;
    return refuse(429, 'too-many-failures', 'too many wrong keys or tokens; try again later');
  }

  #recordFailure(ip: string): void {
    const now = this.#now();
    let record = this.#failures.get(ip);
    if (record === undefined || now - record.windowStart > FAILURE_WINDOW_MS) {
      if (record === undefined && this.#failures.size >= MAX_TRACKED_IPS) {
        const oldest = this.#failures.keys().next().value;
        if (oldest !== undefined) this.#failures.delete(oldest);
      }
      record = { count: 0, windowStart: now, lockedUntil: 0 };
      this.#failures.set(ip, record);
    }
    record.count++;
    if (record.count >= this.#options.config.auth.maxFailuresPerIp) {
      record.lockedUntil = now + FAILURE_WINDOW_MS;
    }
  }

  /** Asks the on_publish / on_play hook: its refusal, or null when it allows. */
  async #hookDenied(
    action: 'on_publish' | 'on_play',
    id: string,
    attempt: { path: string; ip: string; protocol: string; query: string },
  ): Promise<Refusal | null> {
    const decision = await this.#options.hooks.decide({
      action,
      id,
      stream: attempt.path,
      protocol: attempt.protocol,
      ip: attempt.ip,
      query: attempt.query,
    });
    return decision.allowed ? null : refuse(403, 'hook-denied', decision.reason);
  }

  #refused(
    refusal: Refusal,
    attempt: { path: string; ip: string; protocol: string },
    what: 'publish' | 'play',
  ): Refusal {
    this.refusals.set(refusal.code, (this.refusals.get(refusal.code) ?? 0) + 1);
    // One line per refusal, in a fixed shape a fail2ban filter can match.
    this.#logger.warn(
      { reason: refusal.code, peer: attempt.ip, stream: attempt.path, protocol: attempt.protocol },
      `${what} refused`,
    );
    return refusal;
  }
}

/**
 * The HLS decision cache's key: the token by its SHA-256, so the cache holds neither tokens
 * (secrets) nor what a client made long (a URL can carry a 16 KiB one: 10,000 of those were
 * 120 MB).
 */
function decisionKey(attempt: { ip: string; path: string }, token: string | undefined): string {
  const digest = createHash('sha256')
    .update(token ?? '', 'utf8')
    .digest('base64url');
  return `${attempt.ip}|${attempt.path}|${digest}`;
}

/** The decision, with `slot` released unless it allows (then the slot goes with the answer). */
async function holding(
  slot: SessionSlot | undefined,
  decision: Promise<AccessResult>,
): Promise<AccessResult> {
  if (slot === undefined) return decision;
  let result: AccessResult;
  try {
    result = await decision;
  } catch (error) {
    slot.release();
    throw error;
  }
  if (!result.ok) {
    slot.release();
    return result;
  }
  return { ok: true, slot };
}

function refuse(status: Refusal['status'], code: string, message: string): Refusal {
  return { ok: false, status, code, message };
}

/** Constant-time equality of two secrets of any lengths (compares their SHA-256 digests). */
export function sameSecret(a: string, b: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Refusals of a node that is full (not of this viewer): another node of the cluster may take
 * the viewer, so HTTP viewers refused for these are redirected there when one has room.
 */
export const NODE_FULL_CODES: ReadonlySet<string> = new Set([
  'max-viewers',
  'max-viewers-per-stream',
  'max-egress',
  'memory-budget',
]);
