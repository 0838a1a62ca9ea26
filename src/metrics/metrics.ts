// OnairMetrics: the Prometheus exposition served at /metrics (prom-client). Every onair_ series
// is read from the server's own counters at scrape time; nothing here runs on the media path.
// Over 800 lines on purpose: it is the one catalogue of series (name, help, labels, reader),
// one short declaration each, kept together so names and labels stay consistent; a split by
// subsystem would scatter that catalogue without making any piece simpler.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SessionRegistry } from '../hub/session-registry.ts';
import { HOOK_ACTIONS } from '../access/webhooks.ts';

/** Where the figures come from; each function is called once per scrape. */
/** What WebRTC viewers asked of onair to recover from loss, and what it did (totals). */
export interface LossRecoveryCounts {
  /** Packets viewers named in NACKs. */
  nackedPackets: number;
  /** Of those, sent again. */
  retransmittedPackets: number;
  retransmittedBytes: number;
  /** Of those, no longer held (or never sent to that viewer): not sent. */
  unavailablePackets: number;
  /** Of those, over the viewer's retransmit budget: not sent. */
  overBudgetPackets: number;
  /** Keyframe requests (PLI, FIR) from viewers. */
  pli: number;
  fir: number;
  /** RTCP from viewers that did not parse. */
  malformedRtcp: number;
}

export interface MetricsSources {
  /** Streams with a publisher now. */
  liveStreams(): number;
  /** Of those, streams whose video has B-frames; absent: 0. */
  bFrameStreams?(): number;
  readonly sessions: SessionRegistry;
  /** AccessControl.refusals: publish/play refusals by code (auth and limits mixed). */
  refusals(): ReadonlyMap<string, number>;
  /**
   * Connections closed or refused by the servers, by reason (RTMP caps, protocol errors...).
   * Codes that are AccessControl refusal codes (an RTMP publish refused for `bad-key` closes its
   * connection with that code) are skipped here: refusals() already counts them.
   */
  connectionRejections(): ReadonlyMap<string, number>;
  /** HLS figures, or null when HLS is off. */
  hls(): {
    streams: number;
    parts: number;
    segments: number;
    heldRequests: number;
    /** Requests served without a viewer session (mostly: an address at hls.maxSessionsPerIp). */
    untrackedRequests: number;
    /** Requests that reached the HLS handler, by kind (HLS_REQUEST_KINDS); absent: 0. */
    requests?: Readonly<Partial<Record<string, number>>>;
  } | null;
  /** Per-stream figures for the capped opt-in per-stream series. */
  streams(): { path: string; viewers: number; ingestKbps: number }[];
  /** The memory budget and the process's unhandled rejections; absent: those series read 0. */
  process?(): {
    memoryBudgetBytes: number;
    memoryUsedBytes: number;
    overMemoryBudget: boolean;
    unhandledRejections: number;
  };
  /** Ended sessions the analytics never recorded (its write queue was full); 0 without it. */
  analyticsDropped(): number;
  /** Hook notifications never delivered (no room, or cut off by a shutdown), by action. */
  hookNotificationsDropped?(): ReadonlyMap<string, number>;
  /** WebRTC viewers' loss recovery (totals since start); absent: those series read 0. */
  webrtc?(): Readonly<LossRecoveryCounts>;
  /** ICE-over-TCP connections open now (webrtc.tcpPort); absent: 0. */
  iceTcpConnections?(): number;
  /** SRT connections now and libsrt's loss recovery (totals since start); absent: no series. */
  srt?(): SrtFigures | null;
  /** Restreams: pushes by state now, bytes pushed since start; absent: those series read 0. */
  pushes?(): { byState: ReadonlyMap<string, number>; bytesPushed: number };
  /** ABR ladders (transcode/abr-ladder.ts); absent: those series read 0. */
  abr?(): {
    readonly ladders: number;
    readonly restarts: number;
    readonly cpuSeconds: number;
    /** The lowest speed a running ladder's ffmpeg reports, null with none running. */
    readonly minSpeed: number | null;
  };
  /** Recording figures; absent: those series read 0. */
  recording?(): {
    bytesWritten: number;
    filesOpen: number;
    queuedBytes: number;
    writeErrors: number;
    filesDeleted: number;
    diskFull: boolean;
  };
}

/** What /metrics shows of SRT (srt-server.ts). */
export interface SrtFigures {
  readonly connections: number;
  /** The largest round trip and receive buffer of the connections open now, in ms (0: none). */
  readonly rttMsMax: number;
  readonly receiveBufferMsMax: number;
  /** Totals over every SRT connection since start, open ones included. */
  readonly packetsReceivedLost: number;
  readonly packetsRetransmitted: number;
  readonly packetsReceivedDropped: number;
  readonly packetsSentDropped: number;
}

/** How OnairMetrics is set up. */
export interface MetricsOptions {
  /** 0: no per-stream series; else at most this many streams (most viewers first) get them. */
  readonly perStreamSeries: number;
}

/** Viewer protocols exported even at 0, so dashboards show a line for each from the start. */
export const VIEWER_PROTOCOLS = ['rtmp', 'http-flv', 'ws-flv', 'hls', 'webrtc'] as const;
/** Kinds of HLS request (`onair_hls_requests_total{kind}`), exported even at 0. */
export const HLS_REQUEST_KINDS = [
  'playlist',
  'blocking_playlist',
  'part',
  'segment',
  'init',
] as const;
/** Push states (`onair_pushes{state}`), exported even at 0. */
export const PUSH_STATE_LABELS = ['connecting', 'live', 'backoff', 'stopped'] as const;
/** Publisher protocols exported even at 0. */
export const INGEST_PROTOCOLS = ['rtmp', 'webrtc'] as const;

/** Refusal codes of AccessControl that are authentication or authorisation failures. */
export const AUTH_DENIAL_CODES = [
  'bad-key',
  'key-required',
  'token-expired',
  'token-exp-required',
  'token-signature',
  'token-malformed',
  'token-ip',
  'token-required',
  'token-stream',
  'token-claims',
  'hook-denied',
  'ip-denied',
  'ip-not-allowed',
] as const;

/** Refusal codes of AccessControl that are limits (counted as rejected connections). */
export const LIMIT_REFUSAL_CODES = [
  'max-publishers',
  'max-viewers',
  'max-viewers-per-stream',
  'max-viewers-per-ip',
  'too-many-failures',
  'memory-budget',
] as const;

/** Close and refusal codes of the servers (connection caps, protocol and codec errors). */
export const SERVER_REJECTION_CODES = [
  // RTMP connection caps and command errors
  'max-connections',
  'max-connections-per-ip',
  'connect-twice',
  'connect-rejected',
  'command-before-connect',
  'too-many-streams',
  'media-before-publish',
  'idle-timeout',
  'bitrate-cap',
  'bad-name',
  'field-too-long',
  'auth-error',
  'too-slow',
  'handshake-timeout',
  'peer-not-reading',
  'socket-error',
  'internal-error',
  // hub errors
  'ERR_STREAM_BUSY',
  'ERR_STREAM_NAME',
  // wire format errors (CodecError codes) that close a connection
  'ERR_AMF0_DEPTH',
  'ERR_AMF0_TOO_LARGE',
  'ERR_AMF0_TRUNCATED',
  'ERR_AMF0_UNSUPPORTED_TYPE',
  'ERR_FLV_HEADER',
  'ERR_FLV_TAG_TOO_LARGE',
  'ERR_RTMP_BUFFERED_BYTES',
  'ERR_RTMP_CHUNK_HEADER',
  'ERR_RTMP_CHUNK_SIZE',
  'ERR_RTMP_CONTROL_MESSAGE',
  'ERR_RTMP_HANDSHAKE_VERSION',
  'ERR_RTMP_MESSAGE_TOO_LARGE',
  'ERR_RTMP_TOO_MANY_CHUNK_STREAMS',
  'ERR_PROXY_HEADER',
  'ERR_PROXY_TOO_LARGE',
  'ERR_AAC_CONFIG',
  'ERR_AV1_CONFIG',
  'ERR_H264_CONFIG',
  'ERR_H264_SPS',
  'ERR_HEVC_CONFIG',
  'ERR_OPUS_HEAD',
] as const;

/** The reason label of every code not listed above: label values stay a bounded set. */
export const OTHER_REASON = 'other';

/** Buckets of onair_hook_duration_seconds: 5 ms to 10 s (hook timeouts are a few seconds). */
export const HOOK_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The reason label of a code: lowercase with underscores, `ERR_` dropped (`bad-key` -> `bad_key`). */
export function reasonLabel(code: string): string {
  return code
    .toLowerCase()
    .replace(/^err_/, '')
    .replace(/[^a-z0-9]+/g, '_');
}

const AUTH_LABELS = new Map<string, string>(AUTH_DENIAL_CODES.map((c) => [c, reasonLabel(c)]));
const LIMIT_LABELS = new Map<string, string>(LIMIT_REFUSAL_CODES.map((c) => [c, reasonLabel(c)]));
const SERVER_LABELS = new Map<string, string>(
  SERVER_REJECTION_CODES.map((c) => [c, reasonLabel(c)]),
);

/** Where one refusal code of AccessControl is counted, and under which reason label. */
export function classifyRefusal(code: string): {
  metric: 'auth_denied' | 'connections_rejected';
  reason: string;
} {
  const auth = AUTH_LABELS.get(code);
  if (auth !== undefined) return { metric: 'auth_denied', reason: auth };
  // Unknown refusal codes land in connections_rejected{reason="other"}: every refusal rejects
  // a connection, while auth_denied only holds the codes known to be authentication failures.
  return { metric: 'connections_rejected', reason: LIMIT_LABELS.get(code) ?? OTHER_REASON };
}

/** The reason label of a server rejection code; null when refusals() already counts the code. */
export function rejectionReason(code: string): string | null {
  if (AUTH_LABELS.has(code) || LIMIT_LABELS.has(code)) return null;
  return SERVER_LABELS.get(code) ?? OTHER_REASON;
}

/** Protocol names are chosen by onair's servers, not clients; this only guards odd ones. */
function protocolLabel(protocol: string): string {
  return /^[a-z][a-z0-9-]{0,31}$/.test(protocol) ? protocol : OTHER_REASON;
}

/** The hook label: one of HOOK_ACTIONS, else `other`. */
function hookLabel(action: string): string {
  return (HOOK_ACTIONS as readonly string[]).includes(action) ? action : OTHER_REASON;
}

/** A sample's labels and value. */
type Row<L extends string> = readonly [labels: Partial<Record<L, string>>, value: number];

/** What one scrape read from the sources; undefined where a source threw. */
interface Snapshot {
  readonly liveStreams: number | undefined;
  readonly bFrameStreams: number | undefined;
  readonly publishers: number | undefined;
  readonly viewersByProtocol: Map<string, number> | undefined;
  readonly bytes: Map<string, number> | undefined;
  readonly droppedFrames: number | undefined;
  readonly refusals: ReadonlyMap<string, number> | undefined;
  readonly rejections: ReadonlyMap<string, number> | undefined;
  readonly hls: ReturnType<MetricsSources['hls']> | undefined;
  readonly streams: ReturnType<MetricsSources['streams']> | undefined;
  readonly process: ReturnType<NonNullable<MetricsSources['process']>> | null | undefined;
  readonly analyticsDropped: number | undefined;
  readonly hookDrops: ReadonlyMap<string, number> | undefined;
  readonly recording: ReturnType<NonNullable<MetricsSources['recording']>> | null | undefined;
  readonly webrtc: ReturnType<NonNullable<MetricsSources['webrtc']>> | null | undefined;
  readonly iceTcpConnections: number | undefined;
  readonly srt: SrtFigures | null | undefined;
  readonly pushes: ReturnType<NonNullable<MetricsSources['pushes']>> | null | undefined;
  readonly abr: ReturnType<NonNullable<MetricsSources['abr']>> | null | undefined;
}

/** A finite, non-negative number (what a counter may hold). */
function nonNegative(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** Adds `value` to `key` of a map of sums. */
function add(sums: Map<string, number>, key: string, value: number): void {
  sums.set(key, (sums.get(key) ?? 0) + nonNegative(value));
}

/**
 * The Prometheus metrics of one server: a private prom-client Registry holding the default
 * `process_*` and `nodejs_*` metrics (standard names, no prefix, as published dashboards expect)
 * and the `onair_*` series.
 *
 * Totals the server already keeps (bytes, refusals, HLS parts...) are exposed as prom-client
 * Counters (TYPE counter) whose `collect()` does `reset()` then `inc(total)`: the counter
 * mirrors the source's total at scrape time instead of being incremented on the media path.
 * When a source throws, its series keep their previous values and
 * `onair_metrics_source_errors_total` goes up; the scrape still answers.
 */
export class OnairMetrics {
  readonly #sources: MetricsSources;
  readonly #registry = new Registry();
  readonly #hookDuration: Histogram<'hook' | 'result'>;
  readonly #sourceErrors: Counter;
  #snapshot: Snapshot | null = null;

  /** Registers every series; throws a RangeError when perStreamSeries is not an integer >= 0. */
  constructor(sources: MetricsSources, options: MetricsOptions) {
    const { perStreamSeries } = options;
    if (!Number.isSafeInteger(perStreamSeries) || perStreamSeries < 0) {
      throw new RangeError(`perStreamSeries must be an integer >= 0, got ${perStreamSeries}`);
    }
    this.#sources = sources;
    collectDefaultMetrics({ register: this.#registry });
    const registers = [this.#registry];

    this.#sourceErrors = new Counter({
      name: 'onair_metrics_source_errors_total',
      help: 'Reads of a metrics source that threw during a scrape (its series kept their last values).',
      registers,
    });

    this.#gauge('onair_streams', 'Streams with a publisher now.', [], (s) =>
      s.liveStreams === undefined ? undefined : [[{}, s.liveStreams]],
    );
    this.#gauge(
      'onair_streams_with_bframes',
      'Live streams whose video has B-frames (WebRTC viewers get their non-reference frames dropped).',
      [],
      (s) => (s.bFrameStreams === undefined ? undefined : [[{}, s.bFrameStreams]]),
    );
    this.#gauge('onair_publishers', 'Publishers connected now.', [], (s) =>
      s.publishers === undefined ? undefined : [[{}, s.publishers]],
    );
    this.#gauge('onair_viewers', 'Viewers connected now, by protocol.', ['protocol'], (s) =>
      s.viewersByProtocol === undefined ? undefined : rowsOf(s.viewersByProtocol, 'protocol'),
    );
    this.#counter(
      'onair_ingest_bytes_total',
      'Bytes received from publishers, by protocol.',
      ['protocol'],
      (s) => (s.bytes === undefined ? undefined : bytesRows(s.bytes, 'publisher')),
    );
    this.#counter(
      'onair_egress_bytes_total',
      'Bytes sent to viewers, by protocol.',
      ['protocol'],
      (s) => (s.bytes === undefined ? undefined : bytesRows(s.bytes, 'viewer')),
    );
    this.#counter(
      'onair_frames_dropped_total',
      'Media frames dropped, by reason (slow_viewer: a viewer queue could not keep up).',
      ['reason'],
      (s) =>
        s.droppedFrames === undefined ? undefined : [[{ reason: 'slow_viewer' }, s.droppedFrames]],
    );
    this.#counter(
      'onair_auth_denied_total',
      'Publish and play attempts refused by authentication or address rules, by reason.',
      ['reason'],
      (s) => (s.refusals === undefined ? undefined : refusalRows(s.refusals, 'auth_denied')),
    );
    this.#counter(
      'onair_connections_rejected_total',
      'Connections refused by a limit or closed by the server for a fault, by reason.',
      ['reason'],
      (s) =>
        s.refusals === undefined || s.rejections === undefined
          ? undefined
          : rejectedRows(s.refusals, s.rejections),
    );
    this.#hookDuration = new Histogram({
      name: 'onair_hook_duration_seconds',
      help: 'Webhook attempts by hook and result (ok: answered and allowed or 2xx; failed: anything else).',
      labelNames: ['hook', 'result'],
      buckets: HOOK_DURATION_BUCKETS,
      registers,
    });
    // With HLS off, the HLS series read 0.
    this.#gauge('onair_hls_streams', 'Streams with an HLS segmenter now.', [], (s) =>
      s.hls === undefined ? undefined : s.hls === null ? [] : [[{}, s.hls.streams]],
    );
    this.#counter('onair_hls_parts_total', 'LL-HLS parts made.', [], (s) =>
      s.hls === undefined ? undefined : s.hls === null ? [] : [[{}, s.hls.parts]],
    );
    this.#counter('onair_hls_segments_total', 'HLS segments made.', [], (s) =>
      s.hls === undefined ? undefined : s.hls === null ? [] : [[{}, s.hls.segments]],
    );
    this.#gauge(
      'onair_hls_held_requests',
      'HLS requests held now (blocking playlist reloads, preload hints).',
      [],
      (s) => (s.hls === undefined ? undefined : s.hls === null ? [] : [[{}, s.hls.heldRequests]]),
    );
    this.#counter(
      'onair_hls_untracked_requests_total',
      'HLS requests served without a viewer session: its address had hls.maxSessionsPerIp sessions (or the server 100,000), or media was asked for without an allowed playlist request.',
      [],
      (s) =>
        s.hls === undefined ? undefined : s.hls === null ? [] : [[{}, s.hls.untrackedRequests]],
    );
    this.#counter(
      'onair_hls_requests_total',
      'HLS requests received, by kind (playlist, blocking_playlist: with _HLS_msn, part, segment, init); behind a cache, what it passed on.',
      ['kind'],
      (s) => {
        if (s.hls === undefined) return undefined;
        const counts = s.hls?.requests ?? {};
        return HLS_REQUEST_KINDS.map((kind): Row<'kind'> => [{ kind }, counts[kind] ?? 0]);
      },
    );

    this.#gauge(
      'onair_pushes',
      'Restream destinations (streams.<path>.push and the API), by state: connecting, live, backoff, stopped.',
      ['state'],
      (s) => {
        if (s.pushes === undefined) return undefined;
        const byState = new Map<string, number>(PUSH_STATE_LABELS.map((state) => [state, 0]));
        for (const [state, count] of s.pushes?.byState ?? []) add(byState, state, count);
        return rowsOf(byState, 'state');
      },
    );
    this.#counter('onair_push_bytes_total', 'Bytes sent to restream destinations.', [], (s) =>
      s.pushes === undefined ? undefined : [[{}, s.pushes?.bytesPushed ?? 0]],
    );
    const abr =
      (read: (a: NonNullable<Snapshot['abr']>) => number) =>
      (s: Snapshot): Row<never>[] | undefined =>
        s.abr === undefined ? undefined : [[{}, s.abr ? read(s.abr) : 0]];
    this.#gauge(
      'onair_abr_ladders',
      'ABR ladders (one ffmpeg each) of the streams live now.',
      [],
      abr((a) => a.ladders),
    );
    this.#counter(
      'onair_abr_restarts_total',
      'ABR ladder ffmpeg processes started again after one exited while its stream was live.',
      [],
      abr((a) => a.restarts),
    );
    this.#counter(
      'onair_abr_cpu_seconds_total',
      "CPU seconds (user + system) used by the ABR ladders' ffmpeg processes.",
      [],
      abr((a) => a.cpuSeconds),
    );
    this.#gauge(
      'onair_abr_speed_min',
      "The lowest speed a running ABR ladder's ffmpeg reports (1: real time; below 1 it falls behind).",
      [],
      (s) =>
        s.abr?.minSpeed == null ? (s.abr === undefined ? undefined : []) : [[{}, s.abr.minSpeed]],
    );

    const recording = (
      read: (r: NonNullable<Snapshot['recording']>) => number,
    ): ((s: Snapshot) => Row<never>[] | undefined) => {
      return (s) =>
        s.recording === undefined ? undefined : [[{}, s.recording ? read(s.recording) : 0]];
    };
    this.#counter(
      'onair_recording_bytes_written_total',
      'Bytes written to recording files.',
      [],
      recording((r) => r.bytesWritten),
    );
    this.#gauge(
      'onair_recording_files_open',
      'Recording files being written now.',
      [],
      recording((r) => r.filesOpen),
    );
    this.#gauge(
      'onair_recording_queued_bytes',
      'Recording bytes waiting for the disk (bounded by recording.maxQueuedBytes).',
      [],
      recording((r) => r.queuedBytes),
    );
    this.#counter(
      'onair_recording_errors_total',
      'Recordings stopped by an error: a write that failed, a disk too slow (queue full), or too little free space.',
      [],
      recording((r) => r.writeErrors),
    );
    this.#counter(
      'onair_recording_files_deleted_total',
      'Recording files deleted by retention (recording.maxAgeDays, maxBytes, maxBytesPerStream).',
      [],
      recording((r) => r.filesDeleted),
    );
    this.#gauge(
      'onair_recording_disk_full',
      '1 while recording is stopped because free space is under recording.minFreeBytes.',
      [],
      recording((r) => (r.diskFull ? 1 : 0)),
    );

    const webrtc = (s: Snapshot) => s.webrtc;
    this.#counter(
      'onair_webrtc_nacked_packets_total',
      "Video packets WebRTC viewers asked again for (NACK), by result: retransmitted, unavailable (no longer held), over_budget (over the viewer's retransmit budget).",
      ['result'],
      (s) => {
        const w = webrtc(s);
        if (w === undefined) return undefined;
        return [
          [{ result: 'retransmitted' }, w?.retransmittedPackets ?? 0],
          [{ result: 'unavailable' }, w?.unavailablePackets ?? 0],
          [{ result: 'over_budget' }, w?.overBudgetPackets ?? 0],
        ];
      },
    );
    this.#counter(
      'onair_webrtc_retransmitted_bytes_total',
      'RTP bytes sent again to WebRTC viewers for their NACKs.',
      [],
      (s) => {
        const w = webrtc(s);
        return w === undefined ? undefined : [[{}, w?.retransmittedBytes ?? 0]];
      },
    );
    this.#counter(
      'onair_webrtc_keyframe_requests_total',
      "Keyframe requests from WebRTC viewers, by kind (pli, fir); answered by the stream's next keyframe, never passed to the publisher.",
      ['kind'],
      (s) => {
        const w = webrtc(s);
        if (w === undefined) return undefined;
        return [
          [{ kind: 'pli' }, w?.pli ?? 0],
          [{ kind: 'fir' }, w?.fir ?? 0],
        ];
      },
    );
    this.#gauge(
      'onair_webrtc_ice_tcp_connections',
      'ICE-over-TCP connections open now (webrtc.tcpPort), each relayed to the WebRTC UDP port.',
      [],
      (s) => (s.iceTcpConnections === undefined ? undefined : [[{}, s.iceTcpConnections]]),
    );
    const srt = (s: Snapshot): SrtFigures | undefined => s.srt ?? undefined;
    this.#gauge(
      'onair_srt_connections',
      'SRT connections open now (publishers and players).',
      [],
      (s) => {
        const f = srt(s);
        return f === undefined ? undefined : [[{}, f.connections]];
      },
    );
    this.#gauge(
      'onair_srt_rtt_max_seconds',
      'The largest round-trip time libsrt measures on the SRT connections open now.',
      [],
      (s) => {
        const f = srt(s);
        return f === undefined ? undefined : [[{}, f.rttMsMax / 1000]];
      },
    );
    this.#gauge(
      'onair_srt_receive_buffer_max_seconds',
      "The fullest SRT receive buffer now (media held for the latency window): near srt.latencyMs, a publisher's link is at its limit.",
      [],
      (s) => {
        const f = srt(s);
        return f === undefined ? undefined : [[{}, f.receiveBufferMsMax / 1000]];
      },
    );
    this.#counter(
      'onair_srt_packets_total',
      'SRT loss recovery, by event: lost (a gap libsrt saw on receive), retransmitted (sent again by onair), dropped_receive (never repaired within the latency), dropped_send (too late to send).',
      ['event'],
      (s) => {
        const f = srt(s);
        if (f === undefined) return undefined;
        return [
          [{ event: 'lost' }, f.packetsReceivedLost],
          [{ event: 'retransmitted' }, f.packetsRetransmitted],
          [{ event: 'dropped_receive' }, f.packetsReceivedDropped],
          [{ event: 'dropped_send' }, f.packetsSentDropped],
        ];
      },
    );
    this.#counter(
      'onair_hook_notifications_dropped_total',
      'Hook notifications not delivered: their queue had no fair room (a flood of sessions ending), or a shutdown cut them off.',
      ['hook'],
      (s) => (s.hookDrops === undefined ? undefined : hookDropRows(s.hookDrops)),
    );
    this.#counter(
      'onair_analytics_dropped_sessions_total',
      'Ended sessions not recorded in the analytics because its write queue was full.',
      [],
      (s) => (s.analyticsDropped === undefined ? undefined : [[{}, s.analyticsDropped]]),
    );

    // Event-loop lag and the heap are prom-client's nodejs_eventloop_lag_* and nodejs_heap_*.
    const proc = (s: Snapshot) => (s.process === undefined ? undefined : s.process);
    this.#gauge(
      'onair_memory_budget_bytes',
      'The memory budget (limits.maxMemoryMB, or 75% of the heap limit).',
      [],
      (s) => {
        const p = proc(s);
        return p === undefined ? undefined : p === null ? [] : [[{}, p.memoryBudgetBytes]];
      },
    );
    this.#gauge(
      'onair_memory_used_bytes',
      'What the memory budget counts: the JS heap in use plus buffers outside it.',
      [],
      (s) => {
        const p = proc(s);
        return p === undefined ? undefined : p === null ? [] : [[{}, p.memoryUsedBytes]];
      },
    );
    this.#gauge(
      'onair_memory_over_budget',
      '1 while over the memory budget (new publishers and viewers are refused), else 0.',
      [],
      (s) => {
        const p = proc(s);
        return p === undefined ? undefined : [[{}, p?.overMemoryBudget === true ? 1 : 0]];
      },
    );
    this.#counter(
      'onair_unhandled_rejections_total',
      'Promise rejections nobody handled (each is a bug, logged with its stack).',
      [],
      (s) => {
        const p = proc(s);
        return p === undefined ? undefined : [[{}, p?.unhandledRejections ?? 0]];
      },
    );

    // Stream names are chosen by clients, so a `stream` label has unbounded cardinality: these
    // series are opt-in and capped to the perStreamSeries streams with the most viewers. When
    // 0, they are not registered at all.
    if (perStreamSeries > 0) {
      const top = (s: Snapshot) =>
        s.streams === undefined ? undefined : topStreams(s.streams, perStreamSeries);
      this.#gauge(
        'onair_stream_viewers',
        `Viewers of a stream now (only the ${perStreamSeries} streams with the most viewers).`,
        ['stream'],
        (s) => top(s)?.map((t): Row<'stream'> => [{ stream: t.path }, t.viewers]),
      );
      this.#gauge(
        'onair_stream_ingest_bits_per_second',
        `Ingest bitrate of a stream (only the ${perStreamSeries} streams with the most viewers).`,
        ['stream'],
        (s) => top(s)?.map((t): Row<'stream'> => [{ stream: t.path }, t.ingestKbps * 1000]),
      );
    }
  }

  /** Records one webhook attempt (for WebhookClient's onResult). */
  observeHook(action: string, durationMs: number, ok: boolean): void {
    this.#hookDuration.observe(
      { hook: hookLabel(action), result: ok ? 'ok' : 'failed' },
      nonNegative(durationMs) / 1000,
    );
  }

  /** Reads the sources once and renders them as prom-client JSON (a worker, for its primary). */
  async renderJson(): Promise<unknown[]> {
    this.#snapshot = this.#read();
    try {
      return await this.#registry.getMetricsAsJSON();
    } finally {
      this.#snapshot = null;
    }
  }

  /** Reads the sources once and renders the exposition text, with its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.#snapshot = this.#read();
    try {
      const body = await this.#registry.metrics();
      return { contentType: this.#registry.contentType, body };
    } finally {
      this.#snapshot = null;
    }
  }

  #read(): Snapshot {
    const sources = this.#sources;
    const sessions = sources.sessions;
    return {
      liveStreams: this.#try(() => sources.liveStreams()),
      bFrameStreams: this.#try(() => sources.bFrameStreams?.() ?? 0),
      publishers: this.#try(() => sessions.publishers),
      viewersByProtocol: this.#try(() => {
        const counts = new Map<string, number>(VIEWER_PROTOCOLS.map((p) => [p, 0]));
        for (const session of sessions.list()) {
          if (session.role === 'viewer') add(counts, protocolLabel(session.protocol), 1);
        }
        return counts;
      }),
      bytes: this.#try(() => sessions.bytesTotals()),
      droppedFrames: this.#try(() => sessions.droppedFramesTotal()),
      refusals: this.#try(() => sources.refusals()),
      rejections: this.#try(() => sources.connectionRejections()),
      hls: this.#try(() => sources.hls()),
      streams: this.#try(() => sources.streams()),
      process: this.#try(() => sources.process?.() ?? null),
      analyticsDropped: this.#try(() => sources.analyticsDropped()),
      hookDrops: this.#try(() => sources.hookNotificationsDropped?.() ?? new Map()),
      recording: this.#try(() => sources.recording?.() ?? null),
      webrtc: this.#try(() => sources.webrtc?.() ?? null),
      iceTcpConnections: this.#try(() => sources.iceTcpConnections?.() ?? 0),
      srt: this.#try(() => sources.srt?.() ?? null),
      pushes: this.#try(() => sources.pushes?.() ?? null),
      abr: this.#try(() => sources.abr?.() ?? null),
    };
  }

  #try<T>(read: () => T): T | undefined {
    try {
      return read();
    } catch {
      this.#sourceErrors.inc();
      return undefined;
    }
  }

  /** A gauge set from the snapshot at scrape time; `rows` undefined: keep the last values. */
  #gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    rows: (snapshot: Snapshot) => readonly Row<L>[] | undefined,
  ): void {
    const gauge: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.#registry],
      collect: () => {
        const current = this.#snapshot === null ? undefined : rows(this.#snapshot);
        if (current === undefined) return;
        gauge.reset();
        for (const [labels, value] of current) {
          gauge.set(labels, Number.isFinite(value) ? value : 0);
        }
      },
    });
  }

  /** A counter mirroring totals from the snapshot (reset + inc); undefined: keep the last. */
  #counter<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    rows: (snapshot: Snapshot) => readonly Row<L>[] | undefined,
  ): void {
    const counter: Counter<L> = new Counter<L>({
      name,
      help,
      labelNames,
      registers: [this.#registry],
      collect: () => {
        const current = this.#snapshot === null ? undefined : rows(this.#snapshot);
        if (current === undefined) return;
        counter.reset();
        for (const [labels, value] of current) counter.inc(labels, nonNegative(value));
      },
    });
  }
}

/** Notification drops by hook, both notification hooks present at 0, other keys as `other`. */
function hookDropRows(drops: ReadonlyMap<string, number>): Row<'hook'>[] {
  const sums = new Map<string, number>([
    ['on_unpublish', 0],
    ['on_stop', 0],
  ]);
  for (const [action, count] of drops) add(sums, hookLabel(action), count);
  return rowsOf(sums, 'hook');
}

/** One row per map entry, the key as label `name`. */
function rowsOf<L extends string>(values: ReadonlyMap<string, number>, name: L): Row<L>[] {
  return [...values].map(([key, value]): Row<L> => [{ [name]: key } as Record<L, string>, value]);
}

/** Byte totals of one role by protocol, the known protocols of that role present at 0. */
function bytesRows(
  totals: ReadonlyMap<string, number>,
  role: 'publisher' | 'viewer',
): Row<'protocol'>[] {
  const known: readonly string[] = role === 'viewer' ? VIEWER_PROTOCOLS : INGEST_PROTOCOLS;
  const sums = new Map<string, number>(known.map((p) => [p, 0]));
  for (const [key, bytes] of totals) {
    const colon = key.indexOf(':');
    if (key.slice(0, colon) === role) add(sums, protocolLabel(key.slice(colon + 1)), bytes);
  }
  return rowsOf(sums, 'protocol');
}

/** Refusals of one kind by reason label, the known reasons (and `other`) present at 0. */
function refusalRows(
  refusals: ReadonlyMap<string, number>,
  metric: 'auth_denied' | 'connections_rejected',
): Row<'reason'>[] {
  const labels = metric === 'auth_denied' ? AUTH_LABELS : LIMIT_LABELS;
  const sums = new Map<string, number>([...labels.values(), OTHER_REASON].map((r) => [r, 0]));
  for (const [code, count] of refusals) {
    const where = classifyRefusal(code);
    if (where.metric === metric) add(sums, where.reason, count);
  }
  return rowsOf(sums, 'reason');
}

/** Limit refusals plus the servers' rejections, summed by reason label. */
function rejectedRows(
  refusals: ReadonlyMap<string, number>,
  rejections: ReadonlyMap<string, number>,
): Row<'reason'>[] {
  const sums = new Map<string, number>();
  for (const [labels, value] of refusalRows(refusals, 'connections_rejected')) {
    add(sums, labels.reason ?? OTHER_REASON, value);
  }
  for (const [code, count] of rejections) {
    const reason = rejectionReason(code);
    if (reason !== null) add(sums, reason, count);
  }
  return rowsOf(sums, 'reason');
}

/** The `limit` streams with the most viewers (ties by path, so the choice is stable). */
function topStreams(
  streams: ReturnType<MetricsSources['streams']>,
  limit: number,
): ReturnType<MetricsSources['streams']> {
  return [...streams]
    .sort((a, b) => b.viewers - a.viewers || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .slice(0, limit);
}
