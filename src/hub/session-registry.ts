// SessionRegistry: every publisher and viewer connection, by id, so limits can count them and
// the admin API can list and kick them. Servers register their sessions; the registry never
// learns a protocol beyond its name.
import { randomBytes } from 'node:crypto';

/** Whether a session sends media in or takes it out. */
export type SessionRole = 'publisher' | 'viewer';

/** What a server tells the registry about one session. */
export interface SessionSpec {
  /** The id its hooks already used (SessionRegistry.newId()); a new one when absent. */
  readonly id?: string;
  readonly role: SessionRole;
  /** `rtmp`, `http-flv`, `ws-flv`... */
  readonly protocol: string;
  /** Stream path (`live/cam1`). */
  readonly path: string;
  /** Remote address. */
  readonly ip: string;
  /** Closes the connection (kick, key revoked); must be safe to call more than once. */
  readonly close: (reason: string) => void;
  /** Bytes moved so far (received for a publisher, sent for a viewer). */
  readonly bytes?: () => number;
  /** Frames dropped so far (a viewer's queue could not keep up). */
  readonly droppedFrames?: () => number;
  /** Frames waiting in the viewer's queue now. */
  readonly queueDepth?: () => number;
  /** Transport figures now (SRT: RTT, loss, retransmissions, receive buffer), or null. */
  readonly transport?: () => Readonly<Record<string, number>> | null;
  /** The User-Agent the client sent (HTTP), or the flashVer (RTMP). */
  readonly userAgent?: string;
  /**
   * A viewer with no connection of its own (HLS: inferred from requests). Listed and counted in
   * `viewers` like any other, but not in the `connected*` counts the connection limits use.
   */
  readonly connectionless?: boolean;
}

/** A registered session. */
export interface Session extends SessionSpec {
  readonly id: string;
  /** Wall clock of registration, ms since the epoch. */
  readonly since: number;
}

/** How a session ended, for analytics and the hooks. */
export interface SessionEnd {
  readonly reason: string;
  /** Bytes moved over its life. */
  readonly bytes: number;
  /** Frames dropped for it (a viewer that could not keep up). */
  readonly droppedFrames: number;
}

/** What a slot counts as: the fields of a SessionSpec the limits read. */
export type SlotSpec = Pick<SessionSpec, 'role' | 'path' | 'ip' | 'connectionless'>;

/** A held slot is released on its own after this long (a caller that forgot it). */
const SLOT_TTL_MS = 120_000;

/**
 * Room held for a client while its publish or play is being decided (a webhook, a JWKS fetch):
 * it counts toward the limits like a session, so concurrent attempts cannot all pass a limit
 * that only one of them fits. It ends as a session (`add(spec, slot)`) or is released; a slot
 * forgotten by its holder releases itself after SLOT_TTL_MS. release() is idempotent.
 */
export class SessionSlot {
  readonly spec: SlotSpec;
  #state: 'held' | 'used' | 'released' = 'held';
  readonly #release: () => void;
  readonly #timer: NodeJS.Timeout;

  /** @internal made by SessionRegistry.reserve() */
  constructor(spec: SlotSpec, release: () => void) {
    this.spec = spec;
    this.#release = release;
    this.#timer = setTimeout(() => {
      this.release();
    }, SLOT_TTL_MS);
    this.#timer.unref();
  }

  get held(): boolean {
    return this.#state === 'held';
  }

  /** Gives the room back (the attempt was refused, or its client left). */
  release(): void {
    if (this.#state !== 'held') return;
    this.#state = 'released';
    clearTimeout(this.#timer);
    this.#release();
  }

  /** @internal the room now belongs to a session */
  use(): boolean {
    if (this.#state !== 'held') return false;
    this.#state = 'used';
    clearTimeout(this.#timer);
    return true;
  }
}

/** Told of every session that starts and ends (analytics, metrics). */
export interface SessionListener {
  added?(session: Session): void;
  removed?(session: Session, end: SessionEnd): void;
}

/** Counts kept up to date on add/remove, so limits cost O(1) per connection. */
export class SessionRegistry {
  readonly #listeners = new Set<SessionListener>();
  /** Bytes of ended sessions by `${role}:${protocol}`, so totals survive the sessions. */
  readonly #endedBytes = new Map<string, number>();
  /** Frames dropped for ended viewers, so the total only grows. */
  #endedDroppedFrames = 0;
  readonly #sessions = new Map<string, Session>();
  readonly #viewersByPath = new Map<string, number>();
  readonly #viewersByIp = new Map<string, number>();
  readonly #connectedByPath = new Map<string, number>();
  readonly #connectedByIp = new Map<string, number>();
  #viewers = 0;
  #connectedViewers = 0;
  #publishers = 0;

  /** A fresh session id: made before the play/publish decision, so every hook of a session
   * (on_play, then on_stop) carries the same id. */
  static newId(): string {
    return randomBytes(6).toString('hex');
  }

  /** Holds room for a client being decided on: it counts toward the limits from now on. */
  reserve(spec: SlotSpec): SessionSlot {
    this.#count(spec, 1);
    return new SessionSlot({ ...spec }, () => {
      this.#count(spec, -1);
    });
  }

  /**
   * Registers a session; returns it (with its id). Call remove() when it ends. With the `slot`
   * held for it by the decision, the session takes that room instead of counting again.
   */
  add(spec: SessionSpec, slot?: SessionSlot): Session {
    const session: Session = { ...spec, id: spec.id ?? SessionRegistry.newId(), since: Date.now() };
    this.#sessions.set(session.id, session);
    if (slot?.use() === true) {
      // The slot counted what it was reserved as; a session that turned out otherwise corrects it.
      this.#count(slot.spec, -1);
    }
    this.#count(spec, 1);
    for (const listener of this.#listeners) {
      try {
        listener.added?.(session);
      } catch {
        // as above
      }
    }
    return session;
  }

  /** Listens to sessions starting and ending; returns the function that stops it. */
  subscribe(listener: SessionListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Bytes moved by every session so far (ended ones included), by role and protocol. */
  bytesTotals(): Map<string, number> {
    const totals = new Map(this.#endedBytes);
    for (const session of this.#sessions.values()) {
      const key = `${session.role}:${session.protocol}`;
      totals.set(key, (totals.get(key) ?? 0) + (session.bytes?.() ?? 0));
    }
    return totals;
  }

  /** Frames dropped for every viewer so far (ended ones included). */
  droppedFramesTotal(): number {
    let total = this.#endedDroppedFrames;
    for (const session of this.#sessions.values()) total += session.droppedFrames?.() ?? 0;
    return total;
  }

  /** Forgets a session (idempotent) and tells the listeners how it ended. */
  remove(session: Session, end: Partial<SessionEnd> = {}): void {
    if (!this.#sessions.delete(session.id)) return;
    const bytes = end.bytes ?? session.bytes?.() ?? 0;
    const key = `${session.role}:${session.protocol}`;
    this.#endedBytes.set(key, (this.#endedBytes.get(key) ?? 0) + bytes);
    this.#endedDroppedFrames += end.droppedFrames ?? session.droppedFrames?.() ?? 0;
    const done: SessionEnd = {
      reason: end.reason ?? 'ended',
      bytes,
      droppedFrames: end.droppedFrames ?? session.droppedFrames?.() ?? 0,
    };
    for (const listener of this.#listeners) {
      try {
        listener.removed?.(session, done);
      } catch {
        // a listener's failure is its own; the session still ends
      }
    }
    this.#count(session, -1);
  }

  /** Adds `by` (1 or -1) to every count `spec` is part of. */
  #count(spec: SlotSpec, by: 1 | -1): void {
    if (spec.role === 'publisher') {
      this.#publishers += by;
      return;
    }
    this.#viewers += by;
    bump(this.#viewersByPath, spec.path, by);
    bump(this.#viewersByIp, spec.ip, by);
    if (spec.connectionless !== true) {
      this.#connectedViewers += by;
      bump(this.#connectedByPath, spec.path, by);
      bump(this.#connectedByIp, spec.ip, by);
    }
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** Every session, oldest first. */
  list(): Session[] {
    return [...this.#sessions.values()];
  }

  /** Closes a session by id; false when there is none. */
  kick(id: string, reason = 'kicked'): boolean {
    const session = this.#sessions.get(id);
    if (session === undefined) return false;
    session.close(reason);
    return true;
  }

  /** Closes every publisher of `path` (its key was revoked); returns how many. */
  closePublishers(path: string, reason: string): number {
    const publishers = this.list().filter((s) => s.role === 'publisher' && s.path === path);
    for (const session of publishers) session.close(reason);
    return publishers.length;
  }

  get publishers(): number {
    return this.#publishers;
  }

  get viewers(): number {
    return this.#viewers;
  }

  viewersOf(path: string): number {
    return this.#viewersByPath.get(path) ?? 0;
  }

  viewersFrom(ip: string): number {
    return this.#viewersByIp.get(ip) ?? 0;
  }

  /** Viewers with a connection of their own (every one but the connectionless). */
  get connectedViewers(): number {
    return this.#connectedViewers;
  }

  connectedViewersOf(path: string): number {
    return this.#connectedByPath.get(path) ?? 0;
  }

  connectedViewersFrom(ip: string): number {
    return this.#connectedByIp.get(ip) ?? 0;
  }
}

function bump(counts: Map<string, number>, key: string, by: number): void {
  const next = (counts.get(key) ?? 0) + by;
  if (next <= 0) counts.delete(key);
  else counts.set(key, next);
}
