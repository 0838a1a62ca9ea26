import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuMeter, parseProcStatCpuSeconds, processCpuSeconds } from './process-cpu.ts';

test('parseProcStatCpuSeconds(): utime + stime, counted after the last parenthesis', () => {
  const stat = '4242 (ff (a) b) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3';
  assert.equal(parseProcStatCpuSeconds(stat), 3);
  assert.equal(parseProcStatCpuSeconds('garbage'), null);
  assert.equal(parseProcStatCpuSeconds('1 (x) S 1 2'), null);
});

test('processCpuSeconds() reads this process; CpuMeter measures a busy interval', () => {
  const own = processCpuSeconds(process.pid);
  assert.ok(own !== null && own > 0);
  const meter = new CpuMeter();
  const start = Date.now();
  meter.sample(process.pid, start, 0);
  assert.equal(meter.percent, null);
  // Busy until the kernel has counted 50 ms more of CPU (bounded at 10 s).
  while ((processCpuSeconds(process.pid) ?? 0) < own + 0.05 && Date.now() - start < 10_000) {
    Math.sqrt(Math.random());
  }
  meter.sample(process.pid, Date.now(), 0);
  const percent = meter.percent as number | null; // narrowed to null by the assert above
  assert.ok(percent !== null && percent > 0, `${percent}`);
  assert.ok(meter.seconds >= own);
  assert.equal(processCpuSeconds(2 ** 30), null, 'no such process');
});
