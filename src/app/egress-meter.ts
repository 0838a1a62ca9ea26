// EgressMeter: the bitrate this node sends to viewers (every protocol, pulls by other nodes
// included), over the last few seconds, for limits.maxEgressMbps and the cluster's node loads.
import type { SessionRegistry } from '../hub/session-registry.ts';

/** Seconds the rate is averaged over. */
const WINDOW_S = 5;

export class EgressMeter {
  readonly #sessions: SessionRegistry;
  /** Total viewer bytes at each of the last WINDOW_S + 1 seconds (oldest first). */
  readonly #samples: number[] = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(sessions: SessionRegistry) {
    this.#sessions = sessions;
  }

  start(): void {
    this.#sample();
    this.#timer = setInterval(() => {
      this.#sample();
    }, 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Megabits a second sent to viewers, averaged over the last seconds (0 before a second). */
  get mbps(): number {
    const first = this.#samples[0];
    const last = this.#samples.at(-1);
    if (first === undefined || last === undefined || this.#samples.length < 2) return 0;
    return ((last - first) * 8) / 1e6 / (this.#samples.length - 1);
  }

  #sample(): void {
    let total = 0;
    for (const [key, bytes] of this.#sessions.bytesTotals()) {
      if (key.startsWith('viewer:')) total += bytes;
    }
    this.#samples.push(total);
    if (this.#samples.length > WINDOW_S + 1) this.#samples.shift();
  }
}
