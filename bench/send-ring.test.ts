import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SendLog } from './publisher.ts';
import { RingSendLookup, SendRing, createSendRingBuffer } from './send-ring.ts';

const frame = (i: number) => ({
  timestampMs: i * 33,
  sizeBytes: 1000 + (i % 7),
  keyframe: i % 60 === 0,
  sentAtMs: 500 + i * 33.3,
});

void test('RingSendLookup.get() finds a frame the publisher wrote in another view of the buffer', () => {
  const buffer = createSendRingBuffer();
  const writer = new SendRing(buffer);
  for (let i = 0; i < 100; i++) writer.add(frame(i));
  const reader = new RingSendLookup(new SendRing(buffer));
  assert.deepEqual(reader.get(99 * 33), frame(99));
  assert.deepEqual(reader.get(40 * 33), frame(40));
  assert.equal(reader.get(7), undefined);
  assert.equal(reader.lastSentAtMs, frame(99).sentAtMs);
});

void test('RingSendLookup keeps working after the ring wraps', () => {
  const buffer = createSendRingBuffer();
  const writer = new SendRing(buffer);
  for (let i = 0; i < 20_000; i++) writer.add(frame(i));
  const reader = new RingSendLookup(new SendRing(buffer));
  assert.deepEqual(reader.get(19_999 * 33), frame(19_999));
  assert.equal(reader.sentBetween(frame(19_990).sentAtMs, frame(19_999).sentAtMs), 10);
});

void test('SendLog.sentBetween() counts frames sent inside the closed interval', () => {
  const log = new SendLog();
  for (let i = 0; i < 10; i++) log.add(frame(i));
  assert.equal(log.sentBetween(frame(2).sentAtMs, frame(5).sentAtMs), 4);
  assert.equal(log.sentBetween(0, 100), 0);
  assert.equal(log.sentBetween(frame(9).sentAtMs + 1, Infinity), 0);
});

void test('SendLog.recentLike() returns recent frames of one size and kind', () => {
  const log = new SendLog();
  for (let i = 0; i < 14; i++) log.add(frame(i));
  assert.deepEqual(
    log.recentLike(1003, false).map((f) => f.timestampMs),
    [3 * 33, 10 * 33],
  );
});

void test('keyframeAtOrBefore() finds the latest keyframe at or before a timestamp, in SendLog and the ring', () => {
  const log = new SendLog();
  const buffer = createSendRingBuffer();
  const writer = new SendRing(buffer);
  for (let i = 0; i < 200; i++) {
    log.add(frame(i));
    writer.add(frame(i));
  }
  const reader = new RingSendLookup(new SendRing(buffer));
  for (const [timestampMs, keyIndex] of [
    [0, 0],
    [60 * 33 - 1, 0],
    [60 * 33, 60],
    [120 * 33 + 700, 120],
    [1e9, 180],
  ] as const) {
    assert.deepEqual(log.keyframeAtOrBefore(timestampMs), frame(keyIndex), `log at ${timestampMs}`);
    assert.deepEqual(
      reader.keyframeAtOrBefore(timestampMs),
      frame(keyIndex),
      `ring at ${timestampMs}`,
    );
  }
  assert.equal(log.keyframeAtOrBefore(-1), undefined);
  assert.equal(reader.keyframeAtOrBefore(-1), undefined);
});
