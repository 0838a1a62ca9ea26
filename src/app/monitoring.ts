// What the monitoring API reads, built from the running server: stream figures (hub, sessions,
// access), server figures (CPU, memory, event-loop lag) and thumbnails made with ffmpeg from
// the last keyframe.
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { encodeFlvHeader } from '../codecs/flv.ts';
import type { Frame } from '../media/frame.ts';
import type { Track } from '../media/track.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import type { Stream } from '../hub/stream.ts';
import type { Subscriber } from '../hub/subscriber.ts';
import type { SessionRegistry } from '../hub/session-registry.ts';
import type { ServerInfo, Snapshot, StreamInfo } from '../api/api-schemas.ts';
import { percentile } from '../analytics/analytics-store.ts';
import { encodeFlvFrame } from '../media/flv-body.ts';

/** Stream figures for the API and the live feed. */
export function streamInfo(
  stream: Stream,
  isPrivate: (path: string) => boolean,
  viewersByPath: Map<string, StreamViewers>,
): StreamInfo {
  const slash = stream.path.lastIndexOf('/');
  const publisher = stream.publisher;
  const { byProtocol, droppedFrames } = viewersByPath.get(stream.path) ?? {
    byProtocol: {},
    droppedFrames: 0,
  };
  const ingest = stream.ingest.figures();
  return {
    path: stream.path,
    app: stream.path.slice(0, slash),
    name: stream.path.slice(slash + 1),
    live: publisher !== null,
    private: isPrivate(stream.path),
    publisher:
      publisher === null
        ? null
        : {
            protocol: publisher.info.protocol,
            ip: publisher.info.remoteAddress,
            since: new Date(stream.publishedAtMs).toISOString(),
          },
    tracks: stream.tracks.map((track) => trackInfo(track, stream.hasBFrames)),
    ingest: {
      kbps5s: ingest.kbps5s,
      kbps30s: ingest.kbps30s,
      fps: ingest.fps,
      keyframeIntervalS: ingest.keyframeIntervalS,
      bytes: ingest.bytes,
    },
    viewers: {
      total: Object.values(byProtocol).reduce((a, b) => a + b, 0),
      byProtocol,
    },
    droppedFrames,
    uptimeS:
      publisher === null
        ? null
        : Math.max(0, Math.round((Date.now() - stream.publishedAtMs) / 1000)),
  };
}

/** One stream's viewers by protocol and the frames dropped for them. */
export interface StreamViewers {
  readonly byProtocol: Record<string, number>;
  droppedFrames: number;
}

/** Viewers and dropped frames of every stream, in one pass over the sessions. */
export function viewersByStream(sessions: SessionRegistry): Map<string, StreamViewers> {
  const out = new Map<string, StreamViewers>();
  for (const session of sessions.list()) {
    if (session.role !== 'viewer') continue;
    let entry = out.get(session.path);
    if (entry === undefined) {
      entry = { byProtocol: {}, droppedFrames: 0 };
      out.set(session.path, entry);
    }
    entry.byProtocol[session.protocol] = (entry.byProtocol[session.protocol] ?? 0) + 1;
    entry.droppedFrames += session.droppedFrames?.() ?? 0;
  }
  return out;
}

/** All streams of the hub, by path. */
export function allStreamInfo(
  hub: StreamHub,
  sessions: SessionRegistry,
  isPrivate: (path: string) => boolean,
): StreamInfo[] {
  const viewers = viewersByStream(sessions);
  return hub
    .list()
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((stream) => streamInfo(stream, isPrivate, viewers));
}

function trackInfo(track: Track, bFrames: boolean): StreamInfo['tracks'][number] {
  if (track.kind === 'video') {
    return {
      kind: 'video',
      codec: track.codec,
      ...(bFrames ? { bFrames: true } : {}),
      ...(track.profile === undefined ? {} : { profile: track.profile }),
      ...(track.level === undefined ? {} : { level: track.level }),
      ...(track.width === undefined ? {} : { width: track.width }),
      ...(track.height === undefined ? {} : { height: track.height }),
    };
  }
  return {
    kind: 'audio',
    codec: track.codec,
    ...(track.profile === undefined ? {} : { profile: track.profile }),
    ...(track.sampleRate === undefined ? {} : { sampleRate: track.sampleRate }),
    ...(track.channels === undefined ? {} : { channels: track.channels }),
  };
}

/** CPU, memory and event-loop figures of this process, sampled once a second. */
export class ServerFigures {
  readonly #startedMs = Date.now();
  readonly #delay = monitorEventLoopDelay({ resolution: 10 });
  readonly #timer: NodeJS.Timeout;
  #lastCpu = process.cpuUsage();
  #lastAtMs = performance.now();
  #cpuPercent = 0;
  #lagMs = 0;

  constructor(
    readonly version: string,
    readonly listeners: () => ServerInfo['listeners'],
  ) {
    this.#delay.enable();
    this.#timer = setInterval(() => {
      this.#sample();
    }, 1000).unref();
  }

  info(): ServerInfo {
    const memory = process.memoryUsage();
    return {
      version: this.version,
      uptimeS: Math.round((Date.now() - this.#startedMs) / 1000),
      cpuPercent: this.#cpuPercent,
      memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
      eventLoopLagMs: this.#lagMs,
      listeners: this.listeners(),
    };
  }

  close(): void {
    clearInterval(this.#timer);
    this.#delay.disable();
  }

  #sample(): void {
    const cpu = process.cpuUsage();
    const now = performance.now();
    const usedUs = cpu.user - this.#lastCpu.user + (cpu.system - this.#lastCpu.system);
    this.#cpuPercent = Math.round((usedUs / 1000 / (now - this.#lastAtMs)) * 1000) / 10;
    this.#lastCpu = cpu;
    this.#lastAtMs = now;
    // p99 of the last second, less the sampling resolution.
    this.#lagMs = Math.max(0, Math.round((this.#delay.percentile(99) / 1e6 - 10) * 10) / 10);
    this.#delay.reset();
  }
}

const THUMBNAIL_TTL_MS = 5000;
const THUMBNAIL_TIMEOUT_MS = 5000;
const MAX_THUMBNAIL_JOBS = 2;

/**
 * Stills of live streams: the video sequence header and the cached keyframe, as FLV, decoded
 * by ffmpeg to a 320-pixel-wide JPEG. Made only when asked, cached a few seconds, at most two
 * ffmpeg processes at once.
 */
export class Thumbnails {
  readonly #hub: StreamHub;
  readonly #cache = new Map<string, { atMs: number; jpeg: Promise<Buffer | null> }>();
  #running = 0;

  constructor(hub: StreamHub) {
    this.#hub = hub;
  }

  get(path: string): Promise<Buffer | null> {
    const cached = this.#cache.get(path);
    if (cached && Date.now() - cached.atMs < THUMBNAIL_TTL_MS) return cached.jpeg;
    const stream = this.#hub.get(path);
    if (stream?.publisher == null || this.#running >= MAX_THUMBNAIL_JOBS) {
      return Promise.resolve(cached ? cached.jpeg : null);
    }
    const flv = keyframeAsFlv(stream);
    if (flv === null) return Promise.resolve(null);
    const jpeg = this.#decode(flv);
    if (this.#cache.size > 1000) this.#cache.clear();
    this.#cache.set(path, { atMs: Date.now(), jpeg });
    return jpeg;
  }

  #decode(flv: Buffer): Promise<Buffer | null> {
    this.#running++;
    return new Promise<Buffer | null>((resolve) => {
      const child = spawn(
        'ffmpeg',
        [
          '-v',
          'error',
          '-f',
          'flv',
          '-i',
          'pipe:0',
          '-frames:v',
          '1',
          '-vf',
          'scale=320:-2',
          '-f',
          'image2pipe',
          '-c:v',
          'mjpeg',
          'pipe:1',
        ],
        { stdio: ['pipe', 'pipe', 'ignore'] },
      );
      child.stdin.on('error', () => undefined);
      child.stdin.end(flv);
      const pieces: Buffer[] = [];
      child.stdout.on('data', (piece: Buffer) => pieces.push(piece));
      const timer = setTimeout(() => child.kill('SIGKILL'), THUMBNAIL_TIMEOUT_MS);
      const done = (jpeg: Buffer | null): void => {
        clearTimeout(timer);
        this.#running--;
        resolve(jpeg);
      };
      child.on('error', () => {
        done(null);
      });
      child.on('close', (code) => {
        const jpeg = Buffer.concat(pieces);
        done(code === 0 && jpeg.length > 0 ? jpeg : null);
      });
    });
  }
}

/**
 * The video sequence header and the first keyframe of the stream's cached GOP as an FLV file,
 * read by subscribing for a moment (the hub replays the GOP synchronously), or null.
 */
export function keyframeAsFlv(stream: Stream): Buffer | null {
  const found: { header: Frame | null; keyframe: Frame | null } = { header: null, keyframe: null };
  const collector: Subscriber = {
    onTracks: () => undefined,
    onFrame: (frame) => {
      if (frame.kind !== 'video') return;
      if (frame.sequenceHeader) found.header = frame;
      else if (frame.keyframe) found.keyframe ??= frame;
    },
    onClose: () => undefined,
  };
  stream.subscribe(collector);
  stream.unsubscribe(collector);
  const { header, keyframe } = found;
  if (header === null || keyframe === null) return null;
  const atZero = (frame: Frame): Frame => ({ ...frame, dts: 0, pts: frame.pts - frame.dts });
  const headerTag = encodeFlvFrame(atZero(header));
  const keyframeTag = encodeFlvFrame(atZero(keyframe));
  if (headerTag === null || keyframeTag === null) return null;
  return Buffer.concat([encodeFlvHeader({ audio: false, video: true }), headerTag, keyframeTag]);
}

const LIVE_QOE_WINDOW_MS = 60_000;
const LIVE_QOE_MAX_BEACONS = 10_000;

interface LiveBeacon {
  readonly atMs: number;
  readonly stream: string;
  readonly startupMs?: number;
  readonly latencyS?: number;
  readonly rebufferMs: number;
  readonly playedMs: number;
}

/** Player QoE of the last minute per stream, for the live feed (bounded, in memory). */
export class LiveQoe {
  readonly #beacons: LiveBeacon[] = [];

  add(beacon: Omit<LiveBeacon, 'atMs'>, nowMs = Date.now()): void {
    this.#beacons.push({ ...beacon, atMs: nowMs });
    if (this.#beacons.length > LIVE_QOE_MAX_BEACONS) this.#beacons.shift();
  }

  figures(nowMs = Date.now()): Snapshot['qoe'] {
    while ((this.#beacons[0]?.atMs ?? nowMs) < nowMs - LIVE_QOE_WINDOW_MS) this.#beacons.shift();
    const byStream = new Map<string, LiveBeacon[]>();
    for (const beacon of this.#beacons) {
      const list = byStream.get(beacon.stream) ?? [];
      list.push(beacon);
      byStream.set(beacon.stream, list);
    }
    const out: Snapshot['qoe'] = {};
    for (const [stream, beacons] of byStream) {
      const startups = sorted(beacons.map((b) => b.startupMs));
      const latencies = sorted(beacons.map((b) => b.latencyS));
      const played = beacons.reduce((sum, b) => sum + b.playedMs, 0);
      const rebuffer = beacons.reduce((sum, b) => sum + b.rebufferMs, 0);
      out[stream] = {
        startupP50Ms: percentile(startups, 50),
        startupP95Ms: percentile(startups, 95),
        latencyP50S: percentile(latencies, 50),
        rebufferRatio: played + rebuffer > 0 ? rebuffer / (played + rebuffer) : null,
      };
    }
    return out;
  }
}

function sorted(values: readonly (number | undefined)[]): number[] {
  return values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
}
