// HttpListener: the one HTTP port (8080 by default). Routes each request to its handler and
// refuses malformed targets; handlers never see a request they did not ask for.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HttpConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { HttpFlvHandler } from '../servers/http-flv/http-flv-handler.ts';
import type { PagesHandler } from '../servers/pages/pages-handler.ts';
import type { DashboardHandler } from '../servers/pages/dashboard-handler.ts';
import { HlsHandler } from '../servers/hls/hls-handler.ts';
import { listenServer, serverClosed } from '../protocols/listen-server.ts';
import type { AccessControl, AccessResult } from '../access/access-control.ts';
import { SessionRegistry } from '../hub/session-registry.ts';

/** Paths outside /api that the admin API app answers: probes and Prometheus. */
const ADMIN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/** Serves `/api/...` requests (the admin API's fastify router). */
export type ApiRouter = (req: IncomingMessage, res: ServerResponse) => void;

/** Owns the HTTP server and the handlers mounted on it. */
export class HttpListener {
  readonly #config: HttpConfig;
  readonly #logger: Logger;
  readonly #server: Server;
  readonly #flv: HttpFlvHandler;
  readonly #hls: HlsHandler | undefined;
  /** Stream list, watch page and their assets: tried last, before the 404. */
  readonly #pages: PagesHandler | undefined;
  readonly #access: AccessControl;
  readonly #api: ApiRouter | undefined;
  readonly #dashboard: DashboardHandler | undefined;

  constructor(options: {
    config: HttpConfig;
    logger: Logger;
    flv: HttpFlvHandler;
    access: AccessControl;
    hls?: HlsHandler;
    pages?: PagesHandler;
    api?: ApiRouter;
    dashboard?: DashboardHandler;
  }) {
    this.#dashboard = options.dashboard;
    this.#config = options.config;
    this.#access = options.access;
    this.#api = options.api;
    this.#logger = options.logger.child({ component: 'http' });
    this.#flv = options.flv;
    this.#hls = options.hls;
    this.#pages = options.pages;
    this.#server = createServer({ headersTimeout: options.config.headersTimeoutMs }, (req, res) => {
      this.#onRequest(req, res);
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onUpgrade(req, socket, head);
    });
    this.#server.on('clientError', (error, socket) => {
      this.#logger.debug({ reason: error.message }, 'bad HTTP request');
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return listenServer(this.#server, this.#config.host, this.#config.port);
  }

  /** Stops accepting, ends long-lived responses and closes idle connections. */
  async close(): Promise<void> {
    const closed = serverClosed(this.#server);
    this.#flv.close();
    this.#hls?.close();
    this.#server.closeAllConnections();
    await closed;
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
            'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
            'Access-Control-Max-Age': '86400',
          })
          .end();
        return;
      }
      const hlsTarget = this.#hls ? HlsHandler.parseTarget(path) : null;
      if (hlsTarget !== null && this.#hls) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
          return;
        }
        const search = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
        this.#hls.handle(req, res, hlsTarget, search);
        return;
      }
      if (flvPath !== null) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { Allow: 'GET, HEAD, OPTIONS' }).end();
          return;
        }
        this.#authorizeFlv(req, flvPath, 'http-flv', (result, sessionId) => {
          if (result.ok) this.#flv.handleRequest(req, res, flvPath, sessionId);
          else reply(res, result.status, `${result.message}\n`);
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

  /** Runs the play decision of an FLV viewer, then `then` (errors become a 503). */
  #authorizeFlv(
    req: IncomingMessage,
    path: string,
    protocol: string,
    then: (result: AccessResult, sessionId: string) => void,
  ): void {
    const authorization = req.headers.authorization;
    const sessionId = SessionRegistry.newId();
    this.#access
      .authorizePlay({
        path,
        ip: req.socket.remoteAddress ?? 'unknown',
        protocol,
        query: (req.url ?? '').split('?')[1] ?? '',
        ...(authorization?.startsWith('Bearer ') ? { bearer: authorization.slice(7) } : {}),
        sessionId,
        counted: true,
      })
      .then(
        (result) => {
          then(result, sessionId);
        },
        (error: unknown) => {
          this.#logger.error({ err: error }, 'play authorization failed');
          const failed = { ok: false, status: 503, code: 'auth-error', message: 'failed' } as const;
          then(failed, sessionId);
        },
      );
  }

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    try {
      const path = decodeTarget(req.url);
      const flvPath = path === null ? null : HttpFlvHandler.streamPathOf(path);
      if (flvPath === null) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      this.#authorizeFlv(req, flvPath, 'ws-flv', (result, sessionId) => {
        if (result.ok) this.#flv.handleUpgrade(req, socket, head, flvPath, sessionId);
        else {
          const line = `${result.status} ${STATUS_TEXT[result.status]}`;
          socket.end(`HTTP/1.1 ${line}\r\nConnection: close\r\n\r\n`);
        }
      });
    } catch (error) {
      this.#logger.error({ err: error }, 'WebSocket upgrade failed');
      socket.destroy();
    }
  }
}

const STATUS_TEXT: Record<401 | 403 | 429 | 503, string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

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

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(body);
}
