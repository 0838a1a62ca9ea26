// The webhook signature: onair signs every hook request with HMAC-SHA256 over `<t>.<body>`;
// receivers check it with verifyWebhookSignature() (or the same few lines in their language).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. */
export const SIGNATURE_HEADER = 'X-Onair-Signature';
const MAX_SIGNATURE_HEADER_LENGTH = 4096;
const MAX_SIGNATURES = 8;

/** Hex HMAC-SHA256 of `${t}.${body}`. */
function hmacHex(secret: string, t: string, body: string): string {
  return createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
}

/**
 * Returns the X-Onair-Signature value for `body` sent at `timestampS` (unix seconds, floored):
 * `t=<seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 */
export function signWebhook(secret: string, timestampS: number, body: string): string {
  if (!Number.isFinite(timestampS) || timestampS < 0) {
    throw new RangeError('signWebhook: the timestamp must be a non-negative number of seconds');
  }
  const t = String(Math.floor(timestampS));
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/**
 * Checks an X-Onair-Signature header against the raw request body: a `v1` must be the HMAC of
 * `<t>.<body>` (compared in constant time) and `t` within `toleranceS` of `nowS`. An empty
 * secret, a malformed header or a stale timestamp gives false.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  body: string,
  nowS: number,
  toleranceS = 300,
): boolean {
  if (secret === '' || header.length > MAX_SIGNATURE_HEADER_LENGTH) return false;
  let t: string | undefined;
  const signatures: string[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq === -1) continue;
    const name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (name === 't') {
      if (t !== undefined || !/^\d{1,12}$/.test(value)) return false;
      t = value;
    } else if (name === 'v1' && signatures.length < MAX_SIGNATURES) {
      signatures.push(value.toLowerCase());
    }
  }
  if (t === undefined || signatures.length === 0) return false;
  if (!Number.isFinite(nowS) || !(toleranceS >= 0)) return false;
  if (Math.abs(nowS - Number(t)) > toleranceS) return false;
  const expected = Buffer.from(hmacHex(secret, t, body), 'utf8');
  let valid = false;
  for (const signature of signatures) {
    const given = Buffer.from(signature, 'utf8');
    if (given.length === expected.length && timingSafeEqual(given, expected)) valid = true;
  }
  return valid;
}
