// Hostile HTTP-FLV / WS-FLV requests (HOSTILE-INPUTS.md sections 5 and 6) over raw sockets, each sent
// while an ffmpeg publisher and an HTTP-FLV viewer keep flowing on live/good (no collateral damage).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../support/server.ts';
import { publishTestPattern, waitFor, type Publisher } from '../support/media-tools.ts';
import { watchHttpFlv, type FlvViewer } from '../support/flv-reader.ts';
import { captureMedia, startFlood, type CapturedMedia } from '../support/raw-rtmp.ts';
import { FlvTagType } from '../../src/codecs/flv.ts';
import { RtmpClient } from '../../src/protocols/rtmp/rtmp-client.ts';

let server: TestServer;
let publisher: Publisher;
let viewer: FlvViewer;

before(async () => {
  server = await startServer({ hub: { waitForPublisherMs: 200 } });
  publisher = publishTestPattern(server.rtmpUrl('live/good'), { gop: 25, seconds: 110 });
  await waitFor(
    () => server.onair.hub.get('live/good')?.tracks.length === 2,
    15_000,
    'the ffmpeg publisher to announce both tracks',
  );
  viewer = watchHttpFlv(server.httpUrl('live/good.flv'));
  await waitFor(() => videoTags() > 0, 10_000, 'video on the HTTP-FLV viewer');
});

after(async () => {
  viewer.close();
  await publisher.stop();
  await server.stop();
});

function videoTags(): number {
  return viewer.tags.filter((tag) => tag.type === FlvTagType.Video).length;
}

/** The no-collateral-damage assertion: the publisher is live and the viewer gets new frames. */
async function stillFlowing(): Promise<void> {
  assert.notEqual(server.onair.hub.get('live/good')?.publisher ?? null, null, 'publisher live');
  const before = videoTags();
  await waitFor(() => videoTags() >= before + 3, 10_000, 'new frames on the HTTP-FLV viewer');
  assert.equal(viewer.ended(), false, 'the HTTP-FLV viewer is still connected');
}

/** Paths of the streams the hub knows now. */
function streamPaths(): string[] {
  return [...server.onair.hub.streams()].map((stream) => stream.path).sort();
}

/**
 * Writes `head` on a fresh TCP connection to the HTTP port and resolves with the status code of
 * the answer (0 if the server closed without one); the socket is destroyed afterwards.
 */
async function rawRequest(head: string): Promise<number> {
  const socket = netConnect(server.httpPort, '127.0.0.1');
  let text = '';
  let closed = false;
  socket.on('data', (bytes: Buffer) => (text += bytes.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.write(head);
  try {
    await waitFor(() => /^HTTP\/1\.[01] \d{3} /.test(text) || closed, 5000, `an answer to ${head}`);
  } finally {
    socket.destroy();
  }
  const match = /^HTTP\/1\.[01] (\d{3}) /.exec(text);
  return match ? Number(match[1]) : 0;
}

describe('request targets (section 6) and stream names (section 5)', () => {
  // Each names the live stream, so a lenient server would answer 200 with media.
  const badTargets: [string, string][] = [
    ['a path without the leading slash', 'live/good.flv'],
    ['a doubled leading slash', '//live/good.flv'],
    ['the absolute form', 'http://evil/live/good.flv'],
    ['the asterisk form', '*'],
    ['a raw .. segment', '/live/../live/good.flv'],
    ['%2e%2e segments', '/live/%2e%2e/live/good.flv'],
    ['..%2f (an encoded slash)', '/live/..%2flive/good.flv'],
    ['%252e%252e (decoded once, still refused)', '/live/%252e%252e/good.flv'],
    ['%00 (NUL)', '/live/good%00.flv'],
    ['%0d%0a (header injection)', '/live/good%0d%0aX-Evil:%201.flv'],
    ['a backslash', '/live\\good.flv'],
    ['a broken escape', '/live/go%zzod.flv'],
    ['a 300-character name', `/live/${'x'.repeat(300)}.flv`],
    ['a path with no app', '/good.flv'],
  ];
  for (const [what, target] of badTargets) {
    test(`GET with ${what} is answered 400 and creates no stream`, async () => {
      const paths = streamPaths();
      const status = await rawRequest(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.equal(status, 400, target);
      assert.deepEqual(streamPaths(), paths);
      await stillFlowing();
    });
  }

  test('a request for an unknown stream is a 404 after the publisher wait, leaving no state', async () => {
    const status = await rawRequest('GET /live/nobody.flv HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(status, 404);
    await waitFor(() => server.onair.hub.get('live/nobody') === undefined, 5000, 'no live/nobody');
    await stillFlowing();
  });

  test('50 concurrent requests for unknown streams all get 404 and leave no state', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        rawRequest(`GET /live/ghost${i % 5}.flv HTTP/1.1\r\nHost: x\r\n\r\n`),
      ),
    );
    assert.deepEqual(new Set(statuses), new Set([404]));
    await waitFor(
      () => streamPaths().every((path) => !path.startsWith('live/ghost')),
      5000,
      'the ghost streams to be forgotten',
    );
    await stillFlowing();
  });
});

describe('WS-FLV (section 6)', () => {
  /** A WS-FLV client that counts the messages it receives. */
  function wsViewer(path: string): {
    ws: WebSocket;
    messages: () => number;
    closed: () => number | null;
  } {
    const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/${path}`);
    let messages = 0;
    let closeCode: number | null = null;
    ws.on('message', () => messages++);
    ws.on('close', (code: number) => (closeCode = code));
    ws.on('error', () => undefined);
    return { ws, messages: () => messages, closed: () => closeCode };
  }

  test('a message larger than wsMaxPayloadBytes closes that socket (1009); other viewers are fine', async () => {
    const hostile = wsViewer('live/good.flv');
    const other = wsViewer('live/good.flv');
    try {
      await waitFor(() => hostile.messages() > 0 && other.messages() > 0, 10_000, 'WS-FLV data');
      hostile.ws.send(Buffer.alloc(server.onair.config.http.wsMaxPayloadBytes + 1));
      await waitFor(() => hostile.closed() !== null, 10_000, 'the oversized sender to be closed');
      assert.equal(hostile.closed(), 1009);
      const before = other.messages();
      await waitFor(() => other.messages() >= before + 10, 10_000, 'more data on the other viewer');
      assert.equal(other.closed(), null);
    } finally {
      hostile.ws.terminate();
      other.ws.terminate();
    }
    await stillFlowing();
  });

  test('a small client message is ignored and the viewer keeps receiving', async () => {
    const chatty = wsViewer('live/good.flv');
    try {
      await waitFor(() => chatty.messages() > 0, 10_000, 'WS-FLV data');
      chatty.ws.send('hello');
      const before = chatty.messages();
      await waitFor(() => chatty.messages() >= before + 10, 10_000, 'more data after the message');
      assert.equal(chatty.closed(), null);
    } finally {
      chatty.ws.terminate();
    }
    await stillFlowing();
  });

  test('an upgrade on a traversal path is refused with 400 and creates no stream', async () => {
    const paths = streamPaths();
    const status = await rawRequest(
      'GET /live/%2e%2e/good.flv HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.equal(status, 400);
    assert.deepEqual(streamPaths(), paths);
    await stillFlowing();
  });

  test('an upgrade for an unknown stream is closed with 4404 after the publisher wait, leaving no state', async () => {
    const ghost = wsViewer('live/ws-ghost.flv');
    try {
      await waitFor(() => ghost.closed() !== null, 10_000, 'the unknown-stream WS to close');
      assert.equal(ghost.closed(), 4404);
      await waitFor(() => server.onair.hub.get('live/ws-ghost') === undefined, 5000, 'no state');
    } finally {
      ghost.ws.terminate();
    }
    await stillFlowing();
  });
});

describe('an HTTP-FLV viewer that never reads (section 6, write stall)', () => {
  /** TCP sockets open in this process (server and client ends alike). */
  const tcpHandles = (): number =>
    process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;

  test('is evicted and its socket closed by the server, while another viewer keeps receiving', async () => {
    const seen: Partial<CapturedMedia> = {};
    const capture = await RtmpClient.connect(server.rtmpUrl('live/good'), {
      onMedia: (message) => {
        captureMedia(seen, message);
      },
    });
    await capture.play();
    await waitFor(() => seen.keyframe !== undefined && seen.audioHeader !== undefined, 10_000);
    capture.close();
    const media = seen as CapturedMedia;
    const small = await startServer({
      hub: { viewer: { maxQueueBytes: 200_000, maxQueueDurationMs: 2000, maxBehindMs: 3000 } },
    });
    const source = await RtmpClient.connect(small.rtmpUrl('live/flood'));
    const flood = await startFlood(source, media, 100_000);
    let goodBytes = 0;
    const good = request(small.httpUrl('live/flood.flv'), (res) => {
      res.on('data', (chunk: Buffer) => (goodBytes += chunk.length));
    });
    good.on('error', () => undefined);
    good.end();
    await waitFor(() => goodBytes > 0, 10_000, 'the good viewer to start');
    const before = tcpHandles();
    const stalled = netConnect(small.httpPort, '127.0.0.1');
    stalled.on('error', () => undefined);
    try {
      let head = '';
      stalled.on('data', (chunk: Buffer) => (head += chunk.toString('latin1', 0, 32)));
      stalled.write('GET /live/flood.flv HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => head.startsWith('HTTP/1.1 200'), 10_000, 'the stalled viewer to start');
      stalled.pause();
      const open = tcpHandles();
      assert.equal(open, before + 2, 'both ends of the stalled connection are open');
      await waitFor(
        () => tcpHandles() < open,
        30_000,
        'the server to close the socket of the viewer that never reads',
      );
      const bytes = goodBytes;
      await waitFor(() => goodBytes > bytes + 500_000, 10_000, 'more bytes on the good viewer');
    } finally {
      stalled.destroy();
      good.destroy();
      await flood.stop();
      source.close();
      await small.stop();
    }
    await stillFlowing();
  });
});
