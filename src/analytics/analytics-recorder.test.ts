// Tests of AnalyticsRecorder with a real SessionRegistry and a real (in-memory) AnalyticsStore:
// ended sessions, aligned sampling, hourly prune, and failures kept away from the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry } from '../hub/session-registry.ts';
import { AnalyticsRecorder, sampleStreams } from './analytics-recorder.ts';
import { AnalyticsStore, type StreamSample } from './analytics-store.ts';

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
