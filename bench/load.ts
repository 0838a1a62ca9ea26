// The load generator: one RTMP publisher sending a real FLV at real-time pace and N RTMP or HTTP-FLV
// viewers, all in this process (shared performance.now() for latency). Writes one LoadResult.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFlvSource } from './flv-source.ts';
import { hlsFigures } from './hls-figures.ts';
import { HlsViewer, waitForPlaylist } from './hls-viewer.ts';
import { HttpFlvViewer } from './http-flv-viewer.ts';
import { distribution, round2 } from './latency-histogram.ts';
import { LatencyProbes } from './latency-probes.ts';
import { loadUsage, parseLoadOptions, type LoadOptions } from './load-options.ts';
import type { LoadResult, ServerFigures, TimelineRow } from './load-result.ts';
import { summarize } from './load-summary.ts';
import { SlowViewerWatch } from './slow-viewer-watch.ts';
import {
  ProcSampler,
  machineBusyPercent,
  machineCpuTimes,
  type ProcSample,
} from './proc-sampler.ts';
import { Publisher } from './publisher.ts';
import { RtmpViewer, type LoadViewer } from './rtmp-viewer.ts';
import { LoadContext } from './viewer-stats.ts';

const round1 = (value: number): number => Math.round(value * 10) / 10;
const mb = (kb: number): number => round1(kb / 1024);

/** Runs one load; resolves with its result (the caller writes it and exits). */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const log = (line: string): void => {
    if (!opts.quiet) process.stderr.write(`${line}\n`);
  };
  const source = readFlvSource(opts.file);
  const probes =
    opts.probes > 0 && opts.kind !== 'hls'
      ? new LatencyProbes({ kind: opts.kind, startupTimeoutMs: opts.startupTimeoutS * 1000 })
      : null;
  const publisher = new Publisher(source, probes?.ring ?? null);
  const ctx = new LoadContext({
    sendLog: publisher.sendLog,
    startupTimeoutMs: opts.startupTimeoutS * 1000,
    now: () => performance.now(),
  });
  const sampler = opts.serverPids.length > 0 ? new ProcSampler(opts.serverPids) : null;
  const samples: ProcSample[] = [];
  const sample = (): ProcSample | null => {
    if (!sampler) return null;
    const s = sampler.sample();
    samples.push(s);
    return s;
  };
  sample();
  log(
    `load: ${opts.kind} x${opts.viewers}${opts.slow ? ` (+${opts.slow} stalled)` : ''}, ` +
      `${round1(source.mediaKbps)} kbps media, ${round1(source.videoFps)} fps, loop ${source.loopMs} ms`,
  );

  await Promise.race([
    publisher.start(opts.publish),
    sleep(10_000).then(() => {
      throw new Error('publish timed out (no NetStream.Publish.Start in 10 s)');
    }),
  ]);
  const playUrl = (index: number): string => opts.play.replaceAll('{i}', String(index));
  // HLS: the server segments from its first playlist request (onair) or first fragment (nginx).
  if (opts.kind === 'hls') await waitForPlaylist(playUrl(0), 20_000);
  await sleep(opts.warmupS * 1000);
  const baseline = sample();

  const hlsViewers: HlsViewer[] = [];
  const makeViewer = (index: number, slow: boolean): LoadViewer => {
    const options = { index, url: playUrl(index), slow, ctx };
    if (opts.kind === 'hls') {
      const viewer = new HlsViewer(options);
      hlsViewers.push(viewer);
      return viewer;
    }
    return opts.kind === 'rtmp' ? new RtmpViewer(options) : new HttpFlvViewer(options);
  };
  const rampStartMs = performance.now();
  ctx.endMs = rampStartMs + opts.durationS * 1000;
  ctx.steadyStartMs = rampStartMs + (opts.viewers / opts.rampPerS + opts.settleS) * 1000;
  if (ctx.steadyStartMs > ctx.endMs - 5000) {
    log(`warning: steady window only ${round1((ctx.endMs - ctx.steadyStartMs) / 1000)} s`);
  }
  probes?.setWindow(ctx.steadyStartMs, ctx.endMs, performance.now());
  const slowViewers = Array.from({ length: opts.slow }, (_, k) => makeViewer(100_000 + k, true));
  for (const viewer of slowViewers) viewer.start();
  const viewers: LoadViewer[] = [];
  const rampTimer = setInterval(() => {
    const due = Math.min(
      opts.viewers,
      Math.floor(((performance.now() - rampStartMs) / 1000) * opts.rampPerS) + 1,
    );
    for (;;) {
      // Probe j joins right after viewer j*N/K: spread over the server's fan-out order.
      while (probes && probes.started < opts.probes) {
        if (viewers.length < Math.floor((probes.started * opts.viewers) / opts.probes)) break;
        probes.start(playUrl(0));
      }
      if (viewers.length >= due) break;
      const viewer = makeViewer(viewers.length, false);
      viewers.push(viewer);
      viewer.start();
    }
    if (viewers.length >= opts.viewers && (probes?.started ?? 0) >= opts.probes) {
      clearInterval(rampTimer);
    }
  }, 10);

  const slowWatch = new SlowViewerWatch(slowViewers, Number(new URL(opts.play).port || 80));
  const timeline: TimelineRow[] = [];
  let benchCpuAt = process.cpuUsage();
  let benchAtMs = performance.now();
  const progressTimer = setInterval(() => {
    const nowMs = performance.now();
    for (const viewer of viewers) {
      viewer.tick?.(nowMs);
      const s = viewer.stats;
      if (
        s.firstKeyframeAtMs === 0 &&
        s.closedAtMs === 0 &&
        nowMs - s.connectStartMs > ctx.startupTimeoutMs
      ) {
        s.finish('startup timeout');
        viewer.stop();
      }
    }
    const current = sample();
    const previous = samples.at(-2);
    const used = process.cpuUsage(benchCpuAt);
    const benchCpuPct = ((used.user + used.system) / 1000 / (nowMs - benchAtMs)) * 100;
    benchCpuAt = process.cpuUsage();
    benchAtMs = nowMs;
    const row: TimelineRow = {
      t: round1((nowMs - rampStartMs) / 1000),
      started: viewers.length,
      viewersOk: viewers.filter((v) => v.stats.firstKeyframeAtMs > 0 && v.stats.closedAtMs === 0)
        .length,
      serverCpuPct:
        sampler && current && previous ? round1(sampler.cpuPercent(previous, current)) : null,
      serverRssMB: current ? mb(current.rssKB) : null,
      benchCpuPct: round1(benchCpuPct),
      ...slowWatch.poll(nowMs),
    };
    timeline.push(row);
    log(
      `  t=${row.t}s started=${row.started}/${opts.viewers} ok=${row.viewersOk}` +
        (row.serverCpuPct === null
          ? ''
          : ` server cpu=${row.serverCpuPct}% rss=${row.serverRssMB}MB`) +
        ` bench cpu=${row.benchCpuPct}%` +
        (row.slowOpen === undefined
          ? ''
          : ` stalled-open=${row.slowOpen} srv-sendq=${row.slowServerSendQueueKB}KB`) +
        (publisher.stats.error ? ` PUBLISHER: ${publisher.stats.error}` : ''),
    );
  }, 1000);

  const delay = monitorEventLoopDelay({ resolution: 10 });
  await sleep(Math.max(0, ctx.steadyStartMs - performance.now()));
  const steadyAtMs = performance.now();
  const steadySample = sample();
  const benchAtSteady = process.cpuUsage();
  const machineAtSteady = machineCpuTimes();
  delay.enable();
  await sleep(Math.max(0, ctx.endMs - performance.now()));

  const endAtMs = performance.now();
  const endSample = sample();
  const benchUsed = process.cpuUsage(benchAtSteady);
  const machineBusyPct = machineBusyPercent(machineAtSteady, machineCpuTimes());
  delay.disable();
  ctx.stopping = true;
  clearInterval(rampTimer);
  clearInterval(progressTimer);
  const slowFigures = slowWatch.finish(performance.now());
  const results = viewers.map((v) => {
    v.stop();
    return v.stats.result();
  });
  for (const viewer of slowViewers) viewer.stop();
  const probeReport = probes ? await probes.stop() : null;
  publisher.stop();
  const probeResults = probeReport?.results ?? [];

  const steadyS = (endAtMs - steadyAtMs) / 1000;
  const n = opts.viewers;
  const connected = results.filter((r) => r.startupMs !== null).length;
  const keeping = results.filter((r) => r.keepsUp).length;
  // Probes are viewers too: the server serves them, so their bytes count as delivered.
  const allResults = [...results, ...probeResults];
  const deliveredGbps = (allResults.reduce((a, r) => a + r.steadyBytes, 0) * 8) / steadyS / 1e9;
  const matched = results.reduce((a, r) => a + r.matchedFrames, 0);
  const unmatched = results.reduce((a, r) => a + r.unmatchedFrames, 0);
  const pubS = (endAtMs - publisher.stats.startedAtMs) / 1000;
  let server: ServerFigures | null = null;
  if (sampler && baseline && steadySample && endSample) {
    const steadyRss = samples.filter((s) => s.atMs >= steadyAtMs).map((s) => s.rssKB);
    const avgKB = steadyRss.length ? steadyRss.reduce((a, b) => a + b, 0) / steadyRss.length : null;
    server = {
      pids: sampler.pids,
      cpuPct: round1(sampler.cpuPercent(steadySample, endSample)),
      ...(opts.serverPids.length > 1
        ? { cpuPctByRoot: sampler.cpuPercentByRoot(steadySample, endSample).map(round1) }
        : {}),
      rssBaselineMB: mb(baseline.rssKB),
      rssSteadyAvgMB: avgKB === null ? null : mb(avgKB),
      rssPeakMB: mb(Math.max(...samples.map((s) => s.rssKB))),
      rssEndMB: mb(endSample.rssKB),
      rssPerViewerKB: avgKB === null || n === 0 ? null : round1((avgKB - baseline.rssKB) / n),
    };
  }
  const ns = (value: number): number => Math.max(0, value / 1e6 - 10);
  return {
    tool: 'onair-bench-load',
    label: opts.label,
    date: new Date().toISOString(),
    config: opts,
    steadyWindowS: round1(steadyS),
    publisher: {
      mediaKbps: round1((publisher.stats.mediaBytes * 8) / pubS / 1000),
      videoFrames: publisher.stats.videoFrames,
      audioFrames: publisher.stats.audioFrames,
      maxLateMs: round1(publisher.stats.maxLateMs),
      maxQueuedKB: round1(publisher.stats.maxQueuedBytes / 1024),
      error: publisher.stats.error,
    },
    viewers: {
      requested: n,
      connected,
      failed: n - connected,
      closedByServer: results.filter((r) => r.startupMs !== null && r.error !== null).length,
      keepingUp: keeping,
      keepingUpPct: n ? round2((100 * keeping) / n) : null,
    },
    startupMs: distribution(results.map((r) => r.startupMs)),
    latencyMs: {
      steady: ctx.latencySteady.summary(),
      all: ctx.latencyAll.summary(),
      matchedPct: matched + unmatched ? round2((100 * matched) / (matched + unmatched)) : null,
      rebasedViewers: results.filter(
        (r) => r.timestampOffsetMs !== null && r.timestampOffsetMs !== 0,
      ).length,
      probes: probeReport && {
        count: probeResults.length,
        steady: probeReport.steady,
        all: probeReport.all,
        startupMs: distribution(probeResults.map((r) => r.startupMs)),
        errors: probeReport.errors,
        nice: probeReport.nice,
        meanMsInJoinOrder: probeResults.map((r) => r.latencyMeanMs),
      },
    },
    lagAtEndMs: distribution(results.map((r) => r.lagAtEndMs)),
    keepRatio: distribution(results.map((r) => r.keepRatio)),
    viewerKbps: distribution(results.map((r) => r.kbps)),
    deliveredGbps: Math.round(deliveredGbps * 1000) / 1000,
    server,
    bench: {
      cpuPct: round1(((benchUsed.user + benchUsed.system) / 1000 / (endAtMs - steadyAtMs)) * 100),
      eventLoopDelayP99Ms: delay.count ? round2(ns(delay.percentile(99))) : null,
      eventLoopDelayMaxMs: delay.count ? round2(ns(delay.max)) : null,
      rssMB: mb(process.memoryUsage().rss / 1024),
    },
    machineBusyPct,
    errors: Object.fromEntries([...ctx.errors.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20)),
    slowViewers: slowFigures,
    hls:
      opts.kind === 'hls'
        ? hlsFigures(
            hlsViewers.map((v) => v.stats.result()),
            steadyS,
          )
        : null,
    timeline,
  };
}

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    process.stdout.write(`${loadUsage}\n`);
    return 0;
  }
  let opts: LoadOptions;
  try {
    opts = parseLoadOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(
      `${error instanceof Error ? error.message : String(error)}\n\n${loadUsage}\n`,
    );
    return 2;
  }
  const hardStop = setTimeout(
    () => {
      process.stderr.write('load: hard stop\n');
      process.exit(3);
    },
    (opts.durationS + opts.warmupS + 30) * 1000,
  );
  hardStop.unref();
  const result = await runLoad(opts);
  if (opts.json !== null) writeFileSync(opts.json, `${JSON.stringify(result, null, 1)}\n`);
  if (!opts.quiet) process.stderr.write(`${summarize(result)}\n`);
  return 0;
}

if (process.argv[1]?.endsWith('load.ts')) {
  main().then(
    (code) => {
      // Sockets of stopped viewers may linger: exit explicitly.
      setTimeout(() => process.exit(code), 200).unref();
    },
    (error: unknown) => {
      process.stderr.write(
        `load failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
