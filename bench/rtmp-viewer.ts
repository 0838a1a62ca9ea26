// One RTMP viewer of the load generator: onair's RtmpClient in play mode, feeding ViewerStats.
// Slow viewers pause their socket after the first keyframe and never read again.
import { MessageType, type RtmpMessage } from '../src/codecs/rtmp-message.ts';
import { RtmpClient } from '../src/protocols/rtmp/rtmp-client.ts';
import { ViewerStats, type LoadContext, type LoadViewerStats } from './viewer-stats.ts';

/** Aggregate sub-message header (RTMP 1.0 section 7.1.6): FLV-tag-like, 11 bytes + back pointer. */
const SUB_HEADER_BYTES = 11;

/** A viewer transport: starts, stops, and exposes its stats and local port. */
export interface LoadViewer {
  readonly stats: LoadViewerStats;
  /** Local TCP port once connected (to find the socket in /proc/net/tcp), else 0. */
  readonly localPort: number;
  start(): void;
  stop(): void;
  /** Called about once a second (request deadlines). */
  tick?(nowMs: number): void;
}

/** Plays an RTMP URL with onair's client. */
export class RtmpViewer implements LoadViewer {
  readonly stats: ViewerStats;
  readonly #ctx: LoadContext;
  readonly #url: string;
  #client: RtmpClient | null = null;
  #stopped = false;

  constructor(options: { index: number; url: string; slow: boolean; ctx: LoadContext }) {
    this.stats = new ViewerStats(options.index, options.slow, options.ctx);
    this.#ctx = options.ctx;
    this.#url = options.url;
  }

  get localPort(): number {
    return this.#client?.connection.socket.localPort ?? 0;
  }

  start(): void {
    this.stats.connecting();
    RtmpClient.connect(this.#url, {
      timeoutMs: 15_000,
      onMedia: (message) => {
        this.#onMedia(message);
      },
      onClose: (info) => {
        this.stats.finish(this.#stopped ? null : `rtmp: ${info.code}`);
      },
    })
      .then(
        async (client) => {
          this.#client = client;
          if (this.#stopped) {
            client.close();
            return;
          }
          await client.play();
        },
        (error: unknown) => {
          this.stats.finish(
            `rtmp connect: ${error instanceof Error ? error.message : String(error)}`,
          );
        },
      )
      .catch((error: unknown) => {
        this.stats.finish(`rtmp play: ${error instanceof Error ? error.message : String(error)}`);
        this.#client?.close();
      });
  }

  stop(): void {
    this.#stopped = true;
    this.stats.finish(null);
    this.#client?.close();
  }

  #onMedia(message: RtmpMessage): void {
    const nowMs = this.#ctx.now();
    switch (message.typeId) {
      case MessageType.Video:
        if (this.stats.onVideo(message.timestamp, message.payload, nowMs) && this.stats.slow) {
          this.#client?.connection.socket.pause();
        }
        return;
      case MessageType.Audio:
        this.stats.onAudio(message.payload.length, nowMs);
        return;
      case MessageType.Aggregate:
        this.#onAggregate(message, nowMs);
        return;
      default:
        return;
    }
  }

  /** Splits an aggregate message; sub-message timestamps are offsets from the first one. */
  #onAggregate(message: RtmpMessage, nowMs: number): void {
    const body = message.payload;
    let pos = 0;
    let base: number | null = null;
    while (pos + SUB_HEADER_BYTES <= body.length) {
      const type = body[pos] ?? 0;
      const size = body.readUIntBE(pos + 1, 3);
      const ts = (body.readUIntBE(pos + 4, 3) | ((body[pos + 7] ?? 0) << 24)) >>> 0;
      base ??= ts;
      const end = pos + SUB_HEADER_BYTES + size;
      if (end > body.length) return;
      const payload = body.subarray(pos + SUB_HEADER_BYTES, end);
      const timestampMs = (message.timestamp + ts - base) >>> 0;
      if (type === MessageType.Video) this.stats.onVideo(timestampMs, payload, nowMs);
      else if (type === MessageType.Audio) this.stats.onAudio(payload.length, nowMs);
      pos = end + 4;
    }
  }
}
