// The monitoring side of the admin API: streams, server figures, the live event feed (SSE),
// history and summaries from the analytics store, player QoE beacons, thumbnails, health
// probes, Prometheus metrics and the OpenAPI document.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import { ApiError, badRequest, parse, queryInt } from './api-common.ts';
import type { ServerInfo, Snapshot, StreamInfo } from './api-schemas.ts';
import type { historySchema, summarySchema } from './api-schemas.ts';
import { openApiDocument } from './openapi.ts';

/** What the monitoring routes read; the composition root builds it from the running server. */
export interface MonitoringDeps {
  /** Every stream the server knows (live, in its grace period, or waited for). */
  streams(): StreamInfo[];
  stream(path: string): StreamInfo | null;
  server(): ServerInfo;
  /** `ok` once listening, `stopping` during shutdown. */
  health(): 'ok' | 'starting' | 'stopping';
  /** QoE of the last minute per live stream, for the live feed. */
  liveQoe(): Snapshot['qoe'];
  /** The analytics store, or null when analytics are off. */
  readonly analytics: {
    history(stream: string, fromMs: number, toMs: number): z.infer<typeof historySchema>;
    summary(fromMs: number, toMs: number): z.infer<typeof summarySchema>['streams'];
  } | null;
  /** Takes a player's QoE beacon (public route: rate-limited and validated there). */
  acceptQoe(
    ip: string,
    body: unknown,
  ): { ok: true } | { ok: false; status: 400 | 429; message: string };
  /** A JPEG of the stream's last keyframe, or null (no video, no publisher, ffmpeg failed). */
  thumbnail(path: string): Promise<Buffer | null>;
  /** The Prometheus exposition. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Most live-feed (SSE) clients at once. */
  readonly maxEventClients: number;
}

/** Routes that answer without the bearer token (probes, player beacons, the API description). */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set([
  '/healthz',
  '/readyz',
  '/api/v1/qoe',
  '/api/v1/openapi.json',
]);

const MAX_RANGE_MS = 366 * 24 * 3600 * 1000;
const EVENT_INTERVAL_MS = 1000;
/** A live-feed client this far behind is dropped rather than buffered. */
const MAX_EVENT_BACKLOG_BYTES = 1024 * 1024;

const pageQuerySchema = z.object({
  page: queryInt(0, 1_000_000, 0),
  itemsPerPage: queryInt(1, 1000, 100),
});

const rangeQuerySchema = z.object({
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
});

interface StreamParams {
  app: string;
  name: string;
}

/** Adds the monitoring routes to the admin API app. */
export function registerMonitoringRoutes(
  app: FastifyInstance,
  deps: MonitoringDeps,
  options: {
    logger: Logger;
    checkStreamPath: (path: string) => string | null;
    /** The client's address of a request (behind trusted proxies, the one they name). */
    addressOf: (request: FastifyRequest) => string;
  },
): { close(): void } {
  const { logger } = options;
  const streamPathOf = (params: StreamParams): string => {
    const path = `${params.app}/${params.name}`;
    const reason = options.checkStreamPath(path);
    if (reason !== null) throw badRequest('stream', `not a valid stream path: ${reason}`);
    return path;
  };

  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', (_request, reply) => {
    const status = deps.health();
    return reply.code(status === 'ok' ? 200 : 503).send({ status });
  });
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await deps.metrics();
    return reply.type(contentType).send(body);
  });
  app.get('/api/v1/openapi.json', (_request, reply) => reply.send(openApiDocument()));

  app.get('/api/v1/server', (_request, reply) => reply.send(deps.server()));

  app.get('/api/v1/streams', (request, reply) => {
    const { page, itemsPerPage } = parse(pageQuerySchema, request.query, 'query');
    const all = deps.streams();
    const items = all.slice(page * itemsPerPage, (page + 1) * itemsPerPage);
    return reply.send({ items, page, itemsPerPage, total: all.length });
  });

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name', (request, reply) => {
    const info = deps.stream(streamPathOf(request.params));
    if (info === null) throw new ApiError(404, 'not-found', 'no such stream');
    return reply.send(info);
  });

  app.get<{ Params: StreamParams }>(
    '/api/v1/streams/:app/:name/thumbnail.jpg',
    async (request, reply) => {
      const jpeg = await deps.thumbnail(streamPathOf(request.params));
      if (jpeg === null) throw new ApiError(404, 'not-found', 'no picture of this stream now');
      return reply.type('image/jpeg').send(jpeg);
    },
  );

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name/history', (request, reply) => {
    const path = streamPathOf(request.params);
    const analytics = requireAnalytics(deps);
    const { fromMs, toMs } = rangeOf(request.query, 3600 * 1000);
    return reply.send(analytics.history(path, fromMs, toMs));
  });

  app.get('/api/v1/analytics/summary', (request, reply) => {
    const analytics = requireAnalytics(deps);
    const { fromMs, toMs } = rangeOf(request.query, 24 * 3600 * 1000);
    return reply.send({
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      streams: analytics.summary(fromMs, toMs),
    });
  });

  // Beacons are small: 4 KiB is plenty, and a public route takes no more.
  app.post('/api/v1/qoe', { bodyLimit: 4096 }, (request, reply) => {
    const result = deps.acceptQoe(options.addressOf(request), request.body);
    if (!result.ok) {
      throw new ApiError(
        result.status,
        result.status === 429 ? 'rate-limited' : 'bad-request',
        result.message,
      );
    }
    return reply.code(204).send();
  });

  // The live feed: one snapshot a second, encoded once and written to every client.
  const clients = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | null = null;
  const snapshotText = (): string => {
    const snapshot: Snapshot = {
      time: new Date().toISOString(),
      streams: deps.streams().filter((s) => s.live),
      server: deps.server(),
      qoe: deps.liveQoe(),
    };
    return `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
  };
  const tick = (): void => {
    if (clients.size === 0) return;
    const text = snapshotText();
    for (const res of clients) {
      if (res.writableLength > MAX_EVENT_BACKLOG_BYTES) {
        clients.delete(res);
        res.destroy();
        continue;
      }
      res.write(text);
    }
  };
  app.get('/api/v1/events', (request, reply) => {
    if (clients.size >= deps.maxEventClients) {
      throw new ApiError(503, 'too-many-clients', 'too many live-feed clients');
    }
    void reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    res.write(`retry: 2000\n${snapshotText()}`);
    clients.add(res);
    timer ??= setInterval(tick, EVENT_INTERVAL_MS).unref();
    request.raw.socket.on('close', () => {
      clients.delete(res);
      if (clients.size === 0 && timer !== null) {
        clearInterval(timer);
        timer = null;
      }
    });
    logger.debug({ clients: clients.size }, 'live feed client connected');
  });

  return {
    close() {
      if (timer !== null) clearInterval(timer);
      timer = null;
      for (const res of clients) res.end();
      clients.clear();
    },
  };
}

function requireAnalytics(deps: MonitoringDeps): NonNullable<MonitoringDeps['analytics']> {
  if (deps.analytics === null) {
    throw new ApiError(404, 'analytics-off', 'analytics are off (analytics.enabled)');
  }
  return deps.analytics;
}

/** `?from&to` (ISO times); `to` defaults to now and `from` to `defaultSpanMs` before it. */
function rangeOf(query: unknown, defaultSpanMs: number): { fromMs: number; toMs: number } {
  const { from, to } = parse(rangeQuerySchema, query, 'query');
  const toMs = to === undefined ? Date.now() : Date.parse(to);
  if (!Number.isFinite(toMs)) throw badRequest('to', 'must be an ISO 8601 time');
  const fromMs = from === undefined ? toMs - defaultSpanMs : Date.parse(from);
  if (!Number.isFinite(fromMs)) throw badRequest('from', 'must be an ISO 8601 time');
  if (fromMs >= toMs) throw badRequest('from', 'must be before to');
  if (toMs - fromMs > MAX_RANGE_MS) throw badRequest('from', 'the range is at most a year');
  return { fromMs, toMs };
}
