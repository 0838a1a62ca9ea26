// Adaptive bitrate in a real browser: the watch page plays a stream with an ABR ladder through
// hls.js in Chromium, video-only variants with the audio apart in one group; the network is
// throttled with CDP (Network.emulateNetworkConditions) and hls.js goes down to a rendition that
// fits, with no stall of more than a second, then back up when the throttle is lifted; the
// quality menu picks a rendition by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startServer } from '../support/server.ts';
import { publishTestPattern, waitFor } from '../support/media-tools.ts';
import {
  expectVideoAdvances,
  playerState,
  saveScreenshot,
  waitForPage,
  withChromiumPage,
  type OnairPlayerState,
} from '../support/chromium.ts';

interface AbrState extends OnairPlayerState {
  readonly renditions: {
    readonly levels: { height: number; bitrateKbps: number }[];
    readonly current: number;
    readonly auto: boolean;
    readonly switches: { atMs: number; level: number }[];
  } | null;
  readonly qoe: { rebufferCount: number; longestRebufferMs: number };
}

const state = (page: Page): Promise<AbrState> => playerState(page) as Promise<AbrState>;

/** Waits (bounded) for the rendition playing to satisfy `check`; says where it was if not. */
async function waitForLevel(
  page: Page,
  check: string,
  timeoutMs: number,
  what: string,
): Promise<void> {
  try {
    await waitForPage(
      page,
      `(() => { const r = window.onairPlayer.renditions; return r !== null && (${check}); })()`,
      timeoutMs,
    );
  } catch (error) {
    throw new Error(`${what}: ${JSON.stringify((await state(page)).renditions)}`, { cause: error });
  }
}

void test(
  'hls.js on the watch page switches down under a throttled network without a stall over 1 s, back up after, and by hand',
  { timeout: 240_000 },
  async () => {
    const server = await startServer({
      abr: {
        renditions: [
          { name: '480p', height: 480, videoKbps: 900 },
          { name: '240p', height: 240, videoKbps: 200 },
        ],
      },
    });
    const publisher = publishTestPattern(server.rtmpUrl('live/abr'), {
      size: '1280x720',
      gop: 25,
      seconds: 240,
    });
    try {
      const { hub } = server.onair;
      await waitFor(
        () =>
          hub.get('live/abr_480p')?.publisher != null &&
          hub.get('live/abr_240p')?.publisher != null,
        30_000,
        'the renditions',
      );
      await withChromiumPage(async (page, problems) => {
        await page.goto(server.httpUrl('watch/live/abr?mode=hls'));
        await expectVideoAdvances(page, { advanceS: 2, timeoutMs: 45_000 });
        await waitForLevel(page, 'r.levels.length === 3', 10_000, 'three variants');
        const { levels } = (await state(page)).renditions!;
        // hls.js orders variants by bitrate: 240p, 480p, the 720p source.
        assert.deepEqual(
          levels.map((level) => level.height),
          [240, 480, 720],
        );
        assert.ok(await page.locator('#quality').isVisible(), 'the quality menu is shown');
        // The audio is one group apart: hls.js loads its playlist and parts beside the video's.
        const loaded = await page.evaluate<string[]>(
          "performance.getEntriesByType('resource').map((e) => e.name)",
        );
        const audioPlaylist = loaded.find((url) => url.includes('variant=audio'));
        assert.ok(audioPlaylist, 'the audio rendition was loaded');
        assert.ok(
          loaded.some((url) => url.includes('abr.m3u8?variant=video')),
          'the video-only variants were loaded',
        );
        const top = levels.length - 1;
        await waitForLevel(page, `r.current === ${top}`, 60_000, 'the source on a fast network');

        // Throttled to between 240p and 480p: down to 240p, playing on.
        const cdp = await page.context().newCDPSession(page);
        await cdp.send('Network.enable');
        const low = levels[0]!;
        const middle = levels[1]!;
        const throttleKbps = Math.round((low.bitrateKbps + middle.bitrateKbps) / 2);
        assert.ok(
          throttleKbps > low.bitrateKbps * 1.3,
          `${low.bitrateKbps} / ${middle.bitrateKbps}`,
        );
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false,
          latency: 20,
          downloadThroughput: (throttleKbps * 1000) / 8,
          uploadThroughput: (throttleKbps * 1000) / 8,
        });
        const rebuffersBefore = (await state(page)).qoe.rebufferCount;
        await waitForLevel(page, 'r.current === 0', 60_000, `240p at ${throttleKbps} kbps`);
        await expectVideoAdvances(page, { advanceS: 5, timeoutMs: 30_000 });
        const throttled = await state(page);
        assert.ok(
          throttled.qoe.longestRebufferMs <= 1000,
          `the longest stall was ${throttled.qoe.longestRebufferMs} ms (${throttled.qoe.rebufferCount - rebuffersBefore} stalls)`,
        );
        assert.equal(throttled.height, 240, 'the picture is the 240p one');
        await saveScreenshot(page, 'player-abr-throttled.png');
        console.log(
          'THROTTLED',
          throttleKbps,
          JSON.stringify(throttled.renditions),
          JSON.stringify(throttled.qoe),
        );

        // The throttle lifted: back up.
        await cdp.send('Network.emulateNetworkConditions', {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await waitForLevel(page, 'r.current > 0', 90_000, 'a higher rendition after the throttle');
        await expectVideoAdvances(page, { advanceS: 2, timeoutMs: 30_000 });
        const recovered = await state(page);
        console.log(
          'RECOVERED',
          JSON.stringify(recovered.renditions),
          JSON.stringify(recovered.qoe),
        );
        assert.ok(recovered.qoe.longestRebufferMs <= 1000, `${recovered.qoe.longestRebufferMs} ms`);

        // By hand: 240p from the menu, then Auto again.
        await page.locator('#quality').selectOption({ label: `240p · ${low.bitrateKbps} kbps` });
        await waitForLevel(page, 'r.current === 0 && r.auto === false', 30_000, '240p by hand');
        await waitForPage(
          page,
          'document.getElementById("stat-rendition").textContent === "240p"',
          5000,
        );
        await page.locator('#quality').selectOption({ value: '-1' });
        await waitForLevel(page, 'r.auto === true', 5000, 'auto again');
        assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      });
    } finally {
      await publisher.stop();
      await server.stop();
    }
  },
);
