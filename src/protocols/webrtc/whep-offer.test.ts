import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MAX_OFFER_BYTES, chooseH264Format, parseWhepOffer } from './whep-offer.ts';

/** The shape of Chromium's recvonly offer (video formats trimmed). */
const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 102 106 112',
  'a=mid:0',
  'a=recvonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:106 H264/90000',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
  'a=rtpmap:112 H264/90000',
  'a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001F',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'a=mid:1',
  'a=sendrecv',
  'a=rtpmap:111 opus/48000/2',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

test('parseWhepOffer() reads the mids, directions and H.264 and Opus formats of an offer', () => {
  const offer = parseWhepOffer(OFFER);
  assert.ok(typeof offer !== 'string');
  assert.equal(offer.video?.mid, '0');
  assert.equal(offer.video.receives, true);
  assert.deepEqual(offer.video.h264, [
    { payloadType: 102, profileLevelId: '42001f', packetizationMode: 1 },
    { payloadType: 106, profileLevelId: '42e01f', packetizationMode: 0 },
    { payloadType: 112, profileLevelId: '64001f', packetizationMode: 1 },
  ]);
  assert.deepEqual(offer.audio, { mid: '1', receives: true, opus: 111 });
});

test('chooseH264Format() takes packetization-mode 1 of the stream profile, else the first mode 1', () => {
  const offer = parseWhepOffer(OFFER);
  assert.ok(typeof offer !== 'string' && offer.video);
  assert.equal(chooseH264Format(offer.video.h264, 100)?.payloadType, 112, 'High');
  assert.equal(chooseH264Format(offer.video.h264, 66)?.payloadType, 102, 'Baseline');
  assert.equal(chooseH264Format(offer.video.h264, 77)?.payloadType, 102, 'Main: the first');
  assert.equal(
    chooseH264Format([{ payloadType: 1, profileLevelId: null, packetizationMode: 0 }], 66),
    null,
  );
});

test('parseWhepOffer() refuses what it cannot answer, and never throws', () => {
  assert.equal(typeof parseWhepOffer('hello'), 'string');
  assert.equal(typeof parseWhepOffer('v=0\r\n'), 'string', 'no media');
  assert.equal(typeof parseWhepOffer(`v=0\r\n${'m=video 9 X 96\r\n'.repeat(5)}`), 'string');
  assert.equal(typeof parseWhepOffer(`v=0\r\na=${'x'.repeat(5000)}\r\n`), 'string');
  assert.equal(typeof parseWhepOffer(`v=0\r\n${'a'.repeat(MAX_OFFER_BYTES)}`), 'string');
  const sendonly = parseWhepOffer(OFFER.replace('a=recvonly', 'a=sendonly'));
  assert.ok(typeof sendonly !== 'string');
  assert.equal(sendonly.video?.receives, false);
  const badMid = parseWhepOffer(OFFER.replace('a=mid:0', 'a=mid:<script>'));
  assert.ok(typeof badMid !== 'string');
  assert.equal(badMid.video, null, 'a mid onair would not echo');
  fc.assert(
    fc.property(fc.string({ maxLength: 2000 }), (text) => {
      parseWhepOffer(`v=0\r\n${text}`);
    }),
  );
});
