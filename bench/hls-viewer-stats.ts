// Per-viewer accounting of the HLS viewers: a playhead model for stalls, the delivery latency of
// parts and segments against the publisher's send log, request and byte counts; then the run's figures.
import { round2 } from './latency-histogram.ts';
import type { SentFrame } from './publisher.ts';
import type { LoadContext, LoadViewerStats, ViewerResult } from './viewer-stats.ts';

/** Shortfalls up to this are rounding (playlist durations have 5 decimals), not stalls. */
const STALL_TOLERANCE_MS = 1;

/** A time window, in the load's clock. */
export interface TimeWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * The playback of one viewer: starts when its first media arrives, then plays in real time; a
 * stall is the clock passing the end of the media received (its length is added to the stall time).
 */
export class Playhead {
  startedAtMs: number | null = null;
  mediaMs = 0;
  stalls = 0;
  stallMs = 0;
  /** Stalls and stall time inside the window given to account(). */
  windowStalls = 0;
  windowStallMs = 0;

  /** Media of `durationMs` fully received at `nowMs`; the first media starts playback. */
  add(durationMs: number, nowMs: number, window: TimeWindow): void {
    if (this.startedAtMs === null) this.startedAtMs = nowMs;
    else this.account(nowMs, window);
    this.mediaMs += durationMs;
  }

  /** Accounts a stall that ended by `nowMs` (call at each receipt and at the end). */
  account(nowMs: number, window: TimeWindow): void {
    if (this.startedAtMs === null) return;
    const shortMs = nowMs - this.startedAtMs - this.stallMs - this.mediaMs;
    if (shortMs <= STALL_TOLERANCE_MS) return;
    this.stalls++;
    this.stallMs += shortMs;
    const overlapMs = Math.min(nowMs, window.endMs) - Math.max(nowMs - shortMs, window.startMs);
    if (overlapMs > 0) {
      this.windowStalls++;
      this.windowStallMs += overlapMs;
    }
  }

  /** Media received and not yet played at `nowMs`. */
  bufferedMs(nowMs: number): number {
    if (this.startedAtMs === null) return 0;
    return Math.max(0, this.mediaMs - (nowMs - this.startedAtMs - this.stallMs));
  }
}

/** The player model a viewer chose from its first playlist. */
export type HlsMode = 'll-hls' | 'hls';

/** What one HLS viewer measured (a ViewerResult, keeping up = no stall in the steady window). */
export interface HlsViewerResult extends ViewerResult {
  readonly mode: HlsMode | null;
  readonly stalls: number;
  readonly stallMs: number;
  readonly windowStalls: number;
  readonly windowStallMs: number;
  readonly playlists: number;
  readonly blockingPlaylists: number;
  readonly parts: number;
  readonly segments: number;
  readonly failedRequests: number;
  readonly connects: number;
  readonly playlistBytes: number;
  /** Requests answered in the steady window, playlists among them, and their bytes. */
  readonly steadyRequests: number;
  readonly steadyPlaylists: number;
  readonly steadyPlaylistBytes: number;
  /** Media given up because it left the playlist before this viewer fetched it. */
  readonly skippedMs: number;
  /** MPEG-TS first DTS minus the matched keyframe's RTMP timestamp (the muxer's offset). */
  readonly tsOffsetMs: number | null;
}

/** Accounting for one HLS viewer. `firstKeyframeAtMs` is its playback start. */
export class HlsViewerStats implements LoadViewerStats {
  readonly index: number;
  readonly slow = false;
  readonly playhead = new Playhead();
  connectStartMs = 0;
  firstKeyframeAtMs = 0;
  closedAtMs = 0;
  error: string | null = null;
  mode: HlsMode | null = null;
  playlists = 0;
  blockingPlaylists = 0;
  parts = 0;
  segments = 0;
  failedRequests = 0;
  connects = 0;
  playlistBytes = 0;
  skippedMs = 0;
  tsOffsetMs: number | null = null;
  steadyRequests = 0;
  steadyPlaylists = 0;
  steadyPlaylistBytes = 0;
  readonly #ctx: LoadContext;
  readonly #window: TimeWindow;
  #mediaBytes = 0;
  #steadyBytes = 0;
  #matched = 0;
  #unmatched = 0;
  #latencySumMs = 0;
  #latencyCount = 0;
  #latencyMaxMs = 0;
  #newestSentAtMs = 0;
  #done = false;

  constructor(index: number, ctx: LoadContext) {
    this.index = index;
    this.#ctx = ctx;
    this.#window = {
      get startMs() {
        return ctx.steadyStartMs;
      },
      get endMs() {
        return ctx.endMs;
      },
    };
  }

  /** Marks the TCP connect start. */
  connecting(): void {
    this.connectStartMs = this.#ctx.now();
  }

  /** One answered request (any status); counted per steady window too. */
  answered(playlist: boolean, sizeBytes: number, nowMs: number): void {
    if (playlist) {
      this.playlists++;
      this.playlistBytes += sizeBytes;
    }
    if (nowMs < this.#ctx.steadyStartMs || nowMs > this.#ctx.endMs) return;
    this.steadyRequests++;
    if (playlist) {
      this.steadyPlaylists++;
      this.steadyPlaylistBytes += sizeBytes;
    }
  }

  /** Media body bytes (parts, segments, init) as they arrive. */
  countBytes(sizeBytes: number, nowMs: number): void {
    this.#mediaBytes += sizeBytes;
    if (nowMs >= this.#ctx.steadyStartMs && nowMs <= this.#ctx.endMs)
      this.#steadyBytes += sizeBytes;
  }

  /** A part or segment of `durationS` fully received: playback starts or continues. */
  played(durationS: number, nowMs: number): void {
    if (this.firstKeyframeAtMs === 0) this.firstKeyframeAtMs = nowMs;
    this.playhead.add(durationS * 1000, nowMs, this.#window);
  }

  /**
   * A part or segment fetched as it appeared, fully received at `nowMs`: its delivery latency is
   * `nowMs` minus the send time of `sent` (the part's last video frame, or the segment's first).
   * `sent` undefined: no matching frame in the send log.
   */
  delivered(sent: SentFrame | undefined, nowMs: number): void {
    if (sent === undefined) {
      this.#unmatched++;
      return;
    }
    this.#matched++;
    if (sent.sentAtMs > this.#newestSentAtMs) this.#newestSentAtMs = sent.sentAtMs;
    const latencyMs = nowMs - sent.sentAtMs;
    this.#latencySumMs += latencyMs;
    this.#latencyCount++;
    if (latencyMs > this.#latencyMaxMs) this.#latencyMaxMs = latencyMs;
    const ctx = this.#ctx;
    ctx.latencyAll.add(latencyMs);
    if (sent.sentAtMs >= ctx.steadyStartMs && sent.sentAtMs <= ctx.endMs) {
      ctx.latencySteady.add(latencyMs);
    }
  }

  finish(reason: string | null): void {
    if (this.#done) return;
    this.#done = true;
    if (reason !== null && !this.#ctx.stopping) {
      this.error ??= reason;
      this.closedAtMs = this.#ctx.now();
      this.#ctx.noteError(reason);
    }
  }

  result(): HlsViewerResult {
    const ctx = this.#ctx;
    const endMs = this.closedAtMs > 0 ? this.closedAtMs : ctx.endMs;
    this.playhead.account(endMs, this.#window);
    let startupMs =
      this.firstKeyframeAtMs > 0 ? this.firstKeyframeAtMs - this.connectStartMs : null;
    if (startupMs !== null && startupMs > ctx.startupTimeoutMs) {
      this.error ??= 'startup timeout';
      startupMs = null;
    }
    const windowMs = ctx.endMs - Math.max(ctx.steadyStartMs, this.firstKeyframeAtMs);
    const keepRatio =
      startupMs === null || windowMs <= 0
        ? 0
        : Math.max(0, Math.min(1, 1 - this.playhead.windowStallMs / windowMs));
    const lifeS = startupMs === null ? 0 : (ctx.endMs - this.firstKeyframeAtMs) / 1000;
    return {
      index: this.index,
      slow: false,
      startupMs: startupMs === null ? null : round2(startupMs),
      keepRatio: Math.round(keepRatio * 1e4) / 1e4,
      keepsUp: startupMs !== null && this.closedAtMs === 0 && this.playhead.windowStalls === 0,
      steadyBytes: this.#steadyBytes,
      kbps: lifeS > 0.5 ? Math.round((this.#mediaBytes * 8) / lifeS / 100) / 10 : null,
      lagAtEndMs:
        this.#newestSentAtMs > 0 && this.closedAtMs === 0
          ? round2(Math.max(0, ctx.sendLog.lastSentAtMs - this.#newestSentAtMs))
          : null,
      videoFrames: 0,
      expectedFrames: 0,
      matchedFrames: this.#matched,
      unmatchedFrames: this.#unmatched,
      timestampOffsetMs: this.tsOffsetMs,
      latencyMeanMs: this.#latencyCount ? round2(this.#latencySumMs / this.#latencyCount) : null,
      latencyMaxMs: this.#latencyCount ? round2(this.#latencyMaxMs) : null,
      error: this.error,
      mode: this.mode,
      stalls: this.playhead.stalls,
      stallMs: round2(this.playhead.stallMs),
      windowStalls: this.playhead.windowStalls,
      windowStallMs: round2(this.playhead.windowStallMs),
      playlists: this.playlists,
      blockingPlaylists: this.blockingPlaylists,
      parts: this.parts,
      segments: this.segments,
      failedRequests: this.failedRequests,
      connects: this.connects,
      playlistBytes: this.playlistBytes,
      steadyRequests: this.steadyRequests,
      steadyPlaylists: this.steadyPlaylists,
      steadyPlaylistBytes: this.steadyPlaylistBytes,
      skippedMs: round2(this.skippedMs),
      tsOffsetMs: this.tsOffsetMs,
    };
  }
}
