// Tests of the RTMP <-> Frame mapping: messages become frames (headers, media, metadata,
// pass-through), and frames become RTMP chunks that decode back to the same message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeAmf0 } from '../codecs/amf0.ts';
import { ChunkDecoder } from '../codecs/rtmp-chunk-decoder.ts';
import { MessageType, type RtmpMessage } from '../codecs/rtmp-message.ts';
import type { Frame, FrameInput } from './frame.ts';
import { RtmpIngestState, frameFromMessage, rtmpFrameEncoder } from './rtmp-frames.ts';

/** libx264 320x240 High@1.3 SPS and a PPS, in an AVCDecoderConfigurationRecord. */
const SPS = Buffer.from('6764000dacd94141fb011000000300100000030320f1429960', 'hex');
const PPS = Buffer.from('68ebe3cb22c0', 'hex');
const AVCC = Buffer.concat([
  Buffer.from([1, 0x64, 0, 0x0d, 0xff, 0xe1, 0, SPS.length]),
  SPS,
  Buffer.from([1, 0, PPS.length]),
  PPS,
]);

function message(typeId: number, timestamp: number, payload: Buffer): RtmpMessage {
  return { csid: 6, typeId, streamId: 1, timestamp, payload };
}

function mapped(msg: RtmpMessage, state = new RtmpIngestState()): FrameInput {
  const result = frameFromMessage(msg, state);
  if (typeof result === 'string') assert.fail(`skipped: ${result}`);
  return result;
}

test('frameFromMessage: an AVC sequence header carries its track, the record as payload and the body', () => {
  const body = Buffer.concat([Buffer.from([0x17, 0, 0, 0, 0]), AVCC]);
  const input = mapped(message(MessageType.Video, 0, body));
  assert.equal(input.kind, 'video');
  assert.equal(input.track?.codec, 'h264');
  assert.deepEqual(input.payload, AVCC);
  assert.equal(input.flvBody, body, 'the publisher bytes are kept, not copied');
});

test('frameFromMessage: an AVC keyframe in ms, pts from its composition offset, payload a view of the body', () => {
  const body = Buffer.from([0x17, 1, 0, 0, 40, 0, 0, 0, 1, 0x65]);
  const input = mapped(message(MessageType.Video, 1234, body));
  assert.deepEqual(
    [input.kind, input.timescale, input.dts, input.pts, input.keyframe],
    ['video', 1000, 1234, 1274, true],
  );
  assert.deepEqual(input.payload, body.subarray(5));
  assert.equal(input.payload.buffer, body.buffer, 'not copied');
});

test('frameFromMessage: 32-bit timestamps are unwrapped; a small step back stays a step back', () => {
  const state = new RtmpIngestState();
  const body = Buffer.from([0x27, 1, 0, 0, 0, 0, 0, 0, 1, 0x41]);
  const at = (timestamp: number): number =>
    mapped(message(MessageType.Video, timestamp, body), state).dts;
  assert.equal(at(2 ** 32 - 40), 2 ** 32 - 40);
  assert.equal(at(0), 2 ** 32, 'the wrap continues forward');
  assert.equal(at(40), 2 ** 32 + 40);
  assert.equal(at(2 ** 32 - 20), 2 ** 32 - 20, 'audio slightly behind, across the wrap');
  assert.equal(at(80), 2 ** 32 + 80);
});

test('frameFromMessage: @setDataFrame is stripped to plain onMetaData; other data is skipped', () => {
  const meta = encodeAmf0(['onMetaData', { width: 320 }]);
  const withSetDataFrame = Buffer.concat([encodeAmf0(['@setDataFrame']), meta]);
  const input = mapped(message(MessageType.DataAmf0, 0, withSetDataFrame));
  assert.equal(input.kind, 'data');
  assert.deepEqual(input.payload, meta);
  assert.deepEqual(input.flvBody, meta);
  const other = frameFromMessage(
    message(MessageType.DataAmf0, 0, encodeAmf0(['onCuePoint'])),
    new RtmpIngestState(),
  );
  assert.equal(other, 'not-metadata');
});

test('frameFromMessage: the first MP3 frame announces the track, once', () => {
  const state = new RtmpIngestState();
  const body = Buffer.from([0x2f, 0xff, 0xfb, 0x90, 0x00]);
  assert.equal(mapped(message(MessageType.Audio, 0, body), state).track?.codec, 'mp3');
  assert.equal(mapped(message(MessageType.Audio, 26, body), state).track, undefined);
});

test('rtmpFrameEncoder: chunks decode back to the FLV body, type and 32-bit timestamp', () => {
  const encode = rtmpFrameEncoder(1, 128);
  const body = Buffer.alloc(1000, 7);
  body[0] = 0x27;
  const frame: Frame = {
    kind: 'video',
    timescale: 1000,
    dts: 0x1_0000_0010,
    pts: 0x1_0000_0010,
    keyframe: false,
    sequenceHeader: false,
    payload: body.subarray(5),
    flvBody: body,
  };
  const bytes = encode(frame);
  assert.ok(bytes);
  const decoder = new ChunkDecoder();
  const messages = decoder.push(bytes);
  assert.equal(messages.length, 1);
  const decoded = messages[0];
  assert.ok(decoded);
  assert.equal(decoded.typeId, MessageType.Video);
  assert.equal(decoded.streamId, 1);
  assert.equal(decoded.timestamp, 0x10, 'the dts modulo 2^32');
  assert.deepEqual(decoded.payload, body);
  // Twice the same frame, twice the same bytes: the output is shared by every RTMP viewer.
  assert.deepEqual(encode(frame), bytes);
});

test('rtmpFrameEncoder publishing: metadata goes as @setDataFrame, which ingest strips again', () => {
  const metadata = encodeAmf0(['onMetaData', { width: 320 }]);
  const frame: Frame = {
    kind: 'data',
    timescale: 1000,
    dts: 0,
    pts: 0,
    keyframe: false,
    sequenceHeader: false,
    payload: metadata,
    flvBody: metadata,
  };
  const decode = (bytes: Buffer | null): RtmpMessage => {
    assert.ok(bytes);
    const [decoded] = new ChunkDecoder().push(bytes);
    assert.ok(decoded);
    return decoded;
  };
  const played = decode(rtmpFrameEncoder(1, 4096)(frame));
  assert.deepEqual(played.payload, metadata);
  const published = decode(rtmpFrameEncoder(1, 4096, { publishing: true })(frame));
  assert.deepEqual(published.payload, Buffer.concat([encodeAmf0(['@setDataFrame']), metadata]));
  const ingested = frameFromMessage(published, new RtmpIngestState());
  assert.ok(typeof ingested !== 'string');
  assert.deepEqual(ingested.payload, metadata);
});
