// Onair: the composition root. Config in, instances wired, start and stop in order.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { StreamHub } from '../hub/stream-hub.ts';
import { RtmpServer } from '../servers/rtmp/rtmp-server.ts';
import { HttpFlvHandler } from '../servers/http-flv/http-flv-handler.ts';
import { HlsHandler } from '../servers/hls/hls-handler.ts';
import { PagesHandler } from '../servers/pages/pages-handler.ts';
import { HttpListener } from './http-listener.ts';

/** Where a started server listens (ports resolved, useful when 0 was asked for). */
export interface ListeningAddresses {
  readonly rtmpPort: number | null;
  readonly httpPort: number | null;
}

/** One onair server: a hub, the RTMP server and the HTTP listener. */
export class Onair {
  readonly config: Config;
  readonly hub: StreamHub;
  readonly #logger: Logger;
  readonly #rtmp: RtmpServer | null;
  readonly #http: HttpListener | null;
  readonly #hls: HlsHandler | null;
  readonly #pages: PagesHandler;

  constructor(config: Config, logger: Logger) {
    this.config = config;
    this.#logger = logger;
    this.hub = new StreamHub({
      gopCache: config.hub.gopCache,
      reconnectGraceMs: config.hub.reconnectGraceMs,
      audioMergeMs: config.hub.audioMergeMs,
      onSubscriberError: (stream, error) => {
        logger.error({ stream: stream.path, err: error }, 'a subscriber failed and was removed');
      },
    });
    this.#rtmp = config.rtmp.enabled
      ? new RtmpServer({ config: config.rtmp, hubConfig: config.hub, hub: this.hub, logger })
      : null;
    this.#hls =
      config.http.enabled && config.hls.enabled
        ? new HlsHandler({
            hub: this.hub,
            config: config.hls,
            streams: config.streams,
            cors: config.http.cors,
            logger,
          })
        : null;
    this.#pages = new PagesHandler({ hub: this.hub, rtmpPort: config.rtmp.port });
    this.#http = config.http.enabled
      ? new HttpListener({
          config: config.http,
          logger,
          flv: new HttpFlvHandler({
            hub: this.hub,
            http: config.http,
            hubConfig: config.hub,
            logger,
          }),
          ...(this.#hls ? { hls: this.#hls } : {}),
          pages: this.#pages,
        })
      : null;
  }

  /** What the HLS profile implies for players, or null when HLS is off. */
  get hlsExplanation(): string | null {
    return this.#hls?.explanation ?? null;
  }

  /** Starts every listener; resolves with the ports bound. */
  async start(): Promise<ListeningAddresses> {
    const rtmpPort = this.#rtmp ? await this.#rtmp.listen() : null;
    if (rtmpPort !== null) this.#pages.setRtmpPort(rtmpPort);
    const httpPort = this.#http ? await this.#http.listen() : null;
    return { rtmpPort, httpPort };
  }

  /** Stops accepting, ends every stream and session cleanly. */
  async stop(): Promise<void> {
    this.#logger.info('stopping');
    this.hub.close();
    await Promise.all([this.#rtmp?.close(), this.#http?.close()]);
  }
}
