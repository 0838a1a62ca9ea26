// End to end in headless Chromium: ffmpeg publishes; the stream list links to the watch page, and
// the watch page plays HTTP-FLV through mpegts.js and LL-HLS through hls.js, served by onair itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import {
  expectVideoAdvances,
  playerState,
  saveScreenshot,
  waitForPage,
  withChromiumPage,
} from '../support/chromium.ts';
import { deriveKey } from '../../src/access/keys.ts';
import { signToken } from '../../src/access/tokens.ts';

/** Bounded waits: generous for a loaded 2-core machine, still finite. */
const PLAY_TIMEOUT_MS = 30_000;
const PLAYLIST_TIMEOUT_MS = 20_000;

/** Polls the playlist until it answers 200 (the first segment is complete), bounded. */
async function waitForPlaylist(url: string): Promise<void> {
  const deadline = Date.now() + PLAYLIST_TIMEOUT_MS;
  let last: string;
  for (;;) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) throw new Error(`${url} never answered 200 (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('the watch page and the stream list in Chromium', () => {
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

  test('GET /assets/hls.min.js and /assets/mpegts.js are served with a JavaScript content type', async () => {
    for (const [name, global] of [
      ['hls.min.js', 'Hls'],
      ['mpegts.js', 'mpegts'],
    ] as const) {
      const response = await fetch(server.httpUrl(`assets/${name}`));
      assert.equal(response.status, 200, name);
      assert.match(response.headers.get('content-type') ?? '', /^text\/javascript\b/, name);
      assert.equal(response.headers.get('cache-control'), 'public, max-age=3600', name);
      const source = await response.text();
      assert.ok(source.length > 100_000, `${name} is the whole library`);
      assert.ok(source.includes(global), `${name} defines ${global}`);
    }
  });

  test('GET / lists live/test with its tracks and a link that opens its watch page', async () => {
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl(''));
      const link = page.locator('a[href="/watch/live/test"]').first();
      assert.equal(await link.textContent(), 'live/test');
      const tracks = await page.locator('.stream .tracks').first().textContent();
      assert.match(tracks ?? '', /H\.264 .*320×240 · AAC/);
      await saveScreenshot(page, 'stream-list.png');
      await link.click();
      await page.waitForURL('**/watch/live/test');
      assert.equal(await page.locator('h1').textContent(), 'live/test');
      assert.deepEqual(problems.exceptions, []);
    });
  });

  test('/watch/live/test?mode=flv plays HTTP-FLV through mpegts.js with stats and no errors', async () => {
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl('watch/live/test?mode=flv'));
      const video = await expectVideoAdvances(page, { advanceS: 2, timeoutMs: PLAY_TIMEOUT_MS });
      assert.deepEqual([video.width, video.height], [320, 240]);
      // The stats line refreshes every second: wait for it to show what the video shows.
      await waitForPage(
        page,
        'document.getElementById("stat-resolution").textContent === "320×240" && window.onairPlayer.latencyS !== null && window.onairPlayer.bitrateKbps > 0',
        5000,
      );
      const state = await playerState(page);
      assert.deepEqual(state.errors, [], 'window.onairPlayer.errors');
      assert.equal(state.mode, 'flv');
      assert.equal(state.engine, 'mpegts.js');
      assert.equal(state.status, 'playing');
      assert.ok(
        state.bitrateKbps !== null && state.bitrateKbps > 0,
        `bitrate ${state.bitrateKbps}`,
      );
      assert.ok(state.latencyS !== null && state.latencyS >= 0, `latency ${state.latencyS}`);
      assert.equal(await page.locator('#mode-flv').getAttribute('aria-current'), 'page');
      assert.equal(await page.locator('#error').isVisible(), false, 'no error shown');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      await saveScreenshot(page, 'player-flv.png');
    });
  });

  test('/watch/live/test?mode=hls plays LL-HLS through hls.js with stats and no errors', async () => {
    await waitForPlaylist(server.httpUrl('live/test.m3u8'));
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl('watch/live/test?mode=hls'));
      const video = await expectVideoAdvances(page, { advanceS: 2, timeoutMs: PLAY_TIMEOUT_MS });
      assert.deepEqual([video.width, video.height], [320, 240]);
      await waitForPage(
        page,
        'document.getElementById("stat-resolution").textContent === "320×240" && window.onairPlayer.latencyS !== null && window.onairPlayer.bitrateKbps > 0',
        5000,
      );
      const state = await playerState(page);
      assert.deepEqual(state.errors, [], 'window.onairPlayer.errors');
      assert.equal(state.mode, 'hls');
      assert.equal(state.engine, 'hls.js');
      assert.equal(state.status, 'playing');
      assert.ok(
        state.bitrateKbps !== null && state.bitrateKbps > 0,
        `bitrate ${state.bitrateKbps}`,
      );
      assert.ok(state.latencyS !== null && state.latencyS > 0, `latency ${state.latencyS}`);
      assert.equal(await page.locator('#mode-hls').getAttribute('aria-current'), 'page');
      assert.equal(await page.locator('#error').isVisible(), false, 'no error shown');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      await saveScreenshot(page, 'player-hls.png');
    });
  });
});

describe('a private stream in Chromium', () => {
  test('the watch page plays LL-HLS and HTTP-FLV with ?token=; without one it shows an error', async () => {
    const secret = 'player-secret-0123456789abcdef-01';
    const server = await startServer({
      auth: { secret },
      streams: { 'live/private': { private: true } },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/private'), {
      size: '320x240',
      gop: 25,
    });
    try {
      await waitFor(() => server.onair.hub.get('live/private')?.tracks.length === 2, 15_000);
      const token = encodeURIComponent(
        signToken(deriveKey(secret, 'token'), {
          purpose: 'play',
          path: 'live/private',
          expiresAtS: Math.floor(Date.now() / 1000) + 600,
        }),
      );
      await waitForPlaylist(server.httpUrl(`live/private.m3u8?token=${token}`));
      await withChromiumPage(async (page, problems) => {
        for (const mode of ['hls', 'flv']) {
          await page.goto(server.httpUrl(`watch/live/private?mode=${mode}&token=${token}`));
          await expectVideoAdvances(page, { advanceS: 1, timeoutMs: PLAY_TIMEOUT_MS });
          assert.deepEqual((await playerState(page)).errors, [], mode);
        }
        await saveScreenshot(page, 'player-private.png');
        await page.goto(server.httpUrl('watch/live/private?mode=hls'));
        await waitForPage(page, 'window.onairPlayer.errors.length > 0', PLAY_TIMEOUT_MS);
        assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      });
    } finally {
      await publisher.stop();
      await server.stop();
    }
  });
});
