// HTTP-FLV and WS-FLV playback: GET /<app>/<name>.flv, as a chunked HTTP body or WebSocket frames.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeFlvHeader } from '../../codecs/flv.ts';
import type { HttpConfig, HubConfig } from '../../config/schema.ts';
import type { Logger } from '../../log/logger.ts';
import type { StreamHub } from '../../hub/stream-hub.ts';
import { HubError } from '../../hub/hub-errors.ts';
import type { Track } from '../../media/track.ts';
import { ViewerQueue } from '../../hub/viewer-queue.ts';
import type { Session, SessionRegistry, SessionSlot } from '../../hub/session-registry.ts';
import type { AccessControl } from '../../access/access-control.ts';
import type { CloseReason } from '../../hub/subscriber.ts';
import { encodeFlvFrame } from '../../media/flv-body.ts';
import { LAST_CHUNK, encodeChunkedFlvFrame, encodeHttpChunk } from './flv-output-encoding.ts';

/** What the handler is built from. */
export interface HttpFlvHandlerOptions {
  readonly hub: StreamHub;
  readonly http: HttpConfig;
  readonly hubConfig: HubConfig;
  readonly logger: Logger;
  readonly sessions: SessionRegistry;
  readonly access: AccessControl;
}

/** WebSocket bytes buffered beyond which a WS-FLV viewer counts as blocked. */
const WS_HIGH_WATER_BYTES = 256 * 1024;
/** How long an ended HTTP-FLV response may take to flush before its socket is destroyed. */
const END_GRACE_MS = 2000;

/** Serves `/<app>/<name>.flv` over HTTP (chunked) and WebSocket. */
export class HttpFlvHandler {
  readonly #options: HttpFlvHandlerOptions;
  readonly #wss: WebSocketServer;
  /** Viewers playing now, closed on shutdown. */
  readonly #viewers = new Set<ViewerQueue>();

  constructor(options: HttpFlvHandlerOptions) {
    this.#options = options;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.http.wsMaxPayloadBytes });
  }

  /** The stream path of a `.flv` URL path, or null when the path is not ours. */
  static streamPathOf(pathname: string): string | null {
    if (!pathname.endsWith('.flv') || !pathname.startsWith('/')) return null;
    return pathname.slice(1, -'.flv'.length);
  }

  get viewerCount(): number {
    return this.#viewers.size;
  }

  /**
   * Answers HEAD for an HTTP-FLV URL like GET, without a body and without a viewer: 200 with the
   * headers GET would send when the stream is live, 404 otherwise, at once (no waiting for a
   * publisher), so a keep-alive connection stays in step for the next request.
   */
  handleHead(res: ServerResponse, path: string): void {
    const cors = this.#corsHeaders();
    const live = this.#options.hub.get(path)?.publisher != null;
    if (!live) {
      res.writeHead(404, { 'Content-Type': 'text/plain', ...cors }).end();
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'video/x-flv',
      'Cache-Control': 'no-cache, no-store',
      ...cors,
    });
    res.end();
  }

  /** Handles GET for an HTTP-FLV URL whose stream path is `path` (already decoded once). */
  handleRequest(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    sessionId: string,
    ip: string,
    slot?: SessionSlot,
  ): void {
    const cors = this.#corsHeaders();
    let stream;
    try {
      stream = this.#options.hub.open(path);
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      slot?.release();
      res.writeHead(400, { 'Content-Type': 'text/plain', ...cors }).end(`${error.message}\n`);
      return;
    }
    const socket = req.socket;
    const chunked = req.httpVersion !== '1.0';
    const output = stream.output(
      chunked ? 'flv-chunked' : 'flv',
      chunked ? encodeChunkedFlvFrame : encodeFlvFrame,
    );
    let started = false;
    let bytesOut = 0;
    const queue = new ViewerQueue(
      {
        write: (bytes) => {
          bytesOut += bytes.length;
          return socket.write(bytes);
        },
        close: (reason) => {
          finish(reason);
        },
      },
      this.#options.hubConfig.viewer,
    );
    const onDrain = (): void => {
      queue.drain();
    };
    const session = this.#addViewer(
      { protocol: 'http-flv', req, path, ip, sessionId, queue, slot },
      () => bytesOut,
    );
    const finish = (reason: CloseReason | 'client-left'): void => {
      if (!this.#viewers.delete(queue)) return;
      this.#options.sessions.remove(session, { reason });
      socket.off('drain', onDrain);
      output.removeViewer(queue);
      queue.close('kicked');
      if (!started && reason === 'not-found' && !res.headersSent) {
        res.writeHead(404, { 'Content-Type': 'text/plain', ...cors }).end('No such stream\n');
        return;
      }
      if (reason !== 'client-left' && !socket.destroyed) {
        if (chunked && started) socket.write(LAST_CHUNK);
        socket.end();
        // end() waits for queued bytes to be read: a viewer that never reads must not keep it open.
        setTimeout(() => socket.destroy(), END_GRACE_MS).unref();
      }
    };
    this.#viewers.add(queue);
    socket.on('drain', onDrain);
    res.on('close', () => {
      finish('client-left');
    });
    output.addViewer(queue, {
      waitMs: this.#options.hubConfig.waitForPublisherMs,
      start: (tracks) => {
        started = true;
        res.writeHead(200, {
          'Content-Type': 'video/x-flv',
          'Cache-Control': 'no-cache, no-store',
          ...(chunked ? {} : { Connection: 'close' }),
          ...cors,
        });
        // From here on the body is written straight to the socket in bytes shared by every
        // viewer (chunk framing included), so Node's per-write chunking is bypassed.
        res.flushHeaders();
        const header = flvHeaderFor(tracks);
        socket.write(chunked ? encodeHttpChunk(header) : header);
      },
    });
  }

  /**
   * Handles an upgrade to WebSocket on a `.flv` URL (WS-FLV). Returns false, touching nothing,
   * when `path` is not a valid stream path (the caller answers 400).
   */
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    path: string,
    sessionId: string,
    ip: string,
    slot?: SessionSlot,
  ): boolean {
    let stream: ReturnType<StreamHub['open']>;
    try {
      stream = this.#options.hub.open(path);
    } catch (error) {
      if (!(error instanceof HubError)) throw error;
      return false;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const output = stream.output('flv', encodeFlvFrame);
      let blocked = false;
      let bytesOut = 0;
      const queue: ViewerQueue = new ViewerQueue(
        {
          write: (bytes) => {
            bytesOut += bytes.length;
            ws.send(bytes, { binary: true }, () => {
              if (blocked && ws.bufferedAmount < WS_HIGH_WATER_BYTES / 2) {
                blocked = false;
                queue.drain();
              }
            });
            blocked = ws.bufferedAmount > WS_HIGH_WATER_BYTES;
            return !blocked;
          },
          close: (reason) => {
            finish(reason);
          },
        },
        this.#options.hubConfig.viewer,
      );
      const session = this.#addViewer(
        { protocol: 'ws-flv', req, path, ip, sessionId, queue, slot },
        () => bytesOut,
      );
      const finish = (reason: CloseReason | 'client-left'): void => {
        if (!this.#viewers.delete(queue)) return;
        this.#options.sessions.remove(session, { reason });
        output.removeViewer(queue);
        queue.close('kicked');
        if (reason !== 'client-left') ws.close(reason === 'not-found' ? 4404 : 1000, reason);
      };
      this.#viewers.add(queue);
      ws.on('close', () => {
        finish('client-left');
      });
      ws.on('error', () => {
        finish('client-left');
      });
      ws.on('message', () => undefined);
      output.addViewer(queue, {
        waitMs: this.#options.hubConfig.waitForPublisherMs,
        start: (tracks) => {
          ws.send(flvHeaderFor(tracks), { binary: true });
        },
      });
    });
    return true;
  }

  /** Ends every viewer (shutdown). */
  close(): void {
    for (const queue of [...this.#viewers]) queue.close('server-shutdown');
    this.#wss.close();
  }

  /** Registers a viewer's session, in the slot its play decision held (if any). */
  #addViewer(
    viewer: {
      protocol: 'http-flv' | 'ws-flv';
      req: IncomingMessage;
      path: string;
      ip: string;
      sessionId: string;
      queue: ViewerQueue;
      slot: SessionSlot | undefined;
    },
    bytes: () => number,
  ): Session {
    const { queue } = viewer;
    return this.#options.sessions.add(
      {
        id: viewer.sessionId,
        role: 'viewer',
        protocol: viewer.protocol,
        path: viewer.path,
        ip: viewer.ip,
        close: () => {
          queue.close('kicked');
        },
        bytes,
        droppedFrames: () => queue.droppedFrames,
        queueDepth: () => queue.depth,
        ...userAgentOf(viewer.req),
      },
      viewer.slot,
    );
  }

  #corsHeaders(): Record<string, string> {
    return this.#options.http.cors ? { 'Access-Control-Allow-Origin': '*' } : {};
  }
}

function userAgentOf(req: IncomingMessage): { userAgent?: string } {
  const agent = req.headers['user-agent'];
  return agent === undefined ? {} : { userAgent: agent.slice(0, 200) };
}

function flvHeaderFor(tracks: readonly Track[]): Buffer {
  return encodeFlvHeader({
    audio: tracks.some((t) => t.kind === 'audio'),
    video: tracks.some((t) => t.kind === 'video'),
  });
}
