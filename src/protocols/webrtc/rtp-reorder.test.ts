import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RtpReorderBuffer, type ReorderOutput } from './rtp-reorder.ts';

const LIMITS = { maxPackets: 50, maxDelayMs: 100, maxNacks: 3, nackIntervalMs: 30 };

function seqs(out: ReorderOutput<string>[]): (number | string)[] {
  return out.map((o) => (o.type === 'packet' ? o.sequenceNumber : `lost ${o.count}`));
}

test('in-order packets come out at once', () => {
  const buffer = new RtpReorderBuffer<string>(LIMITS);
  assert.deepEqual(seqs(buffer.push(10, 'a', 0)), [10]);
  assert.deepEqual(seqs(buffer.push(11, 'b', 1)), [11]);
  assert.equal(buffer.size, 0);
});

test('a reordered packet is waited for, then everything comes out in order', () => {
  const buffer = new RtpReorderBuffer<string>(LIMITS);
  buffer.push(1, 'a', 0);
  assert.deepEqual(seqs(buffer.push(3, 'c', 1)), []);
  assert.deepEqual(seqs(buffer.push(4, 'd', 2)), []);
  assert.deepEqual(seqs(buffer.push(2, 'b', 3)), [2, 3, 4]);
  assert.deepEqual(seqs(buffer.push(2, 'b', 4)), [], 'a duplicate is dropped');
  assert.equal(buffer.late, 1);
});

test('a missing packet is given up after maxDelayMs, or when maxPackets are held', () => {
  const buffer = new RtpReorderBuffer<string>(LIMITS);
  buffer.push(1, 'a', 0);
  buffer.push(3, 'c', 10);
  assert.deepEqual(seqs(buffer.poll(109)), []);
  assert.deepEqual(seqs(buffer.poll(110)), ['lost 1', 3]);
  assert.deepEqual(seqs(buffer.push(2, 'b', 111)), [], 'too late');
  const full = new RtpReorderBuffer<string>({ ...LIMITS, maxPackets: 3 });
  full.push(1, 'a', 0);
  for (let seq = 3; seq <= 5; seq++) assert.deepEqual(full.push(seq, 'x', 0), []);
  assert.deepEqual(seqs(full.push(6, 'x', 0)), ['lost 1', 3, 4, 5, 6]);
});

test('sequence numbers wrap from 65535 to 0; a far jump is a new start', () => {
  const buffer = new RtpReorderBuffer<string>(LIMITS);
  buffer.push(65534, 'a', 0);
  assert.deepEqual(seqs(buffer.push(0, 'c', 1)), []);
  assert.deepEqual(seqs(buffer.push(65535, 'b', 2)), [65535, 0]);
  assert.deepEqual(seqs(buffer.push(30000, 'z', 3)), [30000]);
});

test('nacks(): each missing number up to maxNacks times, nackIntervalMs apart', () => {
  const buffer = new RtpReorderBuffer<string>(LIMITS);
  buffer.push(1, 'a', 0);
  buffer.push(4, 'd', 0);
  assert.deepEqual(buffer.nacks(0), [2, 3]);
  assert.deepEqual(buffer.nacks(10), []);
  buffer.push(2, 'b', 20);
  assert.deepEqual(buffer.nacks(30), [3]);
  assert.deepEqual(buffer.nacks(60), [3]);
  assert.deepEqual(buffer.nacks(90), [], 'three NACKs were enough');
});

test('whatever the order and loss, output is in order, without duplicates, and bounded (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 30 })), {
        maxLength: 300,
      }),
      (start, arrivals) => {
        const buffer = new RtpReorderBuffer<number>({ ...LIMITS, maxPackets: 20 });
        const out: ReorderOutput<number>[] = [];
        let now = 0;
        for (const [offset, step] of arrivals) {
          now += step;
          out.push(...buffer.push((start + offset) & 0xffff, offset, now));
          assert.ok(buffer.size <= 20);
        }
        out.push(...buffer.poll(now + 1000));
        const released = out.flatMap((o) => (o.type === 'packet' ? [o.packet] : []));
        for (let i = 1; i < released.length; i++) {
          assert.ok((released[i] ?? 0) > (released[i - 1] ?? 0), 'strictly increasing');
        }
        assert.equal(buffer.size, 0);
      },
    ),
  );
});
