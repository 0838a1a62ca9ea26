// `npm run bench`: runs onair, Node-Media-Server and nginx-rtmp under the same load (server pinned to
// CPU 0, load generator to CPU 1), then prints one Markdown table with CPU/Gbps ratios and the targets.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { LoadResult } from './load-result.ts';
import { hlsSection, hlsTargetLines } from './hls-report.ts';
import { summarize } from './load-summary.ts';
import { ensureMedia } from './make-media.ts';
import {
  BENCH_BOUND_PCT,
  isHlsKind,
  markdownTable,
  rssSlopeLines,
  stallTable,
  targetLines,
  type RunRecord,
  type UpstreamFigures,
} from './report-table.ts';
import {
  BENCH_API_TOKEN,
  BENCH_KINDS,
  SERVER_KINDS,
  SERVER_NAMES,
  ensureNginxRtmp,
  startServer,
  viewerKindOf,
  type BenchKind,
  type ServerName,
} from './servers.ts';

const usage = `usage: npm run bench [-- options]
  --servers LIST     onair,nms,nginx-rtmp                                  [all]
  --kinds LIST       rtmp,httpflv,hls,hls-ts,hls-balanced,hls-cached,httpflv-bare,httpflv-monitored,httpflv-publishers,httpflv-recording [rtmp,httpflv]
                     hls: onair LL-HLS and nginx-rtmp's HLS files served by nginx;
                     hls-ts: onair's 'compatible' profile (MPEG-TS, no parts);
                     hls-balanced: onair's 'balanced' profile (0.334 s parts); NMS: no HLS
                     hls-cached: onair LL-HLS through nginx with deploy/nginx/onair-hls-cache.conf,
                     both on the server core (CPU summed, and shown apart)
                     httpflv-bare: onair HTTP-FLV with analytics and metrics off;
                     httpflv-publishers: 10 more publishers of the test file (2 Mbps each,
                     ffmpeg -c copy) beside the viewers; httpflv-recording: the same with
                     recording on (all 11 streams recorded);
                     httpflv-monitored: analytics on, /metrics scraped every 1 s, the
                     dashboard's live feed open and its stream list polled (onair only)
  --viewers LIST     viewer counts of the matrix                           [500,1000]
  --big LIST         extra viewer counts for onair only                    [2000; none if the matrix is chosen]
  --hls LIST         HLS rows: onair LL-HLS and nginx-rtmp HLS at these counts [1000,3000; none if the matrix is chosen]
  --hls-ramp R       HLS viewers started per second                        [--ramp]
  --hls-duration S   seconds per HLS run, ramp included                    [40; --duration if given]
  --stall S          onair run with stalled viewers for S seconds, 0 = off [60; 0 if the matrix is chosen]
  --stall-viewers K  stalled viewers (plus 10 normal ones)                 [5]
  --duration S       seconds per run, ramp included                        [30]
  --ramp R           viewers started per second                            [200]
  --file PATH        test FLV (made with ffmpeg when missing)              [bench/results/media.flv]
  --out DIR          results directory                                     [bench/results/run-DATE]
  --server-cpu N / --bench-cpu N   cores for the server and the load       [0 / 1]`;

interface Plan {
  readonly server: ServerName;
  readonly kind: BenchKind;
  readonly viewers: number;
  readonly slow: number;
  readonly durationS: number;
  readonly ramp: number;
}

const ROOT = resolve(import.meta.dirname, '..');
const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const numbers = (raw: string): number[] =>
  list(raw).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`not a count: ${s}`);
    return n;
  });

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      servers: { type: 'string' },
      kinds: { type: 'string' },
      viewers: { type: 'string' },
      big: { type: 'string' },
      hls: { type: 'string' },
      'hls-ramp': { type: 'string' },
      'hls-duration': { type: 'string' },
      stall: { type: 'string' },
      'stall-viewers': { type: 'string', default: '5' },
      duration: { type: 'string' },
      ramp: { type: 'string', default: '200' },
      file: { type: 'string', default: 'bench/results/media.flv' },
      out: { type: 'string' },
      'server-cpu': { type: 'string', default: '0' },
      'bench-cpu': { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const chosen =
    values.servers !== undefined || values.kinds !== undefined || values.viewers !== undefined;
  const servers = list(values.servers ?? SERVER_NAMES.join(','));
  for (const s of servers) {
    if (!(SERVER_NAMES as readonly string[]).includes(s)) throw new Error(`unknown server ${s}`);
  }
  const kinds = list(values.kinds ?? 'rtmp,httpflv');
  for (const k of kinds) {
    if (!(BENCH_KINDS as readonly string[]).includes(k)) throw new Error(`unknown kind ${k}`);
  }
  const date = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    help: values.help,
    servers: servers as ServerName[],
    kinds: kinds as BenchKind[],
    viewers: numbers(values.viewers ?? '500,1000'),
    big: numbers(values.big ?? (chosen ? '' : '2000')),
    hls: numbers(values.hls ?? (chosen ? '' : '1000,3000')),
    hlsRamp: Number(values['hls-ramp'] ?? values.ramp),
    // 3,000 HLS viewers at 200/s take 15 s to join: HLS runs are longer unless told otherwise.
    hlsDurationS: Number(values['hls-duration'] ?? values.duration ?? '40'),
    stallS: Number(values.stall ?? (chosen ? '0' : '60')),
    stallViewers: Number(values['stall-viewers']),
    durationS: Number(values.duration ?? '30'),
    ramp: Number(values.ramp),
    file: values.file,
    out: resolve(ROOT, values.out ?? `bench/results/run-${date}`),
    serverCpu: Number(values['server-cpu']),
    benchCpu: Number(values['bench-cpu']),
  };
}

type Options = ReturnType<typeof parse>;

function planRuns(o: Options): Plan[] {
  const plans: Plan[] = [];
  const plan = (server: ServerName, kind: BenchKind, viewers: number): void => {
    const hls = isHlsKind(kind);
    const durationS = hls ? o.hlsDurationS : o.durationS;
    plans.push({ server, kind, viewers, slow: 0, durationS, ramp: hls ? o.hlsRamp : o.ramp });
  };
  for (const viewers of o.viewers) {
    for (const kind of o.kinds) {
      for (const server of o.servers) {
        if (SERVER_KINDS[server].includes(kind)) plan(server, kind, viewers);
      }
    }
  }
  if (o.servers.includes('onair')) {
    for (const viewers of o.big) {
      for (const kind of o.kinds) plan('onair', kind, viewers);
    }
  }
  for (const viewers of o.hls) {
    for (const server of o.servers)
      if (SERVER_KINDS[server].includes('hls')) plan(server, 'hls', viewers);
  }
  if (o.servers.includes('onair') && o.stallS > 0) {
    plans.push({
      server: 'onair',
      kind: 'rtmp',
      viewers: 10,
      slow: o.stallViewers,
      durationS: o.stallS,
      ramp: o.ramp,
    });
  }
  return plans;
}

/** onair's HLS request counters and parts made, from its /metrics (null if unreadable). */
async function hlsCounters(
  httpBase: string,
): Promise<{ atMs: number; partsMade: number; requests: Record<string, number> } | null> {
  try {
    const response = await fetch(`${httpBase}/metrics`, {
      headers: { authorization: `Bearer ${BENCH_API_TOKEN}` },
      signal: AbortSignal.timeout(5000),
    });
    if (response.status !== 200) return null;
    const requests: Record<string, number> = {};
    let partsMade = 0;
    for (const line of (await response.text()).split('\n')) {
      const request = /^onair_hls_requests_total\{kind="(\w+)"\} (\S+)$/.exec(line);
      if (request?.[1] !== undefined) requests[request[1]] = Number(request[2]);
      const parts = /^onair_hls_parts_total (\S+)$/.exec(line);
      if (parts?.[1] !== undefined) partsMade = Number(parts[1]);
    }
    return { atMs: Date.now(), partsMade, requests };
  } catch {
    return null;
  }
}

/** The difference of two hlsCounters() readings. */
function upstreamBetween(
  from: Awaited<ReturnType<typeof hlsCounters>>,
  to: Awaited<ReturnType<typeof hlsCounters>>,
): UpstreamFigures | null {
  if (from === null || to === null) return null;
  const requests: Record<string, number> = {};
  for (const [kind, value] of Object.entries(to.requests)) {
    requests[kind] = value - (from.requests[kind] ?? 0);
  }
  return {
    seconds: (to.atMs - from.atMs) / 1000,
    partsMade: to.partsMade - from.partsMade,
    requests,
  };
}

async function runOne(plan: Plan, o: Options): Promise<RunRecord> {
  const name = `${plan.server}-${plan.kind}-${plan.viewers}${plan.slow ? `-stall${plan.slow}` : ''}`;
  const logs = join(o.out, 'logs');
  const jsonPath = join(o.out, `${name}.json`);
  let server;
  try {
    server = await startServer(plan.server, {
      kind: plan.kind,
      cpu: o.serverCpu,
      resultsDir: o.out,
      logFile: join(logs, `${name}.server.log`),
    });
  } catch (error) {
    return { ...plan, result: null, error: error instanceof Error ? error.message : String(error) };
  }
  try {
    await sleep(server.settleMs);
    const args = [
      ...['-c', String(o.benchCpu), process.execPath, '--import', 'tsx', 'bench/load.ts'],
      ...['--publish', server.publishUrl, '--play', server.playUrl(plan.kind)],
      ...['--kind', viewerKindOf(plan.kind)],
      ...[
        '--viewers',
        String(plan.viewers),
        '--slow',
        String(plan.slow),
        '--ramp',
        String(plan.ramp),
      ],
      ...[
        '--duration',
        String(plan.durationS),
        '--file',
        o.file,
        '--server-pid',
        server.pids.join(','),
      ],
      ...['--json', jsonPath, '--label', name],
    ];
    // Behind the cache: what reaches onair, counted by onair itself.
    const countersBefore = plan.kind === 'hls-cached' ? await hlsCounters(server.httpBase) : null;
    const log = openSync(join(logs, `${name}.load.log`), 'w');
    const child = spawn('taskset', args, { cwd: ROOT, stdio: ['ignore', log, log] });
    // httpflv-monitored: an operator's load beside the viewers (scrapes, live feed, polling).
    const monitor =
      plan.kind === 'httpflv-monitored'
        ? spawn(
            'taskset',
            [
              ...['-c', String(o.benchCpu), process.execPath, '--import', 'tsx'],
              ...['bench/monitor-load.ts', '--base', server.httpBase],
              ...['--token', BENCH_API_TOKEN, '--duration', String(plan.durationS + 5)],
            ],
            { cwd: ROOT, stdio: ['ignore', log, log] },
          )
        : null;
    // httpflv-publishers / -recording: 10 more streams at 2 Mbps (recorded: all of them).
    const recorded =
      plan.kind === 'httpflv-publishers' || plan.kind === 'httpflv-recording'
        ? Array.from({ length: RECORDED_STREAMS }, (_, i) =>
            spawn(
              'taskset',
              [
                ...['-c', String(o.benchCpu), 'ffmpeg', '-hide_banner', '-loglevel', 'error'],
                ...['-re', '-stream_loop', '-1', '-i', o.file, '-c', 'copy', '-f', 'flv'],
                server.publishUrl.replace(/[^/]+$/, `recorded${i}`),
              ],
              { cwd: ROOT, stdio: ['ignore', 'ignore', 'ignore'] },
            ),
          )
        : [];
    closeSync(log);
    const killer = setTimeout(() => child.kill('SIGKILL'), (plan.durationS + 60) * 1000);
    const code = await new Promise<number | null>((done) => {
      child.once('exit', (c) => {
        done(c);
      });
    });
    clearTimeout(killer);
    monitor?.kill('SIGKILL');
    for (const publisher of recorded) publisher.kill('SIGKILL');
    const upstream =
      plan.kind === 'hls-cached'
        ? upstreamBetween(countersBefore, await hlsCounters(server.httpBase))
        : null;
    if (code !== 0)
      return { ...plan, result: null, error: `load exited with ${code} (see ${name}.load.log)` };
    const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as LoadResult;
    return { ...plan, result, error: null, ...(upstream === null ? {} : { upstream }) };
  } finally {
    await server.stop();
    await sleep(1000);
  }
}

/** Streams published and recorded beside the measured one in httpflv-recording runs. */
const RECORDED_STREAMS = 10;

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${usage}\n`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  mkdirSync(join(o.out, 'logs'), { recursive: true });
  if (o.servers.includes('onair')) {
    // onair runs compiled, as `npm start` runs it: from the sources as they are now.
    execFileSync(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
        stdio: 'inherit',
      },
    );
  }
  ensureMedia(resolve(ROOT, o.file));
  if (o.servers.includes('nginx-rtmp') && !ensureNginxRtmp()) {
    process.stderr.write('nginx-rtmp unavailable: its runs will fail\n');
  }
  const plans = planRuns(o);
  const totalS = plans.reduce((a, p) => a + p.durationS + (p.server === 'nginx-rtmp' ? 8 : 17), 0);
  process.stderr.write(
    `bench: ${plans.length} runs, about ${Math.ceil(totalS / 60)} min; results in ${o.out}\n`,
  );
  const runs: RunRecord[] = [];
  for (const [i, plan] of plans.entries()) {
    process.stderr.write(
      `\n[${i + 1}/${plans.length}] ${plan.server} ${plan.kind} x${plan.viewers}${plan.slow ? ` +${plan.slow} stalled` : ''}, ${plan.durationS} s\n`,
    );
    const run = await runOne(plan, o);
    runs.push(run);
    process.stderr.write(`${run.result ? summarize(run.result) : `FAILED: ${run.error ?? '?'}`}\n`);
    writeFileSync(join(o.out, 'runs.json'), `${JSON.stringify(runs, null, 1)}\n`);
  }
  const flvRuns = runs.filter((r) => !isHlsKind(r.kind));
  const report = [
    `## onair bench ${new Date().toISOString()}`,
    '',
    `media: ${o.file}; ${o.durationS} s per run, ramp ${o.ramp}/s (HLS: ${o.hlsDurationS} s, ${o.hlsRamp}/s); server on CPU ${o.serverCpu}, load on CPU ${o.benchCpu}.`,
    'CPU %/Gbps = server CPU % of one core / delivered media Gbit/s; ratios < 1 are better (~ = peer measured at another viewer count).',
    `Bench CPU marked ! (>= ${BENCH_BOUND_PCT}%): the load generator was saturated, its latency and keep-up figures are suspect. Other load: machine CPU used by neither server nor bench.`,
    ...(flvRuns.length > 0
      ? [
          'Added latency: probe viewers on their own thread (send -> receive of the same frame); all-viewer latency includes the load generator working through every socket in turn.',
          '',
          markdownTable(runs),
          '',
          stallTable(runs),
        ]
      : []),
    ...hlsSection(runs),
    '',
    '### RSS per added viewer (slope between viewer counts)',
    '',
    ...rssSlopeLines(runs),
    '',
    '### Targets (onair)',
    '',
    ...targetLines(runs),
    ...hlsTargetLines(runs),
    '',
  ].join('\n');
  writeFileSync(join(o.out, 'report.md'), report);
  writeFileSync(join(ROOT, 'bench/results/latest.md'), report);
  process.stdout.write(`\n${report}`);
  return runs.some((r) => r.result === null) ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
