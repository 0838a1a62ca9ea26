// Tests of createTsLiveEncoder: what it writes demuxes back to the frames it was given, from the
// start or from any keyframe (a viewer joining late), across a track change.
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PAT_PID, TS_PACKET_SIZE } from '../../codecs/mpegts.ts';
import type { Frame, FrameInput } from '../../media/frame.ts';
import type { AudioTrack, VideoTrack } from '../../media/track.ts';
import { TsDemuxer } from '../../media/ts-demuxer.ts';
import { TIMESTAMP_OFFSET_90K } from '../../media/ts-muxer.ts';
import {
  AUDIO_ONLY_HEADER_INTERVAL_MS,
  SRT_MESSAGE_BYTES,
  TS_PACKETS_PER_SRT_MESSAGE,
  createTsLiveEncoder,
} from './ts-live-output.ts';

const FIXTURES = new URL('../../../test/fixtures/mpegts/', import.meta.url);

/** The frames of a fixture as the hub hands them over (sequence headers carry their track). */
function fixtureFrames(name: string, shift = 0): Frame[] {
  const demuxer = new TsDemuxer();
  const inputs = [...demuxer.push(readFileSync(new URL(name, FIXTURES))), ...demuxer.flush()];
  return inputs.map((input) => ({
    ...input,
    dts: input.dts + shift,
    pts: input.pts + shift,
    sequenceHeader: input.track !== undefined,
  }));
}

/** What the encoder writes for each frame (null where it writes nothing). */
function encodeAll(frames: readonly Frame[]): (Buffer | null)[] {
  const encode = createTsLiveEncoder();
  return frames.map((frame) => encode(frame));
}

function demux(ts: Buffer, chunk = SRT_MESSAGE_BYTES): { out: FrameInput[]; demuxer: TsDemuxer } {
  const demuxer = new TsDemuxer();
  const out: FrameInput[] = [];
  for (let at = 0; at < ts.length; at += chunk)
    out.push(...demuxer.push(ts.subarray(at, at + chunk)));
  out.push(...demuxer.flush());
  return { out, demuxer };
}

const media = (frames: readonly (Frame | FrameInput)[]): (Frame | FrameInput)[] =>
  frames.filter((f) => f.kind !== 'data' && f.track === undefined);
/** What the demuxer must give back of a frame: its kind, times, keyframe flag and payload. */
const summary = (f: Frame | FrameInput, offset = 0): string =>
  `${f.kind} ${f.dts + offset} ${f.pts + offset} ${f.keyframe} ${f.payload.toString('hex')}`;
const noDrops = (demuxer: TsDemuxer): void => {
  const drops = Object.entries(demuxer.stats.drops).filter(([, n]) => n > 0);
  assert.deepEqual(drops, []);
};

/** PID and continuity_counter of each packet. */
function packetsOf(ts: Buffer): { pid: number; cc: number; payload: boolean }[] {
  assert.equal(ts.length % TS_PACKET_SIZE, 0);
  const packets = [];
  for (let at = 0; at < ts.length; at += TS_PACKET_SIZE) {
    assert.equal(ts[at], 0x47);
    packets.push({
      pid: ((ts[at + 1]! & 0x1f) << 8) | ts[at + 2]!,
      cc: ts[at + 3]! & 0x0f,
      payload: (ts[at + 3]! & 0x10) !== 0,
    });
  }
  return packets;
}

/** Asserts that every PID's continuity_counter goes up by one per packet with payload. */
function assertContinuous(ts: Buffer): void {
  const last = new Map<number, number>();
  for (const { pid, cc, payload } of packetsOf(ts)) {
    const previous = last.get(pid);
    if (previous !== undefined && payload) {
      assert.equal(cc, (previous + 1) & 0x0f, `PID ${pid}`);
    }
    last.set(pid, cc);
  }
}

test('the SRT message constants: 7 TS packets of 188 bytes', () => {
  assert.equal(TS_PACKETS_PER_SRT_MESSAGE, 7);
  assert.equal(SRT_MESSAGE_BYTES, TS_PACKETS_PER_SRT_MESSAGE * TS_PACKET_SIZE);
});

test('createTsLiveEncoder: the stream demuxes back to the same frames (H.264 + AAC)', () => {
  for (const name of ['h264-aac.mpegts', 'h264-bframes-aac.mpegts']) {
    const frames = fixtureFrames(name);
    const encoded = encodeAll(frames);
    frames.forEach((frame, i) => {
      if (frame.sequenceHeader) assert.equal(encoded[i], null, 'sequence headers: no bytes');
      else assert.ok((encoded[i]?.length ?? 0) > 0, `frame ${i} has bytes`);
    });
    const ts = Buffer.concat(encoded.filter((b) => b !== null));
    assertContinuous(ts);
    const { out, demuxer } = demux(ts);
    noDrops(demuxer);
    const headers = out.filter((f) => f.track !== undefined);
    assert.deepEqual(
      headers.map((f) => f.track?.config.toString('hex')).sort(),
      frames
        .filter((f) => f.sequenceHeader)
        .map((f) => f.track?.config.toString('hex'))
        .sort(),
    );
    const want = media(frames);
    const got = media(out);
    assert.equal(got.filter((f) => f.kind === 'video').length, 50);
    assert.equal(got.filter((f) => f.keyframe).length, want.filter((f) => f.keyframe).length);
    // The demuxer hands out frames as their PES end; compare per kind, in order.
    for (const kind of ['video', 'audio'] as const) {
      assert.deepEqual(
        got.filter((f) => f.kind === kind).map((f) => summary(f)),
        want.filter((f) => f.kind === kind).map((f) => summary(f, TIMESTAMP_OFFSET_90K)),
        `${name} ${kind}`,
      );
    }
  }
});

test('createTsLiveEncoder: a viewer joining at any keyframe can decode from there', () => {
  const frames = fixtureFrames('h264-aac.mpegts');
  const encoded = encodeAll(frames);
  const keyframes = frames.flatMap((f, i) => (f.keyframe ? [i] : []));
  assert.ok(keyframes.length >= 2);
  for (const from of keyframes) {
    const bytes = encoded[from]!;
    assert.equal(packetsOf(bytes)[0]?.pid, PAT_PID, 'a keyframe starts with the PAT');
    const ts = Buffer.concat(encoded.slice(from).filter((b) => b !== null));
    const { out, demuxer } = demux(ts);
    noDrops(demuxer);
    const firstVideo = out.findIndex((f) => f.kind === 'video');
    assert.ok(out[firstVideo]?.track !== undefined, 'the video track is known first');
    assert.ok(out[firstVideo + 1]?.keyframe === true, 'then the keyframe');
    for (const kind of ['video', 'audio'] as const) {
      // Audio frames of the GOP that came before the keyframe are not in the joiner's bytes.
      const want = frames
        .slice(from)
        .filter((f) => f.kind === kind && !f.sequenceHeader)
        .map((f) => summary(f, TIMESTAMP_OFFSET_90K));
      assert.deepEqual(
        media(out)
          .filter((f) => f.kind === kind)
          .map((f) => summary(f)),
        want,
        `${kind} from frame ${from}`,
      );
    }
  }
});

test('createTsLiveEncoder: a track change mid-stream gives the demuxer a new sequence header', () => {
  const first = fixtureFrames('h264-aac.mpegts');
  const lastDts = Math.max(...first.map((f) => f.dts));
  const second = fixtureFrames('h264-bframes-aac.mpegts', lastDts + 3600 - 126_000);
  const frames = [...first, ...second];
  const ts = Buffer.concat(encodeAll(frames).filter((b) => b !== null));
  // The new muxer's packets go on with the old counters.
  assertContinuous(ts);
  const { out, demuxer } = demux(ts);
  noDrops(demuxer);
  const videoHeaders = out.filter((f) => f.kind === 'video' && f.track !== undefined);
  const audioHeaders = out.filter((f) => f.kind === 'audio' && f.track !== undefined);
  const configOf = (fs: readonly Frame[], kind: string): string | undefined =>
    fs.find((f) => f.kind === kind && f.sequenceHeader)?.track?.config.toString('hex');
  assert.deepEqual(
    videoHeaders.map((f) => f.track?.config.toString('hex')),
    [configOf(first, 'video'), configOf(second, 'video')],
  );
  assert.deepEqual(
    audioHeaders.map((f) => f.track?.config.toString('hex')),
    [configOf(first, 'audio'), configOf(second, 'audio')],
  );
  assert.equal(media(out).length, media(frames).length);
});

test('createTsLiveEncoder: the same configuration again does not start over', () => {
  const frames = fixtureFrames('h264-aac.mpegts');
  const encode = createTsLiveEncoder();
  const header = frames.find((f) => f.kind === 'video' && f.sequenceHeader)!;
  const audioHeader = frames.find((f) => f.kind === 'audio' && f.sequenceHeader)!;
  encode(header);
  encode(audioHeader);
  const inter = frames.find((f) => f.kind === 'video' && !f.sequenceHeader && !f.keyframe)!;
  const before = encode(inter)!;
  assert.equal(packetsOf(before)[0]?.pid, PAT_PID, 'the first frame after the tracks: PAT');
  // A repeated header (a copy of the same track) changes nothing: no PAT before an inter frame.
  assert.equal(encode({ ...header, track: { ...(header.track as VideoTrack) } }), null);
  const after = encode(inter)!;
  assert.notEqual(packetsOf(after)[0]?.pid, PAT_PID);
});

const AAC: AudioTrack = { kind: 'audio', codec: 'aac', config: Buffer.from([0x12, 0x10]) };
const audioHeader: Frame = {
  kind: 'audio',
  track: AAC,
  timescale: 1000,
  dts: 0,
  pts: 0,
  keyframe: false,
  sequenceHeader: true,
  payload: AAC.config,
};
const aacFrame = (dts: number, timescale: number, payload = Buffer.from([0x21, 0x10, 0x05])) => ({
  kind: 'audio' as const,
  track: AAC,
  timescale,
  dts,
  pts: dts,
  keyframe: false,
  sequenceHeader: false,
  payload,
});

test('createTsLiveEncoder: audio only, PAT + PMT first and at most every 500 ms', () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 60 }),
      (steps) => {
        const encode = createTsLiveEncoder();
        assert.equal(encode(audioHeader), null);
        let dts = 0;
        let lastHeader = -Infinity;
        const chunks: Buffer[] = [];
        for (const [i, step] of steps.entries()) {
          const bytes = encode(aacFrame(dts, 1000));
          assert.ok(bytes !== null);
          const hasHeader = packetsOf(bytes)[0]?.pid === PAT_PID;
          if (i === 0) assert.ok(hasHeader, 'the first frame has PAT + PMT');
          // Never 500 ms without one; none sooner than 500 ms after the last one.
          assert.equal(hasHeader, dts - lastHeader >= AUDIO_ONLY_HEADER_INTERVAL_MS, `at ${dts}`);
          if (hasHeader) lastHeader = dts;
          chunks.push(bytes);
          dts += step;
        }
        const ts = Buffer.concat(chunks);
        assertContinuous(ts);
        const { out, demuxer } = demux(ts);
        noDrops(demuxer);
        assert.equal(media(out).length, steps.length);
      },
    ),
    { numRuns: 100 },
  );
});

test('createTsLiveEncoder: nothing for data, frames before their track, or codecs TS lacks', () => {
  const encode = createTsLiveEncoder();
  const data: Frame = { ...aacFrame(0, 1000), kind: 'data', track: undefined };
  assert.equal(encode(data), null);
  assert.equal(encode({ ...aacFrame(0, 1000), track: undefined }), null, 'no track yet');
  const opus: AudioTrack = { kind: 'audio', codec: 'opus', config: Buffer.alloc(19) };
  assert.equal(encode({ ...audioHeader, track: opus }), null);
  assert.equal(encode({ ...aacFrame(20, 1000), track: opus }), null, 'Opus is not carried');
  // A configuration the muxer refuses leaves that track out instead of throwing.
  const broken: VideoTrack = { kind: 'video', codec: 'h264', config: Buffer.from([1, 2]) };
  assert.doesNotThrow(() => encode({ ...audioHeader, kind: 'video', track: broken }));
  assert.equal(
    encode({ ...aacFrame(40, 1000), kind: 'video', keyframe: true, track: broken }),
    null,
  );
  // The audio goes on once it is a track TS carries.
  assert.ok(encode(aacFrame(60, 1000)) !== null);
});

test('createTsLiveEncoder: a media frame whose header it never saw brings its track', () => {
  const frames = fixtureFrames('h264-aac.mpegts');
  const tracks = new Map(frames.filter((f) => f.sequenceHeader).map((f) => [f.kind, f.track]));
  // As a SharedOutput made mid-stream could see it: media frames carry their track.
  const late = frames
    .filter((f) => !f.sequenceHeader)
    .map((f) => ({ ...f, track: tracks.get(f.kind) }));
  const start = late.findIndex((f) => f.keyframe);
  const ts = Buffer.concat(encodeAll(late.slice(start)).filter((b) => b !== null));
  const { out, demuxer } = demux(ts);
  noDrops(demuxer);
  assert.equal(
    media(out).filter((f) => f.kind === 'video').length,
    late.slice(start).filter((f) => f.kind === 'video').length,
  );
});
