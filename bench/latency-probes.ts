// Latency probes: K extra viewers in a worker thread, started spread over the ramp (so they sit at
// different places in the server's fan-out order), timing frames against the shared SendRing.
import { Worker } from 'node:worker_threads';
import type { LatencySummary } from './latency-histogram.ts';
import type { ViewerKind } from './load-options.ts';
import { createSendRingBuffer, monoMs, SendRing } from './send-ring.ts';
import type { ViewerResult } from './viewer-stats.ts';

/** Messages to the probe worker. Window times are monoMs(). */
export type ProbeRequest =
  | { readonly type: 'window'; readonly steadyStartMs: number; readonly endMs: number }
  | { readonly type: 'start'; readonly index: number; readonly url: string }
  | { readonly type: 'stop' };

/** What the probe worker measured. */
export interface ProbeReport {
  readonly steady: LatencySummary;
  readonly all: LatencySummary;
  readonly results: readonly ViewerResult[];
  readonly errors: Record<string, number>;
  /** Nice value of the probe thread (-10 when root could raise it), null if unchanged. */
  readonly nice: number | null;
}

/** Owns the probe worker. */
export class LatencyProbes {
  /** The ring the publisher writes send times into. */
  readonly ring: SendRing;
  readonly #worker: Worker;
  #started = 0;

  constructor(options: { kind: Exclude<ViewerKind, 'hls'>; startupTimeoutMs: number }) {
    const buffer = createSendRingBuffer();
    this.ring = new SendRing(buffer);
    // The worker is TypeScript: register tsx inside it first (workers do not inherit the hooks).
    const entry = new URL('./probe-worker.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    const source =
      `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); ` +
      `return import(${JSON.stringify(entry)}); });`;
    this.#worker = new Worker(source, {
      eval: true,
      workerData: { buffer, kind: options.kind, startupTimeoutMs: options.startupTimeoutMs },
    });
    this.#worker.unref();
  }

  /** Probes started so far. */
  get started(): number {
    return this.#started;
  }

  /** Sets the steady window, given in the caller's performance.now() clock. */
  setWindow(steadyStartMs: number, endMs: number, nowMs: number): void {
    const shift = monoMs() - nowMs;
    this.#send({ type: 'window', steadyStartMs: steadyStartMs + shift, endMs: endMs + shift });
  }

  /** Starts one more probe viewer on `url`. */
  start(url: string): void {
    this.#send({ type: 'start', index: 200_000 + this.#started, url });
    this.#started++;
  }

  /** Stops the probes; resolves with their figures (null if the worker does not answer in 5 s). */
  async stop(): Promise<ProbeReport | null> {
    const report = new Promise<ProbeReport | null>((resolve) => {
      this.#worker.once('message', (message: ProbeReport) => {
        resolve(message);
      });
      this.#worker.once('error', () => {
        resolve(null);
      });
      setTimeout(() => {
        resolve(null);
      }, 5000).unref();
    });
    this.#send({ type: 'stop' });
    const result = await report;
    await this.#worker.terminate();
    return result;
  }

  #send(request: ProbeRequest): void {
    this.#worker.postMessage(request);
  }
}
