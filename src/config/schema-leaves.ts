// The leaves the configuration schema is built from: units, bounded numbers, booleans, hosts,
// ports, strings, CIDR lists, URLs and secrets, and the strict section with defaults. Each
// section file (schema.ts, recording-schema.ts) builds its keys from these.
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;

/** An integer leaf in [min, max] with a default and a description. */
export function int(options: {
  readonly min: number;
  readonly max: number;
  readonly default: number;
  readonly description: string;
}) {
  return z
    .int()
    .min(options.min)
    .max(options.max)
    .default(options.default)
    .describe(options.description);
}

/** A boolean leaf with a default and a description. */
export function bool(defaultValue: boolean, description: string) {
  return z.boolean().default(defaultValue).describe(description);
}

/** An address to listen on: an IPv4/IPv6 literal or a host name (no spaces, slashes, brackets). */
export function host(description: string) {
  return z
    .string()
    .min(1)
    .max(253)
    .regex(/^[\w.:%-]+$/, { error: 'must be a host name or an IP address, without brackets' })
    .default('0.0.0.0')
    .describe(description);
}

/** A TCP port; 0 asks the OS for a free one (tests use it). */
export function port(defaultValue: number, description: string) {
  return int({ min: 0, max: 65535, default: defaultValue, description });
}

/** A section: a strict object (unknown keys are errors) whose missing keys take their defaults. */
export function section<Shape extends z.core.$ZodLooseShape>(shape: Shape, description: string) {
  const object = z.strictObject(shape);
  // Every leaf has a default, so {} is valid input; TS cannot see that through the generic
  // (describeConfig() throws for a leaf without a default, and its tests run it).
  return object.prefault({} as z.input<typeof object>).describe(description);
}

/** A string leaf with a default and a description. */
export function str(
  defaultValue: string,
  description: string,
  options: { maxLength?: number } = {},
) {
  return z
    .string()
    .max(options.maxLength ?? 4096)
    .default(defaultValue)
    .describe(description);
}

/**
 * Bad entries of a comma-separated CIDR list (`10.0.0.0/8, ::1/128, 192.0.2.7`). Strict like
 * src/access/cidr.ts (its tests check both agree): dotted-quad IPv4 only, decimal prefixes.
 */
export function badCidrs(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .filter((entry) => !isAddressOrRange(entry));
}

function isAddressOrRange(entry: string): boolean {
  const [address = '', bits, ...rest] = entry.split('/');
  if (rest.length > 0) return false;
  if (bits !== undefined && !/^(?:0|[1-9][0-9]{0,2})$/.test(bits)) return false;
  const valid = address.includes(':')
    ? ipaddr.IPv6.isValid(address)
    : ipaddr.IPv4.isValidFourPartDecimal(address);
  if (!valid || bits === undefined) return valid;
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}

/** A comma-separated list of addresses and CIDR ranges; empty means none. */
export function cidrList(defaultValue: string, description: string) {
  return z
    .string()
    .max(16_384)
    .refine((text) => badCidrs(text).length === 0, {
      error: (issue) => `not an address or CIDR range: ${badCidrs(String(issue.input)).join(', ')}`,
    })
    .default(defaultValue)
    .describe(description);
}

/** An http(s) URL, or empty for "off". */
export function hookUrl(description: string) {
  return z
    .string()
    .max(2048)
    .refine((text) => text === '' || (/^https?:\/\/[^\s]+$/.test(text) && URL.canParse(text)), {
      error: 'must be an http:// or https:// URL, or empty',
    })
    .default('')
    .describe(description);
}

/** A secret: empty (then generated or derived, see the description) or at least 16 characters. */
export function secret(description: string) {
  return z
    .string()
    .max(1024)
    .refine((text) => text === '' || text.length >= 16, {
      error: 'must be at least 16 characters (or empty)',
    })
    .default('')
    .describe(description);
}
