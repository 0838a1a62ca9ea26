// The HLS viewers' HTTP/1.1 client: one keep-alive raw socket per viewer, one request at a time,
// responses read into one buffer all sockets share (RFC 9112 section 6: length, chunked or close).
import { connect, type Socket } from 'node:net';

const MAX_HEAD_BYTES = 16 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

/** Where a response's body goes: views of the bytes read, valid only during the call. */
export interface BodySink {
  onBody(piece: Buffer): void;
}

/** Reads one HTTP/1.1 response after another (sans I/O); reset() before each response. */
export class ResponseReader {
  status = 0;
  /** The server said `Connection: close`, or the body ends at the close. */
  closeAfter = false;
  #state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'close' =
    'head';
  #head: Buffer | null = null;
  #left = 0;
  #sizeDigits = 0;
  #inExtension = false;
  #lineBytes = 0;

  /** Ready for a new response. */
  reset(): void {
    this.status = 0;
    this.closeAfter = false;
    this.#state = 'head';
    this.#head = null;
  }

  /** True when the body runs to the end of the connection (no length, not chunked). */
  get closeDelimited(): boolean {
    return this.#state === 'close';
  }

  /** True once the head arrived. */
  get hasHead(): boolean {
    return this.#state !== 'head';
  }

  /**
   * Reads `bytes` from `start`, handing body pieces (views of `bytes`) to `sink`; returns the
   * offset just past the end of the response once complete, else -1 (everything was used).
   * Throws an Error on a malformed response.
   */
  push(bytes: Buffer, start: number, sink: BodySink): number {
    let pos = start;
    const end = bytes.length;
    while (pos < end || this.#state === 'length') {
      switch (this.#state) {
        case 'head': {
          pos = this.#readHead(bytes, pos);
          if (pos < 0) return -1;
          break; // an empty body ends in the 'length' case, even with no bytes left
        }
        case 'length': {
          if (this.#left === 0) return pos;
          if (pos >= end) return -1;
          const take = Math.min(this.#left, end - pos);
          sink.onBody(bytes.subarray(pos, pos + take));
          pos += take;
          this.#left -= take;
          if (this.#left === 0) return pos;
          break;
        }
        case 'close':
          sink.onBody(bytes.subarray(pos));
          return -1;
        case 'chunk-size': {
          const c = bytes[pos++] ?? 0;
          if (c === 0x0a) {
            if (this.#sizeDigits === 0) throw new Error('empty chunk size');
            this.#state = this.#left === 0 ? 'trailer' : 'chunk-data';
            this.#lineBytes = 0;
          } else if (c === 0x3b) {
            this.#inExtension = true;
          } else if (c !== 0x0d && !this.#inExtension) {
            const digit = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
            if (digit < 0 || digit > 15 || this.#sizeDigits >= 8) throw new Error('bad chunk size');
            this.#left = this.#left * 16 + digit;
            this.#sizeDigits++;
          }
          break;
        }
        case 'chunk-data': {
          const take = Math.min(this.#left, end - pos);
          sink.onBody(bytes.subarray(pos, pos + take));
          pos += take;
          this.#left -= take;
          if (this.#left === 0) this.#state = 'chunk-end';
          break;
        }
        case 'chunk-end':
          if (bytes[pos++] === 0x0a) this.#startChunk();
          break;
        case 'trailer': {
          const c = bytes[pos++] ?? 0;
          if (c === 0x0a) {
            if (this.#lineBytes === 0) return pos;
            this.#lineBytes = 0;
          } else if (c !== 0x0d) {
            this.#lineBytes++;
          }
          break;
        }
      }
    }
    return -1;
  }

  #startChunk(): void {
    this.#state = 'chunk-size';
    this.#left = 0;
    this.#sizeDigits = 0;
    this.#inExtension = false;
  }

  /** Returns the offset after the head, or -1 when it is not complete yet. */
  #readHead(bytes: Buffer, start: number): number {
    let pos = start;
    if (this.#head === null) {
      // Blank lines before a response (a stray CRLF after a body) are skipped.
      while (pos < bytes.length && (bytes[pos] === 0x0d || bytes[pos] === 0x0a)) pos++;
      if (pos >= bytes.length) return -1;
    }
    const held = this.#head;
    const view = held === null ? bytes.subarray(pos) : Buffer.concat([held, bytes.subarray(pos)]);
    const at = view.indexOf(CRLF2);
    if (at < 0) {
      if (view.length > MAX_HEAD_BYTES) throw new Error('response head too large');
      this.#head = held === null ? Buffer.from(view) : view;
      return -1;
    }
    const text = view.toString('latin1', 0, at);
    this.#head = null;
    if (!text.startsWith('HTTP/1.')) throw new Error('not an HTTP/1.x response');
    this.status = Number(text.slice(9, 12));
    this.closeAfter = /\r\nconnection:[^\r\n]*close/i.test(text) || text.startsWith('HTTP/1.0 ');
    const length = /\r\ncontent-length:[ \t]*(\d{1,15})/i.exec(text);
    if (/\r\ntransfer-encoding:[^\r\n]*chunked/i.test(text)) {
      this.#startChunk();
    } else if (length?.[1] !== undefined) {
      this.#state = 'length';
      this.#left = Number(length[1]);
    } else if (this.status === 204 || this.status === 304) {
      this.#state = 'length';
      this.#left = 0;
    } else {
      this.#state = 'close';
      this.closeAfter = true;
    }
    return pos + at + 4 - (held?.length ?? 0);
  }
}

/** What a request's caller is told. */
export interface ResponseHandler extends BodySink {
  /** Body bytes: a view of a shared buffer, valid only during the call (copy what you keep). */
  onBody(piece: Buffer): void;
  /** The response is complete (`error` null), or failed (`status` 0 when there was none). */
  onEnd(status: number, error: string | null): void;
}

interface InFlight {
  readonly path: string;
  readonly handler: ResponseHandler;
  readonly startedAtMs: number;
  /** The socket had served a response before: a close before any byte is a keep-alive race. */
  readonly reused: boolean;
  retried: boolean;
}

/** Read buffer shared by every connection: a read is handled before the next one starts. */
const SHARED_READ_BYTES = 256 * 1024;
let sharedRead: Buffer | null = null;

/** One keep-alive HTTP/1.1 connection; reconnects when the server closed it. */
export class HttpConnection {
  readonly #host: string;
  readonly #port: number;
  readonly #reader = new ResponseReader();
  #socket: Socket | null = null;
  #served = 0;
  #current: InFlight | null = null;
  #socketError: string | null = null;
  /** TCP connections opened (the first one included). */
  connects = 0;

  constructor(options: { host: string; port: number }) {
    this.#host = options.host;
    this.#port = options.port;
  }

  /** True while a request waits for its response. */
  get busy(): boolean {
    return this.#current !== null;
  }

  get localPort(): number {
    return this.#socket?.localPort ?? 0;
  }

  /** Sends `GET path`; the handler hears the response. One request at a time. */
  request(path: string, handler: ResponseHandler, nowMs: number): void {
    if (this.#current !== null) throw new Error('HttpConnection: a request is in flight');
    const socket = this.#socket ?? this.#open();
    this.#current = {
      path,
      handler,
      startedAtMs: nowMs,
      reused: this.#served > 0,
      retried: false,
    };
    this.#reader.reset();
    this.#send(socket, path);
  }

  /** Fails the request in flight when it is older than `timeoutMs`; returns true if it did. */
  checkTimeout(nowMs: number, timeoutMs: number): boolean {
    const current = this.#current;
    if (current === null || nowMs - current.startedAtMs <= timeoutMs) return false;
    this.#drop();
    this.#fail(current, 'timeout');
    return true;
  }

  /** Closes the socket; a request in flight is dropped without a callback. */
  close(): void {
    this.#current = null;
    this.#drop();
  }

  #send(socket: Socket, path: string): void {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.#host}:${this.#port}\r\n\r\n`);
  }

  #open(): Socket {
    sharedRead ??= Buffer.allocUnsafe(SHARED_READ_BYTES);
    const shared = sharedRead;
    this.connects++;
    this.#served = 0;
    this.#socketError = null;
    const socket = connect({
      host: this.#host,
      port: this.#port,
      noDelay: true,
      onread: {
        buffer: shared,
        callback: (bytes: number) => {
          if (this.#socket === socket) this.#onBytes(shared.subarray(0, bytes));
          return true;
        },
      },
    });
    this.#socket = socket;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (this.#socket === socket) this.#socketError = error.code ?? error.message;
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#onClose();
    });
    return socket;
  }

  #drop(): void {
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
  }

  #onBytes(bytes: Buffer): void {
    let pos = 0;
    while (pos < bytes.length) {
      const current = this.#current;
      if (current === null) return; // nothing asked: stray bytes
      let next: number;
      try {
        next = this.#reader.push(bytes, pos, current.handler);
      } catch (error) {
        this.#drop();
        this.#fail(current, error instanceof Error ? error.message : String(error));
        return;
      }
      if (next < 0) return;
      pos = next;
      this.#complete(current);
    }
  }

  #complete(current: InFlight): void {
    this.#current = null;
    this.#served++;
    const status = this.#reader.status;
    if (this.#reader.closeAfter) this.#drop();
    current.handler.onEnd(status, null);
  }

  #onClose(): void {
    this.#socket = null;
    const current = this.#current;
    if (current === null) return;
    const reader = this.#reader;
    if (reader.closeDelimited) {
      this.#complete(current);
    } else if (!reader.hasHead && current.reused && !current.retried) {
      // The server closed an idle keep-alive connection as we sent: send again on a new one.
      current.retried = true;
      reader.reset();
      this.#send(this.#open(), current.path);
    } else {
      this.#fail(current, this.#socketError ?? 'closed');
    }
  }

  #fail(current: InFlight, reason: string): void {
    if (this.#current === current) this.#current = null;
    current.handler.onEnd(this.#reader.status, reason);
  }
}
