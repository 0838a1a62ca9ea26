// Tests of how AccessControl uses keys and tokens: each derived key only for its purpose, and
// what it keeps of a token (the HLS decision cache) bounded whatever the client sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { configSchema, deepFreeze } from '../config/schema.ts';
import { SessionRegistry } from '../hub/session-registry.ts';
import { createLogger } from '../log/logger.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { AccessControl } from './access-control.ts';
import { AccessStore } from './access-store.ts';
import { deriveKeys } from './keys.ts';
import { signHlsAccess, signToken } from './tokens.ts';
import { WebhookClient } from './webhooks.ts';

const SECRET = 'access-secret-0123456789abcdef';
const KEYS = deriveKeys(SECRET);
const NOW_MS = 1_700_000_000_000;
const NOW_S = NOW_MS / 1000;

/** An AccessControl over a real store and registry, with `streams` and no hooks. */
function accessControl(
  t: { after: (fn: () => void) => void },
  streams: Record<string, unknown> = {},
): AccessControl {
  const config = deepFreeze(configSchema.parse({ streams }));
  const silent = new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
  return new AccessControl({
    config,
    keys: KEYS,
    store: AccessStore.open(join(tempDir(t), 'access.json')),
    sessions: new SessionRegistry(),
    hooks: new WebhookClient({
      urls: {},
      secret: '',
      timeoutMs: 1000,
      failOpen: false,
      retries: 0,
    }),
    jwt: null,
    logger: createLogger({ level: 'silent', format: 'json', destination: silent }),
    nowMs: () => NOW_MS,
    // Renditions named `_low` of every stream (the ABR ladder's APP/NAME_<rendition>).
    renditionSourceOf: (path) => (path.endsWith('_low') ? path.slice(0, -'_low'.length) : null),
  });
}

const play = (path: string, query: string, counted = true) => ({
  path,
  ip: '203.0.113.9',
  protocol: counted ? 'http-flv' : 'hls',
  query,
  counted,
});

void test('play and publish tokens verify with the token key only, hs= with the HLS media key only', async (t) => {
  const access = accessControl(t, {
    'live/private': { private: true },
    'live/keyed': { publishKey: 'key-0123456789' },
  });
  const expiresAtS = NOW_S + 600;
  const tokenFor = (key: string, purpose: 'play' | 'publish', path: string): string =>
    encodeURIComponent(signToken(key, { purpose, path, expiresAtS }));
  for (const [key, ok] of [
    [KEYS.token, true],
    [KEYS.hooks, false],
    [KEYS.hlsMedia, false],
    [SECRET, false],
  ] as const) {
    const played = await access.authorizePlay(
      play('live/private', `token=${tokenFor(key, 'play', 'live/private')}`),
    );
    assert.equal(played.ok, ok, `play, ${key === SECRET ? 'the secret' : key}`);
    if (!played.ok) assert.equal(played.code, 'token-signature');
    const published = await access.authorizePublish({
      path: 'live/keyed',
      ip: '203.0.113.9',
      protocol: 'rtmp',
      query: `token=${tokenFor(key, 'publish', 'live/keyed')}`,
      sessionId: 's1',
    });
    assert.equal(published.ok, ok, 'publish');
  }
  const hs = new URLSearchParams(access.hlsMediaQuery('live/private')).get('hs') ?? '';
  assert.equal(access.checkHlsMedia('live/private', `hs=${hs}`), true);
  const expiry = Number(hs.split('.')[0]);
  for (const key of [KEYS.token, KEYS.hooks, SECRET]) {
    const other = signHlsAccess(key, 'live/private', expiry);
    assert.equal(access.checkHlsMedia('live/private', `hs=${other}`), false);
  }
});

void test('the HLS decision cache keeps a digest of the token, not the token: 10,000 of 12 KB', async (t) => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const access = accessControl(t);
  const filler = 'x'.repeat(12_000);
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) {
    // What a client can put in a URL under Node's 16 KiB header limit: a new string each time,
    // as a request's URL is.
    const query = Buffer.from(`token=${filler}${i}`).toString('latin1');
    const result = await access.authorizePlay(play('live/open', query, false));
    assert.equal(result.ok, true);
  }
  gc();
  const grownMB = (process.memoryUsage().heapUsed - before) / 1024 / 1024;
  // Holding the tokens takes over 110 MB; their digests a few.
  assert.ok(grownMB < 30, `the heap grew ${grownMB.toFixed(1)} MB`);
  // (And the cache, with all it holds, was alive when measured: it still answers.)
  assert.equal(access.isPrivate('live/open'), false);
});

void test('a rendition of a private stream is private; of a public one, public', (t) => {
  const access = accessControl(t, { 'live/secret': { private: true } });
  assert.equal(access.isPrivate('live/secret_low'), true);
  assert.equal(access.isPrivate('live/open_low'), false);
  assert.equal(access.isPrivate('live/secret_other'), false, 'not a rendition');
});
