// HLS latency profiles: one setting that fixes container, segment and part targets, and says
// what it implies for players (logged at start-up and shown by the API).
import type { HlsConfig } from '../../config/schema.ts';

/** What a profile decides. */
export interface HlsProfile {
  readonly name: HlsConfig['profile'];
  readonly container: 'fmp4' | 'mpegts';
  /** Segments are cut on the first keyframe after this much media. */
  readonly segmentTargetS: number;
  /** LL-HLS part target, or null for plain HLS. */
  readonly partTargetS: number | null;
  /** A segment with no keyframe is cut anyway at this length. */
  readonly maxSegmentS: number;
}

const PROFILES: Readonly<Record<HlsConfig['profile'], HlsProfile>> = {
  'low-latency': {
    name: 'low-latency',
    container: 'fmp4',
    segmentTargetS: 1,
    partTargetS: 0.2,
    maxSegmentS: 10,
  },
  balanced: {
    name: 'balanced',
    container: 'fmp4',
    segmentTargetS: 2,
    // Not 0.333: ten 30 fps frames last 333.3 ms, 333 or 334 ms in RTMP timestamps, and every
    // part must be <= PART-TARGET (RFC 8216bis 4.4.4.9).
    partTargetS: 0.334,
    maxSegmentS: 10,
  },
  compatible: {
    name: 'compatible',
    container: 'mpegts',
    segmentTargetS: 2,
    partTargetS: null,
    maxSegmentS: 10,
  },
};

/** The profile called `name`. */
export function hlsProfile(name: HlsConfig['profile']): HlsProfile {
  return PROFILES[name];
}

/** One sentence per profile for the start-up log and the API: what a player should expect. */
export function explainProfile(profile: HlsProfile): string {
  const cut = `segments cut on keyframes after ${profile.segmentTargetS} s, so the encoder's keyframe interval bounds them (set it to ${profile.segmentTargetS} s or less)`;
  if (profile.partTargetS === null) {
    return `${profile.name}: MPEG-TS ${cut}; players hold back 3 segments, about ${3 * profile.segmentTargetS} s or more behind live.`;
  }
  const holdBack = partHoldBackS(profile);
  return `${profile.name}: LL-HLS with fMP4 ${cut}, parts of ${profile.partTargetS} s; LL-HLS players stay about ${holdBack.toFixed(1)} s behind live (PART-HOLD-BACK), others about ${3 * profile.segmentTargetS} s.`;
}

/** PART-HOLD-BACK: at least three part targets (RFC 8216bis 4.4.3.8). */
export function partHoldBackS(profile: HlsProfile): number {
  return 3 * (profile.partTargetS ?? profile.segmentTargetS);
}
