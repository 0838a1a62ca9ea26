// Tests of AnalyticsRecorder with a real SessionRegistry and a real (in-memory) AnalyticsStore:
// ended sessions, aligned sampling, hourly prune, and failures kept away from the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SessionRegistry } from '../hub/session-registry.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { AnalyticsRecorder, sampleStreams } from './analytics-recorder.ts';
import { AnalyticsStore, type SessionRecord, type StreamSample } from './analytics-store.ts';

const SALT = 'recorder-test-salt-0123';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function setup(start: number) {
  const clock = { now: start };
  const store = AnalyticsStore.open(':memory:', {
    salt: SALT,
    retentionDays: 30,
    now: () => clock.now,
  });
  const sessions = new SessionRegistry();
  const errors: unknown[] = [];
  let samples: StreamSample[] = [];
  const recorder = new AnalyticsRecorder({
    store,
    sessions,
    sample: () => samples,
    now: () => clock.now,
    onError: (error) => errors.push(error),
  });
  return {
    clock,
    store,
    sessions,
    errors,
    recorder,
    setSamples: (next: StreamSample[]) => (samples = next),
  };
}

function addViewer(sessions: SessionRegistry, path: string, protocol: string, ip: string) {
  return sessions.add({
    role: 'viewer',
    protocol,
    path,
    ip,
    close: () => undefined,
    bytes: () => 4096,
    droppedFrames: () => 7,
    userAgent: 'TestPlayer/1.0',
  });
}

test('an ended session is recorded with its end, network and viewer key', (t) => {
  const { clock, store, sessions, errors, recorder } = setup(Date.now() + 90_000);
  recorder.start();
  t.after(() => {
    recorder.stop();
    store.close();
  });
  const session = addViewer(sessions, 'live/cam1', 'http-flv', '203.0.113.7');
  const other = addViewer(sessions, 'live/cam1', 'hls', '203.0.113.7');
  sessions.remove(session, { reason: 'kicked' });
  clock.now += 30_000;
  sessions.remove(other, { bytes: 100, droppedFrames: 0 });
  recorder.flush();

  const from = session.since - 1000;
  const [row] = store.summary(from, clock.now + 1000);
  assert.equal(row?.stream, 'live/cam1');
  assert.equal(row.views, 2);
  assert.equal(row.uniqueViewers, 1, 'same address and user agent');
  // ended = the recorder's clock; started = the registry's since
  const expectedMs = clock.now - 30_000 - session.since + (clock.now - other.since);
  assert.equal(row.watchTimeS, expectedMs / 1000);
  assert.deepEqual(Object.keys(row.byProtocol).sort(), ['hls', 'http-flv']);
  assert.deepEqual(errors, []);
});

/** Rows of the sessions table of a database file, read with a connection of its own. */
function rowsIn(file: string): number {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM sessions').get()?.n ?? 0;
  } finally {
    db.close();
  }
}

test('ended sessions are written in batches, one transaction each, within the flush delay; stop() writes the rest', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const file = join(tempDir(t), 'analytics.db');
  const store = AnalyticsStore.open(file, { salt: SALT, retentionDays: 30 });
  const batches: number[] = [];
  const write = store.recordSessions.bind(store);
  store.recordSessions = (records: readonly SessionRecord[]) => {
    batches.push(records.length);
    write(records);
  };
  const sessions = new SessionRegistry();
  const errors: unknown[] = [];
  const recorder = new AnalyticsRecorder({
    store,
    sessions,
    sample: () => [],
    batchSize: 100,
    flushMs: 1000,
    onError: (error) => errors.push(error),
  });
  recorder.start();
  const end = (n: number): void => {
    for (let i = 0; i < n; i++) {
      sessions.remove(addViewer(sessions, 'live/a', 'hls', `192.0.2.${i % 250}`));
    }
  };
  end(250);
  assert.equal(rowsIn(file), 0, 'nothing is written while the sessions end');
  assert.equal(recorder.pending, 250);
  t.mock.timers.tick(999);
  assert.equal(rowsIn(file), 0);
  t.mock.timers.tick(1); // the flush timer: one batch now, the next ones on later turns
  assert.deepEqual(batches, [100]);
  assert.equal(rowsIn(file), 100);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(batches, [100, 100], 'one batch per turn of the event loop');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(batches, [100, 100, 50]);
  assert.equal(rowsIn(file), 250);

  end(30);
  assert.equal(recorder.pending, 30);
  recorder.stop(); // a clean stop writes what is pending, at once
  assert.deepEqual(batches, [100, 100, 50, 30]);
  store.close();
  assert.equal(rowsIn(file), 280, 'every row is in the file after stop and close');
  assert.equal(recorder.dropped, 0);
  assert.deepEqual(errors, []);
});

test('a full queue drops the newest ended sessions and counts them', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const store = AnalyticsStore.open(':memory:', { salt: SALT, retentionDays: 30 });
  t.after(() => {
    store.close();
  });
  const sessions = new SessionRegistry();
  const reported: number[] = [];
  const recorder = new AnalyticsRecorder({
    store,
    sessions,
    sample: () => [],
    maxPending: 5,
    flushMs: 1000,
    onDrop: (n) => reported.push(n),
  });
  recorder.start();
  const ended: string[] = [];
  for (let i = 0; i < 8; i++) {
    const session = addViewer(sessions, 'live/a', 'http-flv', `198.51.100.${i}`);
    ended.push(session.id);
    sessions.remove(session);
  }
  assert.equal(recorder.pending, 5);
  assert.equal(recorder.dropped, 3);
  assert.equal(sessions.viewers, 0, 'the sessions still end');
  t.mock.timers.runAll();
  assert.equal(recorder.pending, 0);
  assert.deepEqual(reported, [3], 'the drops are reported once, with the flush');
  // room again: the next ended session is kept
  sessions.remove(addViewer(sessions, 'live/a', 'http-flv', '198.51.100.9'));
  recorder.stop();
  assert.equal(recorder.dropped, 3);
  assert.deepEqual(reported, [3]);
  const [row] = store.summary(Date.now() - 60_000, Date.now() + 60_000);
  assert.equal(row?.views, 6, 'the five queued and the one after the drain');
});

test('tick() samples at the 10 s boundary and prunes once an hour', (t) => {
  const start = 1_700_000_000_000 + 4_321;
  const { clock, store, sessions, errors, recorder, setSamples } = setup(start);
  t.after(() => {
    store.close();
  });
  setSamples([
    { stream: 'live/a', viewers: 2, viewersByProtocol: { hls: 2 }, ingestKbps: 3000, fps: 30 },
  ]);
  const old = (id: string) => ({
    id,
    stream: 'live/a',
    role: 'viewer' as const,
    protocol: 'hls',
    startedMs: start - 40 * DAY,
    endedMs: start - 35 * DAY,
    bytes: 1,
    ip: '192.0.2.1',
    droppedFrames: 0,
    reason: 'ended',
  });
  const oldRange = [start - 41 * DAY, start - 34 * DAY] as const;

  store.recordSession(old('o1'));
  recorder.tick(); // first tick prunes
  assert.deepEqual(store.summary(...oldRange), []);
  const history = store.history('live/a', start - 60_000, start + 60_000);
  assert.deepEqual(
    history.points.map((p) => [p.timeMs, p.viewers, p.ingestKbps]),
    [[1_700_000_000_000, 2, 3000]],
  );

  store.recordSession(old('o2'));
  clock.now += HOUR - 1;
  recorder.tick(); // within the hour: no prune
  assert.equal(store.summary(...oldRange).length, 1);
  clock.now += 1;
  recorder.tick();
  assert.deepEqual(store.summary(...oldRange), []);
  assert.deepEqual(errors, []);
  assert.equal(sessions.viewers, 0);
});

test('the timer fires on 10 s boundaries of the clock', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const base = 1_700_000_000_000;
  const { clock, store, recorder, setSamples } = setup(base + 3_000);
  t.after(() => {
    recorder.stop();
    store.close();
  });
  setSamples([
    { stream: 'live/a', viewers: 1, viewersByProtocol: { hls: 1 }, ingestKbps: null, fps: null },
  ]);
  const times = (): number[] =>
    store.history('live/a', base - 10_000, base + 60_000).points.map((p) => p.timeMs - base);
  const advance = (ms: number): void => {
    clock.now += ms;
    t.mock.timers.tick(ms);
  };
  recorder.start();
  recorder.start(); // idempotent
  advance(6_999);
  assert.deepEqual(times(), []);
  advance(1);
  assert.deepEqual(times(), [10_000]);
  advance(10_000);
  assert.deepEqual(times(), [10_000, 20_000]);
  recorder.stop();
  advance(30_000);
  assert.deepEqual(times(), [10_000, 20_000]);
});

test('a failing store goes to onError, never to the server', (t) => {
  const { store, sessions, errors, recorder } = setup(Date.now());
  recorder.start();
  t.after(() => {
    recorder.stop();
  });
  const session = addViewer(sessions, 'live/a', 'ws-flv', '192.0.2.9');
  store.close();
  assert.doesNotThrow(() => {
    sessions.remove(session);
  });
  assert.equal(sessions.viewers, 0);
  assert.doesNotThrow(() => {
    recorder.flush();
  });
  assert.doesNotThrow(() => {
    recorder.tick();
  });
  assert.ok(errors.length >= 2);
  for (const error of errors) assert.ok(error instanceof Error);
});

test('a failing sample function and a throwing onError stay inside the recorder', () => {
  const store = AnalyticsStore.open(':memory:', { salt: SALT, retentionDays: 1 });
  const seen: unknown[] = [];
  const recorder = new AnalyticsRecorder({
    store,
    sessions: new SessionRegistry(),
    sample: () => {
      throw new Error('hub gone');
    },
    onError: (error) => {
      seen.push(error);
      throw new Error('logger gone');
    },
  });
  assert.doesNotThrow(() => {
    recorder.tick();
  });
  assert.equal((seen[0] as Error).message, 'hub gone');
  store.close();
});

test('intervalMs must be a multiple of 10 s', () => {
  const store = AnalyticsStore.open(':memory:', { salt: SALT, retentionDays: 1 });
  const make = (intervalMs: number) =>
    new AnalyticsRecorder({ store, sessions: new SessionRegistry(), sample: () => [], intervalMs });
  assert.throws(() => make(5_000), RangeError);
  assert.throws(() => make(0), RangeError);
  assert.doesNotThrow(() => make(60_000));
  store.close();
});

test('sampleStreams counts viewers per protocol and reads ingest only while published', () => {
  const figures = { bytes: 1, kbps5s: 2500, kbps30s: 2400, fps: 29.97, keyframeIntervalS: 2 };
  const streams = [
    { path: 'live/a', publisher: {}, ingest: { figures: () => figures } },
    {
      path: 'live/grace',
      publisher: null,
      ingest: {
        figures: () => {
          throw new Error('not read without a publisher');
        },
      },
    },
  ];
  const sessions = [
    { role: 'viewer' as const, path: 'live/a', protocol: 'hls' },
    { role: 'viewer' as const, path: 'live/a', protocol: 'hls' },
    { role: 'viewer' as const, path: 'live/a', protocol: 'rtmp' },
    { role: 'publisher' as const, path: 'live/a', protocol: 'rtmp' },
    { role: 'viewer' as const, path: 'live/waiting', protocol: 'http-flv' },
  ];
  assert.deepEqual(sampleStreams(streams, sessions), [
    {
      stream: 'live/a',
      viewers: 3,
      viewersByProtocol: { hls: 2, rtmp: 1 },
      ingestKbps: 2500,
      fps: 29.97,
    },
    { stream: 'live/grace', viewers: 0, viewersByProtocol: {}, ingestKbps: null, fps: null },
    {
      stream: 'live/waiting',
      viewers: 1,
      viewersByProtocol: { 'http-flv': 1 },
      ingestKbps: null,
      fps: null,
    },
  ]);
});
