// FLV bytes for viewers, made once per stream: plain tags (WS-FLV, HTTP/1.0) or tags already
// framed as HTTP/1.1 chunks, so every HTTP-FLV viewer gets one shared Buffer per frame.
// The tags themselves are encodeFlvFrame() of media/flv-body.ts.
import { encodeFlvFrame } from '../../media/flv-body.ts';
import type { Frame } from '../../media/frame.ts';

/** Wraps bytes in one HTTP/1.1 chunk: size in hex, CRLF, the bytes, CRLF (RFC 9112 7.1). */
export function encodeHttpChunk(bytes: Buffer): Buffer {
  const size = Buffer.from(`${bytes.length.toString(16)}\r\n`, 'latin1');
  const out = Buffer.allocUnsafe(size.length + bytes.length + 2);
  size.copy(out, 0);
  bytes.copy(out, size.length);
  out.write('\r\n', size.length + bytes.length, 'latin1');
  return out;
}

/** A frame as one FLV tag inside one HTTP chunk. */
export function encodeChunkedFlvFrame(frame: Frame): Buffer | null {
  const tag = encodeFlvFrame(frame);
  return tag === null ? null : encodeHttpChunk(tag);
}

/** The chunk that ends a chunked body. */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
