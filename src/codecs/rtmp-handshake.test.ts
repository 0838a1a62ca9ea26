// Tests for the RTMP handshake: simple round trip, Flash complex digests, version checks, splits.
// Spec: Adobe RTMP 1.0 section 5.2; rows from HOSTILE-INPUTS.md section 1.

import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CodecError } from './codec-error.ts';
import { HANDSHAKE_SIZE, HandshakeClient, HandshakeServer } from './rtmp-handshake.ts';
import type { HandshakeStep } from './rtmp-handshake.ts';

/** Deterministic "random" bytes: a different counting pattern on every call. */
function fakeRandom(): (n: number) => Buffer {
  let call = 0;
  return (n) => {
    call++;
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = (i * 7 + call * 31) & 0xff;
    return out;
  };
}

const options = () => ({ random: fakeRandom(), epochMs: 1_700_000_000_123 });

// The Flash handshake constants, written out here independently of the code under test.
const KEY_SUFFIX = Buffer.from(
  'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae',
  'hex',
);
const FP_KEY = Buffer.from('Genuine Adobe Flash Player 001');
const FMS_KEY = Buffer.from('Genuine Adobe Flash Media Server 001');

/** Digest position for schema 0 (digest block at 772) or 1 (digest block at 8). */
function digestPos(packet: Buffer, schema: 0 | 1): number {
  const base = schema === 0 ? 772 : 8;
  const sum = packet[base]! + packet[base + 1]! + packet[base + 2]! + packet[base + 3]!;
  return base + 4 + (sum % 728);
}

/** HMAC-SHA256 of the packet without its 32 digest bytes at `pos`. */
function hmacWithout(packet: Buffer, pos: number, key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(Buffer.concat([packet.subarray(0, pos), packet.subarray(pos + 32)]))
    .digest();
}

/** A C1 as a Flash Player (or FFmpeg, schema 1) builds it: version set, FP digest embedded. */
function complexC1(schema: 0 | 1, seed: number): Buffer {
  const c1 = Buffer.alloc(HANDSHAKE_SIZE);
  for (let i = 0; i < c1.length; i++) c1[i] = (i * 13 + seed) & 0xff;
  c1.writeUInt32BE(12345, 0);
  c1.writeUInt32BE(0x80000702, 4);
  const pos = digestPos(c1, schema);
  hmacWithout(c1, pos, FP_KEY).copy(c1, pos);
  return c1;
}

/** Pushes `bytes` one byte at a time; returns the joined replies and the final step. */
function pushByteByByte(side: { push(b: Buffer): HandshakeStep }, bytes: Buffer) {
  const replies: Buffer[] = [];
  let last: HandshakeStep = { reply: null, done: false, rest: null };
  for (let i = 0; i < bytes.length; i++) {
    last = side.push(bytes.subarray(i, i + 1));
    if (last.reply !== null) replies.push(last.reply);
  }
  return { reply: Buffer.concat(replies), last };
}

void test('HandshakeClient and HandshakeServer complete a simple handshake', () => {
  const client = new HandshakeClient(options());
  const server = new HandshakeServer(options());
  const c0c1 = client.start();
  assert.equal(c0c1.length, 1 + HANDSHAKE_SIZE);
  assert.equal(c0c1[0], 3);
  assert.equal(c0c1.readUInt32BE(1), 1_700_000_000_123 % 2 ** 32);
  assert.equal(c0c1.readUInt32BE(5), 0); // simple: zero version field

  const s = server.push(c0c1);
  assert.equal(s.done, false);
  assert.ok(s.reply);
  assert.equal(s.reply.length, 1 + 2 * HANDSHAKE_SIZE);
  assert.equal(s.reply[0], 3);
  assert.equal(s.reply.readUInt32BE(5), 0); // S1 version zero: peers skip digest checks
  assert.deepEqual(s.reply.subarray(1 + HANDSHAKE_SIZE), c0c1.subarray(1)); // S2 echoes C1

  const c = client.push(s.reply);
  assert.equal(c.done, true);
  assert.equal(c.rest, null);
  assert.ok(c.reply);
  assert.deepEqual(c.reply, s.reply.subarray(1, 1 + HANDSHAKE_SIZE)); // C2 echoes S1

  const end = server.push(c.reply);
  assert.deepEqual(end, { reply: null, done: true, rest: null });
});

for (const schema of [0, 1] as const) {
  void test(`HandshakeServer.push() answers a complex C1 (schema ${schema}) with valid S1 and S2 digests`, () => {
    const c1 = complexC1(schema, 40 + schema);
    const server = new HandshakeServer(options());
    const { reply } = server.push(Buffer.concat([Buffer.from([3]), c1]));
    assert.ok(reply);
    const s1 = reply.subarray(1, 1 + HANDSHAKE_SIZE);
    const s2 = reply.subarray(1 + HANDSHAKE_SIZE);
    assert.notEqual(s1.readUInt32BE(4), 0, 'S1 version is set');

    const s1Pos = digestPos(s1, schema);
    assert.deepEqual(s1.subarray(s1Pos, s1Pos + 32), hmacWithout(s1, s1Pos, FMS_KEY));

    const c1Pos = digestPos(c1, schema);
    const key = createHmac('sha256', Buffer.concat([FMS_KEY, KEY_SUFFIX]))
      .update(c1.subarray(c1Pos, c1Pos + 32))
      .digest();
    const signature = createHmac('sha256', key)
      .update(s2.subarray(0, HANDSHAKE_SIZE - 32))
      .digest();
    assert.deepEqual(s2.subarray(HANDSHAKE_SIZE - 32), signature);
    assert.notDeepEqual(s2, c1, 'S2 is not the simple echo');
  });
}

void test('HandshakeServer.push() falls back to the simple form when the C1 digest is wrong', () => {
  const c1 = complexC1(1, 9);
  const pos = digestPos(c1, 1);
  c1[pos] = c1[pos]! ^ 0xff;
  const { reply } = new HandshakeServer(options()).push(Buffer.concat([Buffer.from([3]), c1]));
  assert.ok(reply);
  assert.equal(reply.readUInt32BE(5), 0);
  assert.deepEqual(reply.subarray(1 + HANDSHAKE_SIZE), c1);
});

void test('HandshakeServer.push() rejects C0 other than 3 at once (HTTP, TLS, RTMPE)', () => {
  for (const version of [0x47, 0x50, 0x16, 0x06, 0x00, 0x03 + 1]) {
    const server = new HandshakeServer(options());
    assert.throws(
      () => server.push(Buffer.from([version])),
      (err: unknown) => err instanceof CodecError && err.code === 'ERR_RTMP_HANDSHAKE_VERSION',
    );
  }
});

void test('HandshakeClient.push() rejects S0 other than 3', () => {
  const client = new HandshakeClient(options());
  client.start();
  assert.throws(
    () => client.push(Buffer.from('HTTP/1.1 400')),
    (err: unknown) => err instanceof CodecError && err.code === 'ERR_RTMP_HANDSHAKE_VERSION',
  );
});

void test('HandshakeServer.push() and HandshakeClient.push() work when fed one byte at a time', () => {
  const client = new HandshakeClient(options());
  const server = new HandshakeServer(options());
  const c0c1 = client.start();
  const s = pushByteByByte(server, c0c1);
  assert.equal(s.reply.length, 1 + 2 * HANDSHAKE_SIZE);
  assert.equal(s.last.done, false);
  // Same reply as a single push.
  assert.deepEqual(s.reply, new HandshakeServer(options()).push(c0c1).reply);

  const c = pushByteByByte(client, s.reply);
  assert.equal(c.reply.length, HANDSHAKE_SIZE);
  assert.equal(c.last.done, true);
  assert.equal(c.last.rest, null);

  const end = pushByteByByte(server, c.reply);
  assert.equal(end.reply.length, 0);
  assert.equal(end.last.done, true);
  assert.equal(end.last.rest, null);
});

void test('HandshakeServer.push() returns the bytes after C2 in rest, and all bytes once done', () => {
  const server = new HandshakeServer(options());
  const c0c1 = new HandshakeClient(options()).start();
  const c2 = Buffer.alloc(HANDSHAKE_SIZE, 0x11); // any C2 is accepted, echo or not
  const after = Buffer.from('0300000000', 'hex');
  const step = server.push(Buffer.concat([c0c1, c2, after]));
  assert.ok(step.reply);
  assert.equal(step.done, true);
  assert.deepEqual(step.rest, after);
  assert.deepEqual(server.push(after), { reply: null, done: true, rest: after });
});

void test('HandshakeClient.push() returns C2 and the bytes after S2 in one step', () => {
  const client = new HandshakeClient(options());
  client.start();
  const s0s1s2 = new HandshakeServer(options()).push(client.start()).reply;
  assert.ok(s0s1s2);
  const after = Buffer.from('02000000', 'hex');
  const step = client.push(Buffer.concat([s0s1s2, after]));
  assert.ok(step.reply);
  assert.equal(step.done, true);
  assert.deepEqual(step.rest, after);
});
