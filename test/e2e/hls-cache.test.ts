// nginx with the shipped HLS cache (deploy/nginx/onair-hls-cache.conf next to onair.conf) in
// front of onair (its own process), ffmpeg publishing: 200 LL-HLS clients doing blocking reloads
// and fetching each hinted part make about one request to onair per part (counted by onair's
// onair_hls_requests_total), every client gets every part, and what the cache keeps resolves.
// Also what the cache key holds: the blocking query, a private stream's token and the media
// signature; plain reloads and bearer requests are never served from the cache.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, get as httpGet } from 'node:http';
import { startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { publishTestPattern, type Publisher } from '../support/media-tools.ts';
import { startNginxProxy, type Nginx } from '../support/nginx.ts';
import { waitForPlaylist } from '../support/wait-for-playlist.ts';
import type { Family } from '../support/prom-text.ts';
import {
  comparePositions,
  get,
  parsePlaylist,
  resolveUri,
  runLlHlsClient,
  type LlHlsClientResult,
  type ReceivedPart,
} from '../support/ll-hls-client.ts';
import { deriveKey } from '../../src/access/keys.ts';
import { signToken } from '../../src/access/tokens.ts';
import { freePort } from '../support/ports.ts';

const SECRET = 'test-secret-0123456789abcdef0123';
const PRIVATE = 'live/priv';
const CLIENTS = 200;
/** How long the clients play. */
const PLAY_MS = 8000;

let server: ServerProcess;
let nginx: Nginx;
const publishers: Publisher[] = [];

function playToken(path: string): string {
  return signToken(deriveKey(SECRET, 'token'), {
    purpose: 'play',
    path,
    expiresAtS: Math.floor(Date.now() / 1000) + 3600,
  });
}

/** onair_hls_requests_total by kind. */
function requestCounts(families: Map<string, Family>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const sample of families.get('onair_hls_requests_total')?.samples ?? []) {
    out[sample.labels.kind ?? '?'] = sample.value;
  }
  return out;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
/** GET through nginx, with optional headers. */
function viaNginx(
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; cache: string; cacheControl: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port: nginx.port, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          cache: String(res.headers['x-cache-status'] ?? ''),
          cacheControl: res.headers['cache-control'] ?? '',
          body: Buffer.concat(chunks),
        });
      });
    });
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${path}: no answer`)));
    req.on('error', reject);
  });
}

before(async () => {
  server = await startServerProcess({
    auth: { secret: SECRET },
    streams: { [PRIVATE]: { private: true } },
    log: { level: 'info' },
  });
  publishers.push(publishTestPattern(server.rtmpUrl('live/cam'), { gop: 25, seconds: 120 }));
  publishers.push(publishTestPattern(server.rtmpUrl(PRIVATE), { gop: 25, seconds: 120 }));
  nginx = await startNginxProxy({
    host: '127.0.0.1',
    port: await freePort(),
    onairHttpPort: server.httpPort,
    hlsCache: true,
  });
  await waitForPlaylist(`http://127.0.0.1:${nginx.port}/live/cam.m3u8`, {
    timeoutMs: 20_000,
    until: (text) => text.includes('#EXTINF') && text.includes('#EXT-X-PRELOAD-HINT'),
    what: 'an LL-HLS playlist through nginx',
  });
});

after(async () => {
  agent.destroy();
  await nginx.stop();
  await Promise.all(publishers.map((p) => p.stop()));
  await server.stop();
});

describe('LL-HLS through nginx with deploy/nginx/onair-hls-cache.conf', () => {
  test('plain reloads go to onair; blocking reloads, parts and init are cached per URL', async () => {
    const plain = [await viaNginx('/live/cam.m3u8'), await viaNginx('/live/cam.m3u8')];
    for (const answer of plain) {
      assert.equal(answer.status, 200);
      assert.equal(answer.cache, 'BYPASS', 'a plain reload is never served from the cache');
      assert.equal(answer.cacheControl, 'no-cache');
    }
    const playlist = parsePlaylist(plain[1]?.body.toString() ?? '');
    const hint = playlist.hint;
    assert.ok(hint !== null && playlist.mapUri !== null);
    const blocking = `/live/cam.m3u8?_HLS_msn=${hint.msn}&_HLS_part=${hint.part}`;
    const first = await viaNginx(blocking);
    const second = await viaNginx(blocking);
    assert.equal(first.status, 200);
    assert.equal(first.cache, 'MISS');
    assert.equal(first.cacheControl, 'public, max-age=6');
    assert.equal(second.cache, 'HIT');
    assert.deepEqual(second.body, first.body);
    // A delta update is another entry.
    const skip = await viaNginx(`${blocking}&_HLS_skip=YES`);
    assert.equal(skip.status, 200);
    assert.equal(skip.cache, 'MISS');
    for (const uri of [hint.uri, playlist.mapUri]) {
      const path = resolveUri('/live/cam.m3u8', uri);
      const [a, b] = [await viaNginx(path), await viaNginx(path)];
      assert.equal(a.status, 200, path);
      assert.equal(a.cacheControl, 'public, max-age=31536000, immutable');
      assert.equal(b.cache, 'HIT', path);
      assert.deepEqual(b.body, a.body);
    }
  });

  test('HTTP-FLV still goes through onair.conf next to it', async () => {
    const head = await new Promise<Buffer>((resolve, reject) => {
      const req = httpGet(`http://127.0.0.1:${nginx.port}/live/cam.flv`, (res) => {
        res.once('data', (chunk: Buffer) => {
          resolve(chunk);
          req.destroy();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('no FLV')));
      req.on('error', reject);
    });
    assert.equal(head.subarray(0, 3).toString('latin1'), 'FLV');
  });

  test('a private stream: the token and the media signature are in the key; bearer requests bypass it', async () => {
    const token = encodeURIComponent(playToken(PRIVATE));
    const text = await waitForPlaylist(
      `http://127.0.0.1:${nginx.port}/${PRIVATE}.m3u8?token=${token}`,
      { timeoutMs: 20_000, until: (t) => t.includes('#EXTINF') },
    );
    const hint = parsePlaylist(text).hint;
    assert.ok(hint !== null);
    const query = `_HLS_msn=${hint.msn}&_HLS_part=${hint.part}`;
    const withToken = `/${PRIVATE}.m3u8?token=${token}&${query}`;
    assert.equal((await viaNginx(withToken)).cache, 'MISS');
    const cached = await viaNginx(withToken);
    assert.equal(cached.status, 200);
    assert.equal(cached.cache, 'HIT');
    // The same blocking reload without the token, or with another stream's, is onair's to refuse.
    for (const path of [
      `/${PRIVATE}.m3u8?${query}`,
      `/${PRIVATE}.m3u8?token=${encodeURIComponent(playToken('live/cam'))}&${query}`,
    ]) {
      const refused = await viaNginx(path);
      assert.equal(refused.status, 401, path);
      assert.notEqual(refused.cache, 'HIT', path);
    }
    // Media: the signed URI is cached; without its signature, or with a forged one, it is not.
    const signed = resolveUri(`/${PRIVATE}.m3u8`, hint.uri);
    assert.match(signed, /\?hs=\d+\.[0-9a-f]{64}$/);
    assert.equal((await viaNginx(signed)).status, 200);
    assert.equal((await viaNginx(signed)).cache, 'HIT');
    const unsigned = signed.split('?')[0] ?? '';
    const forged = signed.replace(/[0-9a-f]{4}$/, '0000');
    for (const path of [unsigned, unsigned, forged]) {
      const refused = await viaNginx(path);
      assert.equal(refused.status, 403, path);
      assert.notEqual(refused.cache, 'HIT', path);
    }
    // A bearer token: onair answers it, and the answer is neither taken from nor put in the cache.
    const bearer = { authorization: `Bearer ${playToken(PRIVATE)}` };
    for (let i = 0; i < 2; i++) {
      const answer = await viaNginx(`/${PRIVATE}.m3u8?${query}`, bearer);
      assert.equal(answer.status, 200);
      assert.equal(answer.cache, 'BYPASS');
      assert.equal(answer.cacheControl, 'private, max-age=6');
    }
    assert.equal((await viaNginx(`/${PRIVATE}.m3u8?${query}`)).status, 401);
  });

  test(`${CLIENTS} LL-HLS clients: about one request to onair per part, every client gets every part`, async () => {
    const before = await server.metrics();
    const beforeRequests = requestCounts(before);
    const untilMs = Date.now() + PLAY_MS;
    const results: LlHlsClientResult[] = await Promise.all(
      Array.from({ length: CLIENTS }, () =>
        runLlHlsClient({
          host: '127.0.0.1',
          port: nginx.port,
          playlistPath: '/live/cam.m3u8',
          untilMs,
          maxParts: 200,
        }),
      ),
    );
    const after = await server.metrics();
    const afterRequests = requestCounts(after);
    const upstream = (kind: string): number =>
      (afterRequests[kind] ?? 0) - (beforeRequests[kind] ?? 0);

    const errors = results.flatMap((r, i) => r.errors.map((e) => `client ${i}: ${e}`));
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} client errors`);

    // Every part received is the one its position names (onair's <id>-<msn>.<part>.m4s).
    for (const result of results) {
      for (const part of result.parts) {
        assert.match(part.uri, new RegExp(`-${part.msn}\\.${part.part}\\.m4s$`), part.uri);
      }
    }
    // All parts anyone received, in stream order; each client's parts are one run of them.
    const key = (p: ReceivedPart): string => `${p.msn}.${p.part}`;
    const distinct = new Map<string, ReceivedPart>();
    for (const result of results) for (const part of result.parts) distinct.set(key(part), part);
    const order = [...distinct.values()].sort(comparePositions);
    const index = new Map(order.map((p, i) => [key(p), i]));
    for (const [i, result] of results.entries()) {
      const first = result.parts[0];
      assert.ok(first !== undefined, `client ${i} got no part`);
      const start = index.get(key(first)) ?? -1;
      assert.deepEqual(
        result.parts.map(key),
        order.slice(start, start + result.parts.length).map(key),
        `client ${i} skipped a part`,
      );
    }
    // No part of the stream is missing between the first and the last: a part index goes up by
    // one, or, after the last part of a segment (as its playlists listed it), part 0 of the next.
    const partCounts = new Map<number, number>();
    for (const result of results) {
      for (const [msn, count] of result.partCounts) {
        assert.equal(partCounts.get(msn) ?? count, count, `segment ${msn}: one part count`);
        partCounts.set(msn, count);
      }
    }
    for (let i = 1; i < order.length; i++) {
      const [a, b] = [order[i - 1], order[i]] as [ReceivedPart, ReceivedPart];
      const sameSegment = b.msn === a.msn && b.part === a.part + 1;
      const nextSegment =
        b.msn === a.msn + 1 && b.part === 0 && partCounts.get(a.msn) === a.part + 1;
      assert.ok(sameSegment || nextSegment, `${key(a)} then ${key(b)}`);
    }
    // The parts every client had: from the last first part to the first last part.
    const starts = results.map((r) => index.get(key(r.parts[0] as ReceivedPart)) ?? 0);
    const ends = results.map((r) => index.get(key(r.parts.at(-1) as ReceivedPart)) ?? 0);
    const common = Math.min(...ends) - Math.max(...starts) + 1;
    const fetched = results.reduce((sum, r) => sum + r.parts.length, 0);
    const blocking = results.reduce((sum, r) => sum + r.blockingRequests, 0);
    const fromCache = results.reduce((sum, r) => sum + r.cachedPlaylists, 0);
    const figures = {
      distinctParts: order.length,
      commonParts: common,
      clientPartFetches: fetched,
      clientBlockingReloads: blocking,
      blockingReloadsFromCache: fromCache,
      onairPartRequests: upstream('part'),
      onairBlockingReloads: upstream('blocking_playlist'),
      onairPlainReloads: upstream('playlist'),
      onairInitRequests: upstream('init'),
      onairSegmentRequests: upstream('segment'),
    };
    console.log(`hls-cache figures: ${JSON.stringify(figures)}`);
    assert.ok(common >= 5 * (PLAY_MS / 1000) - 10, `parts every client got: ${common}`);
    assert.ok(fetched >= CLIENTS * common, JSON.stringify(figures));
    // About one request to onair per part and per blocking reload, for 200 clients.
    assert.ok(upstream('part') <= 1.5 * order.length, JSON.stringify(figures));
    assert.ok(upstream('blocking_playlist') <= 1.5 * order.length, JSON.stringify(figures));
    assert.ok(upstream('init') <= 2, JSON.stringify(figures));
    // Each client's first load went to onair (never cached), and nothing else did.
    assert.equal(upstream('playlist'), CLIENTS, JSON.stringify(figures));
    assert.equal(upstream('segment'), 0, JSON.stringify(figures));
    assert.ok(fromCache >= 0.9 * blocking, JSON.stringify(figures));

    // A playlist from the cache names only parts and segments that resolve.
    const newest = results
      .map((r) => r.lastCachedPlaylist)
      .filter((p) => p !== null)
      .sort((a, b) => b.atMs - a.atMs)[0];
    assert.ok(newest !== undefined, 'a blocking reload answered from the cache');
    const listed = parsePlaylist(newest.text);
    assert.ok(listed.parts.length >= 5, newest.text);
    const check = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      const uris = [...listed.parts.map((p) => p.uri), ...listed.segments];
      const answers = await Promise.all(
        uris.map((uri) => get(check, '127.0.0.1', nginx.port, resolveUri('/live/cam.m3u8', uri))),
      );
      assert.deepEqual(
        answers.map((a, i) => `${uris[i] ?? ''} ${a.status}`),
        uris.map((uri) => `${uri} 200`),
      );
    } finally {
      check.destroy();
    }
  });
});
