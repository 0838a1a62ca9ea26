// End to end: an RTMP publisher whose H.264 has B-frames is told about (the log, the API's
// video track, /metrics), and a WHEP viewer in Chromium still plays it, sent its reference
// frames only, in presentation order.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { expectVideoAdvances, waitForPage, withChromiumPage } from '../support/chromium.ts';
import { parseExposition } from '../support/prom-text.ts';

const WHEP_CLIENT = `(async () => {
  window.whep = { status: 0 };
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  document.body.prepend(video);
  pc.ontrack = (event) => { video.srcObject = new MediaStream([event.track]); };
  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch('/live/bf/whep', {
    method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
  });
  window.whep.status = response.status;
  if (response.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
})()`;

void describe('WebRTC and a publisher with B-frames', () => {
  let server: TestServer;
  let publisher: Publisher;

  before(async () => {
    server = await startServer();
    publisher = publishTestPattern(server.rtmpUrl('live/bf'), { gop: 25, bFrames: 2 });
    await waitFor(() => server.onair.hub.get('live/bf')?.hasBFrames === true, 15_000, 'B-frames');
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('the B-frames are in the log, the API and /metrics; a WebRTC viewer plays', async () => {
    const warnings = server.logs.filter(
      (entry) => entry.stream === 'live/bf' && String(entry.msg).includes('B-frames'),
    );
    assert.equal(warnings.length, 1, 'one warning');
    const api = await fetch(server.httpUrl('api/v1/streams/live/bf'), {
      headers: { Authorization: `Bearer ${server.onair.apiToken.value}` },
    });
    const info = (await api.json()) as { tracks: { kind: string; bFrames?: boolean }[] };
    assert.equal(info.tracks.find((t) => t.kind === 'video')?.bFrames, true);
    const metrics = parseExposition(await (await fetch(server.httpUrl('metrics'))).text());
    assert.equal(metrics.get('onair_streams_with_bframes')?.samples[0]?.value, 1);
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl(''));
      await page.evaluate(WHEP_CLIENT);
      await waitForPage(page, 'window.whep.status !== 0', 15_000);
      assert.equal(await page.evaluate<number>('window.whep.status'), 201);
      const status = await expectVideoAdvances(page, { advanceS: 2, timeoutMs: 20_000 });
      assert.deepEqual([status.width, status.height], [320, 240]);
      assert.deepEqual(problems.exceptions, []);
    });
  });
});
