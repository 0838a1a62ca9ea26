// `npm run bench:cluster`: what scaling out costs and gives, under the same load (bench/load.ts,
// one publisher and N HTTP-FLV viewers in one process, on CPU 1):
//   1 worker   onair alone on CPU 0 (the reference)
//   2 workers  onair --workers 2 on CPUs 0-1 (the load shares CPU 1 with a worker)
//   edge       an onair origin and an onair edge (cluster.origins), both on CPU 0; viewers on the
//              edge, the publisher on the origin: the added latency of one relay hop
// Prints one Markdown table: server CPU (every process of the scenario), delivered Gbps, CPU per
// Gbps, forwarding latency (publish to viewer, same clock) and the probe viewers' latency.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { LoadResult } from './load-result.ts';
import { ensureMedia } from './make-media.ts';
import { freePorts } from './servers.ts';

const ROOT = resolve(import.meta.dirname, '..');

interface Scenario {
  readonly name: string;
  readonly what: string;
  /** Starts the servers; returns their processes, where to publish and where to play. */
  start(dir: string): Promise<{ children: ChildProcess[]; publish: string; play: string }>;
}

/** Starts the compiled onair on `cpus` with `args`; resolves once its HTTP port accepts. */
async function onair(
  cpus: string,
  dir: string,
  ports: { rtmp: number; http: number },
  args: readonly string[] = [],
): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    'taskset',
    [
      ...['-c', cpus, process.execPath, 'dist/app/main.js'],
      ...['--rtmp-port', String(ports.rtmp), '--http-port', String(ports.http), '--srt-port', '0'],
      ...['--host', '127.0.0.1', '--log-level', 'warn', '--data-dir', dir],
      ...['--set', 'auth.secret=bench-cluster-secret-0123456789'],
      ...['--set', 'analytics.enabled=false'],
      ...args,
    ],
    { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error('onair exited at start');
    if (await accepts(ports.http)) return child;
    if (Date.now() > deadline) throw new Error('onair did not listen in time');
    await sleep(100);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      done(true);
    });
    socket.on('error', () => {
      socket.destroy();
      done(false);
    });
  });
}

const SCENARIOS: readonly Scenario[] = [
  {
    name: '1 worker',
    what: 'onair on CPU 0',
    async start(dir) {
      const [rtmp = 0, http = 0] = await freePorts(2);
      const child = await onair('0', join(dir, 'one'), { rtmp, http });
      return {
        children: [child],
        publish: `rtmp://127.0.0.1:${String(rtmp)}/live/bench`,
        play: `http://127.0.0.1:${String(http)}/live/bench.flv`,
      };
    },
  },
  {
    name: '2 workers',
    what: 'onair --workers 2 on CPUs 0-1',
    async start(dir) {
      const [rtmp = 0, http = 0] = await freePorts(2);
      const child = await onair('0,1', join(dir, 'two'), { rtmp, http }, ['--workers', '2']);
      await sleep(2000); // both workers listening
      return {
        children: [child],
        publish: `rtmp://127.0.0.1:${String(rtmp)}/live/bench`,
        play: `http://127.0.0.1:${String(http)}/live/bench.flv`,
      };
    },
  },
  {
    name: 'edge',
    what: 'origin + edge on CPU 0, viewers on the edge',
    async start(dir) {
      const [rtmpA = 0, httpA = 0, rtmpB = 0, httpB = 0] = await freePorts(4);
      const origin = await onair('0', join(dir, 'origin'), { rtmp: rtmpA, http: httpA });
      const edge = await onair('0', join(dir, 'edge'), { rtmp: rtmpB, http: httpB }, [
        ...['--set', `cluster.origins=rtmp://127.0.0.1:${String(rtmpA)}`],
      ]);
      return {
        children: [origin, edge],
        publish: `rtmp://127.0.0.1:${String(rtmpA)}/live/bench`,
        play: `http://127.0.0.1:${String(httpB)}/live/bench.flv`,
      };
    },
  },
];

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const late = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(late);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      viewers: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '30' },
      only: { type: 'string', default: '' },
    },
    strict: true,
  });
  const viewers = Number(values.viewers);
  const durationS = Number(values.duration);
  if (!Number.isInteger(viewers) || viewers < 1 || viewers > 20_000)
    throw new Error('--viewers: 1 to 20000');
  if (!Number.isInteger(durationS) || durationS < 10 || durationS > 600)
    throw new Error('--duration: 10 to 600 s');
  const file = join(ROOT, 'bench', 'results', 'media.flv');
  ensureMedia(file);
  const dir = mkdtempSync(join(tmpdir(), 'onair-bench-cluster-'));
  const rows: string[] = [];
  try {
    for (const scenario of SCENARIOS) {
      if (values.only !== '' && !values.only.split(',').includes(scenario.name)) continue;
      process.stderr.write(`== ${scenario.name}: ${scenario.what}, ${String(viewers)} viewers\n`);
      const { children, publish, play } = await scenario.start(dir);
      try {
        const json = join(dir, `${scenario.name.replace(/\W/g, '_')}.json`);
        const load = spawn(
          'taskset',
          [
            ...['-c', '1', process.execPath, '--import', 'tsx', 'bench/load.ts'],
            ...['--publish', publish, '--play', play, '--kind', 'httpflv'],
            ...['--viewers', String(viewers), '--duration', String(durationS), '--file', file],
            ...['--server-pid', children.map((c) => String(c.pid)).join(',')],
            ...['--json', json, '--label', scenario.name, '--quiet'],
          ],
          { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
        );
        const killer = setTimeout(() => load.kill('SIGKILL'), (durationS + 90) * 1000);
        const code = await new Promise<number | null>((done) => load.once('exit', done));
        clearTimeout(killer);
        if (code !== 0) {
          rows.push(`| ${scenario.name} | load exited with ${String(code)} | | | | | |`);
          continue;
        }
        const r = JSON.parse(readFileSync(json, 'utf8')) as LoadResult;
        const cpu = r.server?.cpuPct ?? 0;
        const perGbps = r.deliveredGbps > 0 ? (cpu / r.deliveredGbps).toFixed(1) : '-';
        const lat = r.latencyMs.steady;
        const probes = r.latencyMs.probes?.steady;
        rows.push(
          `| ${scenario.name} | ${String(r.viewers.keepingUp)}/${String(r.viewers.requested)} | ${cpu.toFixed(1)} | ${r.deliveredGbps.toFixed(2)} | ${perGbps} | ${String(lat.p50Ms)} / ${String(lat.p99Ms)} | ${probes ? `${String(probes.p50Ms)} / ${String(probes.p99Ms)}` : '-'} |`,
        );
      } finally {
        for (const child of children) await stop(child);
        await sleep(1000);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    [
      `HTTP-FLV, ${String(viewers)} viewers, ${String(durationS)} s a run; server CPU counts every process of the scenario (100% = one core)`,
      '',
      '| scenario | viewers keeping up | server CPU % | delivered Gbps | CPU %/Gbps | latency p50 / p99 ms | probes p50 / p99 ms |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
    ].join('\n'),
  );
}

await main();
