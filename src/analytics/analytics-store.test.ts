// Tests of AnalyticsStore on real SQLite: a crafted two-stream scenario read back through
// summary() and history(), step aggregation, retention, address privacy, WAL and reopening.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  AnalyticsStore,
  MAX_HISTORY_POINTS,
  SCHEMA_VERSION,
  percentile,
  type SessionRecord,
  type StreamSample,
} from './analytics-store.ts';
import type { QoeBeacon } from './qoe.ts';

const SALT = 'test-salt-0123456789abcdef';
const DAY = 86_400_000;
/** A multiple of 10 s. */
const T0 = 1_700_000_000_000;

function openMemory(now: () => number, retentionDays = 30): AnalyticsStore {
  return AnalyticsStore.open(':memory:', { salt: SALT, retentionDays, now });
}

function viewer(
  id: string,
  stream: string,
  protocol: string,
  ip: string,
  userAgent: string,
  startedMs: number,
  endedMs: number,
): SessionRecord {
  return {
    id,
    stream,
    role: 'viewer',
    protocol,
    startedMs,
    endedMs,
    bytes: 1000,
    ip,
    userAgent,
    droppedFrames: 0,
    reason: 'ended',
  };
}

function sample(
  stream: string,
  viewersByProtocol: Record<string, number>,
  ingestKbps: number | null = 2500,
  fps: number | null = 30,
): StreamSample {
  const viewers = Object.values(viewersByProtocol).reduce((a, b) => a + b, 0);
  return { stream, viewers, viewersByProtocol, ingestKbps, fps };
}

function beacon(
  stream: string,
  timeMs: number,
  fields: Partial<QoeBeacon>,
): QoeBeacon & { timeMs: number } {
  return {
    stream,
    session: 'player-session-1',
    rebufferCount: 0,
    rebufferMs: 0,
    playedMs: 0,
    ...fields,
    timeMs,
  };
}

/** The scenario of the summary and history tests (range [T0, T0 + 10 min)). */
function scenario(store: AnalyticsStore): void {
  // live/a: v1 and v2 share address and user agent (one unique viewer), v3 is another one.
  store.recordSession(
    viewer('v1', 'live/a', 'http-flv', '203.0.113.7', 'UA-1', T0 - 60_000, T0 + 120_000),
  );
  store.recordSession(
    viewer('v2', 'live/a', 'hls', '203.0.113.7', 'UA-1', T0 + 300_000, T0 + 900_000),
  );
  store.recordSession(
    viewer('v3', 'live/a', 'http-flv', '2001:db8:1:2::5', 'UA-2', T0 + 100_000, T0 + 160_000),
  );
  // Before the range: not counted.
  store.recordSession(
    viewer('v4', 'live/a', 'http-flv', '198.51.100.1', 'UA-4', T0 - 200_000, T0 - 100_000),
  );
  // A publisher: not a view.
  store.recordSession({
    id: 'p1',
    stream: 'live/a',
    role: 'publisher',
    protocol: 'rtmp',
    startedMs: T0 - 600_000,
    endedMs: T0 + 600_000,
    bytes: 10_000_000,
    ip: '192.0.2.50',
    droppedFrames: 0,
    reason: 'ended',
  });
  store.recordSession(viewer('v5', 'live/b', 'ws-flv', '192.0.2.1', 'UA-3', T0, T0 + 30_000));

  store.recordSamples(T0, [
    sample('live/a', { 'http-flv': 1 }, 2500, 30),
    sample('live/b', { 'ws-flv': 1 }),
  ]);
  store.recordSamples(T0 + 10_000 + 4_321, [sample('live/a', { 'http-flv': 2 }, 2600, 29.5)]);
  store.recordSamples(T0 + 300_000, [sample('live/a', { hls: 1 })]);
  // After the range: its 9 viewers are no peak of the range.
  store.recordSamples(T0 + 700_000, [sample('live/a', { hls: 9 })]);

  store.recordQoe(beacon('live/a', T0 + 5_000, { startupMs: 400, latencyS: 2, playedMs: 5000 }));
  store.recordQoe(
    beacon('live/a', T0 + 7_000, {
      startupMs: 800,
      latencyS: 4,
      rebufferCount: 1,
      rebufferMs: 1000,
      playedMs: 9000,
      errors: ['MEDIA_ERR'],
    }),
  );
  store.recordQoe(beacon('live/a', T0 + 20_000, { latencyS: 3, playedMs: 10_000 }));
  store.recordQoe(beacon('live/a', T0 + 30_000, { startupMs: 1200, latencyS: 5, playedMs: 6000 }));
  store.recordQoe(
    beacon('live/a', T0 + 700_000, { startupMs: 99_999, latencyS: 60, rebufferMs: 5000 }),
  );
}

test('summary: views, unique viewers, clipped watch time, peak, protocols and QoE', () => {
  const store = openMemory(() => T0 + 3_600_000);
  scenario(store);
  const rows = store.summary(T0, T0 + 600_000);
  assert.deepEqual(rows, [
    {
      stream: 'live/a',
      peakViewers: 2,
      uniqueViewers: 2,
      // v1: 120 s of 180 (started before the range), v2: 300 s of 600 (ends after), v3: 60 s.
      watchTimeS: 480,
      averageViewS: 160,
      views: 3,
      byProtocol: {
        'http-flv': { views: 2, watchTimeS: 180 },
        hls: { views: 1, watchTimeS: 300 },
      },
      qoe: {
        beacons: 4,
        startupP50Ms: 800,
        startupP95Ms: 1200,
        latencyP50S: 3,
        latencyP95S: 5,
        rebufferRatio: 0.033333,
      },
    },
    {
      stream: 'live/b',
      peakViewers: 1,
      uniqueViewers: 1,
      watchTimeS: 30,
      averageViewS: 30,
      views: 1,
      byProtocol: { 'ws-flv': { views: 1, watchTimeS: 30 } },
      qoe: null,
    },
  ]);
  store.close();
});

test('summary: an empty range, and a range with nothing in it', () => {
  const store = openMemory(() => T0);
  scenario(store);
  assert.deepEqual(store.summary(T0 - 10 * DAY, T0 - 9 * DAY), []);
  assert.throws(() => store.summary(T0, T0), RangeError);
  assert.throws(() => store.summary(T0 + 1, T0), RangeError);
  assert.throws(() => store.summary(Number.NaN, T0), RangeError);
  store.close();
});

test('history: 10 s points with samples and the QoE of the beacons in each', () => {
  const store = openMemory(() => T0 + 3_600_000);
  scenario(store);
  const history = store.history('live/a', T0 + 3_000, T0 + 40_000);
  assert.equal(history.stepMs, 10_000);
  assert.equal(history.fromMs, T0);
  assert.equal(history.toMs, T0 + 40_000);
  assert.deepEqual(history.points, [
    {
      timeMs: T0,
      viewers: 1,
      viewersByProtocol: { 'http-flv': 1 },
      ingestKbps: 2500,
      fps: 30,
      qoe: { beacons: 2, startupP50Ms: 400, latencyP50S: 2, rebufferRatio: 0.071429 },
    },
    {
      // recorded at T0 + 14.321 s, stored at its 10 s boundary
      timeMs: T0 + 10_000,
      viewers: 2,
      viewersByProtocol: { 'http-flv': 2 },
      ingestKbps: 2600,
      fps: 29.5,
      qoe: null,
    },
    {
      // beacons without a sample
      timeMs: T0 + 20_000,
      viewers: 0,
      viewersByProtocol: {},
      ingestKbps: null,
      fps: null,
      qoe: { beacons: 1, startupP50Ms: null, latencyP50S: 3, rebufferRatio: 0 },
    },
    {
      timeMs: T0 + 30_000,
      viewers: 0,
      viewersByProtocol: {},
      ingestKbps: null,
      fps: null,
      qoe: { beacons: 1, startupP50Ms: 1200, latencyP50S: 5, rebufferRatio: 0 },
    },
  ]);
  assert.deepEqual(store.history('live/none', T0, T0 + 40_000).points, []);
  assert.throws(() => store.history('live/a', T0, T0), RangeError);
  assert.throws(() => store.history('live/a', T0, Number.POSITIVE_INFINITY), RangeError);
  store.close();
});

test('history: a long range is aggregated into wider steps (max viewers, average rates)', () => {
  const to = T0 + 50_000 * 10_000;
  const store = openMemory(() => to);
  for (let k = 0; k < 20; k++) {
    store.recordSamples(T0 + k * 10_000, [
      sample('live/a', { 'http-flv': k, hls: 20 - k }, 1000 + k * 10, k < 10 ? 30 : 25),
    ]);
  }
  store.recordQoe(beacon('live/a', T0 + 15_000, { startupMs: 300, latencyS: 1, playedMs: 1000 }));
  store.recordQoe(beacon('live/a', T0 + 95_000, { startupMs: 500, latencyS: 3, playedMs: 3000 }));
  const history = store.history('live/a', T0, to);
  // 50,000 slots of 10 s: steps of 100 s keep it at 5,000 points.
  assert.equal(history.stepMs, 100_000);
  assert.ok((history.toMs - history.fromMs) / history.stepMs <= MAX_HISTORY_POINTS);
  assert.deepEqual(history.points, [
    {
      timeMs: T0,
      viewers: 20,
      viewersByProtocol: { 'http-flv': 9, hls: 20 },
      ingestKbps: 1045,
      fps: 30,
      qoe: { beacons: 2, startupP50Ms: 300, latencyP50S: 1, rebufferRatio: 0 },
    },
    {
      timeMs: T0 + 100_000,
      viewers: 20,
      viewersByProtocol: { 'http-flv': 19, hls: 10 },
      ingestKbps: 1145,
      fps: 25,
      qoe: null,
    },
  ]);
  store.close();
});

test('history: the range is capped to the retention and to now', () => {
  const now = T0 + 40 * DAY;
  const store = openMemory(() => now, 30);
  store.recordSamples(T0, [sample('live/a', { hls: 5 })]);
  store.recordSamples(now - 5 * DAY, [sample('live/a', { hls: 2 })]);
  const history = store.history('live/a', 0, Number.MAX_SAFE_INTEGER);
  assert.equal(history.fromMs, now - 30 * DAY);
  assert.equal(history.toMs, now + 10_000);
  assert.ok((history.toMs - history.fromMs) / history.stepMs <= MAX_HISTORY_POINTS);
  assert.deepEqual(
    history.points.map((p) => p.viewers),
    [2],
  );
  // Entirely before the retention: nothing, not an error.
  assert.deepEqual(store.history('live/a', T0, T0 + DAY).points, []);
  store.close();
});

test('prune deletes what is older than the retention and returns the count', () => {
  let now = T0;
  const store = openMemory(() => now, 30);
  store.recordSession(viewer('old', 'live/a', 'hls', '192.0.2.1', 'UA', T0 - 1000, T0));
  store.recordSession(viewer('new', 'live/a', 'hls', '192.0.2.1', 'UA', T0, T0 + 2 * DAY));
  store.recordSamples(T0, [sample('live/a', { hls: 1 })]);
  store.recordSamples(T0 + 2 * DAY, [sample('live/a', { hls: 1 })]);
  store.recordQoe(beacon('live/a', T0, { playedMs: 1 }));
  store.recordQoe(beacon('live/a', T0 + 2 * DAY, { playedMs: 1 }));
  assert.equal(store.prune(), 0);
  now = T0 + 31 * DAY;
  assert.equal(store.prune(), 3);
  assert.equal(store.prune(), 0);
  const rows = store.summary(T0 - DAY, T0 + 3 * DAY);
  assert.equal(rows.length, 1);
  const [row] = rows;
  assert.ok(row);
  assert.equal(row.views, 1);
  assert.equal(row.qoe?.beacons, 1);
  store.close();
});

test('no full address is stored: networks and a salted viewer key only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onair-analytics-'));
  try {
    const file = join(dir, 'analytics.db');
    const store = AnalyticsStore.open(file, { salt: SALT, retentionDays: 30, now: () => T0 });
    scenario(store);
    store.recordSession(viewer('v6', 'live/a', 'hls', '::ffff:203.0.113.7', 'UA-1', T0, T0 + 1000));
    store.close();

    const raw = new Database(file, { readonly: true });
    const rows = raw
      .prepare<[], { id: string; client: string; viewer_key: string }>(
        'SELECT id, client, viewer_key FROM sessions ORDER BY id',
      )
      .all();
    const clients = Object.fromEntries(rows.map((r) => [r.id, r.client]));
    assert.deepEqual(clients, {
      p1: '192.0.2.0',
      v1: '203.0.113.0',
      v2: '203.0.113.0',
      v3: '2001:db8:1::',
      v4: '198.51.100.0',
      v5: '192.0.2.0',
      v6: '203.0.113.0',
    });
    const keys = Object.fromEntries(rows.map((r) => [r.id, r.viewer_key]));
    assert.equal(keys.v1, keys.v2);
    assert.equal(keys.v1, keys.v6, 'an IPv4-mapped address is the same client');
    assert.notEqual(keys.v1, keys.v3);
    assert.match(keys.v1 ?? '', /^[0-9a-f]{32}$/);
    const everything = JSON.stringify(raw.prepare('SELECT * FROM sessions').all());
    for (const full of [
      '203.0.113.7',
      '2001:db8:1:2::5',
      '198.51.100.1',
      '192.0.2.50',
      '192.0.2.1"',
    ]) {
      assert.ok(!everything.includes(full), `${full} must not be stored`);
    }
    raw.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('viewer keys depend on the salt', () => {
  const a = openMemory(() => T0);
  const b = AnalyticsStore.open(':memory:', {
    salt: 'another-salt-0123456789',
    retentionDays: 30,
  });
  assert.equal(a.viewerKey('192.0.2.1', 'UA'), a.viewerKey('192.0.2.1', 'UA'));
  assert.notEqual(a.viewerKey('192.0.2.1', 'UA'), b.viewerKey('192.0.2.1', 'UA'));
  assert.notEqual(a.viewerKey('192.0.2.1', 'UA'), a.viewerKey('192.0.2.1', 'UA2'));
  a.close();
  b.close();
});

test('a file: WAL mode, folder created, data and schema version kept across reopening', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onair-analytics-'));
  try {
    const file = join(dir, 'data', 'analytics.db');
    const options = { salt: SALT, retentionDays: 30, now: () => T0 + 3_600_000 };
    const first = AnalyticsStore.open(file, options);
    assert.equal(first.schemaVersion, SCHEMA_VERSION);
    scenario(first);
    const before = first.summary(T0, T0 + 600_000);
    first.close();
    first.close(); // idempotent

    const raw = new Database(file, { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    raw.close();

    const second = AnalyticsStore.open(file, options);
    assert.equal(second.schemaVersion, SCHEMA_VERSION);
    assert.deepEqual(second.summary(T0, T0 + 600_000), before);
    second.close();

    // A file written by a newer onair is refused rather than misread.
    const newer = new Database(file);
    newer.prepare('UPDATE schema_version SET version = ?').run(SCHEMA_VERSION + 1);
    newer.close();
    assert.throws(() => AnalyticsStore.open(file, options), /newer than this onair/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('open refuses a short salt and a bad retention', () => {
  assert.throws(
    () => AnalyticsStore.open(':memory:', { salt: 'short', retentionDays: 30 }),
    /at least 16/,
  );
  assert.throws(
    () => AnalyticsStore.open(':memory:', { salt: SALT, retentionDays: 0 }),
    /retentionDays/,
  );
});

test('samples of one instant are written together and replace a repeat', () => {
  const store = openMemory(() => T0 + 60_000);
  store.recordSamples(T0 + 1, [sample('live/a', { hls: 1 }), sample('live/b', { hls: 2 })]);
  store.recordSamples(T0 + 9_999, [sample('live/a', { hls: 3 })]);
  assert.deepEqual(
    store.history('live/a', T0, T0 + 10_000).points.map((p) => [p.timeMs, p.viewers]),
    [[T0, 3]],
  );
  assert.equal(store.history('live/b', T0, T0 + 10_000).points[0]?.viewers, 2);
  store.close();
});

test('recordSamples is one transaction: a failing sample writes none of the instant', () => {
  const store = openMemory(() => T0 + 60_000);
  const broken = {
    get stream(): string {
      throw new Error('broken sample');
    },
    viewers: 1,
    viewersByProtocol: {},
    ingestKbps: null,
    fps: null,
  };
  assert.throws(() => {
    store.recordSamples(T0, [sample('live/a', { hls: 1 }), broken]);
  }, /broken sample/);
  assert.deepEqual(store.history('live/a', T0, T0 + 10_000).points, []);
  store.close();
});

test('recordSessions writes a batch in one transaction: all of it, or none when a row fails', () => {
  const store = openMemory(() => T0 + 60_000);
  const batch = Array.from({ length: 300 }, (_, i) =>
    viewer(`b${i}`, 'live/a', 'hls', `192.0.2.${i % 200}`, 'UA', T0, T0 + 1000),
  );
  store.recordSessions(batch);
  assert.equal(store.summary(T0, T0 + 10_000)[0]?.views, 300);
  const broken = {
    ...viewer('broken', 'live/b', 'hls', '192.0.2.1', 'UA', T0, T0 + 1000),
    get stream(): string {
      throw new Error('broken row');
    },
  };
  assert.throws(() => {
    store.recordSessions([viewer('c1', 'live/b', 'hls', '192.0.2.1', 'UA', T0, T0 + 1000), broken]);
  }, /broken row/);
  assert.deepEqual(
    store.summary(T0, T0 + 10_000).map((row) => row.stream),
    ['live/a'],
  );
  store.close();
});

test('hostile-looking values are bounded before they are stored', () => {
  const store = openMemory(() => T0 + 60_000);
  store.recordSession({
    ...viewer(
      'x'.repeat(500),
      'live/a',
      'p'.repeat(100),
      'not an address',
      'u'.repeat(10_000),
      T0,
      T0 - 5,
    ),
    bytes: Number.NaN,
    droppedFrames: -3,
  });
  const [row] = store.summary(T0, T0 + 1000);
  assert.equal(row?.views, 1);
  assert.equal(row.watchTimeS, 0, 'an end before the start is clamped to the start');
  assert.deepEqual(Object.keys(row.byProtocol), ['p'.repeat(32)]);
  store.close();
});

test('percentile is nearest-rank', () => {
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([7], 95), 7);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 95), 4);
  assert.equal(percentile([1, 2, 3, 4], 0), 1);
});

test('processes opening one new file at once (a --workers group) all get the current schema', async () => {
  // Each child spins until the same instant, then opens the file: before the schema version was
  // read inside the write lock, a CI run saw a worker fail with "table sessions already exists".
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const storeUrl = new URL('./analytics-store.ts', import.meta.url).href;
  const dir = mkdtempSync(join(tmpdir(), 'onair-analytics-'));
  try {
    for (let round = 0; round < 3; round++) {
      const file = join(dir, `race-${round}.db`);
      const at = Date.now() + 1500;
      const script = `
        const { AnalyticsStore } = await import(${JSON.stringify(storeUrl)});
        while (Date.now() < ${at}) {}
        const store = AnalyticsStore.open(${JSON.stringify(file)}, { salt: ${JSON.stringify(SALT)}, retentionDays: 30 });
        process.stdout.write(String(store.schemaVersion));
        store.close();`;
      const results = await Promise.all(
        Array.from({ length: 6 }, () => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', '--input-type=module', '-e', script],
            {
              cwd: fileURLToPath(new URL('../..', import.meta.url)),
            },
          );
          let out = '';
          let err = '';
          child.stdout.on('data', (d: Buffer) => (out += d.toString()));
          child.stderr.on('data', (d: Buffer) => (err += d.toString()));
          return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
            child.on('close', (code) => {
              resolve({ code, out, err });
            }),
          );
        }),
      );
      for (const r of results) {
        assert.equal(r.code, 0, r.err);
        assert.equal(r.out, String(SCHEMA_VERSION));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
