// Signed, expiring play/publish tokens (HMAC-SHA256) and the shared short-lived signatures of
// HLS media URLs, each keyed with its own derived key (keys.ts). A platform mints tokens in its
// own backend with the token key: see signToken() for the recipe.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { cidrContains, isValidCidr } from './cidr.ts';

/** What a token allows: playing a stream or publishing to it. */
export type TokenPurpose = 'play' | 'publish';

/** The result of verifyToken(). */
export type TokenCheck =
  | { ok: true; expiresAtS: number }
  | { ok: false; reason: 'malformed' | 'expired' | 'signature' | 'ip' };

/** Longest token accepted; anything longer is malformed before any parsing. */
export const MAX_TOKEN_LENGTH = 512;
/** Largest expiry a token can carry (12 digits, the format's limit). */
const MAX_EXPIRES_AT_S = 999_999_999_999;

const TOKEN = /^([0-9]{1,12})\.([0-9a-f]{64})(?:\.([^\s]{1,64}))?$/;
const HLS_ACCESS = /^([0-9]{1,12})\.([0-9a-f]{64})$/;

function hmac(secret: string, message: string): Buffer {
  return createHmac('sha256', secret).update(message, 'utf8').digest();
}

function checkExpiry(expiresAtS: number): void {
  if (!Number.isSafeInteger(expiresAtS) || expiresAtS < 0 || expiresAtS > MAX_EXPIRES_AT_S) {
    throw new Error('expiresAtS must be an integer number of Unix seconds (0..999999999999)');
  }
}

function checkPath(path: string): void {
  if (path.includes('\n')) throw new Error('a stream path to sign must not contain a newline');
}

/** Constant-time comparison of a digest with the 64 lowercase hex digits of a token. */
function digestEquals(expected: Buffer, hex: string): boolean {
  const given = Buffer.from(hex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * Signs a token: `${expiresAtS}.${hex}`, or `${expiresAtS}.${hex}.${cidr}` when it is bound to
 * an address range (the CIDR as written, e.g. `203.0.113.0/24`; a bare address means /32 or
 * /128). hex is the lowercase HMAC-SHA256 with the key (the server's token key, see keys.ts) of
 * `${purpose}\n${path}\n${expiresAtS}\n${cidr ?? ''}`. The same in a shell:
 * `printf 'play\n%s\n%s\n%s' "live/x" "$exp" "" | openssl dgst -sha256 -hmac "$TOKEN_KEY" -r | cut -d' ' -f1`.
 * Throws on an expiry that is not integer seconds, an invalid CIDR or a path with a newline.
 */
export function signToken(
  secret: string,
  options: { purpose: TokenPurpose; path: string; expiresAtS: number; cidr?: string },
): string {
  const { purpose, path, expiresAtS, cidr } = options;
  checkExpiry(expiresAtS);
  checkPath(path);
  if (cidr !== undefined && (!isValidCidr(cidr) || !/^[^\s]{1,64}$/.test(cidr))) {
    throw new Error('the token CIDR must be an address or an address/bits range');
  }
  const hex = hmac(secret, `${purpose}\n${path}\n${expiresAtS}\n${cidr ?? ''}`).toString('hex');
  return cidr === undefined ? `${expiresAtS}.${hex}` : `${expiresAtS}.${hex}.${cidr}`;
}

/**
 * Verifies a token for a purpose, stream path and client address at a time. The signature is
 * checked first (constant time), then the expiry (`expiresAtS <= nowS` is expired), then the
 * client address against the token's CIDR. A token for another path or purpose fails with
 * 'signature'. Never throws: anything unparseable (or longer than 512 characters) is 'malformed'.
 */
export function verifyToken(
  secret: string,
  token: string,
  check: { purpose: TokenPurpose; path: string; ip: string; nowS: number },
): TokenCheck {
  if (token.length > MAX_TOKEN_LENGTH) {
    return { ok: false, reason: 'malformed' };
  }
  const match = TOKEN.exec(token);
  if (match === null) return { ok: false, reason: 'malformed' };
  const [, expText = '', hex = '', cidr] = match;
  if (cidr !== undefined && !isValidCidr(cidr)) return { ok: false, reason: 'malformed' };
  const expiresAtS = Number(expText);
  const expected = hmac(secret, `${check.purpose}\n${check.path}\n${expText}\n${cidr ?? ''}`);
  if (!digestEquals(expected, hex)) return { ok: false, reason: 'signature' };
  if (!(expiresAtS > check.nowS)) return { ok: false, reason: 'expired' };
  if (cidr !== undefined && !cidrContains(cidr, check.ip)) return { ok: false, reason: 'ip' };
  return { ok: true, expiresAtS };
}

/**
 * Signs access to the HLS media of a stream (parts, segments, init) until expiresAtS:
 * `${expiresAtS}.${hex}`, hex the HMAC-SHA256 of `hls\n${path}\n${expiresAtS}`. The value is the
 * same for every viewer of the stream, so a playlist carrying it is still rendered once.
 * Throws on an expiry that is not integer seconds or a path with a newline.
 */
export function signHlsAccess(secret: string, path: string, expiresAtS: number): string {
  checkExpiry(expiresAtS);
  checkPath(path);
  return `${expiresAtS}.${hmac(secret, `hls\n${path}\n${expiresAtS}`).toString('hex')}`;
}

/** Whether an HLS media signature is valid for the stream path and not expired. Never throws. */
export function verifyHlsAccess(
  secret: string,
  value: string,
  path: string,
  nowS: number,
): boolean {
  if (value.length > MAX_TOKEN_LENGTH) return false;
  const match = HLS_ACCESS.exec(value);
  if (match === null) return false;
  const [, expText = '', hex = ''] = match;
  const signed = digestEquals(hmac(secret, `hls\n${path}\n${expText}`), hex);
  return signed && Number(expText) > nowS;
}

/**
 * The expiry to sign HLS media URLs with at nowS: the end of the current time bucket plus the
 * lifetime (`Math.ceil(nowS / bucketS) * bucketS + lifetimeS`). It changes once per bucket, so
 * every viewer within a bucket gets the same URLs, each valid for at least lifetimeS.
 */
export function hlsAccessExpiry(nowS: number, bucketS = 60, lifetimeS = 180): number {
  return Math.ceil(nowS / bucketS) * bucketS + lifetimeS;
}
