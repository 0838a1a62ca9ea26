// The Redis stream map: where each stream is published (path -> origin node) and each node's
// load, shared by the nodes of a cluster through one Redis.
//
// Keys (under `prefix`, default `onair:`):
// - `<prefix>stream:<path>`: the origin of a stream, written by the node that publishes it.
// - `<prefix>node:<nodeId>`: a node's load and the paths it can serve now.
// Both are SET with PX ttlMs and rewritten by the owner's heartbeat every ttlMs / 3, so a node
// that dies drops out within the TTL, and a Redis restart (which loses them) is repaired by the
// next heartbeat (one runs at once after every reconnect).
//
// Values are JSON `{"v":1,"body":{...},"sig":"<base64url>"}`, `sig` an HMAC-SHA256 with the
// cluster key over the kind and the canonical body (fixed field order, re-serialized from the
// checked fields when verifying). A value is read with GETRANGE up to its size cap, so an
// oversized value costs at most the cap; one over the cap, unparseable, unsigned, signed with
// another key, for another key, too old or from the future, or whose URLs are not `rtmp://`
// (relay) and `http(s)://` (HTTP) with a host and no path, credentials, query or fragment, is
// ignored: a forged or stale map cannot send an edge to an address no node registered.
//
// Failure: no Redis command is waited on for more than timeoutMs (nodes() and close() take two
// at most; a deadline of our own: node-redis' command timeout stops counting once a command is
// written). Lookups resolve null and nodes()
// [] at once while Redis is disconnected (no offline queue). The client reconnects with bounded
// backoff; a connection that stays ready but answers nothing (a hung or black-holed Redis) is
// dropped and reopened. Errors reach onError at most once per kind every 10 s.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createClient } from 'redis';
import { checkStreamPath } from '../hub/stream-path.ts';

/** Where a stream is published, as registered by its origin node. */
export interface StreamLocation {
  /** 'app/name'. */
  readonly path: string;
  readonly nodeId: string;
  /** rtmp://host:port (no app/name): where other nodes pull it. */
  readonly relayUrl: string;
  /** http(s)://host:port: where viewers can be redirected. */
  readonly httpUrl: string;
  /** When the origin last wrote the entry (its clock). */
  readonly updatedMs: number;
}

/** A node's load, refreshed by its heartbeat. */
export interface NodeLoad {
  readonly nodeId: string;
  readonly relayUrl: string;
  readonly httpUrl: string;
  readonly viewers: number;
  readonly egressMbps: number;
  /** 0 = no cap. */
  readonly maxViewers: number;
  /** 0 = no cap. */
  readonly maxEgressMbps: number;
  /** Paths this node can serve now (published or pulled). */
  readonly streams: readonly string[];
  readonly updatedMs: number;
}

/** What `load()` reports at each heartbeat. */
export type NodeLoadSample = Omit<
  NodeLoad,
  'nodeId' | 'relayUrl' | 'httpUrl' | 'streams' | 'updatedMs'
>;

export interface StreamMapOptions {
  /** redis://... or rediss://... */
  readonly url: string;
  /** This node's id: letters, digits, `_ - .`, at most 64 characters. */
  readonly nodeId: string;
  /** rtmp://host:port where other nodes pull this node's streams. */
  readonly relayUrl: string;
  /** http(s)://host:port where viewers can be redirected to this node. */
  readonly httpUrl: string;
  /** The cluster's HMAC key (at least 16 bytes): entries are signed and verified with it. */
  readonly key: Buffer;
  /** Entry TTL; the heartbeat runs every ttlMs / 3. */
  readonly ttlMs: number;
  /** Deadline of any Redis operation (a lookup, a heartbeat, close()). */
  readonly timeoutMs: number;
  /** Extra check on the relay URLs read from the map (lookup() and nodes()). */
  readonly allowedRelayHosts?: (url: URL) => boolean;
  /** Read at each heartbeat. */
  readonly load: () => NodeLoadSample;
  /** Log hook; called at most once per `what` every 10 s (with a count of those left out). */
  readonly onError?: (error: unknown, what: string) => void;
  /** Key prefix, default 'onair:'. */
  readonly prefix?: string;
  /** How far another node's clock may be off: entries whose updatedMs is older than
   *  ttlMs + this, or newer than now + this, are ignored. Default 5000. */
  readonly maxClockSkewMs?: number;
}

/** Largest stream entry read; anything longer is ignored. */
export const MAX_STREAM_VALUE_BYTES = 4096;
/** Largest node entry read or written (its `streams` list is cut to fit). */
export const MAX_NODE_VALUE_BYTES = 16_384;
/** Most nodes nodes() returns. */
export const MAX_NODES = 1000;
/** Longest relay or HTTP URL accepted. */
const MAX_URL_LENGTH = 512;
const NODE_ID = /^[0-9A-Za-z_.-]{1,64}$/;
/** Keys SCAN examines per call in nodes(), and the most calls. */
const SCAN_COUNT = 1000;
const MAX_SCAN_CALLS = 1000;
const ERROR_INTERVAL_MS = 10_000;
const SIGNATURE_CONTEXT = 'onair-stream-map/1';

/**
 * Deletes KEYS[1] only if its entry names node ARGV[1]: a republish on another node may have
 * taken the path since.
 */
const DELETE_IF_OURS = `local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local ok, d = pcall(cjson.decode, v)
if ok and type(d) == 'table' and type(d.body) == 'table' and d.body.nodeId == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Opens a client; the type of what it returns names our client type. */
function openClient(url: string, timeoutMs: number, maxBackoffMs: number) {
  return createClient({
    url,
    // Commands fail at once while disconnected instead of waiting for a reconnect.
    disableOfflineQueue: true,
    commandsQueueMaxLength: 10_000,
    socket: {
      connectTimeout: Math.max(timeoutMs, 1000),
      // Exponential from 100 ms to maxBackoffMs, with jitter, forever (a Redis that comes back
      // is found again); SocketTimeoutError included.
      reconnectStrategy: (retries: number) =>
        Math.min(100 * 2 ** Math.min(retries, 16), maxBackoffMs) + Math.floor(Math.random() * 100),
    },
  });
}
type Client = ReturnType<typeof openClient>;

class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer from Redis within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

class OfflineError extends Error {
  constructor() {
    super('not connected to Redis');
    this.name = 'OfflineError';
  }
}

/** Whether `value` is an http(s) or rtmp base URL (scheme, host, optional port, nothing else). */
function parseBaseUrl(value: unknown, protocols: readonly string[]): URL | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_URL_LENGTH) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (!protocols.includes(url.protocol)) return null;
  if (url.hostname === '' || url.username !== '' || url.password !== '') return null;
  if (url.search !== '' || url.hash !== '') return null;
  if (url.pathname !== '' && url.pathname !== '/') return null;
  return url;
}

const RELAY_PROTOCOLS = ['rtmp:'];
const HTTP_PROTOCOLS = ['http:', 'https:'];

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isAmount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** The canonical body of a stream entry: fixed field order. */
function streamBody(location: StreamLocation): string {
  return JSON.stringify({
    path: location.path,
    nodeId: location.nodeId,
    relayUrl: location.relayUrl,
    httpUrl: location.httpUrl,
    updatedMs: location.updatedMs,
  });
}

/** The canonical body of a node entry: fixed field order. */
function nodeBody(load: NodeLoad): string {
  return JSON.stringify({
    nodeId: load.nodeId,
    relayUrl: load.relayUrl,
    httpUrl: load.httpUrl,
    viewers: load.viewers,
    egressMbps: load.egressMbps,
    maxViewers: load.maxViewers,
    maxEgressMbps: load.maxEgressMbps,
    streams: load.streams,
    updatedMs: load.updatedMs,
  });
}

type Kind = 'stream' | 'node';

/** A parsed value: the body's fields (unchecked) and the signature. */
interface Envelope {
  readonly body: Record<string, unknown>;
  readonly sig: unknown;
}

/** The map of a cluster, as one node sees and writes it. See the file comment. */
export class StreamMap {
  readonly #options: StreamMapOptions;
  readonly #prefix: string;
  readonly #skewMs: number;
  readonly #heartbeatMs: number;
  readonly #maxBackoffMs: number;
  /** Paths this node publishes (origin), in registration order. */
  readonly #registered = new Set<string>();
  /** Other paths this node can serve (pulled), as last told by serving(). */
  #served: readonly string[] = [];
  #client: Client;
  #closed = false;
  #closing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #beating = false;
  #beatAgain = false;
  /** When the current run of unanswered commands began (null: the last command was answered). */
  #stallSinceMs: number | null = null;
  #nodesInFlight: Promise<NodeLoad[]> | null = null;
  readonly #errors = new Map<string, { lastMs: number; suppressed: number }>();

  private constructor(options: StreamMapOptions) {
    if (!NODE_ID.test(options.nodeId))
      throw new TypeError('StreamMap: nodeId must be 1-64 letters, digits, _ - .');
    if (parseBaseUrl(options.relayUrl, RELAY_PROTOCOLS) === null)
      throw new TypeError('StreamMap: relayUrl must be rtmp://host[:port]');
    if (parseBaseUrl(options.httpUrl, HTTP_PROTOCOLS) === null)
      throw new TypeError('StreamMap: httpUrl must be http(s)://host[:port]');
    if (options.key.length < 16) throw new TypeError('StreamMap: key must be at least 16 bytes');
    if (!(options.ttlMs >= 300)) throw new TypeError('StreamMap: ttlMs must be at least 300');
    if (!(options.timeoutMs > 0)) throw new TypeError('StreamMap: timeoutMs must be positive');
    this.#options = options;
    this.#prefix = options.prefix ?? 'onair:';
    this.#skewMs = options.maxClockSkewMs ?? 5000;
    this.#heartbeatMs = Math.max(100, Math.floor(options.ttlMs / 3));
    this.#maxBackoffMs = Math.min(5000, Math.max(500, this.#heartbeatMs));
    this.#client = this.#open();
    this.#schedule(this.#heartbeatMs);
  }

  /**
   * Starts the map: connects in the background and heartbeats every ttlMs / 3. Never throws
   * because Redis is down or unreachable; throws a TypeError on invalid options.
   */
  static start(options: StreamMapOptions): StreamMap {
    return new StreamMap(options);
  }

  /** Whether the client is connected and ready. */
  get connected(): boolean {
    return !this.#closed && this.#client.isReady;
  }

  /**
   * This node publishes `path` (it is the origin): written now if connected, and refreshed at
   * each heartbeat until unregister() or close(). An invalid path is reported and ignored.
   */
  register(path: string): void {
    if (this.#closed) return;
    const refused = checkStreamPath(path);
    if (refused !== null) {
      this.#report(new Error(`not registered: path ${refused}`), 'register');
      return;
    }
    this.#registered.add(path);
    if (!this.#client.isReady) return; // the heartbeat after the reconnect writes it
    const now = Date.now();
    this.#run('register', (client) => this.#writeStream(client, path, now)).catch(
      (error: unknown) => {
        this.#report(error, 'register');
      },
    );
  }

  /** This node no longer publishes `path`: its entry is deleted now if it still names this node. */
  unregister(path: string): void {
    if (this.#closed || !this.#registered.delete(path)) return;
    if (!this.#client.isReady) return; // it expires within the TTL
    this.#run('unregister', (client) => this.#deleteIfOurs(client, this.#streamKey(path))).catch(
      (error: unknown) => {
        this.#report(error, 'unregister');
      },
    );
  }

  /**
   * The other paths this node can serve now (pulled from an origin), published in its node
   * entry at the next heartbeat together with the registered ones. Replaces the previous list;
   * invalid paths are skipped.
   */
  serving(paths: Iterable<string>): void {
    const list: string[] = [];
    for (const path of paths) if (checkStreamPath(path) === null) list.push(path);
    this.#served = list;
  }

  /**
   * Where `path` is published. Never rejects: null when absent, invalid (see the file comment),
   * disallowed by allowedRelayHosts, not answered within timeoutMs, or Redis is down.
   */
  async lookup(path: string): Promise<StreamLocation | null> {
    if (this.#closed || checkStreamPath(path) !== null || !this.#client.isReady) return null;
    try {
      const value = await this.#run('lookup', (client) =>
        client.getRange(this.#streamKey(path), 0, MAX_STREAM_VALUE_BYTES),
      );
      if (value === null || value === '') return null; // GETRANGE of a missing key: ''
      return this.#readStream(path, value);
    } catch (error) {
      this.#report(error, 'lookup');
      return null;
    }
  }

  /**
   * The loads of the live nodes (this one included), verified like lookups, sorted by node id,
   * at most MAX_NODES, within 2 * timeoutMs. Never rejects: [] on any error or past that
   * deadline. Concurrent calls share one scan (SCAN visits the whole database: give the
   * cluster a database of its own).
   */
  nodes(): Promise<NodeLoad[]> {
    if (this.#closed || !this.#client.isReady) return Promise.resolve([]);
    if (this.#nodesInFlight) return this.#nodesInFlight;
    const ms = 2 * this.#options.timeoutMs;
    const scan = this.#withDeadline('nodes', this.#scanNodes(Date.now() + ms), ms)
      .catch((error: unknown) => {
        this.#report(error, 'nodes');
        return [];
      })
      .finally(() => {
        this.#nodesInFlight = null;
      });
    this.#nodesInFlight = scan;
    return scan;
  }

  /**
   * Stops the heartbeat, deletes this node's entries (those that still name it), within
   * timeoutMs, and closes the connection. Idempotent.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#stopTimer();
    const client = this.#client;
    const paths = [...this.#registered];
    this.#registered.clear();
    this.#closing = (async () => {
      if (client.isReady) {
        try {
          await this.#withDeadline(
            'close',
            Promise.all([
              ...paths.map((path) => this.#deleteIfOurs(client, this.#streamKey(path))),
              this.#deleteIfOurs(client, this.#nodeKey(this.#options.nodeId)),
            ]),
          );
          await this.#withDeadline('close', client.close());
        } catch (error) {
          this.#report(error, 'close');
        }
      }
      client.destroy();
    })();
    return this.#closing;
  }

  /**
   * For tests: stops as a killed process would (no heartbeat, no unregistering, the connection
   * dropped), so this node's entries expire by their TTL.
   */
  crash(): void {
    this.#closed = true;
    this.#stopTimer();
    this.#registered.clear();
    this.#client.destroy();
    this.#closing ??= Promise.resolve();
  }

  // --- connection ---

  #open(): Client {
    const client = openClient(this.#options.url, this.#options.timeoutMs, this.#maxBackoffMs);
    client.on('error', (error: unknown) => {
      if (client === this.#client && !this.#closed) this.#report(error, 'redis connection');
    });
    client.on('ready', () => {
      if (client !== this.#client || this.#closed) return;
      this.#stallSinceMs = null;
      this.#beatNow(); // a restarted Redis lost our keys: write them back at once
    });
    client.connect().catch((error: unknown) => {
      // Only when closed while connecting, or the strategy gave up (it never does).
      if (client === this.#client && !this.#closed) this.#report(error, 'redis connection');
    });
    return client;
  }

  /** Drops a connection that is ready but answers nothing, and opens a new one. */
  #reopen(): void {
    const old = this.#client;
    this.#stallSinceMs = null;
    this.#report(new Error('Redis stopped answering: reconnecting'), 'redis connection');
    this.#client = this.#open();
    old.destroy();
  }

  /** Runs `command` on the current client within timeoutMs. Rejects when offline or late. */
  #run<T>(what: string, command: (client: Client) => Promise<T>): Promise<T> {
    const client = this.#client;
    if (!client.isReady) return Promise.reject(new OfflineError());
    return this.#withDeadline(what, command(client)).then(
      (result) => {
        if (client === this.#client) this.#stallSinceMs = null;
        return result;
      },
      (error: unknown) => {
        if (error instanceof DeadlineError && client === this.#client && !this.#closed) {
          // One late answer can be a slow moment; late answers for longer than a heartbeat
          // period (and a few deadlines) mean a connection that will not answer again.
          const now = Date.now();
          this.#stallSinceMs ??= now;
          const limit = Math.max(this.#heartbeatMs, 3 * this.#options.timeoutMs);
          if (now - this.#stallSinceMs >= limit) this.#reopen();
        }
        throw error;
      },
    );
  }

  #withDeadline<T>(
    what: string,
    promise: Promise<T>,
    ms: number = this.#options.timeoutMs,
  ): Promise<T> {
    promise.catch(() => undefined); // a late rejection, after the deadline, is not unhandled
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new DeadlineError(what, ms));
      }, ms);
      timer.unref();
      promise.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  // --- heartbeat ---

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    this.#stopTimer();
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#beatNow();
    }, delayMs);
    this.#timer.unref();
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Runs a heartbeat now (or right after the one in progress), then every heartbeatMs. */
  #beatNow(): void {
    if (this.#closed) return;
    if (this.#beating) {
      this.#beatAgain = true;
      return;
    }
    this.#stopTimer();
    this.#beating = true;
    this.#beat()
      .catch((error: unknown) => {
        this.#report(error, 'heartbeat');
      })
      .finally(() => {
        this.#beating = false;
        if (this.#beatAgain) {
          this.#beatAgain = false;
          this.#beatNow();
        } else this.#schedule(this.#heartbeatMs);
      });
  }

  /** Writes this node's entry and every registered path's, with the TTL. */
  async #beat(): Promise<void> {
    if (!this.#client.isReady) return; // 'ready' runs one as soon as it reconnects
    let sample: NodeLoadSample;
    try {
      sample = this.#options.load();
    } catch (error) {
      this.#report(error, 'load');
      sample = { viewers: 0, egressMbps: 0, maxViewers: 0, maxEgressMbps: 0 };
    }
    const now = Date.now();
    // Every command is sent before the first await, in this order: an unregister() called
    // after this point deletes after these writes.
    await this.#run('heartbeat', (client) =>
      Promise.all([
        this.#writeNode(client, sample, now),
        ...[...this.#registered].map((path) => this.#writeStream(client, path, now)),
      ]),
    );
  }

  // --- entries ---

  #streamKey(path: string): string {
    return `${this.#prefix}stream:${path}`;
  }

  #nodeKey(nodeId: string): string {
    return `${this.#prefix}node:${nodeId}`;
  }

  #sign(kind: Kind, body: string): string {
    return createHmac('sha256', this.#options.key)
      .update(`${SIGNATURE_CONTEXT}\n${kind}\n${body}`)
      .digest('base64url');
  }

  #verify(kind: Kind, body: string, sig: unknown): boolean {
    if (typeof sig !== 'string') return false;
    const expected = Buffer.from(this.#sign(kind, body));
    const given = Buffer.from(sig);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #envelope(kind: Kind, body: string): string {
    return `{"v":1,"body":${body},"sig":"${this.#sign(kind, body)}"}`;
  }

  #writeStream(client: Client, path: string, now: number): Promise<unknown> {
    const body = streamBody({
      path,
      nodeId: this.#options.nodeId,
      relayUrl: this.#options.relayUrl,
      httpUrl: this.#options.httpUrl,
      updatedMs: now,
    });
    return client.set(this.#streamKey(path), this.#envelope('stream', body), {
      expiration: { type: 'PX', value: this.#options.ttlMs },
    });
  }

  #writeNode(client: Client, sample: NodeLoadSample, now: number): Promise<unknown> {
    const load: NodeLoad = {
      nodeId: this.#options.nodeId,
      relayUrl: this.#options.relayUrl,
      httpUrl: this.#options.httpUrl,
      viewers: isCount(sample.viewers) ? sample.viewers : 0,
      egressMbps: isAmount(sample.egressMbps) ? sample.egressMbps : 0,
      maxViewers: isCount(sample.maxViewers) ? sample.maxViewers : 0,
      maxEgressMbps: isAmount(sample.maxEgressMbps) ? sample.maxEgressMbps : 0,
      streams: [],
      updatedMs: now,
    };
    // The streams list takes what room the size cap leaves: origin paths first. Paths are
    // [0-9A-Za-z_.-/] (checked), so each costs its length plus quotes and a comma in JSON.
    const room = MAX_NODE_VALUE_BYTES - this.#envelope('node', nodeBody(load)).length;
    const streams: string[] = [];
    const seen = new Set<string>();
    let used = 0;
    let left = 0;
    for (const path of [...this.#registered, ...this.#served]) {
      if (seen.has(path)) continue;
      seen.add(path);
      if (used + path.length + 3 > room) {
        left++;
        continue;
      }
      used += path.length + 3;
      streams.push(path);
    }
    if (left > 0)
      this.#report(
        new Error(`${left} paths left out of the node entry (${MAX_NODE_VALUE_BYTES} bytes)`),
        'heartbeat',
      );
    const body = nodeBody({ ...load, streams });
    return client.set(this.#nodeKey(this.#options.nodeId), this.#envelope('node', body), {
      expiration: { type: 'PX', value: this.#options.ttlMs },
    });
  }

  #deleteIfOurs(client: Client, key: string): Promise<unknown> {
    return client.eval(DELETE_IF_OURS, { keys: [key], arguments: [this.#options.nodeId] });
  }

  /** Parses an envelope within its size cap: its body and signature, or null. */
  #unwrap(kind: Kind, value: string, cap: number): Envelope | null {
    // GETRANGE returned at most cap + 1 bytes; decoding never makes a value shorter in bytes.
    if (Buffer.byteLength(value) > cap) return this.#refuse(kind, 'larger than its size cap');
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch {
      return this.#refuse(kind, 'not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null) return this.#refuse(kind, 'not an object');
    const { v, body, sig } = parsed as Record<string, unknown>;
    if (v !== 1 || typeof body !== 'object' || body === null)
      return this.#refuse(kind, 'not a version 1 entry');
    return { body: body as Record<string, unknown>, sig };
  }

  #refuse(kind: Kind, why: string): null {
    this.#report(new Error(`ignored a ${kind} entry: ${why}`), `${kind} entry`);
    return null;
  }

  #fresh(updatedMs: unknown): updatedMs is number {
    if (!isCount(updatedMs)) return false;
    const now = Date.now();
    return updatedMs >= now - this.#options.ttlMs - this.#skewMs && updatedMs <= now + this.#skewMs;
  }

  #relayAllowed(url: URL): boolean {
    const allowed = this.#options.allowedRelayHosts;
    if (!allowed) return true;
    try {
      return allowed(url);
    } catch (error) {
      this.#report(error, 'allowedRelayHosts');
      return false;
    }
  }

  #readStream(path: string, value: string): StreamLocation | null {
    const envelope = this.#unwrap('stream', value, MAX_STREAM_VALUE_BYTES);
    if (envelope === null) return null;
    const { body, sig } = envelope;
    const { nodeId, relayUrl, httpUrl, updatedMs } = body;
    if (body.path !== path) return this.#refuse('stream', 'for another path');
    if (typeof nodeId !== 'string' || !NODE_ID.test(nodeId))
      return this.#refuse('stream', 'bad node id');
    const relay = parseBaseUrl(relayUrl, RELAY_PROTOCOLS);
    if (relay === null || parseBaseUrl(httpUrl, HTTP_PROTOCOLS) === null)
      return this.#refuse('stream', 'bad URL');
    if (!isCount(updatedMs)) return this.#refuse('stream', 'bad updatedMs');
    const location: StreamLocation = {
      path,
      nodeId,
      relayUrl: relayUrl as string,
      httpUrl: httpUrl as string,
      updatedMs,
    };
    if (!this.#verify('stream', streamBody(location), sig))
      return this.#refuse('stream', 'bad signature');
    if (!this.#fresh(updatedMs)) return this.#refuse('stream', 'stale or from the future');
    if (!this.#relayAllowed(relay)) return this.#refuse('stream', 'relay host not allowed');
    return location;
  }

  #readNode(nodeIdFromKey: string, value: string): NodeLoad | null {
    const envelope = this.#unwrap('node', value, MAX_NODE_VALUE_BYTES);
    if (envelope === null) return null;
    const { body, sig } = envelope;
    const { relayUrl, httpUrl, viewers, egressMbps, maxViewers, maxEgressMbps, streams } = body;
    const { updatedMs } = body;
    if (body.nodeId !== nodeIdFromKey) return this.#refuse('node', 'for another node');
    const relay = parseBaseUrl(relayUrl, RELAY_PROTOCOLS);
    if (relay === null || parseBaseUrl(httpUrl, HTTP_PROTOCOLS) === null)
      return this.#refuse('node', 'bad URL');
    if (
      !isCount(viewers) ||
      !isAmount(egressMbps) ||
      !isCount(maxViewers) ||
      !isAmount(maxEgressMbps) ||
      !isCount(updatedMs)
    )
      return this.#refuse('node', 'bad numbers');
    if (
      !Array.isArray(streams) ||
      !streams.every((path) => typeof path === 'string' && checkStreamPath(path) === null)
    )
      return this.#refuse('node', 'bad streams');
    const load: NodeLoad = {
      nodeId: nodeIdFromKey,
      relayUrl: relayUrl as string,
      httpUrl: httpUrl as string,
      viewers,
      egressMbps,
      maxViewers,
      maxEgressMbps,
      streams: streams as string[],
      updatedMs,
    };
    if (!this.#verify('node', nodeBody(load), sig)) return this.#refuse('node', 'bad signature');
    if (!this.#fresh(updatedMs)) return this.#refuse('node', 'stale or from the future');
    if (!this.#relayAllowed(relay)) return this.#refuse('node', 'relay host not allowed');
    return load;
  }

  /** SCANs for node keys (stopping at `stopAtMs`), then reads and checks each entry. */
  async #scanNodes(stopAtMs: number): Promise<NodeLoad[]> {
    const prefix = this.#nodeKey('');
    const ids = new Set<string>();
    let cursor = '0';
    let calls = 0;
    for (; calls < MAX_SCAN_CALLS && ids.size < MAX_NODES; calls++) {
      if (Date.now() >= stopAtMs) throw new DeadlineError('nodes', 2 * this.#options.timeoutMs);
      const reply = await this.#run('nodes', (client) =>
        client.scan(cursor, { MATCH: `${prefix}*`, COUNT: SCAN_COUNT }),
      );
      for (const key of reply.keys) {
        const id = key.slice(prefix.length);
        if (key.startsWith(prefix) && NODE_ID.test(id) && ids.size < MAX_NODES) ids.add(id);
      }
      cursor = reply.cursor;
      if (cursor === '0') break;
    }
    if (calls === MAX_SCAN_CALLS)
      this.#report(new Error(`SCAN stopped after ${calls} calls: only part of the nodes`), 'nodes');
    const list = [...ids];
    const values = await this.#run('nodes', (client) =>
      Promise.all(list.map((id) => client.getRange(this.#nodeKey(id), 0, MAX_NODE_VALUE_BYTES))),
    );
    const loads: NodeLoad[] = [];
    values.forEach((value, i) => {
      const id = list[i];
      if (value === null || value === '' || id === undefined) return; // gone since the scan
      const load = this.#readNode(id, value);
      if (load) loads.push(load);
    });
    return loads.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  // --- errors ---

  /** Reports through onError, at most once per `what` every 10 s. */
  #report(error: unknown, what: string): void {
    const onError = this.#options.onError;
    if (!onError) return;
    const now = Date.now();
    const entry = this.#errors.get(what);
    if (entry && now - entry.lastMs < ERROR_INTERVAL_MS) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.#errors.set(what, { lastMs: now, suppressed: 0 });
    try {
      onError(error, suppressed > 0 ? `${what} (${suppressed} more since the last report)` : what);
    } catch {
      // a log hook that throws must not break the map
    }
  }
}
