// End to end in headless Chromium through hls.js: AV1 + Opus (enhanced RTMP) over LL-HLS, a
// publisher that drops and comes back (a discontinuity), and the glass-to-glass latency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { startServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { publishFlvFileLoop, type FlvLoopPublisher } from '../support/flv-file-publisher.ts';
import { waitForPlaylist } from '../support/wait-for-playlist.ts';
import {
  ARTIFACTS_DIR,
  playerState,
  saveScreenshot,
  videoStatus,
  waitForPage,
  withChromiumPage,
  type OnairPlayerState,
} from '../support/chromium.ts';
import { AV1_OPUS_FLV } from '../support/fixtures.ts';

const AV1_FIXTURE = AV1_OPUS_FLV;

/** Bounded waits: generous for a loaded 2-core machine, still finite. */
const PLAY_TIMEOUT_MS = 45_000;
/** The fixture has one keyframe per 10 s pass: its first segment needs two of them. */
const AV1_PLAYLIST_TIMEOUT_MS = 40_000;
const PLAYLIST_TIMEOUT_MS = 20_000;

/** What the watch page has beyond OnairPlayerState: restarts, and hls.js measurements. */
interface HlsPlayerState extends OnairPlayerState {
  readonly retries: number;
  readonly programDateLatencyS: number | null;
  readonly codecs: readonly string[];
}

function hlsState(page: Page): Promise<HlsPlayerState> {
  return playerState(page) as Promise<HlsPlayerState>;
}

/**
 * Waits (bounded) until the page's video has really played `seconds` of media at or after
 * `fromS`, counted from its played ranges: a seek (hls.js jumps to the live edge at start)
 * moves currentTime but plays nothing.
 */
async function expectPlayed(
  page: Page,
  options: { readonly seconds: number; readonly fromS?: number; readonly timeoutMs: number },
): Promise<void> {
  const fromS = options.fromS ?? 0;
  const played = `(() => { const p = document.querySelector("video").played; let s = 0; for (let i = 0; i < p.length; i++) s += Math.max(0, p.end(i) - Math.max(p.start(i), ${fromS})); return s; })()`;
  try {
    await waitForPage(page, `${played} >= ${options.seconds}`, options.timeoutMs);
  } catch (error) {
    const playedS = await page.evaluate<number>(played);
    const state = JSON.stringify(await playerState(page));
    const video = JSON.stringify(await videoStatus(page));
    throw new Error(
      `the video played ${playedS} s after ${fromS} s, not ${options.seconds} s: video ${video}, player ${state}`,
      { cause: error },
    );
  }
}

/** Waits for the stats line to show what window.onairPlayer says (it refreshes once a second). */
async function waitForStatsPlaying(page: Page): Promise<void> {
  await waitForPage(page, 'document.getElementById("stat-state").textContent === "playing"', 5000);
}

/** The value at `fraction` (0..1) of the sorted values, nearest rank. */
function percentile(sorted: readonly number[], fraction: number): number {
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(fraction * sorted.length)));
  const value = sorted[rank - 1];
  if (value === undefined) throw new Error('no values');
  return value;
}

test('/watch/live/av1?mode=hls plays the AV1 + Opus fixture through hls.js at 980x540', async () => {
  const server = await startServer();
  let publisher: FlvLoopPublisher | null = null;
  try {
    publisher = await publishFlvFileLoop(server.rtmpUrl('live/av1'), AV1_FIXTURE, {
      maxDurationMs: 120_000,
    });
    await waitFor(
      () => server.onair.hub.get('live/av1')?.tracks.length === 2,
      15_000,
      'the AV1 and Opus tracks',
    );
    assert.deepEqual(
      server.onair.hub.get('live/av1')?.tracks.map((t) => t.codec),
      ['av1', 'opus'],
    );
    const playlist = await waitForPlaylist(server.httpUrl('live/av1.m3u8'), {
      timeoutMs: AV1_PLAYLIST_TIMEOUT_MS,
    });
    const initUri = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
    assert.ok(initUri !== undefined, playlist);
    const init = Buffer.from(await (await fetch(server.httpUrl(`live/${initUri}`))).arrayBuffer());
    for (const box of ['av01', 'av1C', 'Opus', 'dOps']) {
      assert.ok(init.includes(box, 0, 'latin1'), `the init segment has an ${box} box`);
    }
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl('watch/live/av1?mode=hls'));
      await expectPlayed(page, { seconds: 3, timeoutMs: PLAY_TIMEOUT_MS });
      const video = await videoStatus(page);
      assert.deepEqual([video.width, video.height], [980, 540]);
      await waitForPage(page, 'window.onairPlayer.codecs.length > 0', 5000);
      const state = await hlsState(page);
      assert.equal(state.engine, 'hls.js');
      assert.deepEqual(state.errors, [], 'window.onairPlayer.errors');
      // hls.js reads the codecs from the init segment (the playlist has no CODECS attribute).
      const videoCodec = state.codecs.find((c) => c.startsWith('av01.'));
      const audioCodec = state.codecs.find((c) => c.toLowerCase() === 'opus');
      assert.ok(videoCodec && audioCodec, `AV1 and Opus buffered: ${state.codecs.join(', ')}`);
      const supported = await page.evaluate<boolean>(
        `MediaSource.isTypeSupported('video/mp4; codecs="${state.codecs.join(',')}"')`,
      );
      assert.equal(supported, true, `Chromium plays video/mp4 ${state.codecs.join(',')}`);
      assert.equal(await page.locator('#error').isVisible(), false, 'no error shown');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      await waitForStatsPlaying(page);
      await saveScreenshot(page, 'player-hls-av1.png');
    });
  } finally {
    await publisher?.stop();
    await server.stop();
  }
});

test('hls.js keeps playing across a republish within the grace period, after an EXT-X-DISCONTINUITY', async (t) => {
  const server = await startServer({ hub: { reconnectGraceMs: 8000 } });
  const url = server.rtmpUrl('live/again');
  const playlistUrl = server.httpUrl('live/again.m3u8');
  let publisher: Publisher = publishTestPattern(url, { size: '320x240', gop: 25 });
  try {
    await waitFor(
      () => server.onair.hub.get('live/again')?.tracks.length === 2,
      15_000,
      'the first publisher',
    );
    await waitForPlaylist(playlistUrl, { timeoutMs: PLAYLIST_TIMEOUT_MS });
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl('watch/live/again?mode=hls'));
      await expectPlayed(page, { seconds: 2, timeoutMs: PLAY_TIMEOUT_MS });

      await publisher.stop();
      await waitFor(
        () => server.onair.hub.get('live/again')?.state === 'grace',
        5000,
        'the grace period',
      );
      // Everything the first publisher sent that the page will ever have: past this, it plays
      // the second publisher's media.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const bufferedEndS = await page.evaluate<number>(
        '(() => { const b = document.querySelector("video").buffered; return b.length > 0 ? b.end(b.length - 1) : 0; })()',
      );
      const atReconnect = await videoStatus(page);

      publisher = publishTestPattern(url, { size: '320x240', gop: 25 });
      const republishedAtMs = Date.now();
      const playlist = await waitForPlaylist(playlistUrl, {
        timeoutMs: PLAYLIST_TIMEOUT_MS,
        until: (text) => text.includes('#EXT-X-DISCONTINUITY\n'),
        what: 'EXT-X-DISCONTINUITY',
      });
      // A new init segment (new publisher) is announced after the discontinuity.
      const maps = new Set(playlist.match(/#EXT-X-MAP:URI="[^"]+"/g));
      assert.ok(maps.size >= 2, `two init segments around the discontinuity:\n${playlist}`);

      // At least 3 s of media past what the first publisher left buffered really play.
      const fromS = Math.max(bufferedEndS, atReconnect.currentTime);
      await expectPlayed(page, { seconds: 3, fromS, timeoutMs: PLAY_TIMEOUT_MS });
      const state = await hlsState(page);
      t.diagnostic(
        `at the republish: currentTime ${atReconnect.currentTime.toFixed(2)} s, buffered to ${bufferedEndS.toFixed(2)} s; 3 s past that played ${Date.now() - republishedAtMs} ms after the republish, currentTime ${(await videoStatus(page)).currentTime.toFixed(2)} s; hls.js warnings: ${JSON.stringify(state.warnings)}`,
      );
      assert.deepEqual(state.errors, [], 'no fatal error (warnings are fine)');
      assert.equal(state.retries, 0, 'the page never restarted hls.js');
      assert.equal(state.status, 'playing');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      await waitForStatsPlaying(page);
      await saveScreenshot(page, 'player-hls-republish.png');
    });
  } finally {
    await publisher.stop();
    await server.stop();
  }
});

test('hls.js playingDate against Date.now(): glass-to-glass latency of LL-HLS with 1 s GOPs', async (t) => {
  const server = await startServer({ hls: { profile: 'low-latency' } });
  const publisher = publishTestPattern(server.rtmpUrl('live/latency'), {
    size: '320x240',
    rate: 25,
    gop: 25,
  });
  try {
    await waitFor(
      () => server.onair.hub.get('live/latency')?.tracks.length === 2,
      15_000,
      'the publisher',
    );
    await waitForPlaylist(server.httpUrl('live/latency.m3u8'), { timeoutMs: PLAYLIST_TIMEOUT_MS });
    await withChromiumPage(async (page) => {
      await page.goto(server.httpUrl('watch/live/latency?mode=hls'));
      await expectPlayed(page, { seconds: 1, timeoutMs: PLAY_TIMEOUT_MS });
      const started = await videoStatus(page);
      const samplesS: number[] = [];
      let lastTimeS = -1;
      for (let i = 0; i < 15; i++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        // The page computes Date.now() - playingDate once a second; take each computation once.
        const state = await hlsState(page);
        if (state.currentTimeS === lastTimeS || state.programDateLatencyS === null) continue;
        lastTimeS = state.currentTimeS;
        samplesS.push(state.programDateLatencyS);
      }
      // Playback went on through the 15 s of measurement: played, not just seeked.
      await expectPlayed(page, { seconds: 10, fromS: started.currentTime, timeoutMs: 1000 });
      assert.ok(samplesS.length >= 10, `latency samples: ${samplesS.join(', ')}`);
      for (const sample of samplesS) {
        assert.ok(Number.isFinite(sample) && sample > 0, `latency sample ${sample} s`);
      }
      const sorted = [...samplesS].sort((a, b) => a - b);
      const report = {
        profile: 'low-latency',
        keyframeIntervalS: 1,
        samplesS: samplesS.map((s) => Number(s.toFixed(3))),
        medianS: Number(percentile(sorted, 0.5).toFixed(3)),
        p95S: Number(percentile(sorted, 0.95).toFixed(3)),
      };
      t.diagnostic(
        `LL-HLS glass-to-glass latency (hls.js playingDate vs Date.now(), ${samplesS.length} samples): median ${report.medianS} s, p95 ${report.p95S} s`,
      );
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      await writeFile(
        new URL('latency.json', ARTIFACTS_DIR),
        `${JSON.stringify(report, null, 2)}\n`,
      );
      await waitForStatsPlaying(page);
      await saveScreenshot(page, 'player-hls-latency.png');
    });
  } finally {
    await publisher.stop();
    await server.stop();
  }
});

test('EXT-X-PROGRAM-DATE-TIME follows the ingest clock when the first playlist request comes mid-GOP', async () => {
  const server = await startServer();
  // 8 s GOPs: the first request comes about 3 s into one, so the segmenter starts from a 3 s
  // cached GOP that reaches it in one burst.
  const publisher = publishTestPattern(server.rtmpUrl('live/pdt'), { rate: 25, gop: 200 });
  try {
    await waitFor(
      () => server.onair.hub.get('live/pdt')?.tracks.length === 2,
      15_000,
      'the publisher',
    );
    await new Promise((resolve) => setTimeout(resolve, 3000));
    // The playlist answers once the first segment is complete, at the next keyframe.
    const playlist = await waitForPlaylist(server.httpUrl('live/pdt.m3u8'), {
      timeoutMs: PLAYLIST_TIMEOUT_MS,
    });
    const answeredAtMs = Date.now();
    const dateText = /#EXT-X-PROGRAM-DATE-TIME:(\S+)/.exec(playlist)?.[1];
    const durationText = /#EXTINF:([\d.]+),/.exec(playlist)?.[1];
    assert.ok(dateText !== undefined && durationText !== undefined, playlist);
    const segmentEndMs = Date.parse(dateText) + Number(durationText) * 1000;
    // The segment ended when its last frame was ingested, before the answer: dated from the
    // oldest cached frame instead, it would end about 3 s in the future.
    assert.ok(
      segmentEndMs - answeredAtMs <= 1000,
      `the first segment ends ${segmentEndMs - answeredAtMs} ms after the playlist answered`,
    );
  } finally {
    await publisher.stop();
    await server.stop();
  }
});
