// End to end in headless Chromium: the dashboard (built by Vite, served by onair) takes the
// admin token, lists the live stream with its viewers, and its stream page draws charts that
// move with the live feed; its recordings card records, links and clips; its restream card adds
// and removes a push. Screenshots are saved as test artifacts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, run, waitFor, type Publisher } from '../support/media-tools.ts';
import { openFlv, type FlvViewer } from '../support/access-helpers.ts';
import {
  ARTIFACTS_DIR,
  saveScreenshot,
  waitForPage,
  withChromiumPage,
} from '../support/chromium.ts';
import type { Page as ChromiumPage } from 'playwright-core';
import { toLocalInput } from '../../web/dashboard/src/range.ts';

/** Logs in to the dashboard and opens the page of `path` once the list shows it. */
async function openStreamPage(page: ChromiumPage, server: TestServer, path: string): Promise<void> {
  await page.goto(server.httpUrl('dashboard/'));
  await page.fill('#token', server.onair.apiToken.value);
  await page.press('#token', 'Enter');
  await waitForPage(page, `document.querySelector('[data-stream="${path}"]') !== null`, 15_000);
  await page.goto(server.httpUrl(`dashboard/#/stream/${path}`));
}

describe('the dashboard in Chromium', () => {
  let server: TestServer;
  let publisher: Publisher;
  let viewer: FlvViewer;

  before(async () => {
    server = await startServer({
      // One stream with an ABR ladder (a single small rung), for the Renditions card.
      streams: {
        'live/dash-abr': { abr: { renditions: [{ name: '180p', height: 180, videoKbps: 150 }] } },
      },
    });
    publisher = publishTestPattern(server.rtmpUrl('live/dash'), { gop: 25 });
    await waitFor(() => server.onair.hub.get('live/dash')?.tracks.length === 2, 15_000);
    viewer = await openFlv(server.httpUrl('live/dash.flv'));
    await waitFor(() => viewer.received() > 1000, 10_000, 'a viewer');
  });
  after(async () => {
    await viewer.close();
    await publisher.stop();
    await server.stop();
  });

  test('/dashboard/ is served with a strict content security policy', async () => {
    const response = await fetch(server.httpUrl('dashboard/'));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.match(await response.text(), /\/dashboard\/assets\/index-[\w-]+\.js/);
    assert.equal((await fetch(server.httpUrl('dashboard/assets/nope.js'))).status, 404);
  });

  test('login, the live stream with one viewer, and a stream page whose charts move', async () => {
    await withChromiumPage(async (page, problems) => {
      await page.goto(server.httpUrl('dashboard/'));
      await page.fill('#token', 'not-the-token');
      await page.press('#token', 'Enter');
      await waitForPage(
        page,
        '(document.getElementById("login-error")?.textContent ?? "").length > 0',
        10_000,
      );
      await page.fill('#token', server.onair.apiToken.value);
      await page.press('#token', 'Enter');
      await waitForPage(
        page,
        'document.querySelector(\'[data-stream="live/dash"] [data-testid=viewers]\')?.textContent?.trim() === "1"',
        15_000,
      );
      await saveScreenshot(page, 'dashboard-streams.png');
      await page.goto(server.httpUrl('dashboard/#/stream/live/dash'));
      await waitForPage(
        page,
        'Number(document.getElementById("chart-viewers")?.dataset.points ?? 0) >= 2',
        15_000,
      );
      const before = await page.evaluate<number>(
        'Number(document.getElementById("chart-ingest").dataset.points)',
      );
      await waitForPage(
        page,
        `Number(document.getElementById("chart-ingest").dataset.points) >= ${before + 2}`,
        10_000,
      );
      await saveScreenshot(page, 'dashboard-stream.png');
      // A private stream: the embedded player gets a token the dashboard mints.
      const made = await fetch(server.httpUrl('api/v1/streams/live/dash/private'), {
        method: 'PUT',
        headers: {
          Authorization: `Bearer ${server.onair.apiToken.value}`,
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({ private: true }),
      });
      assert.equal(made.status, 200);
      await page.reload();
      await waitForPage(
        page,
        '/[?]token=/.test(document.getElementById("player")?.getAttribute("src") ?? "")',
        10_000,
      );
      // The history page asks the analytics for the last hour and draws its charts.
      await page.goto(server.httpUrl('dashboard/#/history/live/dash'));
      await waitForPage(
        page,
        'document.getElementById("history-viewers") !== null && document.getElementById("summary") !== null',
        15_000,
      );
      const errorText = await page.evaluate<string>(
        'document.getElementById("error")?.textContent?.trim() ?? ""',
      );
      assert.equal(errorText, '', 'no API error on the history page');
      await saveScreenshot(page, 'dashboard-history.png');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
    });
  });

  test('an SRT publisher is a session row with libsrt figures (RTT, lost, resent)', async () => {
    const srt = publishTestPattern(server.srtUrl('publish:live/dash-srt'), { format: 'mpegts' });
    try {
      await waitFor(() => server.onair.hub.get('live/dash-srt')?.tracks.length === 2, 15_000);
      await withChromiumPage(async (page, problems) => {
        await openStreamPage(page, server, 'live/dash-srt');
        await waitForPage(
          page,
          '[...document.querySelectorAll("tr[data-session-id] td")].some((td) => /^srt · RTT [0-9.]+ ms · lost \\d+ · resent \\d+ · dropped \\d+$/.test(td.textContent ?? ""))',
          15_000,
        );
        assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      });
    } finally {
      await srt.stop();
    }
  });

  test("the Renditions card shows the stream's ABR ladder: ffmpeg running, its CPU, the rendition", async () => {
    const source = publishTestPattern(server.rtmpUrl('live/dash-abr'), { gop: 25 });
    try {
      await waitFor(
        () => server.onair.hub.get('live/dash-abr_180p')?.publisher != null,
        30_000,
        'the 180p rendition',
      );
      await withChromiumPage(async (page, problems) => {
        await openStreamPage(page, server, 'live/dash-abr');
        await waitForPage(
          page,
          '!document.getElementById("abr").hidden && /^running \\(pid \\d+\\)$/.test(document.getElementById("abr-state").textContent) && /^\\d+ % of a core$/.test(document.getElementById("abr-cpu").textContent)',
          20_000,
        );
        const links = await page.evaluate<string[]>(
          '[...document.querySelectorAll("#abr-renditions a")].map((a) => a.textContent + " " + a.getAttribute("href"))',
        );
        assert.deepEqual(links, ['live/dash-abr_180p #/stream/live/dash-abr_180p']);
        await saveScreenshot(page, 'dashboard-abr.png');
        // A stream without a ladder has no card.
        await page.goto(server.httpUrl('dashboard/#/stream/live/dash'));
        await waitForPage(
          page,
          'document.querySelector("h1")?.textContent === "live/dash" && document.getElementById("abr") !== null',
          10_000,
        );
        assert.equal(await page.locator('#abr').isVisible(), false);
        assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
      });
    } finally {
      await source.stop();
    }
  });

  test('the stream page starts a recording, links it with a play token and makes a clip', async () => {
    const api = (path: string, init: RequestInit = {}): Promise<Response> =>
      fetch(server.httpUrl(path), {
        ...init,
        headers: {
          Authorization: `Bearer ${server.onair.apiToken.value}`,
          'Content-Type': 'application/json',
        },
      });
    // Private: the links the card gives must carry the token the dashboard minted.
    const made = await api('api/v1/streams/live/dash/private', {
      method: 'PUT',
      body: JSON.stringify({ private: true }),
    });
    assert.equal(made.status, 200);
    await withChromiumPage(async (page, problems) => {
      await openStreamPage(page, server, 'live/dash');
      await waitForPage(
        page,
        'document.getElementById("recording-state")?.textContent === "off"',
        15_000,
      );
      await page.click('#recording-toggle');
      // The file is listed while it is written, and grows.
      const recorded = async (): Promise<{ id: string; start: string; durationS: number }> => {
        const list = (await (await api('api/v1/recordings?stream=live/dash')).json()) as {
          items: { id: string; start: string; durationS: number }[];
        };
        return list.items[list.items.length - 1] ?? { id: '', start: '', durationS: 0 };
      };
      await waitFor(async () => (await recorded()).durationS >= 5, 30_000, '5 s recorded');
      const recording = await recorded();
      await waitForPage(
        page,
        `document.querySelector('[data-recording-id="${recording.id}"]') !== null`,
        15_000,
      );
      assert.equal(
        await page.textContent(`[data-recording-id="${recording.id}"] td:nth-child(5)`),
        'recording',
      );
      const watch = await page.getAttribute(
        `[data-recording-id="${recording.id}"] a[target=_blank]`,
        'href',
      );
      const download = await page.getAttribute(
        `[data-recording-id="${recording.id}"] a[download]`,
        'href',
      );
      assert.match(watch ?? '', new RegExp(`^/watch/vod/${recording.id}[?]token=`));
      assert.match(download ?? '', new RegExp(`^/vod/${recording.id}[.]mp4[?]token=`));
      const file = await fetch(server.httpUrl(download!.slice(1)));
      assert.equal(file.status, 200);
      assert.equal(file.headers.get('content-type'), 'video/mp4');
      await file.body?.cancel();
      const refused = await fetch(server.httpUrl(`vod/${recording.id}.mp4`));
      assert.ok(refused.status === 401 || refused.status === 403, `got ${refused.status}`);
      await refused.body?.cancel();

      // A clip of seconds 1 to 4 of the recording, in this machine's local time like the inputs.
      const startMs = Date.parse(recording.start);
      await page.fill('#clip-from', toLocalInput(startMs + 1000, true));
      await page.fill('#clip-to', toLocalInput(startMs + 4000, true));
      const [saved] = await Promise.all([page.waitForEvent('download'), page.click('#clip-make')]);
      const clipPath = join(fileURLToPath(ARTIFACTS_DIR), 'dashboard-clip.mp4');
      await saved.saveAs(clipPath);
      const probed = await run('ffprobe', [
        '-v',
        'error',
        '-show_entries',
        'format=duration:stream=codec_type',
        '-of',
        'json',
        clipPath,
      ]);
      assert.equal(probed.code, 0, probed.stderr);
      const info = JSON.parse(probed.stdout) as {
        format: { duration: string };
        streams: { codec_type: string }[];
      };
      assert.deepEqual(info.streams.map((stream) => stream.codec_type).sort(), ['audio', 'video']);
      const duration = Number(info.format.duration);
      // 3 s asked, from the keyframe at or before the start (one per second here).
      assert.ok(duration >= 2.9 && duration <= 4.2, `clip of ${duration} s`);
      assert.match((await page.textContent('#clip-result')) ?? '', /Clip ready/);

      await page.click('#recording-toggle');
      await waitForPage(
        page,
        'document.getElementById("recording-state")?.textContent === "off"',
        15_000,
      );
      await waitFor(
        async () => {
          const state = (await (await api('api/v1/streams/live/dash/recording')).json()) as {
            recording: boolean;
          };
          return !state.recording;
        },
        10_000,
        'the recording to stop',
      );
      await saveScreenshot(page, 'dashboard-recordings.png');
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
    });
  });

  test('the Restream card adds a destination, shows it masked and live, and removes it', async () => {
    const pushesUrl = server.httpUrl('api/v1/streams/live/dash/pushes');
    const auth = { Authorization: `Bearer ${server.onair.apiToken.value}` };
    const pushes = async (): Promise<
      { id: string; url: string; origin: string; state: string }[]
    > => {
      const response = await fetch(pushesUrl, { headers: auth });
      assert.equal(response.status, 200);
      return ((await response.json()) as { items: [] }).items;
    };
    // The destination: another path of the same onair (the key is its last path segment).
    const copyPath = 'live/dash-copy-key-4567';
    const target = `rtmp://127.0.0.1:${String(server.rtmpPort)}/${copyPath}`;
    const masked = `rtmp://127.0.0.1:${String(server.rtmpPort)}/live/****4567`;
    // What the API itself says of a URL that is not rtmp:// or rtmps://.
    const refused = await fetch(pushesUrl, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: 'http://x' }),
    });
    assert.equal(refused.status, 400);
    const { message } = (await refused.json()) as { message: string };
    assert.match(message, /rtmp/);
    await withChromiumPage(async (page, problems) => {
      await openStreamPage(page, server, 'live/dash');
      await waitForPage(
        page,
        'document.getElementById("pushes-empty")?.textContent === "No restream destinations."',
        15_000,
      );

      await page.fill('#push-url', 'http://x');
      await page.click('#push-add');
      await waitForPage(
        page,
        `document.getElementById("pushes-error")?.textContent === ${JSON.stringify(`Not added: ${message}`)}`,
        10_000,
      );
      assert.equal(await page.textContent('#pushes-error'), `Not added: ${message}`);
      assert.equal(await page.textContent('#error'), '', 'not in the page alert');
      assert.deepEqual(await pushes(), []);

      await page.fill('#push-url', target);
      await page.click('#push-add');
      await waitForPage(
        page,
        `document.getElementById("push-status")?.textContent?.startsWith("Added ") === true`,
        10_000,
      );
      const [added, ...more] = await pushes();
      assert.ok(added, 'the API lists the push');
      assert.deepEqual(more, []);
      assert.equal(added.url, masked);
      assert.equal(added.origin, 'api');
      assert.equal(await page.textContent('#push-status'), `Added ${masked} (${added.id}).`);
      assert.equal(await page.inputValue('#push-url'), '', 'the form is emptied');
      assert.equal(await page.textContent('#pushes-error'), '');
      await waitFor(
        () => server.onair.hub.get(copyPath)?.tracks.length === 2,
        20_000,
        'the pushed copy on the destination',
      );
      await waitFor(
        async () => (await pushes())[0]?.state === 'live',
        15_000,
        'the push to be live',
      );
      // The card's own refresh (every 5 s) shows it live.
      const row = `[data-push-id="${added.id}"]`;
      await waitForPage(
        page,
        `document.querySelector('${row} td:nth-child(3)')?.textContent === "live"`,
        15_000,
      );
      assert.equal(await page.textContent(`${row} td:nth-child(1)`), masked);
      const html = await page.evaluate<string>('document.documentElement.outerHTML');
      assert.ok(!html.includes('copy-key'), 'the key is nowhere in the page');
      await saveScreenshot(page, 'dashboard-restream.png');

      await page.click(`${row} [data-testid=push-remove]`);
      assert.equal(await page.isVisible(`${row} [data-testid=push-remove-confirm]`), true);
      assert.deepEqual(
        (await pushes()).map((push) => push.id),
        [added.id],
        'Remove only asks to confirm',
      );
      await page.click(`${row} [data-testid=push-remove-confirm]`);
      await waitFor(async () => (await pushes()).length === 0, 10_000, 'the push removed');
      await waitForPage(page, `document.querySelector('${row}') === null`, 10_000);
      await waitForPage(page, 'document.getElementById("pushes-empty")?.hidden === false', 10_000);
      assert.equal(await page.textContent('#push-status'), `Removed ${masked}.`);
      assert.deepEqual(problems.exceptions, [], 'uncaught exceptions in the page');
    });
  });
});
