// GopCache: the items since the last random-access point, capped by count, bytes and duration.

/** Limits of a GOP cache; whichever is reached first empties it until the next keyframe. */
export interface GopCacheLimits {
  readonly maxFrames: number;
  readonly maxBytes: number;
  readonly maxDurationMs: number;
}

/** What the cache needs to know of an item. */
export interface GopItem {
  readonly keyframe: boolean;
  readonly dtsMs: number;
  readonly sizeBytes: number;
}

/**
 * Holds the current GOP so a new viewer can start at once on a keyframe. A keyframe starts a
 * new GOP; a GOP that outgrows a limit is dropped whole (a partial GOP cannot be decoded) and
 * the cache stays empty until the next keyframe, so input without keyframes never grows memory.
 */
export class GopCache<T> {
  readonly #limits: GopCacheLimits;
  #items: T[] = [];
  #bytes = 0;
  #startDtsMs = 0;
  #open = false;

  constructor(limits: GopCacheLimits) {
    this.#limits = limits;
  }

  /** Adds an item; `info` describes it. Returns false when the item was not kept. */
  push(item: T, info: GopItem): boolean {
    if (info.keyframe) {
      this.#items = [];
      this.#bytes = 0;
      this.#startDtsMs = info.dtsMs;
      this.#open = true;
    }
    if (!this.#open) return false;
    const tooLong = info.dtsMs - this.#startDtsMs > this.#limits.maxDurationMs;
    if (
      this.#items.length >= this.#limits.maxFrames ||
      this.#bytes + info.sizeBytes > this.#limits.maxBytes ||
      tooLong
    ) {
      this.clear();
      return false;
    }
    this.#items.push(item);
    this.#bytes += info.sizeBytes;
    return true;
  }

  /** Empties the cache until the next keyframe. */
  clear(): void {
    this.#items = [];
    this.#bytes = 0;
    this.#open = false;
  }

  /** The cached items, oldest first. The array is live: copy it before keeping it. */
  get items(): readonly T[] {
    return this.#items;
  }

  get sizeBytes(): number {
    return this.#bytes;
  }
}
