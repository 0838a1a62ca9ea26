import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngestStats } from './ingest-stats.ts';

test('IngestStats measures bitrate over 5 s and 30 s, fps and the keyframe interval', () => {
  let nowMs = 1_000_000;
  const stats = new IngestStats(() => nowMs);
  // 40 s of 25 fps video, 5,000 bytes a frame (1 Mbps), a keyframe every 2 s, plus audio.
  for (let frame = 0; frame < 40 * 25; frame++) {
    const dtsMs = frame * 40;
    nowMs = 1_000_000 + dtsMs;
    stats.add(5000, true, frame % 50 === 0, dtsMs);
    if (frame % 2 === 0) stats.add(250, false, false, dtsMs);
  }
  nowMs += 40;
  const figures = stats.figures();
  assert.equal(figures.fps, 25);
  assert.equal(figures.keyframeIntervalS, 2);
  assert.equal(figures.kbps5s, 1025); // (25 * 5000 + 12.5 * 250) * 8 / 1000
  assert.equal(figures.kbps30s, 1025);
  assert.equal(figures.bytes, 1000 * 5000 + 500 * 250);
});

test('IngestStats forgets seconds older than its window and starts over on reset()', () => {
  let nowMs = 0;
  const stats = new IngestStats(() => nowMs);
  stats.add(1000, false, false, 0);
  nowMs = 3_000;
  assert.equal(stats.figures().kbps5s, 2); // 1000 B * 8 / 5 s
  assert.equal(stats.figures().fps, null, 'no video yet');
  nowMs = 40_000;
  assert.equal(stats.figures().kbps30s, 0);
  stats.add(500, true, true, 0);
  stats.reset();
  nowMs = 41_000;
  assert.deepEqual(stats.figures(), {
    bytes: 0,
    kbps5s: 0,
    kbps30s: 0,
    fps: null,
    keyframeIntervalS: null,
  });
});
