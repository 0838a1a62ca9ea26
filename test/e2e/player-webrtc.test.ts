// End to end in headless Chromium: the watch page's WebRTC mode. ffmpeg publishes H.264 + AAC
// over RTMP; /watch/live/NAME?mode=webrtc plays it through WHEP (picture at the published size,
// audio decoded, latency shown, the viewer DELETEd when the page is left); with no ?mode the
// page picks WebRTC itself; a private stream shows the refusal without a token and plays with one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
// The page's own controller settings (a browser module without types).
const { CHASE_DEFAULTS } = (await import(
  new URL('../../web/player/latency-chase.js', import.meta.url).href
)) as { CHASE_DEFAULTS: { minTargetS: number; maxTargetS: number; maxRate: number } };
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import {
  expectVideoAdvances,
  playerState,
  saveScreenshot,
  waitForPage,
  withChromiumPage,
} from '../support/chromium.ts';

/** Bounded waits: generous for a loaded 2-core machine, still finite. */
const PLAY_TIMEOUT_MS = 30_000;

/** In the page: the WebRTC engine's getStats say a second of audio arrived, mostly not concealed. */
const AUDIO_DECODED = `(() => {
  const w = window.onairPlayer.webrtc;
  return w !== null && w.audioSamplesReceived > 48000 && w.audioConcealedSamples < w.audioSamplesReceived / 2;
})()`;

void describe('the watch page in WebRTC mode', () => {
  let server: TestServer;
  let publisher: Publisher;
  const webrtcViewers = () =>
    server.onair.sessions.list().filter((s) => s.protocol === 'webrtc' && s.path === 'live/wp');

  before(async () => {
    server = await startServer();
    publisher = publishTestPattern(server.rtmpUrl('live/wp'), { gop: 25, size: '320x240' });
    await waitFor(() => server.onair.hub.get('live/wp')?.tracks.length === 2, 15_000, 'tracks');
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('?mode=webrtc plays video and audio with latency shown; no mode picks WebRTC; a private stream needs its token', async () => {
    await withChromiumPage(async (page, problems) => {
      // (a) ?mode=webrtc: picture at the published size, decoded audio, latency from getStats.
      await page.goto(server.httpUrl('watch/live/wp?mode=webrtc'));
      const video = await expectVideoAdvances(page, { advanceS: 2, timeoutMs: PLAY_TIMEOUT_MS });
      assert.deepEqual([video.width, video.height], [320, 240]);
      await waitForPage(page, AUDIO_DECODED, PLAY_TIMEOUT_MS);
      await waitForPage(
        page,
        'window.onairPlayer.latencyS > 0 && /^\\d+\\.\\d\\d s$/.test(document.getElementById("stat-latency").textContent)',
        10_000,
      );
      let state = await playerState(page);
      assert.equal(state.mode, 'webrtc');
      assert.equal(state.engine, 'webrtc');
      assert.deepEqual(state.errors, []);
      assert.equal(await page.getAttribute('body', 'data-mode'), 'webrtc');
      assert.equal(await page.getAttribute('#mode-webrtc', 'aria-current'), 'page');
      assert.match((await page.textContent('#stat-mode')) ?? '', /^WebRTC$/);
      assert.equal(webrtcViewers().length, 1, 'one WHEP viewer on the server');
      await saveScreenshot(page, 'player-webrtc.png');
      // Leaving the page DELETEs the viewer's WHEP resource.
      await page.goto(server.httpUrl(''));
      await waitFor(() => webrtcViewers().length === 0, 10_000, 'the WHEP viewer to end');

      // (c) No ?mode: the page tries WebRTC first, and it works here.
      await page.goto(server.httpUrl('watch/live/wp'));
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: PLAY_TIMEOUT_MS });
      state = await playerState(page);
      assert.equal(state.engine, 'webrtc', JSON.stringify(state.warnings));
      assert.equal(await page.getAttribute('body', 'data-mode'), 'webrtc');
      assert.equal(await page.getAttribute('#mode-webrtc', 'aria-current'), 'page');
      assert.equal(await page.getAttribute('#mode-hls', 'aria-current'), null);
      assert.equal(webrtcViewers().length, 1, 'the automatic pick is a WHEP viewer');
      await page.goto(server.httpUrl(''));
      await waitFor(() => webrtcViewers().length === 0, 10_000, 'the WHEP viewer to end');

      // HTTP-FLV: latency-chase.js holds the buffer near its target. Paused, the buffer grows
      // as the stream keeps arriving; played again, the controller seeks back to the target.
      await page.goto(server.httpUrl('watch/live/wp?mode=flv'));
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: PLAY_TIMEOUT_MS });
      await page.evaluate('document.querySelector("video").pause()');
      await waitForPage(page, 'window.onairPlayer.bufferS > 2.5', PLAY_TIMEOUT_MS);
      await page.evaluate('void document.querySelector("video").play()');
      await waitForPage(
        page,
        '(() => { const p = window.onairPlayer; return p.chase !== null && p.chase.seeks > 0 && p.bufferS !== null && p.bufferS < p.chase.targetS + 0.5; })()',
        PLAY_TIMEOUT_MS,
      );
      const chase = await page.evaluate<{ targetS: number; playbackRate: number }>(
        'window.onairPlayer.chase',
      );
      const { minTargetS, maxTargetS, maxRate } = CHASE_DEFAULTS;
      assert.ok(chase.targetS >= minTargetS && chase.targetS <= maxTargetS, JSON.stringify(chase));
      assert.ok(chase.playbackRate >= 1 && chase.playbackRate <= maxRate, JSON.stringify(chase));

      // (b) A private stream: refused without a token (shown in #error), plays with one.
      const apiToken = server.onair.apiToken.value;
      const api = (path: string, init: RequestInit) =>
        fetch(server.httpUrl(path), {
          ...init,
          headers: { Authorization: `Bearer ${apiToken}`, 'Content-Type': 'application/json' },
        });
      const made = await api('api/v1/streams/live/wp/private', {
        method: 'PUT',
        body: JSON.stringify({ private: true }),
      });
      assert.equal(made.status, 200);
      const minted = (await (
        await api('api/v1/tokens', {
          method: 'POST',
          body: JSON.stringify({ stream: 'live/wp', expiresIn: '5m' }),
        })
      ).json()) as { token: string };
      await page.goto(server.httpUrl('watch/live/wp?mode=webrtc'));
      await waitForPage(
        page,
        '!document.getElementById("error").hidden && window.onairPlayer.status === "failed"',
        PLAY_TIMEOUT_MS,
      );
      const shown = (await page.textContent('#error')) ?? '';
      assert.match(shown, /^WebRTC: HTTP 40[13]\b.*token/, shown);
      assert.equal(
        await page.evaluate<number>('document.querySelector("video").currentTime'),
        0,
        'nothing played',
      );
      await page.goto(
        server.httpUrl(`watch/live/wp?mode=webrtc&token=${encodeURIComponent(minted.token)}`),
      );
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: PLAY_TIMEOUT_MS });
      state = await playerState(page);
      assert.equal(state.engine, 'webrtc');
      assert.deepEqual(state.errors, []);
      assert.equal(await page.locator('#error').isVisible(), false, 'no error shown');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
    });
  });
});
