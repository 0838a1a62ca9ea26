import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFragment, encodeInitSegment, type Fmp4Sample } from '../src/media/fmp4-muxer.ts';
import type { Frame } from '../src/media/frame.ts';
import { TsMuxer } from '../src/media/ts-muxer.ts';
import { fmp4VideoTrack, moofEnd, moofTrackTiming, tsFirstVideoDts } from './media-timing.ts';
import { AAC_TRACK, H264_TRACK } from './test-tracks.ts';

const H264 = H264_TRACK;
const AAC = AAC_TRACK;

const sample = (durationTicks: number, keyframe = false): Fmp4Sample => ({
  data: Buffer.from([0, 0, 0, 2, 0x65, 0x88]),
  durationTicks,
  ctsOffsetTicks: 0,
  keyframe,
});

/** A box: 32-bit size, type, payload. */
function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, body]);
}

const u32 = (...values: number[]): Buffer => {
  const out = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => out.writeUInt32BE(v, 4 * i));
  return out;
};

void test('fmp4VideoTrack() finds the video track id and its timescale in onair init segments', () => {
  assert.deepEqual(fmp4VideoTrack(encodeInitSegment([H264, AAC])), {
    trackId: 1,
    timescale: 90000,
  });
  assert.deepEqual(fmp4VideoTrack(encodeInitSegment([AAC, H264])), {
    trackId: 2,
    timescale: 90000,
  });
  assert.equal(fmp4VideoTrack(encodeInitSegment([AAC])), null);
  assert.equal(fmp4VideoTrack(Buffer.from('not an init segment')), null);
});

void test('moofTrackTiming() gives the first and last decode times of a track in an onair fragment', () => {
  fc.assert(
    fc.property(
      fc.nat(2 ** 40),
      fc.array(fc.integer({ min: 1, max: 10_000 }), { minLength: 1, maxLength: 40 }),
      fc.boolean(),
      (base, durations, audioFirst) => {
        const video = {
          trackId: audioFirst ? 2 : 1,
          baseDecodeTimeTicks: base,
          samples: durations.map((d, i) => sample(d, i === 0)),
        };
        const audio = {
          trackId: audioFirst ? 1 : 2,
          baseDecodeTimeTicks: 7,
          samples: [sample(1024, true), sample(1024, true)],
        };
        const bytes = encodeFragment(3, audioFirst ? [audio, video] : [video, audio]);
        const timing = moofTrackTiming(bytes, video.trackId);
        const allButLast = durations.slice(0, -1).reduce((a, b) => a + b, 0);
        assert.deepEqual(timing, {
          firstDts: base,
          lastDts: base + allButLast,
          samples: durations.length,
        });
        assert.deepEqual(moofTrackTiming(bytes, audio.trackId), {
          firstDts: 7,
          lastDts: 7 + 1024,
          samples: 2,
        });
        assert.equal(moofTrackTiming(bytes, 9), null);
      },
    ),
  );
});

void test('moofTrackTiming() uses the tfhd default duration and a 32-bit tfdt', () => {
  const tfhd = box('tfhd', u32(0x000008, 1, 3000)); // default-sample-duration present
  const tfdt = box('tfdt', u32(0, 450_000)); // version 0
  const trun = box('trun', u32(0x000200, 4, 10, 11, 12, 13)); // sizes only
  const moof = box('moof', box('mfhd', u32(0, 1)), box('traf', tfhd, tfdt, trun));
  const bytes = Buffer.concat([box('styp', Buffer.from('msdh')), moof, box('mdat')]);
  assert.deepEqual(moofTrackTiming(bytes, 1), {
    firstDts: 450_000,
    lastDts: 450_000 + 3 * 3000,
    samples: 4,
  });
});

void test('moofTrackTiming() returns null for truncated or lying boxes', () => {
  const bytes = encodeFragment(1, [
    { trackId: 1, baseDecodeTimeTicks: 0, samples: [sample(3000)] },
  ]);
  const moofSize = bytes.readUInt32BE(0);
  for (let cut = 0; cut < moofSize; cut += 7) {
    assert.equal(moofTrackTiming(bytes.subarray(0, cut), 1), null);
  }
  // A sample count far beyond the box.
  const trun = box('trun', u32(0x000100, 0xffffffff, 3000));
  const tfhd = box('tfhd', u32(0, 1));
  const tfdt = box('tfdt', u32(0, 0));
  const moof = box('moof', box('traf', tfhd, tfdt, trun));
  assert.equal(moofTrackTiming(moof, 1), null);
});

void test('moofEnd() says how many bytes hold the first moof, once its header is there', () => {
  const fragment = encodeFragment(1, [
    { trackId: 1, baseDecodeTimeTicks: 0, samples: [sample(3000), sample(3000)] },
  ]);
  const moofSize = fragment.readUInt32BE(0);
  assert.equal(moofEnd(fragment), moofSize);
  assert.equal(moofEnd(fragment.subarray(0, 8)), moofSize);
  assert.equal(moofEnd(fragment.subarray(0, 7)), null);
  const styp = box('styp', Buffer.from('msdhmsix'));
  assert.equal(moofEnd(Buffer.concat([styp, fragment])), styp.length + moofSize);
  assert.equal(moofEnd(styp), null);
});

/** An FLV video tag body: AVC NALU packet with one length-prefixed NAL unit. */
function videoFrame(dtsMs: number, ctsMs: number, keyframe: boolean): Frame {
  const nal = Buffer.from([keyframe ? 0x65 : 0x41, 0x88, 0x84, 0x00]);
  const body = Buffer.concat([
    Buffer.from([keyframe ? 0x17 : 0x27, 1, 0, 0, ctsMs]),
    u32(nal.length),
    nal,
  ]);
  return {
    kind: 'video',
    timescale: 1000,
    dts: dtsMs,
    pts: dtsMs + ctsMs,
    keyframe,
    sequenceHeader: false,
    payload: body.subarray(5),
    flvBody: body,
  };
}

function audioFrame(dtsMs: number): Frame {
  const body = Buffer.from([0xaf, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8c, 0x1c]);
  return {
    kind: 'audio',
    timescale: 1000,
    dts: dtsMs,
    pts: dtsMs,
    keyframe: false,
    sequenceHeader: false,
    payload: body.subarray(2),
    flvBody: body,
  };
}

void test('tsFirstVideoDts() reads the DTS of the first video PES of an onair TS segment', () => {
  fc.assert(
    fc.property(fc.nat(10_000_000), fc.integer({ min: 0, max: 100 }), (dtsMs, ctsMs) => {
      const muxer = new TsMuxer([H264, AAC]);
      const segment = Buffer.concat([
        muxer.segmentHeader(),
        muxer.encodeFrame(audioFrame(dtsMs)),
        muxer.encodeFrame(videoFrame(dtsMs, ctsMs, true)),
        muxer.encodeFrame(videoFrame(dtsMs + 33, ctsMs, false)),
      ]);
      // onair's TS muxer adds 1 s (90 000 ticks) to every timestamp.
      assert.equal(tsFirstVideoDts(segment), dtsMs * 90 + 90_000);
    }),
  );
});

void test('tsFirstVideoDts() returns null without a video PES or without TS packets', () => {
  const muxer = new TsMuxer([H264, AAC]);
  const audioOnly = Buffer.concat([muxer.segmentHeader(), muxer.encodeFrame(audioFrame(0))]);
  assert.equal(tsFirstVideoDts(audioOnly), null);
  assert.equal(tsFirstVideoDts(Buffer.alloc(188 * 2, 0x11)), null);
  assert.equal(tsFirstVideoDts(Buffer.alloc(100, 0x47)), null);
});
