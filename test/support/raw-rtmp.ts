// Raw RTMP over node:net for hostile-input tests: onair's own codecs get through the handshake
// (RTMP 1.0 section 5.2) and chunk messages (5.3); tests add hand-built bytes where the point is malformed.
import { connect as netConnect, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeAmf0, encodeAmf0, type Amf0Object, type Amf0Value } from '../../src/codecs/amf0.ts';
import { ChunkDecoder } from '../../src/codecs/rtmp-chunk-decoder.ts';
import { encodeMessage } from '../../src/codecs/rtmp-chunk-encoder.ts';
import { HandshakeClient } from '../../src/codecs/rtmp-handshake.ts';
import { MessageType, type RtmpMessage } from '../../src/codecs/rtmp-message.ts';
import type { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';
import { waitFor } from './media-tools.ts';

/** A command (AMF0, type 20) the server sent. */
export interface ReceivedCommand {
  readonly name: string;
  readonly txn: number;
  readonly args: Amf0Value[];
  readonly streamId: number;
}

/** The fields of a type 0 chunk message header (section 5.3.1.2.1). */
export interface Type0Header {
  readonly csid: number;
  readonly timestamp: number;
  readonly length: number;
  readonly typeId: number;
  readonly streamId: number;
}

/** A message to send; csid, stream id and timestamp default to 3, 0 and 0. */
export interface OutgoingMessage {
  readonly typeId: number;
  readonly payload: Buffer;
  readonly csid?: number;
  readonly streamId?: number;
  readonly timestamp?: number;
}

/**
 * Builds a type 0 chunk header by hand, with the 1-byte basic header (csid 2..63): 11 bytes of
 * timestamp, length, type and little-endian stream id, plus the extended timestamp when needed.
 */
export function type0Header(header: Type0Header): Buffer {
  const extended = header.timestamp >= 0xffffff;
  const out = Buffer.alloc(12 + (extended ? 4 : 0));
  out[0] = header.csid & 0x3f;
  out.writeUIntBE(extended ? 0xffffff : header.timestamp, 1, 3);
  out.writeUIntBE(header.length, 4, 3);
  out[7] = header.typeId;
  out.writeUInt32LE(header.streamId, 8);
  if (extended) out.writeUInt32BE(header.timestamp >>> 0, 12);
  return out;
}

/** Chunks one message with onair's encoder (type 0 header, then type 3) at `chunkSize`. */
export function chunked(message: OutgoingMessage, chunkSize = 128): Buffer {
  return encodeMessage(
    {
      csid: message.csid ?? 3,
      typeId: message.typeId,
      streamId: message.streamId ?? 0,
      timestamp: message.timestamp ?? 0,
      payload: message.payload,
    },
    chunkSize,
  );
}

/** The AMF0 info object of an onStatus command, or undefined. */
export function statusInfo(command: ReceivedCommand): Amf0Object | undefined {
  return command.args.find(
    (value): value is Amf0Object =>
      typeof value === 'object' &&
      value !== null &&
      !Array.isArray(value) &&
      !(value instanceof Date),
  );
}

/**
 * One raw RTMP connection. Bytes before `handshake()` are only counted; after it, what the
 * server sends is decoded: commands are kept, media messages are counted. Write errors after
 * the server has closed the socket are swallowed (tests often keep writing into a closing socket).
 */
export class RawRtmp {
  readonly socket: Socket;
  /** Commands received, in order. */
  readonly commands: ReceivedCommand[] = [];
  /** Chunk size this side sends with (change it after sending Set Chunk Size). */
  chunkSize = 128;
  /** Bytes received from the server, handshake included. */
  bytesReceived = 0;
  /** Audio, video and data messages received. */
  mediaMessages = 0;
  /** Bytes handed to the socket. */
  bytesWritten = 0;
  #handshake: HandshakeClient | null = null;
  #handshaken = false;
  readonly #decoder = new ChunkDecoder();
  #closed = false;
  #decodeError: Error | null = null;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (bytes: Buffer) => {
      this.#onData(bytes);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.#closed = true;
    });
  }

  /** Opens a TCP connection to `port` on 127.0.0.1 and waits until it is established. */
  static async open(port: number): Promise<RawRtmp> {
    const socket = netConnect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawRtmp(socket);
  }

  /** True once the socket has closed (either side). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes raw bytes (ignored once the socket is gone). */
  write(bytes: Buffer): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    this.bytesWritten += bytes.length;
    this.socket.write(bytes);
  }

  /** Completes a simple handshake with onair's HandshakeClient (C0+C1, then C2 after S1). */
  async handshake(timeoutMs = 5000): Promise<void> {
    this.#handshake = new HandshakeClient({ random: randomBytes, epochMs: 0 });
    this.write(this.#handshake.start());
    await waitFor(() => this.#handshaken || this.#closed, timeoutMs, 'the RTMP handshake');
    if (!this.#handshaken) throw new Error('the server closed the connection during the handshake');
  }

  /** Chunks one message at the current chunk size (type 0 header, then type 3). */
  send(message: OutgoingMessage): void {
    this.write(chunked(message, this.chunkSize));
  }

  /** Sends an AMF0 command (type 20) on csid 3. */
  sendCommand(values: readonly Amf0Value[], streamId = 0): void {
    this.send({ typeId: MessageType.CommandAmf0, streamId, payload: encodeAmf0(values) });
  }

  /** Sends a protocol control message on csid 2, message stream 0. */
  sendControl(typeId: number, payload: Buffer): void {
    this.send({ csid: 2, typeId, payload });
  }

  /** Sends `connect` for `app` (with a matching tcUrl) and waits for its `_result`. */
  async connect(app = 'live'): Promise<void> {
    this.sendCommand(['connect', 1, { app, tcUrl: `rtmp://127.0.0.1/${app}`, flashVer: 'raw' }]);
    await this.expectCommand((c) => c.name === '_result' && c.txn === 1, 'connect _result');
  }

  /** Sends `createStream` with transaction `txn` and resolves with the new stream id. */
  async createStream(txn: number): Promise<number> {
    this.sendCommand(['createStream', txn, null]);
    const reply = await this.expectCommand(
      (c) => c.name === '_result' && c.txn === txn,
      `createStream _result (txn ${txn})`,
    );
    const id = reply.args[1];
    if (typeof id !== 'number') throw new Error('createStream answered without a stream id');
    return id;
  }

  /** Waits for a received command matching `match`; throws after `timeoutMs`. */
  async expectCommand(
    match: (command: ReceivedCommand) => boolean,
    what: string,
    timeoutMs = 5000,
  ): Promise<ReceivedCommand> {
    await waitFor(() => this.commands.some(match) || this.#closed, timeoutMs, what);
    const found = this.commands.find(match);
    if (!found) throw new Error(`the connection closed before ${what}`);
    return found;
  }

  /** Waits for an onStatus whose info code is `code`. */
  expectStatus(code: string, timeoutMs = 5000): Promise<ReceivedCommand> {
    return this.expectCommand(
      (c) => c.name === 'onStatus' && statusInfo(c)?.code === code,
      `onStatus ${code}`,
      timeoutMs,
    );
  }

  /** Waits for the socket to close; throws after `timeoutMs`. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.#closed, timeoutMs, 'the server to close the connection');
  }

  /** Why decoding the server's bytes failed, if it did (a server bug, not the test's input). */
  get decodeError(): Error | null {
    return this.#decodeError;
  }

  /** Closes the socket at once. */
  destroy(): void {
    this.socket.destroy();
  }

  #onData(bytes: Buffer): void {
    this.bytesReceived += bytes.length;
    if (this.#decodeError) return;
    try {
      let rest: Buffer | null = null;
      if (this.#handshake) {
        const step = this.#handshake.push(bytes);
        if (step.reply) this.write(step.reply);
        if (!step.done) return;
        this.#handshake = null;
        this.#handshaken = true;
        rest = step.rest;
      } else if (this.#handshaken) {
        rest = bytes;
      }
      if (rest === null) return;
      for (const message of this.#decoder.push(rest)) this.#onMessage(message);
    } catch (error) {
      this.#decodeError = error instanceof Error ? error : new Error(String(error));
      this.socket.destroy();
    }
  }

  #onMessage(message: RtmpMessage): void {
    if (message.typeId !== MessageType.CommandAmf0) {
      if (message.typeId >= MessageType.Audio) this.mediaMessages++;
      return;
    }
    const [name, txn, ...args] = decodeAmf0(message.payload);
    this.commands.push({
      name: typeof name === 'string' ? name : '',
      txn: typeof txn === 'number' ? txn : -1,
      args,
      streamId: message.streamId,
    });
  }
}

/** Sequence headers and a keyframe copied from a live H.264 + AAC stream. */
export interface CapturedMedia {
  readonly videoHeader: Buffer;
  readonly audioHeader: Buffer;
  readonly keyframe: Buffer;
}

/** Keeps the first AVC/AAC sequence headers and AVC keyframe among messages (for onMedia). */
export function captureMedia(into: Partial<CapturedMedia>, message: RtmpMessage): void {
  const body = message.payload;
  const copy = (): Buffer => Buffer.from(body);
  if (message.typeId === MessageType.Audio && body[0] === 0xaf && body[1] === 0) {
    (into as { audioHeader?: Buffer }).audioHeader ??= copy();
  } else if (message.typeId === MessageType.Video && body[0] === 0x17) {
    const target = into as { videoHeader?: Buffer; keyframe?: Buffer };
    if (body[1] === 0) target.videoHeader ??= copy();
    else if (body[1] === 1) target.keyframe ??= copy();
  }
}

/** `keyframe` with an H.264 filler NAL unit (type 12) of `extraBytes` appended (4-byte lengths). */
export function withFiller(keyframe: Buffer, extraBytes: number): Buffer {
  const nal = Buffer.alloc(extraBytes, 0xff);
  nal[0] = 0x0c;
  nal[nal.length - 1] = 0x80;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(nal.length);
  return Buffer.concat([keyframe, length, nal]);
}

/** A publisher pushing big keyframes faster than real time. */
export interface Flood {
  /** Media bytes handed to the socket so far. */
  readonly sentBytes: () => number;
  /** Highest process RSS seen while flooding. */
  readonly rssMaxBytes: () => number;
  /** Stops sending and waits for the loop to end (the client stays open). */
  stop(): Promise<void>;
}

/**
 * Publishes on `client` (its URL's name), sends the headers of `media`, then every 10 ms a
 * `frameBytes` keyframe 40 ms of media later, skipping a beat while the socket holds 512 KiB.
 */
export async function startFlood(
  client: RtmpClient,
  media: CapturedMedia,
  frameBytes: number,
): Promise<Flood> {
  const id = await client.publish();
  client.sendMedia(id, MessageType.Video, 0, media.videoHeader);
  client.sendMedia(id, MessageType.Audio, 0, media.audioHeader);
  const frame = withFiller(media.keyframe, Math.max(2, frameBytes - media.keyframe.length - 4));
  const state = { running: true };
  let sentBytes = 0;
  let rssMaxBytes = process.memoryUsage().rss;
  const loop = (async (): Promise<void> => {
    for (let timestamp = 40; state.running && client.closeInfo === null; timestamp += 40) {
      if (client.connection.socket.writableLength < 512 * 1024) {
        client.sendMedia(id, MessageType.Video, timestamp, frame);
        sentBytes += frame.length;
      }
      rssMaxBytes = Math.max(rssMaxBytes, process.memoryUsage().rss);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  return {
    sentBytes: () => sentBytes,
    rssMaxBytes: () => rssMaxBytes,
    stop: async () => {
      state.running = false;
      await loop;
    },
  };
}
