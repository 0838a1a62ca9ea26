import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendLog } from './publisher.ts';
import { LoadContext, ViewerStats } from './viewer-stats.ts';

const FRAME_MS = 33;
/** Video frame i: sent at i*33 ms with timestamp i*33, keyframe every 30, unique size 1000+i. */
const sent = (i: number) => ({
  timestampMs: i * FRAME_MS,
  sizeBytes: 1000 + i,
  keyframe: i % 30 === 0,
  sentAtMs: i * FRAME_MS,
});
const payload = (i: number): Buffer => {
  const body = Buffer.alloc(1000 + i);
  body[0] = i % 30 === 0 ? 0x17 : 0x27; // AVC keyframe / inter frame
  body[1] = 1; // NALU
  return body;
};

function setup(): { ctx: LoadContext; clock: { nowMs: number } } {
  const log = new SendLog();
  for (let i = 0; i <= 303; i++) log.add(sent(i));
  const clock = { nowMs: 0 };
  const ctx = new LoadContext({ sendLog: log, startupTimeoutMs: 10_000, now: () => clock.nowMs });
  ctx.steadyStartMs = 2000;
  ctx.endMs = 10_000;
  return { ctx, clock };
}

void test('ViewerStats.result() keeps up when every frame of the steady window arrived', () => {
  const { ctx, clock } = setup();
  const stats = new ViewerStats(0, false, ctx);
  clock.nowMs = 100;
  stats.connecting();
  for (let i = 30; i <= 303; i++) stats.onVideo(i * FRAME_MS, payload(i), i * FRAME_MS + 2);
  const r = stats.result();
  assert.equal(r.startupMs, 30 * FRAME_MS + 2 - 100);
  assert.equal(r.keepRatio, 1);
  assert.equal(r.keepsUp, true);
  assert.equal(r.latencyMeanMs, 2);
  assert.equal(ctx.latencySteady.summary().p99Ms, 2);
});

void test('ViewerStats.result() does not keep up when a third of the window is missing', () => {
  const { ctx, clock } = setup();
  const stats = new ViewerStats(0, false, ctx);
  clock.nowMs = 100;
  stats.connecting();
  for (let i = 30; i <= 303; i++) {
    if (i < 100 || i >= 180) stats.onVideo(i * FRAME_MS, payload(i), i * FRAME_MS + 1);
  }
  const r = stats.result();
  assert.ok(r.keepRatio < 0.7 && r.keepRatio > 0.6, String(r.keepRatio));
  assert.equal(r.keepsUp, false);
});

void test('ViewerStats.onVideo() calibrates a timestamp offset when the server rebases', () => {
  const { ctx, clock } = setup();
  const stats = new ViewerStats(0, false, ctx);
  clock.nowMs = 100;
  stats.connecting();
  for (let i = 30; i <= 303; i++) stats.onVideo(i * FRAME_MS - 990, payload(i), i * FRAME_MS + 3);
  const r = stats.result();
  assert.equal(r.timestampOffsetMs, 990);
  assert.equal(r.unmatchedFrames, 0);
  assert.equal(r.keepsUp, true);
});

void test('ViewerStats.onVideo() returns true only for the first keyframe', () => {
  const { ctx } = setup();
  const stats = new ViewerStats(0, true, ctx);
  stats.connecting();
  assert.equal(stats.onVideo(29 * FRAME_MS, payload(29), 1000), false);
  assert.equal(stats.onVideo(30 * FRAME_MS, payload(30), 1000), true);
  assert.equal(stats.onVideo(60 * FRAME_MS, payload(60), 2000), false);
  assert.equal(stats.result().keepsUp, false); // a stalled viewer never counts as keeping up
});
