// StreamPulls: a viewer asks for a stream nobody publishes here, so this node pulls it once from
// the node that has it (found through the stream map or the static origins) and releases the
// pull a while after its last viewer. Listens to the hub's lifecycle events; names no server.
import type { Logger } from '../log/logger.ts';
import type { HubEventOf } from '../hub/hub-events.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import { OriginPull, redactUrl, type PullEnd } from './origin-pull.ts';

export interface StreamPullsOptions {
  readonly hub: StreamHub;
  /** Origin base URLs (`rtmp://host:port`) that may have `path`, best first; never rejects. */
  readonly locate: (path: string) => Promise<readonly string[]>;
  /** The query to play `path` with on an origin (`token=...` for private streams), or ''. */
  readonly playQuery: (path: string) => string;
  readonly logger: Logger;
  /** A pulled stream is released this long after its last subscriber left. */
  readonly pullIdleMs: number;
  readonly connectTimeoutMs: number;
  /** A live pull that receives nothing for this long is closed (and tried again). */
  readonly idleTimeoutMs: number;
  /** Most streams pulled (or being looked up) at once. */
  readonly maxPulls: number;
  /** Retries after a failed attempt wait from minMs, doubling up to maxMs. */
  readonly backoff: { readonly minMs: number; readonly maxMs: number };
  /** Counts pulls: started (an origin was tried), live, and ended with a reason. */
  readonly onPull?: (what: 'started' | 'live' | PullEnd['code']) => void;
}

/** One pulled stream, for the API. */
export interface PullInfo {
  readonly path: string;
  readonly origin: string | null;
  readonly live: boolean;
  readonly bytesIn: number;
  readonly attempts: number;
}

interface Entry {
  readonly path: string;
  pull: OriginPull | null;
  /** Failed rounds in a row (every origin tried): the backoff grows with it. */
  failures: number;
  attempts: number;
  retry: NodeJS.Timeout | null;
  release: NodeJS.Timeout | null;
  /** Someone without a subscription (an HLS playlist request) wants the stream until then. */
  wantedUntilMs: number;
  readonly waiters: Set<(live: boolean) => void>;
  /** Set when the entry is dropped: a round still running stops. */
  dropped: boolean;
}

/** Held "when live" waiters per stream, past which a request is answered at once. */
const MAX_WAITERS = 10_000;

export class StreamPulls {
  readonly #options: StreamPullsOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #stops: (() => void)[] = [];
  #closed = false;

  constructor(options: StreamPullsOptions) {
    this.#options = options;
    const { events } = options.hub;
    this.#stops.push(
      events.on('opened', (event) => {
        if (!event.byRelay) this.#want(event.stream.path, 0);
      }),
      events.on('published', (event) => {
        this.#onPublished(event);
      }),
      events.on('resumed', (event) => {
        this.#onPublished(event);
      }),
      events.on('subscriber-added', (event) => {
        const entry = this.#entries.get(event.stream.path);
        if (entry?.release) {
          clearTimeout(entry.release);
          entry.release = null;
        }
      }),
      events.on('subscriber-removed', (event) => {
        if (event.subscribers === 0) this.#armRelease(event.stream.path);
      }),
      events.on('ended', (event) => {
        const entry = this.#entries.get(event.stream.path);
        // A stream that ends while a lookup runs for an HLS request is still wanted.
        if (entry && (entry.pull?.live === true || !this.#wanted(entry))) this.#drop(entry);
      }),
    );
  }

  /**
   * Resolves true once `path` is published here (pulled if need be), false after `waitMs`. For
   * requests that wait without subscribing (HLS playlists).
   */
  whenLive(path: string, waitMs: number): Promise<boolean> {
    if (this.#options.hub.get(path)?.publisher) return Promise.resolve(true);
    const entry = this.#want(path, waitMs);
    if (!entry || entry.waiters.size >= MAX_WAITERS) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        entry.waiters.delete(done);
        resolve(false);
      }, waitMs);
      timer.unref();
      const done = (live: boolean): void => {
        clearTimeout(timer);
        resolve(live);
      };
      entry.waiters.add(done);
    });
  }

  /** The streams pulled or being looked up now. */
  list(): PullInfo[] {
    return [...this.#entries.values()].map((entry) => ({
      path: entry.path,
      origin: entry.pull ? redactUrl(entry.pull.url) : null,
      live: entry.pull?.live === true,
      bytesIn: entry.pull?.bytesIn ?? 0,
      attempts: entry.attempts,
    }));
  }

  /** Stops listening and releases every pull. */
  close(): void {
    this.#closed = true;
    for (const stop of this.#stops) stop();
    for (const entry of [...this.#entries.values()]) this.#drop(entry);
  }

  #want(path: string, waitMs: number): Entry | null {
    if (this.#closed) return null;
    let entry = this.#entries.get(path);
    if (!entry) {
      if (this.#entries.size >= this.#options.maxPulls) {
        this.#options.logger.warn(
          { stream: path, maxPulls: this.#options.maxPulls },
          'too many streams pulled at once: not pulling',
        );
        return null;
      }
      entry = {
        path,
        pull: null,
        failures: 0,
        attempts: 0,
        retry: null,
        release: null,
        wantedUntilMs: 0,
        waiters: new Set(),
        dropped: false,
      };
      this.#entries.set(path, entry);
      void this.#round(entry);
    }
    entry.wantedUntilMs = Math.max(entry.wantedUntilMs, Date.now() + waitMs);
    return entry;
  }

  /** Someone still wants the stream: a subscriber here, or a request waiting for it. */
  #wanted(entry: Entry): boolean {
    const stream = this.#options.hub.get(entry.path);
    if (stream && stream.subscriberCount > 0) return true;
    return Date.now() < entry.wantedUntilMs;
  }

  /** Tries every origin in order until one plays; schedules the next round when none does. */
  async #round(entry: Entry): Promise<void> {
    entry.retry = null;
    if (this.#options.hub.get(entry.path)?.publisher) {
      this.#drop(entry); // published here meanwhile
      return;
    }
    const origins = await this.#options.locate(entry.path);
    for (const origin of origins) {
      if (entry.dropped) return;
      entry.attempts++;
      const live = await this.#attempt(entry, origin);
      if (live) return;
    }
    if (entry.dropped) return;
    if (!this.#wanted(entry)) {
      this.#drop(entry);
      return;
    }
    const { minMs, maxMs } = this.#options.backoff;
    const delayMs = Math.min(maxMs, minMs * 2 ** Math.min(entry.failures, 16));
    entry.failures++;
    entry.retry = setTimeout(() => void this.#round(entry), delayMs);
    entry.retry.unref();
  }

  /** One pull from `origin`; resolves true once it is live, false if it ended before. */
  #attempt(entry: Entry, origin: string): Promise<boolean> {
    const query = this.#options.playQuery(entry.path);
    const url = `${origin.replace(/\/$/, '')}/${entry.path}${query === '' ? '' : `?${query}`}`;
    this.#options.onPull?.('started');
    return new Promise((resolve) => {
      const pull = OriginPull.start({
        hub: this.#options.hub,
        path: entry.path,
        url,
        logger: this.#options.logger,
        connectTimeoutMs: this.#options.connectTimeoutMs,
        idleTimeoutMs: this.#options.idleTimeoutMs,
        onLive: () => {
          entry.failures = 0;
          this.#options.onPull?.('live');
          this.#options.logger.info({ stream: entry.path, origin }, 'pulling from an origin');
          resolve(true);
        },
        onEnd: (end) => {
          this.#options.onPull?.(end.code);
          if (entry.pull === pull) entry.pull = null;
          resolve(false);
          if (
            end.wasLive &&
            !entry.dropped &&
            end.code !== 'released' &&
            end.code !== 'local-publisher'
          ) {
            // The origin went away under live viewers: they wait in the grace period while
            // this node looks again (a republish elsewhere is found through the map).
            if (this.#wanted(entry)) void this.#round(entry);
            else this.#drop(entry);
          }
        },
      });
      entry.pull = pull;
    });
  }

  #onPublished(event: HubEventOf<'published' | 'resumed'>): void {
    const entry = this.#entries.get(event.stream.path);
    if (!entry) return;
    this.#settle(entry, true);
    if (event.publisher.protocol !== 'relay') {
      this.#drop(entry); // published here: nothing to pull
      return;
    }
    // Nobody subscribed yet (an HLS request that will): released if nobody comes.
    if (event.stream.subscriberCount === 0) this.#armRelease(event.stream.path);
  }

  #settle(entry: Entry, live: boolean): void {
    for (const waiter of entry.waiters) waiter(live);
    entry.waiters.clear();
  }

  #armRelease(path: string): void {
    const entry = this.#entries.get(path);
    if (!entry?.pull?.live || entry.release) return;
    entry.release = setTimeout(() => {
      entry.release = null;
      const stream = this.#options.hub.get(path);
      if (stream && stream.subscriberCount > 0) return;
      this.#drop(entry);
    }, this.#options.pullIdleMs);
    entry.release.unref();
  }

  #drop(entry: Entry): void {
    if (entry.dropped) return;
    entry.dropped = true;
    if (this.#entries.get(entry.path) === entry) this.#entries.delete(entry.path);
    if (entry.retry) clearTimeout(entry.retry);
    if (entry.release) clearTimeout(entry.release);
    this.#settle(entry, false);
    entry.pull?.release();
    entry.pull = null;
  }
}
