// The bench report: one Markdown row per run, CPU per delivered Gbps with ratios against
// nginx-rtmp and Node-Media-Server measured in the same run, then the targets of the issue.
import type { LoadResult } from './load-result.ts';
import type { BenchKind, ServerName } from './servers.ts';

/** One finished run of the matrix. */
export interface RunRecord {
  readonly server: ServerName;
  readonly kind: BenchKind;
  readonly viewers: number;
  readonly slow: number;
  readonly result: LoadResult | null;
  readonly error: string | null;
  /** hls-cached: what reached onair behind the cache over the whole run (its /metrics). */
  readonly upstream?: UpstreamFigures | null;
}

/** onair's HLS request counters over a run, read from /metrics before and after it. */
export interface UpstreamFigures {
  readonly seconds: number;
  /** LL-HLS parts onair made meanwhile (onair_hls_parts_total). */
  readonly partsMade: number;
  /** onair_hls_requests_total by kind. */
  readonly requests: Readonly<Record<string, number>>;
}

/** A number with `digits` decimals, `-` when missing. */
export const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);

/** Server CPU % of a core per delivered Gbit/s, or null. */
export function cpuPerGbps(r: LoadResult | null): number | null {
  if (!r?.server || r.deliveredGbps <= 0) return null;
  return r.server.cpuPct / r.deliveredGbps;
}

/** Load generator CPU from which its own figures (latency, keep-up) are suspect. */
export const BENCH_BOUND_PCT = 90;

/** The server's added latency: the probe viewers' (own thread), else all viewers'. */
export function addedLatency(r: LoadResult): { p50Ms: number | null; p99Ms: number | null } {
  return r.latencyMs.probes?.steady ?? r.latencyMs.steady;
}

/**
 * CPU busy on the machine in the steady window that is neither the server nor the load
 * generator, in % of one core: anything well above a few % means the figures are disturbed.
 */
export function otherLoadPct(r: LoadResult): number | null {
  const busy = Object.values(r.machineBusyPct);
  if (busy.length === 0) return null;
  return busy.reduce((a, b) => a + b, 0) - (r.server?.cpuPct ?? 0) - r.bench.cpuPct;
}

/** True for the HLS kinds, which have their own table (hls-report.ts). */
export function isHlsKind(kind: BenchKind): boolean {
  return kind === 'hls' || kind === 'hls-ts' || kind === 'hls-balanced' || kind === 'hls-cached';
}

/** The reference row: same server and kind, same viewer count, else the closest count. */
export function reference(
  runs: readonly RunRecord[],
  server: ServerName,
  kind: BenchKind,
  viewers: number,
): { value: number; exact: boolean } | null {
  const candidates = runs.filter(
    (r) => r.server === server && r.kind === kind && r.slow === 0 && cpuPerGbps(r.result) !== null,
  );
  if (candidates.length === 0) return null;
  const best = candidates.reduce((a, b) =>
    Math.abs(b.viewers - viewers) < Math.abs(a.viewers - viewers) ? b : a,
  );
  return { value: cpuPerGbps(best.result)!, exact: best.viewers === viewers };
}

/** own / reference, `~` when the reference was measured at another viewer count. */
export function ratio(own: number | null, ref: { value: number; exact: boolean } | null): string {
  if (own === null || ref === null) return '-';
  return `${(own / ref.value).toFixed(2)}${ref.exact ? '' : '~'}`;
}

/** The main Markdown table (RTMP and HTTP-FLV runs without stalled viewers). */
export function markdownTable(runs: readonly RunRecord[]): string {
  const header = [
    'server',
    'kind',
    'viewers',
    'keeping up %',
    'delivered Gbps',
    'server CPU %',
    'CPU %/Gbps',
    'vs nginx-rtmp',
    'vs NMS',
    'startup p50/p95 ms',
    'added latency p50/p99 ms',
    'all-viewer latency p99 ms',
    'RSS MB',
    'RSS KB/viewer',
    'bench CPU %',
    'other load %',
  ];
  const row = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  const lines = [row(header), row(header.map((_, i) => (i < 2 ? '---' : '---:')))];
  for (const run of runs.filter((r) => r.slow === 0 && !isHlsKind(r.kind))) {
    const r = run.result;
    if (r === null) {
      const failed = [run.server, run.kind, run.viewers, `FAILED: ${run.error ?? '?'}`];
      lines.push(row([...failed, ...header.slice(failed.length).map(() => '')]));
      continue;
    }
    const own = cpuPerGbps(r);
    const vsNginx =
      run.server === 'nginx-rtmp' ? null : reference(runs, 'nginx-rtmp', 'rtmp', run.viewers);
    const vsNms = run.server === 'nms' ? null : reference(runs, 'nms', run.kind, run.viewers);
    const added = addedLatency(r);
    lines.push(
      row([
        run.server,
        run.kind,
        run.viewers,
        fmt(r.viewers.keepingUpPct),
        fmt(r.deliveredGbps, 2),
        fmt(r.server?.cpuPct),
        fmt(own),
        ratio(own, vsNginx),
        ratio(own, vsNms),
        `${fmt(r.startupMs.p50)} / ${fmt(r.startupMs.p95)}`,
        `${fmt(added.p50Ms, 2)} / ${fmt(added.p99Ms, 2)}`,
        fmt(r.latencyMs.steady.p99Ms),
        fmt(r.server?.rssSteadyAvgMB),
        fmt(r.server?.rssPerViewerKB),
        `${fmt(r.bench.cpuPct)}${r.bench.cpuPct >= BENCH_BOUND_PCT ? ' !' : ''}`,
        fmt(otherLoadPct(r)),
      ]),
    );
  }
  return lines.join('\n');
}

/** Mean server RSS (MB) over t = 5..15 s of the run and over its last 10 s. */
export function rssDrift(r: LoadResult): { first: number | null; last: number | null } {
  const rss = r.timeline.map((row) => row.serverRssMB).filter((v): v is number => v !== null);
  const mean = (values: number[]): number | null =>
    values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
  return { first: mean(rss.slice(5, 15)), last: mean(rss.slice(-10)) };
}

/** The stalled-viewer table: RSS over the run and what the server did with the stalled sockets. */
export function stallTable(runs: readonly RunRecord[]): string {
  const stalled = runs.filter((r) => r.slow > 0);
  if (stalled.length === 0) return '';
  const lines = [
    '| server | kind | viewers + stalled | duration s | keeping up % | RSS baseline / steady avg / peak / end MB | RSS first→last 10 s MB | stalled: server socket states | server send-q KB |',
    '| --- | --- | --- | ---: | ---: | --- | --- | --- | ---: |',
  ];
  for (const run of stalled) {
    const r = run.result;
    if (r === null) {
      lines.push(
        `| ${run.server} | ${run.kind} | ${run.viewers} + ${run.slow} | FAILED: ${run.error ?? '?'} | | | | | |`,
      );
      continue;
    }
    const { first, last } = rssDrift(r);
    const states = new Map<string, number>();
    for (const v of r.slowViewers) states.set(v.serverState, (states.get(v.serverState) ?? 0) + 1);
    const s = r.server;
    lines.push(
      [
        '',
        run.server,
        run.kind,
        `${run.viewers} + ${run.slow}`,
        r.config.durationS,
        fmt(r.viewers.keepingUpPct),
        s
          ? `${fmt(s.rssBaselineMB)} / ${fmt(s.rssSteadyAvgMB)} / ${fmt(s.rssPeakMB)} / ${fmt(s.rssEndMB)}`
          : '-',
        `${fmt(first)} → ${fmt(last)}`,
        [...states].map(([state, n]) => `${n} ${state}`).join(', '),
        fmt(
          r.slowViewers.reduce((a, v) => a + v.serverSendQueueKB, 0),
          0,
        ),
        '',
      ]
        .join(' | ')
        .trim(),
    );
  }
  return lines.join('\n');
}

/** The targets for onair, checked against this run's RTMP and HTTP-FLV rows. */
export function targetLines(runs: readonly RunRecord[]): string[] {
  const onair = runs.filter(
    (r) => r.server === 'onair' && r.slow === 0 && r.result !== null && !isHlsKind(r.kind),
  );
  const out: string[] = [];
  const check = (label: string, pass: boolean | null, detail: string): void => {
    out.push(`- ${pass === null ? 'n/a ' : pass ? 'PASS' : 'FAIL'} ${label}: ${detail}`);
  };
  for (const kind of ['rtmp', 'httpflv'] as const) {
    for (const run of onair.filter((r) => r.kind === kind)) {
      const own = cpuPerGbps(run.result);
      if (kind === 'rtmp') {
        const ref = reference(runs, 'nginx-rtmp', 'rtmp', run.viewers);
        check(
          `RTMP CPU/Gbps <= nginx-rtmp's (${run.viewers} viewers)`,
          own === null || ref === null ? null : own <= ref.value,
          `${fmt(own)} vs ${fmt(ref?.value)}`,
        );
      } else {
        const ref = reference(runs, 'nms', 'httpflv', run.viewers);
        check(
          `HTTP-FLV CPU/Gbps <= 1/3 of NMS's (${run.viewers} viewers)`,
          own === null || ref === null ? null : own <= ref.value / 3,
          `${fmt(own)} vs ${fmt(ref === null ? null : ref.value / 3)}`,
        );
      }
    }
  }
  for (const run of onair.filter((r) => r.viewers >= 2000)) {
    const pct = run.result!.viewers.keepingUpPct;
    check(
      `${run.viewers} ${run.kind} viewers, >= 99% keeping up`,
      pct === null ? null : pct >= 99,
      `${fmt(pct)}%`,
    );
  }
  for (const run of onair) {
    const r = run.result!;
    const label = `${run.kind} x${run.viewers}`;
    check(
      `startup p95 < 50 ms (${label})`,
      r.startupMs.p95 === null ? null : r.startupMs.p95 < 50,
      `${fmt(r.startupMs.p95)} ms`,
    );
    if (run.viewers === 1000) {
      const p99 = addedLatency(r).p99Ms;
      check(
        `latency p99 < 5 ms at 1000 viewers (${label})`,
        p99 === null ? null : p99 < 5,
        `${fmt(p99, 2)} ms`,
      );
    }
    const perViewer = r.server?.rssPerViewerKB ?? null;
    check(
      `< 30 KB RSS per viewer (${label})`,
      perViewer === null ? null : perViewer < 30,
      `${fmt(perViewer)} KB`,
    );
  }
  for (const run of runs.filter((r) => r.server === 'onair' && r.slow > 0 && r.result !== null)) {
    const { first, last } = rssDrift(run.result!);
    check(
      `RSS flat with ${run.slow} stalled ${run.kind} viewers for ${run.result!.config.durationS} s (last 10 s <= t 5-15 s + 5 MB)`,
      first === null || last === null ? null : last <= first + 5,
      `${fmt(first)} MB -> ${fmt(last)} MB`,
    );
  }
  return out;
}

/**
 * RSS per added viewer between the viewer counts of one server and kind: the slope leaves out
 * what every loaded process gains once (young generation, socket buffers of the publisher).
 */
export function rssSlopeLines(runs: readonly RunRecord[]): string[] {
  const out: string[] = [];
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs) {
    if (run.slow > 0 || run.result?.server?.rssSteadyAvgMB == null) continue;
    const key = `${run.server} ${run.kind}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  for (const [key, group] of groups) {
    const sorted = [...group].sort((a, b) => a.viewers - b.viewers);
    const steps: string[] = [];
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      if (b.viewers === a.viewers) continue;
      const kb =
        ((b.result!.server!.rssSteadyAvgMB! - a.result!.server!.rssSteadyAvgMB!) * 1024) /
        (b.viewers - a.viewers);
      steps.push(`${a.viewers}->${b.viewers}: ${fmt(kb)} KB`);
    }
    if (steps.length > 0) out.push(`- ${key}: ${steps.join(', ')}`);
  }
  return out;
}
