// Stream health: ok / warning / down from the live figures and how they moved over recent samples.
import type { StreamInfo } from './api-types.ts';

/** The badge shown for a stream. */
export type HealthLevel = 'ok' | 'warning' | 'down';

/** A stream's health and why it is not ok (empty when ok). */
export interface Health {
  readonly level: HealthLevel;
  readonly reasons: readonly string[];
}

/** A keyframe interval above this many seconds slows viewers' start and HLS segmenting. */
export const KEYFRAME_WARN_S = 4;
/** Ingest at 0 kbps for this long means the encoder stalled. */
export const INGEST_ZERO_WARN_S = 5;
/** Dropped frames count as rising while they grew within this many seconds. */
export const DROPPED_RISING_S = 10;

interface Trend {
  /** Dropped frames at the last sample, the baseline for the next one. */
  lastDropped: number;
  /** When dropped frames last grew (ms), or null. */
  droppedRoseAtMs: number | null;
  /** Since when ingest has been observed at 0 (ms), or null while it flows. */
  ingestZeroSinceMs: number | null;
}

/** Remembers each stream's recent samples so warnings can depend on trends, not one reading. */
export class HealthTracker {
  readonly #trends = new Map<string, Trend>();

  /** Records a sample of `stream` taken at `nowMs` and returns its health. */
  observe(stream: StreamInfo, nowMs: number): Health {
    let trend = this.#trends.get(stream.path);
    if (trend === undefined) {
      trend = { lastDropped: stream.droppedFrames, droppedRoseAtMs: null, ingestZeroSinceMs: null };
      this.#trends.set(stream.path, trend);
    }
    if (stream.droppedFrames > trend.lastDropped) trend.droppedRoseAtMs = nowMs;
    trend.lastDropped = stream.droppedFrames;
    if (stream.ingest.kbps5s > 0) trend.ingestZeroSinceMs = null;
    else trend.ingestZeroSinceMs ??= nowMs;

    if (!stream.live || stream.publisher === null) {
      return { level: 'down', reasons: ['no publisher'] };
    }
    const reasons: string[] = [];
    const keyframe = stream.ingest.keyframeIntervalS;
    if (keyframe !== null && keyframe > KEYFRAME_WARN_S) {
      reasons.push(`keyframe interval ${keyframe.toFixed(1)} s (over ${KEYFRAME_WARN_S} s)`);
    }
    if (
      trend.droppedRoseAtMs !== null &&
      nowMs - trend.droppedRoseAtMs <= DROPPED_RISING_S * 1000
    ) {
      reasons.push('dropped frames rising');
    }
    // kbps5s is a 5 s average: 0 after 5 s of uptime already means 5 s without data.
    const zeroObservedS =
      trend.ingestZeroSinceMs === null ? 0 : (nowMs - trend.ingestZeroSinceMs) / 1000;
    const zeroForAWindow = stream.ingest.kbps5s <= 0 && (stream.uptimeS ?? 0) >= INGEST_ZERO_WARN_S;
    if (zeroObservedS >= INGEST_ZERO_WARN_S || zeroForAWindow) {
      reasons.push(`no ingest for ${INGEST_ZERO_WARN_S} s`);
    }
    return { level: reasons.length === 0 ? 'ok' : 'warning', reasons };
  }

  /** Forgets streams not in `paths` (gone from the server). */
  retain(paths: ReadonlySet<string>): void {
    for (const path of this.#trends.keys()) if (!paths.has(path)) this.#trends.delete(path);
  }
}
