// OriginPull: one stream pulled over RTMP from another server (an onair origin, nginx-rtmp, SRS)
// and published into the local hub, so local viewers of every format share one upstream copy.
import type { Logger } from '../log/logger.ts';
import { StreamBusyError } from '../hub/hub-errors.ts';
import type { StreamHub } from '../hub/stream-hub.ts';
import type { Publication } from '../hub/stream.ts';
import { MessageType } from '../codecs/rtmp-message.ts';
import { RtmpIngestState, frameFromMessage } from '../media/rtmp-frames.ts';
import { RELAY_FLASH_VER, RtmpClient } from '../protocols/rtmp/rtmp-client.ts';

/** Why a pull ended; `code` is stable (logged and counted). */
export interface PullEnd {
  readonly code:
    | 'connect-failed'
    | 'refused'
    | 'origin-closed'
    | 'unpublished'
    | 'idle-timeout'
    | 'local-publisher'
    | 'released';
  readonly message: string;
  /** Whether media flowed before the end (a live pull that broke, not a failed attempt). */
  readonly wasLive: boolean;
}

export interface OriginPullOptions {
  readonly hub: StreamHub;
  /** The local stream path (`app/name`). */
  readonly path: string;
  /** `rtmp://host:port/app/name[?token=...]` on the origin. */
  readonly url: string;
  readonly logger: Logger;
  /** Handshake, connect and play must be done within this long. */
  readonly connectTimeoutMs: number;
  /** A live pull that receives nothing for this long is closed. */
  readonly idleTimeoutMs: number;
  /** The origin started playing: the pull now publishes the local stream. */
  readonly onLive?: () => void;
  readonly onEnd: (end: PullEnd) => void;
}

/**
 * Connects, plays and publishes what arrives into the hub as protocol `relay`. Ends once, with
 * a reason: the origin refused or closed, its publisher left, nothing came in time, a local
 * publisher holds the path, or release() was called.
 */
export class OriginPull {
  readonly url: string;
  readonly #options: OriginPullOptions;
  #client: RtmpClient | null = null;
  #publication: Publication | null = null;
  #ended = false;
  #bytesIn = 0;
  readonly #ingestState = new RtmpIngestState();

  private constructor(options: OriginPullOptions) {
    this.#options = options;
    this.url = options.url;
  }

  static start(options: OriginPullOptions): OriginPull {
    const pull = new OriginPull(options);
    void pull.#run();
    return pull;
  }

  get live(): boolean {
    return this.#publication?.open === true;
  }

  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** Stops pulling: the local stream goes into its grace period like any publisher's. */
  release(): void {
    this.#end({ code: 'released', message: 'no viewer left', wasLive: this.live });
  }

  async #run(): Promise<void> {
    const { connectTimeoutMs, url } = this.#options;
    let client: RtmpClient;
    try {
      client = await RtmpClient.connect(url, {
        timeoutMs: connectTimeoutMs,
        flashVer: RELAY_FLASH_VER,
        onMedia: (message) => {
          this.#onMedia(message);
        },
        onStatus: (info) => {
          // Synchronously: the headers and the GOP follow Play.Start in the same read.
          if (info.code === 'NetStream.Play.Start') this.#publish();
          else if (
            info.code === 'NetStream.Play.UnpublishNotify' ||
            info.code === 'NetStream.Play.Stop'
          )
            this.#end({ code: 'unpublished', message: info.code, wasLive: this.live });
        },
        onClose: (info) => {
          this.#end({
            code: 'origin-closed',
            message: `${info.code}: ${info.message}`,
            wasLive: this.live,
          });
        },
      });
    } catch (error) {
      this.#end({ code: 'connect-failed', message: errorText(error), wasLive: false });
      return;
    }
    this.#client = client;
    if (this.#ended) {
      client.close();
      return;
    }
    client.connection.armDeadline(connectTimeoutMs, {
      code: 'play-timeout',
      message: 'the origin did not start playing in time',
    });
    try {
      await client.play();
    } catch (error) {
      this.#end({ code: 'refused', message: errorText(error), wasLive: false });
      return;
    }
    client.connection.clearDeadline();
  }

  /** Play started: the pull becomes the local publisher of the path. */
  #publish(): void {
    const client = this.#client;
    if (this.#ended || this.#publication || !client) return;
    try {
      this.#publication = this.#options.hub.publish(this.#options.path, {
        protocol: 'relay',
        remoteAddress: client.url.host,
        // A publisher of this stream here takes over from the pull (viewers continue).
        onYield: () => {
          this.#end({ code: 'local-publisher', message: 'published here', wasLive: true });
        },
      });
    } catch (error) {
      const code = error instanceof StreamBusyError ? 'local-publisher' : 'refused';
      this.#end({ code, message: errorText(error), wasLive: false });
      return;
    }
    client.connection.socket.setTimeout(this.#options.idleTimeoutMs, () => {
      this.#end({ code: 'idle-timeout', message: 'the origin sent nothing', wasLive: this.live });
    });
    this.#options.onLive?.();
  }

  #onMedia(message: Parameters<typeof frameFromMessage>[0]): void {
    this.#bytesIn += message.payload.length;
    const publication = this.#publication;
    if (!publication) return; // before Play.Start: nothing to publish into yet
    if (
      message.typeId !== MessageType.Audio &&
      message.typeId !== MessageType.Video &&
      message.typeId !== MessageType.DataAmf0
    )
      return;
    let frame: ReturnType<typeof frameFromMessage>;
    try {
      frame = frameFromMessage(message, this.#ingestState);
    } catch (error) {
      // Malformed metadata: this pull closes, the edge's other streams go on.
      this.#end({ code: 'origin-closed', message: errorText(error), wasLive: true });
      return;
    }
    if (typeof frame !== 'string') publication.write(frame);
  }

  #end(end: PullEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#publication?.close();
    this.#publication = null;
    this.#client?.close();
    this.#options.logger.info(
      { stream: this.#options.path, origin: redactUrl(this.#options.url), ...end },
      'pull ended',
    );
    this.#options.onEnd(end);
  }
}

/** The origin URL without its query (play tokens stay out of the logs). */
export function redactUrl(url: string): string {
  const at = url.indexOf('?');
  return at === -1 ? url : url.slice(0, at);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
