// `node --import tsx bench/hls-sweep.ts [--sessions N]`: what ending N idle HLS sessions at once
// costs the event loop, with the analytics recorder writing to a real SQLite file (WAL) as in a
// running server. Prints the figures; asserts nothing (a measurement, not a test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { SessionRegistry } from '../src/hub/session-registry.ts';
import { AnalyticsStore } from '../src/analytics/analytics-store.ts';
import { AnalyticsRecorder } from '../src/analytics/analytics-recorder.ts';
import { HlsSessions } from '../src/servers/hls/hls-sessions.ts';

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '10000' } } });
const count = Number(values.sessions);
const dir = mkdtempSync(join(tmpdir(), 'onair-hls-sweep-'));
const file = join(dir, 'analytics.db');
const store = AnalyticsStore.open(file, { salt: 'hls-sweep-salt-0123456789', retentionDays: 1 });
const registry = new SessionRegistry();
const recorder = new AnalyticsRecorder({ store, sessions: registry, sample: () => [] });
// The synchronous steps of the drain, timed one by one: sweep steps and batch writes.
const steps = { sweepMs: 0, sweeps: 0, writeMs: 0, writes: 0 };
const write = store.recordSessions.bind(store);
store.recordSessions = (records) => {
  const t0 = performance.now();
  write(records);
  steps.writeMs = Math.max(steps.writeMs, performance.now() - t0);
  steps.writes++;
};
recorder.start();
let nowMs = Date.now();
const viewers = new HlsSessions(registry, { maxPerIp: 100, now: () => nowMs });
// One viewer per address, so the per-address bound does not apply.
for (let i = 0; i < count; i++) {
  const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  viewers.admit('live/cam', ip, 'Player/1.0', true);
  viewers.sent('live/cam', ip, 'Player/1.0', 1);
}
if (registry.viewers !== count) throw new Error(`${registry.viewers} sessions, not ${count}`);
const sweep = viewers.sweep.bind(viewers);
viewers.sweep = () => {
  const t0 = performance.now();
  sweep();
  steps.sweepMs = Math.max(steps.sweepMs, performance.now() - t0);
  steps.sweeps++;
};

const reader = new Database(file, { readonly: true });
const rows = (): number =>
  reader.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM sessions').get()?.n ?? 0;
// The same wait with nothing to do first: on a busy machine, the loop's delay includes the
// time the process waits for a core, which no code change removes.
const idle = monitorEventLoopDelay({ resolution: 1 });
idle.enable();
await sleep(1500);
idle.disable();
const lag = monitorEventLoopDelay({ resolution: 1 });
lag.enable();
await sleep(50);
nowMs += 16_000; // every session is now idle
const started = performance.now();
viewers.sweep();
const sweepCallMs = performance.now() - started;
const deadline = Date.now() + 60_000;
while ((registry.viewers > 0 || rows() < count) && Date.now() < deadline) await sleep(5);
const drainedMs = performance.now() - started;
await sleep(20); // the lag timer's next sample records a block that just ended
lag.disable();
console.log(
  JSON.stringify({
    sessions: count,
    sweepCallMs: round(sweepCallMs),
    sweepSteps: steps.sweeps,
    longestSweepStepMs: round(steps.sweepMs),
    batchWrites: steps.writes,
    longestBatchWriteMs: round(steps.writeMs),
    longestLoopBlockMs: round(lag.max / 1e6),
    longestLoopBlockIdleMs: round(idle.max / 1e6),
    allRowsWrittenAfterMs: round(drainedMs),
    rows: rows(),
    left: registry.viewers,
  }),
);
reader.close();
recorder.stop();
store.close();
rmSync(dir, { recursive: true, force: true });

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
