// End to end: publish keys and private streams with signed playback tokens, with real clients
// (ffmpeg publishing with good and bad keys; ffprobe, ffmpeg and fetch playing a private stream
// over RTMP, HTTP-FLV, WS-FLV and HLS with good, expired, tampered, wrong-stream and wrong-IP
// tokens), and the `onair token sign` CLI minting a token the server accepts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../support/server.ts';
import { publishOnce, refusals } from '../support/access-helpers.ts';
import { probe, publishTestPattern, run, waitFor, type Publisher } from '../support/media-tools.ts';
import { waitForPlaylist } from '../support/wait-for-playlist.ts';
import { createHash } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { deriveKey } from '../../src/access/keys.ts';
import { signToken } from '../../src/access/tokens.ts';
import { RawRtmp, statusInfo } from '../support/raw-rtmp.ts';

const SECRET = 'test-secret-0123456789abcdef0123';
/** What a backend mints tokens with (`onair token token-key`): never the secret itself. */
const TOKEN_KEY = deriveKey(SECRET, 'token');
const KEY = 'good-key-123';
const nowS = (): number => Math.floor(Date.now() / 1000);

/** A play token for `path`, signed with the token key of the test secret. */
function playToken(path: string, options: { expiresInS?: number; cidr?: string } = {}): string {
  return signToken(TOKEN_KEY, {
    purpose: 'play',
    path,
    expiresAtS: nowS() + (options.expiresInS ?? 3600),
    ...(options.cidr === undefined ? {} : { cidr: options.cidr }),
  });
}

describe('publish keys', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      auth: { secret: SECRET },
      streams: { 'live/keyed': { publishKey: KEY } },
    });
  });
  after(async () => {
    await server.stop();
  });

  test('a wrong or missing key is refused with NetStream.Publish.Unauthorized; no media is accepted', async () => {
    for (const [query, reason] of [
      ['?key=wrong-key-999', 'bad-key'],
      ['', 'key-required'],
    ] as const) {
      const result = await publishOnce(server.rtmpUrl(`live/keyed${query}`));
      assert.notEqual(result.code, 0, 'ffmpeg must fail');
      assert.equal(server.onair.hub.get('live/keyed')?.publisher ?? null, null);
      assert.ok(refusals(server, reason) >= 1, `a logged ${reason} refusal`);
    }
  });

  test('the right key publishes, and a viewer gets the stream', async () => {
    const publisher = publishTestPattern(server.rtmpUrl(`live/keyed?key=${KEY}`));
    try {
      await waitFor(() => server.onair.hub.get('live/keyed')?.tracks.length === 2, 15_000);
      const streams = await probe(server.httpUrl('live/keyed.flv'));
      assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264');
    } finally {
      await publisher.stop();
    }
  });

  test('a stream without a key publishes from loopback with none', async () => {
    const publisher = publishTestPattern(server.rtmpUrl('live/open'));
    try {
      await waitFor(() => server.onair.hub.get('live/open')?.tracks.length === 2, 15_000);
    } finally {
      await publisher.stop();
    }
  });
});

describe('Adobe authentication (OBS "Use authentication")', () => {
  const md5b64 = (text: string): string => createHash('md5').update(text).digest('base64');

  /** One connect with `query` on the tcUrl; returns the session (open) or the _error text. */
  async function connectWith(port: number, query: string): Promise<RawRtmp | string> {
    const raw = await RawRtmp.open(port);
    await raw.handshake();
    raw.sendCommand(['connect', 1, { app: 'live', tcUrl: `rtmp://127.0.0.1/live?${query}` }]);
    const reply = await raw.expectCommand(
      (c) => (c.name === '_result' || c.name === '_error') && c.txn === 1,
      'connect answer',
    );
    if (reply.name === '_result') return raw;
    raw.destroy();
    return text(statusInfo(reply)?.description);
  }

  const text = (value: unknown): string => (typeof value === 'string' ? value : '');

  /** The client side of steps b and c with `password`; publishes live/keyed; the status code. */
  async function adobePublish(port: number, password: string): Promise<string> {
    const challengeText = text(await connectWith(port, 'authmod=adobe&user=obs'));
    const params = new URLSearchParams(challengeText.split('?')[1] ?? '');
    assert.equal(params.get('reason'), 'needauth', challengeText);
    const salt = params.get('salt') ?? '';
    const opaque = params.get('opaque') ?? '';
    const clientChallenge = 'Y2xpZW50MTI=';
    const response = md5b64(md5b64(`obs${salt}${password}`) + opaque + clientChallenge);
    const raw = await connectWith(
      port,
      `authmod=adobe&user=obs&challenge=${clientChallenge}&response=${response}&opaque=${opaque}`,
    );
    assert.ok(raw instanceof RawRtmp, `the response connect was refused: ${text(raw)}`);
    try {
      const streamId = await raw.createStream(2);
      raw.sendCommand(['publish', 3, null, 'keyed', 'live'], streamId);
      const answer = await raw.expectCommand(
        (c) =>
          c.name === 'onStatus' && /Publish\.(Start|Unauthorized)/.test(text(statusInfo(c)?.code)),
        'publish answer',
      );
      return text(statusInfo(answer)?.code);
    } finally {
      raw.destroy();
    }
  }

  test('the challenge, the response and the stream key as password publish; a wrong password does not', async () => {
    const server = await startServer({
      auth: { secret: SECRET },
      streams: { 'live/keyed': { publishKey: KEY } },
    });
    try {
      assert.equal(
        await adobePublish(server.rtmpPort, 'not-the-key'),
        'NetStream.Publish.Unauthorized',
      );
      assert.equal(await adobePublish(server.rtmpPort, KEY), 'NetStream.Publish.Start');
      // An opaque is good for one response only.
      const replay = await connectWith(
        server.rtmpPort,
        'authmod=adobe&user=obs&challenge=x&response=y&opaque=0123',
      );
      assert.match(text(replay), /authfailed/);
    } finally {
      await server.stop();
    }
  });
});

describe('JWT playback tokens and wrong-token lockout', () => {
  const JWT_SECRET = 'jwt-secret-0123456789abcdef-0123';
  let server: TestServer;
  let publisher: Publisher;
  before(async () => {
    server = await startServer({
      auth: { secret: SECRET, jwtSecret: JWT_SECRET, maxFailuresPerIp: 4 },
      streams: { 'live/jwt': { private: true } },
    });
    publisher = publishTestPattern(server.rtmpUrl('live/jwt'));
    await waitFor(() => server.onair.hub.get('live/jwt')?.tracks.length === 2, 15_000);
  });
  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  const status = async (token: string): Promise<number> => {
    const response = await fetch(server.httpUrl(`live/jwt.flv?token=${encodeURIComponent(token)}`));
    await response.body?.cancel();
    return response.status;
  };
  const jwt = (claims: Record<string, unknown>, expires: string): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(expires)
      .sign(new TextEncoder().encode(JWT_SECRET));

  test('an HS256 JWT for the stream (or its app) plays; alg none, expired and other streams do not', async () => {
    assert.equal(await status(await jwt({ sub: 'live/jwt' }, '10m')), 200);
    assert.equal(await status(await jwt({ streams: ['live/*'] }, '10m')), 200);
    assert.equal(await status(await jwt({ sub: 'live/other' }, '10m')), 403);
    assert.equal(await status(await jwt({ sub: 'live/jwt' }, '-1m')), 401);
    const none = new UnsecuredJWT({ sub: 'live/jwt' }).setExpirationTime('10m').encode();
    assert.equal(await status(none), 401);
  });

  test('after auth.maxFailuresPerIp wrong tokens the address is refused for a minute, good token or not', async () => {
    for (let i = 0; i < 4; i++) await status(`${i}.${'0'.repeat(64)}`);
    assert.equal(await status(await jwt({ sub: 'live/jwt' }, '10m')), 429);
    assert.ok(refusals(server, 'too-many-failures') >= 1);
  });
});

describe('a JWT without exp (auth.jwtRequireExp)', () => {
  const JWT_SECRET = 'jwt-secret-0123456789abcdef-0123';
  for (const jwtRequireExp of [true, false]) {
    test(`jwtRequireExp ${String(jwtRequireExp)}: ${jwtRequireExp ? 'refused, logged token-exp-required' : 'plays'}`, async () => {
      const server = await startServer({
        auth: { secret: SECRET, jwtSecret: JWT_SECRET, jwtRequireExp },
        streams: { 'live/jwt': { private: true } },
      });
      const publisher = publishTestPattern(server.rtmpUrl('live/jwt'));
      try {
        await waitFor(() => server.onair.hub.get('live/jwt')?.tracks.length === 2, 15_000);
        const forever = await new SignJWT({ sub: 'live/jwt' })
          .setProtectedHeader({ alg: 'HS256' })
          .sign(new TextEncoder().encode(JWT_SECRET));
        const response = await fetch(
          server.httpUrl(`live/jwt.flv?token=${encodeURIComponent(forever)}`),
        );
        await response.body?.cancel();
        assert.equal(response.status, jwtRequireExp ? 401 : 200);
        assert.equal(refusals(server, 'token-exp-required'), jwtRequireExp ? 1 : 0);
      } finally {
        await publisher.stop();
        await server.stop();
      }
    });
  }
});

describe('the publisher bitrate cap (limits.maxPublishKbps)', () => {
  test('a publisher above the cap is disconnected with a logged reason; other streams go on', async () => {
    const server = await startServer({ limits: { maxPublishKbps: 40 } });
    const publisher = publishTestPattern(server.rtmpUrl('live/fat'), { size: '640x360' });
    try {
      await waitFor(() => server.onair.hub.get('live/fat')?.tracks.length === 2, 15_000);
      await waitFor(
        () => server.logs.some((entry) => entry.reason === 'bitrate-cap'),
        25_000,
        'the bitrate cap to close the publisher',
      );
      await waitFor(() => (server.onair.hub.get('live/fat')?.publisher ?? null) === null, 5000);
      const detail = server.logs.find((entry) => entry.reason === 'bitrate-cap')?.detail;
      assert.match(String(detail), /kbps is above limits\.maxPublishKbps \(40\)/);
    } finally {
      await publisher.stop();
      await server.stop();
    }
  });
});

describe('publishing from "another machine" (auth.loopbackPublish off)', () => {
  test('needs a key or a publish token', async () => {
    const server = await startServer({ auth: { secret: SECRET, loopbackPublish: false } });
    try {
      const refused = await publishOnce(server.rtmpUrl('live/remote'));
      assert.notEqual(refused.code, 0);
      assert.ok(refusals(server, 'key-required') >= 1);
      const token = signToken(TOKEN_KEY, {
        purpose: 'publish',
        path: 'live/remote',
        expiresAtS: nowS() + 600,
      });
      // A play token is not a publish token.
      const wrongPurpose = await publishOnce(
        server.rtmpUrl(`live/remote?token=${encodeURIComponent(playToken('live/remote'))}`),
      );
      assert.notEqual(wrongPurpose.code, 0);
      const publisher = publishTestPattern(
        server.rtmpUrl(`live/remote?token=${encodeURIComponent(token)}`),
      );
      try {
        await waitFor(() => server.onair.hub.get('live/remote')?.tracks.length === 2, 15_000);
      } finally {
        await publisher.stop();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('a private stream', () => {
  let server: TestServer;
  let publisher: Publisher;
  const PATH = 'live/priv';
  before(async () => {
    server = await startServer({
      auth: { secret: SECRET },
      streams: { [PATH]: { private: true } },
    });
    publisher = publishTestPattern(server.rtmpUrl(PATH), { gop: 25 });
    await waitFor(() => server.onair.hub.get(PATH)?.tracks.length === 2, 15_000, 'publisher');
  });
  after(async () => {
    await publisher.stop();
    await server.stop();
  });

  test('HTTP-FLV: no, expired, tampered, wrong-stream tokens get 401; a wrong-IP token 403', async () => {
    const good = playToken(PATH);
    const tampered = good.replace(/\.([0-9a-f])/, (_m, c: string) => `.${c === 'a' ? 'b' : 'a'}`);
    const cases: [string, string, number][] = [
      ['no token', '', 401],
      ['expired', playToken(PATH, { expiresInS: -10 }), 401],
      ['tampered', tampered, 401],
      ['another stream', playToken('live/other'), 401],
      ['wrong IP', playToken(PATH, { cidr: '10.0.0.0/8' }), 403],
      ['garbage', 'not-a-token', 401],
    ];
    for (const [what, token, status] of cases) {
      const query = token === '' ? '' : `?token=${encodeURIComponent(token)}`;
      const response = await fetch(server.httpUrl(`${PATH}.flv${query}`));
      assert.equal(response.status, status, what);
      await response.body?.cancel();
    }
  });

  test('HTTP-FLV, RTMP and WS-FLV play with a good token (also in Authorization: Bearer)', async () => {
    const token = encodeURIComponent(playToken(PATH, { cidr: '127.0.0.0/8' }));
    for (const url of [
      server.httpUrl(`${PATH}.flv?token=${token}`),
      server.rtmpUrl(`${PATH}?token=${token}`),
    ]) {
      const streams = await probe(url);
      assert.equal(streams.find((s) => s.codec_type === 'video')?.codec_name, 'h264', url);
    }
    const bearer = await fetch(server.httpUrl(`${PATH}.flv`), {
      headers: { Authorization: `Bearer ${playToken(PATH)}` },
    });
    assert.equal(bearer.status, 200);
    await bearer.body?.cancel();
    const rtmpRefused = await run('ffprobe', [
      '-v',
      'error',
      '-rw_timeout',
      '5000000',
      server.rtmpUrl(PATH),
    ]);
    assert.notEqual(rtmpRefused.code, 0, 'RTMP play without a token fails');
    assert.ok(refusals(server, 'token-required') >= 1);

    const wsStatus = (query: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/${PATH}.flv${query}`);
        ws.once('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.once('message', () => {
          resolve(101);
          ws.terminate();
        });
        ws.once('error', () => undefined);
      });
    assert.equal(await wsStatus(''), 401);
    assert.equal(await wsStatus(`?token=${token}`), 101);
  });

  test('HLS: the playlist needs the token; its parts and segments carry their own signature', async () => {
    assert.equal((await fetch(server.httpUrl(`${PATH}.m3u8`))).status, 401);
    const token = encodeURIComponent(playToken(PATH));
    const text = await waitForPlaylist(server.httpUrl(`${PATH}.m3u8?token=${token}`), {
      timeoutMs: 15_000,
      until: (t) => t.includes('#EXTINF'),
    });
    const uris = [...text.matchAll(/(?:URI="([^"]+)")|^([^#\n][^\n]*)$/gm)].map(
      (m) => m[1] ?? m[2] ?? '',
    );
    assert.ok(uris.length > 3, text);
    for (const uri of uris) assert.match(uri, /\?hs=\d+\.[0-9a-f]{64}$/, uri);
    assert.ok(!text.includes('token='), 'the viewer token is not copied into the playlist');
    const part = uris.find((u) => u.endsWith('.m4s') || u.includes('.m4s?'));
    assert.ok(part !== undefined);
    const signed = await fetch(server.httpUrl(`live/${part}`));
    assert.equal(signed.status, 200);
    assert.equal(signed.headers.get('content-type'), 'video/mp4');
    const unsigned = await fetch(server.httpUrl(`live/${part.split('?')[0] ?? ''}`));
    assert.equal(unsigned.status, 403);
    const forged = await fetch(server.httpUrl(`live/${part.replace(/[0-9a-f]{4}$/, '0000')}`));
    assert.equal(forged.status, 403);
    // A native-style player: given the playlist URL with the token, it resolves relative URIs
    // (dropping the playlist's query) and still decodes, because every URI is signed.
    const decoded = await run('ffmpeg', [
      '-v',
      'error',
      '-xerror',
      '-i',
      server.httpUrl(`${PATH}.m3u8?token=${token}`),
      '-t',
      '2',
      '-f',
      'null',
      '-',
    ]);
    assert.equal(decoded.code, 0, decoded.stderr);
  });

  test('`onair token sign` mints a token the server accepts, with the same config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'onair-cli-'));
    try {
      const configFile = join(dir, 'onair.yaml');
      writeFileSync(configFile, `dataDir: ${dir}\nauth:\n  secret: ${SECRET}\n`);
      const signed = await run(process.execPath, [
        '--import',
        'tsx',
        'src/app/main.ts',
        'token',
        'sign',
        PATH,
        '--expires',
        '2h',
        '--config',
        configFile,
      ]);
      assert.equal(signed.code, 0, signed.stderr);
      const token = signed.stdout.trim();
      assert.match(token, /^\d+\.[0-9a-f]{64}$/);
      const response = await fetch(
        server.httpUrl(`${PATH}.flv?token=${encodeURIComponent(token)}`),
      );
      assert.equal(response.status, 200);
      await response.body?.cancel();
      const bad = await run(process.execPath, [
        '--import',
        'tsx',
        'src/app/main.ts',
        'token',
        'sign',
        'live/../x',
        '--expires',
        'soon',
      ]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /stream path/);
      assert.match(bad.stderr, /--expires/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
