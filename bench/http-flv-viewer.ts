// One HTTP-FLV viewer of the load generator: a raw HTTP/1.1 GET on a socket (identity or chunked
// body, RFC 9112 section 7.1) feeding onair's FlvDecoder, then ViewerStats.
import { connect, type Socket } from 'node:net';
import { FlvDecoder, FlvTagType } from '../src/codecs/flv.ts';
import type { LoadViewer } from './rtmp-viewer.ts';
import { ViewerStats, type LoadContext } from './viewer-stats.ts';

const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

/** Decodes a chunked body into its data pieces (subarrays of the input). Trailers are ignored. */
export class ChunkedBodyDecoder {
  #state: 'size' | 'data' | 'data-end' | 'done' = 'size';
  #size = 0;
  #inExtension = false;
  #left = 0;

  /** Returns the data pieces contained in `bytes`. */
  push(bytes: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let pos = 0;
    const end = bytes.length;
    while (pos < end) {
      switch (this.#state) {
        case 'size': {
          const c = bytes[pos++] ?? 0;
          if (c === 0x0a) {
            this.#left = this.#size;
            this.#state = this.#size === 0 ? 'done' : 'data';
            this.#size = 0;
            this.#inExtension = false;
          } else if (c === 0x3b) {
            this.#inExtension = true;
          } else if (c !== 0x0d && !this.#inExtension) {
            const digit = c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57;
            if (digit < 0 || digit > 15) throw new Error('bad chunk size line');
            this.#size = this.#size * 16 + digit;
          }
          break;
        }
        case 'data': {
          const take = Math.min(this.#left, end - pos);
          out.push(bytes.subarray(pos, pos + take));
          pos += take;
          this.#left -= take;
          if (this.#left === 0) this.#state = 'data-end';
          break;
        }
        case 'data-end':
          if (bytes[pos++] === 0x0a) this.#state = 'size';
          break;
        case 'done':
          return out;
      }
    }
    return out;
  }
}

/** Plays an HTTP-FLV URL over one raw socket. */
export class HttpFlvViewer implements LoadViewer {
  readonly stats: ViewerStats;
  readonly #ctx: LoadContext;
  readonly #url: URL;
  readonly #flv = new FlvDecoder();
  #socket: Socket | null = null;
  #head: Buffer | null = Buffer.alloc(0);
  #chunked: ChunkedBodyDecoder | null = null;
  #stopped = false;

  constructor(options: { index: number; url: string; slow: boolean; ctx: LoadContext }) {
    this.stats = new ViewerStats(options.index, options.slow, options.ctx);
    this.#ctx = options.ctx;
    this.#url = new URL(options.url);
  }

  get localPort(): number {
    return this.#socket?.localPort ?? 0;
  }

  start(): void {
    this.stats.connecting();
    const url = this.#url;
    const socket = connect({ host: url.hostname, port: Number(url.port || 80), noDelay: true });
    this.#socket = socket;
    socket.on('connect', () => {
      socket.write(
        `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
          'User-Agent: onair-bench\r\nAccept: */*\r\nConnection: close\r\n\r\n',
      );
    });
    socket.on('data', (bytes: Buffer) => {
      try {
        this.#onData(bytes);
      } catch (error) {
        this.#fail(`httpflv: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.stats.finish(this.#stopped ? null : `httpflv: ${error.code ?? error.message}`);
    });
    socket.on('close', () => {
      this.stats.finish(this.#stopped ? null : 'httpflv: closed by server');
    });
  }

  stop(): void {
    this.#stopped = true;
    this.stats.finish(null);
    this.#socket?.destroy();
  }

  #fail(reason: string): void {
    this.stats.finish(reason);
    this.#socket?.destroy();
  }

  #onData(bytes: Buffer): void {
    const nowMs = this.#ctx.now();
    let body = bytes;
    if (this.#head !== null) {
      const head = Buffer.concat([this.#head, bytes]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_RESPONSE_HEAD_BYTES) this.#fail('httpflv: response head too large');
        else this.#head = head;
        return;
      }
      const text = head.toString('latin1', 0, end);
      const status = Number(text.split(' ')[1]);
      if (status !== 200) {
        this.#fail(`httpflv: HTTP ${status}`);
        return;
      }
      if (/\r\ntransfer-encoding:[^\r\n]*chunked/i.test(text))
        this.#chunked = new ChunkedBodyDecoder();
      this.#head = null;
      body = head.subarray(end + 4);
    }
    const pieces = this.#chunked ? this.#chunked.push(body) : [body];
    for (const piece of pieces) {
      for (const tag of this.#flv.push(piece)) {
        if (tag.type === FlvTagType.Video) {
          if (this.stats.onVideo(tag.timestamp, tag.body, nowMs) && this.stats.slow) {
            this.#socket?.pause();
          }
        } else if (tag.type === FlvTagType.Audio) {
          this.stats.onAudio(tag.body.length, nowMs);
        }
      }
    }
  }
}
