// Tests of the memory budget: the default share of the heap limit, pressure with hysteresis,
// and the JS heap's own bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget, type MemoryReading } from './memory-budget.ts';

const MiB = 1024 * 1024;

function budgetWith(maxMemoryMB: number, heapLimitMB = 1000) {
  let reading: MemoryReading = { heapUsed: 0, external: 0 };
  const changes: boolean[] = [];
  const budget = new MemoryBudget({
    maxMemoryMB,
    heapLimitBytes: heapLimitMB * MiB,
    read: () => reading,
    onChange: (over) => changes.push(over),
  });
  const set = (heapMB: number, externalMB: number): void => {
    reading = { heapUsed: heapMB * MiB, external: externalMB * MiB };
    budget.sample();
  };
  return { budget, set, changes };
}

test('limits.maxMemoryMB 0: the budget is 75% of the heap limit', () => {
  assert.equal(budgetWith(0).budget.budgetBytes, 750 * MiB);
  assert.equal(budgetWith(300).budget.budgetBytes, 300 * MiB);
});

test('heap plus buffers over the budget is pressure; it ends only below 90% of it', () => {
  const { budget, set, changes } = budgetWith(100);
  set(40, 50);
  assert.equal(budget.over, false);
  set(40, 61); // 101 MiB
  assert.equal(budget.over, true);
  set(40, 55); // 95 MiB: under the budget, not under 90% of it
  assert.equal(budget.over, true);
  set(40, 49); // 89 MiB
  assert.equal(budget.over, false);
  assert.deepEqual(changes, [true, false]);
  assert.equal(budget.figures().usedBytes, 89 * MiB);
});

test('the JS heap near the heap limit is pressure even under a larger budget', () => {
  const { budget, set } = budgetWith(100_000, 1000);
  set(860, 0); // 86% of the heap limit
  assert.equal(budget.over, true);
  set(700, 0);
  assert.equal(budget.over, false);
});
