// flvBodyOf() against the FLV tag parser: every codec's frames and sequence headers, encoded
// from codec-native fields, parse back to the same keyframe flag, composition offset, payload
// and track.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFlvBody, flvBodyOf } from './flv-body.ts';
import { parseAudioTag, parseVideoTag, type TagParse } from './flv-tag-parser.ts';
import type { Frame } from './frame.ts';
import type { AudioTrack, Track, VideoTrack } from './track.ts';
import { hlsTestMedia } from '../../test/support/media-frames.ts';

/** OpusHead (RFC 7845 5.1): stereo, 312 samples pre-skip, 48 kHz, no gain, mapping family 0. */
const OPUS_HEAD = Buffer.from('4f707573486561640102380180bb0000000000', 'hex');
const OPUS: AudioTrack = { kind: 'audio', codec: 'opus', config: OPUS_HEAD, channels: 2 };

function frameOf(track: Track, fields: Partial<Frame> & { payload: Buffer }): Frame {
  return {
    kind: track.kind,
    track,
    timescale: 90_000,
    dts: 900_000,
    pts: 900_000,
    keyframe: false,
    sequenceHeader: false,
    ...fields,
  };
}

function parse(frame: Frame): TagParse {
  const body = encodeFlvBody(frame);
  assert.ok(body, 'an FLV body');
  return frame.kind === 'video' ? parseVideoTag(body) : parseAudioTag(body);
}

/** Asserts `frame` parses back as a coded frame with its payload, keyframe flag and cts. */
function assertFrameRoundTrip(frame: Frame, ctsMs: number): void {
  const parsed = parse(frame);
  if (parsed.type !== 'frame') assert.fail(`not a frame: ${JSON.stringify(parsed)}`);
  assert.equal(parsed.keyframe, frame.keyframe);
  assert.equal(parsed.ctsMs, ctsMs);
  const body = encodeFlvBody(frame)!;
  assert.deepEqual(body.subarray(parsed.payloadOffset), frame.payload);
}

test('flvBodyOf: H.264 frames with a composition offset (90 kHz ticks to FLV ms) and the AVC header', () => {
  const { video } = hlsTestMedia();
  const nal = Buffer.from([0, 0, 0, 2, 0x65, 0x88]);
  assertFrameRoundTrip(frameOf(video, { payload: nal, keyframe: true, pts: 900_000 + 3600 }), 40);
  assertFrameRoundTrip(frameOf(video, { payload: nal, pts: 900_000 - 1800 }), -20);
  const header = parse(frameOf(video, { payload: video.config, sequenceHeader: true }));
  if (header.type !== 'sequence-header') assert.fail(header.type);
  assert.deepEqual(header.track, video);
});

test('flvBodyOf: AAC raw frames and the AudioSpecificConfig header', () => {
  const { audio } = hlsTestMedia();
  assertFrameRoundTrip(frameOf(audio, { payload: Buffer.from([0x21, 0x10, 0x04]) }), 0);
  const header = parse(frameOf(audio, { payload: audio.config, sequenceHeader: true }));
  if (header.type !== 'sequence-header') assert.fail(header.type);
  assert.deepEqual(header.track, audio);
});

test('flvBodyOf: HEVC, AV1, VP9 and VP8 as enhanced RTMP coded frames (HEVC with its offset)', () => {
  const payload = Buffer.from([0, 0, 0, 3, 0x26, 0x01, 0xaf]);
  for (const codec of ['hevc', 'av1', 'vp9', 'vp8'] as const) {
    const track: VideoTrack = { kind: 'video', codec, config: Buffer.from([1, 2, 3]) };
    const cts = codec === 'hevc' ? 80 : 0;
    assertFrameRoundTrip(frameOf(track, { payload, keyframe: true, pts: 900_000 + cts * 90 }), cts);
    assertFrameRoundTrip(frameOf(track, { payload }), 0);
    const header = encodeFlvBody(frameOf(track, { payload: track.config, sequenceHeader: true }));
    // IsExHeader, FrameType key, PacketType SequenceStart, then the FourCC and the record.
    assert.ok(header);
    assert.equal(header[0], 0x90, codec);
    assert.deepEqual(header.subarray(5), track.config);
  }
});

test('flvBodyOf: Opus frames and its OpusHead as enhanced RTMP audio; MP3 with its rate bits', () => {
  assertFrameRoundTrip(frameOf(OPUS, { payload: Buffer.from([0xfc, 0xff, 0xfe]) }), 0);
  const header = parse(frameOf(OPUS, { payload: OPUS_HEAD, sequenceHeader: true }));
  if (header.type !== 'sequence-header') assert.fail(header.type);
  {
    assert.equal(header.track.codec, 'opus');
    assert.deepEqual(header.track.config, OPUS_HEAD);
  }
  const mp3: AudioTrack = {
    kind: 'audio',
    codec: 'mp3',
    config: Buffer.alloc(0),
    sampleRate: 22050,
    channels: 1,
  };
  const body = encodeFlvBody(frameOf(mp3, { payload: Buffer.from([0xff, 0xf3]) }));
  assert.equal(body?.[0], (2 << 4) | (2 << 2) | 0x02, 'MP3, 22 kHz, 16-bit, mono');
  assertFrameRoundTrip(frameOf(mp3, { payload: Buffer.from([0xff, 0xf3]) }), 0);
});

test('flvBodyOf: a body that came with the frame is used as is; a built one is kept and reused', () => {
  const { audio } = hlsTestMedia();
  const received = Buffer.from([0xaf, 0x01, 0x21]);
  assert.equal(
    flvBodyOf(frameOf(audio, { payload: received.subarray(2), flvBody: received })),
    received,
  );
  const frame = frameOf(audio, { payload: Buffer.from([0x21]) });
  const built = flvBodyOf(frame);
  assert.ok(built);
  assert.equal(flvBodyOf(frame), built, 'built once per frame');
  assert.equal(frame.flvBody, built);
});

test('flvBodyOf: script data is its AMF0 payload; a media frame with no track has no FLV body', () => {
  const meta = Buffer.from([2, 0, 10, ...Buffer.from('onMetaData')]);
  const data: Frame = {
    kind: 'data',
    timescale: 1000,
    dts: 0,
    pts: 0,
    keyframe: false,
    sequenceHeader: false,
    payload: meta,
  };
  assert.equal(flvBodyOf({ ...data }), meta);
  assert.equal(flvBodyOf({ ...data, kind: 'video', payload: Buffer.from([1]) }), null);
});
