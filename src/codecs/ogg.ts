// Ogg (RFC 3533) pages to packets, for the Opus that ffmpeg writes on its stdout (RFC 7845).
// Streaming and bounded: bytes arrive in any split, a packet may span pages, and nothing grows
// beyond one page plus one packet. One logical stream is expected; pages of others are skipped.
import { CodecError } from './codec-error.ts';

/** "OggS", version 0, header type, granule (8), serial (4), sequence (4), CRC (4), segments (1). */
const PAGE_HEADER_BYTES = 27;
const CAPTURE = 0x4f676753; // "OggS"
const CONTINUED = 0x01;
/** A packet longer than this is refused (Opus packets are at most a few KiB). */
export const MAX_OGG_PACKET_BYTES = 256 * 1024;

/** One complete packet and the granule position of the page it ended on. */
export interface OggPacket {
  readonly data: Buffer;
  /** The page's granule position (-1 when no packet ends on that page; a bigint is not needed). */
  readonly granule: number;
}

/** See the file comment. */
export class OggPacketReader {
  #pending: Buffer = Buffer.alloc(0);
  /** Pieces of a packet continued on the next page. */
  #partial: Buffer[] = [];
  #partialBytes = 0;
  #serial: number | null = null;

  /**
   * Takes the next bytes and returns the packets they complete. Throws CodecError `ERR_OGG` on a
   * lost capture pattern, a bad version or an oversized packet: the stream cannot be resynced
   * in a way worth trusting, so the caller ends it.
   */
  push(chunk: Buffer): OggPacket[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const packets: OggPacket[] = [];
    let offset = 0;
    for (;;) {
      const page = this.#pageAt(offset);
      if (page === 0) break;
      this.#readPage(offset, packets);
      offset += page;
    }
    this.#pending =
      offset === this.#pending.length ? Buffer.alloc(0) : this.#pending.subarray(offset);
    return packets;
  }

  /** The byte length of the complete page at `offset`, or 0 while it is incomplete. */
  #pageAt(offset: number): number {
    const buf = this.#pending;
    if (buf.length - offset < PAGE_HEADER_BYTES) return 0;
    if (buf.readUInt32BE(offset) !== CAPTURE) {
      throw new CodecError('ERR_OGG', 'Ogg capture pattern lost', offset);
    }
    if (buf[offset + 4] !== 0) throw new CodecError('ERR_OGG', 'unknown Ogg version', offset + 4);
    const segments = buf[offset + 26] ?? 0;
    const headerBytes = PAGE_HEADER_BYTES + segments;
    if (buf.length - offset < headerBytes) return 0;
    let bodyBytes = 0;
    for (let i = 0; i < segments; i++) bodyBytes += buf[offset + PAGE_HEADER_BYTES + i] ?? 0;
    return buf.length - offset < headerBytes + bodyBytes ? 0 : headerBytes + bodyBytes;
  }

  #readPage(offset: number, packets: OggPacket[]): void {
    const buf = this.#pending;
    const headerType = buf[offset + 5] ?? 0;
    const serial = buf.readUInt32LE(offset + 14);
    this.#serial ??= serial;
    if (serial !== this.#serial) return;
    const low = buf.readUInt32LE(offset + 6);
    const high = buf.readInt32LE(offset + 10);
    const granule = high < 0 ? -1 : high * 2 ** 32 + low;
    if ((headerType & CONTINUED) === 0) this.#dropPartial();
    const segments = buf[offset + 26] ?? 0;
    let at = offset + PAGE_HEADER_BYTES + segments;
    let start = at;
    for (let i = 0; i < segments; i++) {
      const lacing = buf[offset + PAGE_HEADER_BYTES + i] ?? 0;
      at += lacing;
      if (lacing === 255) continue;
      this.#append(buf.subarray(start, at));
      const data =
        this.#partial.length === 1 ? (this.#partial[0] as Buffer) : Buffer.concat(this.#partial);
      this.#dropPartial();
      // Copied: the page buffer is dropped once read, the packet lives on in the hub.
      packets.push({ data: Buffer.from(data), granule });
      start = at;
    }
    if (start < at) this.#append(buf.subarray(start, at));
  }

  #append(piece: Buffer): void {
    this.#partialBytes += piece.length;
    if (this.#partialBytes > MAX_OGG_PACKET_BYTES) {
      this.#dropPartial();
      throw new CodecError('ERR_OGG', `an Ogg packet is over ${MAX_OGG_PACKET_BYTES} bytes`, 0);
    }
    this.#partial.push(piece);
  }

  #dropPartial(): void {
    this.#partial = [];
    this.#partialBytes = 0;
  }
}

/** CRC-32 of Ogg pages: polynomial 0x04c11db7, not reflected, initial value 0 (RFC 3533 6). */
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let bit = 0; bit < 8; bit++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

function oggCrc(page: Buffer): number {
  let crc = 0;
  for (const byte of page)
    crc = ((crc << 8) ^ (CRC_TABLE[((crc >>> 24) ^ byte) & 0xff] ?? 0)) >>> 0;
  return crc;
}

/** What one page says besides its packets. */
export interface OggPageHeader {
  readonly serial: number;
  readonly sequence: number;
  /** Granule position after the last packet that ends on this page. */
  readonly granule: number;
  readonly bos?: boolean;
  readonly eos?: boolean;
}

/**
 * One Ogg page holding whole `packets` (each under 64 KiB, at most 255 lacing values in all),
 * with its CRC. Throws RangeError when they do not fit one page.
 */
export function encodeOggPage(header: OggPageHeader, packets: readonly Buffer[]): Buffer {
  const lacing: number[] = [];
  for (const packet of packets) {
    for (let left = packet.length; ; left -= 255) {
      lacing.push(Math.min(left, 255));
      if (left < 255) break;
    }
  }
  if (lacing.length > 255) throw new RangeError('the packets do not fit one Ogg page');
  const head = Buffer.alloc(PAGE_HEADER_BYTES + lacing.length);
  head.writeUInt32BE(CAPTURE, 0);
  head[5] = (header.bos === true ? 0x02 : 0) | (header.eos === true ? 0x04 : 0);
  head.writeUInt32LE(header.granule % 2 ** 32, 6);
  head.writeUInt32LE(Math.floor(header.granule / 2 ** 32), 10);
  head.writeUInt32LE(header.serial >>> 0, 14);
  head.writeUInt32LE(header.sequence >>> 0, 18);
  head[26] = lacing.length;
  Buffer.from(lacing).copy(head, PAGE_HEADER_BYTES);
  const page = Buffer.concat([head, ...packets]);
  page.writeUInt32LE(oggCrc(page), 22);
  return page;
}
