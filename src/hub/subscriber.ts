// The contracts between a Stream and whoever reads it or writes it.
import type { Frame } from '../media/frame.ts';
import type { Track } from '../media/track.ts';

/** Why a subscriber stops receiving frames. */
export type CloseReason =
  /** The publisher left and no new one came within the grace period. */
  | 'stream-ended'
  /** No publisher came within the wait for publisher. */
  | 'not-found'
  /** The subscriber could not keep up and was evicted. */
  | 'too-slow'
  /** The server is shutting down. */
  | 'server-shutdown'
  /** An operator or the access layer removed it. */
  | 'kicked';

/** Reads one Stream. Implemented by per-format outputs, recorders and relays. */
export interface Subscriber {
  /** Called before the first frame, and again when the publisher changes (codecs may differ). */
  onTracks(tracks: readonly Track[]): void;
  /** Called synchronously for every frame. Must not block or await: queue it or drop it. */
  onFrame(frame: Frame): void;
  /** The stream ended, or the hub evicted this subscriber; `reason` says which. */
  onClose(reason: CloseReason): void;
}

/**
 * A Subscriber standing in front of an output (it may rewrite tracks and frames, e.g. audio
 * transcoded for a format that cannot carry the source's codec). `dispose()` frees what it
 * holds when the output is dropped without a close.
 */
export interface OutputAdapter extends Subscriber {
  dispose(): void;
}

/** Puts an adapter in front of the output `key` of stream `path`, or null for none. */
export type OutputAdapterFactory = (
  key: string,
  output: Subscriber,
  path: string,
) => OutputAdapter | null;
