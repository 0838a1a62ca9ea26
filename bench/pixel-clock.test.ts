// The pixel clock's frames: the blocks carry the time and its checksum, and a decoder that reads
// the block centres back gets the time (the page's decoder does the same in the browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HEIGHT, WIDTH, checksum, drawFrame, frameBits } from './pixel-clock.ts';

function decode(frame: Buffer): number | null {
  const bits: number[] = [];
  for (let r = 0; r < 6; r++) {
    for (let c = 0; c < 8; c++)
      bits.push((frame[(r * 60 + 30) * WIDTH + c * 80 + 40] ?? 0) > 128 ? 1 : 0);
  }
  let value = 0;
  for (let i = 0; i < 40; i++) value = value * 2 + (bits[i] ?? 0);
  let check = 0;
  for (let i = 40; i < 48; i++) check = check * 2 + (bits[i] ?? 0);
  return checksum(value) === check ? value : null;
}

void test('a frame decodes back to its time (mod 2^40); a flipped block fails the checksum', () => {
  const now = 1_800_000_123_456;
  assert.equal(frameBits(now).length, 48);
  const frame = drawFrame(now, Buffer.alloc(WIDTH * HEIGHT));
  assert.equal(decode(frame), now % 2 ** 40);
  frame[30 * WIDTH + 40] = frame[30 * WIDTH + 40] === 235 ? 16 : 235; // the first block's centre
  assert.equal(decode(frame), null);
});
