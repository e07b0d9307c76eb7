import type { Redis } from 'ioredis';
import type { Keys } from '../keys/keys.ts';
import { decodeRateLimits, type RateLimitReply } from '../redis/replies.ts';
import type { RateLimit } from './rateLimiter.ts';
import { GroupCommit } from '../run/groupCommit.ts';

interface Waiting {
  id: string;
  resolve: (reply: RateLimitReply) => void;
  reject: (error: unknown) => void;
}

const OFF: RateLimitReply = Object.freeze({ kind: 'allowed' });
const ALLOWED: RateLimitReply = Object.freeze({ kind: 'allowed' });

/**
 * `takeRateLimit` for a stream of requests: the requests that arrive while a batch is being counted
 * go together in the next, one `rateLimits-n.lua` call for the batch (the same counts and windows as a
 * call each, in arrival order). As the accept batch: no timer, so a lone request goes at once.
 * Rejects with ioredis's error when Redis does not answer.
 */
export class RateLimitBatcher {
  private readonly batches: GroupCommit<Waiting>;

  constructor(private readonly deps: { redis: Redis; keys: Keys; rule: RateLimit; maxBatch: number }) {
    this.batches = new GroupCommit(deps.maxBatch, (batch) => this.count(batch));
  }

  take(id: string): Promise<RateLimitReply> {
    if (this.deps.rule.limit === 0) return Promise.resolve(OFF);
    return new Promise((resolve, reject) => {
      this.batches.push({ id, resolve, reject });
    });
  }

  private async count(batch: Waiting[]): Promise<void> {
    const { redis, keys, rule } = this.deps;
    const byId = new Map<string, Waiting[]>();
    for (const waiting of batch) {
      const same = byId.get(waiting.id);
      if (same) same.push(waiting);
      else byId.set(waiting.id, [waiting]);
    }
    const groups = [...byId.values()];
    try {
      const counts = decodeRateLimits(
        await redis.rateLimits([
          groups.length,
          ...groups.map((same) => keys.rateLimit(rule.scope, same[0]!.id)),
          rule.limit,
          rule.windowMs,
          ...groups.map((same) => same.length),
        ]),
        groups.length,
      );
      groups.forEach((same, i) => {
        const { count, ttlMs } = counts[i]!;
        // The counter's requests before this batch, then these in arrival order.
        const before = count - same.length;
        same.forEach((waiting, j) =>
          waiting.resolve(before + j + 1 <= rule.limit ? ALLOWED : { kind: 'refused', retryInMs: ttlMs }),
        );
      });
    } catch (error) {
      for (const waiting of batch) waiting.reject(error);
    }
  }
}
