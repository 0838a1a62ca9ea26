// The admin API (/api/v1, issue "Viewer access management"): sessions, kicks, signed tokens,
// publish keys and private flags. A fastify app that the HTTP listener mounts with routing().
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  fastify,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { z } from 'zod';
import { ApiError, badRequest, parse, queryInt, secureHeaders, sendError } from './api-common.ts';
import {
  PUBLIC_ROUTES,
  registerMonitoringRoutes,
  type MonitoringDeps,
} from './monitoring-routes.ts';
import {
  AccessStoreLimitError,
  MAX_LABEL_LENGTH,
  checkLabel,
  type AccessStore,
} from '../access/access-store.ts';
import type { SessionRegistry } from '../hub/session-registry.ts';
import type { Recordings } from '../recording/recordings.ts';
import type { LadderInfo } from '../transcode/abr-ladder.ts';
import { registerRecordingRoutes } from './recording-routes.ts';
import { registerPushRoutes } from './push-routes.ts';
import type { StreamPushes } from '../relay/stream-pushes.ts';
import type { Logger } from '../log/logger.ts';

/** Largest request body accepted (JSON). */
export const API_BODY_LIMIT = 16 * 1024;
/** Longest token lifetime the API signs. */
export const MAX_TOKEN_LIFETIME_S = 365 * 24 * 3600;
/** Most sessions in one page of GET /api/v1/sessions. */
export const MAX_ITEMS_PER_PAGE = 1000;

/** What the API needs from the rest of onair; the composition root builds it. */
export interface ApiDeps {
  /** The bearer token (api.token or <dataDir>/api-token). */
  readonly token: string;
  /** Whether a remote address may use the API at all (api.allowFrom). */
  readonly isAllowedAddress: (ip: string) => boolean;
  /** The client's address (behind trusted proxies, the one they name); default: the peer's. */
  readonly clientAddress?: (req: IncomingMessage) => string;
  readonly sessions: SessionRegistry;
  readonly store: AccessStore;
  /** Whether playing `path` needs a token: the config and the store combined. */
  readonly isPrivate: (path: string) => boolean;
  /** Null when `path` is a valid stream path, else the reason (src/hub/stream-path.ts). */
  readonly checkStreamPath: (path: string) => string | null;
  /** Seconds of a duration such as `2h`, or null when it is not one. */
  readonly parseDuration: (text: string) => number | null;
  /** Signs a playback or publish token. */
  readonly signToken: (o: {
    purpose: 'play' | 'publish';
    path: string;
    expiresAtS: number;
    cidr?: string;
  }) => string;
  /** Whether `text` is an address or a CIDR range. */
  readonly isValidCidr: (text: string) => boolean;
  readonly logger: Logger;
  /** Streams, server figures, analytics, QoE, metrics; absent: those routes 404. */
  readonly monitoring?: MonitoringDeps;
  /** The recordings (catalogue, per-stream switch, clips); absent: those routes 404. */
  readonly recordings?: Recordings;
  /** The restream destinations of live streams; absent: those routes 404. */
  readonly pushes?: Pick<StreamPushes, 'list' | 'add' | 'remove'>;
  /** The ABR ladder of a stream now, or null (GET /api/v1/streams/APP/NAME/abr). */
  readonly abrLadder?: (path: string) => LadderInfo | null;
}

/** The SHA-256 digest of a string, so secrets of any length compare in constant time. */
function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

const sessionsQuerySchema = z.object({
  page: queryInt(0, 1_000_000, 0),
  itemsPerPage: queryInt(1, MAX_ITEMS_PER_PAGE, 100),
  /** Only the sessions of this stream path. */
  stream: z.string().max(255).optional(),
});

const tokenBodySchema = z.strictObject({
  stream: z
    .string({ error: 'must be a stream path such as live/cam1' })
    .max(255, { error: 'too long' }),
  expiresIn: z.union([z.number(), z.string().max(32)], {
    error: `must be a duration such as "2h" or a number of seconds (at most ${MAX_TOKEN_LIFETIME_S})`,
  }),
  ip: z
    .string({ error: 'must be an address or a CIDR range' })
    .max(64, { error: 'too long' })
    .optional(),
  purpose: z.enum(['play', 'publish'], { error: 'must be "play" or "publish"' }).optional(),
});

const keyBodySchema = z.strictObject({
  label: z
    .string({ error: 'must be a string' })
    .max(MAX_LABEL_LENGTH, { error: `at most ${MAX_LABEL_LENGTH} characters` })
    .optional(),
});

const privateBodySchema = z.strictObject({
  private: z.boolean({ error: 'must be true or false' }),
});

interface StreamParams {
  app: string;
  name: string;
}

/**
 * Creates the admin API app, ready to be mounted: the HTTP listener calls `app.routing(req, res)`
 * for every URL under /api/. Every route checks the address (api.allowFrom), then the bearer
 * token; no response ever carries a CORS header.
 */
export async function createApiApp(deps: ApiDeps): Promise<FastifyInstance> {
  if (deps.token === '') throw new Error('the admin API needs a non-empty token');
  const logger = deps.logger.child({ component: 'api' });
  const tokenDigest = sha256(deps.token);
  const addressOf = (request: FastifyRequest): string =>
    deps.clientAddress?.(request.raw) ?? request.raw.socket.remoteAddress ?? '';

  /** Whether the request carries the API token. */
  function hasToken(request: FastifyRequest): boolean {
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
    const given = match?.[1];
    return given !== undefined && timingSafeEqual(sha256(given), tokenDigest);
  }

  /** Answers 403 / 401 and returns false unless the request may use the API. */
  function admit(request: FastifyRequest, reply: FastifyReply): boolean {
    const ip = addressOf(request);
    if (!deps.isAllowedAddress(ip)) {
      logger.debug(
        { ip, method: request.method },
        'API request from an address not in api.allowFrom',
      );
      sendError(
        reply,
        new ApiError(403, 'forbidden', 'the API answers only configured addresses (api.allowFrom)'),
      );
      return false;
    }
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer +([^\s]+) *$/i.exec(header);
    const given = match?.[1];
    if (given === undefined || !timingSafeEqual(sha256(given), tokenDigest)) {
      logger.warn(
        { ip, method: request.method, reason: header === undefined ? 'no token' : 'wrong token' },
        'API request refused',
      );
      reply.header('www-authenticate', 'Bearer realm="onair"');
      sendError(
        reply,
        new ApiError(
          401,
          'unauthorized',
          header === undefined
            ? 'send the API token: Authorization: Bearer <token>'
            : 'the bearer token is not the API token',
        ),
      );
      return false;
    }
    return true;
  }

  const app = fastify({
    logger: false,
    bodyLimit: API_BODY_LIMIT,
    // Stream path segments go up to 128 characters.
    routerOptions: { maxParamLength: 256 },
    // A malformed URL never reaches hooks: check access here too, then answer 400.
    frameworkErrors: (error, request, reply) => {
      if (!admit(request, reply)) return;
      sendError(reply, new ApiError(400, 'bad-request', `malformed URL (${error.code})`));
    },
  });

  // JSON only: a text/plain body (fastify parses it by default) is a 415 like any other type.
  app.removeContentTypeParser('text/plain');

  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?', 1)[0] ?? '';
    if (PUBLIC_ROUTES.has(path)) return undefined;
    // Prometheus scrapers on api.allowFrom need no token; others need it (and any address).
    if (path === '/metrics') {
      if (deps.isAllowedAddress(addressOf(request)) || hasToken(request)) return undefined;
      reply.header('www-authenticate', 'Bearer realm="onair"');
      sendError(reply, new ApiError(401, 'unauthorized', 'send the API token'));
      return reply;
    }
    if (!admit(request, reply)) return reply;
    return undefined;
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    secureHeaders(reply);
    return payload;
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      sendError(reply, error);
      return;
    }
    if (error instanceof AccessStoreLimitError) {
      sendError(reply, new ApiError(409, 'limit-reached', error.message));
      return;
    }
    const status = error.statusCode ?? 500;
    if (status === 413) {
      sendError(
        reply,
        new ApiError(413, 'payload-too-large', `the body is over ${API_BODY_LIMIT} bytes`),
      );
    } else if (status === 415) {
      sendError(
        reply,
        new ApiError(415, 'unsupported-media-type', 'send the body as application/json'),
      );
    } else if (status >= 400 && status < 500) {
      sendError(reply, new ApiError(status, 'bad-request', error.message));
    } else {
      logger.error(
        { err: error, method: request.method, route: request.routeOptions.url },
        'API route failed',
      );
      sendError(reply, new ApiError(500, 'internal', 'the request failed; see the server log'));
    }
  });

  app.setNotFoundHandler((_request, reply) => {
    sendError(reply, new ApiError(404, 'not-found', 'no such API route'));
  });

  /** The stream path of `:app/:name`, checked. */
  function streamPathOf(params: StreamParams): string {
    const path = `${params.app}/${params.name}`;
    const reason = deps.checkStreamPath(path);
    if (reason !== null) throw badRequest('stream', `not a valid stream path: ${reason}`);
    return path;
  }

  app.get('/api/v1/sessions', (request, reply) => {
    const { page, itemsPerPage, stream } = parse(sessionsQuerySchema, request.query, 'query');
    const all =
      stream === undefined
        ? deps.sessions.list()
        : deps.sessions.list().filter((session) => session.path === stream);
    const items = all.slice(page * itemsPerPage, (page + 1) * itemsPerPage).map((session) => ({
      id: session.id,
      role: session.role,
      protocol: session.protocol,
      stream: session.path,
      ip: session.ip,
      since: new Date(session.since).toISOString(),
      bytes: session.bytes === undefined ? null : session.bytes(),
      droppedFrames: session.droppedFrames === undefined ? null : session.droppedFrames(),
      queueDepth: session.queueDepth === undefined ? null : session.queueDepth(),
      transport: session.transport === undefined ? null : session.transport(),
      userAgent: session.userAgent ?? null,
    }));
    return reply.send({ items, page, itemsPerPage, total: all.length });
  });

  app.delete<{ Params: { id: string } }>('/api/v1/sessions/:id', async (request, reply) => {
    const session = deps.sessions.get(request.params.id);
    if (session === undefined || !deps.sessions.kick(session.id, 'kicked by the API')) {
      throw new ApiError(404, 'not-found', 'no session with this id');
    }
    logger.info(
      { session: session.id, role: session.role, stream: session.path, ip: session.ip },
      'session kicked by the API',
    );
    return reply.code(204).send();
  });

  app.post('/api/v1/tokens', async (request, reply) => {
    const body = parse(tokenBodySchema, request.body, 'body');
    const reason = deps.checkStreamPath(body.stream);
    if (reason !== null) throw badRequest('stream', `not a valid stream path: ${reason}`);
    const lifetimeS = lifetimeOf(body.expiresIn, deps.parseDuration);
    if (body.ip !== undefined && !deps.isValidCidr(body.ip)) {
      throw badRequest('ip', 'must be an address or a CIDR range such as 203.0.113.0/24');
    }
    const purpose = body.purpose ?? 'play';
    const expiresAtS = Math.floor(Date.now() / 1000) + lifetimeS;
    const token = deps.signToken({
      purpose,
      path: body.stream,
      expiresAtS,
      ...(body.ip === undefined ? {} : { cidr: body.ip }),
    });
    logger.info(
      { stream: body.stream, purpose, expiresAtS, cidr: body.ip ?? null },
      'token signed by the API',
    );
    return reply.code(201).send({
      token,
      stream: body.stream,
      purpose,
      expiresAt: new Date(expiresAtS * 1000).toISOString(),
      query: `token=${encodeURIComponent(token)}`,
    });
  });

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name/abr', (request, reply) => {
    const path = streamPathOf(request.params);
    const ladder = deps.abrLadder?.(path) ?? null;
    if (ladder === null) throw new ApiError(404, 'not-found', 'this stream has no ABR ladder now');
    return reply.send(ladder);
  });

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name/keys', (request, reply) => {
    const path = streamPathOf(request.params);
    return reply.send({ items: deps.store.listKeys(path) });
  });

  app.post<{ Params: StreamParams }>('/api/v1/streams/:app/:name/keys', async (request, reply) => {
    const path = streamPathOf(request.params);
    const body = parse(keyBodySchema, request.body ?? {}, 'body');
    if (body.label !== undefined) {
      const problem = checkLabel(body.label);
      if (problem !== null) throw badRequest('label', problem);
    }
    const created = deps.store.createKey(path, body.label);
    logger.info(
      { keyId: created.id, stream: path, label: created.label ?? null },
      'publish key created',
    );
    return reply.code(201).send(created);
  });

  app.delete<{ Params: { id: string } }>('/api/v1/keys/:id', async (request, reply) => {
    const revoked = deps.store.revokeKey(request.params.id);
    if (revoked === undefined) throw new ApiError(404, 'not-found', 'no publish key with this id');
    const closed = deps.sessions.closePublishers(revoked.path, 'publish key revoked');
    logger.info({ keyId: revoked.id, stream: revoked.path, closed }, 'publish key revoked');
    return reply.code(204).send();
  });

  app.put<{ Params: StreamParams }>('/api/v1/streams/:app/:name/private', (request, reply) => {
    const path = streamPathOf(request.params);
    const body = parse(privateBodySchema, request.body, 'body');
    deps.store.setPrivate(path, body.private);
    const effective = deps.isPrivate(path);
    logger.info({ stream: path, private: body.private, effective }, 'private flag set by the API');
    return reply.send({ stream: path, private: effective });
  });

  app.get<{ Params: StreamParams }>('/api/v1/streams/:app/:name/access', (request, reply) => {
    const path = streamPathOf(request.params);
    const keys = deps.store.listKeys(path).length;
    return reply.send({ stream: path, private: deps.isPrivate(path), keys });
  });

  if (deps.monitoring) {
    const monitoring = registerMonitoringRoutes(app, deps.monitoring, {
      logger,
      checkStreamPath: deps.checkStreamPath,
      addressOf,
    });
    app.addHook('onClose', () => {
      monitoring.close();
    });
  }
  if (deps.recordings) {
    registerRecordingRoutes(app, deps.recordings, { checkStreamPath: deps.checkStreamPath });
  }
  if (deps.pushes) {
    registerPushRoutes(app, deps.pushes, { checkStreamPath: deps.checkStreamPath });
  }

  await app.ready();
  return app;
}

/** Seconds of `expiresIn` (a number of seconds or a duration text), checked against the bounds. */
function lifetimeOf(
  expiresIn: number | string,
  parseDuration: (text: string) => number | null,
): number {
  const seconds = typeof expiresIn === 'number' ? expiresIn : parseDuration(expiresIn);
  const problem = `must be a duration such as "2h" or a whole number of seconds, from 1 to ${MAX_TOKEN_LIFETIME_S} (a year)`;
  if (seconds === null || !Number.isFinite(seconds)) throw badRequest('expiresIn', problem);
  const whole = Math.ceil(seconds);
  if (whole < 1 || whole > MAX_TOKEN_LIFETIME_S) throw badRequest('expiresIn', problem);
  if (typeof expiresIn === 'number' && !Number.isInteger(expiresIn))
    throw badRequest('expiresIn', problem);
  return whole;
}
