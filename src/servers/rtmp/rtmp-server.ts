// RtmpServer: listens for RTMP (TCP 1935 by default), enforces connection caps, owns its sessions.
import { createServer, type Server, type Socket } from 'node:net';
import type { HubConfig, RtmpConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import type { AccessControl } from '../../access/access-control.ts';
import type { SessionRegistry } from '../../hub/session-registry.ts';
import { AdobeChallenges } from '../../access/adobe-auth.ts';
import { RtmpServerSession } from './rtmp-server-session.ts';
import { listenServer, serverClosed } from '../../protocols/listen-server.ts';

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
}

/** Accepts RTMP clients and runs one RtmpServerSession per connection. */
export class RtmpServer {
  readonly #options: RtmpServerOptions;
  readonly #logger: Logger;
  readonly #server: Server;
  readonly #sessions = new Set<RtmpServerSession>();
  readonly #perIp = new Map<string, number>();
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

  /** Stops accepting and closes every session. */
  async close(): Promise<void> {
    const closed = serverClosed(this.#server);
    for (const session of [...this.#sessions])
      session.close('server-shutdown', 'the server is stopping');
    await closed;
  }

  #accept(socket: Socket): void {
    const ip = socket.remoteAddress ?? 'unknown';
    const { maxConnections, maxConnectionsPerIp } = this.#options.config;
    const fromIp = this.#perIp.get(ip) ?? 0;
    if (this.#sessions.size >= maxConnections || fromIp >= maxConnectionsPerIp) {
      const reason =
        this.#sessions.size >= maxConnections ? 'max-connections' : 'max-connections-per-ip';
      this.#logger.warn({ peer: ip, reason }, 'RTMP connection refused');
      this.#options.onReject?.(reason);
      socket.destroy();
      return;
    }
    this.#perIp.set(ip, fromIp + 1);
    const session = new RtmpServerSession(socket, {
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
        const fields = { peer: closed.remoteAddress, reason: info.code, detail: info.message };
        if (expected) this.#logger.debug(fields, 'RTMP connection closed');
        else {
          this.#logger.warn(fields, 'RTMP connection closed');
          this.#options.onReject?.(info.code);
        }
      },
    });
    this.#sessions.add(session);
  }
}
