import type { RedisClient } from '../redis/connect.ts';
import { AppError } from '../errors/appError.ts';
import type { Keys } from '../keys/keys.ts';
import { decodeRateLimit, type RateLimitReply } from '../redis/replies.ts';

/** Whose requests one counter counts: a client address, or a user. */
export type RateLimitScope = 'ip' | 'user';

export interface RateLimit {
  scope: RateLimitScope;
  /** Requests allowed per window; 0 turns the limit off. */
  limit: number;
  windowMs: number;
}

const OFF: RateLimitReply = Object.freeze({ kind: 'allowed' });

/**
 * Counts one request of `id` in Redis (see lua/rateLimit-1.lua), so every API process shares the
 * count: allowed, or refused with the milliseconds until `id` may send again. A limit of 0 never
 * touches Redis. Rejects with ioredis's error when Redis does not answer.
 */
export async function takeRateLimit(
  redis: RedisClient,
  keys: Keys,
  rule: RateLimit,
  id: string,
): Promise<RateLimitReply> {
  if (rule.limit === 0) return OFF;
  return decodeRateLimit(await redis.rateLimit([keys.rateLimit(rule.scope, id), rule.limit, rule.windowMs]));
}

const whose = { ip: 'this client address', user: 'this user' } as const;

/** `429 rate_limited` for a request over `rule`, saying when to retry (the caller sends it as Retry-After). */
export function rateLimitedError(rule: RateLimit, retryAfterS: number): AppError {
  return new AppError(
    'rate_limited',
    `too many requests from ${whose[rule.scope]}: at most ${rule.limit} per ${rule.windowMs} ms, retry in ${retryAfterS} s`,
  );
}
