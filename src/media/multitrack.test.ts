import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitMultitrackVideo } from './multitrack.ts';
import { parseVideoTag } from './flv-tag-parser.ts';

const AVC1 = Buffer.from('avc1', 'latin1');
const HVC1 = Buffer.from('hvc1', 'latin1');
const size = (n: number): Buffer => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
/** ExVideoTagHeader: IsExHeader, FrameType (1 key, 2 inter), PacketType Multitrack (6). */
const header = (frameType: number, kind: number, packetType: number): Buffer =>
  Buffer.from([0x80 | (frameType << 4) | 6, (kind << 4) | packetType]);

test('splitMultitrackVideo(): not multitrack is null', () => {
  assert.equal(splitMultitrackVideo(Buffer.from([0x17, 1, 0, 0, 0, 1])), null, 'legacy AVC');
  assert.equal(splitMultitrackVideo(Buffer.concat([Buffer.from([0x91]), AVC1])), null);
  assert.equal(splitMultitrackVideo(Buffer.alloc(0)), null);
});

test('splitMultitrackVideo(): OneTrack avc1 coded frames become a legacy AVC tag of that track', () => {
  const nal = Buffer.from([0, 0, 0, 2, 0x65, 0x88]);
  const cts = Buffer.from([0, 0, 40]);
  const body = Buffer.concat([header(1, 0, 1), AVC1, Buffer.from([2]), cts, nal]);
  const tracks = splitMultitrackVideo(body);
  assert.ok(Array.isArray(tracks));
  assert.equal(tracks.length, 1);
  const [track] = tracks;
  assert.ok(track);
  assert.equal(track.trackId, 2);
  assert.deepEqual(track.body, Buffer.concat([Buffer.from([0x17, 1]), cts, nal]));
  const parsed = parseVideoTag(track.body);
  assert.deepEqual(parsed, { type: 'frame', keyframe: true, ctsMs: 40, payloadOffset: 5 });
});

test('splitMultitrackVideo(): ManyTracks splits by sizeOfVideoTrack; ManyTracksManyCodecs keeps each FourCC', () => {
  const a = Buffer.from([0, 0, 0, 0xaa]);
  const b = Buffer.from([0, 0, 0, 0xbb, 0xbc]);
  const many = Buffer.concat([
    header(2, 1, 1),
    AVC1,
    Buffer.from([0]),
    size(a.length),
    a,
    Buffer.from([1]),
    size(b.length),
    b,
  ]);
  assert.deepEqual(splitMultitrackVideo(many), [
    { trackId: 0, body: Buffer.concat([Buffer.from([0x27, 1]), a]) },
    { trackId: 1, body: Buffer.concat([Buffer.from([0x27, 1]), b]) },
  ]);
  const codecs = Buffer.concat([
    header(2, 2, 3),
    AVC1,
    Buffer.from([0]),
    size(a.length),
    a,
    HVC1,
    Buffer.from([1]),
    size(b.length),
    b,
  ]);
  assert.deepEqual(splitMultitrackVideo(codecs), [
    { trackId: 0, body: Buffer.concat([Buffer.from([0x27, 1, 0, 0, 0]), a]) },
    { trackId: 1, body: Buffer.concat([Buffer.from([0xa3]), HVC1, b]) },
  ]);
});

test('splitMultitrackVideo(): a track running past the message, a nested Multitrack, reserved types', () => {
  const a = Buffer.from([1, 2, 3]);
  const over = Buffer.concat([header(1, 1, 1), AVC1, Buffer.from([0]), size(10), a]);
  assert.equal(splitMultitrackVideo(over), 'too-short');
  assert.equal(splitMultitrackVideo(Buffer.concat([header(1, 0, 6), AVC1])), 'unsupported-codec');
  assert.equal(splitMultitrackVideo(Buffer.concat([header(1, 3, 1), AVC1])), 'unsupported-codec');
  assert.equal(splitMultitrackVideo(header(1, 0, 1)), 'too-short');
});

test('splitMultitrackVideo() never throws and never returns more bytes than it was given', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 2 }), (bytes, kind) => {
      const body = Buffer.concat([header(1, kind, 1), Buffer.from(bytes)]);
      const result = splitMultitrackVideo(body);
      if (!Array.isArray(result)) return;
      const total = result.reduce((sum, track) => sum + track.body.length, 0);
      assert.ok(total <= body.length + 8 * result.length);
    }),
  );
});
