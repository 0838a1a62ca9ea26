import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Playhead } from './hls-viewer-stats.ts';

const ALWAYS = { startMs: -Infinity, endMs: Infinity };

void test('Playhead.add() counts no stall while media arrives before the playhead needs it', () => {
  const playhead = new Playhead();
  playhead.add(200, 1000, ALWAYS); // playback starts
  playhead.add(200, 1150, ALWAYS);
  playhead.add(200, 1399, ALWAYS);
  playhead.account(1600, ALWAYS);
  assert.equal(playhead.stalls, 0);
  assert.equal(playhead.stallMs, 0);
  assert.equal(playhead.bufferedMs(1500), 100);
});

void test('Playhead.add() counts a stall from the end of the media to the next arrival', () => {
  const playhead = new Playhead();
  playhead.add(200, 1000, ALWAYS);
  playhead.add(200, 1500, ALWAYS); // played out at 1200: 300 ms stalled
  assert.equal(playhead.stalls, 1);
  assert.equal(playhead.stallMs, 300);
  playhead.add(200, 1690, ALWAYS); // plays 1500-1700 after the stall: in time
  assert.equal(playhead.stalls, 1);
  playhead.account(1900, ALWAYS); // 1900 - 1000 - 300 = 600 played of 600: no stall
  playhead.account(1950, ALWAYS);
  assert.equal(playhead.stalls, 2);
  assert.equal(playhead.stallMs, 350);
});

void test('Playhead.account() counts only the part of a stall inside the window', () => {
  const playhead = new Playhead();
  const window = { startMs: 1300, endMs: 5000 };
  playhead.add(200, 1000, window);
  playhead.add(200, 1500, window); // stalled 1200-1500: 200 ms of it inside
  assert.equal(playhead.stallMs, 300);
  assert.equal(playhead.windowStalls, 1);
  assert.equal(playhead.windowStallMs, 200);
  playhead.add(1000, 1600, window);
  playhead.account(1000 + 300 + 1400, window); // exactly at the end of the media: no stall
  assert.equal(playhead.windowStalls, 1);
  playhead.account(6000, window); // stalled 2700-6000: 2300 ms inside
  assert.equal(playhead.windowStalls, 2);
  assert.equal(playhead.windowStallMs, 200 + 2300);
});

void test('Playhead stall time is the largest lateness of any arrival (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ gap: fc.nat(50), duration: fc.integer({ min: 1, max: 40 }) }), {
        minLength: 1,
        maxLength: 30,
      }),
      (items) => {
        const playhead = new Playhead();
        let nowMs = 0;
        let mediaMs = 0;
        let lateMs = 0;
        for (const item of items) {
          nowMs += item.gap * 10;
          // Playback starts at the first arrival; an arrival is late by how far the clock ran
          // past the media before it.
          const startMs = playhead.startedAtMs ?? nowMs;
          lateMs = Math.max(lateMs, nowMs - startMs - mediaMs);
          playhead.add(item.duration * 10, nowMs, ALWAYS);
          mediaMs += item.duration * 10;
        }
        assert.equal(playhead.stallMs, lateMs);
      },
    ),
  );
});
