// One SRT listener over the project's libsrt addon (packages/srt): the streamid verdict during
// the handshake, then one SrtConnection per accepted caller with its reads, sends, statistics and
// end. The addon calls back on the JavaScript thread; nothing here blocks.
import { createRequire } from 'node:module';
import type { NativeBinding, NativeStats, NativeVerdict } from 'onair-srt';

export type SrtStats = NativeStats;
/** The loaded addon. */
export type SrtBinding = NativeBinding;

/** Reject reasons a caller sees (libsrt's access-control codes, SRT_REJX_*). */
export const SrtReject = {
  BadRequest: 1400,
  Unauthorized: 1401,
  Overload: 1402,
  Forbidden: 1403,
  NotFound: 1404,
  BadMode: 1405,
  Conflict: 1409,
  InternalError: 1500,
} as const;

/** The addon, or why there is none (not built at install, or it does not load). */
export function loadSrt(): { binding: NativeBinding } | { whyNot: string } {
  try {
    const require = createRequire(import.meta.url);
    const loaded = require('onair-srt') as {
      binding: NativeBinding | null;
      whyNot: string | null;
    };
    if (loaded.binding !== null) return { binding: loaded.binding };
    return { whyNot: loaded.whyNot ?? 'the onair-srt addon did not load' };
  } catch (error) {
    return { whyNot: error instanceof Error ? error.message : String(error) };
  }
}

/** A caller asking to connect, as the handshake shows it. */
export interface SrtCaller {
  readonly socket: number;
  readonly streamId: string;
  readonly ip: string;
  readonly port: number;
}

/** The answer to a caller: accept (with the stream's passphrase, if it has its own) or reject. */
export type SrtVerdict = NativeVerdict;

/** What the listener is made with. */
export interface SrtListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly latencyMs: number;
  /** Every connection's passphrase ('' for none); a verdict may set another per caller. */
  readonly passphrase: string;
  readonly peerIdleTimeoutMs: number;
  /** Decides a caller during its handshake; must answer at once (it holds libsrt's thread). */
  readonly verdict: (caller: SrtCaller) => SrtVerdict;
  /** A caller was accepted: the connection is its from now on. */
  readonly accepted: (connection: SrtConnection, caller: SrtCaller) => void;
  /** A callback threw (a bug): logged by the owner; the connection concerned is closed. */
  readonly onError: (error: unknown) => void;
}

const EVENT_ACCEPT = 1;
const EVENT_DATA = 2;
const EVENT_CLOSED = 3;
const EVENT_WRITABLE = 4;
/** A listen callback that holds libsrt's thread longer than this rejects the caller. */
const VERDICT_WAIT_MS = 250;

/** One accepted SRT socket. */
export class SrtConnection {
  readonly socket: number;
  readonly #binding: NativeBinding;
  readonly #server: object;
  readonly #forget: (connection: SrtConnection) => void;
  #onData: (bytes: Buffer) => void = () => undefined;
  #onWritable: () => void = () => undefined;
  #onClose: (why: 'peer-left' | 'closed') => void = () => undefined;
  #closed = false;
  bytesReceived = 0;
  bytesSent = 0;
  /** libsrt's statistics as the connection ended (null before, or when they could not be read). */
  lastStats: SrtStats | null = null;

  constructor(
    binding: NativeBinding,
    server: object,
    socket: number,
    forget: (connection: SrtConnection) => void,
  ) {
    this.#binding = binding;
    this.#server = server;
    this.socket = socket;
    this.#forget = forget;
  }

  get closed(): boolean {
    return this.#closed;
  }

  onData(handler: (bytes: Buffer) => void): void {
    this.#onData = handler;
  }

  /** Called once the send buffer has room again after send() took less than it was given. */
  onWritable(handler: () => void): void {
    this.#onWritable = handler;
  }

  /** Called once, when the peer left or the connection broke (`peer-left`), or after close(). */
  onClose(handler: (why: 'peer-left' | 'closed') => void): void {
    this.#onClose = handler;
  }

  /**
   * Sends bytes as SRT messages of at most 1316 bytes; returns how many were taken (the rest
   * waits for onWritable), or -1 when the connection is gone.
   */
  send(bytes: Buffer): number {
    if (this.#closed) return -1;
    const taken = this.#binding.send(this.#server, this.socket, bytes);
    if (taken > 0) this.bytesSent += taken;
    return taken;
  }

  /** libsrt's statistics of this connection, or null once it is gone. */
  stats(): SrtStats | null {
    return this.#closed ? null : this.#binding.stats(this.socket);
  }

  close(): void {
    this.#end('closed');
  }

  /** From the listener. */
  deliver(type: number, payload: Buffer | string | null): void {
    if (this.#closed) return;
    if (type === EVENT_DATA && payload instanceof Buffer) {
      this.bytesReceived += payload.length;
      this.#onData(payload);
    } else if (type === EVENT_WRITABLE) {
      this.#onWritable();
    } else if (type === EVENT_CLOSED) {
      this.#end('peer-left');
    }
  }

  #end(why: 'peer-left' | 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.lastStats = this.#binding.stats(this.socket);
    this.#binding.closeSocket(this.socket);
    this.#forget(this);
    this.#onClose(why);
  }
}

/** See the file comment. */
export class SrtListener {
  readonly #binding: NativeBinding;
  readonly #server: object;
  readonly #options: SrtListenerOptions;
  readonly #connections = new Map<number, SrtConnection>();
  /** The UDP port bound. */
  readonly port: number;
  #closed = false;

  /** Binds the port; throws (an Error with libsrt's reason) when it cannot. */
  constructor(binding: NativeBinding, options: SrtListenerOptions) {
    this.#binding = binding;
    this.#options = options;
    const listener = binding.listen(
      {
        host: options.host,
        port: options.port,
        latencyMs: options.latencyMs,
        passphrase: options.passphrase,
        peerIdleTimeoutMs: options.peerIdleTimeoutMs,
        verdictWaitMs: VERDICT_WAIT_MS,
      },
      (socket, streamId, ip, port) => this.#verdict({ socket, streamId, ip, port }),
      (type, socket, payload, ip, port) => {
        this.#event(type, socket, payload, ip, port);
      },
    );
    this.#server = listener.server;
    this.port = listener.port;
  }

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Stops accepting; closes every connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const connection of [...this.#connections.values()]) connection.close();
    this.#binding.close(this.#server);
  }

  #verdict(caller: SrtCaller): SrtVerdict {
    if (this.#closed) return { accept: false, reject: SrtReject.Overload };
    try {
      return this.#options.verdict(caller);
    } catch (error) {
      this.#options.onError(error);
      return { accept: false, reject: SrtReject.InternalError };
    }
  }

  #event(type: number, socket: number, payload: Buffer | string | null, ip: string, port: number) {
    if (type === EVENT_ACCEPT) {
      if (this.#closed) {
        this.#binding.closeSocket(socket); // accepted as the listener closed
        return;
      }
      const connection = new SrtConnection(this.#binding, this.#server, socket, (done) => {
        this.#connections.delete(done.socket);
      });
      this.#connections.set(socket, connection);
      const streamId = typeof payload === 'string' ? payload : '';
      try {
        this.#options.accepted(connection, { socket, streamId, ip, port });
      } catch (error) {
        this.#options.onError(error);
        connection.close();
      }
      return;
    }
    const connection = this.#connections.get(socket);
    if (connection === undefined) {
      // Closed here already (the addon's late news), or accepted as the listener closed.
      if (type === EVENT_CLOSED) this.#binding.closeSocket(socket);
      return;
    }
    try {
      connection.deliver(type, payload);
    } catch (error) {
      this.#options.onError(error);
      connection.close();
    }
  }
}
