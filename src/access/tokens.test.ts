// Tests of the signed play/publish tokens and the HLS media signatures, incl. the openssl recipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import {
  MAX_TOKEN_LENGTH,
  hlsAccessExpiry,
  signHlsAccess,
  signToken,
  verifyHlsAccess,
  verifyToken,
} from './tokens.ts';

const SECRET = 'test-secret-0123456789abcdef';
const NOW = 1_700_000_000;
const EXP = NOW + 3600;

function play(path = 'live/x', ip = '203.0.113.9', nowS = NOW) {
  return { purpose: 'play' as const, path, ip, nowS };
}

/** The shell recipe of the docs, run for real. */
function openssl(purpose: string, path: string, exp: number, cidr: string): string {
  const script = `printf '${purpose}\\n%s\\n%s\\n%s' "$1" "$2" "$3" | openssl dgst -sha256 -hmac "$SECRET" -r | cut -d' ' -f1`;
  return execFileSync('sh', ['-c', script, 'sh', path, String(exp), cidr], {
    env: { ...process.env, SECRET },
    encoding: 'utf8',
    timeout: 10_000,
  }).trim();
}

test('the openssl recipe mints the same signature as signToken(), without and with a CIDR', () => {
  const plain = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP });
  assert.equal(plain, `${EXP}.${openssl('play', 'live/x', EXP, '')}`);
  const bound = signToken(SECRET, {
    purpose: 'publish',
    path: 'live/cam1',
    expiresAtS: EXP,
    cidr: '203.0.113.0/24',
  });
  assert.equal(
    bound,
    `${EXP}.${openssl('publish', 'live/cam1', EXP, '203.0.113.0/24')}.203.0.113.0/24`,
  );
});

test('the exact command of the docs matches signToken()', () => {
  const command = `printf 'play\\n%s\\n%s\\n%s' "live/x" "$exp" "" | openssl dgst -sha256 -hmac "$TOKEN_KEY" -r | cut -d' ' -f1`;
  const hex = execFileSync('sh', ['-c', command], {
    env: { ...process.env, TOKEN_KEY: SECRET, exp: String(EXP) },
    encoding: 'utf8',
    timeout: 10_000,
  }).trim();
  assert.equal(
    `${EXP}.${hex}`,
    signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP }),
  );
});

test('a token has the documented shape', () => {
  const token = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP });
  assert.match(token, /^\d+\.[0-9a-f]{64}$/);
  const v6 = signToken(SECRET, {
    purpose: 'play',
    path: 'live/x',
    expiresAtS: EXP,
    cidr: '2001:db8::/32',
  });
  assert.match(v6, /^\d+\.[0-9a-f]{64}\.2001:db8::\/32$/);
});

test('verifyToken() accepts a good token and reports its expiry', () => {
  const token = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP });
  assert.deepEqual(verifyToken(SECRET, token, play()), { ok: true, expiresAtS: EXP });
});

test('verifyToken() refuses another path, purpose or secret with signature', () => {
  const token = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP });
  const signature = { ok: false, reason: 'signature' };
  assert.deepEqual(verifyToken(SECRET, token, play('live/y')), signature);
  assert.deepEqual(verifyToken(SECRET, token, { ...play(), purpose: 'publish' }), signature);
  assert.deepEqual(verifyToken('another-secret-0123456789', token, play()), signature);
  // A changed expiry or a CIDR added to a token without one breaks the signature.
  const later = token.replace(String(EXP), String(EXP + 1));
  assert.deepEqual(verifyToken(SECRET, later, play()), signature);
  assert.deepEqual(verifyToken(SECRET, `${token}.0.0.0.0/0`, play()), signature);
  const upper = `${EXP}.${token.slice(String(EXP).length + 1).toUpperCase()}`;
  assert.deepEqual(verifyToken(SECRET, upper, play()), { ok: false, reason: 'malformed' });
});

test('verifyToken() checks the signature before the expiry, and exp <= now is expired', () => {
  const token = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: NOW });
  assert.deepEqual(verifyToken(SECRET, token, play()), { ok: false, reason: 'expired' });
  assert.deepEqual(verifyToken(SECRET, token, play('live/x', '1.2.3.4', NOW - 1)), {
    ok: true,
    expiresAtS: NOW,
  });
  assert.deepEqual(verifyToken(SECRET, token, play('live/other')), {
    ok: false,
    reason: 'signature',
  });
});

test('verifyToken() checks the client address against the CIDR last', () => {
  const v4 = signToken(SECRET, {
    purpose: 'play',
    path: 'live/x',
    expiresAtS: EXP,
    cidr: '203.0.113.0/24',
  });
  assert.equal(verifyToken(SECRET, v4, play('live/x', '203.0.113.200')).ok, true);
  assert.equal(verifyToken(SECRET, v4, play('live/x', '::ffff:203.0.113.200')).ok, true);
  assert.deepEqual(verifyToken(SECRET, v4, play('live/x', '198.51.100.1')), {
    ok: false,
    reason: 'ip',
  });
  assert.deepEqual(verifyToken(SECRET, v4, play('live/x', 'garbage')), { ok: false, reason: 'ip' });

  const bare = signToken(SECRET, {
    purpose: 'play',
    path: 'live/x',
    expiresAtS: EXP,
    cidr: '198.51.100.7',
  });
  assert.equal(verifyToken(SECRET, bare, play('live/x', '198.51.100.7')).ok, true);
  assert.deepEqual(verifyToken(SECRET, bare, play('live/x', '198.51.100.8')), {
    ok: false,
    reason: 'ip',
  });

  const v6 = signToken(SECRET, {
    purpose: 'play',
    path: 'live/x',
    expiresAtS: EXP,
    cidr: '2001:db8::/32',
  });
  assert.equal(verifyToken(SECRET, v6, play('live/x', '2001:db8:5::1')).ok, true);
  assert.deepEqual(verifyToken(SECRET, v6, play('live/x', '2001:db9::1')), {
    ok: false,
    reason: 'ip',
  });
  // Expired wins over a wrong address.
  const old = signToken(SECRET, {
    purpose: 'play',
    path: 'live/x',
    expiresAtS: NOW - 5,
    cidr: '10.0.0.0/8',
  });
  assert.deepEqual(verifyToken(SECRET, old, play()), { ok: false, reason: 'expired' });
});

test('verifyToken() refuses malformed tokens', () => {
  const good = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP });
  const hex = good.split('.')[1]!;
  const malformed = [
    '',
    'x',
    String(EXP),
    `${EXP}.`,
    `${EXP}.${hex.slice(1)}`,
    `${EXP}.${hex}0`,
    `${EXP}.${hex}.`,
    `${EXP}.${hex}.not-a-cidr`,
    `${EXP}.${hex}.10.0.0.0/33`,
    `${EXP}.${hex}.010.0.0.0/8`,
    `-1.${hex}`,
    `1e9.${hex}`,
    ` ${good}`,
    `${good} `,
    `${good}\n`,
    `1234567890123.${hex}`,
    `${EXP}.${hex}.${'1'.repeat(MAX_TOKEN_LENGTH)}`,
    'a'.repeat(MAX_TOKEN_LENGTH + 1),
  ];
  for (const token of malformed) {
    assert.deepEqual(
      verifyToken(SECRET, token, play()),
      { ok: false, reason: 'malformed' },
      JSON.stringify(token),
    );
  }
});

test('verifyToken() never throws and never accepts random strings', () => {
  const good = signToken(SECRET, {
    purpose: 'play',
    path: 'live/x',
    expiresAtS: EXP,
    cidr: '0.0.0.0/0',
  });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 600 }),
        fc.string({ unit: 'binary', maxLength: 100 }),
        fc.string({ unit: fc.constantFrom(...Array.from('0123456789abcdef./:')), maxLength: 120 }),
        // Mutations of a good token.
        fc
          .tuple(fc.nat(good.length), fc.string({ maxLength: 3 }))
          .map(([at, insert]) => good.slice(0, at) + insert + good.slice(at + 1)),
      ),
      fc.string({ maxLength: 40 }),
      (token, ip) => {
        const result = verifyToken(SECRET, token, {
          purpose: 'play',
          path: 'live/x',
          ip,
          nowS: NOW,
        });
        if (token !== good) assert.equal(result.ok, false, JSON.stringify(token));
      },
    ),
    { numRuns: 3000 },
  );
});

test('signToken() refuses what it could not sign unambiguously', () => {
  assert.throws(
    () => signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: 1.5 }),
    /integer/,
  );
  assert.throws(
    () => signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: -1 }),
    /integer/,
  );
  assert.throws(
    () => signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: 1e12 }),
    /integer/,
  );
  assert.throws(
    () => signToken(SECRET, { purpose: 'play', path: 'live\nx', expiresAtS: EXP }),
    /newline/,
  );
  assert.throws(
    () =>
      signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: EXP, cidr: '10.0.0.0/40' }),
    /CIDR/,
  );
});

test('HLS access signatures: valid for the path until the expiry, the same for everyone', () => {
  const exp = hlsAccessExpiry(NOW);
  const value = signHlsAccess(SECRET, 'live/x', exp);
  assert.match(value, /^\d+\.[0-9a-f]{64}$/);
  assert.equal(value, signHlsAccess(SECRET, 'live/x', hlsAccessExpiry(NOW)));
  assert.equal(verifyHlsAccess(SECRET, value, 'live/x', NOW), true);
  assert.equal(verifyHlsAccess(SECRET, value, 'live/x', exp - 1), true);
  assert.equal(verifyHlsAccess(SECRET, value, 'live/x', exp), false);
  assert.equal(verifyHlsAccess(SECRET, value, 'live/y', NOW), false);
  assert.equal(verifyHlsAccess('another-secret-0123456789', value, 'live/x', NOW), false);
  // A play token is not an HLS signature (and the other way round).
  const token = signToken(SECRET, { purpose: 'play', path: 'live/x', expiresAtS: exp });
  assert.equal(verifyHlsAccess(SECRET, token, 'live/x', NOW), false);
  assert.equal(verifyToken(SECRET, value, play()).ok, false);
  for (const bad of ['', 'x', `${exp}.`, `${value}0`, `${value}.1.2.3.4`, value.toUpperCase()]) {
    assert.equal(verifyHlsAccess(SECRET, bad, 'live/x', NOW), false, bad);
  }
  fc.assert(
    fc.property(fc.string({ maxLength: 600 }), (text) => {
      assert.equal(verifyHlsAccess(SECRET, text, 'live/x', NOW), false);
    }),
  );
});

test('hlsAccessExpiry() changes once per bucket and always leaves at least the lifetime', () => {
  assert.equal(hlsAccessExpiry(0), 180);
  assert.equal(hlsAccessExpiry(1), 240);
  assert.equal(hlsAccessExpiry(60), 240);
  assert.equal(hlsAccessExpiry(61), 300);
  assert.equal(hlsAccessExpiry(125, 10, 30), 160);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (nowS) => {
      const exp = hlsAccessExpiry(nowS);
      assert.ok(exp - nowS >= 180 && exp - nowS < 240);
      assert.equal(exp % 60, 0);
      const bucketStart = Math.ceil(nowS / 60) * 60 - 59;
      if (nowS > bucketStart) assert.equal(hlsAccessExpiry(bucketStart), exp);
    }),
  );
});
