import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry, type Session, type SessionEnd } from '../../hub/session-registry.ts';
import { HlsSessions } from './hls-sessions.ts';

test('HlsSessions: one session per address + user agent + stream, ended when idle', () => {
  let nowMs = 0;
  const registry = new SessionRegistry();
  const ended: [Session, SessionEnd][] = [];
  registry.subscribe({ removed: (session, end) => ended.push([session, end]) });
  const viewers = new HlsSessions(registry, () => nowMs);
  const promised = viewers.idOf('live/a', '10.0.0.1', 'player');
  assert.equal(viewers.touch('live/a', '10.0.0.1', 'player', 100), true);
  assert.equal(viewers.touch('live/a', '10.0.0.1', 'player', 50), true);
  assert.equal(viewers.touch('live/a', '10.0.0.1', 'other player', 10), true);
  assert.equal(viewers.touch('live/b', '10.0.0.1', 'player', 10), true);
  assert.equal(registry.viewers, 3);
  const [first] = registry.list();
  assert.equal(first?.id, promised, 'the id given to on_play is the session id');
  assert.equal(first.protocol, 'hls');
  assert.equal(first.bytes?.(), 150);
  assert.equal(viewers.idOf('live/a', '10.0.0.1', 'player'), promised);
  nowMs = 10_000;
  viewers.touch('live/b', '10.0.0.1', 'player', 10);
  nowMs = 16_000;
  viewers.sweep();
  assert.equal(registry.viewers, 1, 'the two idle ones left; live/b asked 6 s ago');
  assert.deepEqual(
    ended.map(([session, end]) => [session.path, session.userAgent, end.reason, end.bytes]),
    [
      ['live/a', 'player', 'left', 150],
      ['live/a', 'other player', 'left', 10],
    ],
  );
  viewers.close();
  assert.equal(registry.viewers, 0);
});

test('HlsSessions: a kicked viewer is refused for a minute, then starts a new session', () => {
  let nowMs = 0;
  const registry = new SessionRegistry();
  const viewers = new HlsSessions(registry, () => nowMs);
  viewers.touch('live/a', '10.0.0.1', 'player', 1);
  const [session] = registry.list();
  assert.ok(session);
  assert.equal(registry.kick(session.id), true);
  assert.equal(registry.viewers, 0);
  assert.equal(viewers.touch('live/a', '10.0.0.1', 'player', 1), false);
  assert.equal(viewers.touch('live/a', '10.0.0.2', 'player', 1), true, 'another viewer is fine');
  nowMs = 61_000;
  assert.equal(viewers.touch('live/a', '10.0.0.1', 'player', 1), true);
  assert.equal(registry.viewers, 2);
  viewers.close();
});
