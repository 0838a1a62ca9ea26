// The HLS part of a load result: stalls, requests and playlist traffic of all HLS viewers over the
// steady window, and what the delivery latency (LoadResult.latencyMs) measured for them.
import { round2 } from './latency-histogram.ts';
import type { HlsMode, HlsViewerResult } from './hls-viewer-stats.ts';

/** What the delivery latency of an HLS run measures. */
export type HlsDeliveryMeasure =
  /** LL-HLS: send of a part's last video frame -> the part fully received. */
  | 'part-last-frame'
  /** Plain HLS: send of the keyframe that starts a segment -> the segment fully received. */
  | 'segment-first-keyframe';

/** HLS figures of one run (`LoadResult.hls`). */
export interface HlsFigures {
  /** The player model the viewers chose from the playlist ('mixed' if they differ). */
  readonly mode: HlsMode | 'mixed' | null;
  readonly deliveryMeasure: HlsDeliveryMeasure | null;
  /** Viewers that played with no stall in the steady window (started, never failed). */
  readonly viewersWithoutStall: number;
  readonly viewersWithoutStallPct: number | null;
  /** Stalls in the steady window, over all viewers, and their total length. */
  readonly windowStalls: number;
  readonly windowStallS: number;
  /** Requests answered per second in the steady window, and the playlists among them. */
  readonly requestsPerS: number;
  readonly playlistsPerS: number;
  /** Playlist bytes delivered in the steady window, Mbit/s (not counted in delivered Gbps). */
  readonly playlistMbps: number;
  readonly blockingPlaylists: number;
  readonly parts: number;
  readonly segments: number;
  readonly failedRequests: number;
  /** TCP connections opened beyond one per viewer (server closed keep-alive, errors). */
  readonly reconnects: number;
  readonly skippedS: number;
  /** Timed parts/segments whose frame was found in the send log, %. */
  readonly deliveryMatchedPct: number | null;
  /** Median MPEG-TS first-DTS offset against the keyframe's RTMP timestamp, ms. */
  readonly tsOffsetMs: number | null;
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1] ?? null;
}

/** Sums the HLS viewers of a run; `steadyS` is the steady window's length. */
export function hlsFigures(results: readonly HlsViewerResult[], steadyS: number): HlsFigures {
  const n = results.length;
  const sum = (pick: (r: HlsViewerResult) => number): number =>
    results.reduce((a, r) => a + pick(r), 0);
  const modes = new Set(results.map((r) => r.mode).filter((m) => m !== null));
  const mode = modes.size === 0 ? null : modes.size > 1 ? 'mixed' : [...modes][0]!;
  const without = results.filter((r) => r.keepsUp).length;
  const matched = sum((r) => r.matchedFrames);
  const timed = matched + sum((r) => r.unmatchedFrames);
  const perS = (value: number): number => (steadyS > 0 ? round2(value / steadyS) : 0);
  return {
    mode,
    deliveryMeasure:
      mode === 'll-hls' ? 'part-last-frame' : mode === 'hls' ? 'segment-first-keyframe' : null,
    viewersWithoutStall: without,
    viewersWithoutStallPct: n ? round2((100 * without) / n) : null,
    windowStalls: sum((r) => r.windowStalls),
    windowStallS: round2(sum((r) => r.windowStallMs) / 1000),
    requestsPerS: perS(sum((r) => r.steadyRequests)),
    playlistsPerS: perS(sum((r) => r.steadyPlaylists)),
    playlistMbps: perS((sum((r) => r.steadyPlaylistBytes) * 8) / 1e6),
    blockingPlaylists: sum((r) => r.blockingPlaylists),
    parts: sum((r) => r.parts),
    segments: sum((r) => r.segments),
    failedRequests: sum((r) => r.failedRequests),
    reconnects: sum((r) => Math.max(0, r.connects - 1)),
    skippedS: round2(sum((r) => r.skippedMs) / 1000),
    deliveryMatchedPct: timed ? round2((100 * matched) / timed) : null,
    tsOffsetMs: median(results.map((r) => r.tsOffsetMs).filter((v): v is number => v !== null)),
  };
}
