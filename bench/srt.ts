// `npm run bench:srt`: added latency (publisher write of a video frame's last byte -> the HTTP-FLV
// viewer has its tag) and onair CPU, for an SRT publisher (srt-live-transmit fed TS per frame)
// against an RTMP publisher (bench/publisher.ts) of the same media; onair on CPU 0, bench on CPU 1.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { FlvDecoder, FlvTagType } from '../src/codecs/flv.ts';
import { readFlvSource } from './flv-source.ts';
import { distribution } from './latency-histogram.ts';
import { ensureMedia } from './make-media.ts';
import { ProcSampler } from './proc-sampler.ts';
import { Publisher } from './publisher.ts';
import { freePorts } from './servers.ts';
import { splitTsFrameGroups } from './ts-frame-groups.ts';

const ROOT = resolve(import.meta.dirname, '..');
const RESULTS = join(ROOT, 'bench/results');

/** A video tag the viewer got: its FLV timestamp and arrival time (performance.now()). */
interface Arrival {
  readonly timestampMs: number;
  readonly atMs: number;
}

/** Reads video tag arrivals from an HTTP-FLV URL until the signal aborts. */
async function watch(url: string, arrivals: Arrival[], signal: AbortSignal): Promise<void> {
  const flv = new FlvDecoder({ maxTagBytes: 8 * 1024 * 1024 });
  for (let attempt = 0; attempt < 50 && !signal.aborted; attempt++) {
    const response = await fetch(url, { signal }).catch(() => null);
    if (response?.status !== 200 || response.body === null) {
      await sleep(100);
      continue;
    }
    try {
      for await (const piece of response.body) {
        const atMs = performance.now();
        for (const tag of flv.push(Buffer.from(piece as Uint8Array))) {
          if (tag.type === FlvTagType.Video && tag.body[1] === 1) {
            arrivals.push({ timestampMs: tag.timestamp, atMs });
          }
        }
      }
    } catch {
      // aborted at the end
    }
    return;
  }
}

/** Latency of each received frame whose timestamp was sent, in the measured window. */
function latencies(
  sent: ReadonlyMap<number, number>,
  arrivals: readonly Arrival[],
  fromMs: number,
  toMs: number,
): number[] {
  const out: number[] = [];
  for (const a of arrivals) {
    const writtenAt =
      sent.get(a.timestampMs) ?? sent.get(a.timestampMs - 1) ?? sent.get(a.timestampMs + 1);
    if (writtenAt !== undefined && a.atMs >= fromMs && a.atMs <= toMs) out.push(a.atMs - writtenAt);
  }
  return out;
}

function startOnair(
  rtmpPort: number,
  httpPort: number,
  srtPort: number,
  latencyMs: number,
): ChildProcess {
  return spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      'dist/app/main.js',
      '--rtmp-port',
      String(rtmpPort),
      '--http-port',
      String(httpPort),
      '--host',
      '127.0.0.1',
      '--log-level',
      'warn',
      '--data-dir',
      join(RESULTS, 'srt-onair-data'),
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        ONAIR_SRT_PORT: String(srtPort),
        ONAIR_SRT_LATENCY_MS: String(latencyMs),
        ONAIR_SRT_HOST: '127.0.0.1',
      },
    },
  );
}

/** srt-live-transmit's message: 7 TS packets; it reads its input in whole messages. */
const CHUNK_BYTES = 1316;
/** A TS null packet (PID 0x1FFF), which every demuxer skips. */
const NULL_PACKET = Buffer.concat([Buffer.from([0x47, 0x1f, 0xff, 0x10]), Buffer.alloc(184, 0xff)]);

/**
 * `ts` followed by null packets up to a whole number of messages, so srt-live-transmit sends a
 * frame's last bytes when it gets them rather than with the next frame (what an encoder that
 * sends each frame at once does).
 */
function padToChunk(ts: Buffer): Buffer {
  const missing = (CHUNK_BYTES - (ts.length % CHUNK_BYTES)) % CHUNK_BYTES;
  return Buffer.concat([ts, ...Array<Buffer>(missing / 188).fill(NULL_PACKET)]);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      latency: { type: 'string', default: '120' },
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      'no-build': { type: 'boolean', default: false },
    },
  });
  const latencyMs = Number(values.latency);
  const durationS = Math.min(50, Number(values.duration));
  const warmupS = Number(values.warmup);
  const flvPath = join(RESULTS, 'media.flv');
  const tsPath = join(RESULTS, 'media.mpegts'); // not .ts: tsc would read it
  ensureMedia(flvPath);
  if (!existsSync(tsPath))
    execFileSync(
      'ffmpeg',
      [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-i',
        flvPath,
        '-c',
        'copy',
        '-f',
        'mpegts',
        tsPath,
      ],
      { stdio: 'inherit' },
    );
  if (!values['no-build'])
    execFileSync(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'],
      { cwd: ROOT, stdio: 'inherit' },
    );
  execFileSync('taskset', ['-cp', '1', String(process.pid)]);
  const split = splitTsFrameGroups(readFileSync(tsPath));
  const groups = split.groups.map((g) => ({ ...g, bytes: padToChunk(g.bytes) }));
  const source = readFlvSource(flvPath);
  const [rtmpPort = 0, httpPort = 0, srtPort = 0, udpPort = 0] = await freePorts(4);
  const sockets: Socket[] = [];
  const children: ChildProcess[] = [];
  const abort = new AbortController();
  const rows: Record<string, unknown>[] = [];
  try {
    const onair = startOnair(rtmpPort, httpPort, srtPort, latencyMs);
    children.push(onair);
    await sleep(3000);
    for (const ingest of ['srt', 'rtmp'] as const) {
      const name = `bench-${ingest}`;
      const sent = new Map<number, number>();
      const arrivals: Arrival[] = [];
      const pacing = { stop: false };
      if (ingest === 'srt') {
        // srt-live-transmit reads its UDP input a datagram (one message) at a time; from stdin
        // it held each frame's last message until the next frame came (+1 frame interval).
        const slt = spawn(
          'srt-live-transmit',
          [
            '-chunk:1316',
            '-q',
            `udp://127.0.0.1:${udpPort}`,
            `srt://127.0.0.1:${srtPort}?streamid=publish:live/${name}&latency=${latencyMs}`,
          ],
          { stdio: ['ignore', 'ignore', 'inherit'] },
        );
        children.push(slt);
        const udp = createSocket('udp4');
        udp.on('error', () => undefined);
        sockets.push(udp);
        const send = (ts: Buffer): void => {
          for (let at = 0; at < ts.length; at += CHUNK_BYTES) {
            udp.send(ts.subarray(at, at + CHUNK_BYTES), udpPort, '127.0.0.1');
          }
        };
        await sleep(500); // srt-live-transmit binds its UDP input
        send(padToChunk(split.preamble));
        const t0 = performance.now();
        const dts0 = groups[0]?.dts90k ?? 0;
        void (async () => {
          for (const group of groups) {
            if (pacing.stop) break;
            const due = t0 + (group.dts90k - dts0) / 90;
            const wait = due - performance.now();
            if (wait > 1) await sleep(wait - 1);
            while (performance.now() < due) {
              // spin the last millisecond
            }
            send(group.bytes);
            sent.set(Math.round(group.dts90k / 90), performance.now());
          }
        })();
      } else {
        const publisher = new Publisher(source);
        await publisher.start(`rtmp://127.0.0.1:${rtmpPort}/live/${name}`);
        void (async () => {
          while (!pacing.stop) {
            await sleep(200);
          }
          publisher.stop();
        })();
        // the send log maps timestamp -> send time; copied at the end
        (sent as Map<number, number> & { publisher?: Publisher }).publisher = publisher;
      }
      await sleep(500);
      const watching = watch(
        `http://127.0.0.1:${httpPort}/live/${name}.flv`,
        arrivals,
        abort.signal,
      );
      await sleep(warmupS * 1000);
      const sampler = new ProcSampler([onair.pid ?? 0]);
      const from = sampler.sample();
      await sleep(durationS * 1000);
      const to = sampler.sample();
      pacing.stop = true;
      const publisher = (sent as Map<number, number> & { publisher?: Publisher }).publisher;
      if (publisher !== undefined) {
        for (const a of arrivals) {
          const frame = publisher.sendLog.get(a.timestampMs);
          if (frame !== undefined) sent.set(a.timestampMs, frame.sentAtMs);
        }
      }
      const l = distribution(latencies(sent, arrivals, from.atMs, to.atMs));
      rows.push({
        ingest,
        frames: l.n,
        p50: l.p50,
        p95: l.p95,
        max: l.max,
        minusSrtLatency: l.p50 === null ? null : l.p50 - latencyMs,
        cpuPercent: sampler.cpuPercent(from, to),
      });
      children.at(-1)?.kill('SIGKILL');
      await sleep(1000);
      void watching;
    }
  } finally {
    abort.abort();
    for (const child of children) child.kill('SIGKILL');
    for (const socket of sockets) socket.close();
  }
  const r = (v: unknown): string => (typeof v === 'number' ? v.toFixed(1) : String(v));
  const table = [
    `SRT latency ${latencyMs} ms; each frame sent at once (padded to whole 1316-byte messages); ${durationS} s after ${warmupS} s warm-up`,
    '',
    '| ingest | frames | latency p50 | p95 | max | minus SRT latency (p50) | onair CPU % |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (x) =>
        `| ${String(x.ingest)} | ${String(x.frames)} | ${r(x.p50)} | ${r(x.p95)} | ${r(x.max)} | ${x.ingest === 'srt' ? r(x.minusSrtLatency) : '-'} | ${r(x.cpuPercent)} |`,
    ),
  ];
  const [srt, rtmp] = [rows.find((x) => x.ingest === 'srt'), rows.find((x) => x.ingest === 'rtmp')];
  const [srtCpu, rtmpCpu] = [srt?.cpuPercent, rtmp?.cpuPercent];
  if (typeof srtCpu === 'number' && typeof rtmpCpu === 'number' && rtmpCpu > 0) {
    table.push('', `onair CPU, SRT ingest / RTMP ingest: ${(srtCpu / rtmpCpu).toFixed(2)}`);
  }
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(
    join(RESULTS, `srt-${Date.now()}.json`),
    `${JSON.stringify({ latencyMs, durationS, rows }, null, 1)}\n`,
  );
  process.stdout.write(
    `${table.join('\n')}\n\ncommand: npm run bench:srt -- ${process.argv.slice(2).join(' ')}\n`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `bench:srt failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
