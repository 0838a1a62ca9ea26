// IngestStats: what a publisher sends, measured as it arrives (bytes per second over the last
// 5 s and 30 s, video frame rate, keyframe interval). O(1) per frame, no allocation.

const BUCKETS = 32;

/** Ingest figures of one stream, for the API, the dashboard and the analytics. */
export interface IngestFigures {
  readonly bytes: number;
  readonly kbps5s: number;
  readonly kbps30s: number;
  /** Video frames per second over the last 5 s, or null without video. */
  readonly fps: number | null;
  /** Seconds between the last two video keyframes (media time), or null before two. */
  readonly keyframeIntervalS: number | null;
}

/** Per-second byte and video-frame buckets over the last 32 s of wall clock. */
export class IngestStats {
  readonly #bytes = new Float64Array(BUCKETS);
  readonly #frames = new Uint32Array(BUCKETS);
  readonly #second = new Float64Array(BUCKETS).fill(-1);
  readonly #now: () => number;
  #total = 0;
  #videoSeen = false;
  #lastKeyframeDtsMs: number | null = null;
  #keyframeIntervalMs: number | null = null;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Counts one frame as it arrives. */
  add(bytes: number, video: boolean, keyframe: boolean, dtsMs: number): void {
    const second = Math.floor(this.#now() / 1000);
    const slot = second % BUCKETS;
    if (this.#second[slot] !== second) {
      this.#second[slot] = second;
      this.#bytes[slot] = 0;
      this.#frames[slot] = 0;
    }
    this.#bytes[slot] = (this.#bytes[slot] ?? 0) + bytes;
    this.#total += bytes;
    if (!video) return;
    this.#videoSeen = true;
    this.#frames[slot] = (this.#frames[slot] ?? 0) + 1;
    if (keyframe) {
      if (this.#lastKeyframeDtsMs !== null && dtsMs > this.#lastKeyframeDtsMs) {
        this.#keyframeIntervalMs = dtsMs - this.#lastKeyframeDtsMs;
      }
      this.#lastKeyframeDtsMs = dtsMs;
    }
  }

  /** Starts over (a new publisher). */
  reset(): void {
    this.#second.fill(-1);
    this.#total = 0;
    this.#videoSeen = false;
    this.#lastKeyframeDtsMs = null;
    this.#keyframeIntervalMs = null;
  }

  /** The figures now; the current (partial) second is left out of the rates. */
  figures(): IngestFigures {
    const now = Math.floor(this.#now() / 1000);
    const sum = (seconds: number, of: Float64Array | Uint32Array): number => {
      let total = 0;
      for (let back = 1; back <= seconds; back++) {
        const second = now - back;
        const slot = second % BUCKETS;
        if (this.#second[slot] === second) total += of[slot] ?? 0;
      }
      return total;
    };
    return {
      bytes: this.#total,
      kbps5s: Math.round((sum(5, this.#bytes) * 8) / 5 / 1000),
      kbps30s: Math.round((sum(30, this.#bytes) * 8) / 30 / 1000),
      fps: this.#videoSeen ? Math.round((sum(5, this.#frames) / 5) * 100) / 100 : null,
      keyframeIntervalS:
        this.#keyframeIntervalMs === null ? null : Math.round(this.#keyframeIntervalMs) / 1000,
    };
  }
}
