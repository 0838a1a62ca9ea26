// FLV file format: header, tags and a streaming tag reader.
// Adobe Flash Video File Format Specification v10.1, annex E.2 (header), E.3 (body), E.4.1 (tag).

import { CodecError } from './codec-error.ts';

/** FLV TagType values (E.4.1). */
export const FlvTagType = { Audio: 8, Video: 9, Script: 18 } as const;

/** One FLV tag: its type, timestamp and body (the RTMP message payload). */
export interface FlvTag {
  /** TagType (low 5 bits of the first tag byte): 8 audio, 9 video, 18 script data. */
  type: number;
  /** ms, 32-bit: 24 bits + extended byte */
  timestamp: number;
  /** The tag body (AudioTagHeader/VideoTagHeader + data, or SCRIPTDATA). */
  body: Buffer;
}

/** FLV header (9 bytes) plus PreviousTagSize0 (4 bytes). */
const HEADER_BYTES = 9;
const PREVIOUS_TAG_SIZE_BYTES = 4;
const TAG_HEADER_BYTES = 11;
/** DataSize is a UI24 (E.4.1). */
const MAX_DATA_SIZE = 0xffffff;
/** Version 1 headers say DataOffset 9; larger offsets are tolerated up to this, then rejected. */
const MAX_DATA_OFFSET = 1024;
const DEFAULT_MAX_TAG_BYTES = 16 * 1024 * 1024;

/** Encodes the 9-byte FLV header followed by PreviousTagSize0 (13 bytes in all). */
export function encodeFlvHeader(options: { audio: boolean; video: boolean }): Buffer {
  const out = Buffer.alloc(HEADER_BYTES + PREVIOUS_TAG_SIZE_BYTES);
  out.write('FLV', 0, 'latin1');
  out[3] = 1;
  out[4] = (options.audio ? 0x04 : 0) | (options.video ? 0x01 : 0);
  out.writeUInt32BE(HEADER_BYTES, 5);
  // PreviousTagSize0 stays 0.
  return out;
}

/**
 * Whole tag incl. 11-byte header and trailing 4-byte PreviousTagSize, as ONE Buffer (allocate once, copy body in).
 * The timestamp is written modulo 2^32 (UI24 + TimestampExtended). Throws `ERR_FLV_TAG_TOO_LARGE`
 * when the body does not fit DataSize (UI24).
 */
export function encodeFlvTag(type: number, timestamp: number, body: Buffer): Buffer {
  if (body.length > MAX_DATA_SIZE) {
    throw new CodecError(
      'ERR_FLV_TAG_TOO_LARGE',
      `Cannot encode FLV tag: body has ${body.length} bytes, DataSize allows ${MAX_DATA_SIZE}`,
    );
  }
  const tagBytes = TAG_HEADER_BYTES + body.length;
  const out = Buffer.allocUnsafe(tagBytes + PREVIOUS_TAG_SIZE_BYTES);
  const ts = timestamp >>> 0;
  out[0] = type & 0x1f;
  out.writeUIntBE(body.length, 1, 3);
  out.writeUIntBE(ts & 0xffffff, 4, 3);
  out[7] = ts >>> 24;
  out.writeUIntBE(0, 8, 3); // StreamID, always 0
  body.copy(out, TAG_HEADER_BYTES);
  out.writeUInt32BE(tagBytes, tagBytes);
  return out;
}

/** Limits for {@link FlvDecoder}. */
export interface FlvDecoderOptions {
  /** Largest tag body accepted; larger DataSize fields throw `ERR_FLV_TAG_TOO_LARGE`. */
  maxTagBytes?: number /* default 16 MiB */;
}

type DecoderState = 'header' | 'header-padding' | 'previous-tag-size' | 'tag-header' | 'tag-body';

/**
 * Streaming FLV reader: header first, then tags; arbitrary splits; PreviousTagSize read but never trusted for allocation (a mismatch is ignored). Throws CodecError (ERR_FLV_HEADER, ERR_FLV_TAG_TOO_LARGE).
 *
 * A tag is returned as soon as its body is complete (its PreviousTagSize is consumed with the
 * next push), so a live HTTP-FLV source is not delayed by one tag. Bodies that arrived inside
 * one pushed chunk are `subarray`s of it; bodies split over chunks are copied once, when the
 * last byte has arrived. After a throw the decoder is unusable.
 */
export class FlvDecoder {
  readonly #maxTagBytes: number;
  /** Unconsumed input; `#chunks[0]` starts at `#headOffset`. */
  readonly #chunks: Buffer[] = [];
  #headOffset = 0;
  #buffered = 0;
  #state: DecoderState = 'header';
  #paddingBytes = 0;
  #tagType = 0;
  #tagTimestamp = 0;
  #tagDataSize = 0;
  /** Input offset of the next unconsumed byte, for error offsets. */
  #consumed = 0;

  constructor(options: FlvDecoderOptions = {}) {
    this.#maxTagBytes = Math.min(options.maxTagBytes ?? DEFAULT_MAX_TAG_BYTES, MAX_DATA_SIZE);
  }

  /** Feeds bytes; returns every tag completed by them (possibly none). */
  push(bytes: Buffer): FlvTag[] {
    if (bytes.length > 0) {
      this.#chunks.push(bytes);
      this.#buffered += bytes.length;
    }
    const tags: FlvTag[] = [];
    for (;;) {
      const tag = this.#step();
      if (tag === false) break;
      if (tag !== true) tags.push(tag);
    }
    return tags;
  }

  /** Advances one state; false when it needs more bytes, true when it moved without a tag. */
  #step(): FlvTag | boolean {
    switch (this.#state) {
      case 'header': {
        if (this.#buffered < HEADER_BYTES) return false;
        const start = this.#consumed;
        const header = this.#take(HEADER_BYTES);
        if (header.toString('latin1', 0, 3) !== 'FLV' || header[3] !== 1) {
          throw new CodecError(
            'ERR_FLV_HEADER',
            'Cannot decode FLV header: no FLV version 1 signature',
            start,
          );
        }
        const dataOffset = header.readUInt32BE(5);
        if (dataOffset < HEADER_BYTES || dataOffset > MAX_DATA_OFFSET) {
          throw new CodecError(
            'ERR_FLV_HEADER',
            `Cannot decode FLV header: DataOffset ${dataOffset} outside ${HEADER_BYTES}..${MAX_DATA_OFFSET}`,
            start + 5,
          );
        }
        this.#paddingBytes = dataOffset - HEADER_BYTES;
        this.#state = 'header-padding';
        return true;
      }
      case 'header-padding': {
        if (this.#buffered < this.#paddingBytes) return false;
        this.#skip(this.#paddingBytes);
        this.#state = 'previous-tag-size';
        return true;
      }
      case 'previous-tag-size': {
        if (this.#buffered < PREVIOUS_TAG_SIZE_BYTES) return false;
        // Read and ignored: never trusted for allocation, a mismatch is tolerated.
        this.#skip(PREVIOUS_TAG_SIZE_BYTES);
        this.#state = 'tag-header';
        return true;
      }
      case 'tag-header': {
        if (this.#buffered < TAG_HEADER_BYTES) return false;
        const start = this.#consumed;
        const header = this.#take(TAG_HEADER_BYTES);
        const dataSize = header.readUIntBE(1, 3);
        if (dataSize > this.#maxTagBytes) {
          throw new CodecError(
            'ERR_FLV_TAG_TOO_LARGE',
            `Cannot decode FLV tag: DataSize ${dataSize} exceeds the limit of ${this.#maxTagBytes} bytes`,
            start + 1,
          );
        }
        this.#tagType = (header[0] ?? 0) & 0x1f;
        this.#tagTimestamp = (header[7] ?? 0) * 0x1000000 + header.readUIntBE(4, 3);
        this.#tagDataSize = dataSize;
        this.#state = 'tag-body';
        return true;
      }
      case 'tag-body': {
        if (this.#buffered < this.#tagDataSize) return false;
        const body = this.#take(this.#tagDataSize);
        this.#state = 'previous-tag-size';
        return { type: this.#tagType, timestamp: this.#tagTimestamp, body };
      }
    }
  }

  /** Removes `n` buffered bytes (n <= #buffered) and returns them, copying only across chunks. */
  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.#headOffset >= n) {
      const out = first.subarray(this.#headOffset, this.#headOffset + n);
      this.#skip(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.#chunks[0];
      if (chunk === undefined) break;
      const count = Math.min(n - written, chunk.length - this.#headOffset);
      chunk.copy(out, written, this.#headOffset, this.#headOffset + count);
      written += count;
      this.#skip(count);
    }
    return out;
  }

  /** Drops `n` buffered bytes (n <= #buffered). */
  #skip(n: number): void {
    let left = n;
    this.#buffered -= n;
    this.#consumed += n;
    while (left > 0) {
      const chunk = this.#chunks[0];
      if (chunk === undefined) break;
      const available = chunk.length - this.#headOffset;
      if (available > left) {
        this.#headOffset += left;
        return;
      }
      left -= available;
      this.#chunks.shift();
      this.#headOffset = 0;
    }
  }
}
