// A bounded reorder (jitter) buffer for the RTP packets of one SSRC: packets come out in sequence
// order; a missing one is waited for at most `maxDelayMs` (or until `maxPackets` are held), then
// given up as lost. It also says which missing sequence numbers to NACK now, each a bounded
// number of times. Pure: time is passed in.

/** Bounds of one buffer. */
export interface ReorderLimits {
  /** Packets held at most while waiting for a missing one. */
  readonly maxPackets: number;
  /** How long the oldest held packet waits for the ones before it. */
  readonly maxDelayMs: number;
  /** NACKs per missing sequence number (0: never). */
  readonly maxNacks: number;
  /** Time between two NACKs of the same sequence number. */
  readonly nackIntervalMs: number;
}

/** What comes out: packets in order, or how many were given up before the next one. */
export type ReorderOutput<T> =
  | { readonly type: 'packet'; readonly sequenceNumber: number; readonly packet: T }
  | { readonly type: 'lost'; readonly count: number };

/** A jump this far ahead (or behind) is a restarted sender, not reordering. */
const RESYNC_DISTANCE = 3000;
/** Missing numbers tracked for NACKs at most. */
const MAX_TRACKED_MISSING = 256;

interface Held<T> {
  readonly packet: T;
  readonly arrivalMs: number;
}

/** See the file comment. */
export class RtpReorderBuffer<T> {
  readonly #limits: ReorderLimits;
  /** The extended (unwrapped) sequence number released next; null before the first packet. */
  #next: number | null = null;
  #highest = 0;
  readonly #held = new Map<number, Held<T>>();
  /** Missing extended numbers: NACKs sent and when the next may go. */
  readonly #missing = new Map<number, { sent: number; dueMs: number }>();
  /** Packets that came after their number was released or given up (or twice). */
  late = 0;

  constructor(limits: ReorderLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Takes one packet of 16-bit `sequenceNumber`; returns what can be released now. */
  push(sequenceNumber: number, packet: T, nowMs: number): ReorderOutput<T>[] {
    const seq = sequenceNumber & 0xffff;
    if (this.#next === null) {
      this.#next = seq;
      this.#highest = seq - 1;
    }
    let ext = this.#extend(seq);
    const out: ReorderOutput<T>[] = [];
    if (Math.abs(ext - this.#next) > RESYNC_DISTANCE) {
      // The sender started over: release what is held, then go on from here.
      out.push(...this.#flush());
      this.#next = seq;
      this.#highest = seq - 1;
      ext = seq;
    }
    if (ext < this.#next || this.#held.has(ext)) {
      this.late++;
      return out;
    }
    this.#held.set(ext, { packet, arrivalMs: nowMs });
    this.#missing.delete(ext);
    if (ext > this.#highest) {
      for (let gap = this.#highest + 1; gap < ext; gap++) {
        if (this.#missing.size >= MAX_TRACKED_MISSING) break;
        this.#missing.set(gap, { sent: 0, dueMs: nowMs });
      }
      this.#highest = ext;
    }
    out.push(...this.poll(nowMs));
    return out;
  }

  /** Releases what is in order, and gives up missing packets whose wait is over. */
  poll(nowMs: number): ReorderOutput<T>[] {
    const out: ReorderOutput<T>[] = [];
    for (;;) {
      this.#releaseInOrder(out);
      if (this.#held.size === 0) return out;
      const oldest = Math.min(...[...this.#held.values()].map((held) => held.arrivalMs));
      if (this.#held.size <= this.#limits.maxPackets && nowMs - oldest < this.#limits.maxDelayMs)
        return out;
      const lowest = Math.min(...this.#held.keys());
      const next = this.#next ?? lowest;
      out.push({ type: 'lost', count: lowest - next });
      for (let gone = next; gone < lowest; gone++) this.#missing.delete(gone);
      this.#next = lowest;
    }
  }

  /**
   * The 16-bit sequence numbers to NACK now (oldest first), each at most `maxNacks` times,
   * `nackIntervalMs` apart; none once it is given up.
   */
  nacks(nowMs: number): number[] {
    const due: number[] = [];
    if (this.#limits.maxNacks === 0) return due;
    for (const [ext, state] of this.#missing) {
      if (this.#next !== null && ext < this.#next) {
        this.#missing.delete(ext);
        continue;
      }
      if (state.dueMs > nowMs) continue;
      due.push(ext & 0xffff);
      state.sent++;
      state.dueMs = nowMs + this.#limits.nackIntervalMs;
      if (state.sent >= this.#limits.maxNacks) this.#missing.delete(ext);
    }
    return due;
  }

  /** Everything held, in order (the stream ends), with the gaps counted as lost. */
  #flush(): ReorderOutput<T>[] {
    const out: ReorderOutput<T>[] = [];
    const keys = [...this.#held.keys()].sort((a, b) => a - b);
    let next = this.#next ?? 0;
    for (const key of keys) {
      if (key > next) out.push({ type: 'lost', count: key - next });
      const held = this.#held.get(key);
      if (held) out.push({ type: 'packet', sequenceNumber: key & 0xffff, packet: held.packet });
      next = key + 1;
    }
    this.#held.clear();
    this.#missing.clear();
    return out;
  }

  #releaseInOrder(out: ReorderOutput<T>[]): void {
    for (;;) {
      const next = this.#next;
      if (next === null) return;
      const held = this.#held.get(next);
      if (held === undefined) return;
      this.#held.delete(next);
      out.push({ type: 'packet', sequenceNumber: next & 0xffff, packet: held.packet });
      this.#next = next + 1;
    }
  }

  /** The extended number of `seq` nearest to the next expected one. */
  #extend(seq: number): number {
    const reference = this.#next ?? seq;
    let ext = (reference & ~0xffff) + seq;
    if (ext - reference > 0x8000) ext -= 0x10000;
    else if (reference - ext > 0x8000) ext += 0x10000;
    return ext;
  }
}
