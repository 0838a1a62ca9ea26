// RtmpClient: the client role (connect, createStream, publish or play) over RtmpConnection.
// Used by the tests and the benchmark, and by relays to pull from or push to other servers.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Amf0Object, Amf0Value } from '../../codecs/amf0.ts';
import {
  Csid,
  MessageType,
  UserControlEvent,
  type RtmpMessage,
} from '../../codecs/rtmp-message.ts';
import { encodeUint32Payload } from '../../codecs/rtmp-message.ts';
import { RtmpConnection, type RtmpCloseInfo } from './rtmp-connection.ts';

/** An RTMP URL split the way clients send it: tcUrl + app for connect, the rest for play/publish. */
export interface RtmpUrl {
  readonly host: string;
  readonly port: number;
  readonly app: string;
  readonly name: string;
  readonly tcUrl: string;
  /** rtmps://: RTMP inside TLS (default port 443). */
  readonly tls: boolean;
}

/**
 * Splits `rtmp[s]://host[:port]/app/name[?query]` (the name is the last path segment). Throws
 * for another scheme; the error never repeats the URL (it may hold a stream key).
 */
export function parseRtmpUrl(url: string): RtmpUrl {
  const parsed = new URL(url);
  const tls = parsed.protocol === 'rtmps:';
  if (parsed.protocol !== 'rtmp:' && !tls) throw new Error('Not an rtmp:// or rtmps:// URL');
  const segments = parsed.pathname.replace(/^\/+/, '').split('/');
  const name = (segments.pop() ?? '') + parsed.search;
  const app = segments.join('/');
  const port = parsed.port === '' ? (tls ? 443 : 1935) : Number(parsed.port);
  const scheme = tls ? 'rtmps' : 'rtmp';
  return {
    host: parsed.hostname,
    port,
    app,
    name,
    tcUrl: `${scheme}://${parsed.host}/${app}`,
    tls,
  };
}

/** A TCP socket to `target`, inside TLS for rtmps:// (SNI: the host name, not an address). */
function openSocket(target: RtmpUrl, ca: string | Buffer | undefined): Socket {
  // IPv6 literals come bracketed from URL: TLS and DNS want them bare.
  const host = target.host.startsWith('[') ? target.host.slice(1, -1) : target.host;
  if (!target.tls) return netConnect(target.port, host);
  return tlsConnect({
    host,
    port: target.port,
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ...(ca === undefined ? {} : { ca }),
  });
}

/** The flashVer an onair relay (a pull from another server) connects with. */
export const RELAY_FLASH_VER = 'onair-relay/1';

/** Whether a client's flashVer says it is an onair relay: a server never pulls further for it. */
export function isRelayFlashVer(flashVer: string | null): boolean {
  return flashVer?.startsWith('onair-relay/') === true;
}

/** Options of RtmpClient.connect(). */
export interface RtmpClientOptions {
  readonly timeoutMs?: number;
  readonly outChunkSize?: number;
  /** The client's name in connect (default `FMLE/3.0 (compatible; onair)`). */
  readonly flashVer?: string;
  /** Receives every audio, video and data message (play). */
  readonly onMedia?: (message: RtmpMessage) => void;
  /** Receives every onStatus info object. */
  readonly onStatus?: (info: Amf0Object) => void;
  readonly onClose?: (info: RtmpCloseInfo) => void;
  /** rtmps://: the certificate authorities trusted instead of the system's (tests). */
  readonly ca?: string | Buffer;
}

/** Raised when the server answers a command with an error status. */
export class RtmpStatusError extends Error {
  override readonly name = 'RtmpStatusError';
  readonly code: string;

  constructor(code: string, description: string) {
    super(`${code}: ${description}`);
    this.code = code;
  }
}

/** One client connection. */
export class RtmpClient {
  readonly connection: RtmpConnection;
  readonly url: RtmpUrl;
  readonly #options: RtmpClientOptions;
  readonly #pending = new Map<number, (values: Amf0Value[], ok: boolean) => void>();
  readonly #statusWaiters = new Set<(info: Amf0Object) => void>();
  #nextTxn = 2;
  #closeInfo: RtmpCloseInfo | null = null;

  private constructor(
    url: RtmpUrl,
    connection: (client: RtmpClient) => RtmpConnection,
    options: RtmpClientOptions,
  ) {
    this.url = url;
    this.#options = options;
    this.connection = connection(this);
  }

  /** Opens a connection and completes handshake and `connect`. */
  static async connect(url: string, options: RtmpClientOptions = {}): Promise<RtmpClient> {
    const target = parseRtmpUrl(url);
    const socket = openSocket(target, options.ca);
    let handshaken: () => void = () => undefined;
    let failed: (error: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      handshaken = resolve;
      failed = reject;
    });
    const client = new RtmpClient(
      target,
      (self) =>
        new RtmpConnection(
          socket,
          {
            role: 'client',
            handshakeTimeoutMs: options.timeoutMs ?? 10_000,
            maxMessageBytes: 16 * 1024 * 1024 - 1,
            maxCommandBytes: 1024 * 1024,
            maxChunkStreams: 64,
            ackWindowBytes: 2_500_000,
            outChunkSize: options.outChunkSize ?? 4096,
          },
          {
            onHandshake: handshaken,
            onCommand: (message, name, txn, args) => {
              self.#onCommand(message, name, txn, args);
            },
            onMedia: (message) => options.onMedia?.(message),
            onClose: (info) => {
              self.#onClose(info);
              failed(new Error(`RTMP connection closed: ${info.code} ${info.message}`));
            },
          },
        ),
      options,
    );
    await ready;
    client.connection.sendControl(MessageType.WindowAckSize, encodeUint32Payload(2_500_000));
    await client.#call('connect', [
      {
        app: target.app,
        flashVer: options.flashVer ?? 'FMLE/3.0 (compatible; onair)',
        tcUrl: target.tcUrl,
        fpad: false,
        capabilities: 15,
        audioCodecs: 4071,
        videoCodecs: 252,
        videoFunction: 1,
      },
    ]);
    client.connection.clearDeadline();
    return client;
  }

  /** Why the connection closed, once it has. */
  get closeInfo(): RtmpCloseInfo | null {
    return this.#closeInfo;
  }

  /** Publishes `name` (default: the URL's name); resolves on NetStream.Publish.Start. */
  async publish(name = this.url.name): Promise<number> {
    this.connection.sendCommand(0, ['releaseStream', this.#txn(), null, name]);
    this.connection.sendCommand(0, ['FCPublish', this.#txn(), null, name]);
    const streamId = await this.#createStream();
    await this.#commandWithStatus(
      streamId,
      ['publish', 0, null, name, 'live'],
      'NetStream.Publish.Start',
    );
    return streamId;
  }

  /** Plays `name` (default: the URL's name); resolves on NetStream.Play.Start. */
  async play(name = this.url.name): Promise<number> {
    const streamId = await this.#createStream();
    this.connection.sendUserControl(UserControlEvent.SetBufferLength, streamId, 1000);
    await this.#commandWithStatus(streamId, ['play', 0, null, name, -2], 'NetStream.Play.Start');
    return streamId;
  }

  /** Sends one media or data message on a publishing stream. */
  sendMedia(streamId: number, typeId: number, timestamp: number, payload: Buffer): void {
    const csid =
      typeId === MessageType.Audio
        ? Csid.Audio
        : typeId === MessageType.Video
          ? Csid.Video
          : Csid.Data;
    this.connection.send({ csid, typeId, streamId, timestamp: timestamp >>> 0, payload });
  }

  /** Closes the socket. */
  close(): void {
    this.connection.close({ code: 'client-closed', message: 'closed by the client' });
  }

  #txn(): number {
    return this.#nextTxn++;
  }

  async #createStream(): Promise<number> {
    const [, id] = await this.#call('createStream', [null]);
    if (typeof id !== 'number') throw new Error('createStream returned no stream id');
    return id;
  }

  #call(name: string, args: Amf0Value[]): Promise<Amf0Value[]> {
    const txn = name === 'connect' ? 1 : this.#txn();
    return new Promise((resolve, reject) => {
      this.#pending.set(txn, (values, ok) => {
        if (ok) resolve(values);
        else {
          const info = values.find(isObject);
          reject(new RtmpStatusError(text(info?.code, '_error'), text(info?.description, '')));
        }
      });
      this.connection.sendCommand(0, [name, txn, ...args]);
    });
  }

  #commandWithStatus(streamId: number, values: Amf0Value[], success: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter = (info: Amf0Object): void => {
        if (info.code === success) {
          this.#statusWaiters.delete(waiter);
          resolve();
        } else if (info.level === 'error') {
          this.#statusWaiters.delete(waiter);
          reject(new RtmpStatusError(text(info.code, 'error'), text(info.description, '')));
        }
      };
      this.#statusWaiters.add(waiter);
      this.connection.sendCommand(streamId, values);
    });
  }

  #onCommand(_message: RtmpMessage, name: string, txn: number, args: Amf0Value[]): void {
    if (name === '_result' || name === '_error') {
      const pending = this.#pending.get(txn);
      this.#pending.delete(txn);
      pending?.(args, name === '_result');
      return;
    }
    if (name === 'onStatus') {
      const info = args.find(isObject);
      if (!info) return;
      this.#options.onStatus?.(info);
      for (const waiter of [...this.#statusWaiters]) waiter(info);
    }
  }

  #onClose(info: RtmpCloseInfo): void {
    this.#closeInfo = info;
    const closed = { level: 'error', code: `closed:${info.code}`, description: info.message };
    for (const waiter of [...this.#statusWaiters]) waiter(closed);
    for (const pending of this.#pending.values()) pending([closed], false);
    this.#pending.clear();
    this.#options.onClose?.(info);
  }
}

function isObject(value: Amf0Value): value is Amf0Object {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

function text(value: Amf0Value, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}
