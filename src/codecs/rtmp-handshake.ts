// RTMP handshake state machines (sans-I/O; randomness and time are passed in).
// Spec: Adobe RTMP 1.0, section 5.2; plus the Flash "complex" (digest) handshake that FFmpeg,
// nginx-rtmp and SRS implement: HMAC-SHA256 digests keyed with the Genuine Adobe constants.

import { createHmac } from 'node:crypto';
import { CodecError } from './codec-error.ts';

/** Size of C1, S1, C2 and S2 (section 5.2.3). */
export const HANDSHAKE_SIZE = 1536;
/** The only RTMP version byte (C0/S0) accepted; 6 (RTMPE) and 0x16 (TLS) are not RTMP. */
export const RTMP_VERSION = 3;

/** Options for both handshake sides. */
export interface HandshakeOptions {
  /** Returns `n` random bytes (e.g. node:crypto randomBytes). */
  random: (n: number) => Buffer;
  /** Current time in ms; written into C1/S1 as the 32-bit wrapping time field. */
  epochMs: number;
}

/** What a push produced: bytes to send, whether the handshake is over, and bytes after it. */
export interface HandshakeStep {
  reply: Buffer | null;
  done: boolean;
  rest: Buffer | null;
}

/** The 32 bytes appended to both Genuine Adobe keys to form the full keys. */
const KEY_SUFFIX = Buffer.from(
  'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae',
  'hex',
);
const FP_KEY_TEXT = Buffer.from('Genuine Adobe Flash Player 001', 'latin1');
const FMS_KEY_TEXT = Buffer.from('Genuine Adobe Flash Media Server 001', 'latin1');
const FMS_KEY_FULL = Buffer.concat([FMS_KEY_TEXT, KEY_SUFFIX]);
const DIGEST_BYTES = 32;
/** S1 version field of a complex reply (nginx-rtmp's); Flash players only check it is set. */
const SERVER_VERSION = 0x0d0e0a0d;

/** Schema 0: key block then digest block; schema 1: digest block first. */
type DigestSchema = 0 | 1;

/**
 * Offset of the digest in a 1536-byte C1/S1: the digest block starts at 772 (schema 0) or 8
 * (schema 1); its first 4 bytes summed modulo 728 place the digest after them.
 */
function digestOffset(packet: Buffer, schema: DigestSchema): number {
  const base = schema === 0 ? 772 : 8;
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += packet[base + i] ?? 0;
  return base + 4 + (sum % 728);
}

/** HMAC-SHA256 of `packet` without the 32 digest bytes at `offset`. */
function packetDigest(packet: Buffer, offset: number, key: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(packet.subarray(0, offset))
    .update(packet.subarray(offset + DIGEST_BYTES))
    .digest();
}

/** Finds a valid Flash Player digest in C1; returns its offset, or -1 (simple handshake). */
function findClientDigest(c1: Buffer): number {
  for (const schema of [0, 1] as const) {
    const offset = digestOffset(c1, schema);
    const expected = packetDigest(c1, offset, FP_KEY_TEXT);
    if (expected.equals(c1.subarray(offset, offset + DIGEST_BYTES))) return offset;
  }
  return -1;
}

/** `n` bytes from `random`, zero-padded or cut if it returns another length. */
function randomBytes(random: (n: number) => Buffer, n: number): Buffer {
  const got = random(n);
  if (got.length === n) return got;
  const out = Buffer.alloc(n);
  got.copy(out, 0, 0, Math.min(n, got.length));
  return out;
}

/** Throws unless `version` is the RTMP version byte. */
function checkVersion(version: number | undefined, who: string): void {
  if (version !== RTMP_VERSION) {
    throw new CodecError(
      'ERR_RTMP_HANDSHAKE_VERSION',
      `Cannot handshake: ${who} version byte is ${String(version)}, expected ${RTMP_VERSION}`,
      0,
    );
  }
}

/** Builds S1 (time, version 0 or the server version, random) and S2 for a received C1. */
function buildServerReply(c1: Buffer, options: HandshakeOptions): Buffer {
  const reply = Buffer.alloc(1 + 2 * HANDSHAKE_SIZE);
  reply[0] = RTMP_VERSION;
  const s1 = reply.subarray(1, 1 + HANDSHAKE_SIZE);
  const s2 = reply.subarray(1 + HANDSHAKE_SIZE);
  s1.writeUInt32BE(options.epochMs >>> 0, 0);
  randomBytes(options.random, HANDSHAKE_SIZE - 8).copy(s1, 8);

  const clientOffset = findClientDigest(c1);
  if (clientOffset < 0) {
    // Simple handshake: S1 version zero (so FFmpeg skips digest checks) and S2 echoes C1.
    c1.copy(s2);
    return reply;
  }
  // Complex handshake at the client's schema: S1 carries an FMS digest at the same place.
  const schema: DigestSchema = clientOffset >= 772 ? 0 : 1;
  s1.writeUInt32BE(SERVER_VERSION, 4);
  const serverOffset = digestOffset(s1, schema);
  packetDigest(s1, serverOffset, FMS_KEY_TEXT).copy(s1, serverOffset);
  // S2: random, then HMAC(key = HMAC(full FMS key, C1 digest), S2 random part).
  randomBytes(options.random, HANDSHAKE_SIZE - DIGEST_BYTES).copy(s2, 0);
  const c1Digest = c1.subarray(clientOffset, clientOffset + DIGEST_BYTES);
  const key = createHmac('sha256', FMS_KEY_FULL).update(c1Digest).digest();
  createHmac('sha256', key)
    .update(s2.subarray(0, HANDSHAKE_SIZE - DIGEST_BYTES))
    .digest()
    .copy(s2, HANDSHAKE_SIZE - DIGEST_BYTES);
  return reply;
}

/**
 * Server side. push() returns bytes to send and, once C2 is in, done=true and any bytes after
 * C2. C0 != 3 -> CodecError ERR_RTMP_HANDSHAKE_VERSION (before waiting for C1). Answers a
 * Flash complex C1 in kind; never rejects a missing or wrong digest, never checks C2.
 */
export class HandshakeServer {
  readonly #options: HandshakeOptions;
  /** C0 + C1 as they arrive (fixed size, not from any length field). */
  readonly #c0c1 = Buffer.alloc(1 + HANDSHAKE_SIZE);
  #c0c1Bytes = 0;
  #c2Bytes = 0;

  /** Creates a server handshake; nothing is sent until C0 + C1 arrive. */
  constructor(options: HandshakeOptions) {
    this.#options = options;
  }

  /** Feeds client bytes; see {@link HandshakeStep}. After done, all bytes come back as rest. */
  push(bytes: Buffer): HandshakeStep {
    let pos = 0;
    let reply: Buffer | null = null;
    if (this.#c0c1Bytes < this.#c0c1.length) {
      if (this.#c0c1Bytes === 0 && bytes.length > 0) checkVersion(bytes[0], 'C0');
      pos = bytes.copy(this.#c0c1, this.#c0c1Bytes, 0);
      this.#c0c1Bytes += pos;
      if (this.#c0c1Bytes < this.#c0c1.length) return { reply: null, done: false, rest: null };
      reply = buildServerReply(this.#c0c1.subarray(1), this.#options);
    }
    const c2Take = Math.min(HANDSHAKE_SIZE - this.#c2Bytes, bytes.length - pos);
    this.#c2Bytes += c2Take;
    pos += c2Take;
    if (this.#c2Bytes < HANDSHAKE_SIZE) return { reply, done: false, rest: null };
    return { reply, done: true, rest: pos < bytes.length ? bytes.subarray(pos) : null };
  }
}

/**
 * Client side: start() gives C0+C1; push(S0S1S2 bytes) returns C2 when S0+S1 are in and done
 * when S2 is in. Simple handshake: C1 version zero, C2 echoes S1, S2 is not checked.
 */
export class HandshakeClient {
  readonly #options: HandshakeOptions;
  readonly #s0s1 = Buffer.alloc(1 + HANDSHAKE_SIZE);
  #s0s1Bytes = 0;
  #s2Bytes = 0;

  /** Creates a client handshake; call start() for the bytes to send first. */
  constructor(options: HandshakeOptions) {
    this.#options = options;
  }

  /** C0 + C1: version 3, then time, four zero bytes and 1528 random bytes (section 5.2.3). */
  start(): Buffer {
    const out = Buffer.alloc(1 + HANDSHAKE_SIZE);
    out[0] = RTMP_VERSION;
    out.writeUInt32BE(this.#options.epochMs >>> 0, 1);
    randomBytes(this.#options.random, HANDSHAKE_SIZE - 8).copy(out, 9);
    return out;
  }

  /** Feeds server bytes; see {@link HandshakeStep}. After done, all bytes come back as rest. */
  push(bytes: Buffer): HandshakeStep {
    let pos = 0;
    let reply: Buffer | null = null;
    if (this.#s0s1Bytes < this.#s0s1.length) {
      if (this.#s0s1Bytes === 0 && bytes.length > 0) checkVersion(bytes[0], 'S0');
      pos = bytes.copy(this.#s0s1, this.#s0s1Bytes, 0);
      this.#s0s1Bytes += pos;
      if (this.#s0s1Bytes < this.#s0s1.length) return { reply: null, done: false, rest: null };
      reply = Buffer.from(this.#s0s1.subarray(1)); // C2 echoes S1 (section 5.2.4)
    }
    const s2Take = Math.min(HANDSHAKE_SIZE - this.#s2Bytes, bytes.length - pos);
    this.#s2Bytes += s2Take;
    pos += s2Take;
    if (this.#s2Bytes < HANDSHAKE_SIZE) return { reply, done: false, rest: null };
    return { reply, done: true, rest: pos < bytes.length ? bytes.subarray(pos) : null };
  }
}
