// End to end: ffmpeg publishes over RTMP; ffprobe/ffmpeg read back over RTMP, HTTP-FLV, WS-FLV.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../support/server.ts';
import {
  assertVideo,
  probe,
  publishTestPattern,
  run,
  waitFor,
  type Publisher,
} from '../support/media-tools.ts';
import { RtmpClient, RtmpStatusError } from '../../src/protocols/rtmp/rtmp-client.ts';
import { MessageType } from '../../src/codecs/rtmp-message.ts';

describe('playback of an ffmpeg publish', () => {
  let server: TestServer;
  let publisher: Publisher;

  before(async () => {
    server = await startServer();
    publisher = publishTestPattern(server.rtmpUrl('live/test'), { size: '320x240', gop: 25 });
    await waitFor(
      () => server.onair.hub.get('live/test')?.tracks.length === 2,
      15_000,
      'the publisher to announce both tracks',
    );
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  const expectTestPattern = (streams: Awaited<ReturnType<typeof probe>>): void => {
    assertVideo(streams, 'h264', [320, 240], 'RTMP playback');
    const audio = streams.find((s) => s.codec_type === 'audio');
    assert.equal(audio?.codec_name, 'aac');
    assert.equal(audio.sample_rate, '44100');
  };

  test('ffprobe reads H.264 320x240 + AAC over RTMP', async () => {
    expectTestPattern(await probe(server.rtmpUrl('live/test')));
  });

  test('ffprobe reads H.264 320x240 + AAC over HTTP-FLV', async () => {
    expectTestPattern(await probe(server.httpUrl('live/test.flv')));
  });

  test('ffprobe reads H.264 320x240 + AAC over WS-FLV (a ws client feeding its stdin)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/live/test.flv`);
    const pipe = new PassThrough();
    ws.on('message', (data: Buffer) => pipe.write(data));
    ws.on('close', () => pipe.end());
    try {
      expectTestPattern(await probe('-', { input: pipe, format: 'flv' }));
    } finally {
      ws.close();
    }
  });

  test('a viewer joining mid-stream decodes its first frame with no error (RTMP and HTTP-FLV)', async () => {
    for (const url of [server.httpUrl('live/test.flv'), server.rtmpUrl('live/test')]) {
      const result = await run('ffmpeg', [
        '-v',
        'error',
        '-xerror',
        '-i',
        url,
        '-frames:v',
        '1',
        '-f',
        'null',
        '-',
      ]);
      assert.equal(result.code, 0, `${url}: ${result.stderr}`);
      assert.equal(result.stderr.trim(), '', `${url} printed errors`);
    }
  });

  test('HTTP-FLV answers with CORS open and the FLV content type', async () => {
    const controller = new AbortController();
    const response = await fetch(server.httpUrl('live/test.flv'), { signal: controller.signal });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'video/x-flv');
    assert.equal(response.headers.get('access-control-allow-origin'), '*');
    assert.equal(response.headers.get('transfer-encoding'), 'chunked');
    controller.abort();
  });

  test('a second publisher on a live path is refused with BadName while the first keeps flowing', async () => {
    let frames = 0;
    const viewer = await RtmpClient.connect(server.rtmpUrl('live/test'), {
      onMedia: (message) => {
        if (message.typeId === MessageType.Video) frames++;
      },
    });
    await viewer.play();
    const intruder = await RtmpClient.connect(server.rtmpUrl('live/test'));
    await assert.rejects(intruder.publish(), (error: unknown) => {
      assert.ok(error instanceof RtmpStatusError);
      assert.equal(error.code, 'NetStream.Publish.BadName');
      return true;
    });
    intruder.close();
    const seen = frames;
    await waitFor(() => frames > seen + 10, 10_000, 'frames after the refused publish');
    assert.equal(server.onair.hub.get('live/test')?.publisher?.info.protocol, 'rtmp');
    viewer.close();
  });

  test('an unknown stream is a 404 on HTTP-FLV after the wait for a publisher', async () => {
    const quick = await startServer({ hub: { waitForPublisherMs: 200 } });
    try {
      const response = await fetch(quick.httpUrl('live/nobody.flv'));
      assert.equal(response.status, 404);
      assert.equal(quick.onair.hub.get('live/nobody'), undefined);
    } finally {
      await quick.stop();
    }
  });

  test('names outside the allow-list are refused with 400', async () => {
    for (const path of ['live/%2e%2e/x.flv', 'live/a%00b.flv', 'live/a%0d%0ab.flv', 'x.flv']) {
      const response = await fetch(server.httpUrl(path));
      assert.equal(response.status, 400, path);
      await response.arrayBuffer();
    }
  });
});
