// Streaming RTMP chunk stream decoder: bytes in, whole messages out (sans-I/O).
// Spec: Adobe RTMP 1.0, section 5.3 (chunking) and 5.4.1/5.4.2 (Set Chunk Size, Abort).

import { CodecError } from './codec-error.ts';
import { MessageType, decodeUint32Payload, validateChunkSize } from './rtmp-message.ts';
import type { RtmpMessage } from './rtmp-message.ts';

/** Limits for {@link ChunkDecoder}; each bounds what one hostile peer can make us hold. */
export interface ChunkDecoderOptions {
  /** Longest message accepted, checked at the header before any data; default 16 MiB - 1. */
  maxMessageBytes?: number;
  /** Most distinct chunk stream ids on one connection; default 64. */
  maxChunkStreams?: number;
  /** Most bytes held in unfinished messages across all chunk streams; default 32 MiB. */
  maxBufferedBytes?: number;
}

/** Default {@link ChunkDecoderOptions.maxMessageBytes}: the 24-bit length field's maximum. */
export const DEFAULT_MAX_MESSAGE_BYTES = 0xffffff;
/** Default {@link ChunkDecoderOptions.maxChunkStreams}. */
export const DEFAULT_MAX_CHUNK_STREAMS = 64;
/** Default {@link ChunkDecoderOptions.maxBufferedBytes}. */
export const DEFAULT_MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/** Chunk size every connection starts with (RTMP 1.0 section 5.4.1). */
export const DEFAULT_CHUNK_SIZE = 128;

/** Smallest copy made of an unfinished message's first bytes (unless the message is shorter). */
const MIN_TAIL_BYTES = 256;
/** What a kept view costs on the heap (a Buffer object), counted with the buffer it pins. */
const VIEW_COST_BYTES = 128;
/**
 * What one unfinished message may hold beyond twice its bytes: one socket read (Node reads at
 * most 64 KiB), so a message straddling reads is kept as views of them, no copy, while small
 * chunks, or a little data in each of many large reads, get copied instead.
 */
const VIEW_SLACK_BYTES = 64 * 1024;
/** Longest chunk header: 3-byte basic header, 11-byte type 0 header, 4-byte extended timestamp. */
const MAX_HEADER_BYTES = 18;
/** The 24-bit timestamp value that says "read the 4-byte extended timestamp" (section 5.3.1.3). */
const EXTENDED_MARKER = 0xffffff;
const EMPTY = Buffer.alloc(0);

/** What one chunk stream id remembers between chunks (section 5.3.1.2: headers compress). */
class ChunkStream {
  /** Absolute timestamp of the current (or last) message. */
  timestamp = 0;
  /**
   * Delta a type 3 chunk that starts a new message adds: the last header's timestamp field.
   * After type 0 that is the absolute timestamp, as FFmpeg and FMLE send it and SRS reads it
   * (nginx-rtmp reads 0 there instead; librtmp only sends that case with timestamp 0).
   */
  delta = 0;
  length = 0;
  typeId = 0;
  streamId = 0;
  /** The last type 0/1/2 header carried an extended timestamp; type 3 chunks may repeat it. */
  extended = false;
  /** That header's raw 4-byte extended value, matched when peeking at type 3 chunks. */
  extendedValue = 0;
  /** Bytes of the current message received so far (kept, or in `pending`). */
  received = 0;
  /**
   * Data of the current message kept from earlier pushes, in order: views of the pushed
   * buffers where the chunks are large (as cheap as it gets), copies where they are small.
   */
  parts: Buffer[] = [];
  /**
   * The copy being filled after `parts`: small chunk data is coalesced here, the buffer
   * growing to at most twice what it holds (never sized from `length` before bytes arrive).
   */
  tail: Buffer | null = null;
  /** Bytes of `tail` filled. */
  tailBytes = 0;
  /** Memory the current message holds: pushed buffers its views keep alive, plus copies. */
  retained = 0;
  /**
   * The message's data in the buffer being decoded now (views), moved to `parts` or copied to
   * `tail` before the push returns: a view per chunk is never kept across pushes, so 1-byte
   * chunks cannot cost ~100 bytes of heap per byte.
   */
  pending: Buffer[] = [];
  /** On the decoder's list of streams with `pending` data to keep at the end of this run. */
  dirty = false;

  constructor(readonly csid: number) {}
}

/**
 * Reassembles RTMP messages from a chunk stream pushed in arbitrary pieces.
 *
 * Message payloads may share memory with the buffers given to {@link ChunkDecoder.push} (a
 * message that arrives in one chunk is a subarray of the input): callers must not reuse those
 * buffers. Node socket buffers are never reused, so sockets can push theirs directly.
 *
 * Strict where the spec leaves no room: the first chunk on a chunk stream id must be type 0 (or
 * type 1, which librtmp sends, read as message stream 0), and a type 0/1/2 header may not
 * interrupt an unfinished message (both ERR_RTMP_CHUNK_HEADER).
 * Lenient where real encoders differ: the extended timestamp on type 3 chunks is optional.
 */
export class ChunkDecoder {
  readonly #maxMessageBytes: number;
  readonly #maxChunkStreams: number;
  readonly #maxBufferedBytes: number;
  readonly #streams = new Map<number, ChunkStream>();
  #chunkSize = DEFAULT_CHUNK_SIZE;
  #bytesReceived = 0;
  #bufferedBytes = 0;
  /** Memory held for unfinished messages (sum of their `retained`). */
  #retainedBytes = 0;
  /** Streams that got data in the current run (their `pending` views point into its buffer). */
  readonly #dirty: ChunkStream[] = [];
  /** The chunk whose data is being read, or null between chunks (reading a header). */
  #current: ChunkStream | null = null;
  /** Data bytes left in the current chunk. */
  #chunkLeft = 0;
  /** An incomplete header left over from the previous push (at most 17 bytes). */
  #carry: Buffer | null = null;
  /** The error that made this decoder unusable; thrown again by every later push. */
  #error: Error | null = null;

  /** Creates a decoder with the chunk size at its initial 128 bytes. */
  constructor(options: ChunkDecoderOptions = {}) {
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#maxChunkStreams = options.maxChunkStreams ?? DEFAULT_MAX_CHUNK_STREAMS;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  /** Incoming chunk size in bytes: starts at 128, changed by Set Chunk Size messages. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Total bytes pushed so far, for acknowledgements (section 5.4.3). */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Bytes currently held in unfinished messages across all chunk streams. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /**
   * Memory held for unfinished messages, whatever the chunk size: at most twice
   * {@link bufferedBytes}, plus 64 KiB (one socket read) and 256 bytes per unfinished message.
   */
  get retainedBytes(): number {
    return this.#retainedBytes;
  }

  /**
   * Feeds bytes; returns the complete messages they finish. Applies Set Chunk Size (type 1,
   * validated with validateChunkSize) and Abort (type 2) itself the moment it decodes them, so
   * later chunks of the same push use the new size; still returns those messages. Throws
   * CodecError on malformed input; after a throw the decoder is unusable (it throws again).
   */
  push(bytes: Buffer): RtmpMessage[] {
    if (this.#error !== null) throw this.#error;
    this.#bytesReceived += bytes.length;
    const out: RtmpMessage[] = [];
    try {
      let pos = 0;
      const carry = this.#carry;
      if (carry !== null) {
        // Finish the split header from a small joined buffer, then switch back to `bytes`
        // once past the carried bytes: positions beyond carry.length map 1:1 onto `bytes`.
        this.#carry = null;
        const joined = Buffer.concat([carry, bytes.subarray(0, MAX_HEADER_BYTES)]);
        pos = this.#run(joined, 0, carry.length, out) - carry.length;
      }
      if (pos < bytes.length) this.#run(bytes, pos, bytes.length, out);
    } catch (err) {
      this.#error = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
    return out;
  }

  /**
   * Decodes `buf` from `pos` until at least `stopAt` (or the end of `buf`), appending finished
   * messages to `out`. Returns the position reached; an incomplete header at the end is moved
   * to the carry and counts as consumed. Data of messages still unfinished is kept (as views
   * or copies, see #hold) before returning.
   */
  #run(buf: Buffer, start: number, stopAt: number, out: RtmpMessage[]): number {
    const pos = this.#decode(buf, start, stopAt, out);
    const dirty = this.#dirty;
    for (const stream of dirty) {
      stream.dirty = false;
      if (stream.pending.length > 0) this.#hold(stream, buf);
    }
    dirty.length = 0;
    return pos;
  }

  /** The loop of {@link #run}: headers and chunk data, without keeping what is unfinished. */
  #decode(buf: Buffer, start: number, stopAt: number, out: RtmpMessage[]): number {
    const end = buf.length;
    let pos = start;
    while (pos < stopAt) {
      let stream = this.#current;
      if (stream === null) {
        const headerBytes = this.#readHeader(buf, pos, end);
        if (headerBytes < 0) {
          this.#carry = Buffer.from(buf.subarray(pos, end));
          return end;
        }
        pos += headerBytes;
        stream = this.#current;
        if (stream === null) continue;
      }
      const available = end - pos;
      const take = this.#chunkLeft < available ? this.#chunkLeft : available;
      if (take === stream.length && stream.received === 0) {
        // The hot path: the whole message in this chunk, handed out as a view (no copy).
        this.#chunkLeft = 0;
        this.#current = null;
        pos += take;
        this.#emit(stream, buf.subarray(pos - take, pos), out);
        continue;
      }
      if (take > 0) {
        if (!stream.dirty) {
          stream.dirty = true;
          this.#dirty.push(stream);
        }
        stream.pending.push(buf.subarray(pos, pos + take));
        stream.received += take;
        this.#bufferedBytes += take;
        this.#chunkLeft -= take;
        pos += take;
      }
      if (this.#chunkLeft > 0) {
        if (this.#bufferedBytes > this.#maxBufferedBytes) {
          throw new CodecError(
            'ERR_RTMP_BUFFERED_BYTES',
            `Cannot buffer more partial messages: ${this.#bufferedBytes} bytes held, limit ${this.#maxBufferedBytes}`,
            pos,
          );
        }
        return pos; // out of input in the middle of a chunk
      }
      this.#current = null;
      if (stream.received === stream.length) {
        this.#finish(stream, out);
      } else if (this.#bufferedBytes > this.#maxBufferedBytes) {
        throw new CodecError(
          'ERR_RTMP_BUFFERED_BYTES',
          `Cannot buffer more partial messages: ${this.#bufferedBytes} bytes held, limit ${this.#maxBufferedBytes}`,
          pos,
        );
      }
    }
    return pos;
  }

  /**
   * Reads one chunk header at `pos` and makes its chunk current. Returns the header length, or
   * -1 when `buf` ends first (no state is changed then). Section 5.3.1.1 (basic header),
   * 5.3.1.2 (message header formats 0-3) and 5.3.1.3 (extended timestamp).
   */
  #readHeader(buf: Buffer, pos: number, end: number): number {
    const b0 = buf[pos] ?? 0;
    const fmt = b0 >>> 6;
    let csid = b0 & 0x3f;
    let p = pos + 1;
    if (csid === 0) {
      if (p + 1 > end) return -1;
      csid = 64 + (buf[p] ?? 0);
      p += 1;
    } else if (csid === 1) {
      if (p + 2 > end) return -1;
      csid = 64 + (buf[p] ?? 0) + 256 * (buf[p + 1] ?? 0);
      p += 2;
    }
    let stream = this.#streams.get(csid);

    if (fmt === 3) {
      if (stream === undefined) {
        throw new CodecError(
          'ERR_RTMP_CHUNK_HEADER',
          `Cannot decode chunk: type 3 header on chunk stream ${csid}, which has no previous header`,
          pos,
        );
      }
      if (stream.extended) {
        // Type 3 chunks after an extended-timestamp header repeat the 4-byte field in FFmpeg
        // and Flash, but not in some encoders: consume it only if it matches (nginx does too).
        const match = peekUint32(buf, p, end, stream.extendedValue);
        if (match < 0) return -1;
        if (match > 0) p += 4;
      }
      if (stream.received === 0) {
        // A type 3 chunk that starts a new message repeats the previous delta (5.3.1.2.4).
        stream.timestamp = (stream.timestamp + stream.delta) >>> 0;
      }
      this.#startChunk(stream);
      return p - pos;
    }

    const fieldsBytes = fmt === 0 ? 11 : fmt === 1 ? 7 : 3;
    if (p + fieldsBytes > end) return -1;
    let timestamp = buf.readUIntBE(p, 3);
    const extended = timestamp === EXTENDED_MARKER;
    let q = p + fieldsBytes;
    if (extended) {
      if (q + 4 > end) return -1;
      timestamp = buf.readUInt32BE(q);
      q += 4;
    }

    if (stream === undefined) {
      // fmt 1 on a fresh csid lacks only the message stream id (librtmp sends acks and pings
      // this way; SRS accepts it too): it means stream 0. fmt 2 lacks the length: refused.
      if (fmt === 2) {
        throw new CodecError(
          'ERR_RTMP_CHUNK_HEADER',
          `Cannot decode chunk: type ${fmt} header on chunk stream ${csid}, which has no previous header`,
          pos,
        );
      }
      if (this.#streams.size >= this.#maxChunkStreams) {
        throw new CodecError(
          'ERR_RTMP_TOO_MANY_CHUNK_STREAMS',
          `Cannot open chunk stream ${csid}: ${this.#streams.size} already open, limit ${this.#maxChunkStreams}`,
          pos,
        );
      }
      stream = new ChunkStream(csid);
      this.#streams.set(csid, stream);
    } else if (stream.received > 0) {
      throw new CodecError(
        'ERR_RTMP_CHUNK_HEADER',
        `Cannot decode chunk: type ${fmt} header on chunk stream ${csid} while ${stream.length - stream.received} bytes of its message are missing`,
        pos,
      );
    }

    if (fmt <= 1) {
      const length = buf.readUIntBE(p + 3, 3);
      if (length > this.#maxMessageBytes) {
        throw new CodecError(
          'ERR_RTMP_MESSAGE_TOO_LARGE',
          `Cannot accept message of ${length} bytes on chunk stream ${csid}: limit ${this.#maxMessageBytes}`,
          pos,
        );
      }
      stream.length = length;
      stream.typeId = buf[p + 6] ?? 0;
      if (fmt === 0) stream.streamId = buf.readUInt32LE(p + 7);
    }
    stream.timestamp = fmt === 0 ? timestamp : (stream.timestamp + timestamp) >>> 0;
    stream.delta = timestamp;
    stream.extended = extended;
    stream.extendedValue = timestamp;
    this.#startChunk(stream);
    return q - pos;
  }

  /** Makes `stream` current with the next chunk's data size. */
  #startChunk(stream: ChunkStream): void {
    const left = stream.length - stream.received;
    this.#current = stream;
    this.#chunkLeft = left < this.#chunkSize ? left : this.#chunkSize;
  }

  /**
   * Keeps the data `stream` got in `buf` (its unfinished message goes on in a later push):
   * as views of `buf` while what they keep alive (all of `buf`, and a Buffer object each)
   * stays within twice the message's bytes plus one read, else as a copy. Views are what a
   * message straddling socket reads at usual chunk sizes costs; copies bound everything else.
   */
  #hold(stream: ChunkStream, buf: Buffer): void {
    const pending = stream.pending;
    stream.pending = [];
    let bytes = 0;
    for (const view of pending) bytes += view.length;
    const cost = buf.buffer.byteLength + pending.length * VIEW_COST_BYTES;
    if (stream.retained + cost <= 2 * stream.received + VIEW_SLACK_BYTES) {
      const parts = stream.parts;
      if (stream.tail !== null) {
        parts.push(stream.tail.subarray(0, stream.tailBytes));
        stream.tail = null;
        stream.tailBytes = 0;
      }
      for (const view of pending) parts.push(view);
      stream.retained += cost;
      this.#retainedBytes += cost;
      return;
    }
    let tail = stream.tail;
    const needed = stream.tailBytes + bytes;
    if (tail === null || tail.length < needed) {
      // Twice what it will hold, but no further than the message's end.
      const room = stream.length - (stream.received - needed);
      const wanted = Math.max(2 * needed, stream.parts.length === 0 ? MIN_TAIL_BYTES : 0);
      const capacity = wanted < room ? wanted : room;
      // Slow: its own memory, not a slice of the shared pool that a small buffer would pin.
      const grown = Buffer.allocUnsafeSlow(capacity);
      const before = tail === null ? 0 : tail.length;
      if (tail !== null) grown.set(tail.subarray(0, stream.tailBytes));
      stream.retained += capacity - before;
      this.#retainedBytes += capacity - before;
      stream.tail = tail = grown;
    }
    stream.tailBytes = copyInto(tail, stream.tailBytes, pending);
  }

  /** The whole payload of the message `stream` just finished. */
  #payload(stream: ChunkStream): Buffer {
    const { pending, parts, tail, length } = stream;
    if (parts.length === 0) {
      if (tail === null)
        return pending.length === 1 ? (pending[0] ?? EMPTY) : Buffer.concat(pending, length);
      if (tail.length === length) {
        copyInto(tail, stream.tailBytes, pending); // coalesced from small chunks: no last copy
        return tail;
      }
    }
    const out = Buffer.allocUnsafe(length);
    let offset = copyInto(out, 0, parts);
    if (tail !== null) offset = copyInto(out, offset, [tail.subarray(0, stream.tailBytes)]);
    copyInto(out, offset, pending);
    return out;
  }

  /** Forgets the message being assembled on `stream` (finished or aborted). */
  #reset(stream: ChunkStream): void {
    this.#bufferedBytes -= stream.received;
    this.#retainedBytes -= stream.retained;
    if (stream.parts.length > 0) stream.parts = [];
    if (stream.pending.length > 0) stream.pending = [];
    stream.tail = null;
    stream.tailBytes = 0;
    stream.retained = 0;
    stream.received = 0;
  }

  /** Emits the finished message on `stream` and applies Set Chunk Size and Abort. */
  #finish(stream: ChunkStream, out: RtmpMessage[]): void {
    const payload = this.#payload(stream);
    this.#reset(stream);
    this.#emit(stream, payload, out);
  }

  /** Hands out the message on `stream` with `payload`; Set Chunk Size and Abort apply now. */
  #emit(stream: ChunkStream, payload: Buffer, out: RtmpMessage[]): void {
    out.push({
      csid: stream.csid,
      typeId: stream.typeId,
      streamId: stream.streamId,
      timestamp: stream.timestamp,
      payload,
    });
    // Protocol control messages take effect at once (section 5.4), whatever csid/msid they use.
    if (stream.typeId === MessageType.SetChunkSize) {
      this.#chunkSize = validateChunkSize(decodeUint32Payload(payload, 'Set Chunk Size'));
    } else if (stream.typeId === MessageType.Abort) {
      const target = this.#streams.get(decodeUint32Payload(payload, 'Abort'));
      if (target !== undefined) this.#reset(target);
    }
  }
}

/** Copies `views` one after another into `to` from `at`; returns the offset after them. */
function copyInto(to: Buffer, at: number, views: readonly Buffer[]): number {
  let offset = at;
  for (const view of views) {
    to.set(view, offset);
    offset += view.length;
  }
  return offset;
}

/**
 * Compares the bytes at `p` with the big-endian `value`: 1 if all 4 match, 0 on the first
 * difference, -1 if the bytes that are there match but fewer than 4 are there (undecided).
 */
function peekUint32(buf: Buffer, p: number, end: number, value: number): number {
  for (let i = 0; i < 4; i++) {
    if (p + i >= end) return -1;
    if (buf[p + i] !== ((value >>> (24 - 8 * i)) & 0xff)) return 0;
  }
  return 1;
}
