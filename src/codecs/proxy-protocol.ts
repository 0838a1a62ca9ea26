// The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy and cloud TCP load balancers
// put it in front of a connection to name the client (sans-I/O: bytes in, a header out).
// Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt (sections 2.1, 2.2).

import ipaddr from 'ipaddr.js';
import { CodecError } from './codec-error.ts';

/** One end of the proxied connection. Addresses are in canonical text (RFC 5952 for IPv6). */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

/** What a complete PROXY header says. */
export type ProxyHeader =
  /** The proxy relays a TCP client: `source` is the client, `destination` the proxy's side. */
  | {
      readonly command: 'proxy';
      readonly version: 1 | 2;
      readonly family: 'tcp4' | 'tcp6';
      readonly source: ProxyEndpoint;
      readonly destination: ProxyEndpoint;
    }
  /** The proxy speaks for itself (v2 LOCAL: health checks): use the connection's own address. */
  | { readonly command: 'local'; readonly version: 2 }
  /**
   * A relayed connection whose addresses cannot be used (v1 UNKNOWN; v2 UNSPEC, UNIX or UDP):
   * the spec says to use the connection's own address.
   */
  | { readonly command: 'unknown'; readonly version: 1 | 2 };

/** The outcome of {@link parseProxyHeader} on the bytes a connection has sent so far. */
export type ProxyParseResult =
  /** The bytes so far are a prefix of a PROXY header: wait for more. */
  | { readonly status: 'more' }
  /** The connection does not start with a PROXY header: its first byte is the protocol's. */
  | { readonly status: 'none' }
  /** A whole header; the protocol's bytes start at `length`. */
  | { readonly status: 'done'; readonly header: ProxyHeader; readonly length: number };

/** Longest v1 header, CRLF included (spec 2.1: the longest TCP6 line). */
export const MAX_V1_BYTES = 107;
/** Longest v2 address and TLV block accepted (the spec allows 65535; load balancers send < 300). */
export const MAX_V2_BLOCK_BYTES = 4096;
/** Fixed part of a v2 header: signature, version and command, family and transport, length. */
export const V2_FIXED_BYTES = 16;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The v2 signature (spec 2.2): it cannot start any text protocol, nor RTMP (C0 is 3). */
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** Address block bytes by v2 family: INET 4+4+2+2, INET6 16+16+2+2, UNIX 108+108. */
const V2_ADDRESS_BYTES = [0, 12, 36, 216] as const;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Reads a PROXY header at the start of `bytes` (all a connection has sent so far). Never reads
 * past 107 bytes for v1 or 16 + 4096 for v2, so the caller buffers at most that. Throws
 * CodecError: ERR_PROXY_TOO_LARGE past those bounds, ERR_PROXY_HEADER for anything malformed.
 */
export function parseProxyHeader(bytes: Buffer): ProxyParseResult {
  if (startsWithPrefixOf(bytes, V1_PREFIX)) {
    return bytes.length < V1_PREFIX.length ? { status: 'more' } : parseV1(bytes);
  }
  if (startsWithPrefixOf(bytes, V2_SIGNATURE)) {
    return bytes.length < V2_SIGNATURE.length ? { status: 'more' } : parseV2(bytes);
  }
  return { status: 'none' };
}

/** Whether `bytes` and `prefix` agree on their common length (and `bytes` is not empty). */
function startsWithPrefixOf(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  if (n === 0) return false;
  return bytes.compare(prefix, 0, n, 0, n) === 0;
}

function malformed(message: string, offset = -1): CodecError {
  return new CodecError('ERR_PROXY_HEADER', `Cannot read PROXY header: ${message}`, offset);
}

// ---- Version 1 (spec 2.1): "PROXY TCP4 <src> <dst> <sport> <dport>\r\n" ----

function parseV1(bytes: Buffer): ProxyParseResult {
  const limit = Math.min(bytes.length, MAX_V1_BYTES);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const byte = bytes[i] ?? 0;
    if (byte === LF) {
      if (bytes[i - 1] !== CR) throw malformed('v1 line ends without CR LF', i);
      end = i + 1;
      break;
    }
    if (byte === CR && i + 1 < bytes.length && bytes[i + 1] !== LF) {
      throw malformed('CR inside the v1 line', i);
    }
    // US-ASCII only (spec 2.1); no NUL, tab or other control byte.
    if (byte !== CR && (byte < 0x20 || byte > 0x7e)) {
      throw malformed(`byte 0x${byte.toString(16)} in the v1 line`, i);
    }
  }
  if (end === -1) {
    if (bytes.length >= MAX_V1_BYTES) {
      throw new CodecError(
        'ERR_PROXY_TOO_LARGE',
        `Cannot read PROXY header: no CR LF in the first ${MAX_V1_BYTES} bytes`,
        MAX_V1_BYTES,
      );
    }
    return { status: 'more' };
  }
  const line = bytes.toString('latin1', V1_PREFIX.length, end - 2);
  const fields = line.split(' ');
  const protocol = fields[0];
  if (protocol === 'UNKNOWN') {
    // The rest of the line is to be ignored (spec 2.1).
    return { status: 'done', header: { command: 'unknown', version: 1 }, length: end };
  }
  if (protocol !== 'TCP4' && protocol !== 'TCP6') {
    throw malformed(`protocol ${JSON.stringify(protocol)} is not TCP4, TCP6 or UNKNOWN`);
  }
  if (fields.length !== 5) throw malformed('a v1 line needs exactly 5 fields, one space apart');
  const family = protocol === 'TCP4' ? 'tcp4' : 'tcp6';
  const [, src = '', dst = '', sport = '', dport = ''] = fields;
  return {
    status: 'done',
    header: {
      command: 'proxy',
      version: 1,
      family,
      source: { address: textAddress(src, family), port: textPort(sport) },
      destination: { address: textAddress(dst, family), port: textPort(dport) },
    },
    length: end,
  };
}

/** A v1 address: a four-part decimal IPv4 for TCP4, an IPv6 in its text forms for TCP6. */
function textAddress(text: string, family: 'tcp4' | 'tcp6'): string {
  if (family === 'tcp4') {
    if (!ipaddr.IPv4.isValidFourPartDecimal(text)) throw malformed(`bad IPv4 address in v1`);
    return ipaddr.IPv4.parse(text).toString();
  }
  if (!text.includes(':') || text.includes('%') || !ipaddr.IPv6.isValid(text)) {
    throw malformed('bad IPv6 address in v1');
  }
  return canonicalIPv6(ipaddr.IPv6.parse(text));
}

/** A v1 port: decimal 0..65535 without leading zeros. */
function textPort(text: string): number {
  const ok = text.length > 0 && text.length <= 5 && (text === '0' || text[0] !== '0');
  let port = 0;
  for (let i = 0; ok && i < text.length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) throw malformed('bad port in v1');
    port = port * 10 + digit;
  }
  if (!ok || port > 65535) throw malformed('bad port in v1');
  return port;
}

// ---- Version 2 (spec 2.2): signature, ver/cmd, fam/proto, length, addresses, TLVs ----

function parseV2(bytes: Buffer): ProxyParseResult {
  if (bytes.length < V2_FIXED_BYTES) {
    // Check what is there already, so a bad version fails before the length arrives.
    if (bytes.length > 12) checkVersionCommand(bytes[12] ?? 0);
    return { status: 'more' };
  }
  const command = checkVersionCommand(bytes[12] ?? 0);
  const familyTransport = bytes[13] ?? 0;
  const family = familyTransport >>> 4;
  const transport = familyTransport & 0x0f;
  const blockBytes = bytes.readUInt16BE(14);
  if (blockBytes > MAX_V2_BLOCK_BYTES) {
    throw new CodecError(
      'ERR_PROXY_TOO_LARGE',
      `Cannot read PROXY header: v2 block of ${blockBytes} bytes, limit ${MAX_V2_BLOCK_BYTES}`,
      14,
    );
  }
  if (family > 3 || transport > 2) {
    throw malformed(`v2 family/transport 0x${familyTransport.toString(16)}`, 13);
  }
  const length = V2_FIXED_BYTES + blockBytes;
  if (bytes.length < length) return { status: 'more' };
  // LOCAL: the receiver uses its own view of the connection and skips the block (spec 2.2).
  if (command === 'local') return { status: 'done', header: { command, version: 2 }, length };
  const addressBytes = V2_ADDRESS_BYTES[family] ?? 0;
  if (blockBytes < addressBytes) {
    throw malformed(`v2 block of ${blockBytes} bytes is shorter than its addresses`, 14);
  }
  checkTlvs(bytes, V2_FIXED_BYTES + addressBytes, length);
  if ((family !== 1 && family !== 2) || transport !== 1) {
    return { status: 'done', header: { command: 'unknown', version: 2 }, length };
  }
  const at = V2_FIXED_BYTES;
  const size = family === 1 ? 4 : 16;
  const source = binaryAddress(bytes.subarray(at, at + size));
  const destination = binaryAddress(bytes.subarray(at + size, at + 2 * size));
  const ports = at + 2 * size;
  return {
    status: 'done',
    header: {
      command: 'proxy',
      version: 2,
      family: family === 1 ? 'tcp4' : 'tcp6',
      source: { address: source, port: bytes.readUInt16BE(ports) },
      destination: { address: destination, port: bytes.readUInt16BE(ports + 2) },
    },
    length,
  };
}

/** The 13th byte: version 2 in the high nibble, LOCAL (0) or PROXY (1) in the low one. */
function checkVersionCommand(byte: number): 'local' | 'proxy' {
  if (byte >>> 4 !== 2) throw malformed(`v2 version ${byte >>> 4}`, 12);
  const command = byte & 0x0f;
  if (command > 1) throw malformed(`v2 command ${command}`, 12);
  return command === 0 ? 'local' : 'proxy';
}

/** Walks the TLVs in `bytes[from, to)`: each must fit (their contents are not needed here). */
function checkTlvs(bytes: Buffer, from: number, to: number): void {
  let at = from;
  while (at < to) {
    if (at + 3 > to) throw malformed('a v2 TLV header is cut short', at);
    const valueBytes = bytes.readUInt16BE(at + 1);
    at += 3 + valueBytes;
    if (at > to) throw malformed('a v2 TLV runs past the header', at);
  }
}

/** A 4- or 16-byte address in canonical text. */
function binaryAddress(raw: Buffer): string {
  const address = ipaddr.fromByteArray([...raw]);
  return address instanceof ipaddr.IPv6 ? canonicalIPv6(address) : address.toString();
}

/** RFC 5952 text; an IPv4-mapped address (`::ffff:a.b.c.d`) as the IPv4 client it is. */
function canonicalIPv6(address: ipaddr.IPv6): string {
  return address.isIPv4MappedAddress()
    ? address.toIPv4Address().toString()
    : address.toRFC5952String();
}

// ---- Encoders (tests, and relays that speak to a PROXY-aware origin) ----

/** A v1 line for `header` (the `unknown` form carries no addresses). */
export function encodeProxyHeaderV1(
  header:
    | { readonly command: 'unknown' }
    | {
        readonly command: 'proxy';
        readonly family: 'tcp4' | 'tcp6';
        readonly source: ProxyEndpoint;
        readonly destination: ProxyEndpoint;
      },
): Buffer {
  if (header.command === 'unknown') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const { family, source, destination } = header;
  const protocol = family === 'tcp4' ? 'TCP4' : 'TCP6';
  return Buffer.from(
    `PROXY ${protocol} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`,
    'latin1',
  );
}

/** A v2 header: PROXY over TCP with the two endpoints, or LOCAL; TLVs appended as given. */
export function encodeProxyHeaderV2(
  header:
    | { readonly command: 'local' }
    | {
        readonly command: 'proxy';
        readonly source: ProxyEndpoint;
        readonly destination: ProxyEndpoint;
      },
  tlvs: readonly { readonly type: number; readonly value: Buffer }[] = [],
): Buffer {
  const tlvBytes = Buffer.concat(
    tlvs.map(({ type, value }) => {
      const head = Buffer.alloc(3);
      head[0] = type;
      head.writeUInt16BE(value.length, 1);
      return Buffer.concat([head, value]);
    }),
  );
  let familyTransport = 0x00;
  let addresses = Buffer.alloc(0);
  if (header.command === 'proxy') {
    const src = ipaddr.parse(header.source.address);
    const dst = ipaddr.parse(header.destination.address);
    const v4 = src instanceof ipaddr.IPv4 && dst instanceof ipaddr.IPv4;
    const bytesOf = (a: ipaddr.IPv4 | ipaddr.IPv6): number[] =>
      v4 || a instanceof ipaddr.IPv6 ? a.toByteArray() : a.toIPv4MappedAddress().toByteArray();
    familyTransport = v4 ? 0x11 : 0x21;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(header.source.port, 0);
    ports.writeUInt16BE(header.destination.port, 2);
    addresses = Buffer.concat([Buffer.from(bytesOf(src)), Buffer.from(bytesOf(dst)), ports]);
  }
  const fixed = Buffer.alloc(4);
  fixed[0] = header.command === 'proxy' ? 0x21 : 0x20;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(addresses.length + tlvBytes.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, addresses, tlvBytes]);
}
