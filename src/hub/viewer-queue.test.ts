// Tests of ViewerQueue: direct writes, queueing on backpressure, the drop-to-keyframe policy, eviction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Packet } from './packet.ts';
import type { CloseReason } from './subscriber.ts';
import { ViewerQueue, type ViewerLimits, type ViewerSink } from './viewer-queue.ts';

/** A sink that records what it gets and accepts bytes while `accepting` is true. */
class FakeSink implements ViewerSink {
  readonly writes: Buffer[] = [];
  readonly closes: CloseReason[] = [];
  accepting = true;

  write(bytes: Buffer): boolean {
    this.writes.push(bytes);
    return this.accepting;
  }

  close(reason: CloseReason): void {
    this.closes.push(reason);
  }
}

/** A clock the test moves by hand. */
class FakeClock {
  nowMs = 0;
  readonly now = (): number => this.nowMs;
}

const roomy: ViewerLimits = {
  maxQueueBytes: 1_000_000,
  maxQueueDurationMs: 60_000,
  maxBehindMs: 60_000,
};

/** Builds a packet of `sizeBytes` bytes; each call gives a distinct Buffer. */
function packet(
  kind: Packet['kind'],
  dtsMs: number,
  options: { keyframe?: boolean; essential?: boolean; sizeBytes?: number } = {},
): Packet {
  return {
    bytes: Buffer.alloc(options.sizeBytes ?? 10, dtsMs & 0xff),
    kind,
    keyframe: options.keyframe ?? false,
    essential: options.essential ?? false,
    dtsMs,
  };
}

const key = (dtsMs: number, sizeBytes = 10): Packet =>
  packet('video', dtsMs, { keyframe: true, sizeBytes });
const inter = (dtsMs: number, sizeBytes = 10): Packet => packet('video', dtsMs, { sizeBytes });
const audio = (dtsMs: number, sizeBytes = 10): Packet => packet('audio', dtsMs, { sizeBytes });
const header = (kind: 'video' | 'audio', dtsMs = 0): Packet =>
  packet(kind, dtsMs, { essential: true });
const metadata = (dtsMs = 0): Packet => packet('data', dtsMs, { essential: true });

/** Pushes every packet in order. */
function pushAll(queue: ViewerQueue, packets: readonly Packet[]): void {
  for (const p of packets) queue.push(p);
}

test('ViewerQueue.push() writes straight to the sink while it accepts', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, roomy);
  const packets = [header('video'), key(0), inter(40), audio(41)];
  pushAll(queue, packets);
  assert.equal(sink.writes.length, 4);
  packets.forEach((p, i) => {
    assert.equal(sink.writes[i], p.bytes);
  });
  assert.equal(queue.depth, 0);
  assert.equal(queue.sentBytes, 40);
  assert.equal(queue.droppedFrames, 0);
});

test('ViewerQueue.push() queues once the sink returns false, and drain() flushes in order', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, roomy);
  const first = key(0);
  sink.accepting = false;
  queue.push(first);
  const later = [inter(40), audio(41), inter(80), audio(82)];
  pushAll(queue, later);
  assert.deepEqual(sink.writes, [first.bytes]);
  assert.equal(queue.depth, 4);

  sink.accepting = true;
  queue.drain();
  assert.equal(queue.depth, 0);
  assert.equal(sink.writes.length, 5);
  later.forEach((p, i) => {
    assert.equal(sink.writes[i + 1], p.bytes);
  });
  // Drained: the next packet goes straight through again.
  const next = inter(120);
  queue.push(next);
  assert.equal(sink.writes.at(-1), next.bytes);
  assert.equal(queue.depth, 0);
});

test('ViewerQueue.drain() stops when the sink pushes back again and keeps the rest queued', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, roomy);
  sink.accepting = false;
  queue.push(key(0));
  const later = [inter(40), inter(80), inter(120)];
  pushAll(queue, later);
  // The sink takes one packet, then asks to wait again.
  queue.drain();
  assert.equal(sink.writes.length, 2);
  assert.equal(sink.writes[1], later[0]?.bytes);
  assert.equal(queue.depth, 2);
  sink.accepting = true;
  queue.drain();
  assert.deepEqual(
    sink.writes.slice(2),
    later.slice(1).map((p) => p.bytes),
  );
});

test('ViewerQueue.push() on byte overflow drops queued media, keeps essential packets, then drops until the next keyframe', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, { ...roomy, maxQueueBytes: 100 });
  const k1 = key(0);
  sink.accepting = false;
  queue.push(k1);
  const codec = header('video', 40);
  pushAll(queue, [inter(40, 40), codec, audio(50, 40)]);
  assert.equal(queue.droppedFrames, 0);
  queue.push(inter(80, 40)); // 130 bytes queued: overflow
  assert.equal(queue.droppedFrames, 3);
  assert.equal(queue.depth, 1);

  // After the gap: P-frames and audio are dropped until a video keyframe.
  const meta = metadata(90);
  pushAll(queue, [inter(120), audio(121), meta, inter(160), audio(161)]);
  assert.equal(queue.droppedFrames, 7);
  const k2 = key(200);
  const after = [audio(201), inter(240)];
  pushAll(queue, [k2, ...after]);
  assert.equal(queue.droppedFrames, 7);

  sink.accepting = true;
  queue.drain();
  assert.deepEqual(sink.writes, [
    k1.bytes,
    codec.bytes,
    meta.bytes,
    k2.bytes,
    ...after.map((p) => p.bytes),
  ]);
  assert.deepEqual(sink.closes, []);
});

test('ViewerQueue.push() on duration overflow drops queued media and waits for the next keyframe', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, { ...roomy, maxQueueDurationMs: 1000 });
  sink.accepting = false;
  queue.push(key(0));
  pushAll(queue, [inter(40), audio(500), inter(1040)]); // 1000 ms queued: at the limit
  assert.equal(queue.droppedFrames, 0);
  assert.equal(queue.depth, 3);
  queue.push(inter(1041)); // 1001 ms queued: overflow
  assert.equal(queue.droppedFrames, 4);
  assert.equal(queue.depth, 0);
  queue.push(inter(1080));
  assert.equal(queue.droppedFrames, 5);
  const k2 = key(1120);
  queue.push(k2);
  sink.accepting = true;
  queue.drain();
  assert.equal(sink.writes.length, 2);
  assert.equal(sink.writes[1], k2.bytes);
});

test('ViewerQueue.push() with video starts the viewer at a video keyframe; earlier frames are not drops', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, roomy);
  const codec = header('video');
  const meta = metadata();
  pushAll(queue, [meta, codec, inter(0), audio(1), inter(40)]);
  assert.deepEqual(sink.writes, [meta.bytes, codec.bytes]);
  assert.equal(queue.droppedFrames, 0);
  const k = key(80);
  const a = audio(81);
  const p = inter(120);
  pushAll(queue, [k, a, p]);
  assert.deepEqual(sink.writes, [meta.bytes, codec.bytes, k.bytes, a.bytes, p.bytes]);
  assert.equal(queue.droppedFrames, 0);
});

test('ViewerQueue.push() with videoless set starts the viewer at any audio frame', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, roomy);
  queue.videoless = true;
  const a = audio(0);
  queue.push(a);
  assert.deepEqual(sink.writes, [a.bytes]);

  const withVideo = new FakeSink();
  const other = new ViewerQueue(withVideo, roomy);
  other.push(audio(0));
  assert.deepEqual(withVideo.writes, []);
});

test('ViewerQueue.push() with videoless set resumes at the next audio frame after an overflow', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, { ...roomy, maxQueueBytes: 25 });
  queue.videoless = true;
  sink.accepting = false;
  queue.push(audio(0));
  pushAll(queue, [audio(20), audio(40), audio(60)]); // 30 bytes queued: overflow
  assert.equal(queue.droppedFrames, 3);
  const next = audio(80);
  queue.push(next);
  sink.accepting = true;
  queue.drain();
  assert.equal(sink.writes.at(-1), next.bytes);
  assert.equal(queue.droppedFrames, 3);
});

/** Makes a blocked queue overflow once more: a keyframe, then enough bytes to pass 100. */
function overflowAgain(queue: ViewerQueue, dtsMs: number): void {
  queue.push(key(dtsMs, 60));
  queue.push(inter(dtsMs + 40, 50));
}

test('ViewerQueue closes a viewer with too-slow once it stays behind longer than maxBehindMs', () => {
  const sink = new FakeSink();
  const clock = new FakeClock();
  const queue = new ViewerQueue(
    sink,
    { ...roomy, maxQueueBytes: 100, maxBehindMs: 5000 },
    clock.now,
  );
  sink.accepting = false;
  clock.nowMs = 1000;
  queue.push(key(0));
  pushAll(queue, [inter(40, 60), inter(80, 60)]); // first overflow at 1000 ms
  assert.equal(queue.droppedFrames, 2);

  clock.nowMs = 6000;
  overflowAgain(queue, 5000); // behind for exactly maxBehindMs: still dropping, not closed
  assert.equal(queue.closed, false);
  assert.deepEqual(sink.closes, []);
  assert.equal(queue.droppedFrames, 4);

  clock.nowMs = 6001;
  overflowAgain(queue, 6000);
  assert.equal(queue.closed, true);
  assert.deepEqual(sink.closes, ['too-slow']);

  const writes = sink.writes.length;
  queue.push(key(7000));
  queue.drain();
  assert.equal(sink.writes.length, writes);
  assert.deepEqual(sink.closes, ['too-slow']);
});

test('ViewerQueue does not close a viewer that caught up and overflows again much later', () => {
  const sink = new FakeSink();
  const clock = new FakeClock();
  const queue = new ViewerQueue(
    sink,
    { ...roomy, maxQueueBytes: 100, maxBehindMs: 5000 },
    clock.now,
  );
  sink.accepting = false;
  queue.push(key(0));
  pushAll(queue, [inter(40, 60), inter(80, 60)]); // overflow at 0 ms
  assert.equal(queue.droppedFrames, 2);

  // The sink drains, the next keyframe goes straight through: the viewer has caught up.
  clock.nowMs = 100;
  sink.accepting = true;
  queue.drain();
  const k2 = key(2000);
  queue.push(k2);
  assert.equal(sink.writes.at(-1), k2.bytes);
  for (let dtsMs = 2040; dtsMs < 60_000; dtsMs += 1000) queue.push(inter(dtsMs));

  // A single hiccup a minute later drops to the next keyframe; it does not evict the viewer.
  clock.nowMs = 60_000;
  sink.accepting = false;
  queue.push(inter(60_000));
  pushAll(queue, [inter(60_040, 60), inter(60_080, 60)]);
  assert.equal(queue.closed, false);
  assert.deepEqual(sink.closes, []);
  assert.equal(queue.droppedFrames, 4);
});

test('ViewerQueue.close() is idempotent: the sink is closed once, later pushes are ignored', () => {
  const sink = new FakeSink();
  const queue = new ViewerQueue(sink, roomy);
  sink.accepting = false;
  queue.push(key(0));
  queue.push(inter(40));
  queue.close('kicked');
  queue.close('stream-ended');
  queue.close('too-slow');
  assert.deepEqual(sink.closes, ['kicked']);
  assert.equal(queue.closed, true);
  assert.equal(queue.depth, 0);
  sink.accepting = true;
  queue.push(key(80));
  queue.drain();
  assert.equal(sink.writes.length, 1);

  // A viewer closed while its sink accepts writes nothing more either.
  const open = new FakeSink();
  const idle = new ViewerQueue(open, roomy);
  idle.push(key(0));
  idle.close('stream-ended');
  idle.push(key(40));
  idle.push(metadata(41));
  assert.equal(open.writes.length, 1);
  assert.equal(idle.sentBytes, 10);
});
