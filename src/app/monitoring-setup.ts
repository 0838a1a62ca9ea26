// Builds the monitoring side of a running server: analytics (SQLite), QoE beacons, Prometheus
// metrics, server figures and thumbnails, and the MonitoringDeps the API routes read.
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import type { SessionRegistry } from '../hub/session-registry.ts';
import type { AccessControl } from '../access/access-control.ts';
import { AnalyticsStore, type StreamSample } from '../analytics/analytics-store.ts';
import { AnalyticsRecorder, sampleStreams } from '../analytics/analytics-recorder.ts';
import { QoeLimiter, parseQoeBeacon } from '../analytics/qoe.ts';
import { OnairMetrics, type MetricsSources, type SrtFigures } from '../metrics/metrics.ts';
import type { MonitoringDeps } from '../api/monitoring-routes.ts';
import type { StreamInfo } from '../api/api-schemas.ts';
import type { HlsHandler } from '../servers/hls/hls-handler.ts';
import type { MemoryFigures } from './memory-budget.ts';
import {
  LiveQoe,
  ServerFigures,
  Thumbnails,
  allStreamInfo,
  streamInfo,
  viewersByStream,
} from './monitoring.ts';

/** The package version (package.json), for the API and the metrics. */
export const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** The analytics samples of the group's merged stream list (see worker-messages.ts). */
function groupSamples(streams: readonly StreamInfo[]): StreamSample[] {
  return streams.map((info) => ({
    stream: info.path,
    viewers: info.viewers.total,
    viewersByProtocol: info.viewers.byProtocol,
    ingestKbps: info.live ? info.ingest.kbps5s : null,
    fps: info.live ? info.ingest.fps : null,
  }));
}

/** The Prometheus text exposition's content type. */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/** What the monitoring needs from the server. */
export interface MonitoringInputs {
  readonly config: Config;
  readonly hub: StreamHub;
  readonly sessions: SessionRegistry;
  readonly access: AccessControl;
  readonly hls: HlsHandler | null;
  readonly secret: string;
  readonly logger: Logger;
  /** The bound ports, once listening. */
  readonly listeners: () => { rtmp: number | null; http: number | null };
  /** `ok` once listening, `stopping` during shutdown. */
  readonly health: () => 'ok' | 'starting' | 'stopping';
  /** The memory budget's figures. */
  readonly memory: () => MemoryFigures;
  /** Hook notifications dropped, by action (WebhookClient.droppedByAction). */
  readonly hookDrops?: () => ReadonlyMap<string, number>;
  /** WebRTC viewers' loss recovery for /metrics. */
  readonly webrtc?: () => NonNullable<ReturnType<NonNullable<MetricsSources['webrtc']>>>;
  /** ICE-over-TCP connections open, for /metrics. */
  readonly iceTcpConnections?: () => number;
  /** SRT figures for /metrics. */
  readonly srt?: () => SrtFigures;
  /** Restream figures for /metrics. */
  readonly pushes?: () => NonNullable<ReturnType<NonNullable<MetricsSources['pushes']>>>;
  /** ABR ladder figures for /metrics. */
  readonly abr?: () => NonNullable<ReturnType<NonNullable<MetricsSources['abr']>>>;
  /** Recording figures for /metrics. */
  readonly recording?: () => NonNullable<ReturnType<NonNullable<MetricsSources['recording']>>>;
  /**
   * In a worker of a group (--workers): the whole group's streams and metrics, which the API
   * and /metrics show instead of this process's own (null: not known yet, the own are shown).
   */
  readonly group?: {
    readonly streams: () => readonly StreamInfo[] | null;
    readonly metrics: () => Promise<string | null>;
    /** Whether this worker writes the group's stream samples (one worker does, for all). */
    readonly writesSamples: boolean;
  };
}

/** The monitoring parts, started and stopped with the server. */
export class Monitoring {
  readonly deps: MonitoringDeps;
  readonly metrics: OnairMetrics | null;
  /** Connections the servers refused or closed for a reason, by reason (metrics). */
  readonly rejections = new Map<string, number>();
  /** Promise rejections nobody handled (main.ts counts them here). */
  unhandledRejections = 0;
  readonly #figures: ServerFigures;
  readonly #store: AnalyticsStore | null;
  readonly #recorder: AnalyticsRecorder | null;
  readonly #logger: Logger;

  constructor(inputs: MonitoringInputs) {
    const { config, hub, sessions, access, logger } = inputs;
    this.#logger = logger.child({ component: 'analytics' });
    this.#figures = new ServerFigures(VERSION, inputs.listeners);
    this.#store = config.analytics.enabled
      ? AnalyticsStore.open(join(config.dataDir, 'analytics.db'), {
          // Unique viewers are counted by a keyed hash of address + user agent, never stored.
          salt: createHmac('sha256', inputs.secret).update('analytics viewer key').digest('hex'),
          retentionDays: config.analytics.retentionDays,
        })
      : null;
    this.#recorder =
      this.#store === null
        ? null
        : new AnalyticsRecorder({
            store: this.#store,
            sessions,
            // In a group one worker samples the merged streams: samples are one row per stream
            // and time, and each worker's own would overwrite the others'.
            sample: () => {
              const group = inputs.group;
              if (!group) return sampleStreams(hub.list(), sessions.list());
              return group.writesSamples ? groupSamples(group.streams() ?? []) : [];
            },
            onError: (error) => {
              this.#logger.error({ err: error }, 'analytics write failed');
            },
            onDrop: (dropped) => {
              this.#logger.warn({ dropped }, 'analytics queue full: ended sessions not recorded');
            },
          });
    const isPrivate = (path: string): boolean => access.isPrivate(path);
    this.metrics = config.metrics.enabled
      ? new OnairMetrics(
          {
            liveStreams: () => hub.list().filter((s) => s.publisher !== null).length,
            bFrameStreams: () =>
              hub.list().filter((s) => s.publisher !== null && s.hasBFrames).length,
            sessions,
            refusals: () => access.refusals,
            connectionRejections: () => this.rejections,
            hls: () => inputs.hls?.stats() ?? null,
            ...(inputs.recording ? { recording: inputs.recording } : {}),
            ...(inputs.pushes ? { pushes: inputs.pushes } : {}),
            ...(inputs.abr ? { abr: inputs.abr } : {}),
            ...(inputs.webrtc ? { webrtc: inputs.webrtc } : {}),
            ...(inputs.iceTcpConnections ? { iceTcpConnections: inputs.iceTcpConnections } : {}),
            ...(inputs.srt ? { srt: inputs.srt } : {}),
            streams: () => {
              const viewers = viewersByStream(sessions);
              return hub.list().map((stream) => ({
                path: stream.path,
                viewers: Object.values(viewers.get(stream.path)?.byProtocol ?? {}).reduce(
                  (a, b) => a + b,
                  0,
                ),
                ingestKbps: stream.ingest.figures().kbps5s,
              }));
            },
            process: () => {
              const memory = inputs.memory();
              return {
                memoryBudgetBytes: memory.budgetBytes,
                memoryUsedBytes: memory.usedBytes,
                overMemoryBudget: memory.over,
                unhandledRejections: this.unhandledRejections,
              };
            },
            analyticsDropped: () => this.#recorder?.dropped ?? 0,
            hookNotificationsDropped: () => inputs.hookDrops?.() ?? new Map<string, number>(),
          },
          { perStreamSeries: config.metrics.perStreamSeries },
        )
      : null;
    const limiter = new QoeLimiter({ perIpPerMinute: config.analytics.qoeBeaconsPerMinute });
    const liveQoe = new LiveQoe();
    const thumbnails = new Thumbnails(hub);
    const store = this.#store;
    const group = inputs.group;
    this.deps = {
      streams: () => [...(group?.streams() ?? allStreamInfo(hub, sessions, isPrivate))],
      stream: (path) => {
        const merged = group?.streams();
        if (merged) return merged.find((info) => info.path === path) ?? null;
        const stream = hub.get(path);
        return stream === undefined
          ? null
          : streamInfo(stream, isPrivate, viewersByStream(sessions));
      },
      server: () => this.#figures.info(),
      health: inputs.health,
      liveQoe: () => liveQoe.figures(),
      analytics:
        store === null
          ? null
          : {
              history: (stream, fromMs, toMs) => {
                const history = store.history(stream, fromMs, toMs);
                return {
                  stream,
                  stepS: history.stepMs / 1000,
                  points: history.points.map((point) => ({
                    time: new Date(point.timeMs).toISOString(),
                    viewers: point.viewers,
                    viewersByProtocol: point.viewersByProtocol,
                    ingestKbps: point.ingestKbps,
                    fps: point.fps,
                    qoe: point.qoe,
                  })),
                };
              },
              summary: (fromMs, toMs) => store.summary(fromMs, toMs),
            },
      acceptQoe: (ip, body) => {
        if (!limiter.allow(ip)) {
          return { ok: false, status: 429, message: 'too many beacons from this address' };
        }
        const parsed = parseQoeBeacon(body);
        if (!parsed.ok) return { ok: false, status: 400, message: parsed.error };
        const { beacon } = parsed;
        // Only streams that exist: strangers cannot fill the database with made-up names.
        if (hub.get(beacon.stream) === undefined) {
          return { ok: false, status: 400, message: 'stream: no such stream' };
        }
        liveQoe.add({
          stream: beacon.stream,
          rebufferMs: beacon.rebufferMs,
          playedMs: beacon.playedMs,
          ...(beacon.startupMs === undefined ? {} : { startupMs: beacon.startupMs }),
          ...(beacon.latencyS === undefined ? {} : { latencyS: beacon.latencyS }),
        });
        try {
          store?.recordQoe({ ...beacon, timeMs: Date.now() });
        } catch (error) {
          this.#logger.error({ err: error }, 'QoE write failed');
        }
        return { ok: true };
      },
      thumbnail: (path) => thumbnails.get(path),
      metrics: async () => {
        if (this.metrics === null) return { contentType: 'text/plain', body: '' };
        const merged = group ? await group.metrics() : null;
        if (merged !== null) return { contentType: PROMETHEUS_TEXT, body: merged };
        return this.metrics.render();
      },
      maxEventClients: 100,
    };
  }

  /** Counts a connection refused or closed for `reason` (metrics). */
  countRejection(reason: string): void {
    this.rejections.set(reason, (this.rejections.get(reason) ?? 0) + 1);
  }

  start(): void {
    this.#recorder?.start();
  }

  stop(): void {
    this.#recorder?.stop();
    this.#figures.close();
    this.#store?.close();
  }
}
