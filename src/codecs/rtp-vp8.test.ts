import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  Vp8Depacketizer,
  buildVp8CodecConfig,
  parseVpCodecConfig,
  vp8KeyframeSize,
  vp8PayloadStart,
  vp8RtpPayloads,
} from './rtp-vp8.ts';

const LIMITS = { maxFrameBytes: 1 << 16, maxPackets: 64 };

/** A VP8 keyframe of `width` x `height` with `body` after its 10-byte header. */
function keyframe(width: number, height: number, body: Buffer = Buffer.from([1, 2, 3])): Buffer {
  const header = Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0]);
  header.writeUInt16LE(width, 6);
  header.writeUInt16LE(height, 8);
  return Buffer.concat([header, body]);
}

/** An inter frame (P bit 1). */
const interFrame = (body: Buffer = Buffer.from([7, 8, 9])): Buffer =>
  Buffer.concat([Buffer.from([0x31, 0x00, 0x00]), body]);

/**
 * A small RFC 7741 packetizer: `frame` in chunks of `mtu` bytes, each with a descriptor (X with
 * a 15-bit PictureID when `pictureId` is given), S on the first.
 */
function packetize(frame: Buffer, mtu: number, pictureId?: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < frame.length; at += mtu) {
    const start = at === 0;
    const descriptor =
      pictureId === undefined
        ? Buffer.from([start ? 0x10 : 0x00])
        : Buffer.from([
            (start ? 0x10 : 0) | 0x80,
            0x80,
            0x80 | ((pictureId >> 8) & 0x7f),
            pictureId & 0xff,
          ]);
    out.push(Buffer.concat([descriptor, frame.subarray(at, at + mtu)]));
  }
  return out;
}

function pushAll(d: Vp8Depacketizer, payloads: Buffer[], timestamp: number) {
  return payloads.flatMap((p, i) => d.push(p, timestamp, i === payloads.length - 1));
}

test('vp8PayloadStart() skips the descriptor and its I/L/T/K extension bytes', () => {
  assert.equal(vp8PayloadStart(Buffer.from([0x10, 0xaa])), 1);
  assert.equal(vp8PayloadStart(Buffer.from([0x90, 0x80, 0x05, 0xaa])), 3, '7-bit PictureID');
  assert.equal(vp8PayloadStart(Buffer.from([0x90, 0x80, 0x85, 0x01, 0xaa])), 4, '15-bit');
  assert.equal(vp8PayloadStart(Buffer.from([0x90, 0xf0, 0x85, 0x01, 0x02, 0x03, 0xaa])), 6);
  assert.equal(vp8PayloadStart(Buffer.from([0x90, 0x20, 0x40, 0xaa])), 3, 'T only');
  assert.equal(vp8PayloadStart(Buffer.from([0x10])), null, 'no VP8 bytes');
  assert.equal(vp8PayloadStart(Buffer.from([0x90])), null, 'no extension byte');
  assert.equal(vp8PayloadStart(Buffer.from([0x90, 0x80])), null, 'no PictureID');
  assert.equal(vp8PayloadStart(Buffer.from([0x90, 0x80, 0x85, 0x01])), null);
  assert.equal(vp8PayloadStart(Buffer.alloc(0)), null);
});

test('a keyframe in several packets comes back whole with its size; an inter frame after it', () => {
  const d = new Vp8Depacketizer(LIMITS);
  const key = keyframe(640, 360, Buffer.alloc(3000, 5));
  const frames = pushAll(d, packetize(key, 1000, 300), 9000);
  assert.equal(frames.length, 1);
  const [frame] = frames;
  assert.ok(frame);
  assert.deepEqual(frame.data, key);
  assert.equal(frame.keyframe, true);
  assert.deepEqual(frame.size, { width: 640, height: 360 });
  assert.equal(frame.timestamp, 9000);
  const inter = interFrame();
  const next = pushAll(d, packetize(inter, 1000), 12000);
  assert.deepEqual(next, [{ data: inter, timestamp: 12000, keyframe: false, size: null }]);
  assert.deepEqual(d.takeDrops(), []);
});

test('vp8KeyframeSize() reads the 14-bit size and refuses what is not a keyframe header', () => {
  assert.deepEqual(vp8KeyframeSize(keyframe(1920 | 0x4000, 1080)), { width: 1920, height: 1080 });
  assert.equal(vp8KeyframeSize(interFrame()), null);
  const bad = keyframe(640, 360);
  bad[4] = 0;
  assert.equal(vp8KeyframeSize(bad), null, 'no start code');
  assert.equal(vp8KeyframeSize(keyframe(0, 360)), null);
  assert.equal(vp8KeyframeSize(keyframe(640, 360).subarray(0, 9)), null);
});

test('a lost packet, a missing start and a second start drop the frame whole', () => {
  const d = new Vp8Depacketizer(LIMITS);
  const key = keyframe(320, 240, Buffer.alloc(2500, 1));
  const packets = packetize(key, 1000);
  assert.deepEqual(d.push(packets[0] ?? Buffer.alloc(0), 1, false), []);
  d.lost();
  assert.deepEqual(d.push(packets[2] ?? Buffer.alloc(0), 1, true), []);
  assert.deepEqual(d.takeDrops(), ['packet-lost']);
  // The start of the next frame is missing.
  assert.deepEqual(pushAll(d, packetize(key, 1000).slice(1), 2), []);
  assert.deepEqual(d.takeDrops(), ['start-lost']);
  // Loss between frames breaks nothing: the next frame starts with S.
  d.lost();
  assert.equal(pushAll(d, packets, 3).length, 1);
  const twice = [packets[0] ?? Buffer.alloc(0), packets[0] ?? Buffer.alloc(0)];
  assert.deepEqual(pushAll(d, twice, 4), []);
  assert.deepEqual(d.takeDrops(), ['malformed']);
});

test('padding-only payloads are skipped without damage; a new timestamp ends a frame', () => {
  const d = new Vp8Depacketizer(LIMITS);
  const key = keyframe(320, 240, Buffer.alloc(1500, 1));
  const [a, b] = packetize(key, 1000);
  assert.ok(a && b);
  assert.deepEqual(d.push(a, 1, false), []);
  assert.deepEqual(d.push(Buffer.alloc(0), 1, false), []);
  assert.deepEqual(d.push(Buffer.alloc(0), 7, true), []);
  const frames = d.push(b, 1, true);
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0]?.data, key);
  // No marker: the next timestamp ends it.
  const inter = interFrame();
  assert.deepEqual(d.push(packetize(inter, 1000)[0] ?? Buffer.alloc(0), 2, false), []);
  const out = d.push(packetize(inter, 1000)[0] ?? Buffer.alloc(0), 3, true);
  assert.deepEqual(
    out.map((f) => f.timestamp),
    [2, 3],
  );
  assert.deepEqual(d.takeDrops(), []);
});

test('frames over the byte or packet bound, and keyframes without a header, are dropped', () => {
  const d = new Vp8Depacketizer({ maxFrameBytes: 2000, maxPackets: 3 });
  assert.deepEqual(pushAll(d, packetize(keyframe(64, 64, Buffer.alloc(2500)), 1000), 1), []);
  assert.deepEqual(pushAll(d, packetize(interFrame(Buffer.alloc(400)), 100), 2), []);
  assert.deepEqual(pushAll(d, packetize(Buffer.from([0x10, 0, 0, 0x9d]), 100), 3), []);
  assert.deepEqual(d.takeDrops(), ['too-large', 'too-large', 'bad-keyframe']);
  assert.equal(pushAll(d, packetize(keyframe(64, 64), 100), 4).length, 1);
});

test('property: any packetization of a frame round-trips', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 3000 }),
      fc.integer({ min: 1, max: 1200 }),
      fc.option(fc.integer({ min: 0, max: 0x7fff }), { nil: undefined }),
      fc.boolean(),
      (body, mtu, pictureId, key) => {
        const d = new Vp8Depacketizer(LIMITS);
        const frame = key ? keyframe(176, 144, Buffer.from(body)) : interFrame(Buffer.from(body));
        const out = pushAll(d, packetize(frame, mtu, pictureId), 42);
        assert.equal(out.length, 1);
        const [first] = out;
        assert.ok(first);
        assert.deepEqual(first.data, frame);
        assert.equal(first.keyframe, key);
      },
    ),
  );
});

test('property: never throws, frames stay within the bounds', () => {
  const limits = { maxFrameBytes: 500, maxPackets: 4 };
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          payload: fc.uint8Array({ maxLength: 300 }),
          timestamp: fc.integer({ min: 0, max: 3 }),
          marker: fc.boolean(),
          lost: fc.boolean(),
        }),
        { maxLength: 40 },
      ),
      (packets) => {
        const d = new Vp8Depacketizer(limits);
        for (const p of packets) {
          if (p.lost) d.lost();
          for (const frame of d.push(Buffer.from(p.payload), p.timestamp, p.marker)) {
            assert.ok(frame.data.length <= limits.maxFrameBytes);
            assert.ok(frame.data.length > 0);
            if (frame.keyframe) assert.ok(frame.size !== null);
          }
          assert.ok(d.takeDrops().length <= 16);
        }
      },
    ),
  );
});

test('buildVp8CodecConfig(): profile 0, a level for the size, 8-bit 4:2:0, no init data', () => {
  const config = buildVp8CodecConfig(640, 360);
  assert.deepEqual(config, Buffer.from([0, 21, 0x82, 2, 2, 2, 0, 0]));
  assert.deepEqual(parseVpCodecConfig(config), { profile: 0, level: 21, bitDepth: 8 });
  assert.equal(buildVp8CodecConfig(1920, 1080)[1], 40);
  assert.equal(buildVp8CodecConfig(16383, 16383)[1], 62);
  assert.equal(parseVpCodecConfig(Buffer.alloc(7)), null);
});

test('vp8RtpPayloads() round-trips through the depacketizer, with its PictureID, within the bound', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 4000 }),
      fc.integer({ min: 5, max: 1200 }),
      fc.integer({ min: 0, max: 0x7fff }),
      (body, max, pictureId) => {
        const frame = interFrame(Buffer.from(body));
        const payloads = vp8RtpPayloads(frame, max, pictureId);
        for (const p of payloads) {
          assert.ok(p.length <= max);
          assert.equal(((p[2] ?? 0) & 0x7f) * 256 + (p[3] ?? 0), pictureId);
        }
        const d = new Vp8Depacketizer(LIMITS);
        const [out] = pushAll(d, payloads, 5);
        assert.ok(out);
        assert.deepEqual(out.data, frame);
      },
    ),
  );
  assert.deepEqual(vp8RtpPayloads(Buffer.alloc(0), 1000, 1), []);
  assert.deepEqual(vp8RtpPayloads(Buffer.alloc(10), 4, 1), []);
});
