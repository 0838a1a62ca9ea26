// The WebRTC load generator (one process, pinned by the caller): one RTMP publisher sending a
// video-only H.264 FLV at real-time pace, and N WHEP viewers (bench/whep-viewer.ts) joined at
// --ramp per second. Measures onair's CPU (/proc), the RTP bytes onair handed each viewer (its
// sessions in the admin API) and, in one viewer of every --count-every, the RTP bytes received,
// over the steady window, and writes one JSON result. Bounded: --duration, then every peer is
// closed. Counting is sampled because it is what costs the load generator most: each RTP packet
// counted is a callback from libdatachannel's thread into JavaScript (at 250 counting viewers,
// about 52,000 a second, this process saturated its core; not counting, 500 viewers took 83 %).
// The viewers share libdatachannel's threads and one loopback, so a sample sees what they all do.
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { readFlvSource } from './flv-source.ts';
import {
  ProcSampler,
  machineBusyPercent,
  machineCpuTimes,
  type ProcSample,
} from './proc-sampler.ts';
import { Publisher } from './publisher.ts';
import { WhepViewer, closeWebRtc } from './whep-viewer.ts';

/** What one load run measured. */
export interface WhepLoadResult {
  readonly viewers: number;
  readonly durationS: number;
  readonly ramp: number;
  readonly mediaKbps: number;
  readonly windowS: number;
  /** Viewers whose offer was answered 201, that connected. */
  readonly answered: number;
  readonly connected: number;
  /** Viewers counting received RTP (one of every --count-every), and those that got some. */
  readonly counted: number;
  readonly receiving: number;
  readonly errors: readonly string[];
  /** Peers made again after libjuice dropped an offerer's ICE transport (whep-viewer.ts). */
  readonly retries: number;
  /** Publisher's video bytes (FLV bodies) sent during the window: each viewer's expectation. */
  readonly expectedBytes: number;
  /** Counted viewers whose window RTP bytes received were >= 95 % of expectedBytes. */
  readonly keepingUp: number;
  /** Sum of window RTP bytes over the counted viewers, in Mbit/s. */
  readonly receivedMbps: number;
  /** Median and minimum of a counted viewer's window bytes / expectedBytes. */
  readonly medianRatio: number;
  readonly minRatio: number;
  /**
   * From onair's side (its WebRTC viewer sessions, RTP bytes handed to libdatachannel): the
   * sessions, those sent >= 95 % of expectedBytes in the window, and the sum in Mbit/s. Null
   * without --api-token.
   */
  readonly sent: {
    readonly sessions: number;
    readonly keepingUp: number;
    readonly mbps: number;
  } | null;
  readonly serverCpuPct: number;
  readonly serverRssMB: number;
  /** This process (all threads: libdatachannel's included), % of one core. */
  readonly benchCpuPct: number;
  readonly machineBusyPct: Record<string, number>;
  /** Offer -> first RTP packet, over the viewers that got one (ms). */
  readonly startupP50Ms: number | null;
  readonly startupP95Ms: number | null;
  readonly publisherError: string | null;
  readonly serverCpuTimeline: readonly number[];
}

const usage = `usage: tsx bench/whep-load.ts --publish RTMP_URL --endpoint WHEP_URL [options]
  --file PATH        video-only H.264 FLV to publish              [bench/results/media-webrtc.flv]
  --viewers N        WHEP viewers                                 [100]
  --ramp R           viewers started per second                   [50]
  --duration S       seconds of viewers, ramp included (max 120)  [30]
  --server-pid LIST  server process trees to sample
  --bind ADDR        the viewers' ICE address                     [127.0.0.1]
  --count-every K    one viewer of every K counts received RTP    [1]
  --api-token T      read onair's viewer sessions from the API at the endpoint's host
  --json PATH        write the result there`;

const round1 = (value: number): number => Math.round(value * 10) / 10;

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
}

/** An API read that failed (an overloaded onair): the run goes on without onair's side. */
function apiFailed(error: unknown): null {
  process.stderr.write(`whep-load: sessions not read: ${String(error)}\n`);
  return null;
}

/** Bytes onair sent each WebRTC viewer session of the stream, by session id (null: no token). */
async function sessionBytes(
  endpoint: string,
  token: string | undefined,
): Promise<Map<string, number> | null> {
  if (token === undefined) return null;
  const stream = new URL(endpoint).pathname.replace(/^\//, '').replace(/\/whep$/, '');
  const bytes = new Map<string, number>();
  for (let page = 0; page < 10; page++) {
    const url = new URL(
      `/api/v1/sessions?stream=${stream}&itemsPerPage=1000&page=${page}`,
      endpoint,
    );
    const response = await fetch(url, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(10_000),
    });
    if (response.status !== 200) throw new Error(`${url.href} answered ${response.status}`);
    const body = (await response.json()) as {
      items: { id: string; role: string; protocol: string; bytes: number | null }[];
      total: number;
    };
    for (const item of body.items) {
      if (item.role === 'viewer' && item.protocol === 'webrtc') bytes.set(item.id, item.bytes ?? 0);
    }
    if ((page + 1) * 1000 >= body.total) break;
  }
  return bytes;
}

function sentOf(
  from: Map<string, number> | null,
  to: Map<string, number> | null,
  expectedBytes: number,
  windowS: number,
): WhepLoadResult['sent'] {
  if (from === null || to === null) return null;
  let keepingUp = 0;
  let total = 0;
  for (const [id, end] of to) {
    const sent = end - (from.get(id) ?? end); // a session that joined inside the window: 0
    total += sent;
    if (sent >= 0.95 * expectedBytes) keepingUp++;
  }
  return { sessions: to.size, keepingUp, mbps: round1((total * 8) / windowS / 1e6) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    strict: true,
    options: {
      publish: { type: 'string' },
      endpoint: { type: 'string' },
      file: { type: 'string', default: 'bench/results/media-webrtc.flv' },
      viewers: { type: 'string', default: '100' },
      ramp: { type: 'string', default: '50' },
      duration: { type: 'string', default: '30' },
      'server-pid': { type: 'string', default: '' },
      bind: { type: 'string', default: '127.0.0.1' },
      'count-every': { type: 'string', default: '1' },
      'api-token': { type: 'string' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help || values.publish === undefined || values.endpoint === undefined) {
    process.stderr.write(`${usage}\n`);
    return values.help ? 0 : 2;
  }
  const count = Number(values.viewers);
  const ramp = Number(values.ramp);
  const durationS = Math.min(120, Number(values.duration));
  const countEvery = Number(values['count-every']);
  if (!(count >= 1 && count <= 5000 && ramp > 0 && durationS > 0 && countEvery >= 1)) {
    process.stderr.write(`bad --viewers / --ramp / --duration\n${usage}\n`);
    return 2;
  }
  const serverPids = values['server-pid']
    .split(',')
    .filter((s) => s !== '')
    .map(Number);
  const source = readFlvSource(values.file);
  const publisher = new Publisher(source);
  await publisher.start(values.publish);
  process.stderr.write(
    `whep-load: x${count} at ${ramp}/s for ${durationS} s, ${round1(source.mediaKbps)} kbps\n`,
  );
  await sleep(2000); // the stream is up and its first keyframe is in onair's GOP cache

  const sampler = serverPids.length > 0 ? new ProcSampler(serverPids) : null;
  const viewers: WhepViewer[] = [];
  const startedAt = performance.now();
  const endAt = startedAt + durationS * 1000;
  // Join at `ramp` per second; each start() is bounded by its own 10 s timeout.
  const joins: Promise<void>[] = [];
  for (let i = 0; i < count && performance.now() < endAt; i++) {
    const due = startedAt + (i * 1000) / ramp;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const viewer = new WhepViewer(`v${i}`, values.endpoint, performance.now(), {
      bindAddress: values.bind,
      count: i % countEvery === 0,
    });
    viewers.push(viewer);
    joins.push(viewer.start(10_000));
  }
  await Promise.race([Promise.all(joins), sleep(Math.max(0, endAt - performance.now()))]);
  // Steady window: from 3 s after the last join to the end of --duration (at least 5 s).
  const windowStart = Math.max(performance.now() + 3000, startedAt + (count * 1000) / ramp + 3000);
  if (windowStart > endAt - 5000) {
    process.stderr.write(`whep-load: --duration too short for the ramp; the window is short\n`);
  }
  await sleep(Math.max(0, windowStart - performance.now()));
  const from = {
    at: performance.now(),
    bytes: viewers.map((v) => v.stats.rtpBytes),
    published: publisher.stats.mediaBytes,
    cpu: process.cpuUsage(),
    machine: machineCpuTimes(),
    server: sampler?.sample() ?? null,
    sessions: await sessionBytes(values.endpoint, values['api-token']).catch(apiFailed),
  };
  const timeline: number[] = [];
  const rss: number[] = [];
  let last: ProcSample | null = from.server;
  const windowEnd = Math.max(endAt, from.at + 5000);
  while (performance.now() < windowEnd) {
    await sleep(Math.min(1000, windowEnd - performance.now()));
    if (sampler !== null && last !== null) {
      const now = sampler.sample();
      timeline.push(round1(sampler.cpuPercent(last, now)));
      rss.push(now.rssKB);
      last = now;
    }
  }
  const to = {
    at: performance.now(),
    bytes: viewers.map((v) => v.stats.rtpBytes),
    published: publisher.stats.mediaBytes,
    cpu: process.cpuUsage(from.cpu),
    machine: machineCpuTimes(),
    server: last,
    sessions: await sessionBytes(values.endpoint, values['api-token']).catch(apiFailed),
  };
  const windowS = (to.at - from.at) / 1000;
  const expectedBytes = to.published - from.published;
  const countedAt = viewers.map((_, i) => i).filter((i) => i % countEvery === 0);
  const ratios = countedAt.map((i) => ((to.bytes[i] ?? 0) - (from.bytes[i] ?? 0)) / expectedBytes);
  const received = countedAt.reduce((a, i) => a + (to.bytes[i] ?? 0) - (from.bytes[i] ?? 0), 0);
  const startups = viewers
    .map((v) =>
      v.stats.firstPacketAtMs === null ? null : v.stats.firstPacketAtMs - v.stats.startedAtMs,
    )
    .filter((x): x is number => x !== null);
  const errors = [
    ...new Set(viewers.map((v) => v.stats.error ?? v.stats.ended).filter((e) => e !== null)),
  ].slice(0, 5);
  const result: WhepLoadResult = {
    viewers: count,
    durationS,
    ramp,
    mediaKbps: round1(source.mediaKbps),
    windowS: round1(windowS),
    answered: viewers.filter((v) => v.stats.status === 201).length,
    connected: viewers.filter((v) => v.stats.connectedAtMs !== null).length,
    counted: countedAt.length,
    receiving: countedAt.filter((i) => (viewers[i]?.stats.rtpPackets ?? 0) > 0).length,
    errors,
    retries: viewers.reduce((sum, v) => sum + v.stats.retries, 0),
    expectedBytes,
    keepingUp: ratios.filter((r) => r >= 0.95).length,
    receivedMbps: round1((received * 8) / windowS / 1e6),
    medianRatio: Math.round((quantile(ratios, 0.5) ?? 0) * 1000) / 1000,
    minRatio: Math.round(Math.min(...ratios) * 1000) / 1000,
    sent: sentOf(from.sessions, to.sessions, expectedBytes, windowS),
    serverCpuPct:
      sampler !== null && from.server !== null && to.server !== null
        ? round1(sampler.cpuPercent(from.server, to.server))
        : 0,
    serverRssMB: rss.length > 0 ? round1(rss.reduce((a, b) => a + b, 0) / rss.length / 1024) : 0,
    benchCpuPct: round1(((to.cpu.user + to.cpu.system) / 1e6 / windowS) * 100),
    machineBusyPct: machineBusyPercent(from.machine, to.machine),
    startupP50Ms: quantile(startups, 0.5),
    startupP95Ms: quantile(startups, 0.95),
    publisherError: publisher.stats.error,
    serverCpuTimeline: timeline,
  };
  // Teardown, bounded: DELETE every resource (50 at a time), close the peers, stop the threads.
  for (let i = 0; i < viewers.length; i += 50) {
    await Promise.race([
      Promise.all(viewers.slice(i, i + 50).map((v) => v.close(3000))),
      sleep(5000),
    ]);
  }
  publisher.stop();
  closeWebRtc();
  const json = JSON.stringify(result, null, 1);
  if (values.json !== undefined) writeFileSync(values.json, `${json}\n`);
  process.stderr.write(
    `whep-load: ${result.keepingUp}/${result.counted} counted viewers keeping up, ${result.receivedMbps} Mbps received by them; onair sent ${result.sent?.keepingUp ?? '?'}/${result.sent?.sessions ?? '?'} sessions the stream, ${result.sent?.mbps ?? '?'} Mbps; server ${result.serverCpuPct} %, bench ${result.benchCpuPct} %\n`,
  );
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // libdatachannel's threads are stopped; a stray handle must not keep the run alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(
      `whep-load failed: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    try {
      closeWebRtc();
    } catch {
      // nothing was made
    }
    process.exit(1);
  },
);
