// Loss recovery state for WHEP viewers, pure (times passed in): the stream's last video packets
// by stream sequence number (PacketRing), each viewer's own sequence numbers and their mapping
// back to the stream's (ViewerSeqMap), and a byte budget for retransmits (TokenBucket).

/** Limits of a PacketRing; whichever is reached first evicts the oldest packet. */
export interface PacketRingLimits {
  /** Packets held, a power of two. */
  readonly maxPackets: number;
  readonly maxBytes: number;
}

/**
 * The last video packets sent, by stream sequence number (consecutive: a number that does not
 * follow the newest empties the ring first). Bounded by count and bytes; a lookup can also refuse
 * packets older than an age. The Buffers are the ones sent, shared, not copied.
 */
export class PacketRing {
  readonly #mask: number;
  readonly #maxBytes: number;
  readonly #packets: (Buffer | null)[];
  readonly #times: Float64Array;
  /** Index of the oldest packet. */
  #head = 0;
  #count = 0;
  #bytes = 0;
  /** Stream sequence number of the newest packet. */
  #newest = 0;

  constructor(limits: PacketRingLimits) {
    const { maxPackets, maxBytes } = limits;
    if (
      !Number.isSafeInteger(maxPackets) ||
      maxPackets < 1 ||
      (maxPackets & (maxPackets - 1)) !== 0
    ) {
      throw new RangeError(`maxPackets must be a power of two, got ${maxPackets}`);
    }
    this.#mask = maxPackets - 1;
    this.#maxBytes = maxBytes;
    this.#packets = new Array<Buffer | null>(maxPackets).fill(null);
    this.#times = new Float64Array(maxPackets);
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Keeps `packet` as stream sequence number `seq`, sent at `nowMs`. */
  push(seq: number, packet: Buffer, nowMs: number): void {
    seq &= 0xffff;
    if (this.#count > 0 && seq !== ((this.#newest + 1) & 0xffff)) this.clear();
    if (packet.length > this.#maxBytes) {
      this.clear();
      return;
    }
    while (
      this.#count > this.#mask ||
      (this.#count > 0 && this.#bytes + packet.length > this.#maxBytes)
    ) {
      this.#dropOldest();
    }
    const at = (this.#head + this.#count) & this.#mask;
    this.#packets[at] = packet;
    this.#times[at] = nowMs;
    this.#count++;
    this.#bytes += packet.length;
    this.#newest = seq;
  }

  /** The packet of stream sequence number `seq`, or null: not held, or older than `maxAgeMs`. */
  get(seq: number, nowMs: number, maxAgeMs = Infinity): Buffer | null {
    const back = (this.#newest - seq) & 0xffff;
    if (back >= this.#count) return null;
    const at = (this.#head + this.#count - 1 - back) & this.#mask;
    if (nowMs - (this.#times[at] ?? 0) > maxAgeMs) return null;
    return this.#packets[at] ?? null;
  }

  /** The stream sequence number after the newest packet (null when empty). */
  get next(): number | null {
    return this.#count === 0 ? null : (this.#newest + 1) & 0xffff;
  }

  /** Bytes of the packets from `seq` to the newest; null when `seq` is not held. */
  bytesFrom(seq: number): number | null {
    const back = (this.#newest - seq) & 0xffff;
    if (back >= this.#count) return null;
    let bytes = 0;
    for (let i = this.#count - 1 - back; i < this.#count; i++) {
      bytes += this.#packets[(this.#head + i) & this.#mask]?.length ?? 0;
    }
    return bytes;
  }

  clear(): void {
    while (this.#count > 0) this.#dropOldest();
    this.#head = 0;
  }

  #dropOldest(): void {
    const packet = this.#packets[this.#head];
    this.#bytes -= packet?.length ?? 0;
    this.#packets[this.#head] = null;
    this.#head = (this.#head + 1) & this.#mask;
    this.#count--;
  }
}

/** Segments a ViewerSeqMap remembers (each starts where the viewer's stream numbers jumped). */
export const MAX_SEQ_SEGMENTS = 8;
/** How far behind a viewer's newest number a NACK may name a packet. */
export const MAX_NACK_BACK = 4096;

interface Segment {
  /** Index (packets sent to the viewer before it) of the segment's first packet. */
  readonly start: number;
  /** viewer seq = (stream seq + offset) & 0xffff within the segment. */
  readonly offset: number;
}

/**
 * One viewer's RTP sequence numbers: consecutive over the packets it is sent, whatever it
 * skipped of the stream (a late join, a full send buffer, a keyframe resync), so it never sees a
 * gap it would NACK. A jump in the stream numbers it is given starts a new segment with a new
 * offset; the last MAX_SEQ_SEGMENTS segments map its numbers back to the stream's for NACKs.
 */
export class ViewerSeqMap {
  readonly #base: number;
  /** Packets sent to the viewer so far (never wraps: a JS number). */
  #sent = 0;
  readonly #segments: Segment[] = [];

  /** `firstSeq`: the viewer's first sequence number. */
  constructor(firstSeq: number) {
    this.#base = firstSeq & 0xffff;
  }

  /** The viewer's next sequence number. */
  get nextSeq(): number {
    return (this.#base + this.#sent) & 0xffff;
  }

  /** Segments held now (at most MAX_SEQ_SEGMENTS). */
  get segments(): number {
    return this.#segments.length;
  }

  /**
   * The viewer's number for the packet of stream number `streamSeq`, sent next (call sent()
   * once it went). A stream number that does not follow the last one sent starts a segment.
   */
  seqFor(streamSeq: number): number {
    const current = this.#segments[this.#segments.length - 1];
    const next = this.nextSeq;
    if (current !== undefined && ((streamSeq + current.offset) & 0xffff) === next) return next;
    if (current !== undefined && current.start === this.#sent) this.#segments.pop(); // empty
    this.#segments.push({ start: this.#sent, offset: (next - streamSeq) & 0xffff });
    this.#prune();
    return next;
  }

  /** The packet numbered by the last seqFor() was sent. */
  sent(): void {
    this.#sent++;
  }

  /** The stream number of the packet sent to the viewer as `viewerSeq`; null when unknown. */
  streamSeqOf(viewerSeq: number): number | null {
    const back = (this.nextSeq - viewerSeq) & 0xffff;
    if (back === 0 || back > MAX_NACK_BACK || back > this.#sent) return null;
    const index = this.#sent - back;
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i];
      if (segment === undefined) break;
      if (segment.start <= index) return (viewerSeq - segment.offset) & 0xffff;
    }
    return null;
  }

  /** Forgets segments wholly older than MAX_NACK_BACK packets, and any beyond the cap. */
  #prune(): void {
    while (this.#segments.length > MAX_SEQ_SEGMENTS) this.#segments.shift();
    while (
      this.#segments.length > 1 &&
      (this.#segments[1]?.start ?? 0) <= this.#sent - MAX_NACK_BACK
    ) {
      this.#segments.shift();
    }
  }
}

/** A token bucket of bytes: refills at `ratePerS` up to `capacity`; take() spends. */
export class TokenBucket {
  #tokens: number;
  #atMs: number;

  constructor(capacity: number, nowMs: number) {
    this.#tokens = capacity;
    this.#atMs = nowMs;
  }

  /** Spends `bytes` if the bucket holds them after refilling to `nowMs`; false otherwise. */
  take(bytes: number, nowMs: number, ratePerS: number, capacity: number): boolean {
    const elapsed = Math.max(0, nowMs - this.#atMs);
    this.#atMs = nowMs;
    this.#tokens = Math.min(capacity, this.#tokens + (elapsed * ratePerS) / 1000);
    if (this.#tokens < bytes) return false;
    this.#tokens -= bytes;
    return true;
  }
}

/** Bytes per second of what passes, measured over windows of about a second. */
export class RateMeter {
  #windowStartMs: number;
  #bytes = 0;
  #rate = 0;

  constructor(nowMs: number) {
    this.#windowStartMs = nowMs;
  }

  add(bytes: number, nowMs: number): void {
    this.#bytes += bytes;
    const elapsed = nowMs - this.#windowStartMs;
    if (elapsed >= 1000) {
      this.#rate = (this.#bytes * 1000) / elapsed;
      this.#bytes = 0;
      this.#windowStartMs = nowMs;
    }
  }

  /** The last full window's rate (0 before the first). */
  get bytesPerS(): number {
    return this.#rate;
  }
}
