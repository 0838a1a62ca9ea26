// Fixed-memory latency histogram: 0.1 ms buckets up to 1 s, 1 ms buckets up to 60 s, exact max.
// Millions of samples per run, so no arrays of samples.

const FINE_BUCKETS = 10_000;
const COARSE_BUCKETS = 59_001;

/** Percentiles of a histogram, in ms; null when it has no samples. */
export interface LatencySummary {
  readonly samples: number;
  readonly meanMs: number | null;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
}

/** Counts latencies into buckets; quantiles are bucket upper bounds. */
export class LatencyHistogram {
  readonly #fine = new Uint32Array(FINE_BUCKETS);
  readonly #coarse = new Uint32Array(COARSE_BUCKETS);
  #count = 0;
  #sumMs = 0;
  #maxMs = 0;

  /** Adds one sample (negative values count as 0). */
  add(latencyMs: number): void {
    const ms = latencyMs < 0 ? 0 : latencyMs;
    this.#count++;
    this.#sumMs += ms;
    if (ms > this.#maxMs) this.#maxMs = ms;
    if (ms < 1000) this.#fine[Math.floor(ms * 10)]!++;
    else this.#coarse[Math.min(COARSE_BUCKETS - 1, Math.floor(ms) - 1000)]!++;
  }

  get count(): number {
    return this.#count;
  }

  /** The p-th percentile (0-100), or null without samples. */
  quantile(p: number): number | null {
    if (this.#count === 0) return null;
    const target = Math.max(1, Math.ceil((p / 100) * this.#count));
    let seen = 0;
    for (let i = 0; i < FINE_BUCKETS; i++) {
      seen += this.#fine[i]!;
      if (seen >= target) return Math.min(this.#maxMs, (i + 1) / 10);
    }
    for (let i = 0; i < COARSE_BUCKETS; i++) {
      seen += this.#coarse[i]!;
      if (seen >= target) return Math.min(this.#maxMs, i + 1001);
    }
    return this.#maxMs;
  }

  /** Count, mean, p50/p95/p99 and max, rounded to 0.01 ms. */
  summary(): LatencySummary {
    const n = this.#count;
    return {
      samples: n,
      meanMs: n === 0 ? null : round2(this.#sumMs / n),
      p50Ms: roundOrNull(this.quantile(50)),
      p95Ms: roundOrNull(this.quantile(95)),
      p99Ms: roundOrNull(this.quantile(99)),
      maxMs: n === 0 ? null : round2(this.#maxMs),
    };
  }
}

/** Rounds to 2 decimals. */
export function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function roundOrNull(value: number | null): number | null {
  return value === null ? null : round2(value);
}

/** p50/p95/p99/max of a list of numbers (nulls and non-finite values ignored). */
export interface Distribution {
  readonly n: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** Nearest-rank percentiles of `values`. */
export function distribution(values: readonly (number | null)[]): Distribution {
  const sorted = values
    .filter((v): v is number => v !== null && Number.isFinite(v))
    .sort((a, b) => a - b);
  const at = (p: number): number | null => {
    if (sorted.length === 0) return null;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return round2(sorted[i]!);
  };
  return { n: sorted.length, p50: at(50), p95: at(95), p99: at(99), max: at(100) };
}
