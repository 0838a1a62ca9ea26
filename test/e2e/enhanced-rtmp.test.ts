// Enhanced RTMP (AV1 + Opus FourCC tags) published with onair's client and read back unchanged.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { waitFor } from '../support/media-tools.ts';
import { readFlvFile, watchHttpFlv } from '../support/flv-reader.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';
import { MessageType, type RtmpMessage } from '../../src/codecs/rtmp-message.ts';
import { FlvTagType, type FlvTag } from '../../src/codecs/flv.ts';
import { AV1_OPUS_FLV } from '../support/fixtures.ts';

const FIXTURE = AV1_OPUS_FLV;

let server: TestServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server.stop();
});

/**
 * What a viewer must receive: the last good sequence header of each track (video first), then
 * every media tag from the first video keyframe on. The fixture's first video sequence start is
 * empty: the server rejects it and keeps the good one.
 */
function expectedMedia(tags: FlvTag[]): { type: number; body: Buffer }[] {
  const media = tags.filter((t) => t.type === FlvTagType.Video || t.type === FlvTagType.Audio);
  const isHeader = (t: FlvTag): boolean => (t.body[0]! & 0x0f) === 0;
  const isKeyframe = (t: FlvTag): boolean =>
    t.type === FlvTagType.Video && !isHeader(t) && ((t.body[0]! >> 4) & 7) === 1;
  const firstKey = media.findIndex(isKeyframe);
  assert.ok(firstKey >= 0, 'the fixture has a keyframe');
  const before = media.slice(0, firstKey).filter(isHeader);
  const videoHeader = before.filter((t) => t.type === FlvTagType.Video).at(-1);
  const audioHeader = before.filter((t) => t.type === FlvTagType.Audio).at(-1);
  assert.ok(videoHeader && audioHeader, 'the fixture has both sequence headers');
  return [videoHeader, audioHeader, ...media.slice(firstKey)].map((t) => ({
    type: t.type,
    body: t.body,
  }));
}

test('the AV1 + Opus fixture is read back byte-identical over RTMP and HTTP-FLV', async () => {
  const tags = readFlvFile(FIXTURE);
  const rtmpReceived: RtmpMessage[] = [];
  const viewer = await RtmpClient.connect(server.rtmpUrl('live/eav1'), {
    onMedia: (m) => {
      if (m.typeId === MessageType.Video || m.typeId === MessageType.Audio) rtmpReceived.push(m);
    },
  });
  const playing = viewer.play();
  const flvViewer = watchHttpFlv(server.httpUrl('live/eav1.flv'));
  await waitFor(
    () => (server.onair.hub.get('live/eav1')?.subscriberCount ?? 0) === 2,
    5000,
    'both viewers',
  );

  const publisher = await RtmpClient.connect(server.rtmpUrl('live/eav1'));
  const streamId = await publisher.publish();
  for (const tag of tags) publisher.sendMedia(streamId, tag.type, tag.timestamp, tag.body);
  await playing;

  const expected = expectedMedia(tags);
  await waitFor(() => rtmpReceived.length >= expected.length, 10_000, 'every frame over RTMP');
  await waitFor(
    () => flvViewer.tags.filter((t) => t.type !== FlvTagType.Script).length >= expected.length,
    10_000,
    'every frame over HTTP-FLV',
  );
  const rtmpMedia = rtmpReceived.map((m) => ({ type: m.typeId, body: m.payload }));
  const flvMedia = flvViewer.tags
    .filter((t) => t.type !== FlvTagType.Script)
    .map((t) => ({ type: t.type, body: t.body }));
  for (const [label, received] of [
    ['RTMP', rtmpMedia],
    ['HTTP-FLV', flvMedia],
  ] as const) {
    assert.equal(received.length, expected.length, `${label}: message count`);
    received.forEach((m, i) => {
      assert.equal(m.type, expected[i]!.type, `${label} message ${i}: type`);
      assert.ok(m.body.equals(expected[i]!.body), `${label} message ${i}: payload differs`);
    });
  }
  const tracks = server.onair.hub.get('live/eav1')?.tracks.map((t) => t.codec);
  assert.deepEqual(tracks, ['av1', 'opus']);
  publisher.close();
  viewer.close();
  flvViewer.close();
});
