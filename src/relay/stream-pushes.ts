// StreamPushes: every push of every stream. A stream's configured destinations start when it is
// published and stop when it ends; the API adds and removes destinations of a live stream.
// Listens to the hub's lifecycle events; names no server.
import type { Logger } from '../log/logger.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import type { Stream } from '../hub/stream.ts';
import type { ViewerLimits } from '../hub/viewer-queue.ts';
import { MAX_PUSHES_PER_STREAM, pushUrlProblem } from '../config/push-schema.ts';
import { Push, PUSH_STATES, type PushBackoff, type PushInfo, type PushState } from './push.ts';

export interface StreamPushesOptions {
  readonly hub: StreamHub;
  /** The configured destinations of `path` (`streams.<path>.push`), [] for none. */
  readonly destinations: (path: string) => readonly string[];
  readonly logger: Logger;
  readonly connectTimeoutMs: number;
  readonly limits: ViewerLimits;
  readonly backoff: PushBackoff;
  /** Bitrates are sampled this often. */
  readonly sampleEveryMs?: number;
}

/** Why add() refused. */
export type AddPushRefusal = 'not-live' | 'bad-url' | 'too-many' | 'duplicate';

export type AddPushResult =
  | { readonly ok: true; readonly push: PushInfo }
  | { readonly ok: false; readonly code: AddPushRefusal; readonly message: string };

export class StreamPushes {
  readonly #options: StreamPushesOptions;
  readonly #byPath = new Map<string, Map<string, Push>>();
  readonly #stops: (() => void)[] = [];
  readonly #sampler: NodeJS.Timeout;
  #nextId = 1;
  #bytesPushed = 0;
  #closed = false;

  constructor(options: StreamPushesOptions) {
    this.#options = options;
    const { events } = options.hub;
    this.#stops.push(
      events.on('published', (event) => {
        // A copy pulled from another node or worker: the node that has the publisher pushes.
        if (event.publisher.protocol !== 'relay') this.#startConfigured(event.stream);
      }),
      events.on('resumed', (event) => {
        if (event.publisher.protocol !== 'relay') this.#startConfigured(event.stream);
      }),
      events.on('ended', (event) => {
        this.#stopAll(event.stream.path);
      }),
    );
    this.#sampler = setInterval(() => {
      for (const pushes of this.#byPath.values()) for (const push of pushes.values()) push.sample();
    }, options.sampleEveryMs ?? 1000);
    this.#sampler.unref();
  }

  /** Bytes handed to every destination since start (the metrics counter). */
  get bytesPushed(): number {
    return this.#bytesPushed;
  }

  /** The pushes of `path`, or null when the stream is not published here. */
  list(path: string): PushInfo[] | null {
    if (!this.#options.hub.get(path)?.publisher) return null;
    return [...(this.#byPath.get(path)?.values() ?? [])].map((push) => push.info());
  }

  /** Pushes by state, every state present (the metrics gauge). */
  countByState(): Map<PushState, number> {
    const counts = new Map<PushState, number>(PUSH_STATES.map((state) => [state, 0]));
    for (const pushes of this.#byPath.values()) {
      for (const push of pushes.values()) counts.set(push.state, (counts.get(push.state) ?? 0) + 1);
    }
    return counts;
  }

  /** Adds a destination to a live stream (until it ends). */
  add(path: string, url: string): AddPushResult {
    const stream = this.#options.hub.get(path);
    if (this.#closed || !stream?.publisher) {
      return { ok: false, code: 'not-live', message: 'the stream is not published here' };
    }
    const problem = pushUrlProblem(url);
    if (problem !== null) return { ok: false, code: 'bad-url', message: `url ${problem}` };
    const pushes = this.#pushesOf(path);
    if (pushes.size >= MAX_PUSHES_PER_STREAM) {
      const message = `a stream has at most ${String(MAX_PUSHES_PER_STREAM)} pushes`;
      return { ok: false, code: 'too-many', message };
    }
    if ([...pushes.values()].some((push) => push.url === url)) {
      return { ok: false, code: 'duplicate', message: 'the stream is already pushed there' };
    }
    return { ok: true, push: this.#start(stream, url, 'api').info() };
  }

  /** Stops and forgets one push; false when `path` has no push `id`. */
  remove(path: string, id: string): boolean {
    const pushes = this.#byPath.get(path);
    const push = pushes?.get(id);
    if (!pushes || !push) return false;
    pushes.delete(id);
    if (pushes.size === 0) this.#byPath.delete(path);
    push.stop();
    return true;
  }

  /** Stops listening and every push. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sampler);
    for (const stop of this.#stops) stop();
    for (const path of [...this.#byPath.keys()]) this.#stopAll(path);
  }

  /** Published (or resumed): each configured destination not pushed yet starts. */
  #startConfigured(stream: Stream): void {
    const destinations = this.#options.destinations(stream.path);
    if (this.#closed || destinations.length === 0) return;
    const pushes = this.#pushesOf(stream.path);
    const urls = new Set([...pushes.values()].map((push) => push.url));
    for (const url of destinations) {
      if (urls.has(url) || pushes.size >= MAX_PUSHES_PER_STREAM) continue;
      urls.add(url);
      this.#start(stream, url, 'config');
    }
  }

  #start(stream: Stream, url: string, origin: 'config' | 'api'): Push {
    const { path } = stream;
    const push = new Push({
      id: `p${String(this.#nextId++)}`,
      stream,
      url,
      origin,
      logger: this.#options.logger,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      limits: this.#options.limits,
      backoff: this.#options.backoff,
      onBytes: (bytes) => {
        this.#bytesPushed += bytes;
      },
    });
    this.#pushesOf(path).set(push.id, push);
    this.#options.logger.info({ stream: path, push: push.maskedUrl, origin }, 'push started');
    push.start();
    return push;
  }

  #pushesOf(path: string): Map<string, Push> {
    let pushes = this.#byPath.get(path);
    if (!pushes) {
      pushes = new Map();
      this.#byPath.set(path, pushes);
    }
    return pushes;
  }

  #stopAll(path: string): void {
    const pushes = this.#byPath.get(path);
    if (!pushes) return;
    this.#byPath.delete(path);
    for (const push of pushes.values()) push.stop();
  }
}
