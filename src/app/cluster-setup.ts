// Builds the cluster side of a node: pulls of streams published elsewhere (another worker of the
// group, the Redis stream map, the static origins), this node's entries in the map, and where a
// viewer this node cannot take is sent. Alone, with none of them: nothing.
import { hostname } from 'node:os';
import type { ClusterConfig } from '../config/schema.ts';
import { splitList } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import { StreamPulls, type PullInfo } from '../cluster/stream-pulls.ts';
import { StreamMap, type NodeLoad, type NodeLoadSample } from '../cluster/stream-map.ts';

/** How long the map's node loads are reused when choosing where to send a viewer. */
const NODES_CACHE_MS = 1000;

export interface ClusterInputs {
  readonly config: ClusterConfig;
  readonly hub: StreamHub;
  readonly logger: Logger;
  /** The query a pull plays `path` with on another node (tokens; the nodes share auth.secret). */
  readonly playQuery: (path: string) => string;
  /** In a worker (--workers): the loopback RTMP URL of the worker publishing `path`, or null. */
  readonly workerLocate?: (path: string) => Promise<string | null>;
  /** The key the stream map's entries are signed with (derived from auth.secret). */
  readonly mapKey: string;
  /** This node's load, for the map (read at each heartbeat). */
  readonly load: () => NodeLoadSample;
  /** Which worker this is (--workers), so each has its own node id in the map. */
  readonly workerIndex?: number;
}

/** Where this node listens, once it does (for the map's URLs). */
export interface ClusterPorts {
  readonly rtmp: number | null;
  readonly http: number | null;
}

/** The cluster parts of one node. */
export class Cluster {
  readonly #inputs: ClusterInputs;
  readonly #pulls: StreamPulls | null;
  readonly #origins: readonly string[];
  readonly #workerLocate: ((path: string) => Promise<string | null>) | null;
  readonly #log: Logger;
  #map: StreamMap | null = null;
  #nodeId = '';
  readonly #stops: (() => void)[] = [];
  #nodesRead: { readonly nodes: Promise<readonly NodeLoad[]>; readonly untilMs: number } | null =
    null;
  /** Pull attempts and their outcomes, by result (metrics). */
  readonly pullResults = new Map<string, number>();

  constructor(inputs: ClusterInputs) {
    this.#inputs = inputs;
    const { config, hub } = inputs;
    this.#origins = splitList(config.origins);
    this.#workerLocate = inputs.workerLocate ?? null;
    this.#log = inputs.logger.child({ component: 'cluster' });
    this.#pulls =
      this.#origins.length > 0 || this.#workerLocate !== null || config.redisUrl !== ''
        ? new StreamPulls({
            hub,
            locate: (path) => this.#locate(path),
            playQuery: inputs.playQuery,
            logger: this.#log,
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

  /** Whether this node is in a Redis stream map. */
  get mapped(): boolean {
    return this.#map !== null;
  }

  /**
   * Joins the Redis stream map (cluster.redisUrl), once the ports are bound: this node's
   * streams are registered there while it publishes them, with its load.
   */
  start(ports: ClusterPorts): void {
    const { config, hub } = this.#inputs;
    if (config.redisUrl === '' || ports.rtmp === null) return;
    const host = hostname();
    const relayUrl = config.advertiseUrl || `rtmp://${host}:${String(ports.rtmp)}`;
    const httpUrl = config.advertiseHttpUrl || `http://${host}:${String(ports.http ?? 0)}`;
    const worker = this.#inputs.workerIndex;
    this.#nodeId = nodeIdOf(relayUrl, worker);
    const map = StreamMap.start({
      url: config.redisUrl,
      nodeId: this.#nodeId,
      relayUrl: relayUrl.replace(/\/$/, ''),
      httpUrl: httpUrl.replace(/\/$/, ''),
      key: Buffer.from(this.#inputs.mapKey, 'utf8'),
      ttlMs: config.mapTtlMs,
      timeoutMs: config.lookupTimeoutMs,
      load: this.#inputs.load,
      onError: (error, what) => {
        this.#log.warn({ err: error, what }, 'stream map: Redis failed');
      },
    });
    this.#map = map;
    const served = (): void => {
      map.serving(hub.list().flatMap((stream) => (stream.publisher ? [stream.path] : [])));
    };
    const own = (protocol: string): boolean => protocol !== 'relay';
    this.#stops.push(
      hub.events.on('published', (event) => {
        if (own(event.publisher.protocol)) map.register(event.stream.path);
        served();
      }),
      hub.events.on('resumed', (event) => {
        if (own(event.publisher.protocol)) map.register(event.stream.path);
        served();
      }),
      hub.events.on('ended', (event) => {
        map.unregister(event.stream.path);
        served();
      }),
    );
    this.#log.info({ nodeId: this.#nodeId, relayUrl, httpUrl }, 'in the stream map');
  }

  /** For requests that wait without subscribing (HLS): true once `path` is live here. */
  whenLive(path: string, waitMs: number): Promise<boolean> {
    return this.#pulls ? this.#pulls.whenLive(path, waitMs) : Promise.resolve(false);
  }

  pulls(): PullInfo[] {
    return this.#pulls?.list() ?? [];
  }

  /**
   * The HTTP base of the least loaded other node of the map with room for a viewer of `path`
   * (nodes that have the stream first), or null: where a viewer this node cannot take goes.
   */
  async redirectFor(path: string): Promise<string | null> {
    if (!this.#map) return null;
    const nodes = (await this.#nodes(this.#map)).filter(
      (node) =>
        node.nodeId !== this.#nodeId &&
        (node.maxViewers === 0 || node.viewers < node.maxViewers) &&
        (node.maxEgressMbps === 0 || node.egressMbps < node.maxEgressMbps),
    );
    const fill = (viewers: number, cap: number): number => (cap === 0 ? 0 : viewers / cap);
    nodes.sort(
      (a, b) =>
        Number(b.streams.includes(path)) - Number(a.streams.includes(path)) ||
        Math.max(fill(a.viewers, a.maxViewers), fill(a.egressMbps, a.maxEgressMbps)) -
          Math.max(fill(b.viewers, b.maxViewers), fill(b.egressMbps, b.maxEgressMbps)) ||
        a.viewers - b.viewers,
    );
    return nodes[0]?.httpUrl ?? null;
  }

  /** The map's nodes, read at most once a second (a storm of refusals is one SCAN). */
  #nodes(map: StreamMap): Promise<readonly NodeLoad[]> {
    const now = Date.now();
    if (this.#nodesRead && this.#nodesRead.untilMs > now) return this.#nodesRead.nodes;
    const nodes = map.nodes();
    this.#nodesRead = { nodes, untilMs: now + NODES_CACHE_MS };
    return nodes;
  }

  async close(): Promise<void> {
    for (const stop of this.#stops) stop();
    this.#pulls?.close();
    await this.#map?.close();
  }

  /**
   * Where `path` may be, best first: the worker of this group that has it, the node the stream
   * map names, then the static origins.
   */
  async #locate(path: string): Promise<readonly string[]> {
    const [worker, mapped] = await Promise.all([
      this.#workerLocate ? this.#workerLocate(path) : null,
      this.#map ? this.#map.lookup(path) : null,
    ]);
    const found: string[] = [];
    if (worker !== null) found.push(worker);
    if (mapped !== null && mapped.nodeId !== this.#nodeId) found.push(mapped.relayUrl);
    return [...found, ...this.#origins];
  }
}

/** A node id from the relay URL (`host-port`, with `-wN` for worker N of a group). */
function nodeIdOf(relayUrl: string, worker: number | undefined): string {
  const url = new URL(relayUrl);
  const base = `${url.hostname}-${url.port || '1935'}`.replace(/[^0-9A-Za-z_.-]/g, '_');
  return (worker === undefined ? base : `${base}-w${String(worker)}`).slice(0, 64);
}
