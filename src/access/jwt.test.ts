// Tests of JWT playback tokens: HS256 with a secret, RS256 through a JWKS served on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { JWTPayload } from 'jose';
import { createJwtVerifier, looksLikeJwt } from './jwt.ts';
import type { JwtVerifier } from './jwt.ts';

const SECRET = 'jwt-test-secret-0123456789abcdef';
const secretKey = new TextEncoder().encode(SECRET);
const nowS = () => Math.floor(Date.now() / 1000);

/** An HS256 (or `alg`) token; with an exp 10 minutes ahead unless the payload has one or `noExp`. */
function hs256(
  payload: JWTPayload,
  options: { alg?: string; key?: Uint8Array; noExp?: boolean } = {},
) {
  const claims = options.noExp === true ? payload : { exp: nowS() + 600, ...payload };
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256' })
    .sign(options.key ?? secretKey);
}

function secretVerifier(
  extra: { issuer?: string; audience?: string; requireExp?: boolean } = {},
): JwtVerifier {
  const verifier = createJwtVerifier({
    secret: SECRET,
    algorithms: ['HS256', 'RS256', 'ES256'],
    ...extra,
  });
  assert.ok(verifier !== null);
  return verifier;
}

test('createJwtVerifier() is null without a secret or a JWKS URL', () => {
  assert.equal(createJwtVerifier({ algorithms: ['HS256'] }), null);
  assert.equal(createJwtVerifier({ secret: '', jwksUrl: '', algorithms: ['HS256'] }), null);
});

test('createJwtVerifier() throws when no listed algorithm fits the keys', () => {
  assert.throws(() => createJwtVerifier({ secret: SECRET, algorithms: ['RS256'] }), /HS256/);
  assert.throws(
    () => createJwtVerifier({ jwksUrl: 'http://127.0.0.1:9/jwks', algorithms: ['HS256', 'none'] }),
    /asymmetric/,
  );
  assert.throws(() => createJwtVerifier({ secret: SECRET, algorithms: ['none'] }), /no JWT/);
});

test('looksLikeJwt()', async () => {
  assert.equal(looksLikeJwt(await hs256({ sub: 'live/x' })), true);
  assert.equal(looksLikeJwt('1700000000.abcdef'), false);
  assert.equal(looksLikeJwt(''), false);
  assert.equal(looksLikeJwt('eyJ.a'), false);
  assert.equal(looksLikeJwt('eyJhbGciOi.eyJ+.abc'), false);
  assert.equal(looksLikeJwt(`eyJ${'a'.repeat(9000)}.b.c`), false);
});

test('an HS256 token for the stream is accepted, with its expiry', async () => {
  const exp = nowS() + 600;
  const token = await hs256({ sub: 'live/x', exp });
  assert.deepEqual(await secretVerifier().verify(token, 'live/x'), { ok: true, expiresAtS: exp });
});

test('a token without exp is refused (exp-required), unless requireExp is false', async () => {
  const noExp = await hs256({ sub: 'live/x' }, { noExp: true });
  assert.deepEqual(await secretVerifier().verify(noExp, 'live/x'), {
    ok: false,
    reason: 'exp-required',
  });
  const lenient = secretVerifier({ requireExp: false });
  assert.deepEqual(await lenient.verify(noExp, 'live/x'), { ok: true, expiresAtS: null });
  // Required or not, an exp that is there is checked.
  const expired = await hs256({ sub: 'live/x', exp: nowS() - 60 });
  assert.deepEqual(await lenient.verify(expired, 'live/x'), { ok: false, reason: 'expired' });
  const text = await hs256({ sub: 'live/x', exp: 'never' as unknown as number });
  assert.equal((await lenient.verify(text, 'live/x')).ok, false);
  assert.equal((await secretVerifier().verify(text, 'live/x')).ok, false);
});

test('the stream claim: sub, a streams array, or app/* patterns', async () => {
  const verifier = secretVerifier();
  const check = async (payload: JWTPayload, path: string) =>
    (await verifier.verify(await hs256(payload), path)).ok;
  assert.equal(await check({ sub: 'live/x' }, 'live/y'), false);
  assert.equal(await check({ streams: ['live/a', 'live/x'] }, 'live/x'), true);
  assert.equal(await check({ streams: ['live/a'] }, 'live/x'), false);
  assert.equal(await check({ sub: 'live/*' }, 'live/x'), true);
  assert.equal(await check({ streams: ['other/*', 'live/*'] }, 'live/x/y'), true);
  assert.equal(await check({ sub: 'live/*' }, 'live'), false);
  assert.equal(await check({ sub: 'live/*' }, 'livestream/x'), false);
  assert.equal(await check({ sub: 'liv*' }, 'live/x'), false);
  assert.equal(await check({ sub: '*' }, 'live/x'), false);
  assert.equal(await check({ sub: '/*' }, 'live/x'), false);
  assert.equal(await check({ streams: 'live/x' }, 'live/x'), false);
  assert.equal(await check({ streams: [1, null, { a: 1 }] }, 'live/x'), false);
  assert.equal(await check({}, 'live/x'), false);
  assert.deepEqual(await verifier.verify(await hs256({ sub: 'live/x' }), 'live/y'), {
    ok: false,
    reason: 'stream',
  });
});

test('alg none is refused', async () => {
  const token = new UnsecuredJWT({ sub: 'live/x' }).encode();
  assert.deepEqual(await secretVerifier().verify(token, 'live/x'), {
    ok: false,
    reason: 'signature',
  });
  // Even with a signature part appended.
  const signed = `${token}${(await hs256({ sub: 'live/x' })).split('.')[2]!}`;
  assert.equal((await secretVerifier().verify(signed, 'live/x')).ok, false);
});

test('a wrong secret, a tampered payload or garbage is refused', async () => {
  const verifier = secretVerifier();
  const wrong = await hs256(
    { sub: 'live/x' },
    { key: new TextEncoder().encode('another-secret-0123456789') },
  );
  assert.deepEqual(await verifier.verify(wrong, 'live/x'), { ok: false, reason: 'signature' });
  const [header, , signature] = (await hs256({ sub: 'live/x' })).split('.');
  const payload = Buffer.from(JSON.stringify({ sub: 'live/y' })).toString('base64url');
  assert.deepEqual(await verifier.verify(`${header!}.${payload}.${signature!}`, 'live/y'), {
    ok: false,
    reason: 'signature',
  });
  for (const token of ['', 'x', 'eyJ.eyJ.x', 'eyJub3QganNvbg.eyJ9.c2ln']) {
    assert.deepEqual(
      await verifier.verify(token, 'live/x'),
      { ok: false, reason: 'malformed' },
      token,
    );
  }
  // HS384 is not on the list.
  const hs384 = await hs256({ sub: 'live/x' }, { alg: 'HS384' });
  assert.deepEqual(await verifier.verify(hs384, 'live/x'), { ok: false, reason: 'signature' });
});

test('exp and nbf are checked with 5 s of tolerance', async () => {
  const verifier = secretVerifier();
  const expired = await hs256({ sub: 'live/x', exp: nowS() - 60 });
  assert.deepEqual(await verifier.verify(expired, 'live/x'), { ok: false, reason: 'expired' });
  const barely = await hs256({ sub: 'live/x', exp: nowS() - 1 });
  assert.equal((await verifier.verify(barely, 'live/x')).ok, true);
  const future = await hs256({ sub: 'live/x', nbf: nowS() + 60 });
  assert.deepEqual(await verifier.verify(future, 'live/x'), { ok: false, reason: 'claims' });
  const soon = await hs256({ sub: 'live/x', nbf: nowS() + 1 });
  assert.equal((await verifier.verify(soon, 'live/x')).ok, true);
});

test('iss and aud are checked when configured', async () => {
  const verifier = secretVerifier({ issuer: 'https://platform.example', audience: 'onair' });
  const good = await hs256({ sub: 'live/x', iss: 'https://platform.example', aud: 'onair' });
  assert.equal((await verifier.verify(good, 'live/x')).ok, true);
  const inList = await hs256({
    sub: 'live/x',
    iss: 'https://platform.example',
    aud: ['x', 'onair'],
  });
  assert.equal((await verifier.verify(inList, 'live/x')).ok, true);
  const claims = { ok: false, reason: 'claims' };
  for (const payload of [
    { sub: 'live/x', iss: 'https://evil.example', aud: 'onair' },
    { sub: 'live/x', iss: 'https://platform.example', aud: 'other' },
    { sub: 'live/x', aud: 'onair' },
    { sub: 'live/x', iss: 'https://platform.example' },
  ]) {
    assert.deepEqual(await verifier.verify(await hs256(payload), 'live/x'), claims);
  }
  // Not configured: not checked.
  const anyIss = await hs256({ sub: 'live/x', iss: 'whoever', aud: 'whatever' });
  assert.equal((await secretVerifier().verify(anyIss, 'live/x')).ok, true);
});

test('RS256 through a JWKS on 127.0.0.1; an HS256 token keyed with the public key is refused', async () => {
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  let requests = 0;
  const server = createServer((_request, response) => {
    requests++;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const verifier = createJwtVerifier({
      jwksUrl: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      algorithms: ['HS256', 'RS256', 'ES256'],
      audience: 'onair',
      timeoutMs: 2000,
    });
    assert.ok(verifier !== null);
    const exp = nowS() + 300;
    const token = await new SignJWT({ streams: ['live/*'], aud: 'onair', exp })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(privateKey);
    assert.deepEqual(await verifier.verify(token, 'live/cam1'), { ok: true, expiresAtS: exp });
    assert.deepEqual(await verifier.verify(token, 'other/cam1'), { ok: false, reason: 'stream' });
    assert.equal(requests, 1);

    // Algorithm confusion: the public key (PEM or JWK n) as an HMAC secret.
    const pem = new TextEncoder().encode(await exportSPKI(publicKey));
    const confused = await new SignJWT({ sub: 'live/cam1', aud: 'onair' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .sign(pem);
    assert.deepEqual(await verifier.verify(confused, 'live/cam1'), {
      ok: false,
      reason: 'signature',
    });

    // A key not in the set.
    const other = await generateKeyPair('RS256');
    const stranger = await new SignJWT({ sub: 'live/cam1', aud: 'onair' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(other.privateKey);
    assert.deepEqual(await verifier.verify(stranger, 'live/cam1'), {
      ok: false,
      reason: 'signature',
    });
    assert.equal(requests, 1);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
  }
});

test('an unreachable JWKS is a refusal, not an exception', async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  const verifier = createJwtVerifier({
    jwksUrl: `http://127.0.0.1:${port}/jwks`,
    algorithms: ['RS256'],
    timeoutMs: 1000,
  });
  const { privateKey } = await generateKeyPair('RS256');
  const token = await new SignJWT({ sub: 'live/x' })
    .setProtectedHeader({ alg: 'RS256' })
    .sign(privateKey);
  assert.deepEqual(await verifier!.verify(token, 'live/x'), { ok: false, reason: 'signature' });
});

test('with both a secret and a JWKS, each family uses its own key', async () => {
  const { privateKey } = await generateKeyPair('ES256');
  const verifier = createJwtVerifier({
    secret: SECRET,
    jwksUrl: 'http://127.0.0.1:9/unused',
    algorithms: ['HS256', 'ES256'],
  });
  assert.ok(verifier !== null);
  assert.equal((await verifier.verify(await hs256({ sub: 'live/x' }), 'live/x')).ok, true);
  // An ES256 token goes to the JWKS (port 9 refuses), never to the secret.
  const es = await new SignJWT({ sub: 'live/x' })
    .setProtectedHeader({ alg: 'ES256' })
    .sign(privateKey);
  assert.deepEqual(await verifier.verify(es, 'live/x'), { ok: false, reason: 'signature' });
});
