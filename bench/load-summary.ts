// A few readable lines about one load result, printed by the load generator and the orchestrator.
import type { LoadResult } from './load-result.ts';

/** One-paragraph summary of a result for the terminal. */
export function summarize(r: LoadResult): string {
  const s = r.server;
  const l = r.latencyMs.steady;
  return [
    `== ${r.label || r.config.kind} x${r.viewers.requested} (steady ${r.steadyWindowS} s)`,
    `viewers   connected ${r.viewers.connected}, failed ${r.viewers.failed}, closed ${r.viewers.closedByServer}, keeping up ${r.viewers.keepingUp} (${r.viewers.keepingUpPct}%)`,
    `startup   p50 ${r.startupMs.p50} p95 ${r.startupMs.p95} max ${r.startupMs.max} ms`,
    `latency   p50 ${l.p50Ms} p99 ${l.p99Ms} max ${l.maxMs} ms (${l.samples} samples, matched ${r.latencyMs.matchedPct}%)`,
    r.latencyMs.probes
      ? `probes    latency p50 ${r.latencyMs.probes.steady.p50Ms} p99 ${r.latencyMs.probes.steady.p99Ms} max ${r.latencyMs.probes.steady.maxMs} ms (${r.latencyMs.probes.count} probe viewers on a worker thread, ${r.latencyMs.probes.steady.samples} samples)`
      : '',
    `delivered ${r.deliveredGbps} Gbps; publisher ${r.publisher.mediaKbps} kbps, max late ${r.publisher.maxLateMs} ms${r.publisher.error ? `, ERROR ${r.publisher.error}` : ''}`,
    s
      ? `server    cpu ${s.cpuPct}% rss baseline ${s.rssBaselineMB} MB steady ${s.rssSteadyAvgMB} MB peak ${s.rssPeakMB} MB (${s.rssPerViewerKB} KB/viewer)`
      : 'server    not sampled',
    `bench     cpu ${r.bench.cpuPct}%, event-loop delay p99 ${r.bench.eventLoopDelayP99Ms} ms; machine ${JSON.stringify(r.machineBusyPct)}`,
    ...r.slowViewers.map(
      (v) =>
        `stalled   #${v.index}: ours ${v.ourState} / server ${v.serverState}, server send-q ${v.serverSendQueueKB} KB, closed after ${v.serverClosedAfterS ?? '-'} s`,
    ),
    r.hls
      ? `hls       ${r.hls.mode} (delivery: ${r.hls.deliveryMeasure}, matched ${r.hls.deliveryMatchedPct}%), no stall ${r.hls.viewersWithoutStallPct}% (${r.hls.windowStalls} stalls, ${r.hls.windowStallS} s), ${r.hls.requestsPerS} req/s (${r.hls.playlistsPerS} playlists/s, ${r.hls.playlistMbps} Mbit/s), failed ${r.hls.failedRequests}, reconnects ${r.hls.reconnects}, skipped ${r.hls.skippedS} s${r.hls.tsOffsetMs === null ? '' : `, TS offset ${r.hls.tsOffsetMs} ms`}`
      : '',
    Object.keys(r.errors).length ? `errors    ${JSON.stringify(r.errors)}` : '',
  ]
    .filter((line) => line !== '')
    .join('\n');
}
