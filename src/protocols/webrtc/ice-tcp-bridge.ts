// ICE over TCP (RFC 6544, passive side) in front of libdatachannel, whose ICE (libjuice) speaks
// UDP only: a TCP listener takes RFC 4571 framed packets (a 2-byte big-endian length, then the
// packet), and each connection gets one UDP socket on loopback that sends every frame as a
// datagram to the shared WebRTC UDP port and frames every datagram coming back into the TCP
// stream. libjuice sees the relay socket as a peer-reflexive candidate of the viewer and answers
// its STUN checks, DTLS and media as for any UDP peer.
//
// Bounded: connections (beyond the limit they are closed at once), a frame's length (a longer
// one closes the connection), a deadline for the first answer from libdatachannel (the
// handshake) and an idle deadline after, the TCP write backlog (datagrams are dropped while a
// slow viewer has too much unsent, as UDP would lose them). Both sockets close together, and
// the reason is logged.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../log/logger.ts';
import { Rfc4571Deframer, frame } from './rfc4571.ts';

/** The longest frame taken from a viewer: a full-size Ethernet packet, and room to spare. */
export const MAX_ICE_TCP_FRAME_BYTES = 1600;
/** Connections at once; more are closed as they arrive. */
export const MAX_ICE_TCP_CONNECTIONS = 256;
/** Unsent bytes a viewer's TCP connection may hold; datagrams beyond are dropped. */
export const MAX_ICE_TCP_BACKLOG_BYTES = 512 * 1024;
/** Connections at once from one address; more from it are closed as they arrive. */
export const MAX_ICE_TCP_CONNECTIONS_PER_ADDRESS = 16;
/** A connection that receives nothing this long (after its handshake) is closed. */
export const ICE_TCP_IDLE_MS = 30_000;

/** How the bridge is set up. */
export interface IceTcpBridgeOptions {
  /** The address the TCP port listens on. */
  readonly host: string;
  /** The TCP port (0: a free one, tests use it). */
  readonly port: number;
  /** libdatachannel's UDP port and an address it listens on that the relay sockets reach. */
  readonly udpPort: number;
  readonly udpAddress: string;
  /** A connection with no answer from libdatachannel this long after it opened is closed. */
  readonly handshakeTimeoutMs: number;
  readonly logger: Logger;
  readonly maxConnections?: number;
  readonly idleMs?: number;
}

/** Why a bridged connection ended. */
export type IceTcpEnd =
  | 'client-closed'
  | 'socket-error'
  | 'relay-error'
  | 'frame-too-long'
  | 'empty-frame'
  | 'handshake-timeout'
  | 'idle-timeout'
  | 'too-many-connections'
  | 'too-many-from-address'
  | 'shutdown';

class Bridged {
  readonly #tcp: Socket;
  readonly #bridge: IceTcpBridge;
  readonly #deframer = new Rfc4571Deframer(MAX_ICE_TCP_FRAME_BYTES);
  readonly #onFrame = (packet: Buffer): void => {
    this.#relay(packet);
  };
  #udp: UdpSocket | null = null;
  #answered = false;
  #lastInMs = Date.now();
  #ended = false;
  readonly openedMs = Date.now();
  /** The viewer's address (the per-address limit counts it). */
  readonly address: string;
  dropped = 0;
  framesIn = 0;
  framesOut = 0;

  constructor(tcp: Socket, bridge: IceTcpBridge) {
    this.#tcp = tcp;
    this.#bridge = bridge;
    this.address = tcp.remoteAddress ?? '?';
    tcp.setNoDelay(true);
    tcp.on('data', (chunk: Buffer) => {
      if (this.#ended) return;
      this.#lastInMs = Date.now();
      const error = this.#deframer.push(chunk, this.#onFrame);
      if (error !== null) this.end(error);
    });
    tcp.on('error', () => {
      this.end('socket-error');
    });
    tcp.on('close', () => {
      this.end('client-closed');
    });
    tcp.on('end', () => {
      this.end('client-closed');
    });
  }

  /** Checked by the bridge's timer: the handshake and idle deadlines. */
  tick(nowMs: number, handshakeMs: number, idleMs: number): void {
    if (!this.#answered && nowMs - this.openedMs > handshakeMs) this.end('handshake-timeout');
    else if (this.#answered && nowMs - this.#lastInMs > idleMs) this.end('idle-timeout');
  }

  #relay(packet: Buffer): void {
    if (this.#ended) return;
    this.framesIn++;
    const udp = this.#udp ?? this.#openRelay();
    if (udp === null) return;
    udp.send(packet, this.#bridge.udpPort, this.#bridge.udpAddress);
  }

  #openRelay(): UdpSocket | null {
    const udp = createSocket(this.#bridge.udpAddress.includes(':') ? 'udp6' : 'udp4');
    this.#udp = udp;
    udp.on('error', () => {
      this.end('relay-error');
    });
    udp.on('message', (message: Buffer, from: RemoteInfo) => {
      // Only libdatachannel's port: anything else on loopback is not the server.
      if (from.port !== this.#bridge.udpPort) return;
      this.#fromServer(message);
    });
    udp.bind(0, this.#bridge.udpAddress);
    return udp;
  }

  #fromServer(message: Buffer): void {
    if (this.#ended || message.length > 0xffff) return;
    this.#answered = true;
    if (this.#tcp.writableLength > MAX_ICE_TCP_BACKLOG_BYTES) {
      this.dropped++;
      return;
    }
    this.framesOut++;
    this.#tcp.write(frame(message));
  }

  end(reason: IceTcpEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#tcp.destroy();
    try {
      this.#udp?.close();
    } catch {
      // Not bound yet, or closed already.
    }
    this.#bridge.ended(this, reason);
  }

  get remote(): string {
    return `${this.#tcp.remoteAddress ?? '?'}:${String(this.#tcp.remotePort ?? 0)}`;
  }
}

/** See the file comment. */
export class IceTcpBridge {
  readonly #options: IceTcpBridgeOptions;
  readonly #server: Server;
  readonly #connections = new Set<Bridged>();
  /** Connections open per viewer address (bounded by the connection limit). */
  readonly #perAddress = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #refused = 0;
  #port: number | null = null;

  constructor(options: IceTcpBridgeOptions) {
    this.#options = options;
    this.#server = createServer((socket) => {
      this.#accept(socket);
    });
    this.#server.on('error', (error) => {
      options.logger.warn({ err: error }, 'ICE-TCP listener error');
    });
  }

  get udpPort(): number {
    return this.#options.udpPort;
  }

  get udpAddress(): string {
    return this.#options.udpAddress;
  }

  /** The TCP port bound (null before listen()). */
  get port(): number | null {
    return this.#port;
  }

  get connections(): number {
    return this.#connections.size;
  }

  /** Connections closed at once because the limit was reached. */
  get refused(): number {
    return this.#refused;
  }

  /** Binds the TCP port; resolves with it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(error);
      };
      this.#server.once('error', onError);
      this.#server.listen(
        { port: this.#options.port, host: this.#options.host, backlog: 128 },
        () => {
          this.#server.off('error', onError);
          const address = this.#server.address();
          this.#port = typeof address === 'object' && address !== null ? address.port : null;
          this.#timer = setInterval(() => {
            const now = Date.now();
            for (const connection of [...this.#connections]) {
              connection.tick(
                now,
                this.#options.handshakeTimeoutMs,
                this.#options.idleMs ?? ICE_TCP_IDLE_MS,
              );
            }
          }, 1000);
          this.#timer.unref();
          resolve(this.#port ?? 0);
        },
      );
    });
  }

  /** Stops listening and closes every connection. */
  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    for (const connection of [...this.#connections]) connection.end('shutdown');
    this.#server.close();
  }

  #accept(socket: Socket): void {
    if (this.#connections.size >= (this.#options.maxConnections ?? MAX_ICE_TCP_CONNECTIONS)) {
      this.#refused++;
      socket.on('error', () => undefined);
      socket.destroy();
      if (this.#refused === 1 || this.#refused % 1000 === 0) {
        this.#options.logger.warn(
          {
            refused: this.#refused,
            limit: this.#options.maxConnections ?? MAX_ICE_TCP_CONNECTIONS,
          },
          'ICE-TCP connection refused: too many connections',
        );
      }
      return;
    }
    const address = socket.remoteAddress ?? '?';
    const fromAddress = this.#perAddress.get(address) ?? 0;
    if (fromAddress >= MAX_ICE_TCP_CONNECTIONS_PER_ADDRESS) {
      this.#refused++;
      socket.on('error', () => undefined);
      socket.destroy();
      this.#options.logger.debug(
        { remote: address, limit: MAX_ICE_TCP_CONNECTIONS_PER_ADDRESS },
        'ICE-TCP connection refused: too many from this address',
      );
      return;
    }
    this.#perAddress.set(address, fromAddress + 1);
    this.#connections.add(new Bridged(socket, this));
  }

  /** @internal A connection ended. */
  ended(connection: Bridged, reason: IceTcpEnd): void {
    if (!this.#connections.delete(connection)) return;
    const left = (this.#perAddress.get(connection.address) ?? 1) - 1;
    if (left > 0) this.#perAddress.set(connection.address, left);
    else this.#perAddress.delete(connection.address);
    this.#options.logger.debug(
      {
        remote: connection.remote,
        reason,
        framesIn: connection.framesIn,
        framesOut: connection.framesOut,
        dropped: connection.dropped,
      },
      'ICE-TCP connection closed',
    );
  }
}
