import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { HlsWaiters } from './hls-waiters.ts';

/** One fake held request: how often it was answered, and a way to make it ready or abort it. */
interface FakeRequest {
  readonly ip: string;
  answers: number;
  isReady: boolean;
  readonly abort: () => void;
  readonly add: (waiters: HlsWaiters) => 'total' | 'per-ip' | null;
}

function fakeRequest(ip: string, timeoutMs = 1000): FakeRequest {
  const socket = new EventEmitter();
  const request: FakeRequest = {
    ip,
    answers: 0,
    isReady: false,
    abort: () => socket.emit('close'),
    add: (waiters) =>
      waiters.add({
        ip,
        timeoutMs,
        ready: () => request.isReady,
        respond: () => {
          request.answers++;
        },
        onAbort: (listener) => socket.once('close', listener),
      }),
  };
  return request;
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout'] });
});

afterEach(() => {
  mock.timers.reset();
});

test('HlsWaiters.add() refuses with "total" once the total cap is reached', () => {
  const waiters = new HlsWaiters({ maxHeld: 3, maxHeldPerIp: 10 });
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
    assert.equal(fakeRequest(ip).add(waiters), null);
  }
  assert.equal(waiters.size, 3);
  assert.equal(fakeRequest('10.0.0.4').add(waiters), 'total');
  assert.equal(waiters.size, 3);
});

test('HlsWaiters.add() refuses with "per-ip" beyond the per-IP cap, other IPs still held', () => {
  const waiters = new HlsWaiters({ maxHeld: 100, maxHeldPerIp: 2 });
  assert.equal(fakeRequest('10.0.0.1').add(waiters), null);
  assert.equal(fakeRequest('10.0.0.1').add(waiters), null);
  const refused = fakeRequest('10.0.0.1');
  assert.equal(refused.add(waiters), 'per-ip');
  assert.equal(fakeRequest('10.0.0.2').add(waiters), null);
  assert.equal(waiters.size, 3);
  // A refused request is not held: no deadline answers it.
  mock.timers.tick(5000);
  assert.equal(refused.answers, 0);
});

test('HlsWaiters.check() answers only the requests that are ready, each once', () => {
  const waiters = new HlsWaiters({ maxHeld: 10, maxHeldPerIp: 10 });
  const requests = [0, 1, 2, 3].map(() => fakeRequest('10.0.0.1'));
  for (const request of requests) assert.equal(request.add(waiters), null);
  requests[1]!.isReady = true;
  requests[3]!.isReady = true;
  waiters.check();
  assert.deepEqual(
    requests.map((r) => r.answers),
    [0, 1, 0, 1],
  );
  assert.equal(waiters.size, 2);
  waiters.check();
  assert.deepEqual(
    requests.map((r) => r.answers),
    [0, 1, 0, 1],
  );
  // The answered ones no longer count against the per-IP cap, nor fire at their deadline.
  mock.timers.tick(1000);
  assert.deepEqual(
    requests.map((r) => r.answers),
    [1, 1, 1, 1],
  );
  assert.equal(waiters.size, 0);
});

test('HlsWaiters answers a request at its deadline, once, even when never ready', () => {
  const waiters = new HlsWaiters({ maxHeld: 10, maxHeldPerIp: 10 });
  const request = fakeRequest('10.0.0.1', 3000);
  request.add(waiters);
  mock.timers.tick(2999);
  assert.equal(request.answers, 0);
  mock.timers.tick(1);
  assert.equal(request.answers, 1);
  assert.equal(waiters.size, 0);
  request.isReady = true;
  waiters.check();
  mock.timers.tick(10_000);
  waiters.closeAll();
  assert.equal(request.answers, 1);
});

test('HlsWaiters never answers an aborted request and frees its slot', () => {
  const waiters = new HlsWaiters({ maxHeld: 2, maxHeldPerIp: 1 });
  const aborted = fakeRequest('10.0.0.1');
  assert.equal(aborted.add(waiters), null);
  assert.equal(fakeRequest('10.0.0.1').add(waiters), 'per-ip');
  aborted.abort();
  assert.equal(waiters.size, 0);
  // Its per-IP slot and its total slot are free again.
  const next = fakeRequest('10.0.0.1');
  assert.equal(next.add(waiters), null);
  assert.equal(fakeRequest('10.0.0.2').add(waiters), null);
  aborted.isReady = true;
  waiters.check();
  mock.timers.tick(10_000);
  waiters.closeAll();
  aborted.abort();
  assert.equal(aborted.answers, 0);
  assert.equal(next.answers, 1);
});

test('HlsWaiters frees a slot once when an answered request later closes its connection', () => {
  const waiters = new HlsWaiters({ maxHeld: 10, maxHeldPerIp: 2 });
  const answered = fakeRequest('10.0.0.1');
  answered.add(waiters);
  fakeRequest('10.0.0.1').add(waiters);
  answered.isReady = true;
  waiters.check();
  answered.abort(); // the response ended: 'close' fires on every response
  assert.equal(fakeRequest('10.0.0.1').add(waiters), null);
  assert.equal(fakeRequest('10.0.0.1').add(waiters), 'per-ip');
  assert.equal(waiters.size, 2);
});

test('HlsWaiters.closeAll() answers every held request once, then nothing fires', () => {
  const waiters = new HlsWaiters({ maxHeld: 10, maxHeldPerIp: 10 });
  const requests = ['10.0.0.1', '10.0.0.1', '10.0.0.2'].map((ip) => fakeRequest(ip));
  for (const request of requests) request.add(waiters);
  waiters.closeAll();
  assert.deepEqual(
    requests.map((r) => r.answers),
    [1, 1, 1],
  );
  assert.equal(waiters.size, 0);
  for (const request of requests) {
    request.isReady = true;
    request.abort();
  }
  waiters.check();
  waiters.closeAll();
  mock.timers.tick(10_000);
  assert.deepEqual(
    requests.map((r) => r.answers),
    [1, 1, 1],
  );
});
