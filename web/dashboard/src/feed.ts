// The live feed: GET /api/v1/events read with fetch() (EventSource cannot send the Authorization
// header), its Server-Sent Events text parsed here, reconnecting with backoff when it drops.
import { ApiError, describe, isAbort, type ApiClient } from './api.ts';
import type { Snapshot } from './api-types.ts';

/** One dispatched Server-Sent Event. */
export interface SseEvent {
  /** The `event:` field, 'message' when absent. */
  readonly event: string;
  /** The `data:` lines joined with '\n'. */
  readonly data: string;
  /** The `id:` field, or null. */
  readonly id: string | null;
}

/**
 * Incremental parser of the text/event-stream format (WHATWG HTML, "Server-sent events"): feed it
 * decoded text in chunks of any size; it returns the events completed by each chunk.
 */
export class SseParser {
  #buffer = '';
  /** The previous chunk ended with '\r': a '\n' opening the next one belongs to that line end. */
  #skipLeadingLf = false;
  #event = '';
  #data: string[] = [];
  #id: string | null = null;

  /** Parses `text` and returns the events it completed. */
  push(text: string): SseEvent[] {
    let chunk = text;
    if (this.#skipLeadingLf && chunk.startsWith('\n')) chunk = chunk.substring(1);
    this.#skipLeadingLf = false;
    this.#buffer += chunk;
    const events: SseEvent[] = [];
    let start = 0;
    for (;;) {
      const end = nextLineEnd(this.#buffer, start);
      if (end === -1) break;
      const line = this.#buffer.substring(start, end);
      const isCr = this.#buffer[end] === '\r';
      if (isCr && end + 1 === this.#buffer.length) this.#skipLeadingLf = true;
      start = end + (isCr && this.#buffer[end + 1] === '\n' ? 2 : 1);
      const event = this.#line(line);
      if (event !== null) events.push(event);
    }
    this.#buffer = this.#buffer.substring(start);
    return events;
  }

  #line(line: string): SseEvent | null {
    if (line === '') return this.#dispatch();
    if (line.startsWith(':')) return null; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.substring(0, colon);
    let value = colon === -1 ? '' : line.substring(colon + 1);
    if (value.startsWith(' ')) value = value.substring(1);
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      default:
        break; // 'retry' and unknown fields: the feed picks its own reconnect delays
    }
    return null;
  }

  #dispatch(): SseEvent | null {
    const data = this.#data;
    const event = this.#event;
    this.#data = [];
    this.#event = '';
    if (data.length === 0) return null;
    return { event: event === '' ? 'message' : event, data: data.join('\n'), id: this.#id };
  }
}

function nextLineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i += 1) {
    const c = text[i];
    if (c === '\n' || c === '\r') return i;
  }
  return -1;
}

/** The state of the connection, for the status line. */
export type FeedStatus =
  | { readonly kind: 'connecting' }
  | { readonly kind: 'live' }
  | { readonly kind: 'retrying'; readonly inMs: number; readonly reason: string };

/** What the feed calls. */
export interface FeedHandlers {
  readonly onSnapshot: (snapshot: Snapshot) => void;
  readonly onStatus: (status: FeedStatus) => void;
}

/** First and longest wait before reconnecting. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;
/** Snapshots come every second: this long without any byte means the connection is dead. */
const SILENCE_TIMEOUT_MS = 15_000;

/** Reads snapshots from GET /api/v1/events until `stop()`; reconnects with backoff. */
export class LiveFeed {
  readonly #api: ApiClient;
  readonly #handlers: FeedHandlers;
  #running = false;
  #abort: AbortController | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #retryDelayMs = RETRY_MIN_MS;

  constructor(api: ApiClient, handlers: FeedHandlers) {
    this.#api = api;
    this.#handlers = handlers;
  }

  /** Connects (once; later calls do nothing while running). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#connect();
  }

  /** Closes the connection and cancels any pending reconnect. */
  stop(): void {
    this.#running = false;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#abort?.abort();
    this.#abort = null;
  }

  #connect(): void {
    this.#retryTimer = null;
    const abort = new AbortController();
    this.#abort = abort;
    this.#handlers.onStatus({ kind: 'connecting' });
    this.#read(abort).then(
      () => {
        this.#retry(abort, 'the server ended the feed');
      },
      (error: unknown) => {
        if (error instanceof ApiError && error.status === 401) {
          this.stop(); // the client already logged out
          return;
        }
        this.#retry(abort, isAbort(error) ? 'no data for a while' : describe(error));
      },
    );
  }

  async #read(abort: AbortController): Promise<void> {
    const response = await this.#api.fetch('/api/v1/events', {
      headers: { Accept: 'text/event-stream' },
      signal: abort.signal,
    });
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new Error(`HTTP ${response.status} from /api/v1/events`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    let watchdog = setTimeout(() => {
      abort.abort();
    }, SILENCE_TIMEOUT_MS);
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          abort.abort();
        }, SILENCE_TIMEOUT_MS);
        for (const event of parser.push(value)) {
          if (event.event !== 'snapshot' || !this.#running || this.#abort !== abort) continue;
          const snapshot = parseSnapshot(event.data);
          if (snapshot === null) continue;
          this.#retryDelayMs = RETRY_MIN_MS;
          this.#handlers.onStatus({ kind: 'live' });
          this.#handlers.onSnapshot(snapshot);
        }
      }
    } finally {
      clearTimeout(watchdog);
      reader.releaseLock();
    }
  }

  #retry(abort: AbortController, reason: string): void {
    abort.abort();
    if (!this.#running || this.#abort !== abort) return;
    // Full jitter on the upper half, so many dashboards do not reconnect in step.
    const delay = Math.round(this.#retryDelayMs * (0.5 + Math.random() * 0.5));
    this.#retryDelayMs = Math.min(RETRY_MAX_MS, this.#retryDelayMs * 2);
    this.#handlers.onStatus({ kind: 'retrying', inMs: delay, reason });
    this.#retryTimer = setTimeout(() => {
      this.#connect();
    }, delay);
  }
}

/** The snapshot in an event's data, or null when it is not one (ignored, never fatal). */
export function parseSnapshot(data: string): Snapshot | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const candidate = value as Partial<Snapshot>;
  if (typeof candidate.time !== 'string' || !Array.isArray(candidate.streams)) return null;
  if (typeof candidate.server !== 'object') return null;
  return { ...(candidate as Snapshot), qoe: candidate.qoe ?? {} };
}
