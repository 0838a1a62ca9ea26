// Player QoE beacons (POST /api/v1/qoe from the watch page): the strict schema of one beacon and
// a per-address rate limiter. The endpoint is public, so every body is treated as hostile.
import { z } from 'zod';
import { STREAM_PATH_KEY } from '../config/schema.ts';

const DAY_MS = 86_400_000;
const MAX_ERROR_TEXT = 300;

/**
 * One beacon. Counters (`rebufferCount`, `rebufferMs`, `playedMs`, `errors`) cover the time
 * since the session's previous beacon, so the rows of a session add up; `startupMs` is sent
 * once (the first beacon after playback started); `latencyS`, `bitrateKbps`, `width` and
 * `height` are the values at sending time.
 */
const qoeBeaconSchema = z.strictObject({
  stream: z.string().max(255).regex(STREAM_PATH_KEY),
  session: z
    .string()
    .min(8)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/),
  startupMs: z.number().min(0).max(600_000).optional(),
  rebufferCount: z.int().min(0).max(100_000),
  rebufferMs: z.number().min(0).max(DAY_MS),
  playedMs: z.number().min(0).max(DAY_MS),
  latencyS: z.number().min(0).max(3600).optional(),
  bitrateKbps: z.number().min(0).max(1_000_000).optional(),
  width: z.number().min(0).max(16_384).optional(),
  height: z.number().min(0).max(16_384).optional(),
  errors: z.array(z.string().max(200)).max(10).optional(),
});

/** A validated player beacon. */
export type QoeBeacon = z.infer<typeof qoeBeaconSchema>;

/** The result of parseQoeBeacon(). */
export type QoeParseResult =
  | { readonly ok: true; readonly beacon: QoeBeacon }
  | { readonly ok: false; readonly error: string };

/**
 * Validates a beacon body (already JSON-parsed). Unknown keys, wrong types and out-of-range
 * values are refused with a short reason naming the first bad field. Never throws.
 */
export function parseQoeBeacon(body: unknown): QoeParseResult {
  try {
    const result = qoeBeaconSchema.safeParse(body);
    if (result.success) return { ok: true, beacon: result.data };
    const issue = result.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.');
    return { ok: false, error: clean(`${where}: ${issue?.message ?? 'invalid'}`) };
  } catch {
    return { ok: false, error: 'body: unreadable' };
  }
}

/** Printable ASCII only, at most MAX_ERROR_TEXT characters (the reason may echo hostile keys). */
function clean(message: string): string {
  const printable = message.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > MAX_ERROR_TEXT
    ? `${printable.slice(0, MAX_ERROR_TEXT - 3)}...`
    : printable;
}

/** Options of QoeLimiter. */
export interface QoeLimiterOptions {
  /** Beacons accepted per address per minute (60). */
  readonly perIpPerMinute?: number;
  /** Addresses tracked at once (10,000); past that, new addresses are refused until windows expire. */
  readonly maxIps?: number;
  /** Clock in ms (tests give a fake one). */
  readonly now?: () => number;
}

const WINDOW_MS = 60_000;

interface Window {
  readonly startMs: number;
  count: number;
}

/**
 * A fixed one-minute window per address. The map is kept in window-start order (an address
 * is re-inserted when its window restarts), so expired windows are dropped from the front in
 * O(expired). When it is full of live windows, a new address is refused: beacons are optional,
 * and refusing keeps both memory and the other addresses' counts intact.
 */
export class QoeLimiter {
  readonly #perMinute: number;
  readonly #maxIps: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(options: QoeLimiterOptions = {}) {
    const perMinute = options.perIpPerMinute ?? 60;
    const maxIps = options.maxIps ?? 10_000;
    if (!Number.isInteger(perMinute) || perMinute < 1) {
      throw new RangeError('QoeLimiter: perIpPerMinute must be a positive integer');
    }
    if (!Number.isInteger(maxIps) || maxIps < 1) {
      throw new RangeError('QoeLimiter: maxIps must be a positive integer');
    }
    this.#perMinute = perMinute;
    this.#maxIps = maxIps;
    this.#now = options.now ?? Date.now;
  }

  /** Whether one more beacon from `ip` is accepted now (and counts it if so). */
  allow(ip: string): boolean {
    const now = this.#now();
    this.#expire(now);
    const window = this.#windows.get(ip);
    if (window !== undefined) {
      if (window.count >= this.#perMinute) return false;
      window.count++;
      return true;
    }
    if (this.#windows.size >= this.#maxIps) return false;
    this.#windows.set(ip, { startMs: now, count: 1 });
    return true;
  }

  /** Addresses tracked now. */
  get size(): number {
    return this.#windows.size;
  }

  #expire(now: number): void {
    for (const [ip, window] of this.#windows) {
      if (now - window.startMs < WINDOW_MS) break;
      this.#windows.delete(ip);
    }
  }
}
