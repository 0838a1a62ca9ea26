// The shapes of the admin API's answers, as zod schemas: the routes build objects of these
// types, the OpenAPI document is generated from them, and the tests validate every answer
// against that document. web/dashboard/src/api-types.ts mirrors them for the dashboard.
import { z } from 'zod';

const isoTime = z.string().describe('ISO 8601 time');

export const errorSchema = z
  .object({ error: z.string(), message: z.string() })
  .describe('An error: a stable code and a message for people');

export const trackSchema = z.object({
  kind: z.enum(['video', 'audio']),
  codec: z.string(),
  profile: z.string().optional(),
  level: z.string().optional(),
  width: z.number().int().optional(),
  height: z.number().int().optional(),
  bFrames: z
    .literal(true)
    .optional()
    .describe(
      'Video only: the publisher sends B-frames; WebRTC viewers get its non-reference frames dropped (docs/webrtc.md#b-frames)',
    ),
  sampleRate: z.number().int().optional(),
  channels: z.number().int().optional(),
});

export const streamInfoSchema = z.object({
  path: z.string(),
  app: z.string(),
  name: z.string(),
  live: z.boolean(),
  private: z.boolean(),
  publisher: z.object({ protocol: z.string(), ip: z.string(), since: isoTime }).nullable(),
  tracks: z.array(trackSchema),
  ingest: z.object({
    kbps5s: z.number(),
    kbps30s: z.number(),
    fps: z.number().nullable(),
    keyframeIntervalS: z.number().nullable(),
    bytes: z.number(),
  }),
  viewers: z.object({ total: z.number().int(), byProtocol: z.record(z.string(), z.number()) }),
  droppedFrames: z.number().int(),
  uptimeS: z.number().nullable(),
});
export type StreamInfo = z.infer<typeof streamInfoSchema>;

export const streamsPageSchema = z.object({
  items: z.array(streamInfoSchema),
  page: z.number().int(),
  itemsPerPage: z.number().int(),
  total: z.number().int(),
});

export const serverInfoSchema = z.object({
  version: z.string(),
  uptimeS: z.number(),
  cpuPercent: z.number(),
  memory: z.object({ rssBytes: z.number(), heapUsedBytes: z.number() }),
  eventLoopLagMs: z.number(),
  listeners: z.object({ rtmp: z.number().int().nullable(), http: z.number().int().nullable() }),
});
export type ServerInfo = z.infer<typeof serverInfoSchema>;

export const sessionSchema = z.object({
  id: z.string(),
  role: z.enum(['publisher', 'viewer']),
  protocol: z.string(),
  stream: z.string(),
  ip: z.string(),
  since: isoTime,
  bytes: z.number().nullable(),
  droppedFrames: z.number().nullable(),
  queueDepth: z.number().nullable(),
  /** Transport figures (SRT: rttMs, packetsReceivedLost, packetsRetransmitted, receiveBufferMs...). */
  transport: z.record(z.string(), z.number()).nullable(),
  /** The User-Agent (HTTP) or flashVer (RTMP) the client sent, cut to 200 characters. */
  userAgent: z.string().nullable(),
});

export const sessionsPageSchema = z.object({
  items: z.array(sessionSchema),
  page: z.number().int(),
  itemsPerPage: z.number().int(),
  total: z.number().int(),
});

const qoeFiguresSchema = z.object({
  beacons: z.number().int(),
  startupP50Ms: z.number().nullable(),
  latencyP50S: z.number().nullable(),
  rebufferRatio: z.number().nullable(),
});

export const historySchema = z.object({
  stream: z.string(),
  stepS: z.number(),
  points: z.array(
    z.object({
      time: isoTime,
      viewers: z.number(),
      viewersByProtocol: z.record(z.string(), z.number()),
      ingestKbps: z.number().nullable(),
      fps: z.number().nullable(),
      qoe: qoeFiguresSchema.nullable(),
    }),
  ),
});

export const summarySchema = z.object({
  from: isoTime,
  to: isoTime,
  streams: z.array(
    z.object({
      stream: z.string(),
      peakViewers: z.number(),
      uniqueViewers: z.number(),
      watchTimeS: z.number(),
      averageViewS: z.number(),
      views: z.number(),
      byProtocol: z.record(z.string(), z.object({ views: z.number(), watchTimeS: z.number() })),
      qoe: z
        .object({
          beacons: z.number(),
          startupP50Ms: z.number().nullable(),
          startupP95Ms: z.number().nullable(),
          latencyP50S: z.number().nullable(),
          latencyP95S: z.number().nullable(),
          rebufferRatio: z.number().nullable(),
        })
        .nullable(),
    }),
  ),
});

export const healthSchema = z.object({ status: z.enum(['ok', 'starting', 'stopping']) });

export const liveQoeSchema = z.record(
  z.string(),
  z.object({
    startupP50Ms: z.number().nullable(),
    startupP95Ms: z.number().nullable(),
    latencyP50S: z.number().nullable(),
    rebufferRatio: z.number().nullable(),
  }),
);

export const snapshotSchema = z.object({
  time: isoTime,
  streams: z.array(streamInfoSchema),
  server: serverInfoSchema,
  qoe: liveQoeSchema,
});
export type Snapshot = z.infer<typeof snapshotSchema>;

export const pushSchema = z
  .object({
    id: z.string(),
    url: z.string().describe('The destination, its stream key masked (****abcd)'),
    origin: z.enum(['config', 'api']),
    state: z.enum(['connecting', 'live', 'backoff', 'stopped']),
    bytesSent: z.number().int(),
    kbps: z.number(),
    droppedFrames: z.number().int(),
    reconnects: z.number().int(),
    lastError: z.string().nullable().describe('Why the last connection failed (keys masked)'),
    liveSince: isoTime.nullable(),
  })
  .describe('One restream destination of a stream (docs/restream.md)');
