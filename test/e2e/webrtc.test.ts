// End to end: WebRTC playback (WHEP) of an RTMP-published stream in headless Chromium: the
// offer is answered, H.264 plays at the published size, the viewer is a session until its
// DELETE; wrong methods, types and offers are refused, and a private stream needs its token.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { expectVideoAdvances, waitForPage, withChromiumPage } from '../support/chromium.ts';
import { whepClientScript } from '../support/whep-page.ts';

/** In the page: the WHEP connection's audio has decoded over a second of mostly real samples. */
const AUDIO_DECODED = `(async () => {
  const stats = await window.whep.pc.getStats();
  for (const report of stats.values()) {
    if (report.type !== 'inbound-rtp' || report.kind !== 'audio') continue;
    const received = report.totalSamplesReceived ?? 0;
    return received > 48000 && (report.concealedSamples ?? 0) < received / 2;
  }
  return false;
})()`;

void describe('WebRTC playback (WHEP)', () => {
  let server: TestServer;
  let publisher: Publisher;

  before(async () => {
    server = await startServer();
    publisher = publishTestPattern(server.rtmpUrl('live/rtc'), { gop: 25, size: '320x240' });
    await waitFor(() => server.onair.hub.get('live/rtc')?.tracks.length === 2, 15_000, 'tracks');
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('Chromium plays an RTMP-published H.264 stream; the viewer is a webrtc session until its DELETE', async () => {
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl(''));
      await page.evaluate(whepClientScript('/live/rtc/whep'));
      await waitForPage(page, 'window.whep.status !== 0 || window.whep.error !== null', 15_000);
      const whep = await page.evaluate<{
        status: number;
        location: string | null;
        error: string | null;
      }>(
        '({ status: window.whep.status, location: window.whep.location, error: window.whep.error })',
      );
      assert.equal(whep.status, 201, whep.error ?? '');
      assert.match(whep.location ?? '', /^\/live\/rtc\/whep\/[0-9a-f]{32}$/);
      const status = await expectVideoAdvances(page, { advanceS: 2, timeoutMs: 20_000 });
      assert.deepEqual([status.width, status.height], [320, 240]);
      // The stream's AAC reaches the browser as Opus (one ffmpeg for the stream) and decodes:
      // a second of samples received, most of them not concealment.
      await waitForPage(page, AUDIO_DECODED, 20_000);
      const sessions = () =>
        server.onair.sessions
          .list()
          .filter((s) => s.protocol === 'webrtc' && s.path === 'live/rtc');
      assert.equal(sessions().length, 1, 'one webrtc viewer session');
      assert.ok((sessions()[0]?.bytes?.() ?? 0) > 10_000, 'bytes sent are counted');
      // GET and PATCH are not WHEP; DELETE ends the viewer.
      assert.equal((await fetch(server.httpUrl('live/rtc/whep'))).status, 405);
      const resource = server.httpUrl(whep.location!.slice(1));
      assert.equal((await fetch(resource, { method: 'PATCH' })).status, 405);
      assert.equal((await fetch(resource, { method: 'DELETE' })).status, 200);
      await waitFor(() => sessions().length === 0, 5000, 'the session to end');
      assert.equal((await fetch(resource, { method: 'DELETE' })).status, 404);
      assert.deepEqual(problems.exceptions, []);
    });
  });

  test('bad offers are refused with the reason, and the stream keeps playing for others', async () => {
    const post = (body: string, type = 'application/sdp', path = 'live/rtc/whep') =>
      fetch(server.httpUrl(path), { method: 'POST', headers: { 'Content-Type': type }, body });
    assert.equal((await post('v=0\r\n', 'text/plain')).status, 415);
    const garbage = await post('not sdp at all');
    assert.equal(garbage.status, 400);
    assert.match(await garbage.text(), /bad offer/);
    const tooMany = `v=0\r\n${'m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n'.repeat(5)}`;
    assert.equal((await post(tooMany)).status, 400);
    assert.equal((await post('x'.repeat(200 * 1024))).status, 413);
    const noH264 =
      'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n';
    assert.equal((await post(noH264)).status, 406);
    assert.equal(
      (await post('v=0\r\nm=video 9 X 96\r\na=mid:0\r\n', undefined, 'live/none/whep')).status,
      404,
    );
    assert.equal(server.onair.hub.get('live/rtc')?.publisher !== null, true, 'still published');
  });

  test('a private stream refuses a WHEP viewer without a token and plays with one', async () => {
    const token = server.onair.apiToken.value;
    const api = (path: string, init: RequestInit) =>
      fetch(server.httpUrl(path), {
        ...init,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      });
    assert.equal(
      (
        await api('api/v1/streams/live/rtc/private', {
          method: 'PUT',
          body: JSON.stringify({ private: true }),
        })
      ).status,
      200,
    );
    const minted = (await (
      await api('api/v1/tokens', {
        method: 'POST',
        body: JSON.stringify({ stream: 'live/rtc', expiresIn: '5m' }),
      })
    ).json()) as { token: string };
    await withChromiumPage(async (page) => {
      await page.goto(server.httpUrl(''));
      await page.evaluate(whepClientScript('/live/rtc/whep'));
      await waitForPage(page, 'window.whep.status !== 0 || window.whep.error !== null', 15_000);
      const refused = await page.evaluate<number>('window.whep.status');
      assert.ok(refused === 401 || refused === 403, `refused with ${refused}`);
      await page.evaluate(whepClientScript('/live/rtc/whep', { token: minted.token }));
      await waitForPage(page, 'window.whep.status !== 0 || window.whep.error !== null', 15_000);
      assert.equal(await page.evaluate<number>('window.whep.status'), 201);
    });
  });
});
