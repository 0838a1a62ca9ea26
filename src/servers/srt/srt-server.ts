// SRT ingest and playback on one UDP port (srt.port). Callers are told apart by streamid
// (`#!::r=live/NAME,m=publish,s=KEY`, `publish:live/NAME:KEY`, `read:live/NAME`). During the
// handshake, before accept, the streamid is parsed and everything decidable at once is decided:
// the address rules, limits, the key or HMAC token, the stream's passphrase (libsrt then checks
// the caller's). After accept, the whole decision (on_publish / on_play hooks, JWTs) runs as for
// any other protocol; a refusal closes the connection before any media is used.
// Publishers send MPEG-TS (media/ts-demuxer.ts -> the hub); players get MPEG-TS made once per
// stream by the `mpegts` output (ts-live-output.ts) and shared by every SRT viewer.
import type { AccessControl, Refusal } from '../../access/access-control.ts';
import type { HubConfig, SrtConfig, StreamsConfig } from '../../config/schema.ts';
import { HubError } from '../../hub/hub-errors.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { Publication } from '../../hub/stream.ts';
import { SessionRegistry, type Session, type SessionSlot } from '../../hub/session-registry.ts';
import type { CloseReason } from '../../hub/subscriber.ts';
import { ViewerQueue } from '../../hub/viewer-queue.ts';
import type { Logger } from '../../log/logger.ts';
import type { SrtFigures } from '../../metrics/metrics.ts';
import { TsDemuxer } from '../../media/ts-demuxer.ts';
import {
  SrtListener,
  SrtReject,
  loadSrt,
  type SrtBinding,
  type SrtCaller,
  type SrtConnection,
  type SrtVerdict,
} from '../../protocols/srt/srt-listener.ts';
import { parseStreamId, type StreamIdRequest } from '../../protocols/srt/streamid.ts';
import { checkStreamPath } from '../../hub/stream-path.ts';
import { createTsLiveEncoder } from './ts-live-output.ts';

/** What the server is built from. */
export interface SrtServerOptions {
  readonly srt: SrtConfig;
  readonly streams: StreamsConfig;
  readonly hubConfig: HubConfig;
  readonly hub: StreamHub;
  readonly access: AccessControl;
  readonly sessions: SessionRegistry;
  readonly logger: Logger;
}

/** Totals over every SRT connection that has ended, for /metrics (live ones are added on read). */
interface SrtTotals {
  packetsReceivedLost: number;
  packetsRetransmitted: number;
  packetsReceivedDropped: number;
  packetsSentDropped: number;
}

/** A caller decided in its handshake, waiting for its accept (keyed by socket). */
interface Decided {
  readonly request: StreamIdRequest;
  readonly at: number;
}

/** At most this many handshakes decided and not yet accepted are remembered. */
const MAX_DECIDED = 1024;
/** A decided handshake not accepted within this long is forgotten. */
const DECIDED_TTL_MS = 10_000;
/** The handshake rate limit's window. */
const RATE_WINDOW_MS = 10_000;
/** At most this many addresses are tracked by the rate limit (the oldest window goes first). */
const MAX_RATE_ADDRESSES = 10_000;
/** How often publishers are checked for idleness. */
const IDLE_CHECK_MS = 1000;
/** Bytes a player may hold back beyond libsrt's send buffer (one partly sent frame's rest). */
const MAX_PENDING_SEND_BYTES = 4 * 1024 * 1024;

/** See the file comment. */
export class SrtServer {
  readonly #options: SrtServerOptions;
  readonly #log: Logger;
  #listener: SrtListener | null = null;
  readonly #decided = new Map<number, Decided>();
  readonly #rate = new Map<string, { start: number; count: number }>();
  readonly #live = new Set<SrtConnection>();
  readonly #closers = new Set<() => void>();
  readonly totals: SrtTotals = {
    packetsReceivedLost: 0,
    packetsRetransmitted: 0,
    packetsReceivedDropped: 0,
    packetsSentDropped: 0,
  };
  /** Why SRT is off, when it is (no addon, or the port could not be bound). */
  whyOff: string | null = null;

  constructor(options: SrtServerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'srt' });
  }

  /** The UDP port listened on, or null when SRT is off. */
  get port(): number | null {
    return this.#listener?.port ?? null;
  }

  /** SRT connections open now. */
  get connectionCount(): number {
    return this.#listener?.connectionCount ?? 0;
  }

  /** Connections now and loss recovery since start, for /metrics. */
  figures(): SrtFigures {
    const figures = {
      connections: this.connectionCount,
      rttMsMax: 0,
      receiveBufferMsMax: 0,
      ...this.totals,
    };
    for (const connection of this.#live) {
      const stats = connection.stats();
      if (stats === null) continue;
      figures.rttMsMax = Math.max(figures.rttMsMax, stats.rttMs);
      figures.receiveBufferMsMax = Math.max(figures.receiveBufferMsMax, stats.receiveBufferMs);
      figures.packetsReceivedLost += stats.packetsReceivedLost;
      figures.packetsRetransmitted += stats.packetsRetransmitted;
      figures.packetsReceivedDropped += stats.packetsReceivedDropped;
      figures.packetsSentDropped += stats.packetsSentDropped;
    }
    return figures;
  }

  /**
   * Binds srt.port. Without the addon SRT stays off and the reason is logged (onair runs on);
   * a port that cannot be bound throws, like the other listeners.
   */
  start(): void {
    const { srt } = this.#options;
    const loaded = loadSrt();
    if ('whyNot' in loaded) {
      this.whyOff = `libsrt is not available: ${loaded.whyNot}`;
      this.#log.warn({ reason: loaded.whyNot }, 'SRT is off: the onair-srt addon is not built');
      return;
    }
    this.#listener = this.#bind(loaded.binding);
    this.#log.info(
      { port: this.#listener.port, latencyMs: srt.latencyMs, libsrt: loaded.binding.version() },
      'SRT listening',
    );
  }

  #bind(binding: SrtBinding): SrtListener {
    const { srt } = this.#options;
    try {
      return new SrtListener(binding, {
        host: srt.host,
        port: srt.port,
        latencyMs: srt.latencyMs,
        passphrase: srt.passphrase,
        peerIdleTimeoutMs: srt.peerIdleTimeoutMs,
        verdict: (caller) => this.#verdict(caller),
        accepted: (connection, caller) => {
          this.#accepted(connection, caller);
        },
        onError: (error) => {
          this.#log.error({ err: error }, 'SRT connection failed');
        },
      });
    } catch (error) {
      // libsrt says "Connection setup failure" for a port in use: say which one.
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `cannot listen for SRT on UDP ${srt.host}:${srt.port} (srt.port): ${reason}`,
        {
          cause: error,
        },
      );
    }
  }

  /** Ends every SRT session and stops listening. */
  close(): void {
    for (const close of [...this.#closers]) close();
    this.#listener?.close();
    this.#listener = null;
  }

  // ---- the handshake ----

  #verdict(caller: SrtCaller): SrtVerdict {
    const { srt, access, hub, streams } = this.#options;
    const reject = (code: number, reason: string): SrtVerdict => {
      this.#log.info(
        { ip: caller.ip, streamId: printable(caller.streamId), reason },
        'SRT refused',
      );
      return { accept: false, reject: code };
    };
    if (this.connectionCount >= srt.maxConnections) {
      return reject(SrtReject.Overload, `at most ${srt.maxConnections} SRT connections`);
    }
    if (!this.#withinRate(caller.ip)) {
      return reject(SrtReject.Overload, 'too many connection requests from this address');
    }
    const request = parseStreamId(caller.streamId, checkStreamPath);
    if ('error' in request) return reject(SrtReject.BadRequest, `streamid: ${request.error}`);
    const attempt = {
      path: request.path,
      ip: caller.ip,
      protocol: 'srt',
      query: request.query,
      sessionId: '',
    };
    let refusal: Refusal | null;
    if (request.mode === 'publish') {
      if (hub.get(request.path)?.publisher != null) {
        return reject(SrtReject.Conflict, `${request.path} already has a publisher`);
      }
      refusal = access.precheckPublish(attempt);
    } else {
      refusal = access.precheckPlay({ ...attempt, counted: true });
    }
    if (refusal !== null) return reject(rejectCodeOf(refusal), refusal.code);
    this.#remember(caller.socket, request);
    const passphrase = streams[request.path]?.srtPassphrase;
    return passphrase === undefined ? { accept: true } : { accept: true, passphrase };
  }

  #withinRate(ip: string): boolean {
    const now = Date.now();
    const entry = this.#rate.get(ip);
    if (entry === undefined || now - entry.start > RATE_WINDOW_MS) {
      if (entry === undefined && this.#rate.size >= MAX_RATE_ADDRESSES) {
        const oldest = this.#rate.keys().next().value;
        if (oldest !== undefined) this.#rate.delete(oldest);
      }
      this.#rate.delete(ip);
      this.#rate.set(ip, { start: now, count: 1 });
      return true;
    }
    entry.count += 1;
    return entry.count <= this.#options.srt.handshakesPerIpPer10s;
  }

  /**
   * Calls `end` when the server shuts down ('server-shutdown') and when libsrt closes the
   * connection ('client-left' for a peer that left, else `closedReason`); returns what `end`
   * calls to stop listening for shutdown.
   */
  #endWith<R extends string>(
    connection: SrtConnection,
    end: (reason: R | 'server-shutdown' | 'client-left') => void,
    closedReason: R,
  ): () => void {
    const shutdown = (): void => {
      end('server-shutdown');
    };
    this.#closers.add(shutdown);
    connection.onClose((why) => {
      this.#live.delete(connection);
      this.#addTotals(connection);
      end(why === 'peer-left' ? 'client-left' : closedReason);
    });
    return () => {
      this.#closers.delete(shutdown);
    };
  }

  #remember(socket: number, request: StreamIdRequest): void {
    const now = Date.now();
    for (const [key, decided] of this.#decided) {
      if (now - decided.at < DECIDED_TTL_MS && this.#decided.size < MAX_DECIDED) break;
      this.#decided.delete(key); // oldest first: expired, or over the cap
    }
    this.#decided.set(socket, { request, at: now });
  }

  // ---- after accept ----

  #accepted(connection: SrtConnection, caller: SrtCaller): void {
    const decided = this.#decided.get(caller.socket);
    this.#decided.delete(caller.socket);
    // Accepted without a remembered verdict (forgotten under a flood): decide the streamid again.
    const request = decided?.request ?? parseStreamId(caller.streamId, checkStreamPath);
    if ('error' in request) {
      connection.close();
      return;
    }
    this.#live.add(connection);
    const sessionId = SessionRegistry.newId();
    const log = this.#log.child({ session: sessionId, stream: request.path });
    let dropped = 0;
    connection.onData((bytes) => {
      dropped += bytes.length; // before the decision: not published
    });
    let ended = false;
    connection.onClose(() => {
      ended = true;
      this.#live.delete(connection);
      this.#addTotals(connection);
    });
    const { access } = this.#options;
    const attempt = {
      path: request.path,
      ip: caller.ip,
      protocol: 'srt',
      query: request.query,
      sessionId,
      reserve: true,
    };
    const decision =
      request.mode === 'publish'
        ? access.authorizePublish(attempt)
        : access.authorizePlay({ ...attempt, counted: true });
    decision.then(
      (result) => {
        if (ended) {
          if (result.ok) result.slot?.release();
          return;
        }
        if (!result.ok) {
          log.info({ reason: result.code }, 'SRT session refused after accept');
          connection.close();
          return;
        }
        if (dropped > 0) log.debug({ bytes: dropped }, 'SRT bytes before the decision dropped');
        if (request.mode === 'publish') {
          this.#publish(connection, caller, request.path, sessionId, result.slot, log);
        } else {
          this.#play(connection, caller, request.path, sessionId, result.slot, log);
        }
      },
      (error: unknown) => {
        log.error({ err: error }, 'SRT authorization failed');
        connection.close();
      },
    );
  }

  #addTotals(connection: SrtConnection): void {
    const stats = connection.lastStats;
    if (stats === null) return;
    this.totals.packetsReceivedLost += stats.packetsReceivedLost;
    this.totals.packetsRetransmitted += stats.packetsRetransmitted;
    this.totals.packetsReceivedDropped += stats.packetsReceivedDropped;
    this.totals.packetsSentDropped += stats.packetsSentDropped;
  }

  #publish(
    connection: SrtConnection,
    caller: SrtCaller,
    path: string,
    sessionId: string,
    slot: SessionSlot | undefined,
    log: Logger,
  ): void {
    const { hub, sessions, srt } = this.#options;
    let publication: Publication;
    try {
      publication = hub.publish(path, { protocol: 'srt', remoteAddress: caller.ip });
    } catch (error) {
      slot?.release();
      if (!(error instanceof HubError)) throw error;
      log.info({ reason: error.message }, 'SRT publish refused');
      connection.close();
      return;
    }
    const demuxer = new TsDemuxer();
    let lastDataMs = Date.now();
    connection.onData((bytes) => {
      lastDataMs = Date.now();
      for (const frame of demuxer.push(bytes)) publication.write(frame);
    });
    const idle = setInterval(() => {
      if (Date.now() - lastDataMs > srt.idleTimeoutMs) end('idle-timeout');
    }, IDLE_CHECK_MS);
    idle.unref();
    let session: Session | null = null;
    const end = (reason: string): void => {
      if (session === null) return;
      const ending = session;
      session = null;
      clearInterval(idle);
      forget();
      publication.close();
      sessions.remove(ending, { reason });
      const { drops, resyncs, frames } = demuxer.stats;
      const dropCounts = Object.fromEntries(Object.entries(drops).filter(([, n]) => n > 0));
      log.info({ reason, frames, resyncs, drops: dropCounts }, 'SRT publish ended');
      connection.close();
    };
    const forget = this.#endWith(connection, end, 'closed');
    session = sessions.add(
      {
        id: sessionId,
        role: 'publisher',
        protocol: 'srt',
        path,
        ip: caller.ip,
        close: () => {
          end('kicked');
        },
        bytes: () => connection.bytesReceived,
        droppedFrames: () => droppedFramesOf(demuxer),
        transport: () => transportOf(connection),
      },
      slot,
    );
    log.info({ ip: caller.ip }, 'SRT publish started');
  }

  #play(
    connection: SrtConnection,
    caller: SrtCaller,
    path: string,
    sessionId: string,
    slot: SessionSlot | undefined,
    log: Logger,
  ): void {
    const { hub, sessions, hubConfig } = this.#options;
    let stream;
    try {
      stream = hub.open(path);
    } catch (error) {
      slot?.release();
      if (!(error instanceof HubError)) throw error;
      connection.close();
      return;
    }
    const output = stream.output('mpegts', createTsLiveEncoder());
    // What libsrt's send buffer did not take: sent first when it has room again.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = (): boolean => {
      while (pending.length > 0) {
        const head = pending[0] as Buffer;
        const taken = connection.send(head);
        if (taken < 0) return false;
        pendingBytes -= Math.min(taken, head.length);
        if (taken < head.length) {
          pending[0] = head.subarray(taken);
          return false;
        }
        pending.shift();
      }
      return true;
    };
    const queue = new ViewerQueue(
      {
        write: (bytes) => {
          if (pending.length === 0) {
            const taken = connection.send(bytes);
            if (taken === bytes.length) return true;
            if (taken < 0) return false;
            pending.push(taken === 0 ? bytes : bytes.subarray(taken));
            pendingBytes += bytes.length - taken;
            return false;
          }
          pending.push(bytes);
          pendingBytes += bytes.length;
          if (pendingBytes > MAX_PENDING_SEND_BYTES) finish('too-slow');
          return false;
        },
        close: (reason) => {
          finish(reason);
        },
      },
      hubConfig.viewer,
    );
    connection.onWritable(() => {
      if (flush()) queue.drain();
    });
    let session: Session | null = null;
    const finish = (reason: CloseReason | 'client-left'): void => {
      if (session === null) return;
      const ending = session;
      session = null;
      forget();
      output.removeViewer(queue);
      queue.close('kicked');
      pending = [];
      sessions.remove(ending, { reason });
      log.info({ reason }, 'SRT play ended');
      connection.close();
    };
    const forget = this.#endWith(connection, finish, 'kicked');
    connection.onData(() => undefined); // a player sends nothing we use
    session = sessions.add(
      {
        id: sessionId,
        role: 'viewer',
        protocol: 'srt',
        path,
        ip: caller.ip,
        close: () => {
          finish('kicked');
        },
        bytes: () => connection.bytesSent,
        droppedFrames: () => queue.droppedFrames,
        queueDepth: () => queue.depth,
        transport: () => transportOf(connection),
      },
      slot,
    );
    output.addViewer(queue, {
      waitMs: hubConfig.waitForPublisherMs,
      start: () => undefined, // PAT and PMT come with the first keyframe
    });
    log.info({ ip: caller.ip }, 'SRT play started');
  }
}

/** The SRT reject reason for an access refusal. */
function rejectCodeOf(refusal: Refusal): number {
  switch (refusal.status) {
    case 401:
      return SrtReject.Unauthorized;
    case 403:
      return SrtReject.Forbidden;
    case 429:
    case 503:
      return SrtReject.Overload;
  }
}

/** Frames the demuxer could not use (loss it could not hide, bad input). */
function droppedFramesOf(demuxer: TsDemuxer): number {
  const { drops } = demuxer.stats;
  return drops['continuity-gap'] + drops['bad-access-unit'] + drops['awaiting-keyframe'];
}

/** The session's transport figures for the API: libsrt's statistics now. */
function transportOf(connection: SrtConnection): Readonly<Record<string, number>> | null {
  const stats = connection.stats();
  return stats === null ? null : { ...stats };
}

/** A streamid as it can be logged: control characters shown as `?`, 200 characters at most. */
function printable(text: string): string {
  let out = '';
  for (const char of text.slice(0, 200)) {
    const code = char.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? '?' : char;
  }
  return out;
}
