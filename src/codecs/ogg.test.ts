import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { MAX_OGG_PACKET_BYTES, OggPacketReader, encodeOggPage } from './ogg.ts';
import { CodecError } from './codec-error.ts';

/** Pages of at most `perPage` packets each, granule = index of the page's last packet. */
function pagesOf(packets: Buffer[], perPage: number, serial = 7): Buffer {
  const pages: Buffer[] = [];
  for (let i = 0, sequence = 0; i < packets.length; i += perPage, sequence++) {
    const group = packets.slice(i, i + perPage);
    pages.push(encodeOggPage({ serial, sequence, granule: i + group.length - 1 }, group));
  }
  return Buffer.concat(pages);
}

/** Everything `reader` returns for `bytes` pushed in pieces cut at `cuts`. */
function readAll(reader: OggPacketReader, bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    for (const packet of reader.push(bytes.subarray(from, point))) out.push(packet.data);
    from = point;
  }
  return out;
}

test('packets come back whole whatever the pages and however the bytes are split', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ minLength: 0, maxLength: 1500 }), { minLength: 1, maxLength: 12 }),
      fc.integer({ min: 1, max: 3 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (arrays, perPage, cuts) => {
        const packets = arrays.map((a) => Buffer.from(a));
        const got = readAll(new OggPacketReader(), pagesOf(packets, perPage), cuts);
        assert.deepEqual(got, packets);
      },
    ),
  );
});

test('a packet continued over pages is joined; the granule is the last page one', () => {
  const big = Buffer.alloc(600, 0x5a);
  // The first page ends inside the packet: lacing 255, 255 (no terminating value).
  const first = encodeOggPage({ serial: 1, sequence: 0, granule: 2 ** 32 - 1 }, []);
  assert.equal(first.length, 27);
  const head = Buffer.from(first);
  const lacing = Buffer.from([255, 255]);
  const page1 = Buffer.concat([
    head.subarray(0, 26),
    Buffer.from([2]),
    lacing,
    big.subarray(0, 510),
  ]);
  page1.writeUInt32LE(0xffffffff, 6);
  page1.writeInt32LE(-1, 10); // no packet ends here
  const page2 = encodeOggPage({ serial: 1, sequence: 1, granule: 960 }, [big.subarray(510)]);
  page2[5] = 0x01; // continued
  const packets = new OggPacketReader().push(Buffer.concat([page1, page2]));
  assert.deepEqual(
    packets.map((p) => [p.data, p.granule]),
    [[big, 960]],
  );
});

test('pages of another logical stream are skipped', () => {
  const reader = new OggPacketReader();
  const mine = pagesOf([Buffer.from('a')], 1, 1);
  const other = pagesOf([Buffer.from('b')], 1, 2);
  const got = reader.push(Buffer.concat([mine, other, mine])).map((p) => p.data.toString());
  assert.deepEqual(got, ['a', 'a']);
});

test('garbage instead of a page and an endless packet are refused (CodecError), bounded', () => {
  assert.throws(() => new OggPacketReader().push(Buffer.alloc(64, 0x41)), CodecError);
  const reader = new OggPacketReader();
  // 255-byte segments that never end a packet, page after page.
  const page = Buffer.concat([
    Buffer.from('OggS\0\0', 'latin1'),
    Buffer.alloc(20),
    Buffer.from([255]),
    Buffer.alloc(255 * 255, 1),
  ]);
  page[26] = 255;
  page[5] = 0;
  let threw = false;
  for (let i = 0; i < Math.ceil(MAX_OGG_PACKET_BYTES / page.length) + 2 && !threw; i++) {
    try {
      reader.push(page);
      page[5] = 0x01;
    } catch (error) {
      assert.ok(error instanceof CodecError);
      threw = true;
    }
  }
  assert.ok(threw, 'an over-long packet throws');
});

test("ffmpeg's Ogg Opus reads as OpusHead, OpusTags and 20 ms packets; our CRC matches its", () => {
  const ogg = execFileSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=1'],
      ...['-c:a', 'libopus', '-page_duration', '20000', '-f', 'ogg', 'pipe:1'],
    ],
    { maxBuffer: 1 << 24 },
  );
  const packets = new OggPacketReader().push(ogg);
  assert.equal(packets[0]?.data.subarray(0, 8).toString('latin1'), 'OpusHead');
  assert.equal(packets[1]?.data.subarray(0, 8).toString('latin1'), 'OpusTags');
  const audio = packets.slice(2);
  assert.ok(audio.length >= 50 && audio.length <= 52, `${audio.length} packets for 1 s`);
  // Rebuild the first page and compare it byte for byte (CRC included).
  const firstPageLength = 27 + (ogg[26] ?? 0) + packets[0].data.length;
  const rebuilt = encodeOggPage(
    { serial: ogg.readUInt32LE(14), sequence: 0, granule: 0, bos: true },
    [packets[0].data],
  );
  assert.deepEqual(rebuilt, ogg.subarray(0, firstPageLength));
});
