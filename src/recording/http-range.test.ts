// Tests of parseRange (a table of Range headers, a property) and sendFile against a real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { tempDir } from '../../test/support/temp-dir.ts';
import { parseRange, sendFile, type RangeRequest } from './http-range.ts';

const whole: RangeRequest = { kind: 'whole' };
const range = (start: number, end: number): RangeRequest => ({ kind: 'range', start, end });

const cases: readonly (readonly [string | undefined, number, RangeRequest | 'unsatisfiable'])[] = [
  [undefined, 1000, whole],
  ['bytes=0-99', 1000, range(0, 99)],
  ['bytes=100-', 1000, range(100, 999)],
  ['bytes=-100', 1000, range(900, 999)],
  ['bytes=-5000', 1000, range(0, 999)], // a suffix larger than the file: all of it
  ['bytes=900-5000', 1000, range(900, 999)], // last past the end: clamped
  ['bytes=999-999', 1000, range(999, 999)],
  ['bytes=1000-', 1000, 'unsatisfiable'], // start past the end
  ['bytes=1000-1005', 1000, 'unsatisfiable'],
  ['bytes=50-10', 1000, 'unsatisfiable'], // reversed
  ['bytes=0-1,5-6', 1000, 'unsatisfiable'], // multi-range
  ['bytes=', 1000, 'unsatisfiable'],
  ['bytes=-', 1000, 'unsatisfiable'],
  ['bytes=abc', 1000, 'unsatisfiable'],
  ['bytes=-0', 1000, 'unsatisfiable'],
  [`bytes=${'9'.repeat(16)}-`, 1000, 'unsatisfiable'],
  [`bytes=0-${'1'.repeat(10_000)}`, 1000, 'unsatisfiable'],
  ['items=0-5', 1000, whole], // another unit: ignored
  [undefined, 0, whole],
  ['bytes=0-', 0, 'unsatisfiable'],
  ['bytes=-10', 0, 'unsatisfiable'],
];

for (const [header, size, expected] of cases) {
  test(`parseRange(${(header ?? '(no header)').slice(0, 40)}, ${size})`, () => {
    const result = parseRange(header, size);
    if (expected === 'unsatisfiable') assert.equal(result.kind, 'unsatisfiable');
    else assert.deepEqual(result, expected);
  });
}

test('parseRange: any satisfiable range lies inside the file', () => {
  const header = fc.oneof(
    fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `bytes=${a}-${b}`),
    fc.nat().map((a) => `bytes=${a}-`),
    fc.nat().map((b) => `bytes=-${b}`),
    fc.string(),
  );
  fc.assert(
    fc.property(header, fc.nat({ max: 1_000_000 }), (value, size) => {
      const result = parseRange(value, size);
      if (result.kind !== 'range') return;
      assert.ok(0 <= result.start && result.start <= result.end && result.end < size);
    }),
  );
});

const FILE_BYTES = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));

async function serve(path: string, size: number): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    sendFile(req, res, { path, size, contentType: 'video/mp4', headers: { 'X-Test': '1' } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

function get(port: number, headers: Record<string, string>, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  const closed = new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
  await bounded(closed, 5000, 'server.close() hung');
}

test('sendFile: 200, 206, 416 and HEAD', async (t) => {
  const path = join(tempDir(t), 'a.mp4');
  writeFileSync(path, FILE_BYTES);
  const { server, port } = await serve(path, FILE_BYTES.length);
  t.after(() => closeServer(server));

  const all = await get(port, {});
  assert.equal(all.status, 200);
  assert.equal(all.headers['content-length'], '1000');
  assert.equal(all.headers['accept-ranges'], 'bytes');
  assert.equal(all.headers['x-test'], '1');
  assert.equal(all.headers['content-range'], undefined);
  assert.deepEqual(all.body, FILE_BYTES);

  const part = await get(port, { Range: 'bytes=100-199' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], 'bytes 100-199/1000');
  assert.equal(part.headers['content-length'], '100');
  assert.deepEqual(part.body, FILE_BYTES.subarray(100, 200));

  const tail = await get(port, { Range: 'bytes=-10' });
  assert.equal(tail.status, 206);
  assert.equal(tail.headers['content-range'], 'bytes 990-999/1000');
  assert.deepEqual(tail.body, FILE_BYTES.subarray(990));

  const refused = await get(port, { Range: 'bytes=5000-' });
  assert.equal(refused.status, 416);
  assert.equal(refused.headers['content-range'], 'bytes */1000');

  const head = await get(port, { Range: 'bytes=0-9' }, 'HEAD');
  assert.equal(head.status, 206);
  assert.equal(head.headers['content-length'], '10');
  assert.equal(head.headers['content-range'], 'bytes 0-9/1000');
  assert.equal(head.body.length, 0);
});

/** File descriptors of this process open on `path` (Linux), or null where /proc is missing. */
function openFds(path: string): number | null {
  if (!existsSync('/proc/self/fd')) return null;
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(path)) count++;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

test('sendFile: a client that aborts mid-download leaves no read stream open', async (t) => {
  const path = join(tempDir(t), 'big.mp4');
  const size = 32 * 1024 * 1024;
  writeFileSync(path, Buffer.alloc(size, 7));
  let closed!: () => void;
  const responseClosed = new Promise<void>((resolve) => {
    closed = resolve;
  });
  const server = createServer((req, res) => {
    res.on('close', closed);
    sendFile(req, res, { path, size, contentType: 'video/mp4' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  t.after(() => closeServer(server)); // a no-op once closed below

  const seen: { fds: number | null } = { fds: null };
  const download = new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port }, (res) => {
      res.once('data', () => {
        seen.fds = openFds(path);
        req.destroy(); // gone after the first chunk of 32 MiB
        resolve();
      });
    });
    req.on('error', (error) => {
      if (!req.destroyed) reject(error);
    });
    req.end();
  });
  await bounded(download, 5000, 'the download never started');
  await bounded(responseClosed, 5000, 'the server never saw the client go');
  if (seen.fds !== null) assert.ok(seen.fds > 0, 'the check sees the file open while reading');
  const deadline = Date.now() + 5000;
  while ((openFds(path) ?? 0) > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(openFds(path) ?? 0, 0, 'the read stream of an aborted download stays open');
  unlinkSync(path);
  await closeServer(server);
});

function bounded<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(message));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
