// End to end: a stream with a DVR window (hls.dvrWindowS). ffmpeg publishes; the playlist lists
// the window from disk before the memory window; ffmpeg decodes the oldest segment; Chromium's
// watch page rewinds with its seek bar and comes back with the "live" button; the files go
// when the stream ends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, run, waitFor, type Publisher } from '../support/media-tools.ts';
import {
  expectVideoAdvances,
  playerState,
  waitForPage,
  withChromiumPage,
} from '../support/chromium.ts';

const DVR_WINDOW_S = 12;

/** The DVR folder of this process, and the segment files of its streams. */
function dvrFiles(server: TestServer): string[] {
  const root = join(server.onair.config.dataDir, 'dvr', String(process.pid));
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((stream) => {
    try {
      return readdirSync(join(root, stream));
    } catch {
      return []; // removed in the meantime
    }
  });
}

async function playlist(server: TestServer, path: string): Promise<string[]> {
  const response = await fetch(server.httpUrl(path));
  assert.equal(response.status, 200, path);
  return (await response.text()).split('\n');
}

function coveredS(lines: readonly string[]): number {
  return lines
    .filter((line) => line.startsWith('#EXTINF:'))
    .reduce((sum, line) => sum + parseFloat(line.slice(8)), 0);
}

void describe('DVR window', () => {
  let server: TestServer;
  let publisher: Publisher;

  before(async () => {
    server = await startServer({
      hls: { dvrWindowS: DVR_WINDOW_S, windowSegments: 3, idleTimeoutMs: 1000 },
    });
    publisher = publishTestPattern(server.rtmpUrl('live/dvr'), { gop: 25, seconds: 110 });
    // Nobody asks for HLS yet: the window fills from the publish on, on disk. With 1 s segments
    // and 3 in memory, a full 12 s window keeps about 9 on disk.
    await waitFor(() => dvrFiles(server).length >= 7, 40_000, 'DVR segments on disk');
    await waitFor(
      async () => coveredS(await playlist(server, 'live/dvr.m3u8')) >= DVR_WINDOW_S,
      20_000,
      'a playlist that covers the window',
    );
  });

  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('the playlist covers dvrWindowS, the oldest segments served from disk', async () => {
    const lines = await playlist(server, 'live/dvr.m3u8');
    const covered = coveredS(lines);
    assert.ok(covered >= DVR_WINDOW_S && covered < DVR_WINDOW_S + 2, `covers ${covered} s`);
    const segments = lines.filter((line) => /^dvr\/[0-9a-f]{8}-\d+\.m4s$/.test(line));
    assert.ok(segments.length > 3, `${segments.length} segments listed, 3 in memory`);
    assert.ok(!lines.includes('#EXT-X-ENDLIST'), 'still live');
    // The oldest segment (from disk) with its init decodes without an error.
    const map = lines.find((line) => line.startsWith('#EXT-X-MAP:'));
    const init = /URI="([^"]+)"/.exec(map ?? '')?.[1];
    assert.ok(init);
    const [initBytes, oldest] = await Promise.all(
      [init, segments[0] as string].map(async (uri) => {
        const response = await fetch(server.httpUrl(`live/${uri}`));
        assert.equal(response.status, 200, uri);
        return Buffer.from(await response.arrayBuffer());
      }),
    );
    const file = join(server.onair.config.dataDir, 'oldest.mp4');
    await writeFile(file, Buffer.concat([initBytes as Buffer, oldest as Buffer]));
    const decoded = await run('ffmpeg', [
      ...['-v', 'error', '-xerror', '-i', file, '-f', 'null', '-'],
    ]);
    assert.equal(decoded.code, 0, decoded.stderr);
    const probed = await run('ffprobe', [
      ...['-v', 'error', '-count_frames', '-select_streams', 'v:0'],
      ...['-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file],
    ]);
    assert.ok(Number(probed.stdout.trim()) >= 20, `frames ${probed.stdout}`);
    // A segment that left the window is gone.
    const msn = Number(/-(\d+)\.m4s$/.exec(segments[0] as string)?.[1]);
    const gone = await fetch(
      server.httpUrl(`live/${(segments[0] as string).replace(/-\d+\.m4s$/, `-${msn - 1}.m4s`)}`),
    );
    assert.equal(gone.status, 404);
    await gone.arrayBuffer();
  });

  test('the watch page rewinds with its seek bar and returns with the live button', async () => {
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl('watch/live/dvr'));
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: 20_000 });
      await waitForPage(page, '!document.getElementById("dvr").hidden', 10_000);
      // The seekable range is the DVR window, not the memory window of 3 s.
      const span = await page.evaluate<number>(
        '(() => { const s = document.querySelector("video").seekable; return s.end(s.length - 1) - s.start(0); })()',
      );
      assert.ok(span > DVR_WINDOW_S - 3, `seekable over ${span} s`);
      // Drag the bar to the start of the window, as a viewer would.
      await page.evaluate(
        '(() => { const bar = document.getElementById("dvr-seek"); bar.value = String(Number(bar.min) + 1); bar.dispatchEvent(new Event("input")); bar.dispatchEvent(new Event("change")); })()',
      );
      await waitForPage(
        page,
        '(() => { const v = document.querySelector("video"); return !v.seeking && window.onairPlayer.dvr.behindS > 6 && !v.paused; })()',
        20_000,
      );
      // It plays there (it is not pulled back to live).
      await expectVideoAdvances(page, { advanceS: 1.5, timeoutMs: 20_000 });
      const rewound = await playerState(page);
      const dvr = (rewound as unknown as { dvr: { behindS: number; atLive: boolean } }).dvr;
      assert.ok(dvr.behindS > 6 && !dvr.atLive, JSON.stringify(dvr));
      assert.match(
        await page.textContent('#dvr-behind').then(String),
        /^-\d+:\d\d$/,
        'shows how far behind live',
      );
      await page.click('#dvr-live');
      await waitForPage(page, 'window.onairPlayer.dvr.atLive === true', 20_000);
      assert.equal(await page.getAttribute('#dvr-live', 'aria-pressed'), 'true');
      await expectVideoAdvances(page, { advanceS: 1, timeoutMs: 20_000 });
      assert.deepEqual(problems.exceptions, []);
    });
  });

  test('a stream without a DVR window has no seek bar', async () => {
    await withChromiumPage(async (page) => {
      const response = await page.goto(server.httpUrl('watch/vod/0123456789abcdef'));
      assert.ok(response);
      assert.equal(await page.getAttribute('body', 'data-dvr-window-s'), '0');
      assert.equal(await page.isHidden('#dvr'), true);
    });
  });

  test('when the stream ends its DVR files are removed', async () => {
    await publisher.stop();
    await waitFor(() => dvrFiles(server).length === 0, 20_000, 'the DVR files removed');
    assert.equal(server.onair.hub.get('live/dvr')?.publisher ?? null, null);
  });
});
