// The client's address behind trusted proxies. A request that reaches onair through a reverse
// proxy or a load balancer comes from the proxy's address; only a proxy listed in
// server.trustedProxies may say who the client is, in the one header server.forwardedHeader
// names (X-Forwarded-For, or Forwarded of RFC 7239). Only one: a proxy that maintains one of
// them passes the other through as the client sent it.
// Hops are read right to left, as proxy-addr and nginx's realip module do: the rightmost hop not
// in the trusted list is the client, so a client cannot forge its address by sending the header
// itself (the proxy appends the address it saw).
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { AddressList, canonicalAddress } from './cidr.ts';

/** Longest forwarding header read; a longer one is ignored whole (the peer's address is used). */
export const MAX_FORWARDED_HEADER_BYTES = 8192;
/** Most hops read from the right of a forwarding header. */
export const MAX_FORWARDED_HOPS = 32;
/** What an unreadable hop resolves to: never loopback, never in an allow-list. */
export const UNKNOWN_ADDRESS = 'unknown';

/** The header that carries the client's address. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/** Resolves client addresses of HTTP requests and TCP connections against one trusted list. */
export class ClientAddresses {
  readonly #trusted: AddressList;
  readonly #header: ForwardedHeader;
  readonly #resolved = new WeakMap<IncomingMessage, string>();

  constructor(trustedProxies: string, header: ForwardedHeader = 'x-forwarded-for') {
    this.#trusted = AddressList.parse(trustedProxies);
    this.#header = header;
  }

  /** Whether `peer` (a socket's remote address) is a trusted proxy. */
  isTrusted(peer: string): boolean {
    return this.#trusted.matches(peer);
  }

  /** The client address of a request (resolved once per request, then remembered). */
  of(req: IncomingMessage): string {
    let address = this.#resolved.get(req);
    if (address === undefined) {
      address = resolveClientAddress(
        req.socket.remoteAddress ?? '',
        req.headers,
        this.#trusted,
        this.#header,
      );
      this.#resolved.set(req, address);
    }
    return address;
  }
}

/**
 * The client address of a request from `peer`: the peer itself unless it is trusted; otherwise
 * the rightmost hop of `header` that is not trusted, or the leftmost hop when every hop is
 * trusted. A malformed hop ends the walk with UNKNOWN_ADDRESS.
 */
export function resolveClientAddress(
  peer: string,
  headers: IncomingHttpHeaders,
  trusted: AddressList,
  header: ForwardedHeader = 'x-forwarded-for',
): string {
  const self = canonicalAddress(peer) ?? (peer === '' ? UNKNOWN_ADDRESS : peer);
  if (!trusted.matches(self)) return self;
  const text = headerText(header === 'forwarded' ? headers.forwarded : headers['x-forwarded-for']);
  const hops = header === 'forwarded' ? forwardedHops(text) : xForwardedForHops(text);
  let client = self;
  for (let i = hops.length - 1; i >= 0 && i >= hops.length - MAX_FORWARDED_HOPS; i--) {
    const hop = canonicalAddress(stripPort(hops[i] ?? ''));
    if (hop === null) return UNKNOWN_ADDRESS;
    client = hop;
    if (!trusted.matches(hop)) return hop;
  }
  return client;
}

/** A header's value (repeated headers joined as one list), or null when absent or too long. */
function headerText(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  return text.length > MAX_FORWARDED_HEADER_BYTES ? null : text;
}

/** The hops of an X-Forwarded-For value (`client, proxy1, proxy2`), left to right. */
function xForwardedForHops(text: string | null): string[] {
  if (text === null) return [];
  return text
    .split(',')
    .map((hop) => hop.trim())
    .filter((hop) => hop !== '');
}

/**
 * The `for=` hops of a Forwarded value (`for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"`),
 * left to right. An element without `for=` (or with an obfuscated or `unknown` node) yields an
 * empty hop, which does not parse as an address and so ends the walk.
 */
function forwardedHops(text: string | null): string[] {
  const hops: string[] = [];
  if (text === null) return hops;
  for (const element of text.split(',')) {
    let node = '';
    for (const pair of element.split(';')) {
      const equals = pair.indexOf('=');
      if (equals < 0) continue;
      if (pair.slice(0, equals).trim().toLowerCase() !== 'for') continue;
      node = pair.slice(equals + 1).trim();
      if (node.length >= 2 && node.startsWith('"') && node.endsWith('"')) node = node.slice(1, -1);
    }
    hops.push(node);
  }
  return hops;
}

/** `1.2.3.4:80` -> `1.2.3.4`, `[2001:db8::1]:443` -> `2001:db8::1`; bare addresses unchanged. */
function stripPort(hop: string): string {
  if (hop.startsWith('[')) {
    const close = hop.indexOf(']');
    return close < 0 ? '' : hop.slice(1, close);
  }
  const colon = hop.indexOf(':');
  // One colon: IPv4 with a port. More: a bare IPv6 address.
  return colon >= 0 && hop.indexOf(':', colon + 1) < 0 ? hop.slice(0, colon) : hop;
}
