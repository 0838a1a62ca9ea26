// Tests of the per-purpose keys: HKDF-SHA256 as documented (the openssl recipe, run for real),
// one key per purpose and per secret, never the secret itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { KEY_LABELS, deriveKey, deriveKeys, type KeyPurpose } from './keys.ts';
import { signToken, verifyToken } from './tokens.ts';

const SECRET = 'test-secret-0123456789abcdef';

/** The shell recipe of the docs (OpenSSL 3), run for real. */
function openssl(secret: string, label: string): string {
  const script = `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt key:"$SECRET" -kdfopt info:"$1" -binary HKDF | openssl base64 -A | tr '+/' '-_' | tr -d '='`;
  return execFileSync('sh', ['-c', script, 'sh', label], {
    env: { ...process.env, SECRET: secret },
    encoding: 'utf8',
    timeout: 10_000,
  }).trim();
}

void test('deriveKey() is HKDF-SHA256 with the documented labels: the openssl recipe gives the same', () => {
  for (const purpose of Object.keys(KEY_LABELS) as KeyPurpose[]) {
    assert.equal(deriveKey(SECRET, purpose), openssl(SECRET, KEY_LABELS[purpose]), purpose);
  }
  assert.deepEqual(KEY_LABELS, {
    token: 'onair/v1/token',
    'hls-media': 'onair/v1/hls-media',
    hooks: 'onair/v1/hooks',
    cluster: 'onair/v1/cluster',
  });
});

void test('each purpose and each secret has its own 43-character key, never the secret', () => {
  const keys = deriveKeys(SECRET);
  const values: string[] = [keys.token, keys.hlsMedia, keys.hooks, keys.cluster];
  assert.equal(new Set([...values, SECRET]).size, 5);
  for (const key of values) assert.match(key, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(keys, {
    token: deriveKey(SECRET, 'token'),
    hlsMedia: deriveKey(SECRET, 'hls-media'),
    hooks: deriveKey(SECRET, 'hooks'),
    cluster: deriveKey(SECRET, 'cluster'),
  });
  assert.notEqual(deriveKeys(`${SECRET}x`).token, keys.token);
  assert.throws(() => deriveKey('', 'token'), RangeError);
});

void test('a token signed with the hooks key (what a webhook receiver holds) does not verify', () => {
  const { token, hooks } = deriveKeys(SECRET);
  const check = { purpose: 'play' as const, path: 'live/x', ip: '203.0.113.9', nowS: 1000 };
  const forged = signToken(hooks, { purpose: 'play', path: 'live/x', expiresAtS: 2000 });
  assert.deepEqual(verifyToken(token, forged, check), { ok: false, reason: 'signature' });
  const old = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: 2000 });
  assert.deepEqual(verifyToken(token, old, check), { ok: false, reason: 'signature' });
  const good = signToken(token, { purpose: 'play', path: 'live/x', expiresAtS: 2000 });
  assert.equal(verifyToken(token, good, check).ok, true);
  // A play token is no proof of being a node of the cluster, and the other way round.
  const { cluster } = deriveKeys(SECRET);
  assert.deepEqual(verifyToken(cluster, good, check), { ok: false, reason: 'signature' });
});
