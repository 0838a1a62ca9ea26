import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  H264Depacketizer,
  avccOf,
  h264RtpPayloads,
  hasParameterSets,
  nalUnitsOfAvcc,
} from './rtp-h264.ts';

const SPS = Buffer.from('6764000dacd94141fb0110', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const LIMITS = { maxAccessUnitBytes: 1 << 20, maxUnits: 64 };

/** A NAL unit of `type` (nal_ref_idc 3) with `size` bytes in all. */
function nal(type: number, size: number, fill = 0x11): Buffer {
  const unit = Buffer.alloc(size, fill);
  unit[0] = 0x60 | type;
  return unit;
}

const nalArb = fc
  .tuple(fc.constantFrom(1, 5, 6), fc.uint8Array({ minLength: 0, maxLength: 4000 }))
  .map(([type, body]) => Buffer.concat([Buffer.from([0x60 | type]), Buffer.from(body)]));

test('nalUnitsOfAvcc() and avccOf() are inverse; a truncated tail is dropped', () => {
  const units = [nal(5, 30), nal(1, 3)];
  assert.deepEqual(nalUnitsOfAvcc(avccOf(units), 4), units);
  const cut = avccOf(units).subarray(0, 40);
  assert.deepEqual(nalUnitsOfAvcc(cut, 4), [units[0]]);
  const twoByte = Buffer.from([0, 3, 0x65, 1, 2]);
  assert.deepEqual(nalUnitsOfAvcc(twoByte, 2), [Buffer.from([0x65, 1, 2])]);
});

test('h264RtpPayloads(): small units alone, large ones in FU-A within the size, SPS/PPS in a STAP-A before a keyframe', () => {
  const payloads = h264RtpPayloads([nal(9, 2), nal(5, 3000), nal(1, 100)], [SPS, PPS], true, 1200);
  assert.equal(payloads[0]?.[0], 0x60 | 24, 'STAP-A, NRI of the parameter sets');
  const fus = payloads.slice(1, -1);
  assert.equal(fus.length, 3, '3000 bytes in 1198-byte fragments');
  assert.ok(payloads.every((p) => p.length <= 1200));
  assert.deepEqual(
    fus.map((p) => p[1]! & 0xc0),
    [0x80, 0, 0x40],
    'start, middle, end bits',
  );
  assert.equal(payloads.at(-1)?.length, 100, 'the last unit alone; the AUD left out');
  const inter = h264RtpPayloads([nal(1, 50)], [SPS, PPS], false, 1200);
  assert.equal(inter.length, 1, 'no parameter sets before an inter frame');
  const own = h264RtpPayloads([SPS, PPS, nal(5, 50)], [SPS, PPS], true, 1200);
  assert.equal(own.length, 3, 'a keyframe with its own SPS gets no extra ones');
});

test('packetized then depacketized, any access units come back unit for unit', () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(nalArb, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 3, max: 1400 }),
      (accessUnits, mtu) => {
        const depacketizer = new H264Depacketizer(LIMITS);
        const got: Buffer[][] = [];
        accessUnits.forEach((units, i) => {
          const payloads = h264RtpPayloads(units, [SPS, PPS], false, mtu);
          payloads.forEach((payload, j) => {
            for (const done of depacketizer.push(payload, i * 3000, j === payloads.length - 1)) {
              got.push([...done.units]);
            }
          });
        });
        assert.deepEqual(got, accessUnits);
        assert.deepEqual(depacketizer.takeDrops(), []);
      },
    ),
  );
});

test('H264Depacketizer: a STAP-A is split, a keyframe is flagged, a new timestamp ends an access unit', () => {
  const depacketizer = new H264Depacketizer(LIMITS);
  const [stap] = h264RtpPayloads([nal(5, 10)], [SPS, PPS], true, 1200);
  assert.deepEqual(depacketizer.push(stap!, 100, false), []);
  assert.deepEqual(depacketizer.push(nal(5, 10), 100, false), [], 'no marker yet');
  const [au] = depacketizer.push(nal(1, 10), 200, true).slice(0, 1);
  assert.ok(au);
  assert.equal(au.timestamp, 100);
  assert.equal(au.keyframe, true);
  assert.ok(hasParameterSets(au.units));
  assert.equal(au.units.length, 3);
});

test('H264Depacketizer: a lost fragment drops only that NAL unit; hostile payloads are counted, never thrown', () => {
  const depacketizer = new H264Depacketizer(LIMITS);
  const fragments = h264RtpPayloads([nal(5, 3000)], [], false, 1000);
  depacketizer.push(fragments[0]!, 0, false);
  depacketizer.lost(); // the middle one never came
  const rest = depacketizer.push(fragments[2]!, 0, false);
  assert.deepEqual(rest, []);
  const [au] = depacketizer.push(nal(1, 20), 0, true);
  assert.deepEqual(au?.units, [nal(1, 20)]);
  assert.deepEqual(depacketizer.takeDrops(), ['fragment-lost', 'fragment-lost']);
  const hostile = [
    Buffer.alloc(0),
    Buffer.from([0x80 | 1]), // forbidden bit
    Buffer.from([24, 0, 9, 1]), // STAP-A size past the end
    Buffer.from([28, 0x85]), // FU-A with no data
    Buffer.from([25, 1, 2]), // STAP-B
  ];
  for (const payload of hostile) assert.deepEqual(depacketizer.push(payload, 9, true), []);
  assert.deepEqual(depacketizer.takeDrops(), [
    'malformed',
    'malformed',
    'malformed',
    'malformed',
    'unsupported',
  ]);
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 30 }), (payloads) => {
      const d = new H264Depacketizer({ maxAccessUnitBytes: 256, maxUnits: 4 });
      for (const p of payloads) {
        for (const done of d.push(Buffer.from(p), 1, p.length % 2 === 0)) {
          assert.ok(done.units.length <= 4);
          assert.ok(done.units.reduce((sum, u) => sum + u.length, 0) <= 256);
        }
      }
    }),
  );
});

test('H264Depacketizer: an access unit over its bounds is dropped whole', () => {
  const depacketizer = new H264Depacketizer({ maxAccessUnitBytes: 2000, maxUnits: 2 });
  for (const payload of h264RtpPayloads([nal(5, 3000)], [], false, 1000)) {
    assert.deepEqual(depacketizer.push(payload, 0, false), []);
  }
  assert.deepEqual(depacketizer.push(nal(1, 10), 0, true), []);
  const units = [nal(1, 5), nal(1, 5), nal(1, 5)];
  units.forEach((unit, i) => depacketizer.push(unit, 1, i === 2));
  assert.deepEqual(depacketizer.takeDrops(), ['too-large', 'too-large']);
  const [au] = depacketizer.push(nal(1, 10), 2, true);
  assert.equal(au?.units.length, 1, 'the next one is fine');
});
