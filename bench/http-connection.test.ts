import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import fc from 'fast-check';
import { HttpConnection, ResponseReader } from './http-connection.ts';

interface Wire {
  readonly status: number;
  readonly body: Buffer;
  readonly bytes: Buffer;
}

/** One response as a server writes it: Content-Length, chunked (any chunk sizes), or 204. */
function response(status: number, body: Buffer, chunks: readonly number[] | null): Wire {
  if (status === 204)
    return { status, body: Buffer.alloc(0), bytes: Buffer.from('HTTP/1.1 204 No Content\r\n\r\n') };
  if (chunks === null) {
    const head = `HTTP/1.1 ${status} X\r\nContent-Type: video/mp4\r\nContent-Length: ${body.length}\r\n\r\n`;
    return { status, body, bytes: Buffer.concat([Buffer.from(head), body]) };
  }
  const parts: Buffer[] = [
    Buffer.from(`HTTP/1.1 ${status} X\r\nTransfer-Encoding: chunked\r\n\r\n`),
  ];
  let at = 0;
  for (const size of chunks) {
    const piece = body.subarray(at, at + size);
    if (piece.length === 0) break;
    parts.push(Buffer.from(`${piece.length.toString(16)};ext=1\r\n`), piece, Buffer.from('\r\n'));
    at += piece.length;
  }
  if (at < body.length) {
    const rest = body.subarray(at);
    parts.push(Buffer.from(`${rest.length.toString(16)}\r\n`), rest, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\nX-Trailer: 1\r\n\r\n'));
  return { status, body, bytes: Buffer.concat(parts) };
}

void test('ResponseReader.push() splits back-to-back responses whatever the read boundaries', () => {
  const wire = fc.record({
    status: fc.constantFrom(200, 404, 204),
    body: fc.uint8Array({ maxLength: 300 }),
    chunks: fc.option(fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 6 })),
  });
  fc.assert(
    fc.property(
      fc.array(wire, { minLength: 1, maxLength: 5 }),
      fc.array(fc.nat(5000)),
      (list, rawCuts) => {
        const responses = list.map((r) => response(r.status, Buffer.from(r.body), r.chunks));
        const stream = Buffer.concat(responses.map((r) => r.bytes));
        const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort(
          (a, b) => a - b,
        );
        const reads: Buffer[] = [];
        let from = 0;
        for (const cut of [...cuts, stream.length]) {
          reads.push(stream.subarray(from, cut));
          from = cut;
        }
        const reader = new ResponseReader();
        const got: { status: number; body: Buffer }[] = [];
        let body: Buffer[] = [];
        for (const read of reads) {
          let pos = 0;
          while (pos < read.length && got.length < responses.length) {
            const end = reader.push(read, pos, {
              onBody: (piece) => {
                body.push(Buffer.from(piece));
              },
            });
            if (end < 0) break;
            got.push({ status: reader.status, body: Buffer.concat(body) });
            body = [];
            reader.reset();
            pos = end;
          }
        }
        assert.deepEqual(
          got.map((g) => [g.status, g.body.toString('hex')]),
          responses.map((r) => [r.status, r.body.toString('hex')]),
        );
      },
    ),
  );
});

void test('ResponseReader.push() throws on a response that is not HTTP/1.x', () => {
  const reader = new ResponseReader();
  assert.throws(
    () => reader.push(Buffer.from('SSH-2.0-x\r\n\r\n'), 0, { onBody: () => undefined }),
    /not an HTTP/,
  );
});

async function listen(server: HttpServer | Server): Promise<number> {
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as AddressInfo).port;
}

/** Sends one GET and resolves with what the handler heard. */
function get(
  conn: HttpConnection,
  path: string,
): Promise<{ status: number; body: string; error: string | null }> {
  return new Promise((done) => {
    const pieces: Buffer[] = [];
    conn.request(
      path,
      {
        onBody: (piece) => pieces.push(Buffer.from(piece)),
        onEnd: (status, error) => {
          done({ status, body: Buffer.concat(pieces).toString(), error });
        },
      },
      Date.now(),
    );
  });
}

void test('HttpConnection.request() reuses one keep-alive socket and reconnects when the server closed it', async () => {
  const server = createHttpServer((req, res) => {
    const body = `you asked ${req.url ?? ''}`;
    if (req.url === '/chunked') res.write(body.slice(0, 4));
    res.end(req.url === '/chunked' ? body.slice(4) : body);
  });
  server.keepAliveTimeout = 200;
  const port = await listen(server);
  const conn = new HttpConnection({ host: '127.0.0.1', port });
  try {
    assert.deepEqual(await get(conn, '/a'), { status: 200, body: 'you asked /a', error: null });
    assert.deepEqual(await get(conn, '/chunked'), {
      status: 200,
      body: 'you asked /chunked',
      error: null,
    });
    assert.deepEqual(await get(conn, '/b'), { status: 200, body: 'you asked /b', error: null });
    assert.equal(conn.connects, 1);
    // The server closes the idle socket (Node adds a second to keepAliveTimeout).
    await new Promise((wake) => setTimeout(wake, 1500));
    assert.deepEqual(await get(conn, '/c'), { status: 200, body: 'you asked /c', error: null });
    assert.equal(conn.connects, 2);
  } finally {
    conn.close();
    server.closeAllConnections();
    server.close();
  }
});

void test('HttpConnection sends again when the server closed the idle socket as it asked', async () => {
  const server = createNetServer((socket) => {
    let asked = 0;
    socket.on('data', () => {
      // Each connection answers its first request, then closes without a word (keep-alive race).
      if (++asked === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else socket.destroy();
    });
  });
  const port = await listen(server);
  const conn = new HttpConnection({ host: '127.0.0.1', port });
  try {
    assert.deepEqual(await get(conn, '/'), { status: 200, body: 'ok', error: null });
    assert.deepEqual(await get(conn, '/'), { status: 200, body: 'ok', error: null });
    assert.equal(conn.connects, 2);
  } finally {
    conn.close();
    server.close();
  }
});

void test('HttpConnection reads a body that ends at the close (HTTP/1.0, no length)', async () => {
  const server = createNetServer((socket) => {
    socket.once('data', () => {
      socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
    });
  });
  const port = await listen(server);
  const conn = new HttpConnection({ host: '127.0.0.1', port });
  try {
    assert.deepEqual(await get(conn, '/'), { status: 200, body: 'until the end', error: null });
    assert.deepEqual(await get(conn, '/'), { status: 200, body: 'until the end', error: null });
    assert.equal(conn.connects, 2);
  } finally {
    conn.close();
    server.close();
  }
});

void test('HttpConnection.checkTimeout() fails a request left unanswered, once', async () => {
  const server = createNetServer(() => undefined); // accepts, never answers
  const port = await listen(server);
  const conn = new HttpConnection({ host: '127.0.0.1', port });
  try {
    const outcome = get(conn, '/held');
    assert.equal(conn.busy, true);
    assert.equal(conn.checkTimeout(Date.now(), 60_000), false);
    assert.equal(conn.checkTimeout(Date.now() + 61_000, 60_000), true);
    assert.deepEqual(await outcome, { status: 0, body: '', error: 'timeout' });
    assert.equal(conn.busy, false);
    assert.equal(conn.checkTimeout(Date.now() + 61_000, 60_000), false);
  } finally {
    conn.close();
    server.close();
  }
});

void test('HttpConnection reports a refused connection as a failed request', async () => {
  const server = createNetServer();
  const port = await listen(server);
  await new Promise((done) => server.close(done));
  const conn = new HttpConnection({ host: '127.0.0.1', port });
  const outcome = await get(conn, '/');
  assert.equal(outcome.status, 0);
  assert.equal(outcome.error, 'ECONNREFUSED');
});
