import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAvcDecoderConfig } from '../../codecs/h264.ts';
import { encodeRtp } from '../../codecs/rtp.ts';
import { h264RtpPayloads, nalUnitsOfAvcc } from '../../codecs/rtp-h264.ts';
import type { FrameInput } from '../../media/frame.ts';
import { WhipIngest } from './whip-ingest.ts';

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
  return {
    ingest,
    frames,
    rtcp,
    videoPackets,
    audioPacket,
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
