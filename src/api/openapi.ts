// The OpenAPI 3.1 document of the admin API (/api/v1/openapi.json), generated from the same zod
// schemas the routes answer with. Its tests call every route and check every answer against it.
import { z } from 'zod';
import {
  errorSchema,
  healthSchema,
  historySchema,
  pushSchema,
  serverInfoSchema,
  sessionsPageSchema,
  streamInfoSchema,
  streamsPageSchema,
  summarySchema,
} from './api-schemas.ts';

interface ResponseDoc {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly contentType?: string;
}

/** One route of the API, as documented. */
export interface RouteDoc {
  readonly method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI path, e.g. `/api/v1/streams/{app}/{name}`. */
  readonly path: string;
  readonly summary: string;
  /** Answers without the bearer token. */
  readonly public?: boolean;
  readonly query?: readonly { name: string; description: string }[];
  readonly body?: z.ZodType;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
}

const tokenAnswer = z.object({
  token: z.string(),
  stream: z.string(),
  purpose: z.enum(['play', 'publish']),
  expiresAt: z.string(),
  query: z.string(),
});
const keyInfo = z.object({
  id: z.string(),
  path: z.string(),
  createdAt: z.string(),
  label: z.string().optional(),
});
const createdKey = keyInfo.extend({ key: z.string() });
const qoeBody = z.object({
  stream: z.string(),
  session: z.string(),
  startupMs: z.number().optional(),
  rebufferCount: z.number().int(),
  rebufferMs: z.number(),
  playedMs: z.number(),
  latencyS: z.number().optional(),
  bitrateKbps: z.number().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  errors: z.array(z.string()).optional(),
});

const err = (description: string): ResponseDoc => ({ description, schema: errorSchema });
const denied = {
  401: err('No or wrong bearer token'),
  403: err('The address is not in api.allowFrom'),
} as const;
const page = [
  { name: 'page', description: 'Page number, from 0' },
  { name: 'itemsPerPage', description: 'Items per page, 1 to 1000 (default 100)' },
];
const range = [
  { name: 'from', description: 'Start, ISO 8601' },
  { name: 'to', description: 'End, ISO 8601 (default: now)' },
];
const streamUrl = '/api/v1/streams/{app}/{name}';

const abrLadderSchema = z.object({
  path: z.string(),
  state: z.enum(['waiting', 'running', 'backoff', 'stopped', 'no-renditions']),
  restarts: z.int(),
  pid: z.int().nullable(),
  speed: z.number().nullable(),
  cpuPercent: z.number().nullable(),
  cpuSeconds: z.number(),
  renditions: z.array(z.string()),
  lastExit: z.string().nullable(),
});

const recordingSchema = z.object({
  id: z.string(),
  stream: z.string(),
  file: z.string(),
  start: z.string(),
  end: z.string(),
  durationS: z.number(),
  bytes: z.number().int(),
  codecs: z.array(z.string()),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  recording: z.boolean(),
  urls: z.object({ file: z.string(), hls: z.string(), watch: z.string() }),
});
const recordingStateSchema = z.object({
  enabled: z.boolean(),
  recording: z.boolean(),
  current: recordingSchema.optional(),
  error: z.enum(['disk-full', 'queue-overflow', 'write-failed']).optional(),
});
const mp4 = (description: string): ResponseDoc => ({ description, contentType: 'video/mp4' });

/** Every route of the admin API. */
export const API_ROUTES: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    summary: 'Liveness: the process answers',
    public: true,
    responses: { 200: { description: 'Alive', schema: healthSchema } },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Readiness: listening and not stopping',
    public: true,
    responses: {
      200: { description: 'Ready', schema: healthSchema },
      503: { description: 'Starting or stopping', schema: healthSchema },
    },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (api.allowFrom addresses, or the bearer token)',
    responses: {
      200: { description: 'Prometheus text exposition', contentType: 'text/plain' },
      401: denied[401],
    },
  },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    public: true,
    responses: { 200: { description: 'OpenAPI 3.1 document', contentType: 'application/json' } },
  },
  {
    method: 'get',
    path: '/api/v1/server',
    summary: 'Version, uptime, CPU, memory, event-loop lag, listeners',
    responses: { 200: { description: 'Server figures', schema: serverInfoSchema }, ...denied },
  },
  {
    method: 'get',
    path: '/api/v1/streams',
    summary: 'Streams (live, in their grace period, or waited for), paginated',
    query: page,
    responses: {
      200: { description: 'A page of streams', schema: streamsPageSchema },
      400: err('Bad paging'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: streamUrl,
    summary: 'One stream',
    responses: {
      200: { description: 'The stream', schema: streamInfoSchema },
      400: err('Not a stream path'),
      404: err('No such stream'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/thumbnail.jpg`,
    summary: 'A still of the last keyframe (made on request, cached a few seconds)',
    responses: {
      200: { description: 'JPEG', contentType: 'image/jpeg' },
      404: err('No picture now'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/history`,
    summary: 'Viewers, ingest bitrate and QoE over time (10 s points, wider for long ranges)',
    query: range,
    responses: {
      200: { description: 'The time series', schema: historySchema },
      400: err('Bad range'),
      404: err('Analytics are off'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: '/api/v1/analytics/summary',
    summary: 'Per stream: peak and unique viewers, watch time, by protocol, QoE',
    query: range,
    responses: {
      200: { description: 'The summary', schema: summarySchema },
      400: err('Bad range'),
      404: err('Analytics are off'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: '/api/v1/events',
    summary: 'Live feed: Server-Sent Events, one `snapshot` a second',
    responses: {
      200: { description: 'text/event-stream', contentType: 'text/event-stream' },
      503: err('Too many live-feed clients'),
      ...denied,
    },
  },
  {
    method: 'post',
    path: '/api/v1/qoe',
    summary: "A player's quality-of-experience beacon (public; rate-limited, size-capped)",
    public: true,
    body: qoeBody,
    responses: {
      204: { description: 'Taken' },
      400: err('Malformed beacon'),
      413: err('Too large'),
      429: err('Too many beacons from this address'),
    },
  },
  {
    method: 'get',
    path: '/api/v1/sessions',
    summary: 'Publishers and viewers, paginated',
    query: [...page, { name: 'stream', description: 'Only the sessions of this stream path' }],
    responses: {
      200: { description: 'A page of sessions', schema: sessionsPageSchema },
      400: err('Bad paging'),
      ...denied,
    },
  },
  {
    method: 'delete',
    path: '/api/v1/sessions/{id}',
    summary: 'Kick a session',
    responses: { 204: { description: 'Kicked' }, 404: err('No such session'), ...denied },
  },
  {
    method: 'post',
    path: '/api/v1/tokens',
    summary: 'Sign a playback or publish token',
    body: z.object({
      stream: z.string(),
      expiresIn: z.union([z.number(), z.string()]),
      ip: z.string().optional(),
      purpose: z.enum(['play', 'publish']).optional(),
    }),
    responses: {
      201: { description: 'The token', schema: tokenAnswer },
      400: err('A field is wrong (named in the message)'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/keys`,
    summary: "The stream's publish keys (without their values)",
    responses: {
      200: { description: 'Keys', schema: z.object({ items: z.array(keyInfo) }) },
      400: err('Not a stream path'),
      ...denied,
    },
  },
  {
    method: 'post',
    path: `${streamUrl}/keys`,
    summary: 'Create a publish key (its value is shown once)',
    body: z.object({ label: z.string().optional() }),
    responses: {
      201: { description: 'The key', schema: createdKey },
      400: err('Bad label or stream path'),
      409: err('Too many keys'),
      ...denied,
    },
  },
  {
    method: 'delete',
    path: '/api/v1/keys/{id}',
    summary: "Revoke a publish key; the stream's live publisher is disconnected",
    responses: { 204: { description: 'Revoked' }, 404: err('No such key'), ...denied },
  },
  {
    method: 'put',
    path: `${streamUrl}/private`,
    summary: 'Make a stream private (playback needs a token) or public',
    body: z.object({ private: z.boolean() }),
    responses: {
      200: {
        description: 'The effective flag',
        schema: z.object({ stream: z.string(), private: z.boolean() }),
      },
      400: err('Bad body or stream path'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/access`,
    summary: 'Whether a stream is private, and how many publish keys it has',
    responses: {
      200: {
        description: 'Access settings',
        schema: z.object({ stream: z.string(), private: z.boolean(), keys: z.number().int() }),
      },
      400: err('Not a stream path'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/pushes`,
    summary: 'The restream destinations of a live stream, their states (docs/restream.md)',
    responses: {
      200: {
        description: 'The pushes',
        schema: z.object({ stream: z.string(), items: z.array(pushSchema) }),
      },
      400: err('Not a stream path'),
      404: err('The stream is not published here'),
      ...denied,
    },
  },
  {
    method: 'post',
    path: `${streamUrl}/pushes`,
    summary: 'Restream a live stream to one more rtmp:// or rtmps:// URL, until it ends',
    body: z.object({ url: z.string() }),
    responses: {
      201: { description: 'The new push', schema: pushSchema },
      400: err('Bad body, URL or stream path'),
      404: err('The stream is not published here'),
      409: err('Already pushed there, or 16 pushes already'),
      ...denied,
    },
  },
  {
    method: 'delete',
    path: `${streamUrl}/pushes/{id}`,
    summary: 'Stop one push',
    responses: {
      204: { description: 'Stopped' },
      400: err('Not a stream path'),
      404: err('No such push'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: '/api/v1/recordings',
    summary: 'Recordings, oldest first (docs/recording.md)',
    query: [
      { name: 'stream', description: 'Only this stream path' },
      { name: 'from', description: 'Recordings ending after this ISO 8601 time' },
      { name: 'to', description: 'Recordings starting before this ISO 8601 time' },
      { name: 'page', description: 'Page number, from 0' },
      { name: 'itemsPerPage', description: '1-1000 (100)' },
    ],
    responses: {
      200: {
        description: 'A page of recordings',
        schema: z.object({
          items: z.array(recordingSchema),
          page: z.number().int(),
          itemsPerPage: z.number().int(),
          total: z.number().int(),
        }),
      },
      400: err('Bad query'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: '/api/v1/recordings/{id}',
    summary: 'One recording',
    responses: {
      200: { description: 'The recording', schema: recordingSchema },
      404: err('No such recording'),
      ...denied,
    },
  },
  {
    method: 'delete',
    path: '/api/v1/recordings/{id}',
    summary: 'Delete a recording and its file',
    responses: {
      204: { description: 'Deleted' },
      404: err('No such recording'),
      409: err('The file is being written'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: '/api/v1/recordings/{id}/file',
    summary: 'The recording file (one Range: 206; several or past the end: 416)',
    responses: { 200: mp4('The file'), 404: err('No such recording'), ...denied },
  },
  {
    method: 'get',
    path: `${streamUrl}/abr`,
    summary:
      'The ABR ladder of a live stream: its ffmpeg (state, pid, speed, restarts) and the rendition streams',
    responses: {
      200: { description: 'The ladder', schema: abrLadderSchema },
      400: err('Not a stream path'),
      404: err('The stream has no ladder now'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/recording`,
    summary: 'Whether a stream is recorded, and the file being written',
    responses: {
      200: { description: 'The recording state', schema: recordingStateSchema },
      400: err('Not a stream path'),
      ...denied,
    },
  },
  {
    method: 'put',
    path: `${streamUrl}/recording`,
    summary: 'Start or stop recording a stream (until restart)',
    body: z.object({ enabled: z.boolean() }),
    responses: {
      200: { description: 'The recording state', schema: recordingStateSchema },
      400: err('Bad body or stream path'),
      ...denied,
    },
  },
  {
    method: 'get',
    path: `${streamUrl}/clip.mp4`,
    summary: 'A standalone MP4 of a span of the recordings, from a keyframe, without re-encoding',
    query: [
      { name: 'from', description: 'ISO 8601 start' },
      { name: 'to', description: 'ISO 8601 end' },
    ],
    responses: {
      200: mp4('The clip'),
      400: err('Bad or missing times, or over 6 hours'),
      404: err('No recording covers the span'),
      ...denied,
    },
  },
];

let cached: Record<string, unknown> | null = null;

/** The OpenAPI 3.1 document (built once). */
export function openApiDocument(): Record<string, unknown> {
  if (cached !== null) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of API_ROUTES) {
    const parameters = [
      ...[...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
        name: m[1],
        in: 'path',
        required: true,
        schema: { type: 'string' },
      })),
      ...(route.query ?? []).map((q) => ({
        name: q.name,
        in: 'query',
        required: false,
        description: q.description,
        schema: { type: 'string' },
      })),
    ];
    const responses = Object.fromEntries(
      Object.entries(route.responses).map(([status, doc]) => [
        status,
        {
          description: doc.description,
          ...(doc.schema === undefined && doc.contentType === undefined
            ? {}
            : {
                content: {
                  [doc.contentType ?? 'application/json']: {
                    schema: doc.schema === undefined ? {} : z.toJSONSchema(doc.schema),
                  },
                },
              }),
        },
      ]),
    );
    paths[route.path] ??= {};
    const operations = paths[route.path] ?? {};
    operations[route.method] = {
      summary: route.summary,
      ...(route.public === true ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body === undefined
        ? {}
        : {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: z.toJSONSchema(route.body) } },
            },
          }),
      responses,
    };
  }
  cached = {
    openapi: '3.1.0',
    info: {
      title: 'onair admin API',
      version: '1',
      description:
        'Bearer token: api.token (or the one onair generated in <dataDir>/api-token). Answers only api.allowFrom addresses.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
  return cached;
}
