// Push: one stream restreamed to one RTMP/RTMPS destination (YouTube, Twitch, another server).
// It reads the stream like an RTMP viewer (a SharedOutput and a ViewerQueue: starts on a
// keyframe, drops to the next one when the destination is slower than the stream) and publishes
// with RtmpClient. Reconnects with backoff; nothing it meets can reach the stream or throw.
import type { Logger } from '../log/logger.ts';
import type { SharedOutput } from '../hub/shared-output.ts';
import type { Stream } from '../hub/stream.ts';
import type { CloseReason } from '../hub/subscriber.ts';
import { ViewerQueue, type ViewerLimits } from '../hub/viewer-queue.ts';
import { rtmpFrameEncoder } from '../media/rtmp-frames.ts';
import { RtmpClient } from '../protocols/rtmp/rtmp-client.ts';
import { maskPushUrl, maskSecretsIn } from './push-url.ts';

/** Where a push is: connecting (or publishing), live (media flows), waiting to retry, or stopped. */
export type PushState = 'connecting' | 'live' | 'backoff' | 'stopped';
export const PUSH_STATES: readonly PushState[] = ['connecting', 'live', 'backoff', 'stopped'];

/** Chunk size of a push connection (announced to the destination, used by its shared output). */
const OUT_CHUNK_SIZE = 4096;
/** The flashVer a push connects with (what encoders send; some platforms check it). */
const PUSH_FLASH_VER = 'FMLE/3.0 (compatible; onair-push)';

/** Reconnect delays: from minMs, doubling to maxMs; reset after a connection live this long. */
export interface PushBackoff {
  readonly minMs: number;
  readonly maxMs: number;
  readonly resetAfterMs: number;
}

export interface PushOptions {
  readonly id: string;
  readonly stream: Stream;
  readonly url: string;
  /** From the config file (kept while the stream republishes) or added through the API. */
  readonly origin: 'config' | 'api';
  readonly logger: Logger;
  /** Connect, handshake, `connect` and `publish` must each be done within this long. */
  readonly connectTimeoutMs: number;
  readonly limits: ViewerLimits;
  readonly backoff: PushBackoff;
  /** Bytes handed to a destination socket (the metrics counter). */
  readonly onBytes?: (bytes: number) => void;
}

/** One push as the API shows it; the URL masked. */
export interface PushInfo {
  readonly id: string;
  readonly url: string;
  readonly origin: 'config' | 'api';
  readonly state: PushState;
  readonly bytesSent: number;
  /** Over the last sample (about a second); 0 when not live. */
  readonly kbps: number;
  readonly droppedFrames: number;
  readonly reconnects: number;
  readonly lastError: string | null;
  /** Wall-clock ms of the current live connection's start, or null. */
  readonly liveSinceMs: number | null;
}

/** The delay before retry number `failures` (0 first): minMs doubling, capped at maxMs. */
export function backoffDelayMs(failures: number, backoff: PushBackoff): number {
  return Math.min(backoff.maxMs, backoff.minMs * 2 ** Math.min(Math.max(failures, 0), 16));
}

interface Attempt {
  client: RtmpClient | null;
  output: SharedOutput | null;
  queue: ViewerQueue | null;
  done: boolean;
}

export class Push {
  readonly id: string;
  readonly #options: PushOptions;
  #state: PushState = 'connecting';
  #attempt: Attempt | null = null;
  #retry: NodeJS.Timeout | null = null;
  #failures = 0;
  #reconnects = 0;
  #bytesSent = 0;
  #droppedBefore = 0;
  #lastError: string | null = null;
  #liveSinceMs: number | null = null;
  #sampleBytes = 0;
  #sampleAtMs = performance.now();
  #kbps = 0;

  constructor(options: PushOptions) {
    this.id = options.id;
    this.#options = options;
  }

  get state(): PushState {
    return this.#state;
  }

  get origin(): 'config' | 'api' {
    return this.#options.origin;
  }

  get url(): string {
    return this.#options.url;
  }

  /** The destination, key masked (for logs and answers). */
  get maskedUrl(): string {
    return maskPushUrl(this.#options.url);
  }

  /** Starts the first connection. */
  start(): void {
    if (this.#state === 'stopped' || this.#attempt) return;
    this.#connect();
  }

  /** Stops for good: closes the connection, leaves the stream, cancels a retry. */
  stop(): void {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#kbps = 0;
    this.#liveSinceMs = null;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    this.#endAttempt();
    this.#options.logger.info(
      { stream: this.#options.stream.path, push: this.maskedUrl },
      'push stopped',
    );
  }

  /** Updates the bitrate from the bytes sent since the previous sample. */
  sample(nowMs = performance.now()): void {
    const elapsedMs = nowMs - this.#sampleAtMs;
    if (elapsedMs <= 0) return;
    this.#kbps =
      this.#state === 'live'
        ? Math.round(((this.#bytesSent - this.#sampleBytes) * 8) / elapsedMs)
        : 0;
    this.#sampleBytes = this.#bytesSent;
    this.#sampleAtMs = nowMs;
  }

  info(): PushInfo {
    return {
      id: this.id,
      url: this.maskedUrl,
      origin: this.#options.origin,
      state: this.#state,
      bytesSent: this.#bytesSent,
      kbps: this.#kbps,
      droppedFrames: this.#droppedBefore + (this.#attempt?.queue?.droppedFrames ?? 0),
      reconnects: this.#reconnects,
      lastError: this.#lastError,
      liveSinceMs: this.#liveSinceMs,
    };
  }

  #connect(): void {
    this.#retry = null;
    this.#state = 'connecting';
    const attempt: Attempt = { client: null, output: null, queue: null, done: false };
    this.#attempt = attempt;
    this.#run(attempt).catch((error: unknown) => {
      this.#fail(attempt, errorText(error));
    });
  }

  async #run(attempt: Attempt): Promise<void> {
    const { connectTimeoutMs, url } = this.#options;
    const client = await RtmpClient.connect(url, {
      timeoutMs: connectTimeoutMs,
      outChunkSize: OUT_CHUNK_SIZE,
      flashVer: PUSH_FLASH_VER,
      onClose: (info) => {
        this.#fail(attempt, `${info.code}: ${info.message}`);
      },
    });
    attempt.client = client;
    if (attempt.done) {
      client.close();
      return;
    }
    client.connection.armDeadline(connectTimeoutMs, {
      code: 'publish-timeout',
      message: 'the destination did not start the publish in time',
    });
    const streamId = await client.publish();
    client.connection.clearDeadline();
    // Stopped or failed while the publish was answered (TypeScript cannot see the callbacks).
    if (this.#attempt !== attempt) return;
    this.#subscribe(attempt, client, streamId);
  }

  /** Publishing: read the stream like an RTMP viewer on message stream `streamId`. */
  #subscribe(attempt: Attempt, client: RtmpClient, streamId: number): void {
    const { stream, limits } = this.#options;
    if (stream.state === 'ended') {
      this.stop();
      return;
    }
    const socket = client.connection.socket;
    const output = stream.output(
      `push:${String(streamId)}`,
      rtmpFrameEncoder(streamId, OUT_CHUNK_SIZE, { publishing: true }),
    );
    const queue = new ViewerQueue(
      {
        write: (bytes) => {
          this.#bytesSent += bytes.length;
          this.#options.onBytes?.(bytes.length);
          return socket.write(bytes);
        },
        close: (reason) => {
          this.#onQueueClosed(attempt, reason);
        },
      },
      limits,
    );
    attempt.output = output;
    attempt.queue = queue;
    socket.on('drain', () => {
      queue.drain();
    });
    output.addViewer(queue, {
      // A publishing push waits this long for the stream's first keyframe.
      waitMs: this.#options.connectTimeoutMs,
      start: () => {
        if (this.#attempt !== attempt) return;
        this.#state = 'live';
        this.#liveSinceMs = Date.now();
        this.#options.logger.info(
          { stream: stream.path, push: this.maskedUrl, reconnects: this.#reconnects },
          'push live',
        );
      },
    });
  }

  /** The hub closed the push's queue: the stream ended (stop) or the destination fell behind. */
  #onQueueClosed(attempt: Attempt, reason: CloseReason): void {
    if (reason === 'stream-ended' || reason === 'server-shutdown') {
      this.stop();
      return;
    }
    this.#fail(attempt, `hub: ${reason}`);
  }

  /** This attempt ended (refused, closed, too slow): retry after the backoff. */
  #fail(attempt: Attempt, message: string): void {
    if (attempt.done || this.#attempt !== attempt || this.#state === 'stopped') return;
    const wasLiveMs = this.#liveSinceMs === null ? 0 : Date.now() - this.#liveSinceMs;
    this.#endAttempt();
    this.#lastError = maskSecretsIn(message, this.#options.url);
    if (wasLiveMs >= this.#options.backoff.resetAfterMs) this.#failures = 0;
    const delayMs = backoffDelayMs(this.#failures, this.#options.backoff);
    this.#failures++;
    this.#state = 'backoff';
    this.#liveSinceMs = null;
    this.#kbps = 0;
    this.#options.logger.warn(
      {
        stream: this.#options.stream.path,
        push: this.maskedUrl,
        error: this.#lastError,
        retryInMs: delayMs,
      },
      'push failed',
    );
    this.#retry = setTimeout(() => {
      this.#reconnects++;
      this.#connect();
    }, delayMs);
    this.#retry.unref();
  }

  /** Leaves the stream and closes the connection of the current attempt. */
  #endAttempt(): void {
    const attempt = this.#attempt;
    this.#attempt = null;
    if (!attempt) return;
    attempt.done = true;
    if (attempt.queue) {
      this.#droppedBefore += attempt.queue.droppedFrames;
      attempt.queue.close('kicked');
      attempt.output?.removeViewer(attempt.queue);
    }
    attempt.client?.close();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
