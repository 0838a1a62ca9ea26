// JWT playback tokens (jose): an HMAC secret and/or a remote JWKS, an explicit algorithm
// allow-list, exp (required by default)/nbf/iss/aud, and a stream claim (`sub` or `streams`)
// naming the stream path.
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';

/** The result of JwtVerifier.verify(). */
export type JwtCheck =
  | { ok: true; expiresAtS: number | null }
  | {
      ok: false;
      reason: 'malformed' | 'expired' | 'exp-required' | 'signature' | 'claims' | 'stream';
    };

/** Verifies JWT playback tokens for a stream path. */
export interface JwtVerifier {
  /**
   * Verifies the token for the stream path. Never rejects: every failure is a reason
   * ('signature' also covers a JWKS that cannot be fetched).
   */
  verify(token: string, path: string): Promise<JwtCheck>;
}

/** Options of createJwtVerifier(); empty strings count as not set. */
export interface JwtVerifierOptions {
  /** HMAC secret: allows the HS* algorithms of the list. */
  secret?: string;
  /** JWKS URL: allows the asymmetric algorithms of the list. */
  jwksUrl?: string;
  /** Algorithm allow-list (`none` and unknown names are ignored). */
  algorithms: string[];
  /** Required `iss`. */
  issuer?: string;
  /** Required `aud`. */
  audience?: string;
  /**
   * Whether a token without `exp` is refused (default true): one that never expires is a key
   * that cannot be taken back short of changing the signing key.
   */
  requireExp?: boolean;
  /** JWKS fetch timeout (default 3000 ms). */
  timeoutMs?: number;
}

/** Longest token looked at; longer ones are malformed. */
const MAX_JWT_LENGTH = 8192;
const HMAC_ALGORITHMS = new Set(['HS256', 'HS384', 'HS512']);
const ASYMMETRIC_ALGORITHMS = new Set([
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a token looks like a JWT (three base64url parts, the header starting with `eyJ`). */
export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_JWT_LENGTH && JWT_SHAPE.test(token);
}

/**
 * Whether a claim value grants the stream path: the path itself, or a pattern `prefix/*` that
 * covers every path below `prefix/` (`live/*` covers `live/cam1` and `live/a/b`, not `live`).
 */
function grants(value: unknown, path: string): boolean {
  if (typeof value !== 'string' || value === '') return false;
  if (value === path) return true;
  if (!value.endsWith('/*')) return false;
  const prefix = value.slice(0, -1);
  return prefix.length > 1 && path.length > prefix.length && path.startsWith(prefix);
}

/** Whether the payload's `sub` or `streams` claim grants the stream path. */
function grantsStream(payload: JWTPayload, path: string): boolean {
  if (grants(payload.sub, path)) return true;
  const streams = payload['streams'];
  return Array.isArray(streams) && streams.some((value: unknown) => grants(value, path));
}

/** Maps a jose error (or anything thrown while verifying) to a reason. */
function reasonOf(
  error: unknown,
): 'malformed' | 'expired' | 'exp-required' | 'signature' | 'claims' {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.claim === 'exp' && error.reason === 'missing' ? 'exp-required' : 'claims';
  }
  if (
    error instanceof errors.JWSInvalid ||
    error instanceof errors.JWTInvalid ||
    error instanceof errors.JOSENotSupported
  ) {
    return 'malformed';
  }
  return 'signature';
}

/**
 * Makes a JWT verifier, or returns null when neither a secret nor a JWKS URL is set. With a
 * secret only the HS* algorithms of the list are accepted, with a JWKS only the asymmetric ones
 * (so an HS256 token "signed" with a public key is refused); `none` never. exp and nbf are
 * checked with 5 s of tolerance, iss and aud when set; a token without exp is refused
 * ('exp-required') unless `requireExp` is false. Throws when no algorithm of the list fits the
 * configured keys.
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier | null {
  const secret = options.secret !== undefined && options.secret !== '' ? options.secret : null;
  const jwksUrl = options.jwksUrl !== undefined && options.jwksUrl !== '' ? options.jwksUrl : null;
  if (secret === null && jwksUrl === null) return null;

  const algorithms = [
    ...new Set(
      options.algorithms.filter(
        (alg) =>
          (secret !== null && HMAC_ALGORITHMS.has(alg)) ||
          (jwksUrl !== null && ASYMMETRIC_ALGORITHMS.has(alg)),
      ),
    ),
  ];
  if (algorithms.length === 0) {
    throw new Error(
      `no JWT algorithm fits the configured keys: a secret needs one of HS256, HS384, HS512, a JWKS URL an asymmetric one (RS256, ES256, EdDSA...); got ${JSON.stringify(options.algorithms.join(','))}`,
    );
  }

  const secretKey = secret === null ? null : new TextEncoder().encode(secret);
  const jwks =
    jwksUrl === null
      ? null
      : createRemoteJWKSet(new URL(jwksUrl), {
          timeoutDuration: options.timeoutMs ?? 3000,
          cooldownDuration: 30_000,
          cacheMaxAge: 600_000,
        });

  // The allow-list is checked by jose before the key is looked up; the key source follows the
  // algorithm family, so a key of one family never verifies a token of the other.
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (HMAC_ALGORITHMS.has(header.alg)) {
      if (secretKey !== null) return secretKey;
    } else if (jwks !== null) {
      return jwks(header, token);
    }
    throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');
  };

  const verifyOptions: JWTVerifyOptions = { algorithms, clockTolerance: 5 };
  if (options.requireExp !== false) verifyOptions.requiredClaims = ['exp'];
  if (options.issuer !== undefined && options.issuer !== '') verifyOptions.issuer = options.issuer;
  if (options.audience !== undefined && options.audience !== '') {
    verifyOptions.audience = options.audience;
  }

  return {
    async verify(token: string, path: string): Promise<JwtCheck> {
      if (!looksLikeJwt(token)) {
        return { ok: false, reason: 'malformed' };
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, verifyOptions));
      } catch (error) {
        return { ok: false, reason: reasonOf(error) };
      }
      if (!grantsStream(payload, path)) return { ok: false, reason: 'stream' };
      return { ok: true, expiresAtS: typeof payload.exp === 'number' ? payload.exp : null };
    },
  };
}
