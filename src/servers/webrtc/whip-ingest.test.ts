import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAvcDecoderConfig } from '../../codecs/h264.ts';
import { encodeRtp } from '../../codecs/rtp.ts';
import { h264RtpPayloads, nalUnitsOfAvcc } from '../../codecs/rtp-h264.ts';
import type { FrameInput } from '../../media/frame.ts';
import { WhipIngest } from './whip-ingest.ts';
import { readFileSync } from 'node:fs';
import { withoutTemporalDelimiters } from '../../codecs/av1.ts';
import { FlvDecoder, FlvTagType } from '../../codecs/flv.ts';
import { encodeFlvBody } from '../../media/flv-body.ts';
import { AV1_OPUS_FLV } from '../../../test/support/fixtures.ts';
import { av1RtpPayloads, unsizedObus } from '../../../test/support/av1-rtp.ts';

const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');

function nal(type: number, size: number): Buffer {
  const unit = Buffer.alloc(size, 0x22);
  unit[0] = 0x60 | type;
  return unit;
}

/** A fake publisher: RTP packets of H.264 access units and Opus packets, and what came out. */
function setup() {
  let now = 1000;
  const frames: FrameInput[] = [];
  const rtcp: Buffer[] = [];
  const ingest = new WhipIngest({
    videoPayloadType: 102,
    audioPayloadType: 111,
    write: (frame) => frames.push(frame),
    sendRtcp: (_kind, packet) => rtcp.push(packet),
    now: () => now,
  });
  let videoSeq = 65000;
  let audioSeq = 10;
  const videoPackets = (timestamp: number, keyframe: boolean): Buffer[] => {
    const units = keyframe ? [SPS, PPS, nal(5, 3000)] : [nal(1, 500)];
    const payloads = h264RtpPayloads(units, [], keyframe, 1200);
    return payloads.map((payload, i) =>
      encodeRtp(
        {
          marker: i === payloads.length - 1,
          payloadType: 102,
          sequenceNumber: videoSeq++ & 0xffff,
          timestamp,
          ssrc: 0x1111,
        },
        payload,
      ),
    );
  };
  const audioPacket = (timestamp: number): Buffer =>
    encodeRtp(
      { marker: false, payloadType: 111, sequenceNumber: audioSeq++, timestamp, ssrc: 0x2222 },
      Buffer.from([0xfc, 0xff, 0xfe]),
    );
  /** What Chrome sends to probe bandwidth when there is no RTX: padding only, no payload. */
  const paddingPacket = (timestamp: number): Buffer => {
    const packet = encodeRtp(
      {
        marker: false,
        payloadType: 102,
        sequenceNumber: videoSeq++ & 0xffff,
        timestamp,
        ssrc: 0x1111,
      },
      Buffer.alloc(224),
    );
    packet[0] = (packet[0] ?? 0) | 0x20; // P: the last byte counts the padding
    packet[packet.length - 1] = 224;
    return packet;
  };
  return {
    ingest,
    frames,
    rtcp,
    videoPackets,
    audioPacket,
    paddingPacket,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('WhipIngest: a sequence header, then AVCC keyframes and frames at 90 kHz; Opus at 48 kHz once video started', () => {
  const { ingest, frames, videoPackets, audioPacket, advance } = setup();
  ingest.push('audio', audioPacket(5000)); // before any picture: dropped
  for (const packet of videoPackets(90_000, true)) ingest.push('video', packet);
  advance(40);
  for (const packet of videoPackets(90_000 + 3600, false)) ingest.push('video', packet);
  ingest.push('audio', audioPacket(5000 + 1920));
  const [header, key, delta, opusHeader, opus] = frames;
  assert.ok(header?.track?.kind === 'video');
  assert.deepEqual(parseAvcDecoderConfig(header.payload).sps, [SPS]);
  assert.deepEqual([header.track.width, header.track.height], [320, 240]);
  assert.equal(key?.keyframe, true);
  assert.equal(key.timescale, 90_000);
  assert.deepEqual(
    nalUnitsOfAvcc(key.payload, 4).map((u) => (u[0] ?? 0) & 0x1f),
    [5],
    'parameter sets live in the header',
  );
  assert.equal(delta?.keyframe, false);
  assert.equal(delta.dts - key.dts, 3600);
  assert.equal(opusHeader?.track?.codec, 'opus');
  assert.equal(opus?.timescale, 48_000);
  assert.deepEqual(opus.payload, Buffer.from([0xfc, 0xff, 0xfe]));
  assert.equal(frames.length, 5);
});

test('WhipIngest: a lost packet is NACKed, then given up: frames wait for a keyframe, asked for with a PLI', () => {
  const { ingest, frames, rtcp, videoPackets, advance } = setup();
  for (const packet of videoPackets(0, true)) ingest.push('video', packet);
  const lossy = [...videoPackets(3600, false), ...videoPackets(7200, false)];
  ingest.push('video', lossy[1]!); // the first packet of the frame at 3600 is lost
  advance(20);
  ingest.tick();
  const nack = rtcp.find((p) => p[1] === 205);
  assert.ok(nack, 'a NACK went out');
  const written = frames.length;
  advance(200);
  ingest.tick();
  assert.equal(ingest.packetsLost, 1);
  assert.equal(frames.length, written, 'the broken frame and the next are not written');
  advance(600);
  ingest.tick();
  assert.ok(
    rtcp.some((p) => p[1] === 206),
    'a PLI went out',
  );
  for (const packet of videoPackets(10_800, true)) ingest.push('video', packet);
  assert.equal(frames.at(-1)?.keyframe, true, 'the keyframe starts the picture again');
});

test('WhipIngest: padding-only packets between frames are skipped, not taken as a broken frame', () => {
  const { ingest, frames, rtcp, videoPackets, paddingPacket, advance } = setup();
  for (const packet of videoPackets(0, true)) ingest.push('video', packet);
  ingest.push('video', paddingPacket(0));
  ingest.push('video', paddingPacket(0));
  for (const packet of videoPackets(3600, false)) ingest.push('video', packet);
  advance(1000);
  ingest.tick();
  assert.deepEqual(
    frames.map((frame) => [frame.dts, frame.keyframe]),
    [
      [0, false], // the sequence header
      [0, true],
      [3600, false],
    ],
  );
  assert.equal(ingest.packetsLost, 0);
  assert.ok(!rtcp.some((p) => p[1] === 206), 'no PLI');
});

test('WhipIngest never throws on arbitrary packets (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 1500 })), { maxLength: 200 }),
      (packets) => {
        const { ingest, advance } = setup();
        for (const [video, bytes] of packets) {
          const buf = Buffer.from(bytes);
          if (buf.length > 1) buf[1] = video ? 102 : 111;
          if (buf.length > 0) buf[0] = 0x80;
          ingest.push(video ? 'video' : 'audio', buf);
          ingest.rtcp(video ? 'video' : 'audio', buf);
          advance(7);
          ingest.tick();
        }
      },
    ),
  );
});

/** av1C of the enhanced-RTMP fixture; its sequence header OBU follows the 4 fixed bytes. */
const FIXTURE_AV1C = Buffer.from('812400000a0e20000024cfa70dbfff3404340080', 'hex');

test('WhipIngest (AV1): an av1C sequence header, then temporal units as low-overhead OBUs; a loss waits for a keyframe', () => {
  let now = 1000;
  const frames: FrameInput[] = [];
  const rtcp: Buffer[] = [];
  const ingest = new WhipIngest({
    videoPayloadType: 45,
    videoCodec: 'av1',
    audioPayloadType: null,
    write: (frame) => frames.push(frame),
    sendRtcp: (_kind, packet) => rtcp.push(packet),
    now: () => now,
  });
  let seq = 100;
  // One packet per temporal unit: W=2 (sequence header with a length, the frame without) or W=1.
  const sequenceHeader = Buffer.concat([Buffer.from([0x08]), FIXTURE_AV1C.subarray(6)]);
  const keyFrame = Buffer.from([0x30, 0x10, 1, 2, 3]);
  const interFrame = Buffer.from([0x30, 0x20, 4, 5]);
  const packet = (timestamp: number, key: boolean): Buffer =>
    encodeRtp(
      { marker: true, payloadType: 45, sequenceNumber: seq++, timestamp, ssrc: 0x3333 },
      key
        ? Buffer.concat([Buffer.from([0x28, sequenceHeader.length]), sequenceHeader, keyFrame])
        : Buffer.concat([Buffer.from([0x10]), interFrame]),
    );
  ingest.push('video', packet(1000, false)); // before a keyframe: dropped
  ingest.push('video', packet(4000, true));
  now += 33;
  ingest.push('video', packet(7000, false));
  const [header, key, inter] = frames;
  assert.ok(header?.track?.kind === 'video');
  assert.equal(header.track.codec, 'av1');
  assert.deepEqual(header.payload, FIXTURE_AV1C);
  assert.equal(header.track.profile, 'High');
  assert.equal(key?.keyframe, true);
  assert.deepEqual(
    key.payload,
    Buffer.concat([FIXTURE_AV1C.subarray(4), Buffer.from([0x32, 4, 0x10, 1, 2, 3])]),
  );
  assert.equal(inter?.keyframe, false);
  assert.equal(inter.dts - key.dts, 3000);
  assert.deepEqual(inter.payload, Buffer.from([0x32, 3, 0x20, 4, 5]));
  seq += 1; // a lost packet
  ingest.push('video', packet(10_000, false));
  now += 400; // past the reorder wait
  ingest.tick();
  ingest.push('video', packet(13_000, false));
  assert.equal(frames.length, 3, 'inter frames after the loss wait for a keyframe');
  assert.ok(
    rtcp.some((p) => p[1] === 206 && (p[0] ?? 0) % 32 === 1),
    'a PLI went to the publisher',
  );
  ingest.push('video', packet(16_000, true));
  assert.equal(frames.length, 4, 'the same sequence header is not announced again');
  assert.equal(frames[3]?.keyframe, true);
});

test('WhipIngest (AV1): the libaom fixture sent over RTP makes the FLV tags of an enhanced-RTMP AV1 publish', () => {
  const tags = new FlvDecoder()
    .push(readFileSync(AV1_OPUS_FLV))
    .filter((tag) => tag.type === FlvTagType.Video);
  const frames: FrameInput[] = [];
  let now = 0;
  const ingest = new WhipIngest({
    videoPayloadType: 45,
    videoCodec: 'av1',
    audioPayloadType: null,
    write: (frame) => frames.push(frame),
    sendRtcp: () => {},
    now: () => now,
  });
  let seq = 0;
  for (const tag of tags) {
    if (((tag.body[0] ?? 0) & 0x0f) !== 1) continue; // coded frames only: the av1C is made
    const payloads = av1RtpPayloads(unsizedObus(tag.body.subarray(5)), 1100, seq % 2 === 0);
    payloads.forEach((payload, i) => {
      const packet = encodeRtp(
        {
          marker: i === payloads.length - 1,
          payloadType: 45,
          sequenceNumber: seq++ & 0xffff,
          timestamp: tag.timestamp * 90,
          ssrc: 0x4444,
        },
        payload,
      );
      ingest.push('video', packet);
    });
    now = tag.timestamp;
  }
  // The track of the sequence header, on every frame after it (the hub does this).
  const track = frames[0]?.track;
  assert.ok(track?.kind === 'video' && track.codec === 'av1');
  const bodies = frames.map((frame) =>
    encodeFlvBody({ ...frame, track, sequenceHeader: frame.track !== undefined }),
  );
  // The fixture's sequence start with its av1C (it has an empty one first, and a metadata tag),
  // then its coded frames without their temporal delimiters.
  const sequenceStart = tags.find((tag) => tag.body[0] === 0x90 && tag.body.length > 5);
  assert.ok(sequenceStart);
  const expected = [
    sequenceStart.body,
    ...tags
      .filter((tag) => ((tag.body[0] ?? 0) & 0x0f) === 1)
      .map((tag) =>
        Buffer.concat([tag.body.subarray(0, 5), withoutTemporalDelimiters(tag.body.subarray(5))]),
      ),
  ];
  assert.equal(bodies.length, expected.length);
  bodies.forEach((body, i) => {
    assert.deepEqual(body, expected[i], `video tag ${i}`);
  });
  assert.equal(ingest.framesDropped, 0);
});

/** A VP8 keyframe of `width` x `height` (RFC 6386 9.1 header) with a few bytes after it. */
function vp8Keyframe(width: number, height: number): Buffer {
  const frame = Buffer.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0, 0, 0, 0, 1, 2, 3]);
  frame.writeUInt16LE(width, 6);
  frame.writeUInt16LE(height, 8);
  return frame;
}

test('WhipIngest (VP8): a vpcC sequence header with the size, frames as they are; a loss waits for a keyframe; a new size a new header', () => {
  let now = 1000;
  const frames: FrameInput[] = [];
  const rtcp: Buffer[] = [];
  const ingest = new WhipIngest({
    videoPayloadType: 96,
    videoCodec: 'vp8',
    audioPayloadType: null,
    write: (frame) => frames.push(frame),
    sendRtcp: (_kind, packet) => rtcp.push(packet),
    now: () => now,
  });
  let seq = 65_530;
  const inter = Buffer.from([0x31, 0, 0, 7, 8, 9]);
  /** A frame in two packets: an X descriptor with a 15-bit PictureID, S on the first. */
  const packets = (timestamp: number, frame: Buffer): Buffer[] => {
    const half = Math.ceil(frame.length / 2);
    return [frame.subarray(0, half), frame.subarray(half)].map((part, i) =>
      encodeRtp(
        {
          marker: i === 1,
          payloadType: 96,
          sequenceNumber: seq++ & 0xffff,
          timestamp,
          ssrc: 0x4444,
        },
        Buffer.concat([Buffer.from([i === 0 ? 0x90 : 0x80, 0x80, 0x81, 0x02]), part]),
      ),
    );
  };
  const send = (list: Buffer[]) => {
    for (const p of list) ingest.push('video', p);
  };
  send(packets(1000, inter)); // before a keyframe: dropped
  send(packets(4000, vp8Keyframe(640, 360)));
  now += 33;
  send(packets(7000, inter));
  const [header, key, next] = frames;
  assert.ok(header?.track?.kind === 'video');
  assert.equal(header.track.codec, 'vp8');
  assert.deepEqual([header.track.width, header.track.height], [640, 360]);
  assert.deepEqual(header.payload, Buffer.from([0, 21, 0x82, 2, 2, 2, 0, 0]));
  assert.equal(key?.keyframe, true);
  assert.deepEqual(key.payload, vp8Keyframe(640, 360));
  assert.equal(next?.keyframe, false);
  assert.equal(next.dts - key.dts, 3000);
  assert.deepEqual(next.payload, inter);
  // Padding only between frames: no damage.
  ingest.push(
    'video',
    encodeRtp(
      {
        marker: false,
        payloadType: 96,
        sequenceNumber: seq++ & 0xffff,
        timestamp: 7000,
        ssrc: 0x4444,
      },
      Buffer.alloc(0),
    ),
  );
  send(packets(10_000, inter));
  assert.equal(frames.length, 4);
  const lost = packets(13_000, inter);
  ingest.push('video', lost[1] ?? Buffer.alloc(0)); // its first packet is lost
  now += 400; // past the reorder wait
  ingest.tick();
  send(packets(16_000, inter));
  assert.equal(frames.length, 4, 'inter frames after the loss wait for a keyframe');
  assert.ok(
    rtcp.some((p) => p[1] === 206 && (p[0] ?? 0) % 32 === 1),
    'a PLI went to the publisher',
  );
  send(packets(19_000, vp8Keyframe(640, 360)));
  assert.equal(frames.length, 5, 'the same size is not announced again');
  assert.equal(frames[4]?.keyframe, true);
  send(packets(22_000, vp8Keyframe(1280, 720)));
  assert.equal(frames.length, 7, 'a new size: a new sequence header, then the keyframe');
  const resized = frames[5]?.track;
  assert.ok(resized?.kind === 'video');
  assert.deepEqual([resized.width, resized.height], [1280, 720]);
  assert.equal(
    ingest.framesDropped,
    3,
    'before the first keyframe, the broken one, the one after it',
  );
});

for (const [videoCodec, payloadType] of [
  ['av1', 45],
  ['vp8', 96],
] as const) {
  test(`WhipIngest (${videoCodec}) never throws on arbitrary packets (property)`, () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 1500 })), { maxLength: 200 }),
        (packets) => {
          let now = 0;
          const ingest = new WhipIngest({
            videoPayloadType: payloadType,
            videoCodec,
            audioPayloadType: null,
            write: () => {},
            sendRtcp: () => {},
            now: () => now,
          });
          for (const [marker, bytes] of packets) {
            const buf = Buffer.from(bytes);
            if (buf.length > 1) buf[1] = (marker ? 0x80 : 0) | payloadType;
            if (buf.length > 0) buf[0] = 0x80;
            ingest.push('video', buf);
            now += 7;
            ingest.tick();
          }
        },
      ),
    );
  });
}
