// Tests of PagesHandler over a real node:http server: the stream list, the watch page, the
// allow-listed assets, and refusals (bad stream paths, other methods, paths that are not ours).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { StreamHub } from '../../hub/stream-hub.ts';
import type { Publication } from '../../hub/stream.ts';
import type { Track } from '../../media/track.ts';
import { PagesHandler } from './pages-handler.ts';

const RTMP_PORT = 19350;
const SRT_PORT = 18890;
const h264: Track = {
  kind: 'video',
  codec: 'h264',
  config: Buffer.from([1, 0x64, 0, 0x1f]),
  profile: 'High',
  width: 1280,
  height: 720,
};
const aac: Track = {
  kind: 'audio',
  codec: 'aac',
  config: Buffer.from([0x12, 0x10]),
  profile: 'LC',
  sampleRate: 44100,
  channels: 2,
};

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

let hub: StreamHub;
let server: Server;
let port: number;

/** Sends a raw request (the path is sent as is, never normalised). */
function send(
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function publish(path: string, tracks: readonly Track[]): Publication {
  const publication = hub.publish(path, { protocol: 'test', remoteAddress: '127.0.0.1' });
  for (const track of tracks) {
    publication.write({
      kind: track.kind,
      timescale: 1000,
      dts: 0,
      pts: 0,
      keyframe: false,
      payload: track.config,
      track,
    });
  }
  return publication;
}

before(async () => {
  hub = new StreamHub({
    gopCache: { enabled: true, maxFrames: 100, maxBytes: 1_000_000, maxDurationMs: 10_000 },
    reconnectGraceMs: 0,
    audioMergeMs: 0,
  });
  const pages = new PagesHandler({ hub, rtmpPort: RTMP_PORT });
  pages.setSrtPort(SRT_PORT);
  server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    if (!pages.handle(req, res, path)) res.writeHead(404).end('fallback');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  hub.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('GET /', () => {
  test('PagesHandler.handle() answers / with an empty state that says how to publish', async () => {
    const answer = await send('/');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(answer.headers['cache-control'], 'no-cache');
    assert.match(String(answer.headers['content-security-policy']), /script-src 'self'/);
    assert.match(answer.body, /No live stream/);
    assert.match(
      answer.body,
      new RegExp(`Server <code>rtmp://127\\.0\\.0\\.1:${RTMP_PORT}/live</code>`),
    );
    assert.match(answer.body, /Stream Key <code>test<\/code>/);
    assert.match(answer.body, /ffmpeg -re .* -f flv rtmp:\/\/127\.0\.0\.1:19350\/live\/test/s);
    assert.ok(answer.body.includes(`srt://127.0.0.1:${SRT_PORT}?streamid=publish:live/test`));
  });

  test('PagesHandler.handle() lists live streams with tracks, a watch link and their URLs', async () => {
    const publication = publish('live/cam1', [h264, aac]);
    hub.open('live/waiting'); // a viewer waiting for a publisher: not live, not listed
    try {
      const { status, body } = await send('/');
      assert.equal(status, 200);
      assert.doesNotMatch(body, /No live stream/);
      assert.match(body, /<a class="watch-link" href="\/watch\/live\/cam1">live\/cam1<\/a>/);
      assert.match(body, /H\.264 High 1280×720 · AAC LC 44\.1 kHz stereo/);
      assert.ok(body.includes(`http://127.0.0.1:${port}/live/cam1.m3u8`));
      assert.ok(body.includes(`http://127.0.0.1:${port}/live/cam1.flv`));
      assert.ok(body.includes(`rtmp://127.0.0.1:${RTMP_PORT}/live/cam1`));
      assert.ok(body.includes(`srt://127.0.0.1:${SRT_PORT}?streamid=read:live/cam1`));
      assert.doesNotMatch(body, /live\/waiting/);
    } finally {
      publication.close();
    }
  });

  test('PagesHandler.handle() shows a made-up Host header as localhost, never as markup', async () => {
    const answer = await send('/', { headers: { Host: '"><script>alert(1)</script>' } });
    assert.equal(answer.status, 200);
    assert.doesNotMatch(answer.body, /<script>|alert/);
    assert.match(answer.body, /rtmp:\/\/localhost:19350\/live/);
  });
});

describe('GET /watch/<app>/<name>', () => {
  test('PagesHandler.handle() fills the watch page template with the stream path and URLs', async () => {
    const answer = await send('/watch/live/cam1');
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(answer.body, /<title>live\/cam1 · onair<\/title>/);
    assert.match(answer.body, /data-stream-path="live\/cam1"/);
    assert.match(answer.body, /data-hls-url="\/live\/cam1\.m3u8"/);
    assert.match(answer.body, /data-flv-url="\/live\/cam1\.flv"/);
    assert.match(answer.body, /<script src="\/assets\/watch\.js" defer><\/script>/);
    assert.ok(answer.body.includes(`rtmp://127.0.0.1:${RTMP_PORT}/live/cam1`));
    assert.ok(answer.body.includes(`srt://127.0.0.1:${SRT_PORT}?streamid=read:live/cam1`));
    assert.doesNotMatch(answer.body, /\{\{/);
  });

  for (const path of [
    '/watch/',
    '/watch/live',
    '/watch/live/..',
    '/watch/../etc/passwd',
    '/watch/live//x',
    '/watch/live/%3Cscript%3E',
    '/watch/live/a%22b',
    `/watch/live/${'x'.repeat(200)}`,
  ]) {
    test(`PagesHandler.handle() answers 400 to ${path.substring(0, 40)}, echoing nothing`, async () => {
      const answer = await send(path);
      assert.equal(answer.status, 400);
      assert.match(answer.body, /^Invalid stream name: /);
      assert.doesNotMatch(answer.body, /<|"|passwd/);
    });
  }
});

describe('GET /assets/<file>', () => {
  const require = createRequire(import.meta.url);
  const cases = [
    ['hls.min.js', require.resolve('hls.js/dist/hls.min.js'), 'text/javascript; charset=utf-8'],
    ['mpegts.js', require.resolve('mpegts.js/dist/mpegts.js'), 'text/javascript; charset=utf-8'],
    [
      'watch.js',
      new URL('../../../web/player/watch.js', import.meta.url),
      'text/javascript; charset=utf-8',
    ],
    [
      'watch.css',
      new URL('../../../web/player/watch.css', import.meta.url),
      'text/css; charset=utf-8',
    ],
  ] as const;

  for (const [name, file, contentType] of cases) {
    test(`PagesHandler.handle() serves /assets/${name} as ${contentType}, cacheable for an hour`, async () => {
      const answer = await send(`/assets/${name}`);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], contentType);
      assert.equal(answer.headers['cache-control'], 'public, max-age=3600');
      assert.equal(answer.body, await readFile(file, 'utf8'));
      assert.equal(answer.headers['content-length'], String(Buffer.byteLength(answer.body)));
    });
  }

  test('PagesHandler.handle() answers 304 to If-None-Match with the ETag it sent', async () => {
    const first = await send('/assets/watch.css');
    const etag = first.headers.etag;
    assert.equal(typeof etag, 'string');
    const again = await send('/assets/watch.css', { headers: { 'If-None-Match': String(etag) } });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
  });

  test('PagesHandler.handle() answers HEAD with the headers and no body', async () => {
    const answer = await send('/assets/watch.css', { method: 'HEAD' });
    assert.equal(answer.status, 200);
    assert.notEqual(answer.headers['content-length'], '0');
    assert.equal(answer.body, '');
  });

  for (const path of [
    '/assets/',
    '/assets/watch.html',
    '/assets/hls.min.js.map',
    '/assets/../package.json',
    '/assets/%2e%2e/package.json',
    '/assets/node_modules/hls.js/dist/hls.js',
  ]) {
    test(`PagesHandler.handle() leaves ${path} to the next handler`, async () => {
      const answer = await send(path);
      assert.equal(answer.status, 404);
      assert.equal(answer.body, 'fallback');
    });
  }
});

describe('routes and methods', () => {
  for (const path of ['/live/cam1.m3u8', '/live/cam1/index.m3u8', '/favicon.ico', '/watch']) {
    test(`PagesHandler.handle() returns false for ${path}`, async () => {
      const answer = await send(path);
      assert.equal(answer.status, 404);
      assert.equal(answer.body, 'fallback');
    });
  }

  for (const path of ['/', '/watch/live/cam1', '/assets/watch.js']) {
    test(`PagesHandler.handle() answers POST ${path} with 405 and Allow: GET, HEAD`, async () => {
      const answer = await send(path, { method: 'POST' });
      assert.equal(answer.status, 405);
      assert.equal(answer.headers.allow, 'GET, HEAD');
    });
  }
});
