// One Fragmenter per stream, container and cut policy, shared by every sink that wants those
// cuts (the HLS window, the recorder, the DVR window): the stream is cut and muxed once.
import {
  Fragmenter,
  type CutPolicy,
  type FragmentContainer,
  type FragmentSink,
} from '../media/fragmenter.ts';
import type { CutGrid } from '../media/cut-grid.ts';
import type { Stream } from './stream.ts';
import type { CloseReason, OutputAdapter, Subscriber } from './subscriber.ts';

/** What a sink asks for. */
export interface FragmentsRequest {
  readonly container: FragmentContainer;
  /** Sinks asking for the same name get the same fragmenter (it must mean the same cuts). */
  readonly cutName: string;
  readonly cut: CutPolicy;
  readonly now?: () => number;
  /** Cut where this grid's stream was cut (an ABR rendition; its cutName must say so). */
  readonly follow?: CutGrid;
  /** Only this kind of track (its cutName must say so). */
  readonly carry?: 'video' | 'audio';
  /** This sink threw and was removed. */
  readonly onSinkError?: (error: unknown) => void;
}

/** A sink's hold on a fragmenter; release it when the sink is done. */
export interface FragmentsLease {
  readonly fragmenter: Fragmenter;
  /** Removes the sink; the last one out unsubscribes the fragmenter from the stream. */
  release(): void;
}

interface Entry {
  readonly fragmenter: Fragmenter;
  readonly subscriber: Subscriber;
  /** What stands in front of `subscriber` on the stream, when the app put something there. */
  adapter: OutputAdapter | null;
  /** What each sink's owner wants told when that sink throws. */
  readonly onSinkError: Map<FragmentSink, (error: unknown) => void>;
}

const byStream = new WeakMap<Stream, Map<string, Entry>>();

/**
 * Adds `sink` to the stream's fragmenter for `request`, making and subscribing one if there is
 * none. A new fragmenter on a live stream gets its cached GOP in one burst, so its clock is
 * anchored on the newest frame of it.
 */
export function acquireFragments(
  stream: Stream,
  request: FragmentsRequest,
  sink: FragmentSink,
): FragmentsLease {
  const key = `${request.container}|${request.cutName}`;
  let entries = byStream.get(stream);
  if (entries === undefined) {
    entries = new Map();
    byStream.set(stream, entries);
  }
  const table = entries;
  let entry = table.get(key);
  if (entry === undefined) {
    const onSinkError = new Map<FragmentSink, (error: unknown) => void>();
    const fragmenter = new Fragmenter({
      container: request.container,
      cut: request.cut,
      now: request.now ?? Date.now,
      ...(request.follow ? { follow: request.follow } : {}),
      ...(request.carry ? { carry: request.carry } : {}),
      onSinkError: (error, failed) => {
        onSinkError.get(failed)?.(error);
      },
    });
    const created: Entry = {
      fragmenter,
      onSinkError,
      adapter: null,
      subscriber: {
        onTracks: (tracks) => {
          fragmenter.onTracks(tracks);
        },
        onFrame: (frame) => {
          fragmenter.onFrame(frame);
        },
        onClose: (reason: CloseReason) => {
          if (table.get(key) === created) table.delete(key);
          fragmenter.onClose(reason);
        },
      },
    };
    // The app may put an adapter in front (Opus made AAC for MPEG-TS, which cannot carry it).
    created.adapter = stream.adapterFor(`fragments:${key}`, created.subscriber);
    entry = created;
    table.set(key, created);
    if (request.onSinkError) onSinkError.set(sink, request.onSinkError);
    fragmenter.addSink(sink);
    stream.subscribe(created.adapter ?? created.subscriber);
    fragmenter.resyncClock();
  } else {
    if (request.onSinkError) entry.onSinkError.set(sink, request.onSinkError);
    entry.fragmenter.addSink(sink);
  }
  const held = entry;
  let released = false;
  return {
    fragmenter: held.fragmenter,
    release: () => {
      if (released) return;
      released = true;
      held.fragmenter.removeSink(sink);
      held.onSinkError.delete(sink);
      if (held.fragmenter.sinkCount > 0) return;
      if (table.get(key) === held) table.delete(key);
      stream.unsubscribe(held.adapter ?? held.subscriber);
      held.adapter?.dispose();
    },
  };
}
