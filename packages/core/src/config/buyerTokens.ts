import { createPublicKey, type KeyObject } from 'node:crypto';
import { z } from 'zod';

/** The signature algorithms a buyer token may use: what the configured key is for, never what the token says. */
export type BuyerTokenAlgorithm = 'HS256' | 'RS256' | 'ES256';

/**
 * How the API checks `Authorization: Bearer <JWT>` on the order routes (BUYER_TOKEN_*), or undefined:
 * no buyer tokens, the body's userId is the buyer (behind the shop's authenticating gateway).
 */
export type BuyerTokens =
  | {
      algorithm: BuyerTokenAlgorithm;
      /** The HS256 secret, or the PEM of the RS256/ES256 public key (checked at start-up). */
      key: string;
      issuer: string | undefined;
      audience: string | undefined;
      /** BUYER_TOKEN_MAX_AGE_S: the longest a token lives, from its `iat` and as its `exp` − `iat`. */
      maxAgeS: number;
    }
  | undefined;

/** The algorithm a public key verifies, or a sentence saying why it cannot be used. */
function algorithmOf(key: KeyObject): { algorithm: 'RS256' | 'ES256' } | { problem: string } {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    // jose refuses RS256 with a shorter modulus; say so at start-up, not on the first order.
    return (details.modulusLength ?? 0) >= 2048
      ? { algorithm: 'RS256' }
      : { problem: 'an RSA key must have at least 2048 bits' };
  }
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') return { algorithm: 'ES256' };
  return { problem: 'must be an RSA (RS256) or a P-256 EC (ES256) public key' };
}

/**
 * BUYER_TOKEN_PUBLIC_KEY: a PEM public key (SPKI), with real newlines or `\n` escapes (one-line env
 * files). Parsed here, so a bad key stops start-up instead of refusing every buyer.
 */
export const buyerTokenPublicKey = z.string().transform((value, ctx) => {
  const pem = value.replace(/\\n/g, '\n');
  // A private key would parse (Node derives its public half) but has no business in the API's environment.
  if (/PRIVATE KEY/.test(pem)) {
    ctx.addIssue('give the public key: this is a private key');
    return z.NEVER;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    ctx.addIssue('is not a PEM public key (-----BEGIN PUBLIC KEY----- ...)');
    return z.NEVER;
  }
  const usable = algorithmOf(key);
  if ('problem' in usable) {
    ctx.addIssue(usable.problem);
    return z.NEVER;
  }
  return { algorithm: usable.algorithm, pem };
});

/** The BUYER_TOKEN_* variables as loadConfig has parsed them. */
export interface BuyerTokenEnv {
  BUYER_TOKEN_SECRET?: string | undefined;
  BUYER_TOKEN_PUBLIC_KEY?: { algorithm: 'RS256' | 'ES256'; pem: string } | undefined;
  BUYER_TOKEN_ISSUER?: string | undefined;
  BUYER_TOKEN_AUDIENCE?: string | undefined;
  BUYER_TOKEN_MAX_AGE_S: number;
}

/** The settings of `buyerTokens` from the parsed variables (which loadConfig has checked for conflicts). */
export function buyerTokensOf(env: BuyerTokenEnv): BuyerTokens {
  const claims = {
    issuer: env.BUYER_TOKEN_ISSUER,
    audience: env.BUYER_TOKEN_AUDIENCE,
    maxAgeS: env.BUYER_TOKEN_MAX_AGE_S,
  };
  if (env.BUYER_TOKEN_SECRET !== undefined) return { algorithm: 'HS256', key: env.BUYER_TOKEN_SECRET, ...claims };
  if (env.BUYER_TOKEN_PUBLIC_KEY !== undefined)
    return { algorithm: env.BUYER_TOKEN_PUBLIC_KEY.algorithm, key: env.BUYER_TOKEN_PUBLIC_KEY.pem, ...claims };
  return undefined;
}
