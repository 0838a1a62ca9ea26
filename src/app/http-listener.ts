// HttpListener: the one HTTP port (8080 by default). Routes each request to its handler and
// refuses malformed targets; handlers never see a request they did not ask for.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { HttpFlvHandler } from '../servers/http-flv/http-flv-handler.ts';
import { WhepHandler, type WhepTarget } from '../servers/webrtc/whep-handler.ts';
import { WhipHandler, type WhipTarget } from '../servers/webrtc/whip-handler.ts';
import type { PagesHandler } from '../servers/pages/pages-handler.ts';
import type { DashboardHandler } from '../servers/pages/dashboard-handler.ts';
import { HlsHandler } from '../servers/hls/hls-handler.ts';
import { VodHandler } from '../servers/vod/vod-handler.ts';
import { HlsForwarder } from './hls-forwarder.ts';
import { listenServer, serverClosed } from '../protocols/listen-server.ts';
import {
  NODE_FULL_CODES,
  type AccessControl,
  type AccessResult,
} from '../access/access-control.ts';
import type { ClientAddresses } from '../access/client-address.ts';
import { SessionRegistry } from '../hub/session-registry.ts';

/** The HTTP base of another node with room for a viewer of `path` refused here for `code`. */
export type Redirect = (path: string, code: string) => Promise<string | null>;

/**
 * Which other process makes the HLS of `path`: its HTTP base (http://127.0.0.1:port), or null
 * when this one does; a promise when it must be asked.
 */
export type HlsOwner = (path: string) => string | null | Promise<string | null>;

/** Paths outside /api that the admin API app answers: probes and Prometheus. */
const ADMIN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);
/**
 * Deadline for receiving a whole request (headers and body). Node's default is 300 s; API and
 * beacon bodies are a few KiB. It never cuts a response, so HTTP-FLV playback is not affected.
 */
const REQUEST_TIMEOUT_MS = 30_000;
/** How often node:http checks the header and request deadlines of open connections. */
const CONNECTIONS_CHECK_MS = 1000;
/** How long a refused upgrade's answer may take to flush before its socket is destroyed. */
const REFUSAL_GRACE_MS = 2000;
/** Added to the hook timeout: the longest an upgrade may wait for its play decision. */
const UPGRADE_DECISION_MARGIN_MS = 5000;

/** Serves `/api/...` requests (the admin API's fastify router). */
export type ApiRouter = (req: IncomingMessage, res: ServerResponse) => void;

/** Owns the HTTP server and the handlers mounted on it. */
export class HttpListener {
  readonly #config: HttpConfig;
  readonly #logger: Logger;
  readonly #server: Server;
  readonly #flv: HttpFlvHandler;
  /** WebRTC playback (POST /<path>/whep), when WebRTC is on and its library loads. */
  readonly #whep: WhepHandler | undefined;
  /** WebRTC ingest (POST /<path>/whip), when WebRTC is on and its library loads. */
  readonly #whip: WhipHandler | undefined;
  readonly #hls: HlsHandler | undefined;
  /** Replay of recordings (/vod/<id>.m3u8, /vod/<id>.mp4). */
  readonly #vod: VodHandler | undefined;
  /** Stream list, watch page and their assets: tried last, before the 404. */
  readonly #pages: PagesHandler | undefined;
  readonly #access: AccessControl;
  readonly #api: ApiRouter | undefined;
  readonly #dashboard: DashboardHandler | undefined;
  readonly #addresses: ClientAddresses;
  readonly #upgradeDeadlineMs: number;
  /**
   * Sockets taken over by 'upgrade': node:http no longer tracks them, so closeAllConnections()
   * would miss them and server.close() would wait for them forever.
   */
  readonly #upgraded = new Set<Duplex>();
  /** The loopback listener of this worker alone (--workers), for the other workers' requests. */
  #internal: Server | null = null;
  readonly #hlsOwner: HlsOwner | undefined;
  readonly #forwarder = new HlsForwarder();
  readonly #redirect: Redirect | undefined;

  constructor(options: {
    config: HttpConfig;
    logger: Logger;
    flv: HttpFlvHandler;
    whep?: WhepHandler;
    whip?: WhipHandler;
    access: AccessControl;
    addresses: ClientAddresses;
    /** hooks.timeoutMs: an upgrade's decision may take that long. */
    hookTimeoutMs: number;
    hls?: HlsHandler;
    vod?: VodHandler;
    pages?: PagesHandler;
    api?: ApiRouter;
    dashboard?: DashboardHandler;
    /** In a worker group: which other worker makes a stream's HLS (its HTTP base), if any. */
    hlsOwner?: HlsOwner;
    /** Another node with room for a viewer of `path` this one refuses as full (its HTTP base). */
    redirect?: Redirect;
  }) {
    this.#hlsOwner = options.hlsOwner;
    this.#redirect = options.redirect;
    this.#dashboard = options.dashboard;
    this.#addresses = options.addresses;
    this.#upgradeDeadlineMs = options.hookTimeoutMs + UPGRADE_DECISION_MARGIN_MS;
    this.#config = options.config;
    this.#access = options.access;
    this.#api = options.api;
    this.#logger = options.logger.child({ component: 'http' });
    this.#flv = options.flv;
    this.#whep = options.whep;
    this.#whip = options.whip;
    this.#hls = options.hls;
    this.#vod = options.vod;
    this.#pages = options.pages;
    this.#server = createServer(
      {
        headersTimeout: options.config.headersTimeoutMs,
        requestTimeout: REQUEST_TIMEOUT_MS,
        // Both timeouts are only checked this often (Node's default: every 30 s).
        connectionsCheckingInterval: CONNECTIONS_CHECK_MS,
      },
      (req, res) => {
        this.#onRequest(req, res);
      },
    );
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onUpgrade(req, socket, head);
    });
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      // Malformed requests, header overflows, header and request timeouts, resets: each closes
      // only that connection, with the parser's code as the reason.
      const reason = error.code ?? 'bad-request';
      this.#logger.debug({ reason, detail: error.message }, 'bad HTTP request');
      if (!socket.writable || reason === 'ECONNRESET') {
        socket.destroy();
        return;
      }
      const status = CLIENT_ERROR_STATUS[reason] ?? '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
      setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
    });
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return listenServer(this.#server, this.#config.host, this.#config.port);
  }

  /**
   * Also listens on 127.0.0.1, on a port of this process alone: the other workers of the group
   * forward HLS requests for this worker's streams there. Resolves with the port.
   */
  listenInternal(): Promise<number> {
    this.#internal ??= createServer(
      { headersTimeout: this.#config.headersTimeoutMs, requestTimeout: REQUEST_TIMEOUT_MS },
      (req, res) => {
        this.#onRequest(req, res);
      },
    );
    return listenServer(this.#internal, '127.0.0.1', 0, true);
  }

  /** Whether `req` came through the internal listener (from another worker of the group). */
  isInternal(req: IncomingMessage): boolean {
    return this.#internal !== null && req.socket.localPort === this.#internalPort();
  }

  #internalPort(): number | null {
    const address = this.#internal?.address();
    return typeof address === 'object' && address !== null ? address.port : null;
  }

  /**
   * Stops accepting and ends every viewer politely (FLV viewers get their last chunk or a
   * WebSocket close, held HLS requests an answer); resolves once every connection is gone.
   * A client that does not let go is cut by forceClose().
   */
  async close(): Promise<void> {
    const internal = this.#internal ? serverClosed(this.#internal) : Promise.resolve();
    this.#internal?.closeIdleConnections();
    this.#forwarder.close();
    const closed = Promise.all([serverClosed(this.#server), internal]);
    this.#flv.close();
    this.#whep?.close();
    this.#whip?.close();
    this.#hls?.close();
    this.#server.closeIdleConnections();
    await closed;
  }

  /** Destroys every connection still open, upgraded ones included (the shutdown deadline). */
  forceClose(): void {
    this.#server.closeAllConnections();
    this.#internal?.closeAllConnections();
    for (const socket of this.#upgraded) socket.destroy();
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      const path = decodeTarget(req.url);
      if (path === null) {
        reply(res, 400, 'Bad request target\n');
        return;
      }
      if (path === '/api' || path.startsWith('/api/') || ADMIN_PATHS.has(path)) {
        // The API answers its own preflights (never with CORS) and its own 404s.
        if (this.#api) this.#api(req, res);
        else reply(res, 404, 'Not found\n');
        return;
      }
      const flvPath = HttpFlvHandler.streamPathOf(path);
      if (req.method === 'OPTIONS' && this.#config.cors) {
        res
          .writeHead(204, {
            'Access-Control-Allow-Origin': '*',
            'Access-Control-Allow-Methods': 'GET, HEAD, POST, DELETE, OPTIONS',
            // WHEP: the offer's type and the play token (a Bearer).
            'Access-Control-Allow-Headers': 'Authorization, Content-Type',
            'Access-Control-Max-Age': '86400',
          })
          .end();
        return;
      }
      const vodTarget = this.#vod ? VodHandler.parseTarget(path) : null;
      if (vodTarget !== null && this.#vod) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
          return;
        }
        const search = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
        this.#vod.handle(req, res, vodTarget, search);
        return;
      }
      const hlsTarget = this.#hls ? HlsHandler.parseTarget(path) : null;
      if (hlsTarget !== null && this.#hls) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
          return;
        }
        const search = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
        const hls = this.#hls;
        const owner = this.isInternal(req) ? null : (this.#hlsOwner?.(hlsTarget.path) ?? null);
        if (owner === null) hls.handle(req, res, hlsTarget, search);
        else
          void Promise.resolve(owner).then((base) => {
            if (res.destroyed) return;
            if (base === null) hls.handle(req, res, hlsTarget, search);
            else this.#forwarder.forward(req, res, base, this.#addresses.of(req));
          });
        return;
      }
      const whepTarget = this.#whep ? WhepHandler.parseTarget(path) : null;
      if (whepTarget !== null && this.#whep) {
        this.#onWhep(req, res, whepTarget, this.#whep);
        return;
      }
      const whipTarget = this.#whip ? WhipHandler.parseTarget(path) : null;
      if (whipTarget !== null && this.#whip) {
        this.#onWhip(req, res, whipTarget, this.#whip);
        return;
      }
      if (flvPath !== null) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
          return;
        }
        const probe = req.method === 'HEAD';
        this.#authorizeFlv(req, flvPath, 'http-flv', probe, (result, sessionId, ip) => {
          if (res.destroyed || req.socket.destroyed) {
            // The client left during the decision: it never becomes a viewer.
            if (result.ok) result.slot?.release();
            return;
          }
          if (!result.ok) {
            if (this.#redirect && NODE_FULL_CODES.has(result.code))
              sendElsewhere(req, res, this.#redirect, flvPath, result);
            else reply(res, result.status, `${result.message}\n`);
          } else if (probe) this.#flv.handleHead(res, flvPath);
          else this.#flv.handleRequest(req, res, flvPath, sessionId, ip, result.slot);
        });
        return;
      }
      if (this.#dashboard?.handle(req, res, path) === true) return;
      if (this.#pages?.handle(req, res, path) === true) return;
      reply(res, 404, 'Not found\n');
    } catch (error) {
      this.#logger.error({ err: error }, 'HTTP handler failed');
      if (!res.headersSent) reply(res, 500, 'Internal error\n');
      else res.destroy();
    }
  }

  /** A WHEP request: an offer to the endpoint, or the DELETE of a viewer's resource. */
  #onWhep(req: IncomingMessage, res: ServerResponse, target: WhepTarget, whep: WhepHandler): void {
    if (target.kind === 'resource') {
      whep.handleResource(req, res, target);
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST, OPTIONS', ...whep.corsHeaders() }).end();
      return;
    }
    this.#authorizeFlv(req, target.path, 'webrtc', false, (result, sessionId, ip) => {
      if (res.destroyed || req.socket.destroyed) {
        if (result.ok) result.slot?.release();
        return;
      }
      if (!result.ok) {
        res
          .writeHead(result.status, { 'Content-Type': 'text/plain', ...whep.corsHeaders() })
          .end(`${result.message}\n`);
        return;
      }
      whep.handleOffer(req, res, target.path, sessionId, ip, result.slot);
    });
  }

  /**
   * A WHIP request: an offer to the endpoint after the publish decision RTMP publishers get (key
   * or token as a Bearer or in the query, address rules, limits, on_publish), or the DELETE of a
   * publisher's resource.
   */
  #onWhip(req: IncomingMessage, res: ServerResponse, target: WhipTarget, whip: WhipHandler): void {
    if (target.kind === 'resource') {
      whip.handleResource(req, res, target);
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST, OPTIONS', ...whip.corsHeaders() }).end();
      return;
    }
    const authorization = req.headers.authorization;
    const sessionId = SessionRegistry.newId();
    const ip = this.#addresses.of(req);
    this.#access
      .authorizePublish({
        path: target.path,
        ip,
        protocol: 'webrtc',
        query: (req.url ?? '').split('?')[1] ?? '',
        ...(authorization?.startsWith('Bearer ') ? { bearer: authorization.slice(7) } : {}),
        sessionId,
        reserve: true,
      })
      .then(
        (result) => {
          if (res.destroyed || req.socket.destroyed) {
            if (result.ok) result.slot?.release(); // it left during the decision
            return;
          }
          if (!result.ok) {
            res
              .writeHead(result.status, { 'Content-Type': 'text/plain', ...whip.corsHeaders() })
              .end(`${result.message}\n`);
            return;
          }
          whip.handleOffer(req, res, target.path, sessionId, ip, result.slot);
        },
        (error: unknown) => {
          this.#logger.error({ err: error }, 'publish authorization failed');
          if (!res.headersSent) reply(res, 503, 'authorization failed\n');
        },
      );
  }

  /**
   * Runs the play decision of an FLV viewer (a probe, for HEAD: no hook, no viewer counted),
   * then `then` with the client's address (errors become a 503).
   */
  #authorizeFlv(
    req: IncomingMessage,
    path: string,
    protocol: string,
    probe: boolean,
    then: (result: AccessResult, sessionId: string, ip: string) => void,
  ): void {
    const authorization = req.headers.authorization;
    const sessionId = SessionRegistry.newId();
    const ip = this.#addresses.of(req);
    this.#access
      .authorizePlay({
        path,
        ip,
        protocol,
        query: (req.url ?? '').split('?')[1] ?? '',
        ...(authorization?.startsWith('Bearer ') ? { bearer: authorization.slice(7) } : {}),
        sessionId,
        counted: !probe,
        probe,
        reserve: !probe,
      })
      .then(
        (result) => {
          then(result, sessionId, ip);
        },
        (error: unknown) => {
          this.#logger.error({ err: error }, 'play authorization failed');
          const failed = { ok: false, status: 503, code: 'auth-error', message: 'failed' } as const;
          then(failed, sessionId, ip);
        },
      );
  }

  /**
   * An upgrade request. Node hands the raw socket over with no listener left on it, so it gets
   * an error listener first (a reset would otherwise be an uncaught exception) and a deadline
   * until it is upgraded or refused; a refusal is answered and the socket destroyed shortly
   * after, whether or not the client closes its side.
   */
  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const peer = req.socket.remoteAddress ?? 'unknown';
    this.#upgraded.add(socket);
    socket.on('error', (error) => {
      this.#logger.debug({ peer, reason: 'socket-error', detail: error.message }, 'upgrade failed');
      socket.destroy();
    });
    socket.on('close', () => {
      clearTimeout(deadline);
      this.#upgraded.delete(socket);
    });
    const deadline = setTimeout(() => {
      this.#logger.warn(
        { peer, reason: 'upgrade-timeout' },
        'WebSocket upgrade not decided in time',
      );
      socket.destroy();
    }, this.#upgradeDeadlineMs);
    const refuse = (status: keyof typeof STATUS_TEXT, reason: string): void => {
      clearTimeout(deadline);
      this.#logger.debug({ peer, reason, status }, 'WebSocket upgrade refused');
      if (socket.destroyed) return;
      socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\n\r\n`);
      setTimeout(() => socket.destroy(), REFUSAL_GRACE_MS).unref();
    };
    try {
      const path = decodeTarget(req.url);
      const flvPath = path === null ? null : HttpFlvHandler.streamPathOf(path);
      if (flvPath === null) {
        refuse(path === null ? 400 : 404, path === null ? 'bad-target' : 'not-found');
        return;
      }
      this.#authorizeFlv(req, flvPath, 'ws-flv', false, (result, sessionId, ip) => {
        if (!result.ok) {
          refuse(result.status, result.code);
          return;
        }
        const slot = result.slot;
        // Whatever happens to the socket before the viewer starts, its room is given back
        // (release() does nothing once the session has taken it).
        socket.once('close', () => slot?.release());
        if (socket.destroyed) {
          slot?.release(); // the client left during the decision
          return;
        }
        clearTimeout(deadline);
        if (!this.#flv.handleUpgrade(req, socket, head, flvPath, sessionId, ip, slot)) {
          slot?.release();
          refuse(400, 'bad-stream-path');
        }
      });
    } catch (error) {
      this.#logger.error({ err: error }, 'WebSocket upgrade failed');
      socket.destroy();
    }
  }
}

/** Answers to parser errors other than 400 (node:http's codes). */
const CLIENT_ERROR_STATUS: Partial<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

const STATUS_TEXT = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
} as const;

/**
 * The request path, percent-decoded exactly once, or null when the target is malformed
 * (not origin-form, `//`, bad escapes, NUL or control characters).
 */
export function decodeTarget(url: string | undefined): string | null {
  if (url === undefined || !url.startsWith('/') || url.startsWith('//')) return null;
  const rawPath = url.split('?')[0] ?? '';
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return null;
  return path;
}

/**
 * Answers a viewer this node is too full for with a 302 to a node that has room (the request's
 * path and query kept), or with the refusal when none has.
 */
export function sendElsewhere(
  req: IncomingMessage,
  res: ServerResponse,
  redirect: Redirect,
  path: string,
  refusal: { readonly status: number; readonly message: string; readonly code: string },
): void {
  redirect(path, refusal.code).then(
    (base) => {
      if (res.destroyed) return;
      if (base === null) reply(res, refusal.status, `${refusal.message}\n`);
      else
        res.writeHead(302, { Location: `${base}${req.url ?? '/'}`, 'Content-Length': '0' }).end();
    },
    () => {
      if (!res.destroyed) reply(res, refusal.status, `${refusal.message}\n`);
    },
  );
}

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
}
