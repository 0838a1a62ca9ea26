// Tests of Stream and StreamHub: one publisher per path, replay to late subscribers, grace and republish, idling.
import { mock, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Frame, FrameInput } from '../media/frame.ts';
import type { Track } from '../media/track.ts';
import { StreamBusyError, StreamNameError } from './hub-errors.ts';
import { SharedOutput } from './shared-output.ts';
import type { Publication } from './stream.ts';
import { StreamHub, type StreamHubOptions } from './stream-hub.ts';
import type { CloseReason, Subscriber } from './subscriber.ts';
import { ViewerQueue, type ViewerSink } from './viewer-queue.ts';

const PATH = 'live/cam1';
const GRACE_MS = 3000;
const options: StreamHubOptions = {
  gopCache: { enabled: true, maxFrames: 1000, maxBytes: 1_000_000, maxDurationMs: 60_000 },
  reconnectGraceMs: GRACE_MS,
  audioMergeMs: 0,
};
const publisherInfo = { protocol: 'test', remoteAddress: '127.0.0.1' };
const h264: Track = { kind: 'video', codec: 'h264', config: Buffer.from([1, 0x64, 0, 0x1f]) };
const h264b: Track = { kind: 'video', codec: 'h264', config: Buffer.from([1, 0x4d, 0, 0x28]) };
const aac: Track = { kind: 'audio', codec: 'aac', config: Buffer.from([0x12, 0x10]) };

type Event =
  | { readonly type: 'tracks'; readonly tracks: readonly Track[] }
  | { readonly type: 'frame'; readonly frame: Frame }
  | { readonly type: 'close'; readonly reason: CloseReason };

/** A subscriber that records every call in order. */
class FakeSubscriber implements Subscriber {
  readonly events: Event[] = [];
  onTracks(tracks: readonly Track[]): void {
    this.events.push({ type: 'tracks', tracks });
  }
  onFrame(frame: Frame): void {
    this.events.push({ type: 'frame', frame });
  }
  onClose(reason: CloseReason): void {
    this.events.push({ type: 'close', reason });
  }
  /** The bodies of the frames received, in order. */
  get bodies(): Buffer[] {
    return this.events.flatMap((e) => (e.type === 'frame' ? [e.frame.payload] : []));
  }
  get frames(): Frame[] {
    return this.events.flatMap((e) => (e.type === 'frame' ? [e.frame] : []));
  }
  get closes(): CloseReason[] {
    return this.events.flatMap((e) => (e.type === 'close' ? [e.reason] : []));
  }
}

/** Builds a publisher message; each call gives a distinct body so frames can be told apart. */
function input(
  kind: FrameInput['kind'],
  timestampMs: number,
  extra: { keyframe?: boolean; track?: Track } = {},
): FrameInput {
  const base = {
    kind,
    timescale: 1000,
    dts: timestampMs,
    pts: timestampMs,
    keyframe: extra.keyframe ?? false,
    payload: Buffer.from(`${kind}@${timestampMs}`),
  };
  return extra.track ? { ...base, track: extra.track } : base;
}

const meta = (ts = 0): FrameInput => input('data', ts);
const videoHeader = (track = h264, ts = 0): FrameInput => input('video', ts, { track });
const audioHeader = (ts = 0): FrameInput => input('audio', ts, { track: aac });
const key = (ts: number): FrameInput => input('video', ts, { keyframe: true });
const inter = (ts: number): FrameInput => input('video', ts);
const audio = (ts: number): FrameInput => input('audio', ts);

/** Writes every message in order. */
function writeAll(publication: Publication, inputs: readonly FrameInput[]): void {
  for (const i of inputs) publication.write(i);
}

/** Mocks setTimeout for this test only. */
function useFakeTimers(t: TestContext): void {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => {
    mock.timers.reset();
  });
}

test('StreamHub.publish() on a live path throws StreamBusyError and the first publication keeps delivering', () => {
  const hub = new StreamHub(options);
  const first = hub.publish(PATH, publisherInfo);
  const sub = new FakeSubscriber();
  hub.get(PATH)?.subscribe(sub);
  writeAll(first, [videoHeader(), key(0)]);
  assert.throws(
    () => hub.publish(PATH, publisherInfo),
    (err: unknown) => err instanceof StreamBusyError && err.code === 'ERR_STREAM_BUSY',
  );
  const later = inter(40);
  first.write(later);
  assert.equal(sub.bodies.at(-1), later.payload);
  assert.equal(hub.get(PATH)?.publisher, first);
  assert.equal(first.open, true);
  hub.close();
});

test('Stream.subscribe() before the publisher: onTracks comes with the first media frame, then metadata, headers and the GOP', () => {
  const hub = new StreamHub(options);
  const sub = new FakeSubscriber();
  hub.open(PATH).subscribe(sub);
  const publication = hub.publish(PATH, publisherInfo);
  const prelude = [meta(), videoHeader(), audioHeader()];
  writeAll(publication, prelude);
  assert.equal(sub.events.length, 0, 'nothing before the first media frame');
  const k = key(0);
  publication.write(k);
  assert.deepEqual(sub.events[0], { type: 'tracks', tracks: [h264, aac] });
  assert.deepEqual(
    sub.bodies,
    [...prelude, k].map((i) => i.payload),
  );
  const p = inter(40);
  publication.write(p);
  assert.equal(sub.bodies.at(-1), p.payload);
  assert.equal(sub.events.filter((e) => e.type === 'tracks').length, 1);
  hub.close();
});

test('Stream.subscribe() before the publisher: with a video track, audio and P-frames before the first keyframe start nothing', () => {
  const hub = new StreamHub(options);
  const sub = new FakeSubscriber();
  hub.open(PATH).subscribe(sub);
  const publication = hub.publish(PATH, publisherInfo);
  const prelude = [videoHeader(), audioHeader()];
  writeAll(publication, [...prelude, audio(0), inter(0), audio(20), audio(1500)]);
  assert.equal(sub.events.length, 0);
  const k = key(1520);
  publication.write(k);
  assert.deepEqual(sub.events[0], { type: 'tracks', tracks: [h264, aac] });
  assert.deepEqual(
    sub.bodies,
    [...prelude, k].map((i) => i.payload),
  );
  hub.close();
});

test('Stream.subscribe() before the publisher: an audio-only stream starts after a second of audio', () => {
  const hub = new StreamHub(options);
  const sub = new FakeSubscriber();
  hub.open(PATH).subscribe(sub);
  const publication = hub.publish(PATH, publisherInfo);
  writeAll(publication, [audioHeader(), audio(0), audio(500), audio(999)]);
  assert.equal(sub.events.length, 0);
  publication.write(audio(1000));
  assert.deepEqual(sub.events[0], { type: 'tracks', tracks: [aac] });
  assert.equal(sub.frames[0]?.sequenceHeader, true);
  assert.ok(sub.frames.length >= 2, 'the header, then audio');
  hub.close();
});

test('Stream.subscribe() during the grace period waits for the next publisher', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const first = hub.publish(PATH, publisherInfo);
  const stream = hub.get(PATH);
  stream?.subscribe(new FakeSubscriber());
  writeAll(first, [videoHeader(), key(0), inter(40)]);
  first.close();
  const late = new FakeSubscriber();
  stream?.subscribe(late);
  assert.equal(late.events.length, 0, 'the old publisher is not replayed');
  const second = hub.publish(PATH, publisherInfo);
  const prelude = [videoHeader(h264b)];
  const k = key(0);
  writeAll(second, [...prelude, k]);
  assert.deepEqual(late.events[0], { type: 'tracks', tracks: [h264b] });
  assert.deepEqual(
    late.bodies,
    [...prelude, k].map((i) => i.payload),
  );
  hub.close();
});

test('Stream.subscribe() mid-stream replays tracks, metadata, headers, then the GOP from the last keyframe', () => {
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  const prelude = [meta(), videoHeader(), audioHeader()];
  const gop = [key(80), audio(81), inter(120)];
  writeAll(publication, [...prelude, audio(0), key(0), inter(40), audio(41), ...gop]);
  const sub = new FakeSubscriber();
  hub.get(PATH)?.subscribe(sub);
  assert.deepEqual(sub.events[0], { type: 'tracks', tracks: [h264, aac] });
  assert.deepEqual(
    sub.bodies,
    [...prelude, ...gop].map((i) => i.payload),
  );
  const p = inter(160);
  publication.write(p);
  assert.equal(sub.bodies.at(-1), p.payload);
  hub.close();
});

test('Stream.subscribe() mid-stream with the GOP cache disabled replays only tracks, metadata and headers', () => {
  const hub = new StreamHub({ ...options, gopCache: { ...options.gopCache, enabled: false } });
  const publication = hub.publish(PATH, publisherInfo);
  const prelude = [meta(), videoHeader()];
  writeAll(publication, [...prelude, key(0), inter(40)]);
  const sub = new FakeSubscriber();
  hub.get(PATH)?.subscribe(sub);
  assert.deepEqual(
    sub.bodies,
    prelude.map((i) => i.payload),
  );
  hub.close();
});

test('Stream: a new sequence header with another config mid-stream sends onTracks before the header', () => {
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  const sub = new FakeSubscriber();
  hub.get(PATH)?.subscribe(sub);
  writeAll(publication, [videoHeader(), key(0)]);
  publication.write(videoHeader(h264, 40)); // the same config again: no new onTracks
  assert.equal(sub.events.filter((e) => e.type === 'tracks').length, 1);
  const changed = videoHeader(h264b, 80);
  publication.write(changed);
  assert.deepEqual(sub.events.slice(-2), [
    { type: 'tracks', tracks: [h264b] },
    { type: 'frame', frame: sub.frames.at(-1) },
  ]);
  assert.equal(sub.bodies.at(-1), changed.payload);
  hub.close();
});

test('Publication.close() puts the stream in grace without closing subscribers', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  const sub = new FakeSubscriber();
  hub.get(PATH)?.subscribe(sub);
  writeAll(publication, [videoHeader(), key(0)]);
  publication.close();
  assert.equal(publication.open, false);
  assert.equal(hub.get(PATH)?.state, 'grace');
  assert.equal(hub.get(PATH)?.publisher, null);
  mock.timers.tick(GRACE_MS - 1);
  assert.deepEqual(sub.closes, []);
  const count = sub.events.length;
  publication.write(inter(40));
  assert.equal(sub.events.length, count, 'a closed publication writes nothing');
  hub.close();
});

test('Stream: the last subscriber leaving during the grace period ends the stream at once', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  const sub = new FakeSubscriber();
  const stream = hub.get(PATH)!;
  stream.subscribe(sub);
  writeAll(publication, [videoHeader(), key(0)]);
  publication.close();
  assert.equal(stream.state, 'grace');
  stream.unsubscribe(sub);
  assert.equal(stream.state, 'ended');
  assert.equal(hub.get(PATH), undefined, 'nothing lingers for the rest of the grace period');
});

test('StreamHub.publish() within the grace period continues the same subscribers on a monotonic timeline', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const first = hub.publish(PATH, publisherInfo);
  const stream = hub.get(PATH);
  const sub = new FakeSubscriber();
  stream?.subscribe(sub);
  writeAll(first, [meta(), videoHeader(), audioHeader(), key(5000), audio(5010), inter(5040)]);
  const lastDtsMs = sub.frames.at(-1)?.dts ?? -1;
  assert.equal(lastDtsMs, 5040);
  first.close();
  mock.timers.tick(GRACE_MS - 1);

  const second = hub.publish(PATH, publisherInfo);
  assert.equal(hub.get(PATH), stream, 'the same Stream continues');
  assert.equal(stream?.state, 'live');
  const eventsBefore = sub.events.length;
  const prelude = [meta(), videoHeader(h264b), audioHeader()];
  const media = [key(0), audio(10), inter(40)];
  writeAll(second, [...prelude, ...media]);
  const after = sub.events.slice(eventsBefore);
  assert.deepEqual(after[0], { type: 'tracks', tracks: [h264b, aac] });
  const newBodies = after.flatMap((e) => (e.type === 'frame' ? [e.frame.payload] : []));
  assert.deepEqual(
    newBodies,
    [...prelude, ...media].map((i) => i.payload),
  );

  const dts = sub.frames.map((f) => f.dts);
  for (let i = 1; i < dts.length; i++) assert.ok(dts[i]! >= dts[i - 1]!, `dts ${dts.join(',')}`);
  const newDts = sub.frames.slice(-media.length).map((f) => f.dts);
  assert.ok(newDts[0]! > lastDtsMs, `new frames start after ${lastDtsMs}: ${newDts.join(',')}`);
  assert.deepEqual(
    newDts.map((d) => d - newDts[0]!),
    [0, 10, 40],
  );

  // The first grace timer was cancelled.
  mock.timers.tick(GRACE_MS * 10);
  assert.deepEqual(sub.closes, []);
  assert.equal(hub.get(PATH), stream);
  hub.close();
});

test("PublisherInfo.timelineOf: a republished track of the same encoder moves on by its source stream's offset, not its own", (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const RENDITION = `${PATH}_360p`;
  const publishBoth = (): [Publication, Publication] => {
    const main = hub.publish(PATH, publisherInfo);
    const source = hub.get(PATH);
    assert.ok(source);
    return [main, hub.publish(RENDITION, { ...publisherInfo, timelineOf: source })];
  };
  const [main1, low1] = publishBoth();
  const mainSub = new FakeSubscriber();
  const lowSub = new FakeSubscriber();
  hub.get(PATH)?.subscribe(mainSub);
  hub.get(RENDITION)?.subscribe(lowSub);
  // Track 0 ends later than track 1 (its audio), so their own offsets would differ.
  writeAll(main1, [videoHeader(), audioHeader(), key(5000), inter(5040), audio(5090)]);
  writeAll(low1, [videoHeader(h264b), key(5000), inter(5040)]);
  main1.close();
  low1.close();
  mock.timers.tick(GRACE_MS - 1);
  const [main2, low2] = publishBoth();
  writeAll(main2, [videoHeader(), audioHeader(), key(0), inter(40)]);
  writeAll(low2, [videoHeader(h264b), key(0), inter(40)]);
  const last = (sub: FakeSubscriber): number[] => sub.frames.slice(-2).map((f) => f.dts);
  assert.ok(last(mainSub)[0]! > 5090, `track 0 moved on: ${last(mainSub).join(',')}`);
  assert.deepEqual(last(lowSub), last(mainSub), "track 1 has track 0's timestamps");
  hub.close();
});

test('Stream: after the grace period with no publisher, subscribers get stream-ended and the path is gone', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  const stream = hub.get(PATH);
  const subs = [new FakeSubscriber(), new FakeSubscriber()];
  for (const sub of subs) stream?.subscribe(sub);
  writeAll(publication, [videoHeader(), key(0)]);
  publication.close();
  mock.timers.tick(GRACE_MS - 1);
  assert.notEqual(hub.get(PATH), undefined);
  mock.timers.tick(1);
  for (const sub of subs) assert.deepEqual(sub.closes, ['stream-ended']);
  assert.equal(hub.get(PATH), undefined);
  assert.equal(stream?.state, 'ended');
  assert.deepEqual([...hub.streams()], []);
});

test('Publication.close() with no subscribers ends the stream at once', () => {
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  writeAll(publication, [videoHeader(), key(0)]);
  publication.close();
  assert.equal(hub.get(PATH), undefined);
});

test('StreamHub.get() never creates a stream', () => {
  const hub = new StreamHub(options);
  assert.equal(hub.get(PATH), undefined);
  assert.equal(hub.get(PATH), undefined);
  assert.equal(hub.get('../etc/passwd'), undefined);
  assert.deepEqual([...hub.streams()], []);
});

test('Stream.unsubscribe() of the last subscriber makes an idle stream (opened by a viewer) disappear', () => {
  const hub = new StreamHub(options);
  const stream = hub.open(PATH);
  assert.equal(stream.state, 'idle');
  const [a, b] = [new FakeSubscriber(), new FakeSubscriber()];
  stream.subscribe(a);
  stream.subscribe(b);
  stream.unsubscribe(a);
  assert.equal(hub.get(PATH), stream);
  stream.unsubscribe(b);
  assert.equal(hub.get(PATH), undefined);
  assert.notEqual(hub.open(PATH), stream, 'a later open makes a fresh stream');
});

test('StreamHub.close() ends every stream with server-shutdown', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const live = new FakeSubscriber();
  const waiting = new FakeSubscriber();
  const inGrace = new FakeSubscriber();
  const publication = hub.publish('live/a', publisherInfo);
  hub.get('live/a')?.subscribe(live);
  writeAll(publication, [videoHeader(), key(0)]);
  hub.open('live/b').subscribe(waiting);
  const leaving = hub.publish('live/c', publisherInfo);
  hub.get('live/c')?.subscribe(inGrace);
  leaving.close();

  hub.close();
  for (const sub of [live, waiting, inGrace]) assert.deepEqual(sub.closes, ['server-shutdown']);
  assert.deepEqual([...hub.streams()], []);
  assert.equal(publication.open, false);
  mock.timers.tick(GRACE_MS * 2);
  assert.deepEqual(inGrace.closes, ['server-shutdown']);
  assert.throws(() => hub.open('live/d'), StreamNameError);
});

test('StreamHub.publish() and open() throw StreamNameError for refused paths and create nothing', () => {
  const hub = new StreamHub(options);
  for (const path of ['', 'cam1', '../x', 'live//x', '/live/x', 'live/a b', 'live/x?y']) {
    for (const call of [() => hub.publish(path, publisherInfo), () => hub.open(path)]) {
      assert.throws(
        call,
        (err: unknown) => err instanceof StreamNameError && err.code === 'ERR_STREAM_NAME',
        JSON.stringify(path),
      );
    }
  }
  assert.deepEqual([...hub.streams()], []);
});

/** A ViewerSink that only records closes. */
const quietSink = (): ViewerSink & { closes: CloseReason[] } => {
  const closes: CloseReason[] = [];
  return { closes, write: () => true, close: (reason) => closes.push(reason) };
};

test('Stream.output() gives the same SharedOutput per key, and a new one after it went idle', () => {
  const hub = new StreamHub(options);
  const publication = hub.publish(PATH, publisherInfo);
  const stream = hub.get(PATH)!;
  let encoded = 0;
  const encode = (frame: Frame): Buffer => {
    encoded++;
    return frame.payload;
  };
  const flv = stream.output('flv', encode);
  assert.ok(flv instanceof SharedOutput);
  assert.equal(stream.output('flv', encode), flv);
  assert.notEqual(stream.output('rtmp', encode), flv);
  assert.equal(stream.subscriberCount, 2);

  const viewer = new ViewerQueue(quietSink(), {
    maxQueueBytes: 1_000_000,
    maxQueueDurationMs: 60_000,
    maxBehindMs: 60_000,
  });
  flv.addViewer(viewer, { start: () => {}, waitMs: 5000 });
  writeAll(publication, [videoHeader(), key(0)]);
  assert.equal(encoded, 4, 'each output encodes each frame once');
  flv.removeViewer(viewer);
  assert.equal(stream.subscriberCount, 1, 'the idle output unsubscribed');
  const again = stream.output('flv', encode);
  assert.notEqual(again, flv);
  assert.equal(again.ready, true, 'the new output got the stream replayed');
  hub.close();
});

test('Stream.output() on a stream opened by a viewer: no publisher within waitMs closes it not-found and the path is gone', (t) => {
  useFakeTimers(t);
  const hub = new StreamHub(options);
  const sink = quietSink();
  const viewer = new ViewerQueue(sink, {
    maxQueueBytes: 1_000_000,
    maxQueueDurationMs: 60_000,
    maxBehindMs: 60_000,
  });
  hub
    .open(PATH)
    .output('flv', (f) => f.payload)
    .addViewer(viewer, { start: () => {}, waitMs: 2000 });
  assert.notEqual(hub.get(PATH), undefined);
  mock.timers.tick(2000);
  assert.deepEqual(sink.closes, ['not-found']);
  assert.equal(hub.get(PATH), undefined);
});
