// Headless Chromium for end-to-end tests: Debian's /usr/bin/chromium driven by playwright-core,
// with flags that start it reliably as root in a container; every browser is closed after use.
import { mkdir } from 'node:fs/promises';
import { chromium, type LaunchOptions, type Page } from 'playwright-core';

/** Where tests save screenshots (git-ignored). */
export const ARTIFACTS_DIR = new URL('../../test-artifacts/', import.meta.url);

/** Launch options: root needs --no-sandbox; the rest keeps Chromium quiet and offline. */
export const CHROMIUM_LAUNCH_OPTIONS: LaunchOptions = {
  executablePath: '/usr/bin/chromium',
  headless: true,
  timeout: 30_000,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
    '--mute-audio',
  ],
};

/** What a page reported while it ran: uncaught exceptions and console errors. */
export interface PageProblems {
  readonly exceptions: string[];
  readonly consoleErrors: string[];
}

/** Flags for a fake camera and microphone that getUserMedia() gets without asking (WHIP tests). */
export const FAKE_MEDIA_ARGS: readonly string[] = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];

/**
 * Launches Chromium (with `options.args` added to its flags), opens one page (960x900), runs
 * `use` with it and closes the browser whatever happens.
 */
export async function withChromiumPage<T>(
  use: (page: Page, problems: PageProblems) => Promise<T>,
  options: { readonly args?: readonly string[] } = {},
): Promise<T> {
  const browser = await chromium.launch({
    ...CHROMIUM_LAUNCH_OPTIONS,
    args: [...(CHROMIUM_LAUNCH_OPTIONS.args ?? []), ...(options.args ?? [])],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 960, height: 900 } });
    const problems: PageProblems = { exceptions: [], consoleErrors: [] };
    page.on('pageerror', (error) => problems.exceptions.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.consoleErrors.push(message.text());
    });
    return await use(page, problems);
  } finally {
    await browser.close();
  }
}

/** Saves a full-page screenshot as test-artifacts/`name`; returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS_DIR, { recursive: true });
  const path = new URL(name, ARTIFACTS_DIR).pathname;
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** window.onairPlayer as the watch page exposes it (web/player/watch.js). */
export interface OnairPlayerState {
  readonly mode: 'webrtc' | 'hls' | 'flv';
  readonly engine: 'webrtc' | 'hls.js' | 'native' | 'mpegts.js' | null;
  readonly status: string;
  readonly errors: string[];
  readonly warnings: string[];
  readonly latencyS: number | null;
  readonly bitrateKbps: number | null;
  readonly width: number;
  readonly height: number;
  readonly currentTimeS: number;
}

/** What the page's `<video>` shows. */
export interface VideoStatus {
  readonly currentTime: number;
  readonly width: number;
  readonly height: number;
}

/** The watch page's state object. */
export async function playerState(page: Page): Promise<OnairPlayerState> {
  return page.evaluate<OnairPlayerState>('window.onairPlayer');
}

/** The `<video>` element's currentTime and intrinsic size. */
export async function videoStatus(page: Page): Promise<VideoStatus> {
  return page.evaluate<VideoStatus>(
    '(() => { const v = document.querySelector("video"); return { currentTime: v.currentTime, width: v.videoWidth, height: v.videoHeight }; })()',
  );
}

/**
 * Polls the JavaScript `expression` in the page every 100 ms until it is truthy; throws after
 * `timeoutMs`. (page.waitForFunction() evaluates strings with eval, which the pages' CSP forbids.)
 */
export async function waitForPage(
  page: Page,
  expression: string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await page.evaluate<unknown>(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Waits (bounded) until the watch page's video has a picture and its currentTime has moved on
 * by `advanceS` from the first frame shown; returns the final status.
 */
export async function expectVideoAdvances(
  page: Page,
  options: { readonly advanceS: number; readonly timeoutMs: number },
): Promise<VideoStatus> {
  try {
    await waitForPage(
      page,
      '(() => { const v = document.querySelector("video"); return v !== null && v.videoWidth > 0 && v.currentTime > 0; })()',
      options.timeoutMs,
    );
    // Counted from the played ranges: a seek (hls.js jumps to the live edge) is not playback.
    const played =
      '(() => { const p = document.querySelector("video").played; let s = 0; for (let i = 0; i < p.length; i++) s += p.end(i) - p.start(i); return s; })()';
    const playedAtFirst = await page.evaluate<number>(played);
    await waitForPage(page, `${played} >= ${playedAtFirst + options.advanceS}`, options.timeoutMs);
  } catch (error) {
    const state = JSON.stringify(await playerState(page));
    const video = JSON.stringify(await videoStatus(page));
    throw new Error(`the video did not play: video ${video}, player ${state}`, { cause: error });
  }
  return videoStatus(page);
}
