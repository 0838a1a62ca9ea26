// HLS viewers as sessions. HLS has no connection to follow: a viewer is an address + user agent
// asking for one stream's playlists and media, and it has left once it asks for nothing for a
// while. Sessions are registered like RTMP and FLV viewers, so the API, the dashboard, the
// metrics, the analytics and on_stop see HLS viewers too.
//
// The user agent is the client's to choose, so sessions are bounded per address
// (hls.maxSessionsPerIp) and in total: beyond, requests are still served (an office behind one
// NAT must never be refused because of bookkeeping) but start no session, and are counted.
// Every request costs O(1), and so does every ended session: the sweep walks the sessions in
// order of last request and stops at the first one still active.
import { performance } from 'node:perf_hooks';
import { SessionRegistry, type Session, type SessionSlot } from '../../hub/session-registry.ts';

function idOf(id: string | undefined): { id?: string } {
  return id === undefined ? {} : { id };
}

/** A viewer that asked nothing for this long has left. */
const IDLE_MS = 15_000;
/** A kicked viewer's requests are refused for this long. */
const KICK_MS = 60_000;
const SWEEP_MS = 5_000;
/** HLS sessions tracked at once; beyond, new viewers are served but not tracked. */
const MAX_SESSIONS = 100_000;
/**
 * Sessions ended per sweep step; more idle ones are ended on the next turns of the event loop,
 * so a crowd that leaves at once (or a flood of made-up user agents) never blocks it for long:
 * each end goes to every registry listener (analytics, on_stop).
 */
export const SWEEP_BATCH = 250;

/** What HlsSessions is built from. */
export interface HlsSessionsOptions {
  /** Sessions tracked at once per address (hls.maxSessionsPerIp). */
  readonly maxPerIp: number;
  /** Sessions tracked at once in total (100,000). */
  readonly maxSessions?: number;
  /** Monotonic clock in ms (tests give a fake one). */
  readonly now?: () => number;
}

/** How to answer one request: with its session, without one (over a cap), or not (kicked). */
export type HlsAdmission = 'tracked' | 'untracked' | 'kicked';

interface Tracked {
  readonly session: Session;
  lastMs: number;
  bytes: number;
}

/** Tracks HLS viewers by address, user agent and stream. */
export class HlsSessions {
  readonly #registry: SessionRegistry;
  readonly #maxPerIp: number;
  readonly #maxSessions: number;
  readonly #now: () => number;
  /** By key, in order of last request (a request moves its session to the end). */
  readonly #tracked = new Map<string, Tracked>();
  readonly #perIp = new Map<string, number>();
  /** Kicked viewers (by key) and kicked address + stream pairs, in order of expiry. */
  readonly #kicked = new Map<string, number>();
  readonly #kickedStreams = new Map<string, number>();
  /** Ids handed to play decisions (on_play) before the session starts, so on_stop matches. */
  readonly #pendingIds = new Map<string, string>();
  #untracked = 0;
  #timer: NodeJS.Timeout | null = null;
  #sweepNext: NodeJS.Immediate | null = null;

  constructor(registry: SessionRegistry, options: HlsSessionsOptions) {
    this.#registry = registry;
    this.#maxPerIp = options.maxPerIp;
    this.#maxSessions = options.maxSessions ?? MAX_SESSIONS;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Requests served without a session: a cap was reached, or media came with no session
   * (metrics). */
  get untrackedRequests(): number {
    return this.#untracked;
  }

  /** The id this viewer's session has, or will have once it starts. */
  idOf(path: string, ip: string, userAgent: string | undefined): string {
    const key = keyOf(path, ip, userAgent);
    const tracked = this.#tracked.get(key);
    if (tracked !== undefined) return tracked.session.id;
    let id = this.#pendingIds.get(key);
    if (id === undefined) {
      id = SessionRegistry.newId();
      // Over a cap no session will start: keep nothing for it.
      if (!this.#hasRoom(ip)) return id;
      if (this.#pendingIds.size >= this.#maxSessions) {
        const oldest = this.#pendingIds.keys().next().value;
        if (oldest !== undefined) this.#pendingIds.delete(oldest);
      }
      this.#pendingIds.set(key, id);
    }
    return id;
  }

  /** Whether a request of this viewer would start a session now (none yet, room for one). */
  wouldStart(path: string, ip: string, userAgent: string | undefined): boolean {
    const key = keyOf(path, ip, userAgent);
    return !this.#tracked.has(key) && !this.#isKicked(this.#kicked, key) && this.#hasRoom(ip);
  }

  /**
   * Admits one request of `path` by this viewer. A viewer with a session counts the request
   * toward it; one without starts a session when `start` (an allowed playlist request) and the
   * caps leave room, else it is served untracked. A kicked viewer is refused, and so, while a
   * kick on its address and stream lasts, is any untracked one: beyond the cap, a kicked viewer
   * cannot come back unseen under another user agent.
   */
  admit(
    path: string,
    ip: string,
    userAgent: string | undefined,
    start: boolean,
    slot?: SessionSlot,
  ): HlsAdmission {
    const key = keyOf(path, ip, userAgent);
    if (this.#isKicked(this.#kicked, key)) return 'kicked';
    const tracked = this.#tracked.get(key);
    if (tracked !== undefined) {
      this.#refresh(key, tracked);
      return 'tracked';
    }
    if (start && this.#hasRoom(ip)) {
      this.#start(key, path, ip, userAgent, slot);
      return 'tracked';
    }
    if (this.#isKicked(this.#kickedStreams, `${ip}|${path}`)) return 'kicked';
    this.#untracked++;
    return 'untracked';
  }

  /** Counts `bytes` sent to this viewer (nothing when it has no session). */
  sent(path: string, ip: string, userAgent: string | undefined, bytes: number): void {
    const key = keyOf(path, ip, userAgent);
    const tracked = this.#tracked.get(key);
    if (tracked === undefined) return;
    tracked.bytes += bytes;
    this.#refresh(key, tracked);
  }

  /**
   * Ends the sessions of viewers that asked nothing for a while, oldest first: at most
   * SWEEP_BATCH now, the rest on the next turns of the event loop (one step each).
   */
  sweep(): void {
    if (this.#sweepNext !== null) clearImmediate(this.#sweepNext);
    this.#sweepNext = null;
    const now = this.#now();
    let ended = 0;
    for (const [key, tracked] of this.#tracked) {
      if (now - tracked.lastMs < IDLE_MS) break; // every later one asked more recently
      if (ended === SWEEP_BATCH) {
        this.#sweepNext = setImmediate(() => {
          this.sweep();
        });
        this.#sweepNext.unref();
        break;
      }
      this.#end(key, 'left');
      ended++;
    }
    forgetExpired(this.#kicked, now);
    forgetExpired(this.#kickedStreams, now);
    if (this.#tracked.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Ends every session (shutdown). */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#sweepNext !== null) clearImmediate(this.#sweepNext);
    this.#sweepNext = null;
    for (const key of [...this.#tracked.keys()]) this.#end(key, 'server-shutdown');
  }

  #hasRoom(ip: string): boolean {
    return this.#tracked.size < this.#maxSessions && (this.#perIp.get(ip) ?? 0) < this.#maxPerIp;
  }

  #isKicked(kicks: Map<string, number>, key: string): boolean {
    const until = kicks.get(key);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    kicks.delete(key);
    return false;
  }

  /** Marks a request now, moving the session to the end of the sweep order. */
  #refresh(key: string, tracked: Tracked): void {
    const now = this.#now();
    if (now === tracked.lastMs) return;
    tracked.lastMs = now;
    this.#tracked.delete(key);
    this.#tracked.set(key, tracked);
  }

  #start(
    key: string,
    path: string,
    ip: string,
    userAgent: string | undefined,
    slot: SessionSlot | undefined,
  ): void {
    const entry: Tracked = {
      lastMs: this.#now(),
      bytes: 0,
      session: this.#registry.add(
        {
          ...idOf(this.#pendingIds.get(key)),
          role: 'viewer',
          protocol: 'hls',
          // Not a connection: the connection limits count it only with limits.countHlsViewers.
          connectionless: true,
          path,
          ip,
          ...(userAgent === undefined ? {} : { userAgent: userAgent.slice(0, 200) }),
          close: () => {
            this.#end(key, 'kicked');
            const until = this.#now() + KICK_MS;
            // Re-inserted, so both maps stay in order of expiry.
            this.#kicked.delete(key);
            this.#kicked.set(key, until);
            this.#kickedStreams.delete(`${ip}|${path}`);
            this.#kickedStreams.set(`${ip}|${path}`, until);
          },
          bytes: () => entry.bytes,
        },
        slot,
      ),
    };
    this.#pendingIds.delete(key);
    this.#tracked.set(key, entry);
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1);
    this.#timer ??= setInterval(() => {
      if (this.#sweepNext === null) this.sweep(); // else a sweep is under way
    }, SWEEP_MS).unref();
  }

  #end(key: string, reason: string): void {
    const tracked = this.#tracked.get(key);
    if (tracked === undefined) return;
    this.#tracked.delete(key);
    const { ip } = tracked.session;
    const left = (this.#perIp.get(ip) ?? 1) - 1;
    if (left <= 0) this.#perIp.delete(ip);
    else this.#perIp.set(ip, left);
    this.#registry.remove(tracked.session, { reason, bytes: tracked.bytes });
  }
}

function keyOf(path: string, ip: string, userAgent: string | undefined): string {
  return `${ip}|${userAgent ?? ''}|${path}`;
}

/** Deletes the expired entries of a map kept in order of expiry (stops at the first live one). */
function forgetExpired(expiries: Map<string, number>, now: number): void {
  for (const [key, until] of expiries) {
    if (until > now) return;
    expiries.delete(key);
  }
}
