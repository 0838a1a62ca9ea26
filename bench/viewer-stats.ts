// Per-viewer accounting shared by RTMP and HTTP-FLV viewers: startup, latency (receive time minus
// the send time of the same video frame), keep-up ratio over the steady window, bytes delivered.
import { isSequenceHeader } from './flv-source.ts';
import { LatencyHistogram, round2 } from './latency-histogram.ts';
import type { SendLookup } from './publisher.ts';

/** Frames sent this close to the end are not yet required to have arrived. */
const KEEP_UP_GRACE_MS = 500;
/** A viewer keeps up when it received at least this share of the frames sent in its window. */
export const KEEP_UP_RATIO = 0.95;

/** State shared by all viewers of one run. */
export class LoadContext {
  readonly sendLog: SendLookup;
  /** The clock of `sendLog` send times: performance.now() in the main thread, monoMs() in probes. */
  readonly now: () => number;
  /** Latencies of frames sent inside the steady window. */
  readonly latencySteady = new LatencyHistogram();
  /** Latencies of every frame sent after its viewer connected. */
  readonly latencyAll = new LatencyHistogram();
  readonly errors = new Map<string, number>();
  readonly startupTimeoutMs: number;
  steadyStartMs = Infinity;
  endMs = Infinity;
  stopping = false;

  constructor(options: { sendLog: SendLookup; startupTimeoutMs: number; now: () => number }) {
    this.sendLog = options.sendLog;
    this.startupTimeoutMs = options.startupTimeoutMs;
    this.now = options.now;
  }

  /** Counts one error by message. */
  noteError(message: string): void {
    this.errors.set(message, (this.errors.get(message) ?? 0) + 1);
  }
}

/** What the load generator reads of any viewer's accounting (FLV, RTMP or HLS). */
export interface LoadViewerStats {
  readonly index: number;
  readonly slow: boolean;
  /** When the viewer started connecting (startup is measured from here). */
  readonly connectStartMs: number;
  /** First keyframe received (RTMP, HTTP-FLV) or playback start (HLS); 0 before. */
  readonly firstKeyframeAtMs: number;
  /** When the server closed it or it failed; 0 while it plays. */
  readonly closedAtMs: number;
  /** The connection ended; `reason` is recorded unless the run is stopping. */
  finish(reason: string | null): void;
  /** The figures at the end of the run. */
  result(): ViewerResult;
}

/** What one viewer measured. */
export interface ViewerResult {
  readonly index: number;
  readonly slow: boolean;
  readonly startupMs: number | null;
  readonly keepRatio: number;
  readonly keepsUp: boolean;
  /** Media payload bytes received inside the steady window. */
  readonly steadyBytes: number;
  readonly kbps: number | null;
  /** Newest published frame minus the newest frame this viewer had, at the end (send times). */
  readonly lagAtEndMs: number | null;
  readonly videoFrames: number;
  readonly expectedFrames: number;
  readonly matchedFrames: number;
  readonly unmatchedFrames: number;
  readonly timestampOffsetMs: number | null;
  /** Mean and largest latency of this viewer's frames (sent after it connected). */
  readonly latencyMeanMs: number | null;
  readonly latencyMaxMs: number | null;
  readonly error: string | null;
}

/** Accounting for one viewer; the transport calls onVideo/onAudio with payloads as they arrive. */
export class ViewerStats implements LoadViewerStats {
  readonly index: number;
  readonly slow: boolean;
  readonly #ctx: LoadContext;
  connectStartMs = 0;
  firstKeyframeAtMs = 0;
  closedAtMs = 0;
  error: string | null = null;
  #windowStartMs = 0;
  #mediaBytes = 0;
  #steadyBytes = 0;
  #videoFrames = 0;
  #framesInWindow = 0;
  #matched = 0;
  #unmatched = 0;
  #newestSentAtMs = 0;
  #offsetMs: number | null = null;
  #latencySumMs = 0;
  #latencyCount = 0;
  #latencyMaxMs = 0;
  #done = false;

  constructor(index: number, slow: boolean, ctx: LoadContext) {
    this.index = index;
    this.slow = slow;
    this.#ctx = ctx;
  }

  /** Marks the TCP connect start (startup is measured from here). */
  connecting(): void {
    this.connectStartMs = this.#ctx.now();
  }

  /** One video message; returns true when it is this viewer's first keyframe. */
  onVideo(timestampMs: number, payload: Buffer, nowMs: number): boolean {
    this.#count(payload.length, nowMs);
    if (payload.length < 2 || isSequenceHeader(9, payload)) return false;
    const b0 = payload[0] ?? 0;
    if ((b0 & 0x0f) === 7 && payload[1] === 2) return false; // AVC end of sequence
    const keyframe = b0 >> 4 === 1;
    this.#videoFrames++;
    const log = this.#ctx.sendLog;
    let sent = log.get(
      this.#offsetMs === null ? timestampMs : (timestampMs + this.#offsetMs) >>> 0,
    );
    if (sent !== undefined && sent.sizeBytes !== payload.length) sent = undefined;
    if (sent === undefined && this.#offsetMs === null) {
      // The server rebased timestamps: calibrate once on a frame whose size is unique.
      const candidates = log.recentLike(payload.length, keyframe);
      if (candidates.length === 1 && candidates[0]) {
        sent = candidates[0];
        this.#offsetMs = (sent.timestampMs - timestampMs) | 0;
      }
    }
    let first = false;
    if (keyframe && this.firstKeyframeAtMs === 0) {
      first = true;
      this.firstKeyframeAtMs = nowMs;
      this.#windowStartMs = Math.max(this.connectStartMs, sent?.sentAtMs ?? nowMs);
    }
    if (sent === undefined) {
      this.#unmatched++;
      return first;
    }
    this.#offsetMs ??= 0;
    this.#matched++;
    if (sent.sentAtMs < this.connectStartMs) return first; // GOP cache burst: not a latency
    if (sent.sentAtMs > this.#newestSentAtMs) this.#newestSentAtMs = sent.sentAtMs;
    const ctx = this.#ctx;
    if (this.firstKeyframeAtMs > 0 && sent.sentAtMs >= this.#keepWindowStart()) {
      if (sent.sentAtMs <= ctx.endMs - KEEP_UP_GRACE_MS) this.#framesInWindow++;
    }
    const latencyMs = nowMs - sent.sentAtMs;
    this.#latencySumMs += latencyMs;
    this.#latencyCount++;
    if (latencyMs > this.#latencyMaxMs) this.#latencyMaxMs = latencyMs;
    ctx.latencyAll.add(latencyMs);
    if (sent.sentAtMs >= ctx.steadyStartMs && sent.sentAtMs <= ctx.endMs) {
      ctx.latencySteady.add(latencyMs);
    }
    return first;
  }

  /** One audio message. */
  onAudio(sizeBytes: number, nowMs: number): void {
    this.#count(sizeBytes, nowMs);
  }

  /** The connection ended; `reason` is recorded unless the run is stopping. */
  finish(reason: string | null): void {
    if (this.#done) return;
    this.#done = true;
    if (reason !== null && !this.#ctx.stopping) {
      this.error ??= reason;
      this.closedAtMs = this.#ctx.now();
      this.#ctx.noteError(reason);
    }
  }

  /** The figures of this viewer at the end of the run. */
  result(): ViewerResult {
    const ctx = this.#ctx;
    let startupMs =
      this.firstKeyframeAtMs > 0 ? this.firstKeyframeAtMs - this.connectStartMs : null;
    if (startupMs !== null && startupMs > ctx.startupTimeoutMs) {
      this.error ??= 'startup timeout';
      startupMs = null;
    }
    const expected =
      startupMs === null
        ? ctx.sendLog.sentBetween(Math.max(this.connectStartMs, ctx.steadyStartMs), ctx.endMs)
        : ctx.sendLog.sentBetween(this.#keepWindowStart(), ctx.endMs - KEEP_UP_GRACE_MS);
    const keepRatio =
      startupMs === null || expected === 0 ? 0 : Math.min(1, this.#framesInWindow / expected);
    const lifeS = startupMs === null ? 0 : (ctx.endMs - this.firstKeyframeAtMs) / 1000;
    return {
      index: this.index,
      slow: this.slow,
      startupMs: startupMs === null ? null : round2(startupMs),
      keepRatio: Math.round(keepRatio * 1e4) / 1e4,
      keepsUp:
        !this.slow && startupMs !== null && this.closedAtMs === 0 && keepRatio >= KEEP_UP_RATIO,
      steadyBytes: this.#steadyBytes,
      kbps: lifeS > 0.5 ? Math.round((this.#mediaBytes * 8) / lifeS / 100) / 10 : null,
      lagAtEndMs:
        this.#newestSentAtMs > 0 && this.closedAtMs === 0
          ? round2(Math.max(0, ctx.sendLog.lastSentAtMs - this.#newestSentAtMs))
          : null,
      videoFrames: this.#videoFrames,
      expectedFrames: expected,
      matchedFrames: this.#matched,
      unmatchedFrames: this.#unmatched,
      timestampOffsetMs: this.#offsetMs,
      latencyMeanMs: this.#latencyCount ? round2(this.#latencySumMs / this.#latencyCount) : null,
      latencyMaxMs: this.#latencyCount ? round2(this.#latencyMaxMs) : null,
      error: this.error,
    };
  }

  /** The keep-up window starts at the steady window, or later at this viewer's first media. */
  #keepWindowStart(): number {
    return Math.max(this.#windowStartMs, this.#ctx.steadyStartMs);
  }

  #count(sizeBytes: number, nowMs: number): void {
    this.#mediaBytes += sizeBytes;
    if (nowMs >= this.#ctx.steadyStartMs && nowMs <= this.#ctx.endMs)
      this.#steadyBytes += sizeBytes;
  }
}
