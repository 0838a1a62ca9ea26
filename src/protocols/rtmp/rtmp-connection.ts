// RtmpConnection: one RTMP socket in either role. Handshake, chunk streams, protocol control and
// acknowledgements (RTMP 1.0 sections 5.2-5.4, 7.1.7); commands and media go to the owner.
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { decodeAmf0, encodeAmf0, type Amf0Value } from '../../codecs/amf0.ts';
import { CodecError } from '../../codecs/codec-error.ts';
import { ChunkDecoder } from '../../codecs/rtmp-chunk-decoder.ts';
import { ChunkEncoder } from '../../codecs/rtmp-chunk-encoder.ts';
import { HandshakeClient, HandshakeServer } from '../../codecs/rtmp-handshake.ts';
import {
  MessageType,
  UserControlEvent,
  decodeUint32Payload,
  decodeUserControl,
  encodeUint32Payload,
  encodeUserControl,
  Csid,
  type RtmpMessage,
} from '../../codecs/rtmp-message.ts';

/** Acknowledgement windows below this are raised to it (a tiny window would force an ack per byte). */
const MIN_ACK_WINDOW_BYTES = 64 * 1024;
/** Control and command bytes a peer may leave unread before we give up on it. */
const MAX_UNREAD_CONTROL_BYTES = 1024 * 1024;

/** Why a connection closed; `code` is stable (logged and counted). */
export interface RtmpCloseInfo {
  readonly code: string;
  readonly message: string;
  readonly error?: Error;
}

/** What a connection needs from its owner. */
export interface RtmpConnectionOptions {
  readonly role: 'server' | 'client';
  /** Deadline for the whole handshake; the owner clears it (clearDeadline) when it is satisfied. */
  readonly handshakeTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly maxCommandBytes: number;
  readonly maxChunkStreams: number;
  /** The acknowledgement window we announce (and expect the peer to ack). */
  readonly ackWindowBytes: number;
  /** Chunk size for everything we send; announced once the handshake completes. */
  readonly outChunkSize: number;
}

/** Receives what the connection does not handle itself. */
export interface RtmpConnectionHandler {
  /** The handshake finished (client role: time to send connect). */
  onHandshake(): void;
  /** An AMF0 command (type 20): name, transaction id, the rest of the values. */
  onCommand(message: RtmpMessage, name: string, transactionId: number, args: Amf0Value[]): void;
  /** Audio, video, data or aggregate message. */
  onMedia(message: RtmpMessage): void;
  /** The socket is gone; called once. */
  onClose(info: RtmpCloseInfo): void;
}

/**
 * Owns one socket. Every byte from the peer is parsed inside a try/catch that turns any error
 * into closing this one connection with a reason; nothing it receives can throw past it.
 */
export class RtmpConnection {
  readonly socket: Socket;
  readonly #options: RtmpConnectionOptions;
  readonly #handler: RtmpConnectionHandler;
  readonly #decoder: ChunkDecoder;
  readonly #encoder: ChunkEncoder;
  #handshake: HandshakeServer | HandshakeClient | null;
  #deadline: NodeJS.Timeout | null = null;
  #peerAckWindow = 0;
  #lastAckAt = 0;
  #closed = false;
  /** Set by end(): why we are saying goodbye, reported when the socket closes; input is ignored. */
  #ending: RtmpCloseInfo | null = null;
  /** Bytes received from the peer, media included. */
  bytesIn = 0;

  constructor(socket: Socket, options: RtmpConnectionOptions, handler: RtmpConnectionHandler) {
    this.socket = socket;
    this.#options = options;
    this.#handler = handler;
    this.#decoder = new ChunkDecoder({
      maxMessageBytes: options.maxMessageBytes,
      maxChunkStreams: options.maxChunkStreams,
    });
    this.#encoder = new ChunkEncoder(128);
    const handshakeOptions = { random: randomBytes, epochMs: 0 };
    this.#handshake =
      options.role === 'server'
        ? new HandshakeServer(handshakeOptions)
        : new HandshakeClient(handshakeOptions);
    socket.setNoDelay(true);
    socket.on('data', (bytes: Buffer) => {
      this.#onData(bytes);
    });
    socket.on('error', (error) => {
      this.close(this.#ending ?? { code: 'socket-error', message: error.message, error });
    });
    socket.on('close', () => {
      this.close(
        this.#ending ?? { code: 'peer-closed', message: 'the peer closed the connection' },
      );
    });
    this.armDeadline(options.handshakeTimeoutMs, {
      code: 'handshake-timeout',
      message: 'handshake and connect not done in time',
    });
    if (this.#handshake instanceof HandshakeClient) socket.write(this.#handshake.start());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Closes the connection with `info` in `ms` unless cleared (or re-armed) before. */
  armDeadline(ms: number, info: RtmpCloseInfo): void {
    this.clearDeadline();
    if (this.#closed) return;
    this.#deadline = setTimeout(() => {
      this.close(info);
    }, ms);
  }

  /**
   * Bytes of this socket read before the connection took it over (those after a PROXY
   * header), handled as if they had just arrived.
   */
  receive(bytes: Buffer): void {
    if (bytes.length > 0) this.#onData(bytes);
  }

  /** The owner got what it waited for (connect, publish or play): no more deadline. */
  clearDeadline(): void {
    if (this.#deadline) clearTimeout(this.#deadline);
    this.#deadline = null;
  }

  /** Sends one message through the header-compressing encoder (control and commands). */
  send(message: RtmpMessage): void {
    if (this.#closed || this.#ending) return;
    if (this.socket.writableLength > MAX_UNREAD_CONTROL_BYTES) {
      this.close({ code: 'peer-not-reading', message: 'the peer does not read what we send' });
      return;
    }
    this.socket.write(this.#encoder.encode(message));
  }

  /** Sends an AMF0 command on the command chunk stream. */
  sendCommand(streamId: number, values: readonly Amf0Value[]): void {
    this.send({
      csid: Csid.Command,
      typeId: MessageType.CommandAmf0,
      streamId,
      timestamp: 0,
      payload: encodeAmf0(values),
    });
  }

  /** Sends a protocol control message (types 1-6) on chunk stream 2, stream 0. */
  sendControl(typeId: number, payload: Buffer): void {
    this.send({ csid: Csid.Control, typeId, streamId: 0, timestamp: 0, payload });
    if (typeId === MessageType.SetChunkSize) this.#encoder.chunkSize = payload.readUInt32BE(0);
  }

  /** Sends a user control event (type 4). */
  sendUserControl(event: number, value: number, extra?: number): void {
    this.sendControl(MessageType.UserControl, encodeUserControl(event, value, extra));
  }

  /** Closes the socket once and tells the handler why. */
  close(info: RtmpCloseInfo): void {
    if (this.#closed) return;
    this.#closed = true;
    this.clearDeadline();
    this.socket.destroy();
    this.#handler.onClose(info);
  }

  /** Ends the socket after what is queued has been written (a clean goodbye). */
  end(info: RtmpCloseInfo): void {
    if (this.#closed || this.#ending) return;
    this.#ending = info;
    this.socket.end();
    const timer = setTimeout(() => {
      this.close(info);
    }, 2000);
    timer.unref();
    this.socket.once('close', () => {
      clearTimeout(timer);
      this.close(info);
    });
  }

  #onData(bytes: Buffer): void {
    if (this.#closed || this.#ending) return;
    this.bytesIn += bytes.length;
    try {
      let rest: Buffer | null = bytes;
      if (this.#handshake) {
        const step = this.#handshake.push(bytes);
        if (step.reply) this.socket.write(step.reply);
        if (!step.done) return;
        this.#handshake = null;
        rest = step.rest;
        this.#afterHandshake();
        // The handler may have closed us from inside #afterHandshake().
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
        if (this.#closed) return;
      }
      if (rest && rest.length > 0) this.#onChunks(rest);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      const code = error instanceof CodecError ? error.code : 'internal-error';
      this.close({ code, message: err.message, error: err });
    }
  }

  #afterHandshake(): void {
    this.sendControl(MessageType.SetChunkSize, encodeUint32Payload(this.#options.outChunkSize));
    this.#handler.onHandshake();
  }

  #onChunks(bytes: Buffer): void {
    const messages = this.#decoder.push(bytes);
    for (const message of messages) {
      if (this.#closed || this.#ending) return;
      this.#dispatch(message);
    }
    this.#maybeAck();
  }

  #dispatch(message: RtmpMessage): void {
    switch (message.typeId) {
      case MessageType.SetChunkSize:
      case MessageType.Abort:
        return; // applied by the decoder itself
      case MessageType.Acknowledgement:
        decodeUint32Payload(message.payload, 'Acknowledgement');
        return;
      case MessageType.WindowAckSize:
        this.#peerAckWindow = Math.max(
          MIN_ACK_WINDOW_BYTES,
          decodeUint32Payload(message.payload, 'Window Acknowledgement Size'),
        );
        return;
      case MessageType.SetPeerBandwidth:
        if (message.payload.length !== 5) {
          throw new CodecError('ERR_RTMP_CONTROL_MESSAGE', 'Set Peer Bandwidth needs 5 bytes');
        }
        return;
      case MessageType.UserControl:
        this.#onUserControl(message.payload);
        return;
      case MessageType.CommandAmf0:
        this.#onCommand(message);
        return;
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAmf0:
      case MessageType.Aggregate:
        if (message.typeId === MessageType.DataAmf0) this.#checkCommandSize(message);
        this.#handler.onMedia(message);
        return;
      default:
        return; // unknown or unsupported types (AMF3, shared objects) are ignored
    }
  }

  #onUserControl(payload: Buffer): void {
    const event = decodeUserControl(payload);
    if (event.event === UserControlEvent.PingRequest) {
      this.sendUserControl(UserControlEvent.PingResponse, event.value);
    }
  }

  #checkCommandSize(message: RtmpMessage): void {
    if (message.payload.length > this.#options.maxCommandBytes) {
      throw new CodecError(
        'ERR_RTMP_MESSAGE_TOO_LARGE',
        `Command or data message of ${message.payload.length} bytes exceeds ${this.#options.maxCommandBytes}`,
      );
    }
  }

  #onCommand(message: RtmpMessage): void {
    this.#checkCommandSize(message);
    const values = decodeAmf0(message.payload);
    const [name, transactionId] = values;
    if (typeof name !== 'string') {
      throw new CodecError('ERR_AMF0_UNSUPPORTED_TYPE', 'A command must start with its name');
    }
    this.#handler.onCommand(
      message,
      name,
      typeof transactionId === 'number' ? transactionId : 0,
      values.slice(2),
    );
  }

  #maybeAck(): void {
    const window = this.#peerAckWindow;
    if (window === 0) return;
    const received = this.#decoder.bytesReceived;
    if (received - this.#lastAckAt >= window) {
      this.#lastAckAt = received;
      this.sendControl(MessageType.Acknowledgement, encodeUint32Payload(received >>> 0));
    }
  }
}
