// The soak: `npm run soak -- --minutes N`. onair as its own process for N minutes with an ffmpeg
// publisher that reconnects every few minutes (within the grace period), hundreds of HTTP-FLV
// and LL-HLS viewers, viewers that stop reading, and a trickle of hostile clients. It reports
// RSS drift, event-loop lag, frames dropped (only stalled viewers may lose any), HLS continuity
// (one EXT-X-DISCONTINUITY per reconnect, no media sequence gap) and whether onair survived.
// Not part of `npm test`: it runs for minutes. Every loop here is bounded by the run's end.
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishTestPattern } from '../test/support/media-tools.ts';
import {
  TEST_API_TOKEN,
  metricValue,
  startServerProcess,
  type ServerProcess,
} from '../test/support/server-process.ts';
import { UPGRADE_HEAD, rawTo } from '../test/support/raw-http.ts';
import { RawRtmp } from '../test/support/raw-rtmp.ts';
import { comparePart, resolvePath, scanPlaylist, type ListedPart } from './hls-playlist-scan.ts';

const usage = `usage: npm run soak -- [--minutes 30] [--flv 200] [--hls 100] [--stalled 10]
       [--reconnect-s 180] [--hostile-every-s 5] [--out bench/results/soak.json]`;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    flv: { type: 'string', default: '200' },
    hls: { type: 'string', default: '100' },
    stalled: { type: 'string', default: '10' },
    'reconnect-s': { type: 'string', default: '180' },
    'hostile-every-s': { type: 'string', default: '5' },
    out: { type: 'string', default: 'bench/results/soak.json' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help === true) {
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
const minutes = Number(values.minutes);
const flvCount = Number(values.flv);
const hlsCount = Number(values.hls);
const stalledCount = Number(values.stalled);
const reconnectS = Number(values['reconnect-s']);
const hostileEveryS = Number(values['hostile-every-s']);
for (const [name, value] of Object.entries({ minutes, flvCount, hlsCount, stalledCount })) {
  if (!Number.isFinite(value) || value < 0) throw new Error(`bad ${name}: ${usage}`);
}

const STREAM = 'live/soak';
const SAMPLE_MS = 10_000;
const endAtMs = Date.now() + minutes * 60_000;
const running = (): boolean => Date.now() < endAtMs;

const server: ServerProcess = await startServerProcess({
  log: { level: 'info' },
  // Every soak viewer is 127.0.0.1: let each be its own HLS session.
  hls: { maxSessionsPerIp: 10_000 },
});
log(`onair pid ${String(server.child.pid)}: RTMP ${server.rtmpPort}, HTTP ${server.httpPort}`);

// --- the publisher: ffmpeg for reconnect-s seconds, again and again --------------------------
let publishes = 0;
const publisherDone = (async () => {
  while (running()) {
    const seconds = Math.max(10, Math.min(reconnectS, (endAtMs - Date.now()) / 1000));
    const publisher = publishTestPattern(server.rtmpUrl(STREAM), {
      size: '640x360',
      gop: 25,
      seconds,
    });
    publishes++;
    await new Promise((resolve) => publisher.process.once('exit', resolve));
  }
})();
await waitUntil(async () => (await streamLive()) || !running(), 30_000);

// --- HTTP-FLV viewers: healthy ones read everything, stalled ones stop reading ---------------
interface FlvViewer {
  readonly stalled: boolean;
  socket: Socket | null;
  bytes: number;
  closedByServer: number;
}
const flvViewers: FlvViewer[] = [];
function openFlv(viewer: FlvViewer): void {
  const socket = connect(server.httpPort, '127.0.0.1');
  viewer.socket = socket;
  let head = true;
  socket.on('connect', () => {
    socket.write(
      `GET /${STREAM}.flv HTTP/1.1\r\nHost: soak\r\nUser-Agent: onair-soak ${viewer.stalled ? 'stalled' : 'healthy'}\r\n\r\n`,
    );
  });
  socket.on('data', (bytes: Buffer) => {
    viewer.bytes += bytes.length;
    if (head && viewer.stalled) socket.pause(); // a player that stops reading
    head = false;
  });
  socket.on('error', () => undefined);
  socket.on('close', () => {
    if (!running()) return;
    viewer.closedByServer++;
    // A player reconnects; a stalled one comes back stalled.
    setTimeout(() => {
      if (running()) openFlv(viewer);
    }, 1000).unref();
  });
}
for (let i = 0; i < flvCount + stalledCount; i++) {
  const viewer: FlvViewer = { stalled: i >= flvCount, socket: null, bytes: 0, closedByServer: 0 };
  flvViewers.push(viewer);
  openFlv(viewer);
}

// --- LL-HLS viewers: blocking reloads, every new part fetched, continuity checked -------------
interface HlsViewerState {
  playlists: number;
  parts: number;
  bytes: number;
  errors: number;
  msnGaps: number;
  msnRegressions: number;
  /** Discontinuities since the stream's first segment, as the last playlist counted them. */
  discontinuities: number;
}
const hlsViewers: HlsViewerState[] = [];
async function hlsViewer(index: number, state: HlsViewerState): Promise<void> {
  const base = `http://127.0.0.1:${server.httpPort}/${STREAM}.m3u8`;
  const headers = { 'user-agent': `onair-soak hls ${index}` };
  let next: { msn: number; part: number } | null = null;
  let lastPart: { msn: number; index: number } | null = null;
  let newestMsn = -1;
  while (running()) {
    try {
      const url: string =
        next === null ? base : `${base}?_HLS_msn=${next.msn}&_HLS_part=${next.part}`;
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
      const text = await res.text();
      if (res.status !== 200) {
        state.errors++;
        next = null;
        await delay(500);
        continue;
      }
      state.playlists++;
      const scan = scanPlaylist(text);
      const sequence = Number(/^#EXT-X-MEDIA-SEQUENCE:(\d+)$/m.exec(text)?.[1] ?? 0);
      const msns = scan.segments.map((segment) => segment.msn);
      for (let i = 1; i < msns.length; i++) {
        if ((msns[i] ?? 0) !== (msns[i - 1] ?? 0) + 1) state.msnGaps++;
      }
      const newest = msns.at(-1) ?? sequence - 1;
      if (newest < newestMsn) state.msnRegressions++;
      newestMsn = Math.max(newestMsn, newest);
      const discontinuitySequence = Number(
        /^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)$/m.exec(text)?.[1] ?? 0,
      );
      state.discontinuities =
        discontinuitySequence + (text.match(/^#EXT-X-DISCONTINUITY$/gm)?.length ?? 0);
      const fresh = scan.parts.filter(
        (part: ListedPart) => lastPart === null || comparePart(part, lastPart) > 0,
      );
      // Join near live: only the last few parts of the first playlist.
      const toFetch: ListedPart[] = lastPart === null ? fresh.slice(-3) : fresh;
      for (const part of toFetch) {
        const media = await fetch(
          `http://127.0.0.1:${server.httpPort}${resolvePath(`/${STREAM}.m3u8`, part.uri)}`,
          { headers, signal: AbortSignal.timeout(15_000) },
        );
        const body = await media.arrayBuffer();
        if (media.status === 200) {
          state.parts++;
          state.bytes += body.byteLength;
        } else state.errors++;
        lastPart = { msn: part.msn, index: part.index };
      }
      next = scan.next;
    } catch {
      state.errors++;
      next = null;
      await delay(500);
    }
  }
}
const hlsDone = Promise.all(
  Array.from({ length: hlsCount }, (_, i) => {
    const state: HlsViewerState = {
      playlists: 0,
      parts: 0,
      bytes: 0,
      errors: 0,
      msnGaps: 0,
      msnRegressions: 0,
      discontinuities: 0,
    };
    hlsViewers.push(state);
    return hlsViewer(i, state);
  }),
);

// --- a trickle of hostile clients ------------------------------------------------------------
const hostileRuns = new Map<string, number>();
const hostileActions: [string, () => Promise<void>][] = [
  [
    'WebSocket upgrade reset mid-refusal',
    async () => {
      const raw = await rawTo(server.httpPort);
      raw.socket.write(`GET /nothing HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEAD}`);
      await delay(5);
      raw.socket.resetAndDestroy();
    },
  ],
  [
    'refused upgrade held open',
    async () => {
      const raw = await rawTo(server.httpPort);
      raw.socket.write(`GET //x.flv HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEAD}`);
      await waitUntil(async () => Promise.resolve(raw.closed()), 10_000);
      raw.socket.destroy();
    },
  ],
  [
    'HEAD then GET on one connection',
    async () => {
      const raw = await rawTo(server.httpPort);
      raw.socket.write(
        `HEAD /${STREAM}.flv HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      await delay(500);
      raw.socket.destroy();
    },
  ],
  [
    '64 KiB of headers',
    async () => {
      const raw = await rawTo(server.httpPort);
      raw.socket.write(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`);
      await waitUntil(async () => Promise.resolve(raw.closed()), 5000);
      raw.socket.destroy();
    },
  ],
  [
    'RTMP half-open connection',
    async () => {
      const raw = await RawRtmp.open(server.rtmpPort);
      await waitUntil(async () => Promise.resolve(raw.closed), 15_000);
      raw.destroy();
    },
  ],
  [
    'RTMP garbage handshake',
    async () => {
      const raw = await RawRtmp.open(server.rtmpPort);
      raw.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await waitUntil(async () => Promise.resolve(raw.closed), 5000);
      raw.destroy();
    },
  ],
  [
    'RTMP reset mid-handshake',
    async () => {
      const raw = await RawRtmp.open(server.rtmpPort);
      raw.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(700, 1)]));
      raw.socket.resetAndDestroy();
    },
  ],
  [
    'LL-HLS request far in the future',
    async () => {
      const res = await fetch(
        `http://127.0.0.1:${server.httpPort}/${STREAM}.m3u8?_HLS_msn=99999999&_HLS_part=0`,
      );
      await res.arrayBuffer();
    },
  ],
  [
    'API with a wrong token',
    async () => {
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/api/v1/streams`, {
        headers: { authorization: 'Bearer nope' },
      });
      await res.arrayBuffer();
    },
  ],
];
const hostileDone = (async () => {
  let turn = 0;
  while (running()) {
    await delay(hostileEveryS * 1000);
    const [name, act] = hostileActions[turn++ % hostileActions.length] ?? hostileActions[0]!;
    hostileRuns.set(name, (hostileRuns.get(name) ?? 0) + 1);
    void act().catch(() => undefined);
  }
})();

// --- sampling --------------------------------------------------------------------------------
interface Sample {
  readonly atS: number;
  readonly rssMiB: number;
  readonly lagP99Ms: number;
  readonly lagMaxMs: number;
  readonly heapMiB: number;
  readonly viewers: number;
  readonly healthyDropped: number;
  readonly stalledDropped: number;
}
const samples: Sample[] = [];
const startedAtMs = Date.now();
let crashed = false;
while (running()) {
  await delay(Math.min(SAMPLE_MS, Math.max(0, endAtMs - Date.now())));
  if (server.exited()) {
    crashed = true;
    break;
  }
  try {
    const metrics = await server.metrics();
    const sessions = await api<{
      items: { userAgent: string | null; droppedFrames: number | null }[];
    }>('/api/v1/sessions?itemsPerPage=1000');
    const dropped = (kind: string): number =>
      sessions.items
        .filter((s) => s.userAgent === `onair-soak ${kind}`)
        .reduce((sum, s) => sum + (s.droppedFrames ?? 0), 0);
    const sample: Sample = {
      atS: Math.round((Date.now() - startedAtMs) / 1000),
      rssMiB: round(server.rssBytes() / 1048576),
      lagP99Ms: round((metricValue(metrics, 'nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000),
      lagMaxMs: round((metricValue(metrics, 'nodejs_eventloop_lag_max_seconds') ?? 0) * 1000),
      heapMiB: round((metricValue(metrics, 'nodejs_heap_size_used_bytes') ?? 0) / 1048576),
      viewers: sessions.items.length,
      healthyDropped: dropped('healthy'),
      stalledDropped: dropped('stalled'),
    };
    samples.push(sample);
    log(
      `t=${sample.atS}s rss=${sample.rssMiB}MiB heap=${sample.heapMiB}MiB lag p99=${sample.lagP99Ms}ms max=${sample.lagMaxMs}ms sessions=${sample.viewers} publishes=${publishes}`,
    );
  } catch (error) {
    log(`sample failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

// --- the end ---------------------------------------------------------------------------------
const lastSample = samples.at(-1);
for (const viewer of flvViewers) viewer.socket?.destroy();
await Promise.race([Promise.all([publisherDone, hlsDone, hostileDone]), delay(30_000)]);
const stopped = await server.stop({ timeoutMs: 30_000 });

const windowOf = (from: number, to: number): Sample[] =>
  samples.filter((s) => s.atS >= from && s.atS <= to);
const durationS = minutes * 60;
const warmS = Math.min(120, durationS / 5);
const early = windowOf(warmS, warmS + Math.max(60, durationS / 10));
const late = windowOf(durationS - Math.max(60, durationS / 10), durationS);
const mean = (values: readonly number[]): number =>
  values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
const rssEarly = mean(early.map((s) => s.rssMiB));
const rssLate = mean(late.map((s) => s.rssMiB));
const p99s = samples.map((s) => s.lagP99Ms).sort((a, b) => a - b);
const healthy = flvViewers.filter((v) => !v.stalled);
const stalled = flvViewers.filter((v) => v.stalled);
const report = {
  minutes,
  viewers: { flv: flvCount, hls: hlsCount, stalled: stalledCount },
  publishes,
  crashed: crashed || stopped.signal !== null || stopped.code !== 0,
  exit: { code: stopped.code, signal: stopped.signal, shutdownMs: stopped.ms },
  rss: {
    earlyMiB: round(rssEarly),
    lateMiB: round(rssLate),
    driftPercent: rssEarly === 0 ? null : round(((rssLate - rssEarly) / rssEarly) * 100),
    maxMiB: Math.max(0, ...samples.map((s) => s.rssMiB)),
  },
  eventLoopLagMs: {
    p99Median: p99s[Math.floor(p99s.length / 2)] ?? null,
    p99Worst: p99s.at(-1) ?? null,
    maxWorst: Math.max(0, ...samples.map((s) => s.lagMaxMs)),
  },
  flv: {
    healthyDroppedFrames: lastSample?.healthyDropped ?? null,
    healthyClosedByServer: healthy.reduce((sum, v) => sum + v.closedByServer, 0),
    healthyMiB: round(healthy.reduce((sum, v) => sum + v.bytes, 0) / 1048576),
    stalledClosedByServer: stalled.reduce((sum, v) => sum + v.closedByServer, 0),
    stalledDroppedFramesMax: Math.max(0, ...samples.map((s) => s.stalledDropped)),
  },
  hls: {
    playlists: sum(hlsViewers.map((v) => v.playlists)),
    parts: sum(hlsViewers.map((v) => v.parts)),
    MiB: round(sum(hlsViewers.map((v) => v.bytes)) / 1048576),
    errors: sum(hlsViewers.map((v) => v.errors)),
    msnGaps: sum(hlsViewers.map((v) => v.msnGaps)),
    msnRegressions: sum(hlsViewers.map((v) => v.msnRegressions)),
    discontinuitiesSeen: [...new Set(hlsViewers.map((v) => v.discontinuities))],
    discontinuitiesExpected: publishes - 1,
  },
  hostile: Object.fromEntries(hostileRuns),
  samples,
};
const outPath = fileURLToPath(new URL(`../${values.out}`, import.meta.url));
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(
  `${JSON.stringify({ ...report, samples: `${samples.length} in ${values.out}` }, null, 2)}\n`,
);
process.exit(report.crashed ? 1 : 0);

// --- helpers ---------------------------------------------------------------------------------
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`, {
    headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
  });
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function streamLive(): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${server.httpPort}/${STREAM}.flv`, {
      method: 'HEAD',
    });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return;
    await delay(100);
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function log(line: string): void {
  process.stdout.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}
