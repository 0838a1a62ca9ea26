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

/** The issue's bound: onair's CPU per delivered Gbps at most this many times nginx's HLS. */
export const HLS_CPU_RATIO_TARGET = 3;
/** The issue's bound on part delivery (last frame sent -> part received), ms. */
export const PART_DELIVERY_TARGET_MS = 500;
/** The issue's viewer count for "no stall on one core". */
export const HLS_VIEWERS_TARGET = 3000;
/** Behind the cache: requests reaching onair per part it made, at most (the e2e test's bound). */
export const CACHED_REQUESTS_PER_PART = 1.5;
/** Server CPU (% of its one core) from which a passing row is flagged as having no headroom. */
const SATURATED_SERVER_PCT = 95;

/** What a row played: LL-HLS with parts, or plain HLS segments, and the container. */
function played(run: RunRecord, r: LoadResult): string {
  const mode = r.hls?.mode ?? '?';
  const container = run.kind === 'hls-ts' || run.server === 'nginx-rtmp' ? 'TS' : 'fMP4';
  if (run.kind === 'hls-cached') return `${mode} ${container} via nginx cache`;
  return run.kind === 'hls-balanced' ? `${mode} ${container} balanced` : `${mode} ${container}`;
}

/** The server column: hls-cached rows are onair and the nginx in front of it together. */
function serverLabel(run: RunRecord): string {
  return run.kind === 'hls-cached' ? `${run.server} + nginx` : run.server;
}

/** `onair 12.0 + nginx 30.5` when the run sampled several process trees, else `-`. */
function cpuSplit(run: RunRecord, r: LoadResult): string {
  const byRoot = r.server?.cpuPctByRoot;
  if (byRoot === undefined) return '-';
  const names = run.kind === 'hls-cached' ? [run.server, 'nginx'] : [];
  return byRoot.map((pct, i) => `${names[i] ?? `#${i}`} ${fmt(pct)}`).join(' + ');
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
    'CPU split %',
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
      const failed = [serverLabel(run), run.kind, run.viewers, `FAILED: ${run.error ?? '?'}`];
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
        serverLabel(run),
        played(run, r),
        run.viewers,
        r.viewers.failed,
        fmt(r.hls?.viewersWithoutStallPct),
        fmt(r.deliveredGbps, 2),
        fmt(r.server?.cpuPct),
        cpuSplit(run, r),
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
    ...hlsCacheSection(runs),
  ];
}

/** hls-cached rows: what the cache let through to onair, next to what the viewers asked for. */
export function hlsCacheSection(runs: readonly RunRecord[]): string[] {
  const cached = runs.filter((r) => r.kind === 'hls-cached' && r.slow === 0 && r.result !== null);
  if (cached.length === 0) return [];
  const header = [
    'viewers',
    'onair CPU %',
    'nginx CPU %',
    'together CPU %/Gbps',
    'vs nginx HLS',
    'part delivery p50/p95/p99 ms',
    'viewer req/s (nginx)',
    'onair req/s',
    'onair part req per part',
    'onair blocking reloads per part',
  ];
  const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  const lines = [row(header), row(header.map(() => '---:'))];
  for (const run of cached) {
    const r = run.result as LoadResult;
    const [onair, nginx] = r.server?.cpuPctByRoot ?? [];
    const own = cpuPerGbps(r);
    const d = r.latencyMs.steady;
    const up = run.upstream ?? null;
    const total = up === null ? null : Object.values(up.requests).reduce((a, b) => a + b, 0);
    const perPart = (kind: string): number | null =>
      up === null || up.partsMade <= 0 ? null : (up.requests[kind] ?? 0) / up.partsMade;
    lines.push(
      row([
        run.viewers,
        fmt(onair),
        fmt(nginx),
        fmt(own),
        ratio(own, reference(runs, 'nginx-rtmp', 'hls', run.viewers)),
        `${fmt(d.p50Ms, 0)} / ${fmt(d.p95Ms, 0)} / ${fmt(d.p99Ms, 0)}`,
        fmt(r.hls?.requestsPerS, 0),
        fmt(total === null || up === null ? null : total / up.seconds, 0),
        fmt(perPart('part'), 2),
        fmt(perPart('blocking_playlist'), 2),
      ]),
    );
  }
  return [
    '',
    '#### LL-HLS behind nginx (deploy/nginx/onair-hls-cache.conf)',
    '',
    "onair and nginx on the server's core; CPU %/Gbps counts both. onair's request counts come from its /metrics (onair_hls_requests_total) over the whole run, per LL-HLS part it made. Waiting requests of nginx's cache lock are woken every 500 ms (ngx_http_file_cache.c), which the part delivery shows.",
    '',
    lines.join('\n'),
  ];
}

/** The issue's HLS targets for onair's LL-HLS rows. */
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
  for (const run of runs.filter((r) => r.kind === 'hls-cached' && r.slow === 0)) {
    const r = run.result;
    const up = run.upstream ?? null;
    if (r === null) continue;
    const perPart =
      up === null || up.partsMade <= 0 ? null : (up.requests.part ?? 0) / up.partsMade;
    check(
      `behind nginx, about one request to onair per part (${run.viewers} viewers)`,
      perPart === null ? null : perPart <= CACHED_REQUESTS_PER_PART,
      `${fmt(perPart, 2)} part requests per part made (bound ${CACHED_REQUESTS_PER_PART})`,
    );
    const own = cpuPerGbps(r);
    const ref = reference(runs, 'nginx-rtmp', 'hls', run.viewers);
    check(
      `onair + nginx CPU/Gbps against nginx HLS's (${run.viewers} viewers)`,
      null,
      `${fmt(own)} vs ${fmt(ref?.value)} (${ratio(own, ref)})`,
    );
  }
  return out;
}
