// node-datachannel 0.33's Track wrapper stays in its native table of live tracks until its
// onClosed callback has run, and only when JavaScript registered one. A Track whose JS object is
// collected before that leaves a freed pointer in the table, and cleanup() (at shutdown) closes it
// again: the process dies with SIGSEGV or SIGBUS instead of exiting (seen here after a few offers
// whose peers were closed, then a garbage collection). Every track onair or its tools make goes
// through holdUntilClosed(): the callback is registered and the track held until it has run.
// Close such a track with track.close() before its peer: a track closed only through its peer's
// close() never reports it, and its callback then keeps the process from exiting.
import type { Track } from 'node-datachannel';

/** Tracks libdatachannel has not reported closed yet (bounded by the peers open). */
const live = new Set<Track>();

/** Registers `track`'s onClosed and holds it until that has run; returns `track`. */
export function holdUntilClosed<T extends Track>(track: T): T {
  live.add(track);
  track.onClosed(() => {
    live.delete(track);
  });
  return track;
}

/** Tracks held now (for tests). */
export function heldTracks(): number {
  return live.size;
}
