// The one configuration schema (zod 4): every key with its type, bounds, default and description.
// Sections match folders; docs/configuration.md and onair.example.yaml are checked against it.
// The leaves are in schema-leaves.ts; a large section has its own file (recording-schema.ts), as
// webrtc and srt do.
import { z } from 'zod';
import { LOG_FORMATS, LOG_LEVELS } from '../log/logger.ts';
import { recordingSchema } from './recording-schema.ts';
import { pushUrlList } from './push-schema.ts';
import { srtPassphrase, srtSchema } from './srt-schema.ts';
import { abrSchema, renditionList } from './abr-schema.ts';
import { webrtcSchema } from './webrtc-schema.ts';
import {
  KiB,
  MiB,
  GiB,
  SECOND_MS,
  MINUTE_MS,
  HOUR_MS,
  int,
  bool,
  host,
  port,
  section,
  str,
  cidrList,
  hookUrl,
  secret,
} from './schema-leaves.ts';

const rtmpSchema = section(
  {
    enabled: bool(true, 'Accept RTMP publishers and players.'),
    host: host('Address the RTMP server listens on.'),
    port: port(1935, 'TCP port of the RTMP server (0 = any free port).'),
    handshakeTimeoutMs: int({
      min: SECOND_MS,
      max: 2 * MINUTE_MS,
      default: 10 * SECOND_MS,
      description: 'Deadline for the whole handshake plus connect; a slower client is closed.',
    }),
    idleTimeoutMs: int({
      min: SECOND_MS,
      max: HOUR_MS,
      default: 30 * SECOND_MS,
      description: 'A connection that sends no bytes for this long is closed.',
    }),
    outChunkSize: int({
      min: 128,
      max: 65536,
      default: 4096,
      description: 'Chunk size onair announces and sends with.',
    }),
    maxMessageBytes: int({
      min: MiB,
      max: 16 * MiB,
      default: 8 * MiB,
      description: 'Largest media message accepted; a larger one closes the connection.',
    }),
    maxCommandBytes: int({
      min: KiB,
      max: MiB,
      default: 64 * KiB,
      description: 'Largest command, data or control message accepted.',
    }),
    maxChunkStreams: int({
      min: 4,
      max: 1024,
      default: 64,
      description: 'Most chunk stream ids one connection may use at once.',
    }),
    maxStreamsPerConnection: int({
      min: 1,
      max: 64,
      default: 8,
      description: 'Most message streams (createStream) per connection.',
    }),
    maxConnections: int({
      min: 1,
      max: 1_000_000,
      default: 10_000,
      description: 'Most RTMP connections open at once.',
    }),
    maxConnectionsPerIp: int({
      min: 0,
      max: 1_000_000,
      default: 0,
      description:
        'Most RTMP connections open at once from one IP address; 0: no cap (an office or a school behind one NAT address is many viewers).',
    }),
    ackWindowBytes: int({
      min: 4 * KiB,
      max: 2 ** 31 - 1,
      default: 2_500_000,
      description: 'Window acknowledgement size announced to peers.',
    }),
  },
  'RTMP ingest and playback (rtmp://host:port/app/name).',
);

const httpSchema = section(
  {
    enabled: bool(true, 'Serve HTTP (HTTP-FLV and WS-FLV playback).'),
    host: host('Address the HTTP server listens on.'),
    port: port(8080, 'TCP port of the HTTP server (0 = any free port).'),
    headersTimeoutMs: int({
      min: SECOND_MS,
      max: 5 * MINUTE_MS,
      default: 15 * SECOND_MS,
      description: 'Deadline for a client to send the complete request headers.',
    }),
    cors: bool(true, 'Send Access-Control-Allow-Origin: * on media routes.'),
    wsMaxPayloadBytes: int({
      min: KiB,
      max: 16 * MiB,
      default: 64 * KiB,
      description: 'Largest WebSocket message accepted from a client.',
    }),
  },
  'The one HTTP listener: HTTP-FLV (/app/name.flv) and WS-FLV.',
);

const gopCacheSchema = section(
  {
    enabled: bool(true, 'Keep the frames since the last keyframe so new viewers start at once.'),
    maxFrames: int({
      min: 1,
      max: 100_000,
      default: 2500,
      description: 'Most frames kept in the GOP cache.',
    }),
    maxBytes: int({
      min: MiB,
      max: GiB,
      default: 32 * MiB,
      description: 'Most bytes kept in the GOP cache.',
    }),
    maxDurationMs: int({
      min: SECOND_MS,
      max: 5 * MINUTE_MS,
      default: 20 * SECOND_MS,
      description: 'Longest span of media kept in the GOP cache.',
    }),
  },
  'Per-stream cache of the current group of pictures.',
);

const viewerSchema = section(
  {
    maxQueueBytes: int({
      min: 64 * KiB,
      max: GiB,
      default: 8 * MiB,
      description: 'Bytes queued for one viewer before frames are dropped up to the next keyframe.',
    }),
    maxQueueDurationMs: int({
      min: 500,
      max: 2 * MINUTE_MS,
      default: 5 * SECOND_MS,
      description: 'Media duration queued for one viewer before frames are dropped.',
    }),
    maxBehindMs: int({
      min: SECOND_MS,
      max: 10 * MINUTE_MS,
      default: 15 * SECOND_MS,
      description: 'A viewer still behind after this long is closed.',
    }),
  },
  'Bounds of the queue each viewer owns.',
);

const hubSchema = section(
  {
    gopCache: gopCacheSchema,
    viewer: viewerSchema,
    waitForPublisherMs: int({
      min: 0,
      max: 2 * MINUTE_MS,
      default: 5 * SECOND_MS,
      description: 'How long a viewer that arrives before the publisher waits for it.',
    }),
    reconnectGraceMs: int({
      min: 0,
      max: 10 * MINUTE_MS,
      default: 10 * SECOND_MS,
      description: 'How long viewers stay on a path after its publisher leaves.',
    }),
    audioMergeMs: int({
      min: 0,
      max: 1000,
      default: 50,
      description:
        'Audio waits up to this long for the next video frame so both reach each viewer in one write; 0 sends every frame at once.',
    }),
  },
  'Fan-out from one publisher to many viewers.',
);

/** HLS latency profiles; src/servers/hls/hls-profile.ts says what each one implies. */
export const HLS_PROFILES = ['low-latency', 'balanced', 'compatible'] as const;

const hlsSchema = section(
  {
    enabled: bool(true, 'Serve HLS at /<app>/<name>.m3u8 and /<app>/<name>/index.m3u8.'),
    profile: z
      .enum(HLS_PROFILES)
      .default('low-latency')
      .describe(
        'low-latency: LL-HLS, fMP4, 1 s segments, 200 ms parts; balanced: LL-HLS, fMP4, 2 s segments, 333 ms parts; compatible: MPEG-TS, 2 s segments, no parts.',
      ),
    windowSegments: int({
      min: 3,
      max: 200,
      default: 12,
      description: 'Segments listed in the playlist and kept in memory.',
    }),
    maxWindowBytes: int({
      min: MiB,
      max: GiB,
      default: 128 * MiB,
      description: 'Bytes of segments kept in memory per stream; the oldest go first.',
    }),
    maxHeldRequests: int({
      min: 1,
      max: 1_000_000,
      default: 20_000,
      description: 'Blocking LL-HLS requests held at once, in total; more get 503.',
    }),
    maxHeldRequestsPerIp: int({
      min: 1,
      max: 1_000_000,
      default: 1000,
      description: 'Blocking LL-HLS requests held at once from one address; more get 429.',
    }),
    maxSessionsPerIp: int({
      min: 1,
      max: 1_000_000,
      default: 100,
      description:
        'HLS viewer sessions (address + user agent + stream) tracked at once per address; beyond, requests are still served but start no new session.',
    }),
    idleTimeoutMs: int({
      min: SECOND_MS,
      max: HOUR_MS,
      default: 30 * SECOND_MS,
      description: 'A stream nobody requested over HLS for this long stops being segmented.',
    }),
    dvrWindowS: int({
      min: 0,
      max: 24 * 3600,
      default: 0,
      description:
        'Seconds of a live stream its playlist covers (a DVR window viewers can rewind in); segments beyond the memory window are kept on disk in <dataDir>/dvr. 0: no DVR window.',
    }),
    dvrMaxBytes: int({
      min: MiB,
      max: 1024 * GiB,
      default: 8 * GiB,
      description:
        "Bytes of one stream's DVR window on disk at most; the oldest segments go first.",
    }),
  },
  'HTTP Live Streaming (HLS and low-latency HLS).',
);

const authSchema = section(
  {
    secret: secret(
      'Secret the signing keys are derived from (HKDF-SHA256, one per purpose: play/publish tokens, HLS media URLs, hooks); empty: generated on first start and kept in <dataDir>/auth-secret.',
    ),
    loopbackPublish: bool(
      true,
      'Publishing from this machine (127.0.0.1, ::1) needs no key, except on streams that have one.',
    ),
    jwtSecret: secret('Accept JWT playback tokens signed with this HMAC secret (HS256/384/512).'),
    jwksUrl: hookUrl('Accept JWT playback tokens signed by a key of this JWKS URL.'),
    jwtAlgorithms: z
      .string()
      .regex(
        /^(?:(?:HS|RS|PS|ES)(?:256|384|512)|EdDSA)(?:,(?:(?:HS|RS|PS|ES)(?:256|384|512)|EdDSA))*$/,
        {
          error: 'must be a comma-separated list such as HS256,RS256,ES256 (never none)',
        },
      )
      .default('HS256,RS256,ES256')
      .describe('JWT algorithms accepted (comma-separated); alg none is never accepted.'),
    jwtIssuer: str('', 'Required JWT iss claim; empty: not checked.'),
    jwtAudience: str('', 'Required JWT aud claim; empty: not checked.'),
    jwtRequireExp: bool(true, 'A JWT playback token without an exp claim is refused.'),
    maxFailuresPerIp: int({
      min: 1,
      max: 1_000_000,
      default: 10,
      description:
        'Wrong keys or tokens from one address within a minute before it is refused for a minute.',
    }),
  },
  'Publish keys, signed playback tokens and the secret behind them.',
);

const hooksSchema = section(
  {
    onPublish: hookUrl('POSTed before a publish; its answer decides (2xx, or {"code":0}).'),
    onUnpublish: hookUrl('POSTed when a publisher leaves (notification).'),
    onPlay: hookUrl('POSTed before a viewer starts; its answer decides (2xx, or {"code":0}).'),
    onStop: hookUrl('POSTed when a viewer leaves (notification).'),
    onRecord: hookUrl(
      'POSTed when a recording file is complete (notification: file, duration, bytes).',
    ),
    secret: secret(
      'Signs every hook request (X-Onair-Signature); empty: a key derived from the auth secret for hooks alone (`onair token hooks-key` prints it).',
    ),
    timeoutMs: int({
      min: 100,
      max: MINUTE_MS,
      default: 3 * SECOND_MS,
      description: 'A hook that has not answered after this long counts as failed.',
    }),
    failOpen: bool(
      false,
      'When on_publish / on_play fails (timeout, connection error, a body over 64 KiB): true allows, false refuses.',
    ),
    retries: int({
      min: 0,
      max: 10,
      default: 3,
      description: 'Retries of a failed notification (on_unpublish, on_stop), with backoff.',
    }),
  },
  'HTTP callbacks (webhooks) for publish and play: JSON POSTs, signed.',
);

const limitsSchema = section(
  {
    maxPublishers: int({
      min: 1,
      max: 100_000,
      default: 1000,
      description: 'Most publishers at once; more are refused.',
    }),
    maxViewers: int({
      min: 1,
      max: 10_000_000,
      default: 100_000,
      description: 'Most RTMP, HTTP-FLV and WS-FLV viewers at once, in total.',
    }),
    maxViewersPerStream: int({
      min: 1,
      max: 10_000_000,
      default: 50_000,
      description: 'Most RTMP, HTTP-FLV and WS-FLV viewers of one stream.',
    }),
    maxViewersPerIp: int({
      min: 0,
      max: 1_000_000,
      default: 0,
      description:
        'Most HTTP-FLV and WS-FLV viewers from one address; 0: no cap (set it to stop one address from taking a server).',
    }),
    countHlsViewers: bool(
      false,
      'HLS viewers count toward maxViewers and maxViewersPerStream too (RTMP, HTTP-FLV and WS-FLV viewers always do).',
    ),
    maxEgressMbps: int({
      min: 0,
      max: 10_000_000,
      default: 0,
      description:
        'Most megabits a second sent to viewers (over 5 s); past it new viewers are sent to a less loaded node of the stream map (302) or refused; 0: no cap.',
    }),
    maxMemoryMB: int({
      min: 0,
      max: 1_048_576,
      default: 0,
      description:
        'Memory for media and connections (heap plus buffers, MB); above it new publishers and viewers are refused and HLS windows shrink; 0: 75% of the heap limit.',
    }),
    maxPublishKbps: int({
      min: 0,
      max: 10_000_000,
      default: 0,
      description: 'A publisher above this ingest bitrate (over 10 s) is disconnected; 0: no cap.',
    }),
    publishAllow: cidrList('', 'Only these addresses may publish (CIDR list); empty: any.'),
    publishDeny: cidrList('', 'These addresses may never publish (CIDR list).'),
    playAllow: cidrList('', 'Only these addresses may play (CIDR list); empty: any.'),
    playDeny: cidrList('', 'These addresses may never play (CIDR list).'),
  },
  'Limits and address rules; over a limit a client gets a clear refusal.',
);

const serverSchema = section(
  {
    trustedProxies: cidrList(
      '',
      'Proxies and load balancers trusted to name the client: X-Forwarded-For / Forwarded on HTTP, the PROXY protocol (v1, v2) on RTMP (CIDR list); empty: none.',
    ),
    forwardedHeader: z
      .enum(['x-forwarded-for', 'forwarded'])
      .default('x-forwarded-for')
      .describe(
        'The one header trusted proxies name the client in (the other is ignored, so a client cannot slip a forged one past a proxy that only sets one).',
      ),
    shutdownTimeoutMs: int({
      min: 0,
      max: 10 * MINUTE_MS,
      default: 8 * SECOND_MS,
      description:
        'On SIGTERM or SIGINT: stop accepting, end every session, flush hooks and analytics within this long, then exit.',
    }),
  },
  'The process as a whole: who may speak for clients, and how it stops.',
);

/** Bad entries of a comma-separated list of origins (`rtmp://host[:port]`, no path). */
export function badOrigins(text: string): string[] {
  return splitList(text).filter((entry) => !isRtmpBase(entry));
}

/** The entries of a comma-separated list, trimmed, empty ones left out. */
export function splitList(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

function isRtmpBase(entry: string): boolean {
  if (!/^rtmp:\/\/[^\s/?#]+\/?$/.test(entry) || !URL.canParse(entry)) return false;
  return new URL(entry).hostname !== '';
}

/** A URL of one scheme with a host and no path (`rtmp://host:port`), or empty. */
function baseUrl(scheme: 'rtmp' | 'http', description: string) {
  const pattern = scheme === 'rtmp' ? /^rtmp:\/\/[^\s/?#]+\/?$/ : /^https?:\/\/[^\s/?#]+\/?$/;
  return z
    .string()
    .max(2048)
    .refine((text) => text === '' || (pattern.test(text) && URL.canParse(text)), {
      error: `must be a ${scheme === 'rtmp' ? 'rtmp://' : 'http(s)://'}host:port URL without a path, or empty`,
    })
    .default('')
    .describe(description);
}

const clusterSchema = section(
  {
    origins: z
      .string()
      .max(16_384)
      .refine((text) => badOrigins(text).length === 0, {
        error: (issue) =>
          `not an rtmp://host:port origin: ${badOrigins(String(issue.input)).join(', ')}`,
      })
      .default('')
      .describe(
        'Origins a viewer of a stream not published here is pulled from, tried in order (comma-separated rtmp://host:port; onair, nginx-rtmp or SRS); empty: none.',
      ),
    redisUrl: z
      .string()
      .max(2048)
      .refine((text) => text === '' || (/^rediss?:\/\/\S+$/.test(text) && URL.canParse(text)), {
        error: 'must be a redis:// or rediss:// URL, or empty',
      })
      .default('')
      .describe(
        "Redis holding the stream map: where each stream is published, and every node's load; empty: no map.",
      ),
    advertiseUrl: baseUrl(
      'rtmp',
      'How other nodes reach this one to pull its streams (rtmp://host:port); empty: rtmp://<host name>:<rtmp.port>.',
    ),
    advertiseHttpUrl: baseUrl(
      'http',
      'Where viewers sent to this node by another one go (http://host:port); empty: http://<host name>:<http.port>.',
    ),
    mapTtlMs: int({
      min: 1000,
      max: 10 * MINUTE_MS,
      default: 10 * SECOND_MS,
      description:
        'Map entries live this long unless refreshed (every third of it): a node that dies drops out within it.',
    }),
    lookupTimeoutMs: int({
      min: 10,
      max: 30 * SECOND_MS,
      default: 500,
      description: 'A Redis command that has not answered after this long counts as failed.',
    }),
    pullIdleMs: int({
      min: 0,
      max: 10 * MINUTE_MS,
      default: 5 * SECOND_MS,
      description: 'A stream pulled from another node is released this long after its last viewer.',
    }),
  },
  'Several nodes: pulling streams from origins, and the Redis stream map.',
);

const apiSchema = section(
  {
    enabled: bool(true, 'Serve the admin API at /api/v1 on the HTTP port.'),
    token: secret(
      'Bearer token of the admin API; empty: generated on first start, kept in <dataDir>/api-token and printed once.',
    ),
    allowFrom: cidrList(
      '127.0.0.1/8,::1/128',
      'Addresses the admin API answers (CIDR list); others get 403.',
    ),
  },
  'The admin API (/api/v1): bearer token, loopback only by default.',
);

const analyticsSchema = section(
  {
    enabled: bool(
      true,
      'Keep a record of every session and a 10 s time series per stream in <dataDir>/analytics.db.',
    ),
    retentionDays: int({
      min: 1,
      max: 3650,
      default: 90,
      description: 'Analytics older than this are deleted.',
    }),
    qoeBeaconsPerMinute: int({
      min: 1,
      max: 10_000,
      default: 60,
      description: 'Player QoE beacons taken per minute from one address; more get 429.',
    }),
  },
  'Viewer history, session records and player quality of experience, kept on disk.',
);

const metricsSchema = section(
  {
    enabled: bool(true, 'Serve Prometheus metrics at /metrics on the HTTP port.'),
    perStreamSeries: int({
      min: 0,
      max: 1000,
      default: 0,
      description:
        'Label viewers and ingest bitrate by stream for this many streams (most watched); 0: none.',
    }),
  },
  'Prometheus metrics (answer api.allowFrom addresses, or the API token).',
);

/**
 * A stream path as a `streams:` key: the allow-list of src/hub/stream-path.ts (segments of
 * letters, digits and `_ - .`, at least app/name, no `.` or `..` segment, 128 characters a
 * segment and 255 in all). src/hub/stream-path.test.ts checks that both agree.
 */
export const STREAM_PATH_KEY =
  /^(?!.{256})(?!(?:.*\/)?\.{1,2}(?:\/|$))[\w.-]{1,128}(?:\/[\w.-]{1,128})+$/;

/** Settings of one stream; a key left out keeps the global value. */
export const streamSettingsSchema = z.strictObject({
  publishKey: z
    .string()
    .min(8)
    .max(256)
    .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' })
    .optional()
    .describe('Publishing this stream needs this key (?key=), from loopback too.'),
  private: z.boolean().optional().describe('Playing this stream needs a signed playback token.'),
  hls: z
    .strictObject({
      profile: z
        .enum(HLS_PROFILES)
        .optional()
        .describe("This stream's HLS profile (hls.profile for the others)."),
      dvrWindowS: z
        .int()
        .min(0)
        .max(24 * 3600)
        .optional()
        .describe("This stream's DVR window in seconds (hls.dvrWindowS for the others)."),
    })
    .optional(),
  record: z.boolean().optional().describe('Record this stream (recording.enabled for the others).'),
  srtPassphrase: srtPassphrase()
    .optional()
    .describe("This stream's SRT passphrase (srt.passphrase for the others); empty: none."),
  push: pushUrlList()
    .optional()
    .describe(
      'Restream this stream while it is published to these rtmp:// or rtmps:// URLs (YouTube, Twitch...), at most 16.',
    ),
  abr: z
    .strictObject({
      renditions: renditionList()
        .optional()
        .describe(
          "This stream's renditions (abr.renditions for the others); [] for none. Not applied to a rendition itself.",
        ),
    })
    .optional(),
});

/** Per-stream settings by stream path (`live/cam1`); an empty entry (`live/cam1:`) is allowed. */
const streamsSchema = z
  .record(
    z.string().regex(STREAM_PATH_KEY, {
      error: 'must be a stream path such as live/cam1 (letters, digits, _ - . segments)',
    }),
    z.preprocess((value) => value ?? {}, streamSettingsSchema),
  )
  .nullable()
  .transform((value) => value ?? {})
  .default({})
  .describe('Settings of single streams, by stream path; they override the sections above.');

const logSchema = section(
  {
    level: z
      .enum(LOG_LEVELS)
      .default('info')
      .describe('Least severe level written; silent writes nothing.'),
    format: z
      .enum(LOG_FORMATS)
      .default('json')
      .describe(
        'json: one JSON object a line; pretty: one readable line an entry, for a terminal.',
      ),
  },
  'Logging to standard output.',
);

/** The whole configuration. Every key has a default, so `configSchema.parse({})` is valid. */
export const configSchema = z.strictObject({
  dataDir: z
    .string()
    .min(1)
    .default('./data')
    .describe('Directory for everything onair keeps on disk.'),
  workers: z
    .string()
    .regex(/^(?:auto|[1-9][0-9]{0,2})$/, { error: 'must be auto or a number of processes, 1-999' })
    .default('1')
    .describe(
      'Processes serving the same ports (node:cluster), each on a core; auto: one per core. A stream published to one plays from all.',
    ),
  rtmp: rtmpSchema,
  http: httpSchema,
  hub: hubSchema,
  hls: hlsSchema,
  log: logSchema,
  auth: authSchema,
  hooks: hooksSchema,
  limits: limitsSchema,
  api: apiSchema,
  analytics: analyticsSchema,
  metrics: metricsSchema,
  recording: recordingSchema,
  webrtc: webrtcSchema,
  srt: srtSchema,
  abr: abrSchema,
  server: serverSchema,
  cluster: clusterSchema,
  streams: streamsSchema,
});

/** Makes every property of T, at any depth, readonly. */
export type DeepReadonly<T> = T extends object
  ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
  : T;

/** The validated configuration, frozen at every depth. */
export type Config = DeepReadonly<z.output<typeof configSchema>>;
/** The `server` section: trusted proxies and shutdown. */
export type ServerConfig = Config['server'];
/** The `rtmp` section, for the RTMP server. */
export type RtmpConfig = Config['rtmp'];
/** The `http` section, for the HTTP server. */
export type HttpConfig = Config['http'];
/** The `hub` section, for the StreamHub. */
export type HubConfig = Config['hub'];
/** The `hls` section, for the HLS handler. */
export type HlsConfig = Config['hls'];
/** The `auth` section. */
export type AuthConfig = Config['auth'];
/** The `hooks` section. */
export type HooksConfig = Config['hooks'];
/** The `limits` section. */
export type LimitsConfig = Config['limits'];
/** The `api` section. */
export type ApiConfig = Config['api'];
/** The `cluster` section. */
export type ClusterConfig = Config['cluster'];
/** Per-stream settings by stream path. */
export type StreamsConfig = Config['streams'];
/** One stream's settings. */
export type StreamSettings = StreamsConfig[string];
/** The `recording` section. */
export type RecordingConfig = Config['recording'];

/** The `webrtc` section. */
export type WebrtcConfig = Config['webrtc'];
/** The `srt` section. */
export type SrtConfig = Config['srt'];
/** The `abr` section. */
export type AbrConfig = Config['abr'];
/** One rung of an ABR ladder. */
export type RenditionConfig = AbrConfig['renditions'][number];
/** The `log` section, for createLogger(). */
export type LogConfig = Config['log'];

/** Freezes `value` and every object inside it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** The configuration used when nothing is given: a fresh, deeply frozen object. */
export function defaultConfig(): Config {
  return deepFreeze(configSchema.parse({}));
}
