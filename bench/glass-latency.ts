// `npm run bench:glass`: glass-to-glass latency in headless Chromium with a pixel clock
// (bench/pixel-clock.ts): onair (compiled, CPU 0) gets the clock over RTMP (ffmpeg, CPU 1); the
// page decodes it on every requestVideoFrameCallback. Measured: WHEP (an in-page client), the
// watch page in HTTP-FLV mode (several joins, spread over the GOP), and the watch page's
// ?mode=webrtc when it plays with engine 'webrtc'. Prints one Markdown table.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import { withChromiumPage } from '../test/support/chromium.ts';
import { PAGE_DECODER, publishPixelClock } from './pixel-clock.ts';
import { freePorts } from './servers.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** In the page: a recvonly WHEP client whose <video> the decoder watches. */
function whepScript(url: string): string {
  return `(async () => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', { direction: 'recvonly' });
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true;
    document.body.prepend(video);
    window.pixelClockVideo = video;
    pc.ontrack = (event) => { video.srcObject ??= new MediaStream(); video.srcObject.addTrack(event.track); };
    await pc.setLocalDescription(await pc.createOffer());
    const response = await fetch(${JSON.stringify(url)}, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    window.whepPc = pc;
  })()`;
}

interface Row {
  readonly what: string;
  readonly samples: number;
  readonly misreads: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly note: string;
}

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;
}

/** Decodes for `settleS`, forgets those samples, then returns `measureS` worth. */
async function measure(page: Page, what: string, settleS: number, measureS: number): Promise<Row> {
  await page.evaluate(PAGE_DECODER);
  await sleep(settleS * 1000);
  await page.evaluate('window.pixelClock.latencies = []; window.pixelClock.misreads = 0');
  await sleep(measureS * 1000);
  const s = await page.evaluate<{ latencies: number[]; misreads: number }>('window.pixelClock');
  const round = (v: number | null): number | null => (v === null ? null : Math.round(v));
  return {
    what,
    samples: s.latencies.length,
    misreads: s.misreads,
    p50: round(quantile(s.latencies, 0.5)),
    p95: round(quantile(s.latencies, 0.95)),
    note: `${settleS} s after the start, ${measureS} s`,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    strict: true,
    options: {
      joins: { type: 'string', default: '5' },
      measure: { type: 'string', default: '10' },
      out: { type: 'string', default: 'bench/results/glass' },
    },
  });
  const joins = Math.min(10, Number(values.joins));
  const measureS = Math.min(30, Number(values.measure));
  const out = resolve(ROOT, values.out);
  mkdirSync(out, { recursive: true });
  const [rtmpPort = 0, httpPort = 0] = await freePorts(2);
  const udpPort = 20_000 + (httpPort % 20_000);
  const log = openSync(join(out, 'onair.log'), 'w');
  const server = spawn(
    'taskset',
    [
      ...['-c', '0', process.execPath, 'dist/app/main.js', '--host', '127.0.0.1'],
      ...['--rtmp-port', String(rtmpPort), '--http-port', String(httpPort), '--srt-port', '0'],
      ...['--log-level', 'warn', '--data-dir', join(out, 'onair-data')],
      ...['--set', `webrtc.udpPort=${udpPort}`, '--set', 'webrtc.bindAddress=127.0.0.1'],
    ],
    { cwd: ROOT, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const base = `http://127.0.0.1:${httpPort}`;
  // Long enough for every measurement below, and bounded.
  const totalS = 20 + (measureS + 6) * (joins + 3);
  let clock: ReturnType<typeof publishPixelClock> | null = null;
  const rows: Row[] = [];
  try {
    await sleep(2500);
    clock = publishPixelClock(`rtmp://127.0.0.1:${rtmpPort}/live/clock`, totalS, 1);
    await sleep(3000);
    await withChromiumPage(async (page) => {
      await page.goto(`${base}/`);
      await page.evaluate(whepScript('/live/clock/whep'));
      rows.push(await measure(page, 'WHEP (in-page RTCPeerConnection)', 3, measureS));
    });
    for (let j = 0; j < joins; j++) {
      await sleep(370 * j); // joins at different moments of the 1 s GOP
      await withChromiumPage(async (page) => {
        await page.goto(`${base}/watch/live/clock?mode=flv`);
        const row = await measure(page, `watch page HTTP-FLV, join ${j + 1}`, 2, measureS);
        rows.push(row);
      });
    }
    await withChromiumPage(async (page) => {
      await page.goto(`${base}/watch/live/clock?mode=webrtc`);
      await sleep(3000);
      const engine = await page.evaluate<string | null>('window.onairPlayer?.engine ?? null');
      if (engine === 'webrtc')
        rows.push(await measure(page, 'watch page ?mode=webrtc', 3, measureS));
      else {
        rows.push({
          what: 'watch page ?mode=webrtc',
          samples: 0,
          misreads: 0,
          p50: null,
          p95: null,
          note: `not measured: engine is ${String(engine)}`,
        });
      }
    });
  } finally {
    clock?.stop();
    server.kill('SIGTERM');
  }
  const table = [
    '| playback | frames decoded | misreads dropped | glass-to-glass p50 ms | p95 ms | window |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...rows.map(
      (r) =>
        `| ${r.what} | ${r.samples} | ${r.misreads} | ${r.p50 ?? '-'} | ${r.p95 ?? '-'} | ${r.note} |`,
    ),
  ].join('\n');
  process.stdout.write(`${table}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? '')).href) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `bench:glass failed: ${error instanceof Error ? error.stack : String(error)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
