import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_PMT_STREAMS,
  TS_PACKET_SIZE,
  TS_SYNC_BYTE,
  crc32Mpeg2,
  decodePesHeader,
  decodeTsPacket,
  encodePat,
  encodePes,
  encodePmt,
  wrapTimestamp,
} from './mpegts.ts';
import type { PesOptions, TsPacket } from './mpegts.ts';

/** The first two packets of `ffmpeg -f lavfi -i testsrc2 -f lavfi -i sine -c:v libx264 -c:a aac -f mpegts` (after its SDT). */
const FFMPEG_PAT = Buffer.from('474000100000b00d0001c100000001f0002ab104b2', 'hex');
const FFMPEG_PMT = Buffer.from(
  '475000100002b0170001c10000e100f0001be100f0000fe101f0002f44b99b',
  'hex',
);

/** A full 188-byte packet: `head` then 0xFF stuffing. */
function stuffed(head: Buffer): Buffer {
  return Buffer.concat([head, Buffer.alloc(TS_PACKET_SIZE - head.length, 0xff)]);
}

/** Splits `buf` into packets and decodes each; fails the test on a malformed packet. */
function packetsOf(buf: Buffer): TsPacket[] {
  assert.equal(buf.length % TS_PACKET_SIZE, 0, 'whole packets');
  const out: TsPacket[] = [];
  for (let at = 0; at < buf.length; at += TS_PACKET_SIZE) {
    const packet = decodeTsPacket(buf.subarray(at, at + TS_PACKET_SIZE));
    assert.ok(packet, `packet at ${at} decodes`);
    out.push(packet);
  }
  return out;
}

/** Encodes one PES and checks the TS-level invariants; returns the packets and the PES bytes. */
function roundTrip(options: PesOptions): { packets: TsPacket[]; pes: Buffer; cc: number } {
  const result = encodePes(options);
  const packets = packetsOf(result.packets);
  packets.forEach((p, i) => {
    assert.equal(p.pid, options.pid);
    assert.equal(p.payloadUnitStart, i === 0, `PUSI only on packet 0 (packet ${i})`);
    assert.equal(p.cc, (options.cc + i) & 0x0f, `cc of packet ${i}`);
    assert.ok(p.payload.length > 0, 'every packet carries payload');
  });
  return { packets, pes: Buffer.concat(packets.map((p) => p.payload)), cc: result.cc };
}

test('crc32Mpeg2() gives the CRC-32/MPEG-2 check value and the CRC of an ffmpeg PAT', () => {
  assert.equal(crc32Mpeg2(Buffer.from('123456789', 'latin1')), 0x0376e6e7);
  assert.equal(crc32Mpeg2(FFMPEG_PAT.subarray(5, 17)), 0x2ab104b2);
  assert.equal(crc32Mpeg2(FFMPEG_PAT.subarray(5)), 0, 'a section with its CRC checks to 0');
  assert.equal(crc32Mpeg2(Buffer.alloc(0)), 0xffffffff);
});

test('encodePat() is byte-identical to the PAT ffmpeg writes', () => {
  assert.deepEqual(encodePat(0x1000, 0), stuffed(FFMPEG_PAT));
});

test('encodePat() writes the continuity counter modulo 16', () => {
  assert.equal(encodePat(0x1000, 5)[3], 0x15);
  assert.equal(encodePat(0x1000, 17)[3], 0x11);
});

test('encodePmt() is byte-identical to the PMT ffmpeg writes for H.264 + AAC', () => {
  const pmt = encodePmt(
    {
      pcrPid: 0x100,
      streams: [
        { streamType: 0x1b, pid: 0x100 },
        { streamType: 0x0f, pid: 0x101 },
      ],
    },
    0,
  );
  assert.deepEqual(pmt, stuffed(FFMPEG_PMT));
});

test('encodePmt() fills one packet with the most streams and rejects more', () => {
  const streams = Array.from({ length: MAX_PMT_STREAMS }, (_, i) => ({
    streamType: 0x06,
    pid: 0x200 + i,
  }));
  const pmt = encodePmt({ pcrPid: 0x1fff, pmtPid: 0x20, streams }, 3);
  assert.equal(pmt.length, TS_PACKET_SIZE);
  assert.equal(decodeTsPacket(pmt)?.pid, 0x20);
  const sectionLength = pmt.readUInt16BE(6) & 0x0fff;
  assert.equal(crc32Mpeg2(pmt.subarray(5, 8 + sectionLength)), 0, 'CRC covers the section');
  assert.throws(
    () => encodePmt({ pcrPid: 0x1fff, streams: [...streams, { streamType: 6, pid: 1 }] }, 0),
    RangeError,
  );
});

// Header bytes: 14 with PTS only, 19 with PTS + DTS; the adaptation field with PCR takes 8.
const SPLIT_CASES = [
  { name: 'PTS only', extra: {}, header: 14, firstCapacity: 184 },
  { name: 'PTS + DTS', extra: { dtsTicks: 1000 }, header: 19, firstCapacity: 184 },
  {
    name: 'PCR + random access',
    extra: { pcrTicks: 7, randomAccess: true },
    header: 14,
    firstCapacity: 176,
  },
  { name: 'random access only', extra: { randomAccess: true }, header: 14, firstCapacity: 182 },
] as const;

for (const c of SPLIT_CASES) {
  test(`encodePes() splits into the fewest packets around the 184-byte boundaries (${c.name})`, () => {
    const first = c.firstCapacity - c.header;
    const sizes = [
      0,
      1,
      first - 2,
      first - 1,
      first,
      first + 1,
      first + 183,
      first + 184,
      first + 185,
      5000,
    ];
    for (const size of sizes) {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = (i * 7 + 3) & 0xff;
      const { packets, pes } = roundTrip({
        pid: 0x100,
        streamId: 0xe0,
        ptsTicks: 2000,
        payload,
        randomAccess: false,
        cc: 0,
        ...c.extra,
      });
      const expected = size <= first ? 1 : 1 + Math.ceil((size - first) / 184);
      assert.equal(packets.length, expected, `packet count for ${size} bytes`);
      assert.equal(pes.length, c.header + size, `no stray bytes for ${size} bytes`);
      assert.deepEqual(pes.subarray(c.header), payload, `payload intact for ${size} bytes`);
      const header = decodePesHeader(pes);
      assert.equal(header?.payloadOffset, c.header);
      assert.equal(header.pesPacketLength, c.header - 6 + size);
      assert.equal(header.ptsTicks, 2000);
      assert.equal(header.dtsTicks, 'dtsTicks' in c.extra ? 1000 : undefined);
      assert.equal(packets[0]!.randomAccess, 'randomAccess' in c.extra);
      assert.equal(packets[0]!.pcrBase, 'pcrTicks' in c.extra ? 7 : undefined);
    }
  });
}

test('encodePes() stuffs a 1-byte gap with an empty adaptation field', () => {
  const { packets } = roundTrip({
    pid: 0x101,
    streamId: 0xc0,
    ptsTicks: 0,
    payload: Buffer.alloc(184 - 14 - 1, 1),
    randomAccess: false,
    cc: 0,
  });
  assert.equal(packets.length, 1);
  assert.equal(packets[0]?.adaptationBytes, 1);
});

test('encodePes() writes PES_packet_length 0 above 65535 bytes', () => {
  const at = (size: number): number | undefined =>
    decodePesHeader(
      roundTrip({
        pid: 0x100,
        streamId: 0xe0,
        ptsTicks: 0,
        payload: Buffer.alloc(size),
        randomAccess: false,
        cc: 0,
      }).pes,
    )?.pesPacketLength;
  assert.equal(at(65535 - 8), 65535);
  assert.equal(at(65535 - 7), 0);
});

test('encodePes() omits the DTS when it equals the PTS', () => {
  const { pes } = roundTrip({
    pid: 0x100,
    streamId: 0xe0,
    ptsTicks: 2 ** 33 + 10,
    dtsTicks: 10,
    payload: Buffer.alloc(10),
    randomAccess: false,
    cc: 0,
  });
  assert.deepEqual(decodePesHeader(pes), {
    streamId: 0xe0,
    pesPacketLength: 18,
    ptsTicks: 10,
    payloadOffset: 14,
  });
});

test('encodePes() wraps PTS, DTS and PCR to 33 bits', () => {
  const cases = [
    { ticks: 2 ** 33 - 1, wrapped: 2 ** 33 - 1 },
    { ticks: 2 ** 33, wrapped: 0 },
    { ticks: 2 ** 33 + 90_000, wrapped: 90_000 },
    { ticks: 3 * 2 ** 33 + 5, wrapped: 5 },
    { ticks: -1, wrapped: 2 ** 33 - 1 },
    { ticks: 2 ** 32 + 1, wrapped: 2 ** 32 + 1 },
  ];
  for (const { ticks, wrapped } of cases) {
    assert.equal(wrapTimestamp(ticks), wrapped);
    const { packets, pes } = roundTrip({
      pid: 0x100,
      streamId: 0xe0,
      ptsTicks: ticks + 3000,
      dtsTicks: ticks,
      pcrTicks: ticks,
      payload: Buffer.alloc(3),
      randomAccess: true,
      cc: 0,
    });
    const header = decodePesHeader(pes);
    assert.equal(header?.dtsTicks, wrapped, `DTS of ${ticks}`);
    assert.equal(header.ptsTicks, wrapTimestamp(wrapped + 3000), `PTS of ${ticks}`);
    assert.equal(packets[0]?.pcrBase, wrapped, `PCR of ${ticks}`);
  }
});

test('encodePes() wraps the continuity counter after 15 and returns the next one', () => {
  const { packets, cc } = roundTrip({
    pid: 0x100,
    streamId: 0xe0,
    ptsTicks: 0,
    payload: Buffer.alloc(500),
    randomAccess: false,
    cc: 15,
  });
  assert.deepEqual(
    packets.map((p) => p.cc),
    [15, 0, 1],
  );
  assert.equal(cc, 2);
});

test('encodePes() always yields whole packets that reassemble to the PES', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 2000 }),
      fc.integer({ min: 0, max: 15 }),
      fc.boolean(),
      fc.option(fc.integer({ min: -(2 ** 34), max: 2 ** 34 }), { nil: undefined }),
      (bytes, cc, randomAccess, pcrTicks) => {
        const payload = Buffer.from(bytes);
        const {
          packets,
          pes,
          cc: next,
        } = roundTrip({
          pid: 0x1ff,
          streamId: 0xc0,
          ptsTicks: 90_000,
          payload,
          randomAccess,
          cc,
          ...(pcrTicks === undefined ? {} : { pcrTicks }),
        });
        assert.equal(next, (cc + packets.length) & 0x0f);
        assert.deepEqual(pes.subarray(decodePesHeader(pes)?.payloadOffset), payload);
      },
    ),
  );
});

test('decodeTsPacket() rejects a wrong size, a wrong sync byte and an overlong adaptation field', () => {
  const good = encodePat(0x1000, 0);
  assert.ok(decodeTsPacket(good));
  assert.equal(decodeTsPacket(good.subarray(0, 187)), undefined);
  assert.equal(decodeTsPacket(Buffer.concat([Buffer.from([0x48]), good.subarray(1)])), undefined);
  const overlong = Buffer.from(good);
  overlong[3] = 0x30;
  overlong[4] = 184;
  assert.equal(decodeTsPacket(overlong), undefined);
});

test('decodeTsPacket() tells an adaptation field that ends in stuffing from one its fields fill', () => {
  /** A packet on PID 0x100 with payload and an adaptation field of `field` (length byte first). */
  const withField = (field: number[]): Buffer => {
    const packet = Buffer.alloc(TS_PACKET_SIZE, 0xaa);
    packet.set([TS_SYNC_BYTE, 0x01, 0x00, 0x30, ...field]);
    return packet;
  };
  const pcrOnly = [7, 0x10, 1, 2, 3, 4, 5, 6];
  assert.equal(decodeTsPacket(withField(pcrOnly))?.stuffed, false);
  assert.equal(decodeTsPacket(withField([0]))?.stuffed, true, 'a zero-length field is one byte');
  assert.equal(decodeTsPacket(withField([3, 0x00, 0xff, 0xff]))?.stuffed, true);
  assert.equal(decodeTsPacket(withField([9, 0x10, 1, 2, 3, 4, 5, 6, 0xff, 0xff]))?.stuffed, true);
  // Private data of 2 bytes fills the field exactly; a length past the field is not stuffing.
  assert.equal(decodeTsPacket(withField([4, 0x02, 2, 0x11, 0x22]))?.stuffed, false);
  assert.equal(decodeTsPacket(withField([4, 0x02, 200, 0x11, 0x22]))?.stuffed, false);
  const plain = Buffer.alloc(TS_PACKET_SIZE, 0xaa);
  plain.set([TS_SYNC_BYTE, 0x01, 0x00, 0x10]);
  assert.equal(decodeTsPacket(plain)?.stuffed, false, 'no adaptation field');
});
