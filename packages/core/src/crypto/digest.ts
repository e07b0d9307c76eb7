import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of a text. */
export const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** SHA-256 in base64url: `[A-Za-z0-9_-]` only, safe inside a Redis key. */
export const sha256Url = (text: string): string => sha256(text).toString('base64url');

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
