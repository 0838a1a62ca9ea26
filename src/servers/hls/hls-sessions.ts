// HLS viewers as sessions. HLS has no connection to follow: a viewer is an address + user agent
// asking for one stream's playlists and media, and it has left once it asks for nothing for a
// while. Sessions are registered like RTMP and FLV viewers, so the API, the dashboard, the
// metrics, the analytics and on_stop see HLS viewers too.
import { SessionRegistry, type Session } from '../../hub/session-registry.ts';

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

interface Tracked {
  readonly session: Session;
  lastMs: number;
  bytes: number;
}

/** Tracks HLS viewers by address, user agent and stream. */
export class HlsSessions {
  readonly #registry: SessionRegistry;
  readonly #tracked = new Map<string, Tracked>();
  readonly #kicked = new Map<string, number>();
  /** Ids handed to play decisions (on_play) before the session starts, so on_stop matches. */
  readonly #pendingIds = new Map<string, string>();
  readonly #now: () => number;
  #timer: NodeJS.Timeout | null = null;

  constructor(registry: SessionRegistry, now: () => number = Date.now) {
    this.#registry = registry;
    this.#now = now;
  }

  /** The id this viewer's session has, or will have once it starts. */
  idOf(path: string, ip: string, userAgent: string | undefined): string {
    const key = `${ip}|${userAgent ?? ''}|${path}`;
    const tracked = this.#tracked.get(key);
    if (tracked !== undefined) return tracked.session.id;
    let id = this.#pendingIds.get(key);
    if (id === undefined) {
      if (this.#pendingIds.size >= MAX_SESSIONS) this.#pendingIds.clear();
      id = SessionRegistry.newId();
      this.#pendingIds.set(key, id);
    }
    return id;
  }

  /**
   * Counts a request of `path` by this viewer (`bytes` sent); starts its session on the first.
   * Returns false when the viewer was kicked (refuse the request).
   */
  touch(path: string, ip: string, userAgent: string | undefined, bytes: number): boolean {
    const key = `${ip}|${userAgent ?? ''}|${path}`;
    const now = this.#now();
    const kickedUntil = this.#kicked.get(key);
    if (kickedUntil !== undefined) {
      if (kickedUntil > now) return false;
      this.#kicked.delete(key);
    }
    let tracked = this.#tracked.get(key);
    if (tracked === undefined) {
      if (this.#tracked.size >= MAX_SESSIONS) return true;
      const entry: Tracked = {
        lastMs: now,
        bytes: 0,
        session: this.#registry.add({
          ...idOf(this.#pendingIds.get(key)),
          role: 'viewer',
          protocol: 'hls',
          path,
          ip,
          ...(userAgent === undefined ? {} : { userAgent: userAgent.slice(0, 200) }),
          close: () => {
            this.#end(key, 'kicked');
            this.#kicked.set(key, this.#now() + KICK_MS);
          },
          bytes: () => entry.bytes,
        }),
      };
      tracked = entry;
      this.#pendingIds.delete(key);
      this.#tracked.set(key, tracked);
      this.#timer ??= setInterval(() => {
        this.sweep();
      }, SWEEP_MS).unref();
    }
    tracked.lastMs = now;
    tracked.bytes += bytes;
    return true;
  }

  /** Ends the sessions of viewers that asked nothing for a while. */
  sweep(): void {
    const now = this.#now();
    for (const [key, tracked] of this.#tracked) {
      if (now - tracked.lastMs >= IDLE_MS) this.#end(key, 'left');
    }
    for (const [key, until] of this.#kicked) if (until <= now) this.#kicked.delete(key);
    if (this.#tracked.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Ends every session (shutdown). */
  close(): void {
    for (const key of [...this.#tracked.keys()]) this.#end(key, 'server-shutdown');
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  #end(key: string, reason: string): void {
    const tracked = this.#tracked.get(key);
    if (tracked === undefined) return;
    this.#tracked.delete(key);
    this.#registry.remove(tracked.session, { reason, bytes: tracked.bytes });
  }
}
