// The PROXY protocol on the RTMP listener: a real HAProxy (send-proxy, send-proxy-v2) in front of
// onair, and raw sockets from a trusted 127.0.0.1 naming other clients, while an ffmpeg publisher
// and an RTMP viewer keep flowing on live/good.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { RawRtmp, statusInfo } from '../support/raw-rtmp.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';
import { MessageType } from '../../src/codecs/rtmp-message.ts';
import {
  encodeProxyHeaderV1,
  encodeProxyHeaderV2,
  V2_SIGNATURE,
} from '../../src/codecs/proxy-protocol.ts';
import { freePort } from '../support/ports.ts';

const CLIENT = '203.0.113.7';
const to = { address: '127.0.0.1', port: 1935 };

/** A v1 (text) or v2 (binary) header naming `address` as the client. */
function header(version: 1 | 2, address: string): Buffer {
  const source = { address, port: 40_000 };
  return version === 1
    ? encodeProxyHeaderV1({ command: 'proxy', family: 'tcp4', source, destination: to })
    : encodeProxyHeaderV2({ command: 'proxy', source, destination: to });
}

let server: TestServer;
let publisher: Publisher;
let viewer: RtmpClient;
let videoFrames = 0;

before(async () => {
  server = await startServer({
    server: { trustedProxies: '127.0.0.1/32, ::1' },
    rtmp: { maxConnectionsPerIp: 4 },
  });
  // Plain RTMP from a trusted address (the proxy's own traffic) still works, with its address.
  publisher = publishTestPattern(server.rtmpUrl('live/good'), { gop: 25, seconds: 110 });
  await waitFor(
    () => server.onair.hub.get('live/good')?.tracks.length === 2,
    15_000,
    'the ffmpeg publisher to announce both tracks',
  );
  viewer = await RtmpClient.connect(server.rtmpUrl('live/good'), {
    onMedia: (message) => {
      if (message.typeId === MessageType.Video) videoFrames++;
    },
  });
  await viewer.play();
});

after(async () => {
  viewer.close();
  await publisher.stop();
  await server.stop();
});

/** The no-collateral-damage assertion: the publisher is live and the viewer gets new frames. */
async function stillFlowing(): Promise<void> {
  assert.notEqual(server.onair.hub.get('live/good')?.publisher ?? null, null, 'publisher live');
  const before = videoFrames;
  await waitFor(() => videoFrames >= before + 3, 10_000, 'new frames on the good viewer');
  assert.equal(viewer.closeInfo, null, 'the good viewer is still connected');
}

/** Waits for a log entry with `reason` written after `mark`. */
async function expectLogged(on: TestServer, mark: number, reason: string): Promise<void> {
  const reasons = (): unknown[] => on.logs.slice(mark).map((entry) => entry.reason);
  try {
    await waitFor(() => reasons().includes(reason), 5000, `a log entry with reason ${reason}`);
  } catch (error) {
    throw new Error(`${String(error)}; reasons logged: ${JSON.stringify(reasons())}`, {
      cause: error,
    });
  }
}

/** A raw RTMP connection that sends `prefix` first, then handshakes and connects. */
async function rawVia(prefix: Buffer, on: TestServer = server): Promise<RawRtmp> {
  const raw = await RawRtmp.open(on.rtmpPort);
  raw.write(prefix);
  await raw.handshake();
  await raw.connect();
  return raw;
}

/** The registry's sessions on `path`. */
function sessionsOn(path: string, on: TestServer = server) {
  return on.onair.sessions.list().filter((s) => s.path === path);
}

describe('PROXY headers from a trusted address (raw sockets from 127.0.0.1)', () => {
  for (const version of [1, 2] as const) {
    test(`v${version} naming ${CLIENT}: the viewer's session, its log and its access decision use ${CLIENT}`, async () => {
      const mark = server.logs.length;
      const raw = await rawVia(header(version, CLIENT));
      try {
        const id = await raw.createStream(2);
        raw.sendCommand(['play', 0, null, 'good'], id);
        await raw.expectStatus('NetStream.Play.Start');
        const viewers = sessionsOn('live/good').filter((s) => s.role === 'viewer');
        assert.deepEqual(
          viewers.map((s) => s.ip).sort(),
          ['127.0.0.1', CLIENT],
          'the good viewer (direct) and this one (named by the header)',
        );
        const logged = server.logs.slice(mark).find((e) => e.msg === 'play requested');
        assert.deepEqual([logged?.peer, logged?.proxy], [`${CLIENT}:40000`, '127.0.0.1']);
      } finally {
        raw.destroy();
      }
      await stillFlowing();
    });

    test(`v${version} naming ${CLIENT}: keyless publish (loopback trust) is refused; the same from 127.0.0.1 is not`, async () => {
      const mark = server.logs.length;
      const raw = await rawVia(header(version, CLIENT));
      try {
        const id = await raw.createStream(2);
        raw.sendCommand(['publish', 0, null, `named${version}`, 'live'], id);
        const refused = await raw.expectStatus('NetStream.Publish.Unauthorized');
        assert.equal(statusInfo(refused)?.level, 'error');
        await expectLogged(server, mark, 'key-required');
      } finally {
        raw.destroy();
      }
      const direct = await RawRtmp.open(server.rtmpPort);
      try {
        await direct.handshake();
        await direct.connect();
        const id = await direct.createStream(2);
        direct.sendCommand(['publish', 0, null, `direct${version}`, 'live'], id);
        await direct.expectStatus('NetStream.Publish.Start');
      } finally {
        direct.destroy();
      }
      await stillFlowing();
    });
  }

  test('per-IP caps count the named client: a fifth connection naming it is refused, another client is not', async () => {
    const mark = server.logs.length;
    const held: RawRtmp[] = [];
    try {
      for (let i = 0; i < 4; i++)
        held.push(await rawVia(header(i % 2 === 0 ? 1 : 2, '203.0.113.9')));
      const extra = await RawRtmp.open(server.rtmpPort);
      held.push(extra);
      extra.write(header(2, '203.0.113.9'));
      await extra.waitClosed();
      await expectLogged(server, mark, 'max-connections-per-ip');
      const refused = server.logs.slice(mark).find((e) => e.reason === 'max-connections-per-ip');
      assert.deepEqual([refused?.peer, refused?.proxy], ['203.0.113.9', '127.0.0.1']);
      // The proxy's own address is not what was counted: another client still gets in.
      held.push(await rawVia(header(1, '203.0.113.10')));
    } finally {
      for (const raw of held) raw.destroy();
    }
    await stillFlowing();
  });

  test('v2 LOCAL (a health check) and v1 UNKNOWN keep the proxy address', async () => {
    const prefixes = [
      encodeProxyHeaderV2({ command: 'local' }),
      encodeProxyHeaderV1({ command: 'unknown' }),
    ];
    for (const [i, prefix] of prefixes.entries()) {
      const raw = await rawVia(prefix);
      try {
        const id = await raw.createStream(2);
        raw.sendCommand(['publish', 0, null, `local${i}`, 'live'], id);
        await raw.expectStatus('NetStream.Publish.Start'); // loopback trust: 127.0.0.1
        assert.deepEqual(
          sessionsOn(`live/local${i}`).map((s) => s.ip),
          ['127.0.0.1'],
        );
      } finally {
        raw.destroy();
      }
    }
    await stillFlowing();
  });

  const hostile: [string, Buffer, string][] = [
    [
      'a v1 line with a bad address',
      Buffer.from('PROXY TCP4 203.0.113.999 127.0.0.1 1 2\r\n'),
      'ERR_PROXY_HEADER',
    ],
    [
      'a v1 line with two spaces',
      Buffer.from(`PROXY TCP4  ${CLIENT} 127.0.0.1 1 2\r\n`),
      'ERR_PROXY_HEADER',
    ],
    [
      'a v1 line without CR LF in 107 bytes',
      Buffer.from(`PROXY TCP4 ${'1'.repeat(300)}`),
      'ERR_PROXY_TOO_LARGE',
    ],
    [
      'a v2 header of version 1',
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x11, 0x11, 0, 12])]),
      'ERR_PROXY_HEADER',
    ],
    [
      'a v2 block of 65535 bytes',
      Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]),
      'ERR_PROXY_TOO_LARGE',
    ],
    [
      'a v2 TLV running past the header',
      Buffer.concat([
        header(2, CLIENT).subarray(0, 14),
        Buffer.from([0, 16]),
        header(2, CLIENT).subarray(16),
        Buffer.from([1, 0, 9, 1]),
      ]),
      'ERR_PROXY_HEADER',
    ],
  ];
  for (const [what, bytes, reason] of hostile) {
    test(`${what} closes that connection with ${reason}`, async () => {
      const mark = server.logs.length;
      const raw = await RawRtmp.open(server.rtmpPort);
      try {
        raw.write(bytes);
        await raw.waitClosed();
        assert.equal(raw.bytesReceived, 0, 'no S0/S1: the RTMP handshake never started');
        await expectLogged(server, mark, reason);
      } finally {
        raw.destroy();
      }
      await stillFlowing();
    });
  }
});

describe('PROXY headers against deadlines and untrusted addresses', () => {
  let quick: TestServer;
  let untrusted: TestServer;
  before(async () => {
    quick = await startServer({
      server: { trustedProxies: '127.0.0.1' },
      rtmp: { handshakeTimeoutMs: 1000 },
    });
    untrusted = await startServer();
  });
  after(async () => {
    await quick.stop();
    await untrusted.stop();
  });

  test('a header dripped 1 byte per 100 ms is closed at the handshake deadline', async () => {
    const mark = quick.logs.length;
    const raw = await RawRtmp.open(quick.rtmpPort);
    const bytes = header(1, CLIENT);
    let sent = 0;
    const drip = setInterval(() => {
      if (sent < bytes.length) raw.write(bytes.subarray(sent, ++sent));
    }, 100);
    try {
      await raw.waitClosed(10_000);
      assert.ok(sent < bytes.length, 'closed before the header was complete');
      await expectLogged(quick, mark, 'handshake-timeout');
    } finally {
      clearInterval(drip);
      raw.destroy();
    }
    await stillFlowing();
  });

  test('a whole header and then silence is closed by the same deadline', async () => {
    const mark = quick.logs.length;
    const raw = await RawRtmp.open(quick.rtmpPort);
    try {
      raw.write(header(2, CLIENT));
      await raw.waitClosed(10_000);
      await expectLogged(quick, mark, 'handshake-timeout');
      const closed = quick.logs.slice(mark).find((e) => e.reason === 'handshake-timeout');
      assert.equal(closed?.peer, CLIENT, 'closed as the named client');
    } finally {
      raw.destroy();
    }
  });

  for (const version of [1, 2] as const) {
    test(`a v${version} header from an address not in server.trustedProxies is never read: the handshake refuses it`, async () => {
      const mark = untrusted.logs.length;
      const raw = await RawRtmp.open(untrusted.rtmpPort);
      try {
        raw.write(Buffer.concat([header(version, CLIENT), Buffer.from([3]), Buffer.alloc(1536)]));
        await raw.waitClosed();
        assert.equal(raw.bytesReceived, 0);
        await expectLogged(untrusted, mark, 'ERR_RTMP_HANDSHAKE_VERSION');
        assert.deepEqual(
          untrusted.logs.slice(mark).filter((e) => e.peer === CLIENT),
          [],
          'nothing was logged as the named client',
        );
      } finally {
        raw.destroy();
      }
      await stillFlowing();
    });
  }
});

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

describe('behind a real HAProxy (send-proxy and send-proxy-v2)', () => {
  // HAProxy reaches onair from 127.0.0.5, the only trusted address; ffmpeg reaches HAProxy
  // from 127.0.0.1. So a session showing 127.0.0.1 got its address from the PROXY header.
  let behind: TestServer;
  let haproxy: ChildProcess;
  let haproxyLog = '';
  const ports = { v1: 0, v2: 0 };
  let dir = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'onair-haproxy-'));
    behind = await startServer({ server: { trustedProxies: '127.0.0.5' } });
    ports.v1 = await freePort();
    ports.v2 = await freePort();
    const backend = `127.0.0.1:${behind.rtmpPort}`;
    const config = [
      'global',
      '  maxconn 100',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 60s',
      '  timeout server 60s',
      'frontend rtmp_v1',
      `  bind 127.0.0.1:${ports.v1}`,
      '  default_backend onair_v1',
      'backend onair_v1',
      `  server onair ${backend} send-proxy source 127.0.0.5`,
      'frontend rtmp_v2',
      `  bind 127.0.0.1:${ports.v2}`,
      '  default_backend onair_v2',
      'backend onair_v2',
      // Health checks as deploy/haproxy.cfg has them: a LOCAL header, then a close.
      `  server onair ${backend} send-proxy-v2 source 127.0.0.5 check check-send-proxy inter 500ms`,
      '',
    ].join('\n');
    const file = join(dir, 'haproxy.cfg');
    writeFileSync(file, config);
    haproxy = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout?.on('data', (chunk: Buffer) => (haproxyLog += chunk.toString()));
    haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyLog += chunk.toString()));
    const up = { v1: false, v2: false };
    const deadline = Date.now() + 10_000;
    while (!(up.v1 && up.v2) && haproxy.exitCode === null && Date.now() < deadline) {
      up.v1 ||= await listening(ports.v1);
      up.v2 ||= await listening(ports.v2);
      if (!(up.v1 && up.v2)) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(up.v1 && up.v2, `HAProxy did not start: ${haproxyLog}`);
  });

  after(async () => {
    const exited = new Promise((resolve) => haproxy.once('exit', resolve));
    if (haproxy.exitCode === null) haproxy.kill('SIGTERM');
    await exited;
    await behind.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("HAProxy's health checks (check-send-proxy: LOCAL) are taken as the proxy's own and end quietly", async () => {
    const fromProxy = (): Record<string, unknown>[] =>
      behind.logs.filter((e) => e.peer === '127.0.0.5' || e.proxy === '127.0.0.5');
    await waitFor(
      () => fromProxy().some((e) => e.reason === 'peer-closed'),
      10_000,
      `a health check to end (${haproxyLog})`,
    );
    const reasons = fromProxy().map((e) => e.reason);
    assert.deepEqual(
      reasons.filter((r) => typeof r === 'string' && r.startsWith('ERR_')),
      [],
      'no health check was refused',
    );
  });

  for (const version of ['v1', 'v2'] as const) {
    test(`an ffmpeg publish through HAProxy (${version === 'v1' ? 'send-proxy' : 'send-proxy-v2'}) works and its session shows the client's address`, async () => {
      const mark = behind.logs.length;
      const path = `live/haproxy-${version}`;
      const ffmpeg = publishTestPattern(`rtmp://127.0.0.1:${ports[version]}/${path}`, {
        gop: 25,
        seconds: 30,
      });
      try {
        await waitFor(
          () => behind.onair.hub.get(path)?.tracks.length === 2,
          15_000,
          `the publish through HAProxy (${haproxyLog}${ffmpeg.stderr()})`,
        );
        const response = await fetch(behind.httpUrl('api/v1/sessions'), {
          headers: { Authorization: `Bearer ${behind.onair.apiToken.value}` },
        });
        const page = (await response.json()) as { items: { stream: string; ip: string }[] };
        assert.deepEqual(
          page.items.filter((s) => s.stream === path).map((s) => s.ip),
          ['127.0.0.1'],
        );
        const started = behind.logs.slice(mark).find((e) => e.msg === 'publish started');
        assert.ok(started, 'publish started was logged');
        assert.equal(started.proxy, '127.0.0.5', 'it came through the proxy');
        assert.match(String(started.peer), /^127\.0\.0\.1:\d+$/);
      } finally {
        await ffmpeg.stop();
      }
      await stillFlowing();
    });
  }
});
