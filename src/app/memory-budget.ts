// MemoryBudget: one bound on what the whole process holds. Every cache and queue has its own
// bound (GOP caches, HLS windows, viewer queues, partial RTMP messages), but their sum over
// thousands of connections and streams can still reach the heap limit, where V8 aborts the
// process and every broadcast with it. Above the budget new publishers and viewers are refused
// (with the reason `memory-budget`) and HLS windows shrink, until usage is back under 90%.
import { getHeapStatistics } from 'node:v8';

/** Share of V8's heap limit used as the budget when limits.maxMemoryMB is 0. */
export const DEFAULT_BUDGET_SHARE = 0.75;
/** Share of the heap limit the JS heap alone may reach, whatever the budget says. */
const HEAP_SHARE = 0.85;
/** Under pressure, usage must fall below this share of the budget to leave it. */
const RELEASE_SHARE = 0.9;
const SAMPLE_MS = 1000;

/** What the budget reads: process.memoryUsage()'s fields it needs. */
export interface MemoryReading {
  readonly heapUsed: number;
  /** Memory of Buffers and other objects outside the JS heap (ArrayBuffers included). */
  readonly external: number;
}

/** What a MemoryBudget is built from. */
export interface MemoryBudgetOptions {
  /** limits.maxMemoryMB; 0: DEFAULT_BUDGET_SHARE of the heap limit. */
  readonly maxMemoryMB: number;
  readonly read?: () => MemoryReading;
  /** V8's heap limit in bytes (tests give a small one). */
  readonly heapLimitBytes?: number;
  /** Told when pressure starts (true) or ends (false). */
  readonly onChange?: (over: boolean, figures: MemoryFigures) => void;
}

/** The budget's figures, for metrics and the log. */
export interface MemoryFigures {
  readonly budgetBytes: number;
  readonly usedBytes: number;
  readonly heapUsedBytes: number;
  readonly heapLimitBytes: number;
  readonly over: boolean;
}

/** Samples memory once a second and says whether the process is over its budget. */
export class MemoryBudget {
  readonly budgetBytes: number;
  readonly heapLimitBytes: number;
  readonly #read: () => MemoryReading;
  readonly #onChange: (over: boolean, figures: MemoryFigures) => void;
  #over = false;
  #usedBytes = 0;
  #heapUsedBytes = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(options: MemoryBudgetOptions) {
    this.heapLimitBytes = options.heapLimitBytes ?? getHeapStatistics().heap_size_limit;
    this.budgetBytes =
      options.maxMemoryMB > 0
        ? options.maxMemoryMB * 1024 * 1024
        : Math.floor(this.heapLimitBytes * DEFAULT_BUDGET_SHARE);
    this.#read = options.read ?? (() => process.memoryUsage());
    this.#onChange = options.onChange ?? (() => undefined);
  }

  /** Samples now and then every second (the timer does not keep the process alive). */
  start(): void {
    this.sample();
    this.#timer ??= setInterval(() => {
      this.sample();
    }, SAMPLE_MS).unref();
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Whether the last sample was over the budget (new publishers and viewers are refused). */
  get over(): boolean {
    return this.#over;
  }

  figures(): MemoryFigures {
    return {
      budgetBytes: this.budgetBytes,
      usedBytes: this.#usedBytes,
      heapUsedBytes: this.#heapUsedBytes,
      heapLimitBytes: this.heapLimitBytes,
      over: this.#over,
    };
  }

  /** Reads memory once and updates the pressure state (with hysteresis). */
  sample(): void {
    const reading = this.#read();
    this.#heapUsedBytes = reading.heapUsed;
    this.#usedBytes = reading.heapUsed + reading.external;
    // Once over, both figures must fall a tenth below their bounds to leave the pressure state,
    // so a process hovering at the bound does not flap between refusing and accepting.
    const share = this.#over ? RELEASE_SHARE : 1;
    const over =
      reading.heapUsed > this.heapLimitBytes * HEAP_SHARE * share ||
      this.#usedBytes > this.budgetBytes * share;
    if (over !== this.#over) {
      this.#over = over;
      this.#onChange(over, this.figures());
    }
  }
}
