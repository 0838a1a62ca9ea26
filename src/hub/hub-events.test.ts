// Tests of the hub's lifecycle events: their order over a stream's life, and listener isolation.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import type { HubEvent } from './hub-events.ts';
import { StreamHub, type StreamHubOptions } from './stream-hub.ts';
import type { Subscriber } from './subscriber.ts';

const GRACE_MS = 3000;
const options: StreamHubOptions = {
  gopCache: { enabled: true, maxFrames: 100, maxBytes: 100_000, maxDurationMs: 10_000 },
  reconnectGraceMs: GRACE_MS,
  audioMergeMs: 0,
};
const info = { protocol: 'test', remoteAddress: '127.0.0.1' };
const silent = (): Subscriber => ({
  onTracks: () => undefined,
  onFrame: () => undefined,
  onClose: () => undefined,
});

/** Records every event of `hub` as a short string: type, path and the event's figure. */
function record(hub: StreamHub): string[] {
  const seen: string[] = [];
  const describe = (event: HubEvent): string => {
    switch (event.type) {
      case 'subscriber-added':
      case 'subscriber-removed':
        return `${event.type} ${event.stream.path} ${String(event.subscribers)}`;
      case 'published':
      case 'resumed':
        return `${event.type} ${event.stream.path} ${event.publisher.protocol}`;
      case 'unpublished':
        return `${event.type} ${event.stream.path} ${String(event.graceMs)}`;
      case 'ended':
        return `${event.type} ${event.stream.path} ${event.reason}`;
      case 'opened':
        return `${event.type} ${event.stream.path}${event.byRelay ? ' by relay' : ''}`;
      case 'b-frames':
        return `${event.type} ${event.stream.path}`;
    }
  };
  for (const type of [
    'opened',
    'published',
    'unpublished',
    'resumed',
    'ended',
    'subscriber-added',
    'subscriber-removed',
    'b-frames',
  ] as const) {
    hub.events.on(type, (event) => seen.push(describe(event)));
  }
  return seen;
}

test('hub events: a viewer waits, a publisher comes, leaves, another resumes, the last viewer leaves', () => {
  const hub = new StreamHub(options);
  const seen = record(hub);
  const viewer = silent();
  hub.open('live/a').subscribe(viewer);
  const first = hub.publish('live/a', info);
  first.close();
  const second = hub.publish('live/a', { ...info, protocol: 'again' });
  hub.get('live/a')?.unsubscribe(viewer);
  second.close();
  assert.deepEqual(seen, [
    'opened live/a',
    'subscriber-added live/a 1',
    'published live/a test',
    `unpublished live/a ${String(GRACE_MS)}`,
    'resumed live/a again',
    'subscriber-removed live/a 0',
    'ended live/a stream-ended',
  ]);
});

test('hub events: a publisher makes no "opened"; a waiting viewer who leaves ends the stream as not-found', () => {
  const hub = new StreamHub(options);
  const seen = record(hub);
  hub.publish('live/p', info).close();
  const viewer = silent();
  hub.open('live/w').subscribe(viewer);
  hub.get('live/w')?.unsubscribe(viewer);
  assert.deepEqual(seen, [
    'published live/p test',
    'ended live/p stream-ended',
    'opened live/w',
    'subscriber-added live/w 1',
    'subscriber-removed live/w 0',
    'ended live/w not-found',
  ]);
});

test('hub events: the grace period running out ends the stream once', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const hub = new StreamHub(options);
    const seen = record(hub);
    hub.open('live/g').subscribe(silent());
    hub.publish('live/g', info).close();
    mock.timers.tick(GRACE_MS);
    hub.close();
    assert.deepEqual(seen.slice(-2), [
      `unpublished live/g ${String(GRACE_MS)}`,
      'ended live/g stream-ended',
    ]);
  } finally {
    mock.timers.reset();
  }
});

test('hub events: a listener that throws is reported and the others, and the stream, go on', () => {
  const errors: string[] = [];
  const hub = new StreamHub({
    ...options,
    onListenerError: (error, event) => {
      errors.push(`${event.type}: ${(error as Error).message}`);
    },
  });
  hub.events.on('published', () => {
    throw new Error('listener bug');
  });
  let after = 0;
  const stop = hub.events.on('published', () => {
    after++;
  });
  const publication = hub.publish('live/x', info);
  assert.equal(publication.open, true);
  assert.deepEqual(errors, ['published: listener bug']);
  assert.equal(after, 1);
  stop();
  publication.close();
  hub.publish('live/x', info);
  assert.equal(after, 1, 'a stopped listener is not called again');
});

test('hub events: a stand-in publisher (onYield) gives way to a real one, as a resume', () => {
  const hub = new StreamHub(options);
  const seen = record(hub);
  let yielded = 0;
  hub.open('live/y').subscribe(silent());
  const standIn = hub.publish('live/y', {
    protocol: 'relay',
    remoteAddress: '10.0.0.1',
    onYield: () => {
      yielded++;
    },
  });
  const real = hub.publish('live/y', info);
  assert.equal(yielded, 1);
  assert.equal(standIn.open, false, 'the stand-in can no longer write');
  assert.equal(hub.get('live/y')?.publisher, real);
  assert.deepEqual(seen.slice(-2), ['published live/y relay', 'resumed live/y test']);
  // A publisher without onYield keeps its path.
  assert.throws(() => hub.publish('live/y', info), /busy|already/i);
});

test('hub events: B-frames are told once per publisher, and the stream says so until it changes', () => {
  const hub = new StreamHub(options);
  const seen = record(hub);
  const frame = (dts: number, pts: number) => ({
    kind: 'video' as const,
    timescale: 1000,
    dts,
    pts,
    keyframe: false,
    payload: Buffer.alloc(4),
  });
  const first = hub.publish('live/b', info);
  first.write(frame(0, 0));
  assert.equal(hub.get('live/b')?.hasBFrames, false, 'in-order frames are no B-frames');
  first.write(frame(40, 120));
  first.write(frame(80, 80));
  first.write(frame(120, 200));
  assert.equal(hub.get('live/b')?.hasBFrames, true);
  first.close();
  const second = hub.publish('live/b', info);
  assert.equal(hub.get('live/b')?.hasBFrames, false, 'a new publisher starts without');
  second.write(frame(0, 40));
  second.close();
  assert.deepEqual(
    seen.filter((line) => line.startsWith('b-frames')),
    ['b-frames live/b', 'b-frames live/b'],
  );
});
