// RFC 4571 framing (ICE over TCP, RFC 6544): each packet on the stream is a 2-byte big-endian
// length and that many bytes. The deframer is pure (no I/O): it takes TCP chunks as they come,
// split or merged anywhere, and hands over each whole packet; a frame too long or empty ends it.

/** Why a stream cannot go on. */
export type DeframeError = 'frame-too-long' | 'empty-frame';

/** Reassembles the frames of one TCP stream; at most `maxFrameBytes` held at once. */
export class Rfc4571Deframer {
  readonly #max: number;
  /** A frame split across chunks: its bytes so far (length prefix included). */
  readonly #partial: Buffer;
  #partialLength = 0;
  #failed: DeframeError | null = null;

  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes;
    this.#partial = Buffer.allocUnsafe(2 + maxFrameBytes);
  }

  /**
   * Feeds `chunk`; `onFrame` gets every frame it completes, in order (a view of `chunk`, or a
   * copy when the frame was split across chunks). Returns null, or why the
   * stream is bad (then and after, nothing more is delivered).
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): DeframeError | null {
    if (this.#failed !== null) return this.#failed;
    let offset = 0;
    if (this.#partialLength > 0) {
      offset = this.#fill(chunk, 0);
      if (offset < 0) return this.#failed;
      const length = this.#partial.readUInt16BE(0);
      if (this.#partialLength < 2 + length) return null;
      this.#partialLength = 0;
      // Copied: the partial buffer is reused by the next push, the frame may still be queued.
      onFrame(Buffer.from(this.#partial.subarray(2, 2 + length)));
    }
    while (offset < chunk.length) {
      if (chunk.length - offset < 2) {
        this.#fill(chunk, offset);
        return null;
      }
      const length = chunk.readUInt16BE(offset);
      if (!this.#checkLength(length)) return this.#failed;
      if (chunk.length - offset - 2 < length) {
        this.#fill(chunk, offset);
        return null;
      }
      onFrame(chunk.subarray(offset + 2, offset + 2 + length));
      offset += 2 + length;
    }
    return null;
  }

  /** Bytes of an unfinished frame held. */
  get pending(): number {
    return this.#partialLength;
  }

  /** Copies what of the frame in progress `chunk` holds from `offset`; the new offset, -1 if bad. */
  #fill(chunk: Buffer, offset: number): number {
    let at = offset;
    if (this.#partialLength < 2) {
      const take = Math.min(2 - this.#partialLength, chunk.length - at);
      chunk.copy(this.#partial, this.#partialLength, at, at + take);
      this.#partialLength += take;
      at += take;
      if (this.#partialLength < 2) return at;
      if (!this.#checkLength(this.#partial.readUInt16BE(0))) return -1;
    }
    const want = 2 + this.#partial.readUInt16BE(0) - this.#partialLength;
    const take = Math.min(want, chunk.length - at);
    chunk.copy(this.#partial, this.#partialLength, at, at + take);
    this.#partialLength += take;
    return at + take;
  }

  #checkLength(length: number): boolean {
    if (length === 0) this.#failed = 'empty-frame';
    else if (length > this.#max) this.#failed = 'frame-too-long';
    return this.#failed === null;
  }
}

/** `packet` framed for the stream (a new buffer). */
export function frame(packet: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(2 + packet.length);
  framed.writeUInt16BE(packet.length, 0);
  packet.copy(framed, 2);
  return framed;
}
