import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry, type SessionSpec } from './session-registry.ts';

function spec(role: SessionSpec['role'], path: string, ip: string, closed: string[]): SessionSpec {
  return {
    role,
    protocol: 'rtmp',
    path,
    ip,
    close: (reason) => {
      closed.push(`${path}:${reason}`);
    },
  };
}

test('SessionRegistry counts viewers per stream and per address, and publishers', () => {
  const registry = new SessionRegistry();
  const closed: string[] = [];
  const a = registry.add(spec('viewer', 'live/a', '10.0.0.1', closed));
  const b = registry.add(spec('viewer', 'live/a', '10.0.0.2', closed));
  const c = registry.add(spec('viewer', 'live/b', '10.0.0.1', closed));
  const p = registry.add(spec('publisher', 'live/a', '10.0.0.9', closed));
  assert.equal(registry.viewers, 3);
  assert.equal(registry.publishers, 1);
  assert.equal(registry.viewersOf('live/a'), 2);
  assert.equal(registry.viewersFrom('10.0.0.1'), 2);
  assert.notEqual(a.id, b.id);
  assert.match(a.id, /^[0-9a-f]{12}$/);
  registry.remove(a);
  registry.remove(a); // idempotent
  registry.remove(p);
  assert.equal(registry.viewers, 2);
  assert.equal(registry.publishers, 0);
  assert.equal(registry.viewersOf('live/a'), 1);
  assert.equal(registry.viewersFrom('10.0.0.1'), 1);
  assert.deepEqual(
    registry.list().map((s) => s.id),
    [b.id, c.id],
  );
});

test('SessionRegistry: connectionless viewers are listed and counted as viewers, but not in the connected counts', () => {
  const registry = new SessionRegistry();
  const closed: string[] = [];
  const flv = registry.add(spec('viewer', 'live/a', '10.0.0.1', closed));
  const hls = [1, 2, 3].map(() =>
    registry.add({ ...spec('viewer', 'live/a', '10.0.0.1', closed), connectionless: true }),
  );
  registry.add({ ...spec('viewer', 'live/b', '10.0.0.2', closed), connectionless: true });
  assert.equal(registry.viewers, 5);
  assert.equal(registry.viewersOf('live/a'), 4);
  assert.equal(registry.viewersFrom('10.0.0.1'), 4);
  assert.equal(registry.list().length, 5);
  assert.equal(registry.connectedViewers, 1);
  assert.equal(registry.connectedViewersOf('live/a'), 1);
  assert.equal(registry.connectedViewersOf('live/b'), 0);
  assert.equal(registry.connectedViewersFrom('10.0.0.1'), 1);
  for (const session of hls) registry.remove(session);
  registry.remove(flv);
  assert.equal(registry.viewers, 1);
  assert.equal(registry.connectedViewers, 0);
  assert.equal(registry.connectedViewersFrom('10.0.0.1'), 0);
});

test('SessionRegistry.kick() and closePublishers() call the sessions close callbacks', () => {
  const registry = new SessionRegistry();
  const closed: string[] = [];
  const viewer = registry.add(spec('viewer', 'live/a', '10.0.0.1', closed));
  registry.add(spec('publisher', 'live/a', '10.0.0.9', closed));
  registry.add(spec('publisher', 'live/b', '10.0.0.9', closed));
  assert.equal(registry.kick(viewer.id, 'bye'), true);
  assert.equal(registry.kick('nope'), false);
  assert.equal(registry.closePublishers('live/a', 'revoked'), 1);
  assert.deepEqual(closed, ['live/a:bye', 'live/a:revoked']);
  assert.equal(registry.get(viewer.id), viewer, "closing is the owner's job; it removes later");
});

test('a slot counts from reserve() on; released, it counts no more; release() twice is once', () => {
  const registry = new SessionRegistry();
  const slot = registry.reserve({ role: 'viewer', path: 'live/a', ip: '10.0.0.1' });
  assert.equal(registry.viewers, 1);
  assert.equal(registry.connectedViewersOf('live/a'), 1);
  assert.equal(registry.connectedViewersFrom('10.0.0.1'), 1);
  assert.equal(registry.list().length, 0, 'a slot is not a session');
  slot.release();
  slot.release();
  assert.equal(registry.viewers, 0);
  assert.equal(registry.connectedViewersOf('live/a'), 0);
  const publisher = registry.reserve({ role: 'publisher', path: 'live/a', ip: '10.0.0.1' });
  assert.equal(registry.publishers, 1);
  publisher.release();
  assert.equal(registry.publishers, 0);
});

test('a session added with its slot takes the room: counted once, and release() after is a no-op', () => {
  const registry = new SessionRegistry();
  const slot = registry.reserve({ role: 'viewer', path: 'live/a', ip: '10.0.0.1' });
  const session = registry.add(spec('viewer', 'live/a', '10.0.0.1', []), slot);
  assert.equal(registry.viewers, 1);
  slot.release();
  assert.equal(registry.viewers, 1, 'the session keeps its room');
  registry.remove(session);
  assert.equal(registry.viewers, 0);
  assert.equal(registry.connectedViewersFrom('10.0.0.1'), 0);
});

test('a connectionless slot counts as a viewer but not toward the connection counts', () => {
  const registry = new SessionRegistry();
  const slot = registry.reserve({
    role: 'viewer',
    path: 'live/a',
    ip: '10.0.0.1',
    connectionless: true,
  });
  assert.equal(registry.viewers, 1);
  assert.equal(registry.connectedViewers, 0);
  slot.release();
  assert.equal(registry.viewers, 0);
});

test('a slot its holder forgets releases itself after two minutes', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const registry = new SessionRegistry();
  const slot = registry.reserve({ role: 'viewer', path: 'live/a', ip: '10.0.0.1' });
  t.mock.timers.tick(119_000);
  assert.equal(registry.viewers, 1);
  t.mock.timers.tick(1_000);
  assert.equal(registry.viewers, 0);
  assert.equal(slot.held, false);
});
