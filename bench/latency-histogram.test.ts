import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LatencyHistogram, distribution } from './latency-histogram.ts';

void test('LatencyHistogram.quantile() is within one bucket of the nearest-rank percentile', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 5000, noNaN: true }), { minLength: 1, maxLength: 300 }),
      fc.constantFrom(50, 95, 99),
      (values, p) => {
        const histogram = new LatencyHistogram();
        for (const v of values) histogram.add(v);
        const sorted = [...values].sort((a, b) => a - b);
        const exact = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
        const got = histogram.quantile(p)!;
        const bucket = exact < 1000 ? 0.1 : 1;
        assert.ok(got >= exact - 1e-9 || got === histogram.summary().maxMs, `${got} < ${exact}`);
        assert.ok(got <= exact + bucket + 1e-9, `${got} > ${exact} + ${bucket}`);
      },
    ),
  );
});

void test('LatencyHistogram.summary() reports no percentiles without samples', () => {
  const summary = new LatencyHistogram().summary();
  assert.equal(summary.samples, 0);
  assert.equal(summary.p99Ms, null);
});

void test('LatencyHistogram.add() counts negative latencies as 0', () => {
  const histogram = new LatencyHistogram();
  histogram.add(-3);
  assert.equal(histogram.summary().maxMs, 0);
  assert.equal(histogram.quantile(50), 0);
});

void test('distribution() ignores nulls and takes nearest-rank percentiles', () => {
  const d = distribution([null, 5, 1, 3, null, 2, 4]);
  assert.deepEqual(d, { n: 5, p50: 3, p95: 5, p99: 5, max: 5 });
  assert.deepEqual(distribution([null]), { n: 0, p50: null, p95: null, p99: null, max: null });
});
