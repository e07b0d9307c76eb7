import { hash, timingSafeEqual } from 'node:crypto';

// crypto.hash, one call instead of a Hash object each: a keyed order takes two digests, and the
// sold-out storm tens of thousands of keyed orders a second.

/** SHA-256 of a text. */
export const sha256 = (text: string): Buffer => hash('sha256', text, 'buffer');

/** SHA-256 in base64url: `[A-Za-z0-9_-]` only, safe inside a Redis key. */
export const sha256Url = (text: string): string => hash('sha256', text, 'base64url');

/**
 * A check of a secret in constant time: digests of equal length are compared, so the time taken
 * tells nothing of how much of the secret matched, nor of its length.
 */
export function secretMatcher(secret: string): (given: string) => boolean {
  const expected = sha256(secret);
  return (given) => timingSafeEqual(sha256(given), expected);
}

/** The token of an `Authorization: Bearer <token>` header; undefined for any other header, or none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
}
