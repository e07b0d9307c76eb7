import type { Redis } from 'ioredis';
import type { Keys } from '../keys/keys.ts';

/** Whose requests one counter counts: a client address, or a user. */
export type RateLimitScope = 'ip' | 'user';

export interface RateLimit {
  scope: RateLimitScope;
  /** Requests allowed per window; 0 turns the limit off. */
  limit: number;
  windowMs: number;
}

/**
 * Counts one request of `id` in Redis (see lua/rateLimit-1.lua), so every API process shares the
 * count. Resolves 0 when the request may pass, else the milliseconds until `id` may send again.
 * A limit of 0 never touches Redis. Rejects with ioredis's error when Redis does not answer.
 */
export async function takeRateLimit(redis: Redis, keys: Keys, rule: RateLimit, id: string): Promise<number> {
  if (rule.limit === 0) return 0;
  const waitMs = await redis.rateLimit(keys.rateLimit(rule.scope, id), rule.limit, rule.windowMs);
  return Math.max(0, waitMs);
}
