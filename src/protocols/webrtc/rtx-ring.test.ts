import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_NACK_BACK,
  MAX_SEQ_SEGMENTS,
  PacketRing,
  RateMeter,
  TokenBucket,
  ViewerSeqMap,
} from './rtx-ring.ts';

const packet = (bytes: number, tag = 0): Buffer => Buffer.alloc(bytes, tag);

test('PacketRing: holds the last packets by stream number, bounded by count and bytes', () => {
  const ring = new PacketRing({ maxPackets: 4, maxBytes: 1000 });
  for (let i = 0; i < 6; i++) ring.push((65534 + i) & 0xffff, packet(100, i), 0);
  assert.equal(ring.count, 4, 'count bound');
  assert.equal(ring.get(65534, 0), null, 'evicted');
  assert.equal(ring.get(65535, 0), null, 'evicted');
  assert.equal(ring.get(0, 0)?.[0], 2, 'across the wrap');
  assert.equal(ring.get(3, 0)?.[0], 5);
  assert.equal(ring.get(4, 0), null, 'not sent yet');
  assert.equal(ring.next, 4);
  assert.equal(ring.bytesFrom(1), 300);
  assert.equal(ring.bytesFrom(65535), null);
  ring.push(4, packet(900, 9), 0);
  assert.equal(ring.bytes, 1000, 'byte bound evicts the oldest');
  assert.equal(ring.count, 2);
  assert.equal(ring.get(2, 0), null);
  assert.equal(ring.get(3, 0)?.[0], 5);
  assert.equal(ring.get(4, 0)?.[0], 9);
});

test('PacketRing: a lookup refuses packets older than its age; a jump in numbers empties it', () => {
  const ring = new PacketRing({ maxPackets: 8, maxBytes: 10_000 });
  ring.push(10, packet(10), 1000);
  ring.push(11, packet(10), 1500);
  assert.equal(ring.get(10, 2100, 1000), null, 'older than a second');
  assert.ok(ring.get(11, 2100, 1000));
  ring.push(20, packet(10), 2200);
  assert.equal(ring.count, 1);
  assert.equal(ring.get(11, 2200), null);
  assert.throws(() => new PacketRing({ maxPackets: 6, maxBytes: 1 }), RangeError);
});

test('PacketRing: whatever is pushed, count and bytes stay within the limits (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ size: fc.integer({ min: 1, max: 1300 }), jump: fc.boolean() }), {
        maxLength: 300,
      }),
      (pushes) => {
        const ring = new PacketRing({ maxPackets: 64, maxBytes: 20_000 });
        let seq = 65_500;
        for (const { size, jump } of pushes) {
          seq = (seq + (jump ? 100 : 1)) & 0xffff;
          ring.push(seq, packet(size), 0);
          assert.ok(ring.count <= 64 && ring.bytes <= 20_000);
          assert.equal(ring.get(seq, 0)?.length, size);
        }
      },
    ),
  );
});

test('ViewerSeqMap: no gap when the viewer skips stream packets; NACKs map back', () => {
  const map = new ViewerSeqMap(65533);
  const sent: [viewer: number, stream: number][] = [];
  const send = (stream: number): void => {
    const viewer = map.seqFor(stream);
    map.sent();
    sent.push([viewer, stream]);
  };
  for (const s of [100, 101, 102]) send(s);
  // The viewer skipped 103..199 (a full send buffer) and resumes on a keyframe at 200.
  for (const s of [200, 201, 202]) send(s);
  assert.deepEqual(
    sent.map(([v]) => v),
    [65533, 65534, 65535, 0, 1, 2],
    'consecutive across the skip and the wrap',
  );
  for (const [viewer, stream] of sent) assert.equal(map.streamSeqOf(viewer), stream);
  assert.equal(map.streamSeqOf(3), null, 'not sent yet');
  assert.equal(map.streamSeqOf(65000), null, 'never sent');
  assert.equal(map.segments, 2);
  // A number asked for but not sent (its send failed) is reused by the next packet.
  assert.equal(map.seqFor(203), 3);
  assert.equal(map.seqFor(300), 3);
  map.sent();
  assert.equal(map.streamSeqOf(3), 300);
  assert.equal(map.segments, 3, 'the unsent segment was replaced, not kept');
});

test('ViewerSeqMap: consecutive numbers; every mapping is right or unknown (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffff }),
      fc.array(fc.record({ take: fc.integer({ min: 1, max: 40 }), skip: fc.nat(300) }), {
        minLength: 1,
        maxLength: 40,
      }),
      (first, streamStart, runs) => {
        const map = new ViewerSeqMap(first);
        const history: [number, number][] = [];
        let stream = streamStart;
        let expected = first;
        for (const { take, skip } of runs) {
          for (let i = 0; i < take; i++) {
            const viewer = map.seqFor(stream);
            assert.equal(viewer, expected);
            map.sent();
            history.push([viewer, stream]);
            expected = (expected + 1) & 0xffff;
            stream = (stream + 1) & 0xffff;
          }
          stream = (stream + skip) & 0xffff;
        }
        assert.ok(map.segments <= MAX_SEQ_SEGMENTS);
        const recent = history.slice(-MAX_NACK_BACK);
        for (const [viewer, streamSeq] of recent) {
          const mapped = map.streamSeqOf(viewer);
          assert.ok(mapped === null || mapped === streamSeq);
        }
        // The newest run is always mapped.
        const last = runs[runs.length - 1]!.take;
        for (const [viewer, streamSeq] of history.slice(-last)) {
          assert.equal(map.streamSeqOf(viewer), streamSeq);
        }
      },
    ),
  );
});

test('TokenBucket: spends what it holds, refills at its rate up to its capacity', () => {
  const bucket = new TokenBucket(1000, 0);
  assert.ok(bucket.take(800, 0, 1000, 1000));
  assert.equal(bucket.take(300, 0, 1000, 1000), false, 'only 200 left');
  assert.ok(bucket.take(300, 100, 1000, 1000), '100 ms at 1000/s refilled 100');
  assert.ok(bucket.take(1000, 60_000, 1000, 1000), 'refilled to the capacity');
  assert.equal(bucket.take(1, 60_000, 1000, 1000), false, 'not beyond it');
});

test('RateMeter: bytes per second over the last full window', () => {
  const meter = new RateMeter(0);
  meter.add(500, 400);
  assert.equal(meter.bytesPerS, 0);
  meter.add(1500, 2000);
  assert.equal(meter.bytesPerS, 1000);
});
