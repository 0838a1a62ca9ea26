// End to end in headless Chromium: the dashboard (built by Vite, served by onair) takes the
// admin token, lists the live stream with its viewers, and its stream page draws charts that
// move with the live feed. Screenshots are saved as test artifacts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { openFlv, type FlvViewer } from '../support/access-helpers.ts';
import { saveScreenshot, waitForPage, withChromiumPage } from '../support/chromium.ts';

describe('the dashboard in Chromium', () => {
  let server: TestServer;
  let publisher: Publisher;
  let viewer: FlvViewer;

  before(async () => {
    server = await startServer();
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
});
