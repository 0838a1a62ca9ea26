// Loads node-datachannel (libdatachannel, a native addon shipped prebuilt in its registry
// package) once, synchronously; a platform without it gets the reason, and onair runs without
// WebRTC instead of failing to start.
import { createRequire } from 'node:module';
import type { NodeDataChannel } from './whep-peer.ts';

let loaded: NodeDataChannel | Error | undefined;

/** The module, or the Error that says why it cannot load here. */
export function loadWebRtc(): NodeDataChannel | Error {
  if (loaded !== undefined) return loaded;
  try {
    loaded = createRequire(import.meta.url)('node-datachannel') as NodeDataChannel;
  } catch (error) {
    loaded = error instanceof Error ? error : new Error(String(error));
  }
  return loaded;
}

let users = 0;

/**
 * Marks one more user of libdatachannel's threads (a handler that made a peer). Its threads keep
 * the process alive until every user has called releaseWebRtc().
 */
export function retainWebRtc(): void {
  users += 1;
}

/** The user is done: with none left, libdatachannel's threads are stopped (cleanup()). */
export function releaseWebRtc(ndc: NodeDataChannel): void {
  users = Math.max(0, users - 1);
  if (users === 0) ndc.cleanup();
}
