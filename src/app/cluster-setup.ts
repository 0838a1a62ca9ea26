// Builds the cluster side of a node: pulls of streams published elsewhere (another worker of the
// group, the Redis stream map, the static origins). Alone, with none of them: nothing.
import type { ClusterConfig } from '../config/schema.ts';
import { splitList } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import { StreamPulls, type PullInfo } from '../cluster/stream-pulls.ts';

export interface ClusterInputs {
  readonly config: ClusterConfig;
  readonly hub: StreamHub;
  readonly logger: Logger;
  /** A play token for `path`, valid a few minutes (the nodes share auth.secret). */
  readonly playToken: (path: string) => string;
  /** In a worker (--workers): the loopback RTMP URL of the worker publishing `path`, or null. */
  readonly workerLocate?: (path: string) => Promise<string | null>;
}

/** The cluster parts of one node. */
export class Cluster {
  readonly #pulls: StreamPulls | null;
  readonly #origins: readonly string[];
  readonly #workerLocate: ((path: string) => Promise<string | null>) | null;
  /** Pull attempts and their outcomes, by result (metrics). */
  readonly pullResults = new Map<string, number>();

  constructor(inputs: ClusterInputs) {
    const { config, hub, logger } = inputs;
    this.#origins = splitList(config.origins);
    this.#workerLocate = inputs.workerLocate ?? null;
    const log = logger.child({ component: 'cluster' });
    this.#pulls =
      this.#origins.length > 0 || this.#workerLocate !== null
        ? new StreamPulls({
            hub,
            locate: (path) => this.#locate(path),
            playQuery: (path) => `token=${inputs.playToken(path)}`,
            logger: log,
            pullIdleMs: config.pullIdleMs,
            connectTimeoutMs: 5000,
            idleTimeoutMs: 15_000,
            maxPulls: 1000,
            backoff: { minMs: 250, maxMs: 5000 },
            onPull: (what) => {
              this.pullResults.set(what, (this.pullResults.get(what) ?? 0) + 1);
            },
          })
        : null;
  }

  /** Whether this node pulls streams it does not have. */
  get pulling(): boolean {
    return this.#pulls !== null;
  }

  /** For requests that wait without subscribing (HLS): true once `path` is live here. */
  whenLive(path: string, waitMs: number): Promise<boolean> {
    return this.#pulls ? this.#pulls.whenLive(path, waitMs) : Promise.resolve(false);
  }

  pulls(): PullInfo[] {
    return this.#pulls?.list() ?? [];
  }

  close(): void {
    this.#pulls?.close();
  }

  /** Where `path` may be, best first: the worker of this group that has it, then the origins. */
  async #locate(path: string): Promise<readonly string[]> {
    const worker = this.#workerLocate ? await this.#workerLocate(path) : null;
    return worker === null ? this.#origins : [worker, ...this.#origins];
  }
}
