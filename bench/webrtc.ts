// `npm run bench:webrtc`: onair's WebRTC (WHEP) fan-out. onair (compiled) pinned to CPU 0, the
// load (bench/whep-load.ts: one RTMP publisher of a 2 Mbit/s video-only H.264 baseline file and N
// node-datachannel WHEP viewers) pinned to CPU 1; one fresh onair per viewer count. Prints one
// Markdown table. nginx-rtmp and Node-Media-Server have no WebRTC: there is no peer column.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { freePorts } from './servers.ts';
import type { WhepLoadResult } from './whep-load.ts';

const ROOT = resolve(import.meta.dirname, '..');
const usage = `usage: npm run bench:webrtc [-- options]
  --viewers LIST   WHEP viewer counts, one run each (max 2000)   [100,250,500]
  --duration S     seconds per run, ramp included (max 60)       [30]
  --ramp R         viewers started per second                    [50]
  --file PATH      video-only H.264 FLV (made when missing)      [bench/results/media-webrtc.flv]
  --out DIR        results directory                             [bench/results/webrtc-DATE]
  --count-every K  one viewer of every K counts received RTP      [auto: viewers / 50, at least 1]
  --server-cpu N / --bench-cpu N                                 [0 / 1]`;

/** 2 Mbit/s CBR 1280x720 30 fps x264 baseline (no B-frames), keyframe every 2 s, no audio. */
function ensureWebRtcMedia(path: string): void {
  if (existsSync(path)) return;
  process.stderr.write(`making ${path} with ffmpeg (30 s, 2 Mbit/s baseline, no audio)...\n`);
  execFileSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi'],
      ...['-i', 'testsrc2=size=1280x720:rate=30', '-t', '30', '-c:v', 'libx264'],
      ...['-preset', 'veryfast', '-profile:v', 'baseline', '-bf', '0', '-pix_fmt', 'yuv420p'],
      ...['-b:v', '2000k', '-minrate', '2000k', '-maxrate', '2000k', '-bufsize', '2000k'],
      ...['-x264-params', 'nal-hrd=cbr:force-cfr=1:scenecut=0', '-g', '60', '-keyint_min', '60'],
      ...['-r', '30', '-an', '-f', 'flv', path],
    ],
    { stdio: 'inherit' },
  );
}

/** A UDP port that was free a moment ago. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((bound) => socket.bind(0, '127.0.0.1', bound));
  const { port } = socket.address();
  await new Promise<void>((closed) => socket.close(closed));
  return port;
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`${url} not answering after ${timeoutMs} ms`);
}

interface Run {
  readonly viewers: number;
  readonly result: WhepLoadResult | null;
  readonly error: string | null;
}

async function runOne(viewers: number, o: ReturnType<typeof parse>): Promise<Run> {
  const [rtmpPort = 0, httpPort = 0] = await freePorts(2);
  const udpPort = await freeUdpPort();
  const name = `webrtc-${viewers}`;
  const apiToken = randomBytes(16).toString('hex');
  const countEvery = o.countEvery ?? Math.max(1, Math.ceil(viewers / 50));
  const out = openSync(join(o.out, 'logs', `${name}.server.log`), 'w');
  const server = spawn(
    'taskset',
    [
      ...['-c', String(o.serverCpu), process.execPath, 'dist/app/main.js'],
      ...[
        '--rtmp-port',
        String(rtmpPort),
        '--http-port',
        String(httpPort),
        '--srt-port',
        '0',
        '--host',
        '127.0.0.1',
      ],
      ...['--log-level', 'warn', '--data-dir', join(o.out, 'onair-data')],
      ...['--set', `webrtc.udpPort=${udpPort}`, '--set', 'webrtc.bindAddress=127.0.0.1'],
      ...['--set', 'rtmp.maxConnectionsPerIp=1000000', '--set', 'limits.maxViewersPerIp=1000000'],
      ...['--set', `api.token=${apiToken}`],
    ],
    { cwd: ROOT, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  const stop = async (): Promise<void> => {
    if (server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((done) => server.once('exit', done));
    server.kill('SIGTERM');
    if (await Promise.race([exited.then(() => false), sleep(8000).then(() => true)])) {
      server.kill('SIGKILL');
      await exited;
    }
  };
  try {
    await waitForHttp(`http://127.0.0.1:${httpPort}/`, 20_000);
    await sleep(3000);
    const json = join(o.out, `${name}.json`);
    const log = openSync(join(o.out, 'logs', `${name}.load.log`), 'w');
    const load = spawn(
      'taskset',
      [
        ...['-c', String(o.benchCpu), process.execPath, '--import', 'tsx', 'bench/whep-load.ts'],
        ...['--publish', `rtmp://127.0.0.1:${rtmpPort}/live/bench`],
        ...['--endpoint', `http://127.0.0.1:${httpPort}/live/bench/whep`],
        ...['--viewers', String(viewers), '--ramp', String(o.ramp)],
        ...['--duration', String(o.durationS), '--file', o.file],
        ...['--server-pid', String(server.pid ?? 0), '--json', json],
        ...['--count-every', String(countEvery), '--api-token', apiToken],
      ],
      { cwd: ROOT, stdio: ['ignore', log, log] },
    );
    closeSync(log);
    const killer = setTimeout(() => load.kill('SIGKILL'), (o.durationS + 60) * 1000);
    const code = await new Promise<number | null>((done) => load.once('exit', done));
    clearTimeout(killer);
    if (code !== 0 || !existsSync(json)) {
      return { viewers, result: null, error: `load exited with ${code} (see ${name}.load.log)` };
    }
    return {
      viewers,
      result: JSON.parse(readFileSync(json, 'utf8')) as WhepLoadResult,
      error: null,
    };
  } catch (error) {
    return { viewers, result: null, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await stop();
    await sleep(1000);
  }
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      viewers: { type: 'string', default: '100,250,500' },
      duration: { type: 'string', default: '30' },
      ramp: { type: 'string', default: '50' },
      file: { type: 'string', default: 'bench/results/media-webrtc.flv' },
      out: { type: 'string' },
      'server-cpu': { type: 'string', default: '0' },
      'bench-cpu': { type: 'string', default: '1' },
      'count-every': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const viewers = values.viewers.split(',').map(Number);
  if (viewers.some((n) => !Number.isInteger(n) || n < 1 || n > 2000)) {
    throw new Error('--viewers: counts from 1 to 2000');
  }
  const date = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return {
    help: values.help,
    viewers,
    durationS: Math.min(60, Number(values.duration)),
    ramp: Number(values.ramp),
    file: resolve(ROOT, values.file),
    out: resolve(ROOT, values.out ?? `bench/results/webrtc-${date}`),
    serverCpu: Number(values['server-cpu']),
    benchCpu: Number(values['bench-cpu']),
    countEvery: values['count-every'] === undefined ? null : Number(values['count-every']),
  };
}

/** The bench CPU from which the load generator counts as saturated. */
const SATURATED_PCT = 90;

export function webrtcTable(runs: readonly Run[]): string {
  const rows = [
    '| viewers | answered / connected | onair sent the stream to % | sent Mbps | counted: receiving / keeping up % | onair CPU % | CPU %/Gbps sent | viewers/core (extrapolated) | onair RSS MB | startup p50 / p95 ms | bench CPU % | other load on server CPU % |',
    '| ---: | :-: | ---: | ---: | :-: | ---: | ---: | ---: | ---: | :-: | ---: | ---: |',
  ];
  const pct = (part: number, whole: number): number =>
    whole > 0 ? Math.round((part * 1000) / whole) / 10 : 0;
  for (const { viewers, result: r, error } of runs) {
    if (r === null) {
      rows.push(`| ${viewers} | FAILED: ${error ?? '?'} | | | | | | | | | | |`);
      continue;
    }
    const sentMbps = r.sent?.mbps ?? 0;
    const perGbps = sentMbps > 0 ? Math.round(r.serverCpuPct / (sentMbps / 1000)) : 0;
    const perCore = r.serverCpuPct > 0 ? Math.round((viewers * 100) / r.serverCpuPct) : 0;
    const busy = Object.values(r.machineBusyPct);
    const other = Math.max(0, Math.round((busy[0] ?? 0) - r.serverCpuPct));
    const ms = (v: number | null): string => (v === null ? '-' : String(Math.round(v)));
    const sent = r.sent === null ? '-' : String(pct(r.sent.keepingUp, viewers));
    rows.push(
      `| ${viewers} | ${r.answered} / ${r.connected} | ${sent} | ${sentMbps} | ${r.counted}: ${r.receiving} / ${pct(r.keepingUp, r.counted)} | ${r.serverCpuPct} | ${perGbps} | ~${perCore} | ${r.serverRssMB} | ${ms(r.startupP50Ms)} / ${ms(r.startupP95Ms)} | ${r.benchCpuPct}${r.benchCpuPct >= SATURATED_PCT ? ' !' : ''} | ${other} |`,
    );
  }
  return rows.join('\n');
}

async function main(): Promise<number> {
  let o: ReturnType<typeof parse>;
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
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  ensureWebRtcMedia(o.file);
  const runs: Run[] = [];
  for (const viewers of o.viewers) {
    process.stderr.write(`\nwebrtc x${viewers}, ${o.durationS} s\n`);
    const run = await runOne(viewers, o);
    runs.push(run);
    writeFileSync(join(o.out, 'runs.json'), `${JSON.stringify(runs, null, 1)}\n`);
  }
  const report = [
    `## onair WebRTC (WHEP) bench ${new Date().toISOString()}`,
    '',
    `media: ${o.file} (2 Mbit/s H.264 baseline, 30 fps, GOP 2 s, no audio); ${o.durationS} s per run, ramp ${o.ramp}/s; onair on CPU ${o.serverCpu}, load (publisher + node-datachannel viewers) on CPU ${o.benchCpu}.`,
    'onair sent the stream to: viewers whose RTP bytes handed to libdatachannel in the steady window (their API session) were >= 95 % of the FLV video bytes published in it. counted: the viewers that count the RTP they receive (one of every --count-every), how many got RTP, and how many received >= 95 %. viewers/core is extrapolated linearly from the measured CPU (viewers x 100 / CPU %).',
    `bench CPU ! (>= ${SATURATED_PCT} %): the load generator was saturated and limits the run. nginx-rtmp and Node-Media-Server have no WebRTC: no ratio to a peer.`,
    '',
    webrtcTable(runs),
    '',
  ].join('\n');
  writeFileSync(join(o.out, 'report.md'), report);
  process.stdout.write(`\n${report}`);
  return runs.some((r) => r.result === null) ? 1 : 0;
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `bench:webrtc failed: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
