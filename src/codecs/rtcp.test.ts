import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isRtcp } from './rtp.ts';
import {
  MAX_NACK_ENTRIES,
  ReceptionStats,
  encodeFir,
  encodeNack,
  encodePli,
  encodeReceiverReport,
  nackEntries,
  parseNack,
  parseRtcpFeedback,
  parseSenderReport,
} from './rtcp.ts';

test('encodePli(): 12 bytes, PT 206 FMT 1, length 2, both SSRCs', () => {
  const pli = encodePli(0x01020304, 0xaabbccdd);
  assert.equal(pli.toString('hex'), '81ce000201020304aabbccdd');
  assert.ok(isRtcp(pli));
});

test('encodeNack(): one entry per run of 17, BLP bits for the following ones', () => {
  const nack = encodeNack(1, 2, [100, 101, 103, 116, 117]);
  assert.ok(nack);
  // 100 + bits for 101 (bit 0), 103 (bit 2), 116 (bit 15); 117 starts a second entry.
  assert.equal(
    nack.toString('hex'),
    '81cd0004' + '00000001' + '00000002' + '00648005' + '00750000',
  );
  assert.ok(isRtcp(nack));
  assert.equal(encodeNack(1, 2, []), null);
});

test('nackEntries(): wraps from 65535 to 0 and caps the entries', () => {
  assert.deepEqual(nackEntries([65535, 0, 1]), [{ pid: 65535, blp: 0b11 }]);
  const many = Array.from({ length: 5000 }, (_, i) => i * 20);
  assert.equal(nackEntries(many).length, MAX_NACK_ENTRIES);
});

test('parseNack(encodeNack(seqs)) names the same numbers (property)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 65535 }),
      fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 60 }),
      (start, offsets) => {
        const seqs = offsets.sort((a, b) => a - b).map((o) => (start + o) & 0xffff);
        const nack = encodeNack(7, 9, seqs);
        if (seqs.length === 0) return nack === null;
        const parsed = parseNack(nack!);
        assert.ok(parsed);
        assert.equal(parsed.mediaSsrc, 9);
        assert.deepEqual(parsed.sequenceNumbers, seqs);
        return true;
      },
    ),
  );
});

test('encodeReceiverReport(): PT 201, one block, the fields in place', () => {
  const rr = encodeReceiverReport(1, {
    ssrc: 2,
    fractionLost: 64,
    cumulativeLost: -1,
    extendedHighestSequence: 0x10005,
    jitter: 12.4,
    lastSr: 0xaabbccdd,
    delaySinceLastSr: 65536,
  });
  assert.equal(
    rr.toString('hex'),
    '81c90007' +
      '00000001' +
      '00000002' +
      '40ffffff' +
      '00010005' +
      '0000000c' +
      'aabbccdd' +
      '00010000',
  );
  assert.ok(isRtcp(rr));
});

test('parseSenderReport(): the SSRC and the middle of the NTP time', () => {
  const sr = Buffer.from('80c80006701c23b3eebbe1b26f7cfe58' + '0'.repeat(24), 'hex');
  assert.deepEqual(parseSenderReport(sr), { ssrc: 0x701c23b3, ntpMiddle: 0xe1b26f7c });
  assert.equal(parseSenderReport(encodePli(1, 2)), null);
});

test('ReceptionStats: loss, the highest number across a wrap, jitter and the SR delay', () => {
  const stats = new ReceptionStats(90_000);
  for (const seq of [65533, 65534, 0, 1]) stats.packet(seq, 1000, 0); // 65535 lost
  stats.senderReport(0x12345678, 500);
  const block = stats.report(9, 1500);
  assert.ok(block);
  assert.equal(block.cumulativeLost, 1);
  assert.equal(block.fractionLost, Math.floor(256 / 5));
  assert.equal(block.extendedHighestSequence, 0x10001);
  assert.equal(block.lastSr, 0x12345678);
  assert.equal(block.delaySinceLastSr, 65536);
  assert.equal(stats.report(9, 1600)?.fractionLost, 0, 'nothing lost since the last report');
  const jittery = new ReceptionStats(1000);
  jittery.packet(1, 0, 0);
  jittery.packet(2, 10, 26); // 16 ticks late
  assert.equal(jittery.report(1, 30)?.jitter, 1);
});

const RR = encodeReceiverReport(1, {
  ssrc: 2,
  fractionLost: 0,
  cumulativeLost: 0,
  extendedHighestSequence: 10,
  jitter: 0,
  lastSr: 0,
  delaySinceLastSr: 0,
});

test("parseRtcpFeedback(): a compound RR + NACK, RR + PLI, RR + FIR (Chromium's shapes)", () => {
  const nack = encodeNack(1, 2, [100, 101, 103])!;
  assert.deepEqual(parseRtcpFeedback(Buffer.concat([RR, nack])), {
    nacks: [{ mediaSsrc: 2, sequenceNumbers: [100, 101, 103] }],
    pli: [],
    fir: [],
  });
  assert.deepEqual(parseRtcpFeedback(Buffer.concat([RR, encodePli(1, 2)])), {
    nacks: [],
    pli: [2],
    fir: [],
  });
  const fir = encodeFir(1, 0xaabbccdd, 7);
  assert.equal(fir.toString('hex'), '84ce000400000001' + '00000000' + 'aabbccdd07000000');
  assert.deepEqual(parseRtcpFeedback(Buffer.concat([RR, fir])), {
    nacks: [],
    pli: [],
    fir: [0xaabbccdd],
  });
  // Reduced-size (RFC 5506): a feedback message alone; a bare RR asks nothing.
  assert.deepEqual(parseRtcpFeedback(encodePli(1, 2))?.pli, [2]);
  assert.deepEqual(parseRtcpFeedback(RR), { nacks: [], pli: [], fir: [] });
});

test('parseRtcpFeedback(): malformed input is null, never a throw (property)', () => {
  const good = Buffer.concat([RR, encodeNack(1, 2, [5])!, encodePli(1, 2)]);
  assert.equal(parseRtcpFeedback(good.subarray(0, good.length - 4)), null, 'cut short');
  assert.equal(parseRtcpFeedback(Buffer.concat([good, Buffer.from([0x80])])), null, 'left over');
  const badVersion = Buffer.from(good);
  badVersion[RR.length] = 0x41;
  assert.equal(parseRtcpFeedback(badVersion), null);
  const shortFir = Buffer.from('84ce000200000001' + '00000000', 'hex');
  assert.equal(parseRtcpFeedback(shortFir), null);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(good.length), (bytes, cut) => {
      const mixed = Buffer.concat([good.subarray(0, cut), Buffer.from(bytes)]);
      const parsed = parseRtcpFeedback(mixed);
      return parsed === null || Array.isArray(parsed.nacks);
    }),
  );
});
