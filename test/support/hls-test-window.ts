// Test helper: an HLS window wired to its own fragmenter for unit tests of src/servers/hls;
// the media comes from media-frames.ts.
import { Fragmenter } from '../../src/media/fragmenter.ts';
import type { Frame } from '../../src/media/frame.ts';
import type { Track } from '../../src/media/track.ts';
import { HlsWindow } from '../../src/servers/hls/hls-window.ts';
import type { HlsDvr } from '../../src/servers/hls/hls-dvr.ts';
import { hlsProfile, type HlsProfile } from '../../src/servers/hls/hls-profile.ts';

export {
  audioFrame,
  feedAudio,
  feedVideo,
  fmp4Samples,
  hlsTestMedia,
  testTracks,
  videoFrame,
} from './media-frames.ts';

/**
 * An HLS window fed by its own fragmenter: what the handler gets from `acquireFragments`, with
 * the stream's calls (onTracks, onFrame, onClose) made by the test.
 */
export type TestSegmenter = HlsWindow & {
  onTracks(tracks: readonly Track[]): void;
  onFrame(frame: Frame): void;
  onClose(reason: string): void;
  resyncClock(): void;
};

/** A segmenter under test and what it reported. */
export interface SegmenterUnderTest {
  readonly segmenter: TestSegmenter;
  /** Number of onUpdate calls so far. */
  readonly updates: () => number;
  readonly closeReasons: string[];
}

/** A segmenter for `profile` (a name or a custom profile) with a fixed wall clock. */
export function makeSegmenter(
  profile: HlsProfile['name'] | HlsProfile,
  options: {
    windowSegments?: number;
    maxWindowBytes?: number;
    nowMs?: () => number;
    onUpdate?: (segmenter: TestSegmenter) => void;
    dvr?: HlsDvr;
    /** Only this kind of track (Fragmenter `carry`). */
    carry?: 'video' | 'audio';
  } = {},
): SegmenterUnderTest {
  let updates = 0;
  const closeReasons: string[] = [];
  const resolved = typeof profile === 'string' ? hlsProfile(profile) : profile;
  const fragmenter = new Fragmenter({
    container: resolved.container,
    cut: resolved,
    now: options.nowMs ?? ((): number => 1_700_000_000_000),
    ...(options.carry ? { carry: options.carry } : {}),
    onSinkError: (error) => {
      throw error;
    },
  });
  const window = new HlsWindow({
    profile: resolved,
    windowSegments: options.windowSegments ?? 100,
    maxWindowBytes: options.maxWindowBytes ?? 1024 * 1024 * 1024,
    onUpdate: () => {
      updates++;
      options.onUpdate?.(segmenter);
    },
    onClose: (reason) => {
      closeReasons.push(reason);
    },
    ...(options.dvr ? { dvr: options.dvr } : {}),
  });
  fragmenter.addSink(window);
  const segmenter: TestSegmenter = Object.assign(window, {
    onTracks: (tracks: readonly Track[]): void => {
      fragmenter.onTracks(tracks);
    },
    onFrame: (frame: Frame): void => {
      fragmenter.onFrame(frame);
    },
    onClose: (reason: string): void => {
      fragmenter.onClose(reason);
    },
    resyncClock: (): void => {
      fragmenter.resyncClock();
    },
  });
  return { segmenter, updates: () => updates, closeReasons };
}
