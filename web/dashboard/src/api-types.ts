// Shapes of the admin API (/api/v1) as the dashboard reads them. Times are ISO 8601 strings.
// Kept in step with the server's OpenAPI document.

/** One track of a live stream. */
export interface StreamTrack {
  kind: 'video' | 'audio';
  codec: string;
  profile?: string;
  level?: string;
  width?: number;
  height?: number;
  /** Video only: the publisher sends B-frames (WebRTC drops its non-reference frames). */
  bFrames?: true;
  sampleRate?: number;
  channels?: number;
}

/** A stream as the API describes it (GET /api/v1/streams/{app}/{name}, and in snapshots). */
export interface StreamInfo {
  path: string;
  app: string;
  name: string;
  live: boolean;
  private: boolean;
  publisher: { protocol: string; ip: string; since: string } | null;
  tracks: StreamTrack[];
  ingest: {
    kbps5s: number;
    kbps30s: number;
    fps: number | null;
    keyframeIntervalS: number | null;
    bytes: number;
  };
  viewers: { total: number; byProtocol: Record<string, number> };
  droppedFrames: number;
  uptimeS: number | null;
}

/** A page of a list answer. */
export interface Page<T> {
  items: T[];
  page: number;
  itemsPerPage: number;
  total: number;
}

/** One recording file (GET /api/v1/recordings). */
export interface RecordingInfo {
  id: string;
  stream: string;
  file: string;
  start: string;
  end: string;
  durationS: number;
  bytes: number;
  codecs: string[];
  width?: number;
  height?: number;
  /** Still being written. */
  recording: boolean;
  urls: { file: string; hls: string; watch: string };
}

/** GET /api/v1/recordings. */
export type RecordingList = Page<RecordingInfo>;

/** GET and PUT /api/v1/streams/{app}/{name}/recording. */
export interface RecordingState {
  enabled: boolean;
  recording: boolean;
  current?: RecordingInfo;
  error?: 'disk-full' | 'queue-overflow' | 'write-failed';
}

/** GET /api/v1/streams. */
export type StreamList = Page<StreamInfo>;

/** GET /api/v1/server. */
export interface ServerInfo {
  version: string;
  uptimeS: number;
  cpuPercent: number;
  memory: { rssBytes: number; heapUsedBytes: number };
  eventLoopLagMs: number;
  listeners: { rtmp: number | null; http: number | null };
}

/** One connection: a publisher or a viewer. */
export interface SessionInfo {
  id: string;
  role: 'publisher' | 'viewer';
  protocol: string;
  stream: string;
  ip: string;
  since: string;
  bytes: number | null;
  droppedFrames: number | null;
  queueDepth: number | null;
  /** The transport's own figures (SRT: libsrt's rttMs, packetsReceivedLost, ...), or null. */
  transport: Record<string, number> | null;
}

/** GET /api/v1/sessions. */
export type SessionList = Page<SessionInfo>;

/** Live quality-of-experience figures of one stream, from player beacons. */
export interface LiveQoe {
  startupP50Ms: number | null;
  startupP95Ms: number | null;
  latencyP50S: number | null;
  rebufferRatio: number | null;
}

/** The data of an `event: snapshot` of GET /api/v1/events (one a second). */
export interface Snapshot {
  time: string;
  streams: StreamInfo[];
  server: ServerInfo;
  /** By stream path. */
  qoe: Record<string, LiveQoe>;
}

/** One step of a stream's history. */
export interface HistoryPoint {
  time: string;
  viewers: number;
  viewersByProtocol: Record<string, number>;
  ingestKbps: number;
  fps: number | null;
  qoe: {
    startupP50Ms: number | null;
    latencyP50S: number | null;
    rebufferRatio: number | null;
  } | null;
}

/** GET /api/v1/streams/{app}/{name}/history?from&to. */
export interface StreamHistory {
  stream: string;
  stepS: number;
  points: HistoryPoint[];
}

/** Quality-of-experience figures over a range. */
export interface SummaryQoe {
  beacons: number;
  startupP50Ms: number | null;
  startupP95Ms: number | null;
  latencyP50S: number | null;
  latencyP95S: number | null;
  rebufferRatio: number | null;
}

/** One stream's row of the analytics summary. */
export interface SummaryRow {
  stream: string;
  peakViewers: number;
  uniqueViewers: number;
  watchTimeS: number;
  averageViewS: number;
  views: number;
  byProtocol: Record<string, { views: number; watchTimeS: number }>;
  qoe: SummaryQoe | null;
}

/** GET /api/v1/analytics/summary?from&to. */
export interface AnalyticsSummary {
  from: string;
  to: string;
  streams: SummaryRow[];
}

/** The body of every API error answer. */
export interface ApiErrorBody {
  error: string;
  message: string;
}

/** One restream destination (GET /api/v1/streams/APP/NAME/pushes). */
export interface PushInfo {
  id: string;
  url: string;
  origin: 'config' | 'api';
  state: 'connecting' | 'live' | 'backoff' | 'stopped';
  bytesSent: number;
  kbps: number;
  droppedFrames: number;
  reconnects: number;
  lastError: string | null;
  liveSince: string | null;
}

/** GET /api/v1/streams/APP/NAME/pushes. */
export interface PushList {
  stream: string;
  items: PushInfo[];
}

/** A stream's ABR ladder: its ffmpeg and renditions (GET /api/v1/streams/APP/NAME/abr). */
export interface AbrLadderInfo {
  path: string;
  state: 'waiting' | 'running' | 'backoff' | 'stopped' | 'no-renditions';
  restarts: number;
  pid: number | null;
  speed: number | null;
  cpuPercent: number | null;
  cpuSeconds: number;
  renditions: string[];
  lastExit: string | null;
}
