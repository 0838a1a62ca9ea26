// RTMP chunk stream encoders: one message in, its chunks out as one Buffer.
// Spec: Adobe RTMP 1.0, section 5.3.1 (chunk format) and 5.3.2 (examples of header compression).

import { CodecError } from './codec-error.ts';
import { validateChunkSize } from './rtmp-message.ts';
import type { RtmpMessage } from './rtmp-message.ts';

/** Chunk message header format (section 5.3.1.2): 0 full, 1 no stream id, 2 delta only, 3 none. */
type ChunkFormat = 0 | 1 | 2 | 3;

/** Bytes of the message header per format (section 5.3.1.2.1-4). */
const FIELDS_BYTES = [11, 7, 3, 0] as const;
const EXTENDED_MARKER = 0xffffff;
const MAX_MESSAGE_BYTES = 0xffffff;
const MAX_CSID = 65599;

/** Bytes of the basic header for `csid` (section 5.3.1.1). */
function basicHeaderBytes(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

/** Writes the basic header at `off`; returns the offset after it. */
function writeBasicHeader(out: Buffer, off: number, fmt: ChunkFormat, csid: number): number {
  if (csid < 64) {
    out[off] = (fmt << 6) | csid;
    return off + 1;
  }
  if (csid < 320) {
    out[off] = fmt << 6;
    out[off + 1] = csid - 64;
    return off + 2;
  }
  out[off] = (fmt << 6) | 1;
  out[off + 1] = (csid - 64) & 0xff;
  out[off + 2] = (csid - 64) >>> 8;
  return off + 3;
}

/**
 * Chunks `msg` with header format `fmt` on the first chunk and type 3 on the rest. `tsField` is
 * the absolute timestamp for format 0 and the delta otherwise; when it needs the extended field,
 * every chunk carries it (as FFmpeg and Flash do, which is what most decoders expect).
 */
function writeChunks(
  msg: RtmpMessage,
  chunkSize: number,
  fmt: ChunkFormat,
  tsField: number,
): Buffer {
  const { csid, payload } = msg;
  if (!Number.isInteger(csid) || csid < 2 || csid > MAX_CSID) {
    throw new CodecError(
      'ERR_RTMP_CHUNK_HEADER',
      `Cannot encode chunk stream id ${csid}: must be 2..65599`,
    );
  }
  const length = payload.length;
  if (length > MAX_MESSAGE_BYTES) {
    throw new CodecError(
      'ERR_RTMP_MESSAGE_TOO_LARGE',
      `Cannot encode a message of ${length} bytes: the length field holds at most 16777215`,
    );
  }
  const size = validateChunkSize(chunkSize);
  const chunks = length === 0 ? 1 : Math.ceil(length / size);
  const basic = basicHeaderBytes(csid);
  const extended = tsField >= EXTENDED_MARKER;
  const extBytes = extended ? 4 : 0;
  const out = Buffer.allocUnsafe(length + chunks * (basic + extBytes) + FIELDS_BYTES[fmt]);

  let off = writeBasicHeader(out, 0, fmt, csid);
  if (fmt !== 3) {
    out.writeUIntBE(extended ? EXTENDED_MARKER : tsField, off, 3);
    if (fmt !== 2) {
      out.writeUIntBE(length, off + 3, 3);
      out[off + 6] = msg.typeId;
      if (fmt === 0) out.writeUInt32LE(msg.streamId >>> 0, off + 7);
    }
    off += FIELDS_BYTES[fmt];
  }
  let sent = 0;
  for (;;) {
    if (extended) off = out.writeUInt32BE(tsField, off);
    const n = Math.min(size, length - sent);
    off += payload.copy(out, off, sent, sent + n);
    sent += n;
    if (sent >= length) break;
    off = writeBasicHeader(out, off, 3, csid);
  }
  return out;
}

/**
 * Stateless: fmt 0 header on the first chunk, fmt 3 on the rest (the 4-byte extended timestamp
 * repeated on every type-3 chunk when timestamp >= 0xFFFFFF). One Buffer out. Used for bytes
 * shared by every viewer.
 */
export function encodeMessage(msg: RtmpMessage, chunkSize: number): Buffer {
  const timestamp = msg.timestamp >>> 0;
  return writeChunks(msg, chunkSize, 0, timestamp);
}

/** What the encoder last sent on one chunk stream id. */
interface SentHeader {
  streamId: number;
  typeId: number;
  length: number;
  timestamp: number;
  delta: number;
  /** A type 1/2 header sent `delta`, so a type 3 new message means "add it again". */
  deltaSent: boolean;
}

/**
 * Stateful per-connection encoder that compresses headers (fmt 1/2/3) like the spec's
 * examples (section 5.3.2). Type 3 starts a new message only after a type 1 or 2 header sent
 * the same delta: peers disagree on what a type 3 adds after a type 0 header (FFmpeg and SRS
 * add its timestamp again, nginx-rtmp adds 0), so that case is never sent.
 */
export class ChunkEncoder {
  #chunkSize: number;
  readonly #sent = new Map<number, SentHeader>();

  /** Creates an encoder for a connection whose outgoing chunk size is `chunkSize` (128). */
  constructor(chunkSize = 128) {
    this.#chunkSize = validateChunkSize(chunkSize);
  }

  /** Outgoing chunk size; set it right after sending Set Chunk Size to the peer. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  set chunkSize(size: number) {
    this.#chunkSize = validateChunkSize(size);
  }

  /** Chunks `msg` with the smallest header its chunk stream's previous message allows. */
  encode(msg: RtmpMessage): Buffer {
    const timestamp = msg.timestamp >>> 0;
    const length = msg.payload.length;
    const prev = this.#sent.get(msg.csid);
    let fmt: ChunkFormat = 0;
    let delta = 0;
    if (prev !== undefined && prev.streamId === msg.streamId) {
      delta = (timestamp - prev.timestamp) >>> 0;
      // A "delta" of 2^31 or more is a timestamp going backwards: type 0 (section 5.3.1.2.1).
      if (delta <= 0x7fffffff) {
        if (prev.length !== length || prev.typeId !== msg.typeId) fmt = 1;
        else if (!prev.deltaSent || prev.delta !== delta) fmt = 2;
        else fmt = 3;
      }
    }
    const out = writeChunks(msg, this.#chunkSize, fmt, fmt === 0 ? timestamp : delta);
    this.#sent.set(msg.csid, {
      streamId: msg.streamId,
      typeId: msg.typeId,
      length,
      timestamp,
      delta: fmt === 0 ? 0 : delta,
      deltaSent: fmt !== 0,
    });
    return out;
  }
}
