import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry, type Session, type SessionEnd } from '../../hub/session-registry.ts';
import { HlsSessions, SWEEP_BATCH } from './hls-sessions.ts';

function setup(options: { maxPerIp?: number; maxSessions?: number } = {}) {
  const clock = { now: 0 };
  const registry = new SessionRegistry();
  const ended: [Session, SessionEnd][] = [];
  registry.subscribe({ removed: (session, end) => ended.push([session, end]) });
  const viewers = new HlsSessions(registry, {
    maxPerIp: options.maxPerIp ?? 100,
    ...(options.maxSessions === undefined ? {} : { maxSessions: options.maxSessions }),
    now: () => clock.now,
  });
  return { clock, registry, ended, viewers };
}

test('HlsSessions: one session per address + user agent + stream, ended when idle', (t) => {
  const { clock, registry, ended, viewers } = setup();
  t.after(() => {
    viewers.close();
  });
  const promised = viewers.idOf('live/a', '10.0.0.1', 'player');
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', true), 'tracked');
  viewers.sent('live/a', '10.0.0.1', 'player', 100);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', false), 'tracked');
  viewers.sent('live/a', '10.0.0.1', 'player', 50);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'other player', true), 'tracked');
  viewers.sent('live/a', '10.0.0.1', 'other player', 10);
  assert.equal(viewers.admit('live/b', '10.0.0.1', 'player', true), 'tracked');
  assert.equal(registry.viewers, 3);
  const [first] = registry.list();
  assert.equal(first?.id, promised, 'the id given to on_play is the session id');
  assert.equal(first.protocol, 'hls');
  assert.equal(first.bytes?.(), 150);
  assert.equal(viewers.idOf('live/a', '10.0.0.1', 'player'), promised);
  clock.now = 10_000;
  viewers.sent('live/b', '10.0.0.1', 'player', 10);
  clock.now = 16_000;
  viewers.sweep();
  assert.equal(registry.viewers, 1, 'the two idle ones left; live/b was sent something 6 s ago');
  assert.deepEqual(
    ended.map(([session, end]) => [session.path, session.userAgent, end.reason, end.bytes]),
    [
      ['live/a', 'player', 'left', 150],
      ['live/a', 'other player', 'left', 10],
    ],
  );
  viewers.close();
  assert.equal(registry.viewers, 0);
  assert.equal(viewers.untrackedRequests, 0);
});

test('HlsSessions: media requests never start a session, only an allowed playlist request does', (t) => {
  const { registry, viewers } = setup();
  t.after(() => {
    viewers.close();
  });
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', false), 'untracked');
  viewers.sent('live/a', '10.0.0.1', 'player', 1000);
  assert.equal(registry.viewers, 0);
  assert.equal(viewers.untrackedRequests, 1);
  assert.equal(viewers.wouldStart('live/a', '10.0.0.1', 'player'), true);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', true), 'tracked');
  assert.equal(viewers.wouldStart('live/a', '10.0.0.1', 'player'), false, 'it has one');
  assert.equal(registry.viewers, 1);
});

test('HlsSessions: at most maxPerIp sessions per address; beyond, requests are served untracked and counted', (t) => {
  const { clock, registry, viewers } = setup({ maxPerIp: 3 });
  t.after(() => {
    viewers.close();
  });
  const answers = ['a', 'b', 'c', 'd', 'e'].map((ua) =>
    viewers.admit('live/a', '10.0.0.1', ua, true),
  );
  assert.deepEqual(answers, ['tracked', 'tracked', 'tracked', 'untracked', 'untracked']);
  assert.equal(registry.viewers, 3);
  assert.equal(registry.viewersFrom('10.0.0.1'), 3);
  assert.equal(viewers.untrackedRequests, 2);
  // Over the cap, every request of an untracked viewer is counted, and starts nothing.
  assert.equal(viewers.wouldStart('live/a', '10.0.0.1', 'd'), false);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'd', false), 'untracked');
  assert.equal(viewers.untrackedRequests, 3);
  // The cap is per address, across streams; other addresses are not affected.
  assert.equal(viewers.admit('live/b', '10.0.0.1', 'a', true), 'untracked');
  assert.equal(viewers.admit('live/a', '10.0.0.2', 'a', true), 'tracked');
  // The sessions of the address leave: room again.
  clock.now = 10_000;
  viewers.admit('live/a', '10.0.0.2', 'a', false);
  clock.now = 15_000;
  viewers.sweep();
  assert.equal(registry.viewersFrom('10.0.0.1'), 0);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'd', true), 'tracked');
});

test('HlsSessions: the global cap leaves requests served and counted too', (t) => {
  const { registry, viewers } = setup({ maxSessions: 2 });
  t.after(() => {
    viewers.close();
  });
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'p', true), 'tracked');
  assert.equal(viewers.admit('live/a', '10.0.0.2', 'p', true), 'tracked');
  assert.equal(viewers.admit('live/a', '10.0.0.3', 'p', true), 'untracked');
  assert.equal(registry.viewers, 2);
  assert.equal(viewers.untrackedRequests, 1);
});

test('HlsSessions: a kicked viewer is refused for a minute, then starts a new session', (t) => {
  const { clock, registry, viewers } = setup();
  t.after(() => {
    viewers.close();
  });
  viewers.admit('live/a', '10.0.0.1', 'player', true);
  const [session] = registry.list();
  assert.ok(session);
  assert.equal(registry.kick(session.id), true);
  assert.equal(registry.viewers, 0);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', true), 'kicked');
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', false), 'kicked');
  assert.equal(viewers.wouldStart('live/a', '10.0.0.1', 'player'), false);
  assert.equal(viewers.admit('live/a', '10.0.0.2', 'player', true), 'tracked', 'another viewer');
  // Below the cap, another user agent from the address is a new session the operator sees.
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'other', true), 'tracked');
  clock.now = 61_000;
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'player', true), 'tracked');
  assert.equal(registry.viewers, 3);
});

test('HlsSessions: beyond the cap, a kicked viewer does not get back in under another user agent', (t) => {
  const { clock, registry, viewers } = setup({ maxPerIp: 2 });
  t.after(() => {
    viewers.close();
  });
  viewers.admit('live/a', '10.0.0.1', 'ua-1', true);
  viewers.admit('live/a', '10.0.0.1', 'ua-2', true);
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-3', true), 'untracked');
  const kicked = registry.list().find((s) => s.userAgent === 'ua-1');
  assert.ok(kicked);
  registry.kick(kicked.id);
  // ua-3 takes the freed place: a session the operator sees (and can kick).
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-3', true), 'tracked');
  // The address is at its cap again: untracked requests for the stream are refused while the
  // kick lasts, whatever their user agent.
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-1', true), 'kicked');
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-4', true), 'kicked');
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-4', false), 'kicked');
  // The address's sessions play on; another stream from the address is not affected.
  clock.now = 30_000;
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-2', false), 'tracked');
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-3', false), 'tracked');
  assert.equal(viewers.admit('live/b', '10.0.0.1', 'ua-4', true), 'untracked');
  clock.now = 60_001;
  assert.equal(viewers.admit('live/a', '10.0.0.1', 'ua-4', true), 'untracked');
});

test('HlsSessions: the sweep ends at most SWEEP_BATCH sessions a step, the rest on the next turns; active ones stay', async (t) => {
  const { clock, registry, viewers } = setup({ maxPerIp: 10_000 });
  t.after(() => {
    viewers.close();
  });
  const idle = 4 * SWEEP_BATCH + 7;
  for (let i = 0; i < idle + 10; i++) viewers.admit('live/a', '10.0.0.1', `ua-${i}`, true);
  clock.now = 5_000;
  // Asked again later: these move to the end of the sweep order.
  for (let i = 0; i < 10; i++) viewers.admit('live/a', '10.0.0.1', `ua-${i}`, false);
  clock.now = 15_000;
  viewers.sweep();
  assert.equal(registry.viewers, idle + 10 - SWEEP_BATCH, 'one step');
  for (let turn = 1; turn <= 4; turn++) {
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(
      registry.viewers,
      Math.max(10, idle + 10 - (turn + 1) * SWEEP_BATCH),
      `turn ${turn}`,
    );
  }
  assert.deepEqual(
    registry
      .list()
      .map((s) => s.userAgent)
      .sort(),
    Array.from({ length: 10 }, (_, i) => `ua-${i}`).sort(),
  );
});
