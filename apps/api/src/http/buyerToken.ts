import { createPublicKey } from 'node:crypto';
import { errors, jwtVerify, type JWTVerifyOptions, type KeyObject } from 'jose';
import { AppError, idSchema, type BuyerTokens } from '@flashline/core';

/** Checks a buyer token (a JWT) and returns the buyer it names, its `sub`; `401 unauthorized` otherwise. */
export type BuyerTokenVerifier = (token: string) => Promise<string>;

/**
 * How far the shop's clock (which signs `iat` and `exp`) may be from this one: a token issued a few
 * seconds "in the future" by a clock ahead is still accepted, one issued a day ahead is not.
 */
const CLOCK_TOLERANCE_S = 30;

/**
 * Built once from the config: the key is parsed here, not per request. Only the configured
 * algorithm is accepted (never the token's own `alg` choice: no `none`, no HS256 signed with a public
 * key); `exp`, `iat` and `sub` are required, and `iss` / `aud` must match when BUYER_TOKEN_ISSUER /
 * _AUDIENCE are set. A token lives at most BUYER_TOKEN_MAX_AGE_S: refused once older (from its
 * `iat`), and refused outright when its `exp` − `iat` is longer (a token signed for a century is a
 * leak waiting to happen, however fresh). `iat` must not be ahead of the clock (beyond the tolerance).
 */
export function buyerTokenVerifier(settings: NonNullable<BuyerTokens>): BuyerTokenVerifier {
  const key: Uint8Array | KeyObject =
    settings.algorithm === 'HS256' ? new TextEncoder().encode(settings.key) : createPublicKey(settings.key);
  const options: JWTVerifyOptions = {
    algorithms: [settings.algorithm],
    requiredClaims: ['exp', 'iat', 'sub'],
    maxTokenAge: settings.maxAgeS,
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(settings.issuer === undefined ? {} : { issuer: settings.issuer }),
    ...(settings.audience === undefined ? {} : { audience: settings.audience }),
  };
  return async (token) => {
    let sub: unknown;
    let lifetimeS: number;
    try {
      const { payload } = await jwtVerify(token, key, options);
      sub = payload.sub;
      // Both are numbers here: jose checked them (required claims, NumericDate).
      lifetimeS = payload.exp! - payload.iat!;
    } catch (error) {
      // jose's errors are the token's fault (bad signature, expired, wrong claim, malformed); anything else is ours.
      if (error instanceof errors.JOSEError) throw new AppError('unauthorized', refusal(error), { cause: error });
      throw error;
    }
    if (lifetimeS > settings.maxAgeS)
      throw new AppError('unauthorized', "the buyer token's exp is further from its iat than BUYER_TOKEN_MAX_AGE_S");
    // The buyer id goes into Redis keys and orders: it must be a valid userId, as a body's would be.
    const buyer = idSchema.safeParse(sub);
    if (!buyer.success) throw new AppError('unauthorized', "the buyer token's sub is not a valid user id");
    return buyer.data;
  };
}

/** Why a token was refused, in words a client developer can act on; no detail of the key. */
function refusal(error: InstanceType<typeof errors.JOSEError>): string {
  if (error instanceof errors.JWTExpired)
    return error.claim === 'iat'
      ? 'the buyer token was issued longer ago than BUYER_TOKEN_MAX_AGE_S'
      : 'the buyer token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `the buyer token's ${error.claim} claim is not accepted`;
  return 'the buyer token is not valid';
}
