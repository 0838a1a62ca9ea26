// Worker thread of the latency probes: a few viewers on their own event loop, so their receive
// times are not delayed by the main thread working through N viewers' sockets one by one.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { ViewerKind } from './load-options.ts';
import { HttpFlvViewer } from './http-flv-viewer.ts';
import { RtmpViewer, type LoadViewer } from './rtmp-viewer.ts';
import { RingSendLookup, SendRing, monoMs } from './send-ring.ts';
import { LoadContext } from './viewer-stats.ts';
import type { ProbeRequest, ProbeReport } from './latency-probes.ts';

interface ProbeWorkerData {
  readonly buffer: SharedArrayBuffer;
  readonly kind: Exclude<ViewerKind, 'hls'>;
  readonly startupTimeoutMs: number;
}

const data = workerData as ProbeWorkerData;

/** Nice value asked for this thread: the probes must run as soon as their socket is readable. */
const PROBE_NICE = -10;
/** The nice value this thread got (setpriority on a tid is per thread on Linux), or null. */
let probeNice: number | null = null;
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  setPriority(tid, PROBE_NICE);
  probeNice = PROBE_NICE;
} catch {
  // not root: the probes run at the normal priority
}
const ctx = new LoadContext({
  sendLog: new RingSendLookup(new SendRing(data.buffer)),
  startupTimeoutMs: data.startupTimeoutMs,
  now: monoMs,
});
const probes: LoadViewer[] = [];

parentPort?.on('message', (request: ProbeRequest) => {
  switch (request.type) {
    case 'window':
      ctx.steadyStartMs = request.steadyStartMs;
      ctx.endMs = request.endMs;
      return;
    case 'start': {
      const options = { index: request.index, url: request.url, slow: false, ctx };
      const probe = data.kind === 'rtmp' ? new RtmpViewer(options) : new HttpFlvViewer(options);
      probes.push(probe);
      probe.start();
      return;
    }
    case 'stop': {
      ctx.stopping = true;
      const results = probes.map((probe) => {
        probe.stop();
        return probe.stats.result();
      });
      const report: ProbeReport = {
        steady: ctx.latencySteady.summary(),
        all: ctx.latencyAll.summary(),
        results,
        errors: Object.fromEntries(ctx.errors),
        nice: probeNice,
      };
      parentPort?.postMessage(report);
      return;
    }
  }
});
