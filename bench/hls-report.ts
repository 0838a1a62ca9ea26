// The HLS part of the bench report: onair LL-HLS (and 'compatible' MPEG-TS HLS) against nginx
// serving nginx-rtmp's HLS files, CPU per delivered Gbps, stalls, delivery latency, and the targets.
import type { LoadResult } from './load-result.ts';
import {
  BENCH_BOUND_PCT,
  cpuPerGbps,
  fmt,
  isHlsKind,
  otherLoadPct,
  ratio,
  reference,
  type RunRecord,
} from './report-table.ts';

/** The bound: onair's CPU per delivered Gbps at most this many times nginx's HLS. */
export const HLS_CPU_RATIO_TARGET = 3;
/** The bound on part delivery (last frame sent -> part received), ms. */
export const PART_DELIVERY_TARGET_MS = 500;
/** The viewer count for "no stall on one core". */
export const HLS_VIEWERS_TARGET = 3000;
/** Server CPU (% of its one core) from which a passing row is flagged as having no headroom. */
const SATURATED_SERVER_PCT = 95;

/** What a row played: LL-HLS with parts, or plain HLS segments, and the container. */
function played(run: RunRecord, r: LoadResult): string {
  const mode = r.hls?.mode ?? '?';
  const container = run.kind === 'hls-ts' || run.server === 'nginx-rtmp' ? 'TS' : 'fMP4';
  return run.kind === 'hls-balanced' ? `${mode} ${container} balanced` : `${mode} ${container}`;
}

/** The HLS table: one row per HLS run. */
export function hlsTable(runs: readonly RunRecord[]): string {
  const header = [
    'server',
    'played',
    'viewers',
    'not started',
    'no stall %',
    'delivered Gbps',
    'server CPU %',
    'CPU %/Gbps',
    'vs nginx HLS',
    'delivery p50/p95/p99 ms',
    'delivery max ms',
    'startup p50/p95 ms',
    'req/s',
    'playlist Mbps',
    'RSS MB',
    'RSS KB/viewer',
    'bench CPU %',
    'other load %',
  ];
  const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  const lines = [row(header), row(header.map((_, i) => (i < 2 ? '---' : '---:')))];
  for (const run of runs.filter((r) => isHlsKind(r.kind) && r.slow === 0)) {
    const r = run.result;
    if (r === null) {
      const failed = [run.server, run.kind, run.viewers, `FAILED: ${run.error ?? '?'}`];
      lines.push(row([...failed, ...header.slice(failed.length).map(() => '')]));
      continue;
    }
    const own = cpuPerGbps(r);
    const vsNginx =
      run.server === 'nginx-rtmp' ? null : reference(runs, 'nginx-rtmp', 'hls', run.viewers);
    const d = r.latencyMs.steady;
    const measured = r.hls?.deliveryMeasure === 'part-last-frame' ? 'part' : 'segment';
    lines.push(
      row([
        run.server,
        played(run, r),
        run.viewers,
        r.viewers.failed,
        fmt(r.hls?.viewersWithoutStallPct),
        fmt(r.deliveredGbps, 2),
        fmt(r.server?.cpuPct),
        fmt(own),
        ratio(own, vsNginx),
        `${measured} ${fmt(d.p50Ms, 0)} / ${fmt(d.p95Ms, 0)} / ${fmt(d.p99Ms, 0)}`,
        fmt(d.maxMs, 0),
        `${fmt(r.startupMs.p50)} / ${fmt(r.startupMs.p95)}`,
        fmt(r.hls?.requestsPerS, 0),
        fmt(r.hls?.playlistMbps),
        fmt(r.server?.rssSteadyAvgMB),
        fmt(r.server?.rssPerViewerKB),
        `${fmt(r.bench.cpuPct)}${r.bench.cpuPct >= BENCH_BOUND_PCT ? ' !' : ''}`,
        fmt(otherLoadPct(r)),
      ]),
    );
  }
  return lines.join('\n');
}

/** The report's HLS section (empty without HLS runs): what the columns mean, then the table. */
export function hlsSection(runs: readonly RunRecord[]): string[] {
  if (!runs.some((r) => isHlsKind(r.kind))) return [];
  return [
    '',
    '### HLS',
    '',
    "onair LL-HLS (profile low-latency: fMP4, 0.2 s parts, blocking playlist reloads like hls.js), onair 'compatible' (MPEG-TS, no parts) when run, and nginx serving the files nginx-rtmp writes (MPEG-TS, 2 s fragments, sendfile); plain HLS viewers poll the playlist (RFC 8216 6.3.4) and start 3 segments from the end.",
    'No stall: the viewer played the whole steady window without its playhead reaching the end of the media it had received (playback starts with its first part or segment).',
    'Delivery: part = publisher send of its last video frame -> part fully received; segment = send of the keyframe that starts it -> segment fully received. Delivered Gbps counts media bodies (parts, segments, init); playlists are extra (playlist Mbps).',
    '',
    hlsTable(runs),
  ];
}

/** The HLS targets for onair's LL-HLS rows. */
export function hlsTargetLines(runs: readonly RunRecord[]): string[] {
  const out: string[] = [];
  const check = (label: string, pass: boolean | null, detail: string): void => {
    out.push(`- ${pass === null ? 'n/a ' : pass ? 'PASS' : 'FAIL'} ${label}: ${detail}`);
  };
  const onair = runs.filter((r) => r.server === 'onair' && r.kind === 'hls' && r.slow === 0);
  for (const run of onair) {
    const r = run.result;
    if (r === null) continue;
    const bench = r.bench.cpuPct >= BENCH_BOUND_PCT ? ' (bench saturated)' : '';
    if (run.viewers >= HLS_VIEWERS_TARGET) {
      const pct = r.hls?.viewersWithoutStallPct ?? null;
      const cpu = r.server?.cpuPct ?? null;
      const stalled = r.viewers.connected - (r.hls?.viewersWithoutStall ?? 0);
      // The server is pinned to one core; its CPU says how much headroom was left.
      const saturated = cpu !== null && cpu >= SATURATED_SERVER_PCT ? ' (no headroom)' : '';
      check(
        `${run.viewers} LL-HLS viewers on one core with no stall`,
        pct === null ? null : pct === 100,
        `${fmt(pct)}% without stall (${r.viewers.failed} not started in ${r.config.startupTimeoutS} s, ${stalled} stalled or failed), server CPU ${fmt(cpu)}%${saturated}${bench}`,
      );
    }
    const own = cpuPerGbps(r);
    const ref = reference(runs, 'nginx-rtmp', 'hls', run.viewers);
    check(
      `LL-HLS CPU/Gbps <= ${HLS_CPU_RATIO_TARGET}x nginx HLS's (${run.viewers} viewers)`,
      own === null || ref === null ? null : own <= HLS_CPU_RATIO_TARGET * ref.value,
      `${fmt(own)} vs ${fmt(ref === null ? null : HLS_CPU_RATIO_TARGET * ref.value)}${ref?.exact === false ? ' (nginx at another count)' : ''}`,
    );
    const d = r.latencyMs.steady;
    check(
      `part delivery p99 < ${PART_DELIVERY_TARGET_MS} ms after its last frame (${run.viewers} viewers)`,
      d.p99Ms === null ? null : d.p99Ms < PART_DELIVERY_TARGET_MS,
      `p99 ${fmt(d.p99Ms, 0)} ms, max ${fmt(d.maxMs, 0)} ms${bench}`,
    );
  }
  return out;
}
