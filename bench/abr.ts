// `npm run bench:abr`: the CPU of a 4-rung ABR ladder (720p/480p/360p/240p) made from one 1080p30
// source, ffmpeg's and onair's, and what the hub costs for the 4 rendition streams against 4
// ordinary RTMP publishers of pre-encoded files at the same sizes and bitrates. onair on CPU 0,
// the bench and its publishers on CPU 1; the ladder's ffmpeg may use both CPUs.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ladderArgs, renditionPath, type Rendition } from '../src/transcode/abr-args.ts';
import { readFlvSource } from './flv-source.ts';
import { mediaFfmpegArgs } from './make-media.ts';
import { machineBusyPercent, machineCpuTimes, ProcSampler } from './proc-sampler.ts';
import { Publisher } from './publisher.ts';
import { fmt } from './report-table.ts';
import { BENCH_API_TOKEN, startServer, type RunningServer } from './servers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS = join(ROOT, 'bench/results');
const STREAM = 'live/abr';

/** The ladder the issue asks about. */
const LADDER: readonly Rendition[] = [
  { name: '720p', height: 720, videoKbps: 3000 },
  { name: '480p', height: 480, videoKbps: 1200 },
  { name: '360p', height: 360, videoKbps: 700 },
  { name: '240p', height: 240, videoKbps: 400 },
];

/** Source media length; every publisher loops it. */
const MEDIA_S = 60;

/** The bench's test recipe (make-media.ts) at 1920x1080 and 6 Mbit/s CBR. */
function sourceArgs(out: string): string[] {
  return mediaFfmpegArgs(out, MEDIA_S).map((arg) =>
    arg.replace('testsrc2=size=1280x720', 'testsrc2=size=1920x1080').replace(/^2000k$/, '6000k'),
  );
}

/**
 * onair's own ladder command (abr-args.ts) with the source file as input and one FLV file per
 * rendition as outputs: the ordinary publishers send what the ladder would make.
 */
function renditionFilesArgs(source: string, files: readonly string[]): string[] {
  const args = ladderArgs(LADDER);
  const progress = args.indexOf('-progress');
  if (progress >= 0) args.splice(progress, 2);
  return [
    '-y',
    ...args.map((arg) => {
      if (arg === 'pipe:0') return source;
      const match = /^pipe:(\d+)$/.exec(arg);
      return match ? (files[Number(match[1]) - 3] ?? arg) : arg;
    }),
  ];
}

/** Runs ffmpeg once to make `outs` (written as .partial first, so a killed run leaves none). */
function makeOnce(outs: readonly string[], args: (outs: readonly string[]) => string[]): void {
  if (outs.every((out) => existsSync(out))) return;
  mkdirSync(RESULTS, { recursive: true });
  const partial = outs.map((out) => `${out}.partial.flv`);
  process.stderr.write(`making ${outs.join(', ')} with ffmpeg...\n`);
  execFileSync('ffmpeg', args(partial), { stdio: 'inherit', timeout: 600_000 });
  outs.forEach((out, i) => {
    renameSync(partial[i] ?? '', out);
  });
}

/** GET an admin API path as JSON, null when it fails. */
async function api(server: RunningServer, path: string): Promise<unknown> {
  try {
    const response = await fetch(`${server.httpBase}${path}`, {
      headers: { authorization: `Bearer ${BENCH_API_TOKEN}` },
      signal: AbortSignal.timeout(3000),
    });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

interface StreamRow {
  readonly path: string;
  readonly live: boolean;
  readonly ingest: { readonly kbps5s: number; readonly fps: number | null };
}
interface LadderRow {
  readonly state: string;
  readonly pid: number | null;
  readonly speed: number | null;
  readonly cpuPercent: number | null;
  readonly restarts: number;
  readonly renditions: readonly string[];
}

async function liveStreams(server: RunningServer): Promise<Map<string, StreamRow>> {
  const page = (await api(server, '/api/v1/streams?itemsPerPage=1000')) as {
    items?: StreamRow[];
  } | null;
  return new Map((page?.items ?? []).filter((s) => s.live).map((s) => [s.path, s]));
}

async function ladderInfo(server: RunningServer): Promise<LadderRow | null> {
  return (await api(server, `/api/v1/streams/${STREAM}/abr`)) as LadderRow | null;
}

/** Waits (bounded) until `check` is true; false on timeout. */
async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(500);
  }
  return false;
}

/**
 * What onair gets in a phase: the source alone, the source and its ladder, the source and 4
 * ordinary publishers, and those plus one HTTP-FLV viewer of the source (the ladder's ffmpeg
 * reads the source from onair as one more FLV consumer; ordinary publishers have none).
 */
const PHASES = ['source', 'ladder', 'publishers', 'publishers+viewer'] as const;
type PhaseName = (typeof PHASES)[number];

/** Reads an HTTP-FLV stream and drops it until the signal aborts (bounded retries). */
async function drain(url: string, signal: AbortSignal, counter: { bytes: number }): Promise<void> {
  for (let attempt = 0; attempt < 50 && !signal.aborted; attempt++) {
    const response = await fetch(url, { signal }).catch(() => null);
    if (response?.status !== 200 || response.body === null) {
      await sleep(200);
      continue;
    }
    try {
      for await (const piece of response.body) counter.bytes += (piece as Uint8Array).length;
    } catch {
      // aborted at the end
    }
    return;
  }
}

interface PhaseResult {
  readonly phase: PhaseName;
  readonly streams: readonly string[];
  readonly allLive: boolean;
  readonly seconds: number;
  readonly onairCpuPercent: number;
  readonly ffmpegCpuPercent: number | null;
  /** The API's cpuPercent of the ladder (mean of the 1 s polls). */
  readonly ffmpegApiCpuPercent: number | null;
  readonly speedMean: number | null;
  readonly speedMin: number | null;
  readonly restarts: number | null;
  /** Mean kbps5s of each stream over the window (API, polled every second). */
  readonly kbps: Readonly<Record<string, number>>;
  readonly fps: Readonly<Record<string, number | null>>;
  /** What the HTTP-FLV viewer of the source got (publishers+viewer), kbit/s. */
  readonly viewerKbps: number | null;
  /** This bench's whole process tree (itself, publishers, onair, ladder), % of one core. */
  readonly benchCpuPercent: number;
  /** CPU busy on the machine (both cores) that was not this bench's tree, % of one core. */
  readonly otherCpuPercent: number;
  readonly error: string | null;
}

const mean = (values: readonly number[]): number | null =>
  values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;

/** One phase: a fresh onair, the source, then the ladder or the ordinary publishers. */
async function runPhase(
  phase: PhaseName,
  o: { durationS: number; warmupS: number; configFile: string; files: readonly string[] },
): Promise<PhaseResult> {
  const children: ChildProcess[] = [];
  const abort = new AbortController();
  const viewerBytes = { bytes: 0 };
  const renditionPaths = LADDER.map((r) => renditionPath(STREAM, r.name));
  const streams = phase === 'source' ? [STREAM] : [STREAM, ...renditionPaths];
  const publisher = new Publisher(readFlvSource(join(RESULTS, 'abr-source-1080p.flv')));
  // The ladder only where asked; the config file is read by onair (ONAIR_CONFIG).
  if (phase === 'ladder') process.env.ONAIR_CONFIG = o.configFile;
  else delete process.env.ONAIR_CONFIG;
  const server = await startServer('onair', {
    kind: 'httpflv',
    cpu: 0,
    resultsDir: RESULTS,
    logFile: join(RESULTS, `abr-onair-${phase}.log`),
  });
  delete process.env.ONAIR_CONFIG;
  let ffmpegPid: number | null = null;
  let viewing: Promise<void> | null = null;
  try {
    await sleep(server.settleMs);
    const [, rtmpPort] = /:(\d+)\//.exec(server.publishUrl) ?? [];
    const rtmp = `rtmp://127.0.0.1:${rtmpPort ?? ''}`;
    await publisher.start(`${rtmp}/${STREAM}`);
    if (phase === 'publishers' || phase === 'publishers+viewer') {
      LADDER.forEach((rendition, i) => {
        const child = spawn(
          'taskset',
          [
            ...['-c', '1', 'ffmpeg', '-hide_banner', '-loglevel', 'error', '-nostdin', '-re'],
            ...['-stream_loop', '-1', '-i', o.files[i] ?? '', '-c', 'copy', '-f', 'flv'],
            `${rtmp}/${renditionPath(STREAM, rendition.name)}`,
          ],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        );
        children.push(child);
      });
    }
    viewing =
      phase === 'publishers+viewer'
        ? drain(`${server.httpBase}/${STREAM}.flv`, abort.signal, viewerBytes)
        : null;
    const allLive = async (): Promise<boolean> => {
      const live = await liveStreams(server);
      return streams.every((path) => live.has(path));
    };
    let ready = await waitFor(allLive, 30_000);
    if (phase === 'ladder') {
      ready &&= await waitFor(async () => {
        const ladder = await ladderInfo(server);
        return ladder?.state === 'running' && ladder.pid !== null && ladder.speed !== null;
      }, 30_000);
      ffmpegPid = (await ladderInfo(server))?.pid ?? null;
      // onair is pinned to CPU 0 and its children inherit that: the ladder gets both CPUs.
      if (ffmpegPid !== null) execFileSync('taskset', ['-a', '-cp', '0,1', String(ffmpegPid)]);
    }
    if (!ready) throw new Error(`not every stream went live: ${streams.join(', ')}`);
    await sleep(o.warmupS * 1000);
    const sampler = new ProcSampler(ffmpegPid === null ? [server.pid] : [server.pid, ffmpegPid]);
    // Everything this bench runs (itself, its publishers, onair and the ladder) against the
    // machine: the rest is other load (other people's work on the machine), which disturbs.
    const everything = new ProcSampler([process.pid]);
    const [from, machineFrom, allFrom] = [sampler.sample(), machineCpuTimes(), everything.sample()];
    const viewerBytesFrom = viewerBytes.bytes;
    const speeds: number[] = [];
    const apiCpu: number[] = [];
    const endAt = Date.now() + o.durationS * 1000;
    const kbpsPolls = new Map<string, number[]>(streams.map((path) => [path, []]));
    // The same API polls in every phase (the ladder's answers 404 without one), once a second.
    for (let poll = 0; poll < o.durationS + 5 && Date.now() < endAt; poll++) {
      await sleep(Math.min(1000, Math.max(0, endAt - Date.now())));
      const [ladder, live] = [await ladderInfo(server), await liveStreams(server)];
      if (ladder?.speed != null) speeds.push(ladder.speed);
      if (ladder?.cpuPercent != null) apiCpu.push(ladder.cpuPercent);
      for (const [path, polls] of kbpsPolls) {
        const kbps5s = live.get(path)?.ingest.kbps5s;
        if (kbps5s !== undefined) polls.push(kbps5s);
      }
    }
    const [to, machineTo, allTo] = [sampler.sample(), machineCpuTimes(), everything.sample()];
    const busy = Object.values(machineBusyPercent(machineFrom, machineTo));
    const viewerBytesTo = viewerBytes.bytes;
    const ladder = phase === 'ladder' ? await ladderInfo(server) : null;
    const live = await liveStreams(server);
    const kbps: Record<string, number> = {};
    const fps: Record<string, number | null> = {};
    for (const path of streams) {
      kbps[path] = mean(kbpsPolls.get(path) ?? []) ?? 0;
      fps[path] = live.get(path)?.ingest.fps ?? null;
    }
    const seconds = (to.atMs - from.atMs) / 1000;
    const restarted = ladder !== null && ladder.pid !== ffmpegPid;
    return {
      phase,
      streams,
      allLive: streams.every((path) => live.has(path)),
      seconds,
      onairCpuPercent: sampler.cpuPercent(from, to, new Set([server.pid])),
      ffmpegCpuPercent:
        ffmpegPid === null ? null : sampler.cpuPercent(from, to, new Set([ffmpegPid])),
      ffmpegApiCpuPercent: mean(apiCpu),
      speedMean: mean(speeds),
      speedMin: speeds.length === 0 ? null : Math.min(...speeds),
      restarts: ladder?.restarts ?? null,
      kbps,
      fps,
      viewerKbps:
        viewing === null ? null : ((viewerBytesTo - viewerBytesFrom) * 8) / seconds / 1000,
      benchCpuPercent: everything.cpuPercent(allFrom, allTo),
      otherCpuPercent: busy.reduce((a, b) => a + b, 0) - everything.cpuPercent(allFrom, allTo),
      error: restarted ? `ffmpeg restarted in the window (pid ${String(ladder.pid)})` : null,
    };
  } finally {
    abort.abort();
    await viewing;
    publisher.stop();
    for (const child of children) child.kill('SIGKILL');
    await server.stop();
    // The ladder's ffmpeg stops with onair; should it outlive it, it goes too.
    if (ffmpegPid !== null && existsSync(`/proc/${ffmpegPid}`)) {
      try {
        process.kill(ffmpegPid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '5' },
      phases: { type: 'string', default: PHASES.join(',') },
      'no-build': { type: 'boolean', default: false },
    },
  });
  const durationS = Math.max(1, Math.min(120, Number(values.duration)));
  const warmupS = Math.max(0, Math.min(60, Number(values.warmup)));
  const source = join(RESULTS, 'abr-source-1080p.flv');
  const files = LADDER.map((r) => join(RESULTS, `abr-rendition-${r.name}.flv`));
  makeOnce([source], ([out]) => sourceArgs(out ?? ''));
  makeOnce(files, (outs) => renditionFilesArgs(source, outs));
  if (!values['no-build'])
    execFileSync(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
      { cwd: ROOT, stdio: 'inherit' },
    );
  execFileSync('taskset', ['-cp', '1', String(process.pid)]);
  const configFile = join(RESULTS, 'abr-onair.json'); // YAML reads JSON
  writeFileSync(configFile, `${JSON.stringify({ abr: { renditions: LADDER } }, null, 1)}\n`);
  const phases = values.phases.split(',').filter((p): p is PhaseName => {
    if ((PHASES as readonly string[]).includes(p)) return true;
    throw new Error(`--phases: ${p}? (${PHASES.join(', ')})`);
  });
  const results: PhaseResult[] = [];
  for (const phase of phases) {
    process.stderr.write(`phase ${phase}: ${warmupS} s warm-up, ${durationS} s measured...\n`);
    results.push(await runPhase(phase, { durationS, warmupS, configFile, files }));
  }
  const byPhase = (p: PhaseName): PhaseResult | undefined => results.find((r) => r.phase === p);
  const label: Record<PhaseName, string> = {
    source: 'source only',
    ladder: 'source + 4 renditions from the ladder',
    publishers: 'source + 4 ordinary publishers',
    'publishers+viewer': 'source + 4 ordinary publishers + 1 HTTP-FLV viewer of the source',
  };
  const kbpsCell = (r: PhaseResult): string =>
    r.streams.map((path) => fmt(r.kbps[path], 0)).join(' / ');
  const table = [
    `1080p30 testsrc2 source (x264 6 Mbit/s, AAC, GOP 2 s); ladder ${LADDER.map((r) => `${r.name} ${r.videoKbps}k`).join(', ')}; ${durationS} s measured after ${warmupS} s warm-up`,
    '',
    '| onair with | all live | onair CPU % | ladder ffmpeg CPU % | (API) | ffmpeg speed mean / min | kbps in (source / 720p / 480p / 360p / 240p) | other load % |',
    '|---|---|---:|---:|---:|---|---|---:|',
    ...results.map(
      (r) =>
        `| ${label[r.phase]} | ${r.allLive ? 'yes' : 'NO'} | ${fmt(r.onairCpuPercent)} | ${fmt(r.ffmpegCpuPercent)} | ${fmt(r.ffmpegApiCpuPercent)} | ${r.speedMean === null ? '-' : `${fmt(r.speedMean, 2)} / ${fmt(r.speedMin, 2)}`} | ${kbpsCell(r)} | ${fmt(r.otherCpuPercent)} |`,
    ),
  ];
  const [ladder, only] = [byPhase('ladder'), byPhase('source')];
  const ratios: Record<string, number | null> = {};
  for (const other of ['publishers', 'publishers+viewer'] as const) {
    const r = byPhase(other);
    if (!ladder || !r || r.onairCpuPercent <= 0) continue;
    ratios[other] = ladder.onairCpuPercent / r.onairCpuPercent;
    table.push('', `onair CPU, ${label.ladder} / ${label[other]}: ${fmt(ratios[other], 2)}`);
    if (only) {
      const [a, b] = [
        ladder.onairCpuPercent - only.onairCpuPercent,
        r.onairCpuPercent - only.onairCpuPercent,
      ];
      table.push(`  added to the source alone: ${fmt(a)} % (ladder) vs ${fmt(b)} % (${other})`);
    }
  }
  const viewer = byPhase('publishers+viewer');
  if (viewer?.viewerKbps != null)
    table.push('', `the viewer got ${fmt(viewer.viewerKbps, 0)} kbit/s`);
  table.push(
    '',
    'other load %: CPU busy on the machine (2 cores) besides this bench, onair and ffmpeg; more than a few % disturbs',
  );
  for (const r of results.filter((x) => x.error !== null)) {
    table.push(`${r.phase}: ${r.error ?? ''}`);
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, `abr-${Date.now()}.json`),
    `${JSON.stringify({ durationS, warmupS, ladder: LADDER, results, ratios }, null, 1)}\n`,
  );
  process.stdout.write(
    `${table.join('\n')}\n\ncommand: npm run bench:abr -- ${process.argv.slice(2).join(' ')}\n`,
  );
  return results.every((r) => r.allLive && r.error === null) ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench:abr failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
