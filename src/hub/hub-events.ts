// Hub lifecycle events: what happens to streams and their subscribers, for the control plane
// (pulls from an origin, the cluster's stream map, recordings) to listen to. Typed, synchronous.
import type { PublisherInfo, Stream } from './stream.ts';
import type { CloseReason } from './subscriber.ts';

/** One thing that happened to a stream. Delivered synchronously, in order, to every listener. */
export type HubEvent =
  /**
   * A viewer asked for a stream nobody publishes here yet (it waits for a publisher).
   * `byRelay`: that viewer is another server pulling the stream (never pull for it: no loops).
   */
  | { readonly type: 'opened'; readonly stream: Stream; readonly byRelay: boolean }
  /** A publisher started a stream that had none (the first one, or after it ended). */
  | { readonly type: 'published'; readonly stream: Stream; readonly publisher: PublisherInfo }
  /** The publisher left; subscribers wait `graceMs` for another one. */
  | { readonly type: 'unpublished'; readonly stream: Stream; readonly graceMs: number }
  /** A new publisher took over within the grace period: subscribers continue. */
  | { readonly type: 'resumed'; readonly stream: Stream; readonly publisher: PublisherInfo }
  /** The stream is gone from the hub (`not-found`: nobody published and nobody waits now). */
  | { readonly type: 'ended'; readonly stream: Stream; readonly reason: CloseReason }
  /**
   * The publisher's video has B-frames (a frame whose presentation time is not its decode time),
   * first seen since it published: WebRTC carries none (docs/webrtc.md#b-frames).
   */
  | { readonly type: 'b-frames'; readonly stream: Stream }
  /** A subscriber (an output, a segmenter, a relay...) joined; `subscribers` counts them now. */
  | { readonly type: 'subscriber-added'; readonly stream: Stream; readonly subscribers: number }
  /** A subscriber left or was evicted; `subscribers` counts those left. */
  | { readonly type: 'subscriber-removed'; readonly stream: Stream; readonly subscribers: number };

export type HubEventType = HubEvent['type'];
export type HubEventOf<T extends HubEventType> = Extract<HubEvent, { type: T }>;
export type HubListener<T extends HubEventType> = (event: HubEventOf<T>) => void;

/**
 * Listeners by event type. A listener that throws is reported (`onError`) and the others still
 * run: a bug in the control plane never stops a publisher's frames.
 */
export class HubEvents {
  readonly #listeners = new Map<HubEventType, Set<(event: HubEvent) => void>>();
  readonly #onError: (error: unknown, event: HubEvent) => void;

  constructor(onError: (error: unknown, event: HubEvent) => void) {
    this.#onError = onError;
  }

  /** Calls `listener` for every event of `type`; returns what stops it. */
  on<T extends HubEventType>(type: T, listener: HubListener<T>): () => void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    const untyped = listener as (event: HubEvent) => void;
    set.add(untyped);
    return () => {
      set.delete(untyped);
    };
  }

  emit(event: HubEvent): void {
    const set = this.#listeners.get(event.type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (error) {
        this.#onError(error, event);
      }
    }
  }
}
