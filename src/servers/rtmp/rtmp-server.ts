// RtmpServer: listens for RTMP (TCP 1935 by default), enforces connection caps, owns its sessions.
import { createServer, type Server, type Socket } from 'node:net';
import type { HubConfig, RtmpConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { AccessControl } from '../../access/access-control.ts';
import type { SessionRegistry } from '../../hub/session-registry.ts';
import { AdobeChallenges } from '../../access/adobe-auth.ts';
import type { AddressList } from '../../access/cidr.ts';
import { RtmpServerSession, type RtmpSessionStart } from './rtmp-server-session.ts';
import { listenServer, serverClosed } from '../../protocols/listen-server.ts';
import { readProxyPrelude } from '../../protocols/proxy-prelude.ts';

/** Close reasons that are part of normal life, logged at debug and not counted as rejections. */
const ORDINARY_ENDS: ReadonlySet<string> = new Set([
  'peer-closed',
  'client-closed',
  'server-shutdown',
  'stream-ended',
  'not-found',
  'kicked',
  'adobe-challenge', // the first half of Adobe authentication
]);

/** What the RTMP server is built from. */
export interface RtmpServerOptions {
  readonly config: RtmpConfig;
  readonly hubConfig: HubConfig;
  readonly hub: StreamHub;
  readonly logger: Logger;
  readonly access: AccessControl;
  readonly sessions: SessionRegistry;
  /** limits.maxPublishKbps (0 or absent: no cap). */
  readonly maxPublishKbps?: number;
  /** Counts refused or failed connections by reason (metrics plug in here). */
  readonly onReject?: (reason: string) => void;
  /**
   * server.trustedProxies: connections from these addresses may start with a PROXY header (v1
   * or v2) naming the client, whose address is then used for everything. Absent or empty: a
   * PROXY header is never read (the handshake refuses it as any bad C0).
   */
  readonly trustedProxies?: AddressList;
}

/** Accepts RTMP clients and runs one RtmpServerSession per connection. */
export class RtmpServer {
  readonly #options: RtmpServerOptions;
  readonly #logger: Logger;
  readonly #server: Server;
  /** A loopback listener of this process alone, for the other workers' pulls (--workers). */
  #internal: Server | null = null;
  readonly #sessions = new Set<RtmpServerSession>();
  readonly #perIp = new Map<string, number>();
  /** Sockets of trusted proxies whose PROXY header is still being read. */
  readonly #preludes = new Set<Socket>();
  readonly #adobeChallenges = new AdobeChallenges();

  constructor(options: RtmpServerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'rtmp' });
    this.#server = createServer((socket) => {
      this.#accept(socket);
    });
  }

  /** The sessions open now (for the API and tests). */
  get sessions(): ReadonlySet<RtmpServerSession> {
    return this.#sessions;
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return listenServer(this.#server, this.#options.config.host, this.#options.config.port);
  }

  /**
   * Also listens on 127.0.0.1, on a port of this process alone (the shared port cannot name a
   * worker): other workers pull this worker's streams there. Resolves with the port.
   */
  listenInternal(): Promise<number> {
    this.#internal ??= createServer((socket) => {
      this.#accept(socket);
    });
    return listenServer(this.#internal, '127.0.0.1', 0, true);
  }

  /** Stops accepting and closes every session. */
  async close(): Promise<void> {
    const internal = this.#internal ? serverClosed(this.#internal) : Promise.resolve();
    const closed = serverClosed(this.#server);
    for (const socket of [...this.#preludes]) socket.destroy();
    for (const session of [...this.#sessions])
      session.close('server-shutdown', 'the server is stopping');
    await Promise.all([closed, internal]);
  }

  #accept(socket: Socket): void {
    const peer = socket.remoteAddress ?? 'unknown';
    const { maxConnections, handshakeTimeoutMs } = this.#options.config;
    if (this.#sessions.size + this.#preludes.size >= maxConnections) {
      this.#refuse(socket, peer, 'max-connections');
      return;
    }
    if (this.#options.trustedProxies?.matches(peer) !== true) {
      this.#admit(socket, {
        peer: { address: peer, port: socket.remotePort ?? 0 },
        handshakeTimeoutMs,
      });
      return;
    }
    // A trusted proxy: the client is named by a PROXY header, if one comes first. Only the
    // global cap counts it meanwhile; the per-IP cap counts the client once it is known.
    this.#preludes.add(socket);
    const startedAt = performance.now();
    readProxyPrelude(socket, handshakeTimeoutMs, {
      done: (header, rest) => {
        this.#preludes.delete(socket);
        const own = { address: peer, port: socket.remotePort ?? 0 };
        const left = handshakeTimeoutMs - (performance.now() - startedAt);
        this.#admit(
          socket,
          {
            // LOCAL (health checks), UNKNOWN or no header: the proxy speaks for itself.
            peer: header?.command === 'proxy' ? header.source : own,
            proxy: peer,
            handshakeTimeoutMs: Math.max(1, Math.round(left)),
          },
          rest,
        );
      },
      fail: (failure) => {
        this.#preludes.delete(socket);
        socket.destroy();
        const fields = { peer, reason: failure.code, detail: failure.message };
        if (ORDINARY_ENDS.has(failure.code)) {
          this.#logger.debug(fields, 'RTMP connection closed');
        } else {
          this.#logger.warn(fields, 'RTMP connection closed');
          this.#options.onReject?.(failure.code);
        }
      },
    });
  }

  /** Refuses a connection at accept, over a cap. */
  #refuse(socket: Socket, peer: string, reason: string, proxy?: string): void {
    this.#logger.warn(
      { peer, ...(proxy === undefined ? {} : { proxy }), reason },
      'RTMP connection refused',
    );
    this.#options.onReject?.(reason);
    socket.destroy();
  }

  /** Runs a session for the client of `start`, within the per-IP cap. */
  #admit(socket: Socket, start: RtmpSessionStart, rest?: Buffer): void {
    const ip = start.peer.address;
    const fromIp = this.#perIp.get(ip) ?? 0;
    const cap = this.#options.config.maxConnectionsPerIp; // 0: no cap
    if (cap > 0 && fromIp >= cap) {
      this.#refuse(socket, ip, 'max-connections-per-ip', start.proxy);
      return;
    }
    this.#perIp.set(ip, fromIp + 1);
    const session = new RtmpServerSession(
      socket,
      {
        hub: this.#options.hub,
        rtmp: this.#options.config,
        hubConfig: this.#options.hubConfig,
        logger: this.#logger,
        access: this.#options.access,
        sessions: this.#options.sessions,
        adobeChallenges: this.#adobeChallenges,
        maxPublishKbps: this.#options.maxPublishKbps ?? 0,
        onClose: (closed, info) => {
          this.#sessions.delete(closed);
          const left = (this.#perIp.get(ip) ?? 1) - 1;
          if (left <= 0) this.#perIp.delete(ip);
          else this.#perIp.set(ip, left);
          const expected = ORDINARY_ENDS.has(info.code);
          const fields = {
            peer: closed.remoteAddress,
            ...(start.proxy === undefined ? {} : { proxy: start.proxy }),
            reason: info.code,
            detail: info.message,
          };
          if (expected) this.#logger.debug(fields, 'RTMP connection closed');
          else {
            this.#logger.warn(fields, 'RTMP connection closed');
            this.#options.onReject?.(info.code);
          }
        },
      },
      start,
    );
    this.#sessions.add(session);
    if (rest !== undefined) session.connection.receive(rest);
  }
}
