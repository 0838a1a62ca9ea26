// Video send times in shared memory, so latency probes on their own thread can match frames
// against the publisher of the main thread. Times are CLOCK_MONOTONIC ms (same in every thread).

/** Entries kept: about 270 s of 30 fps video. */
const CAPACITY = 8192;
/** Fields per entry: timestamp, size, keyframe, send time. */
const FIELDS = 4;

/** Milliseconds of CLOCK_MONOTONIC (process.hrtime), comparable across threads, 1 µs resolution. */
export function monoMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/** The memory a SendRing lives in; pass it to a Worker. */
export function createSendRingBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * 2 + CAPACITY * FIELDS * 8);
}

/** One frame as the ring stores it. */
export interface RingFrame {
  readonly timestampMs: number;
  readonly sizeBytes: number;
  readonly keyframe: boolean;
  readonly sentAtMs: number;
}

/** Single writer (the publisher), any number of readers. */
export class SendRing {
  readonly #count: Int32Array;
  readonly #entries: Float64Array;

  constructor(buffer: SharedArrayBuffer) {
    this.#count = new Int32Array(buffer, 0, 2);
    this.#entries = new Float64Array(buffer, 8, CAPACITY * FIELDS);
  }

  /** Appends a frame (writer side). */
  add(frame: RingFrame): void {
    const n = Atomics.load(this.#count, 0);
    const at = (n % CAPACITY) * FIELDS;
    this.#entries[at] = frame.timestampMs;
    this.#entries[at + 1] = frame.sizeBytes;
    this.#entries[at + 2] = frame.keyframe ? 1 : 0;
    this.#entries[at + 3] = frame.sentAtMs;
    Atomics.store(this.#count, 0, n + 1);
  }

  /** Frames newest first, at most `limit` of them. */
  *newest(limit = CAPACITY): Generator<RingFrame> {
    const n = Atomics.load(this.#count, 0);
    const oldest = Math.max(0, n - Math.min(limit, CAPACITY - 16));
    for (let i = n - 1; i >= oldest; i--) {
      const at = (i % CAPACITY) * FIELDS;
      yield {
        timestampMs: this.#entries[at]!,
        sizeBytes: this.#entries[at + 1]!,
        keyframe: this.#entries[at + 2] === 1,
        sentAtMs: this.#entries[at + 3]!,
      };
    }
  }
}

/** The SendLookup of a probe thread, reading the ring the publisher writes. */
export class RingSendLookup {
  readonly #ring: SendRing;

  constructor(ring: SendRing) {
    this.#ring = ring;
  }

  get lastSentAtMs(): number {
    for (const frame of this.#ring.newest(1)) return frame.sentAtMs;
    return 0;
  }

  get(timestampMs: number): RingFrame | undefined {
    // Probes play near the live edge: the match is among the newest frames.
    for (const frame of this.#ring.newest(900)) if (frame.timestampMs === timestampMs) return frame;
    return undefined;
  }

  recentLike(sizeBytes: number, keyframe: boolean): RingFrame[] {
    const out: RingFrame[] = [];
    for (const frame of this.#ring.newest(900)) {
      if (frame.sizeBytes === sizeBytes && frame.keyframe === keyframe) out.push(frame);
    }
    return out;
  }

  keyframeAtOrBefore(timestampMs: number): RingFrame | undefined {
    for (const frame of this.#ring.newest()) {
      if (frame.keyframe && frame.timestampMs <= timestampMs) return frame;
    }
    return undefined;
  }

  sentBetween(fromMs: number, toMs: number): number {
    let n = 0;
    for (const frame of this.#ring.newest()) {
      if (frame.sentAtMs < fromMs) break;
      if (frame.sentAtMs <= toMs) n++;
    }
    return n;
  }
}
