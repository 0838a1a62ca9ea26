// The JSON a load generator run writes (bench/load.ts --json) and the orchestrator reads back.
import type { HlsFigures } from './hls-figures.ts';
import type { Distribution, LatencySummary } from './latency-histogram.ts';
import type { LoadOptions } from './load-options.ts';

/** Server figures from /proc over the steady window. */
export interface ServerFigures {
  readonly pids: readonly number[];
  /** utime+stime of the pid tree over the steady window, % of one core. */
  readonly cpuPct: number;
  /** With several --server-pid roots: cpuPct of each root's tree, in their order. */
  readonly cpuPctByRoot?: readonly number[];
  /** RSS with the publisher only, just before the first viewer. */
  readonly rssBaselineMB: number;
  readonly rssSteadyAvgMB: number | null;
  readonly rssPeakMB: number;
  readonly rssEndMB: number;
  /** (steady average RSS - baseline) / viewers, in KB. */
  readonly rssPerViewerKB: number | null;
}

/** One stalled viewer at the end of the run. */
export interface SlowViewerFigures {
  readonly index: number;
  readonly gotKeyframe: boolean;
  /** Our socket state, and the server's socket state, from /proc/net/tcp (GONE: no socket). */
  readonly ourState: string;
  readonly serverState: string;
  /** Bytes the server's kernel still holds for us, and bytes in our receive queue. */
  readonly serverSendQueueKB: number;
  readonly ourReceiveQueueKB: number;
  /** Seconds from the pause until the server closed its side, if it did. */
  readonly serverClosedAfterS: number | null;
}

/** One row per second of the run. */
export interface TimelineRow {
  readonly t: number;
  readonly started: number;
  readonly viewersOk: number;
  readonly serverCpuPct: number | null;
  readonly serverRssMB: number | null;
  readonly benchCpuPct: number;
  readonly slowOpen?: number;
  readonly slowServerSendQueueKB?: number;
}

/** Everything a run measured. */
export interface LoadResult {
  readonly tool: 'onair-bench-load';
  readonly label: string;
  readonly date: string;
  readonly config: LoadOptions;
  readonly steadyWindowS: number;
  readonly publisher: {
    readonly mediaKbps: number;
    readonly videoFrames: number;
    readonly audioFrames: number;
    readonly maxLateMs: number;
    readonly maxQueuedKB: number;
    readonly error: string | null;
  };
  readonly viewers: {
    readonly requested: number;
    readonly connected: number;
    readonly failed: number;
    readonly closedByServer: number;
    readonly keepingUp: number;
    readonly keepingUpPct: number | null;
  };
  /** RTMP/HTTP-FLV: connect -> first keyframe; HLS: connect -> first part or segment received. */
  readonly startupMs: Distribution;
  /** RTMP/HTTP-FLV: send -> receipt of each frame; HLS: delivery of parts/segments (`hls`). */
  readonly latencyMs: {
    readonly steady: LatencySummary;
    readonly all: LatencySummary;
    readonly matchedPct: number | null;
    readonly rebasedViewers: number;
    /** Latency of the probe viewers (worker thread): the server's part, without our queueing. */
    readonly probes: {
      readonly count: number;
      readonly steady: LatencySummary;
      readonly all: LatencySummary;
      readonly startupMs: Distribution;
      readonly errors: Record<string, number>;
      readonly nice: number | null;
      /** Each probe's mean latency, first joiner first (a rising line: fan-out order costs). */
      readonly meanMsInJoinOrder: readonly (number | null)[];
    } | null;
  };
  readonly lagAtEndMs: Distribution;
  readonly keepRatio: Distribution;
  readonly viewerKbps: Distribution;
  /** Media payload bytes all viewers received in the steady window, per second, in Gbit/s. */
  readonly deliveredGbps: number;
  readonly server: ServerFigures | null;
  readonly bench: {
    readonly cpuPct: number;
    readonly eventLoopDelayP99Ms: number | null;
    readonly eventLoopDelayMaxMs: number | null;
    readonly rssMB: number;
  };
  readonly machineBusyPct: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly slowViewers: readonly SlowViewerFigures[];
  /** HLS viewers only: stalls, requests, what the delivery latency measured. */
  readonly hls: HlsFigures | null;
  readonly timeline: readonly TimelineRow[];
}
