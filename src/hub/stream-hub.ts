// StreamHub: the registry of live Streams by path; the only way in and out of the data plane.
import type { GopCacheLimits } from './gop-cache.ts';
import { StreamNameError } from './hub-errors.ts';
import { HubEvents, type HubEvent } from './hub-events.ts';
import { RenditionRegistry } from './renditions.ts';
import { checkStreamPath } from './stream-path.ts';
import type { OutputAdapterFactory } from './subscriber.ts';
import { Stream, type Publication, type PublisherInfo } from './stream.ts';

/** Hub settings (the `hub` config section). */
export interface StreamHubOptions {
  readonly gopCache: GopCacheLimits & { readonly enabled: boolean };
  readonly reconnectGraceMs: number;
  readonly audioMergeMs: number;
  /** See StreamOptions.onSubscriberError. */
  readonly onSubscriberError?: (stream: Stream, error: unknown) => void;
  /** A lifecycle listener threw (a bug in the control plane): log it. */
  readonly onListenerError?: (error: unknown, event: HubEvent) => void;
  /** See StreamOptions.adaptOutput. */
  readonly adaptOutput?: OutputAdapterFactory;
}

/** Moves frames from one publisher per path to that path's subscribers. */
export class StreamHub {
  readonly #options: StreamHubOptions;
  readonly #streams = new Map<string, Stream>();
  /** Lifecycle events of every stream: opened, published, unpublished, resumed, ended, subscribers. */
  readonly events: HubEvents;
  /** Streams that are renditions of another (an encoder's multitrack video). */
  readonly renditions = new RenditionRegistry();
  #closed = false;

  constructor(options: StreamHubOptions) {
    this.#options = options;
    this.events = new HubEvents((error, event) => options.onListenerError?.(error, event));
  }

  /**
   * Starts publishing `path`. Throws StreamNameError for a refused name and StreamBusyError if
   * the path already has a live publisher (the first one keeps going).
   */
  publish(path: string, info: PublisherInfo): Publication {
    return this.#open(path, null).attach(info);
  }

  /** Every stream the hub knows now (live, in its grace period, or waited for). */
  list(): Stream[] {
    return [...this.#streams.values()];
  }

  /** The stream at `path`, or undefined; never creates state (for 404s). */
  get(path: string): Stream | undefined {
    return this.#streams.get(path);
  }

  /** The stream at `path`, created idle if absent so a viewer can wait for its publisher. */
  open(path: string, viewer: { readonly byRelay?: boolean } = {}): Stream {
    return this.#open(path, viewer.byRelay ?? false);
  }

  /** `byRelay`: null when the stream is opened for a publisher. */
  #open(path: string, byRelay: boolean | null): Stream {
    const refused = checkStreamPath(path);
    if (refused !== null) throw new StreamNameError(refused);
    if (this.#closed) throw new StreamNameError('the server is shutting down');
    let stream = this.#streams.get(path);
    if (!stream) {
      stream = new Stream(path, {
        gopCache: this.#options.gopCache,
        reconnectGraceMs: this.#options.reconnectGraceMs,
        audioMergeMs: this.#options.audioMergeMs,
        ...(this.#options.onSubscriberError
          ? { onSubscriberError: this.#options.onSubscriberError }
          : {}),
        ...(this.#options.adaptOutput ? { adaptOutput: this.#options.adaptOutput } : {}),
        onDone: (done) => {
          if (this.#streams.get(done.path) === done) this.#streams.delete(done.path);
        },
        onEvent: (event) => {
          this.events.emit(event);
        },
      });
      this.#streams.set(path, stream);
      // A stream made for a publisher is announced as published, at once, by attach().
      if (byRelay !== null) this.events.emit({ type: 'opened', stream, byRelay });
    }
    return stream;
  }

  /** Every stream known now (live, waiting for a publisher, or in its grace period). */
  streams(): IterableIterator<Stream> {
    return this.#streams.values();
  }

  /** Ends every stream; used on shutdown. */
  close(): void {
    this.#closed = true;
    for (const stream of [...this.#streams.values()]) stream.end('server-shutdown');
  }
}
