// One key per purpose, derived from the auth secret with HKDF-SHA256 (RFC 5869): play/publish
// tokens, HLS media signatures and webhook signatures each have their own, so whoever holds one
// (a webhook receiver holds the hooks key) cannot forge what another signs (tokens).
import { hkdfSync } from 'node:crypto';

/** What a derived key signs. */
export type KeyPurpose = 'token' | 'hls-media' | 'hooks' | 'cluster';

/**
 * The HKDF `info` label of each purpose. Versioned: changing a derivation means a new label, so
 * an old and a new key never collide.
 */
export const KEY_LABELS: Readonly<Record<KeyPurpose, string>> = {
  token: 'onair/v1/token',
  'hls-media': 'onair/v1/hls-media',
  hooks: 'onair/v1/hooks',
  cluster: 'onair/v1/cluster',
};

/** Bytes of key material per purpose (the SHA-256 block of HMAC-SHA256 takes up to 64). */
const KEY_BYTES = 32;

/** The derived keys of one secret. */
export interface AccessKeys {
  /** Signs and verifies play and publish tokens (`EXPIRY.HMAC[.CIDR]`). */
  readonly token: string;
  /** Signs and verifies the `hs=` of HLS media URIs. */
  readonly hlsMedia: string;
  /** Signs webhook requests when `hooks.secret` is empty (`onair token hooks-key` prints it). */
  readonly hooks: string;
  /** Signs and verifies the entries of the cluster's stream map (every node shares it). */
  readonly cluster: string;
}

/**
 * The key of `purpose`: HKDF-SHA256 of the secret's UTF-8 bytes, empty salt, info the label of
 * KEY_LABELS, 32 bytes, written as base64url (43 characters). The HMACs use that text as their
 * key, so whoever is given it (a webhook receiver, a backend minting tokens) uses it as is, like
 * any shared secret, in any language; the same in a shell:
 * `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt key:"$SECRET" -kdfopt info:onair/v1/token -binary HKDF | openssl base64 -A | tr '+/' '-_' | tr -d '='`.
 * Throws a RangeError on an empty secret (there is always one: configured or generated).
 */
export function deriveKey(secret: string, purpose: KeyPurpose): string {
  if (secret === '') throw new RangeError('a key cannot be derived from an empty secret');
  const bytes = hkdfSync('sha256', secret, '', KEY_LABELS[purpose], KEY_BYTES);
  return Buffer.from(bytes).toString('base64url');
}

/** Every derived key of `secret` (see deriveKey). */
export function deriveKeys(secret: string): AccessKeys {
  return {
    token: deriveKey(secret, 'token'),
    hlsMedia: deriveKey(secret, 'hls-media'),
    hooks: deriveKey(secret, 'hooks'),
    cluster: deriveKey(secret, 'cluster'),
  };
}
