// The hostile-client suite: for every listener (RTMP, HTTP media, WebSocket, API, QoE beacons),
// table-driven raw-socket clients that are malformed, slow, half-open, reset or flooding, each
// run against onair as its own process while an ffmpeg publisher and an HTTP-FLV viewer keep
// flowing. After every row: the process is alive, the viewer's bytes keep arriving, the event
// loop's worst delay during the row stayed under LAG_BOUND_S, RSS stayed under RSS_BOUND_BYTES
// above the warm baseline, and the hostile connection ended with its logged reason.
// docs/hostile-inputs.md lists the rows and the answer each gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { watchHttpFlv, type FlvViewer } from '../support/flv-reader.ts';
import { RawRtmp, type0Header } from '../support/raw-rtmp.ts';
import { MessageType, encodeUint32Payload } from '../../src/codecs/rtmp-message.ts';
import { UPGRADE_HEAD, rawTo, type RawHttp } from '../support/raw-http.ts';
import {
  TEST_API_TOKEN,
  metricValue,
  startServerProcess,
  type ServerProcess,
} from '../support/server-process.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';

/** Worst event-loop delay allowed during one row (a 5 s regex stall or an 845 ms sweep fail it). */
const LAG_BOUND_S = 0.5;
/** RSS allowed above the warm baseline, whatever the rows did. */
const RSS_BOUND_BYTES = 150 * 1024 * 1024;

let server: ServerProcess;
let publisher: Publisher;
let viewer: FlvViewer;
let rssBaseline = 0;

before(async () => {
  server = await startServerProcess({
    http: { headersTimeoutMs: 2000 },
    rtmp: { handshakeTimeoutMs: 2000 },
    hub: { waitForPublisherMs: 300 },
  });
  publisher = publishTestPattern(server.rtmpUrl('live/good'), { gop: 25, seconds: 600 });
  let joined = false;
  try {
    // The viewer joins once the publish is on: waitForPublisherMs is short here (a test below
    // needs a quick 404), and ffmpeg on a loaded machine can take longer than that to connect.
    await waitFor(
      () =>
        server.logs.some(
          (entry) => entry.msg === 'publish started' && entry.stream === 'live/good',
        ),
      60_000,
      'the publish of live/good',
    );
    viewer = watchHttpFlv(server.httpUrl('live/good.flv'));
    joined = true;
    await waitFor(() => videoTags() > 50, 60_000, 'video on the HTTP-FLV viewer');
  } catch (error) {
    // Say why: the publisher's and the server's last words.
    const logs = server.logs.slice(-20).map((entry) => JSON.stringify(entry));
    throw new Error(
      `${String(error)}; ${joined ? `viewer status ${String(viewer.status())}, ${String(videoTags())} video tags` : 'no viewer yet'};\nffmpeg: ${publisher.stderr().slice(-2000)}\nserver: ${logs.join('\n')}`,
      { cause: error },
    );
  }
  await server.metrics(); // the lag histogram starts from here
  rssBaseline = server.rssBytes();
});

after(async () => {
  viewer.close();
  await publisher.stop();
  const { code } = await server.stop();
  assert.equal(code, 0, `onair exited cleanly after the suite: ${server.stderr()}`);
});

function videoTags(): number {
  return viewer.tags.filter((tag) => tag.type === FlvTagType.Video).length;
}

/** The checks after every row. */
async function unharmed(mark: number, reason: string | undefined): Promise<void> {
  assert.equal(server.exited(), false, `the server is running: ${server.stderr()}`);
  if (reason !== undefined) {
    const reasons = (): unknown[] => server.logs.slice(mark).map((entry) => entry.reason);
    await waitFor(
      () => reasons().includes(reason),
      10_000,
      `a log entry with reason ${reason}`,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; logged: ${JSON.stringify(reasons())}`);
    });
  }
  const frames = videoTags();
  await waitFor(() => videoTags() >= frames + 10, 10_000, 'new frames on the good viewer');
  assert.equal(viewer.ended(), false, 'the good viewer is still connected');
  assert.equal(publisher.process.exitCode, null, 'the publisher is still publishing');
  const lag = metricValue(await server.metrics(), 'nodejs_eventloop_lag_max_seconds');
  assert.ok(
    lag !== undefined && lag < LAG_BOUND_S,
    `event-loop lag ${String(lag)} s during the row`,
  );
  const grown = server.rssBytes() - rssBaseline;
  assert.ok(grown < RSS_BOUND_BYTES, `RSS grew ${Math.round(grown / 1048576)} MiB`);
}

async function rawHttp(): Promise<RawHttp> {
  return rawTo(server.httpPort);
}

/** Sends `head` and waits for the status line; returns the status (0 if closed first). */
async function statusOf(raw: RawHttp, head: string, timeoutMs = 10_000): Promise<number> {
  raw.socket.write(head);
  await waitFor(() => /^HTTP\/1\.1 \d{3} /.test(raw.text()) || raw.closed(), timeoutMs, head);
  return Number(/^HTTP\/1\.1 (\d{3}) /.exec(raw.text())?.[1] ?? 0);
}

/** Sends `head` on a fresh connection; the status of the answer (the socket then destroyed). */
async function statusFor(head: string): Promise<number> {
  const raw = await rawHttp();
  try {
    return await statusOf(raw, head);
  } finally {
    raw.socket.destroy();
  }
}

/** One status line after another on a keep-alive connection: the answers as parsed. */
function responses(text: string): { status: number; headers: string }[] {
  const out: { status: number; headers: string }[] = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const headers = rest.slice(0, end);
    out.push({ status: Number(headers.slice(9, 12)), headers });
    const length = /\r\ncontent-length: (\d+)/i.exec(headers)?.[1];
    const isHead = out.length === 1; // the first request of these rows is a HEAD
    rest = rest.slice(end + 4 + (isHead || length === undefined ? 0 : Number(length)));
  }
  if (rest !== '') out.push({ status: -1, headers: rest.slice(0, 64) });
  return out;
}

/** A hostile client and the reason its connection is logged with (none: no log expected). */
interface Row {
  readonly name: string;
  readonly reason?: string;
  run(): Promise<void>;
}

const rows: Record<string, Row[]> = {
  'WebSocket upgrades': [
    {
      name: 'upgrades to a non-FLV path whose clients reset 0-50 ms after asking (was a crash)',
      reason: 'not-found',
      async run() {
        // The reset lands before, during or after the refusal, depending on the delay.
        for (const ms of [0, 1, 2, 5, 10, 20, 30, 40, 50, 0, 5, 30]) {
          const raw = await rawHttp();
          raw.socket.write(`GET /nothing HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEAD}`);
          await delay(ms);
          raw.socket.resetAndDestroy();
        }
      },
    },
    {
      name: '20 upgrades to a live stream whose clients reset before reading the answer',
      async run() {
        for (let i = 0; i < 20; i++) {
          const raw = await rawHttp();
          raw.socket.write(`GET /live/good.flv HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEAD}`);
          raw.socket.resetAndDestroy();
        }
      },
    },
    {
      name: '50 refused upgrades whose clients keep the connection open are closed by the server',
      reason: 'bad-target',
      async run() {
        const held = await Promise.all(Array.from({ length: 50 }, () => rawHttp()));
        try {
          for (const raw of held) {
            raw.socket.write(`GET //live/good.flv HTTP/1.1\r\nHost: x\r\n${UPGRADE_HEAD}`);
          }
          await waitFor(
            () => held.every((raw) => raw.closed()),
            10_000,
            'every held socket closed',
          );
          assert.ok(held.every((raw) => raw.text().startsWith('HTTP/1.1 400 ')));
        } finally {
          for (const raw of held) raw.socket.destroy();
        }
      },
    },
    {
      name: 'an upgrade with a broken WebSocket key is refused by ws with 400',
      async run() {
        const status = await statusFor(
          'GET /live/good.flv HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n',
        );
        assert.equal(status, 400);
      },
    },
  ],
  'HTTP media': [
    {
      name: 'HEAD on a live HTTP-FLV stream answers headers only; the keep-alive connection stays in step',
      async run() {
        const raw = await rawHttp();
        try {
          raw.socket.write('HEAD /live/good.flv HTTP/1.1\r\nHost: x\r\n\r\n');
          raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
          await waitFor(() => responses(raw.text()).length >= 2, 10_000, 'two answers');
          const [head, next] = responses(raw.text());
          assert.ok(head !== undefined);
          assert.equal(head.status, 200);
          assert.match(head.headers, /content-type: video\/x-flv/i);
          assert.equal(
            next?.status,
            200,
            `the second answer, not FLV bytes: ${JSON.stringify(next)}`,
          );
        } finally {
          raw.socket.destroy();
        }
      },
    },
    {
      name: 'HEAD on a stream nobody publishes is a 404 at once, with no viewer made',
      async run() {
        assert.equal(await statusFor('HEAD /live/nobody.flv HTTP/1.1\r\nHost: x\r\n\r\n'), 404);
      },
    },
    {
      name: 'slowloris: headers trickled a byte at a time are cut at headersTimeoutMs with 408',
      reason: 'ERR_HTTP_REQUEST_TIMEOUT',
      async run() {
        const raw = await rawHttp();
        const head = 'GET /live/good.flv HTTP/1.1\r\nHost: x\r\nX-Slow: ';
        let sent = 0;
        const timer = setInterval(() => {
          if (!raw.closed()) raw.socket.write(head[sent++ % head.length] ?? 'x');
        }, 100);
        try {
          await waitFor(() => raw.closed(), 15_000, 'the slow client to be cut');
          assert.match(raw.text(), /^HTTP\/1\.1 408 /);
        } finally {
          clearInterval(timer);
          raw.socket.destroy();
        }
      },
    },
    {
      name: '64 KiB of request headers is refused with 431',
      reason: 'HPE_HEADER_OVERFLOW',
      async run() {
        const big = `X-Big: ${'a'.repeat(64 * 1024)}\r\n`;
        const status = await statusFor(`GET /live/good.flv HTTP/1.1\r\nHost: x\r\n${big}\r\n`);
        assert.equal(status, 431);
      },
    },
    {
      name: 'garbage instead of a request line is refused with 400',
      reason: 'HPE_INVALID_METHOD',
      async run() {
        assert.equal(await statusFor('\u0016\u0003\u0001\u0000\u00a5garbage\r\n\r\n'), 400);
      },
    },
    {
      name: '200 HTTP-FLV requests whose clients reset at once leave no viewer behind',
      async run() {
        for (let i = 0; i < 200; i++) {
          const raw = await rawHttp();
          raw.socket.write('GET /live/good.flv HTTP/1.1\r\nHost: x\r\n\r\n');
          raw.socket.resetAndDestroy();
        }
        const flvViewers = async (): Promise<number> => {
          const { items } = await apiJson<{ items: { protocol: string }[] }>('/api/v1/sessions');
          return items.filter((s) => s.protocol === 'http-flv').length;
        };
        const deadline = Date.now() + 10_000;
        while ((await flvViewers()) !== 1 && Date.now() < deadline) await delay(100);
        assert.equal(await flvViewers(), 1, 'only the good viewer is left');
      },
    },
    {
      name: 'a POST with an endless chunked body to an FLV URL is answered 405 at once',
      async run() {
        const status = await statusFor(
          'POST /live/good.flv HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n',
        );
        assert.equal(status, 405);
      },
    },
  ],
  'admin API': [
    {
      name: 'a 2 MiB JSON body is refused with 413',
      async run() {
        const res = await fetch(server.httpUrl('api/v1/streams/live/good/keys'), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TEST_API_TOKEN}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ label: 'x'.repeat(2 * 1024 * 1024) }),
        });
        assert.equal(res.status, 413);
      },
    },
    {
      name: '500 requests with a wrong token are refused with 401, then the right token still works',
      async run() {
        for (let i = 0; i < 500; i++) {
          const res = await fetch(server.httpUrl('api/v1/streams'), {
            headers: { authorization: `Bearer wrong-${i}` },
          });
          assert.equal(res.status, 401);
          await res.arrayBuffer();
        }
        await apiJson('/api/v1/streams');
      },
    },
    {
      name: 'JSON nested 5000 deep is refused with 400',
      async run() {
        const res = await fetch(server.httpUrl('api/v1/streams/live/good/keys'), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${TEST_API_TOKEN}`,
            'content-type': 'application/json',
          },
          body: '['.repeat(5000) + ']'.repeat(5000),
        });
        assert.equal(res.status, 400);
      },
    },
  ],
  'QoE beacons': [
    {
      name: 'a flood of beacons from one address gets 429 after the per-minute allowance',
      async run() {
        const statuses = new Set<number>();
        for (let i = 0; i < 100; i++) {
          const res = await fetch(server.httpUrl('api/v1/qoe'), {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ stream: 'live/good', rebufferMs: 0, playedMs: 1000 }),
          });
          statuses.add(res.status);
          await res.arrayBuffer();
        }
        assert.ok(statuses.has(429), `statuses: ${[...statuses].join(',')}`);
      },
    },
    {
      name: 'a 1 MiB beacon is refused with 413',
      async run() {
        const res = await fetch(server.httpUrl('api/v1/qoe'), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ stream: 'live/good', pad: 'x'.repeat(1024 * 1024) }),
        });
        assert.equal(res.status, 413);
      },
    },
  ],
  RTMP: [
    {
      name: '50 half-open connections that send nothing are closed at the handshake deadline',
      reason: 'handshake-timeout',
      async run() {
        const idle = await Promise.all(
          Array.from({ length: 50 }, () => RawRtmp.open(server.rtmpPort)),
        );
        try {
          await waitFor(() => idle.every((raw) => raw.closed), 10_000, 'every idle socket closed');
        } finally {
          for (const raw of idle) raw.destroy();
        }
      },
    },
    {
      name: '200 connections reset in the middle of the handshake',
      async run() {
        for (let i = 0; i < 200; i++) {
          const raw = await RawRtmp.open(server.rtmpPort);
          raw.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(700, 1)]));
          raw.socket.resetAndDestroy();
        }
      },
    },
    {
      name: 'Set Chunk Size 1, then 8 MB of one unfinished message (grew the server 420 MB before)',
      async run() {
        const raw = await RawRtmp.open(server.rtmpPort);
        try {
          await raw.handshake();
          raw.sendControl(MessageType.SetChunkSize, encodeUint32Payload(1));
          raw.chunkSize = 1;
          // A type 0 chunk of a 8 MiB - 1 video message with its first byte, then type 3
          // chunks (0xc6) of one byte each: 16 MB on the wire for 8 MB of message data.
          const dataBytes = 8 * 1024 * 1024 - 2;
          const header = { csid: 6, timestamp: 0, typeId: MessageType.Video, streamId: 1 };
          raw.write(type0Header({ ...header, length: 8 * 1024 * 1024 - 1 }));
          const block = Buffer.alloc(512 * 1024);
          for (let i = 0; i < block.length; i += 2) block[i] = 0xc6;
          for (let sent = 0; sent < 2 * dataBytes && !raw.closed; sent += block.length) {
            raw.write(block);
            await waitFor(() => raw.socket.writableLength === 0 || raw.closed, 10_000, 'a drain');
          }
        } finally {
          raw.destroy();
        }
      },
    },
    {
      name: 'connect with a tcUrl of 60,000 slashes (stalled every client 5 s before) is rejected',
      reason: 'field-too-long',
      async run() {
        const raw = await RawRtmp.open(server.rtmpPort);
        try {
          await raw.handshake();
          raw.sendCommand(['connect', 1, { app: 'live', tcUrl: `rtmp://x/${'/'.repeat(60_000)}` }]);
          await raw.waitClosed();
        } finally {
          raw.destroy();
        }
      },
    },
    {
      name: 'an HTTP request sent to the RTMP port is closed as a bad handshake version',
      reason: 'ERR_RTMP_HANDSHAKE_VERSION',
      async run() {
        const raw = await RawRtmp.open(server.rtmpPort);
        try {
          raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
          await raw.waitClosed();
        } finally {
          raw.destroy();
        }
      },
    },
  ],
};

async function apiJson<T = unknown>(path: string): Promise<T> {
  const res = await fetch(server.httpUrl(path.slice(1)), {
    headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
  });
  assert.equal(res.status, 200, `${path} answered ${res.status}`);
  return (await res.json()) as T;
}

for (const [listener, table] of Object.entries(rows)) {
  describe(`hostile clients: ${listener}`, () => {
    for (const row of table) {
      test(row.name, async () => {
        const mark = server.logs.length;
        await server.metrics(); // resets the lag histogram: what follows measures this row
        await row.run();
        await unharmed(mark, row.reason);
      });
    }
  });
}

describe('SIGTERM with clients that do not let go', () => {
  test('exits 0 within server.shutdownTimeoutMs, cutting what did not close politely', async () => {
    const shutdownTimeoutMs = 3000;
    const own = await startServerProcess({ server: { shutdownTimeoutMs } });
    const source = publishTestPattern(own.rtmpUrl('live/held'), { gop: 25, seconds: 60 });
    const held: RawHttp[] = [];
    try {
      const probe = watchHttpFlv(own.httpUrl('live/held.flv'));
      await waitFor(() => probe.tags.length > 10, 30_000, 'the stream to play');
      probe.close();
      // 25 WebSocket viewers and 25 HTTP-FLV viewers that stop reading at once: none of them
      // will take the last chunk or answer a close frame.
      for (let i = 0; i < 50; i++) {
        const raw = await rawTo(own.httpPort);
        const head = `GET /live/held.flv HTTP/1.1\r\nHost: x\r\n`;
        raw.socket.write(i % 2 === 0 ? `${head}${UPGRADE_HEAD}` : `${head}\r\n`);
        held.push(raw);
      }
      await waitFor(
        () => held.every((raw) => raw.text().startsWith('HTTP/1.1 ')),
        10_000,
        'all 50 answered',
      );
      for (const raw of held) raw.socket.pause();
      const stopped = await own.stop({ timeoutMs: shutdownTimeoutMs + 5000 });
      assert.equal(stopped.signal, null, 'it exited by itself, not killed');
      assert.equal(stopped.code, 0);
      assert.ok(
        own.logs.some((entry) => entry.msg === 'stopped'),
        'the shutdown finished and said so',
      );
    } finally {
      for (const raw of held) raw.socket.destroy();
      await source.stop();
      if (!own.exited()) await own.stop({ signal: 'SIGKILL' });
    }
  });
});

describe('a promise rejection nobody handles (a bug in some code path)', () => {
  test('is logged with its stack and counted; the process and its viewers go on', async () => {
    const own = await startServerProcess(
      {},
      { preload: [new URL('../support/reject-on-sigusr2.mjs', import.meta.url).href] },
    );
    const source = publishTestPattern(own.rtmpUrl('live/bug'), { gop: 25, seconds: 60 });
    try {
      const watcher = watchHttpFlv(own.httpUrl('live/bug.flv'));
      await waitFor(() => watcher.tags.length > 10, 30_000, 'the stream to play');
      own.child.kill('SIGUSR2');
      await waitFor(
        () => own.logs.some((entry) => String(entry.msg).startsWith('unhandled promise rejection')),
        10_000,
        'the rejection to be logged',
      );
      assert.equal(
        metricValue(await own.metrics(), 'onair_unhandled_rejections_total'),
        1,
        'counted',
      );
      const tags = watcher.tags.length;
      await waitFor(() => watcher.tags.length > tags + 10, 10_000, 'the viewer to go on');
      assert.equal(own.exited(), false);
      watcher.close();
    } finally {
      await source.stop();
      const { code } = await own.stop();
      assert.equal(code, 0);
    }
  });
});
