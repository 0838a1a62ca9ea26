import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseWhipH264Format, h264AnswerFmtp, parseWhipOffer } from './whip-offer.ts';

/** A Chromium-like sendonly offer: audio first, then video with several H.264 formats. */
const OFFER = [
  'v=0',
  'o=- 1 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63',
  'a=mid:0',
  'a=sendonly',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 103 107 117 109',
  'a=mid:1',
  'a=sendonly',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:103 H264/90000',
  'a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f',
  'a=rtpmap:107 H264/90000',
  'a=fmtp:107 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
  'a=rtpmap:117 H264/90000',
  'a=fmtp:117 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:109 H264/90000',
  'a=fmtp:109 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  '',
].join('\r\n');

test('parseWhipOffer(): the mids, H.264 42e01f in mode 1 and the Opus payload type', () => {
  const offer = parseWhipOffer(OFFER);
  assert.ok(!('status' in offer));
  assert.equal(offer.video.mid, '1');
  assert.equal(offer.video.codec, 'h264');
  assert.equal(offer.video.format.payloadType, 109);
  assert.deepEqual(offer.audio, { mid: '0', payloadType: 111 });
  assert.equal(
    h264AnswerFmtp(offer.video.format),
    'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1',
  );
});

test('parseWhipOffer(): 400 for what is not an offer, 406 without H.264 in mode 1, AV1 or VP8', () => {
  assert.equal((parseWhipOffer('hello') as { status: number }).status, 400);
  const vp9Only = OFFER.replace(/a=rtpmap:(103|107|117|109) H264/g, 'a=rtpmap:$1 VP9').replace(
    'a=rtpmap:96 VP8/90000',
    'a=rtpmap:96 VP9/90000',
  );
  assert.equal((parseWhipOffer(vp9Only) as { status: number }).status, 406);
  const audioOnly = OFFER.slice(0, OFFER.indexOf('m=video'));
  assert.equal((parseWhipOffer(audioOnly) as { status: number }).status, 406);
  const noOpus = OFFER.replace('opus/48000/2', 'PCMU/8000');
  const parsed = parseWhipOffer(noOpus);
  assert.ok(!('status' in parsed));
  assert.equal(parsed.audio, null, 'video alone is published');
});

test('parseWhipOffer(): AV1 when the offer has no usable H.264, H.264 when it has both', () => {
  const withAv1 = OFFER.replace(
    'm=video 9 UDP/TLS/RTP/SAVPF 96 103 107 117 109',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 45 103 107 117 109 46',
  ).replace(
    'a=rtpmap:96 VP8/90000',
    'a=rtpmap:96 VP8/90000\r\na=rtpmap:45 AV1/90000\r\na=fmtp:45 level-idx=5;profile=0;tier=0\r\na=rtpmap:46 AV1/90000',
  );
  const both = parseWhipOffer(withAv1);
  assert.ok(!('status' in both));
  assert.equal(both.video.codec, 'h264', 'H.264 stays preferred');
  assert.equal(both.video.format.payloadType, 109);
  const av1Only = withAv1.replace(/a=rtpmap:(103|107|117|109) H264/g, 'a=rtpmap:$1 VP9');
  const av1 = parseWhipOffer(av1Only);
  assert.ok(!('status' in av1));
  assert.deepEqual(av1.video, { mid: '1', codec: 'av1', format: { payloadType: 45 } });
  assert.deepEqual(av1.audio, { mid: '0', payloadType: 111 });
  const mode0AndAv1 = withAv1.replace(/packetization-mode=1/g, 'packetization-mode=0');
  const chosen = parseWhipOffer(mode0AndAv1);
  assert.ok(!('status' in chosen));
  assert.equal(chosen.video.codec, 'av1', 'H.264 in mode 0 only is not usable');
  const notListed = withAv1
    .replace(/a=rtpmap:(103|107|117|109) H264/g, 'a=rtpmap:$1 VP9')
    .replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:96 VP9/90000')
    .replace(' 45 ', ' ')
    .replace(' 46\r\n', '\r\n');
  const refused = parseWhipOffer(notListed);
  assert.ok(
    'status' in refused && refused.status === 406,
    'an rtpmap not on the m-line is ignored',
  );
  assert.match(refused.message, /H\.264, AV1 or VP8/);
});

test('parseWhipOffer(): VP8 when the offer has neither usable H.264 nor AV1 (Firefox without OpenH264)', () => {
  const noH264 = OFFER.replace(/a=rtpmap:(103|107|117|109) H264/g, 'a=rtpmap:$1 VP9');
  const vp8 = parseWhipOffer(noH264);
  assert.ok(!('status' in vp8), 'the offer lists VP8/90000 on 96');
  assert.deepEqual(vp8.video, { mid: '1', codec: 'vp8', format: { payloadType: 96 } });
  assert.deepEqual(vp8.audio, { mid: '0', payloadType: 111 });
  const withAv1 = noH264
    .replace('m=video 9 UDP/TLS/RTP/SAVPF 96 ', 'm=video 9 UDP/TLS/RTP/SAVPF 96 45 ')
    .replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:96 VP8/90000\r\na=rtpmap:45 AV1/90000');
  const av1 = parseWhipOffer(withAv1);
  assert.ok(!('status' in av1));
  assert.equal(av1.video.codec, 'av1', 'AV1 before VP8');
  const h264 = parseWhipOffer(OFFER);
  assert.ok(!('status' in h264));
  assert.equal(h264.video.codec, 'h264', 'H.264 before both');
  const neither = parseWhipOffer(noH264.replace('a=rtpmap:96 VP8/90000', 'a=rtpmap:96 VP9/90000'));
  assert.ok('status' in neither && neither.status === 406);
  assert.match(neither.message, /no AV1 and no VP8/);
});

test('chooseWhipH264Format(): Constrained Baseline first, then Baseline/Main/High, never mode 0', () => {
  const f = (payloadType: number, profileLevelId: string | null, packetizationMode = 1) => ({
    payloadType,
    profileLevelId,
    packetizationMode,
  });
  assert.equal(chooseWhipH264Format([f(1, '640032'), f(2, '42001f')])?.payloadType, 2);
  assert.equal(chooseWhipH264Format([f(1, 'f4001f'), f(2, '640032')])?.payloadType, 2);
  assert.equal(chooseWhipH264Format([f(1, 'f4001f')])?.payloadType, 1);
  assert.equal(chooseWhipH264Format([f(1, '42e01f', 0)]), null);
});

test('parseWhipOffer() never throws on arbitrary text (property)', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 2000 }), (text) => {
      parseWhipOffer(`v=0\r\n${text}`);
      parseWhipOffer(text);
    }),
  );
});
