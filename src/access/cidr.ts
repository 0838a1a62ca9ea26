// Address rules: IP / CIDR lists, loopback checks and address truncation, on top of ipaddr.js.
// IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, as Node reports them on dual-stack sockets) are IPv4.
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = readonly [Address, number];

const PREFIX_LENGTH = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses one address strictly: IPv4 only in four-part decimal form (ipaddr.js would also read
 * `010.1.2.3` as octal or `10` as a 32-bit number), IPv6 in any standard form. An IPv4-mapped
 * IPv6 address becomes its IPv4 address. Returns null for anything else.
 */
function parseAddress(text: string): Address | null {
  if (text.length === 0 || text.length > 64) return null;
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
    if (!text.includes(':') || !ipaddr.IPv6.isValid(text)) return null;
    const address = ipaddr.IPv6.parse(text);
    return address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
  } catch {
    return null;
  }
}

/**
 * Parses `address/bits` or a bare address (/32 or /128). An IPv4-mapped IPv6 range of at least
 * /96 (`::ffff:10.0.0.0/104`) becomes the IPv4 range it covers. Returns null when invalid.
 */
function parseRange(text: string): Range | null {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const bitsText = slash === -1 ? null : text.slice(slash + 1);
  if (addressText.length === 0 || addressText.length > 64) return null;
  let address: Address;
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(addressText)) {
      address = ipaddr.IPv4.parse(addressText);
    } else if (addressText.includes(':') && ipaddr.IPv6.isValid(addressText)) {
      address = ipaddr.IPv6.parse(addressText);
    } else {
      return null;
    }
  } catch {
    return null;
  }
  const maxBits = address instanceof ipaddr.IPv4 ? 32 : 128;
  let bits = maxBits;
  if (bitsText !== null) {
    if (!PREFIX_LENGTH.test(bitsText)) return null;
    bits = Number(bitsText);
    if (bits > maxBits) return null;
  }
  if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && bits >= 96) {
    return [address.toIPv4Address(), bits - 96];
  }
  return [address, bits];
}

/** Whether an (already normalized) address lies in a range, across IPv4 and IPv6. */
function rangeContains(range: Range, address: Address): boolean {
  const [network, bits] = range;
  if (network instanceof ipaddr.IPv4) {
    return address instanceof ipaddr.IPv4 && address.match(network, bits);
  }
  // An IPv6 range such as ::/0 or ::ffff:0:0/95 can cover IPv4 clients in their mapped form.
  const candidate = address instanceof ipaddr.IPv4 ? address.toIPv4MappedAddress() : address;
  return candidate.match(network, bits);
}

/** A list of addresses and CIDR ranges (`10.0.0.0/8, ::1, 192.0.2.7`) to match clients against. */
export class AddressList {
  private readonly ranges: readonly Range[];

  private constructor(ranges: readonly Range[]) {
    this.ranges = ranges;
  }

  /**
   * Parses a comma-separated list of addresses and CIDR ranges; spaces around entries are
   * ignored and an empty (or blank) text is the empty list. Throws an Error naming every bad
   * entry.
   */
  static parse(text: string): AddressList {
    const ranges: Range[] = [];
    const bad: string[] = [];
    for (const raw of text.split(',')) {
      const entry = raw.trim();
      if (entry === '') continue;
      const range = parseRange(entry);
      if (range === null) bad.push(JSON.stringify(entry));
      else ranges.push(range);
    }
    if (bad.length > 0) {
      throw new Error(`not an address or CIDR range: ${bad.join(', ')}`);
    }
    return new AddressList(ranges);
  }

  /** Whether the address is in one of the ranges; false for an unparseable address. */
  matches(ip: string): boolean {
    if (this.ranges.length === 0) return false;
    const address = parseAddress(ip);
    if (address === null) return false;
    return this.ranges.some((range) => rangeContains(range, address));
  }

  /** True when the list has no entries (so it matches nothing). */
  get empty(): boolean {
    return this.ranges.length === 0;
  }
}

/**
 * The canonical text of an address (`::ffff:10.1.2.3` becomes `10.1.2.3`, IPv6 compressed), or
 * null when it is not one address in the strict forms parseAddress() takes.
 */
export function canonicalAddress(text: string): string | null {
  return parseAddress(text)?.toString() ?? null;
}

/** Whether an address is loopback: 127.0.0.0/8, ::1, or ::ffff:127.x.x.x. */
export function isLoopback(ip: string): boolean {
  const address = parseAddress(ip);
  return address !== null && address.range() === 'loopback';
}

/** Whether text is an address or an `address/bits` CIDR range (what a token may carry). */
export function isValidCidr(text: string): boolean {
  return parseRange(text) !== null;
}

/** Whether the CIDR range (or bare address) contains the address; false if either is invalid. */
export function cidrContains(cidr: string, ip: string): boolean {
  const range = parseRange(cidr);
  const address = parseAddress(ip);
  return range !== null && address !== null && rangeContains(range, address);
}

/**
 * The network of an address for analytics: IPv4 to its /24 (`203.0.113.0`), IPv6 to its /48
 * (`2001:db8:1::`). An IPv4-mapped address is treated as IPv4. Returns '' when unparseable.
 */
export function truncateAddress(ip: string): string {
  const address = parseAddress(ip);
  if (address === null) return '';
  if (address instanceof ipaddr.IPv4) {
    const [a = 0, b = 0, c = 0] = address.octets;
    return new ipaddr.IPv4([a, b, c, 0]).toString();
  }
  const [p0 = 0, p1 = 0, p2 = 0] = address.parts;
  return new ipaddr.IPv6([p0, p1, p2, 0, 0, 0, 0, 0]).toString();
}
