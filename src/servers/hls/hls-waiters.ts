// HlsWaiters: LL-HLS requests held until what they ask for exists, bounded per client and in
// total, each with a deadline.

/** One held request. */
export interface HeldRequest {
  readonly ip: string;
  /** True once the request can be answered. */
  readonly ready: () => boolean;
  /** Answers it (called once: when ready, at the deadline, or on shutdown). */
  readonly respond: () => void;
  readonly timeoutMs: number;
  /** Registers a callback for the client going away. */
  readonly onAbort: (listener: () => void) => void;
}

interface Held extends HeldRequest {
  timer: NodeJS.Timeout | null;
  done: boolean;
}

/** Holds requests; `check()` after every playlist change answers the ones now ready. */
export class HlsWaiters {
  readonly #maxHeld: number;
  readonly #maxHeldPerIp: number;
  readonly #held = new Set<Held>();
  readonly #perIp = new Map<string, number>();

  constructor(options: { maxHeld: number; maxHeldPerIp: number }) {
    this.#maxHeld = options.maxHeld;
    this.#maxHeldPerIp = options.maxHeldPerIp;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Holds a request; returns why it was refused, or null when it is held. */
  add(request: HeldRequest): 'total' | 'per-ip' | null {
    if (this.#held.size >= this.#maxHeld) return 'total';
    const fromIp = this.#perIp.get(request.ip) ?? 0;
    if (fromIp >= this.#maxHeldPerIp) return 'per-ip';
    const held: Held = { ...request, timer: null, done: false };
    this.#held.add(held);
    this.#perIp.set(request.ip, fromIp + 1);
    held.timer = setTimeout(() => {
      this.#finish(held, true);
    }, request.timeoutMs);
    held.timer.unref();
    request.onAbort(() => {
      this.#finish(held, false);
    });
    return null;
  }

  /** Answers every held request that is now ready. */
  check(): void {
    for (const held of this.#held) if (held.ready()) this.#finish(held, true);
  }

  /** Answers everything (shutdown). */
  closeAll(): void {
    for (const held of [...this.#held]) this.#finish(held, true);
  }

  #finish(held: Held, respond: boolean): void {
    if (held.done) return;
    held.done = true;
    if (held.timer) clearTimeout(held.timer);
    this.#held.delete(held);
    const left = (this.#perIp.get(held.ip) ?? 1) - 1;
    if (left <= 0) this.#perIp.delete(held.ip);
    else this.#perIp.set(held.ip, left);
    if (respond) held.respond();
  }
}
