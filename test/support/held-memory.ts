// Memory still reachable after a full garbage collection, for tests that bound what input costs.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// The suite does not run with --expose-gc: turn it on here and take gc() from a fresh context.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

/** Heap plus Buffer memory of this process still reachable after two full collections. */
export function heldMemory(): number {
  collect();
  collect();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}
