// Tests of the push retry schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs } from './push.ts';

void test('backoffDelayMs(): 1 s doubling to 30 s, bounded for any failure count', () => {
  const backoff = { minMs: 1000, maxMs: 30_000, resetAfterMs: 30_000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((failures) => backoffDelayMs(failures, backoff)),
    [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
  );
  assert.equal(backoffDelayMs(1_000_000, backoff), 30_000);
  assert.equal(backoffDelayMs(-1, backoff), 1000);
});
