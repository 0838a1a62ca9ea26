// WorkerLink: a worker's side of the IPC with the primary (`--workers N`): it registers the
// streams this worker publishes, asks where the others are, and reads the group's figures.
import type { StreamInfo } from '../api/api-schemas.ts';
import { isToWorker, type ToPrimary, type ToWorker } from './worker-messages.ts';

/** Requests waiting for the primary's answer, past which new ones answer null at once. */
const MAX_PENDING = 10_000;

export class WorkerLink {
  readonly #pending = new Map<number, (message: ToWorker) => void>();
  readonly #onAccessChanged: () => void;
  readonly #listener: (message: unknown) => void;
  #nextId = 1;
  #group: readonly StreamInfo[] | null = null;

  /** Renders this worker's metrics for the primary (getMetricsAsJSON()), or null without any. */
  readonly #metricsJson: () => Promise<unknown[] | null>;

  constructor(handlers: {
    readonly onAccessChanged: () => void;
    readonly metricsJson: () => Promise<unknown[] | null>;
  }) {
    this.#onAccessChanged = handlers.onAccessChanged;
    this.#metricsJson = handlers.metricsJson;
    this.#listener = (message) => {
      if (isToWorker(message)) this.#receive(message);
    };
    process.on('message', this.#listener);
  }

  /** The group's streams as last merged by the primary (null before the first merge). */
  get group(): readonly StreamInfo[] | null {
    return this.#group;
  }

  register(path: string, url: string, httpUrl: string): void {
    this.#send({ onair: 'register', path, url, httpUrl });
  }

  unregister(path: string): void {
    this.#send({ onair: 'unregister', path });
  }

  /** Sends this worker's streams (the primary merges every worker's). */
  reportStreams(streams: readonly StreamInfo[]): void {
    this.#send({ onair: 'streams', streams });
  }

  /** Tells the other workers to reload the access store. */
  accessChanged(): void {
    this.#send({ onair: 'access-changed' });
  }

  /**
   * The loopback RTMP and HTTP URLs of the other worker publishing `path`, or null (none, or
   * no answer in time).
   */
  async locate(
    path: string,
    timeoutMs: number,
  ): Promise<{ readonly url: string; readonly httpUrl: string } | null> {
    const answer = await this.#ask((id) => ({ onair: 'locate', id, path }), timeoutMs);
    if (answer?.onair !== 'located' || answer.url === null || answer.httpUrl === null) return null;
    return { url: answer.url, httpUrl: answer.httpUrl };
  }

  /** The whole group's metrics in Prometheus text, or null when the primary did not answer. */
  async metrics(timeoutMs: number): Promise<string | null> {
    const answer = await this.#ask((id) => ({ onair: 'metrics-request', id }), timeoutMs);
    return answer?.onair === 'metrics' ? answer.text : null;
  }

  close(): void {
    process.off('message', this.#listener);
    for (const resolve of this.#pending.values()) resolve({ onair: 'access-changed' });
    this.#pending.clear();
  }

  #ask(make: (id: number) => ToPrimary, timeoutMs: number): Promise<ToWorker | null> {
    if (this.#pending.size >= MAX_PENDING || !process.connected) return Promise.resolve(null);
    const id = this.#nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve(null);
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.#send(make(id));
    });
  }

  #receive(message: ToWorker): void {
    switch (message.onair) {
      case 'group':
        this.#group = message.streams;
        return;
      case 'access-changed':
        this.#onAccessChanged();
        return;
      case 'metrics-json-request': {
        const { id } = message;
        this.#metricsJson().then(
          (metrics) => {
            this.#send({ onair: 'metrics-json', id, metrics: metrics ?? [] });
          },
          () => {
            this.#send({ onair: 'metrics-json', id, metrics: [] });
          },
        );
        return;
      }
      case 'located':
      case 'metrics': {
        const resolve = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        resolve?.(message);
        return;
      }
    }
  }

  #send(message: ToPrimary): void {
    // The primary gone (it is stopping): nothing to tell, and nothing to crash over.
    if (!process.connected || process.send === undefined) return;
    process.send(message, undefined, undefined, () => undefined);
  }
}
