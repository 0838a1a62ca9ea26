// RTP fixed header (RFC 3550 5.1): written into a packet, and read from one with every length
// checked (CSRC list, header extension, padding). Pure; the payload formats are beside it.

/** Bytes of the fixed header (no CSRC, no extension): what onair writes. */
export const RTP_HEADER_BYTES = 12;
const RTP_VERSION = 2;

/** The fields of a fixed header that onair sets. */
export interface RtpHeader {
  readonly marker: boolean;
  /** 0..127. */
  readonly payloadType: number;
  /** 16-bit, wraps. */
  readonly sequenceNumber: number;
  /** 32-bit, in the payload format's clock, wraps. */
  readonly timestamp: number;
  readonly ssrc: number;
}

/** A packet as read: its header fields and a view of its payload (padding removed). */
export interface RtpPacket extends RtpHeader {
  readonly payload: Buffer;
}

/** Writes a 12-byte fixed header at `at` of `out` (version 2, no padding, extension or CSRC). */
export function writeRtpHeader(out: Buffer, at: number, header: RtpHeader): void {
  out[at] = RTP_VERSION << 6;
  out[at + 1] = (header.marker ? 0x80 : 0) | (header.payloadType & 0x7f);
  out.writeUInt16BE(header.sequenceNumber & 0xffff, at + 2);
  out.writeUInt32BE(header.timestamp >>> 0, at + 4);
  out.writeUInt32BE(header.ssrc >>> 0, at + 8);
}

/** A packet of `payload` behind a fixed header, in one allocation. */
export function encodeRtp(header: RtpHeader, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
  writeRtpHeader(out, 0, header);
  payload.copy(out, RTP_HEADER_BYTES);
  return out;
}

/**
 * Reads one RTP packet, or null when it is not one: too short, not version 2, a CSRC list, an
 * extension or padding running past the end. The payload is a view, never a copy.
 */
export function parseRtp(buf: Buffer): RtpPacket | null {
  if (buf.length < RTP_HEADER_BYTES) return null;
  const b0 = buf[0] ?? 0;
  if (b0 >>> 6 !== RTP_VERSION) return null;
  let at = RTP_HEADER_BYTES + 4 * (b0 & 0x0f);
  if ((b0 & 0x10) !== 0) {
    // Header extension (5.3.1): 16-bit profile field, 16-bit length in 32-bit words.
    if (at + 4 > buf.length) return null;
    at += 4 + 4 * buf.readUInt16BE(at + 2);
  }
  let end = buf.length;
  if ((b0 & 0x20) !== 0) end -= buf[buf.length - 1] ?? 0;
  if (at > end) return null;
  const b1 = buf[1] ?? 0;
  return {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(at, end),
  };
}

/** True for an RTCP packet (RFC 5761 4: payload types 64-95 with the marker bit, 192-223). */
export function isRtcp(buf: Buffer): boolean {
  const type = buf[1] ?? 0;
  return buf.length >= 4 && (buf[0] ?? 0) >>> 6 === RTP_VERSION && type >= 192 && type <= 223;
}
