// The primary process of `onair --workers N`: forks N workers behind the same ports
// (node:cluster), restarts one that dies, keeps the map of which worker publishes which stream,
// merges the workers' stream lists and metrics, and stops them all on SIGTERM.
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { AggregatorRegistry } from 'prom-client';
import type { StreamInfo } from '../api/api-schemas.ts';
import { loadOrCreateSecret } from '../api/secret-file.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { isToPrimary, mergeStreams, type ToPrimary, type ToWorker } from './worker-messages.ts';

/** How often the group's stream list is merged and sent to every worker. */
const GROUP_EVERY_MS = 1000;
/** Metrics a worker has not rendered within this long are left out of the sum. */
const METRICS_TIMEOUT_MS = 2000;
/** A worker that dies sooner than this after its start waits longer before the next one. */
const STABLE_AFTER_MS = 10_000;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;

interface Slot {
  readonly index: number;
  worker: Worker;
  startedMs: number;
  failures: number;
  streams: readonly StreamInfo[];
  /** The pending restart of a dead worker: it keeps the primary up (all may be dead at once). */
  restart: NodeJS.Timeout | null;
}

/** Runs the workers until a signal; resolves with the exit code. */
export async function runPrimary(config: Config, logger: Logger, count: number): Promise<number> {
  const log = logger.child({ component: 'workers' });
  // Made once, here: workers starting together would each make a different one.
  if (!config.auth.secret) loadOrCreateSecret(join(config.dataDir, 'auth-secret'));
  if (!config.api.token) {
    const token = loadOrCreateSecret(join(config.dataDir, 'api-token'));
    if (token.created && config.api.enabled) {
      // Printed once, on the start that generated it; it stays in the data directory.
      process.stdout.write(
        `\n  Admin API token (generated now, kept in ${config.dataDir}/api-token):\n  ${token.value}\n`,
      );
    }
  }
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection in the primary (a bug)');
  });
  const primary = new Primary(log, count);
  const code = await new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: string): void => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: killing the workers now');
        primary.kill();
        resolve(1);
        return;
      }
      log.info({ signal }, 'signal received: stopping the workers');
      primary.stop(config.server.shutdownTimeoutMs + 2000).then(
        (clean) => {
          resolve(clean ? 0 : 1);
        },
        () => {
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    primary.start();
  });
  return code;
}

class Primary {
  readonly #log: Logger;
  readonly #count: number;
  readonly #slots: Slot[] = [];
  /** Which worker publishes each stream, and its loopback RTMP URL. */
  readonly #published = new Map<
    string,
    { readonly workerId: number; readonly url: string; readonly httpUrl: string }
  >();
  readonly #metricsWaits = new Map<
    number,
    { readonly pending: Set<number>; readonly parts: unknown[][]; readonly done: () => void }
  >();
  #nextMetricsId = 1;
  #stopping = false;
  #groupTimer: NodeJS.Timeout | null = null;

  constructor(log: Logger, count: number) {
    this.#log = log;
    this.#count = count;
  }

  start(): void {
    for (let index = 0; index < this.#count; index++) {
      const slot: Slot = {
        index,
        worker: this.#fork(index),
        startedMs: Date.now(),
        failures: 0,
        streams: [],
        restart: null,
      };
      this.#slots.push(slot);
      this.#watch(slot);
    }
    this.#groupTimer = setInterval(() => {
      this.#sendGroup();
    }, GROUP_EVERY_MS);
    this.#groupTimer.unref();
    this.#log.info({ workers: this.#count }, 'workers started');
  }

  /** SIGTERM to every worker; resolves true when all exited within `deadlineMs`. */
  async stop(deadlineMs: number): Promise<boolean> {
    this.#stopping = true;
    if (this.#groupTimer) clearInterval(this.#groupTimer);
    this.#cancelRestarts();
    const exits = this.#slots
      .filter((slot) => !isGone(slot.worker))
      .map(
        (slot) =>
          new Promise<void>((resolve) => {
            slot.worker.once('exit', () => {
              resolve();
            });
            slot.worker.process.kill('SIGTERM');
          }),
      );
    let timer: NodeJS.Timeout | undefined;
    const clean = await Promise.race([
      Promise.all(exits).then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          resolve(false);
        }, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    if (!clean) {
      this.#log.warn('workers still running after the shutdown deadline: killing them');
      this.kill();
    }
    return clean;
  }

  kill(): void {
    this.#stopping = true;
    this.#cancelRestarts();
    for (const slot of this.#slots) if (!isGone(slot.worker)) slot.worker.process.kill('SIGKILL');
  }

  #fork(index: number): Worker {
    // The first worker of the first start prints the banner (where to publish and watch).
    return cluster.fork({
      ONAIR_WORKER_INDEX: String(index),
      ONAIR_WORKER_BANNER: index === 0 && this.#slots.length === 0 ? '1' : '0',
    });
  }

  #watch(slot: Slot): void {
    const worker = slot.worker;
    worker.on('message', (message: unknown) => {
      if (isToPrimary(message)) this.#receive(slot, worker, message);
    });
    worker.on('error', (error) => {
      this.#log.warn({ err: error, worker: slot.index }, 'worker channel error');
    });
    worker.once('exit', (code, signal) => {
      this.#forget(worker.id);
      slot.streams = [];
      if (this.#stopping) return;
      const lived = Date.now() - slot.startedMs;
      slot.failures = lived >= STABLE_AFTER_MS ? 0 : slot.failures + 1;
      const delayMs = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(slot.failures, 10));
      this.#log.error(
        { worker: slot.index, code, signal, restartInMs: delayMs },
        'a worker died; restarting it',
      );
      // Not unref'd: were every worker dead (a port another program holds), an unref'd timer
      // would let the primary's event loop empty and the group exit 0 instead of retrying.
      slot.restart = setTimeout(() => {
        slot.restart = null;
        if (this.#stopping) return;
        slot.worker = this.#fork(slot.index);
        slot.startedMs = Date.now();
        this.#watch(slot);
      }, delayMs);
    });
  }

  #cancelRestarts(): void {
    for (const slot of this.#slots) {
      if (slot.restart) clearTimeout(slot.restart);
      slot.restart = null;
    }
  }

  #receive(slot: Slot, worker: Worker, message: ToPrimary): void {
    switch (message.onair) {
      case 'register':
        if (
          typeof message.path === 'string' &&
          typeof message.url === 'string' &&
          typeof message.httpUrl === 'string'
        )
          this.#published.set(message.path, {
            workerId: worker.id,
            url: message.url,
            httpUrl: message.httpUrl,
          });
        return;
      case 'unregister':
        if (this.#published.get(message.path)?.workerId === worker.id)
          this.#published.delete(message.path);
        return;
      case 'locate': {
        const entry = this.#published.get(message.path);
        const other = entry && entry.workerId !== worker.id ? entry : null;
        send(worker, {
          onair: 'located',
          id: message.id,
          url: other?.url ?? null,
          httpUrl: other?.httpUrl ?? null,
        });
        return;
      }
      case 'streams':
        if (Array.isArray(message.streams)) slot.streams = message.streams;
        return;
      case 'access-changed':
        for (const other of this.#slots)
          if (other.worker !== worker) send(other.worker, { onair: 'access-changed' });
        return;
      case 'metrics-request':
        void this.#groupMetrics().then((text) => {
          send(worker, { onair: 'metrics', id: message.id, text });
        });
        return;
      case 'metrics-json': {
        const wait = this.#metricsWaits.get(message.id);
        if (!wait || !wait.pending.delete(worker.id)) return;
        if (Array.isArray(message.metrics)) wait.parts.push(message.metrics);
        if (wait.pending.size === 0) wait.done();
        return;
      }
    }
  }

  /** Every live worker's metrics, summed (prom-client's cluster aggregation); null on error. */
  async #groupMetrics(): Promise<string | null> {
    const live = this.#slots.map((slot) => slot.worker).filter((worker) => !isGone(worker));
    const id = this.#nextMetricsId++;
    const parts: unknown[][] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, METRICS_TIMEOUT_MS);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#metricsWaits.set(id, { pending: new Set(live.map((w) => w.id)), parts, done });
      for (const worker of live) send(worker, { onair: 'metrics-json-request', id });
      if (live.length === 0) done();
    });
    this.#metricsWaits.delete(id);
    try {
      return await AggregatorRegistry.aggregate(parts).metrics();
    } catch (error) {
      this.#log.warn({ err: error }, 'metrics of the workers could not be merged');
      return null;
    }
  }

  #sendGroup(): void {
    const streams = mergeStreams(this.#slots.map((slot) => slot.streams));
    for (const slot of this.#slots) send(slot.worker, { onair: 'group', streams });
  }

  #forget(workerId: number): void {
    for (const [path, entry] of this.#published)
      if (entry.workerId === workerId) this.#published.delete(path);
  }
}

function isGone(worker: Worker): boolean {
  return worker.isDead() || worker.process.exitCode !== null;
}

function send(worker: Worker, message: ToWorker): void {
  if (isGone(worker) || !worker.isConnected()) return;
  worker.send(message, undefined, () => undefined);
}
