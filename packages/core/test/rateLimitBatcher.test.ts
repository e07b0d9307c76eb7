import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RateLimitBatcher, takeRateLimit } from '../src/index.ts';
import { uniqueKeys, useRedis } from './helpers.ts';

describe('rate limits counted in batches', () => {
  const ctx = useRedis();

  it('counts the requests that arrive together in one call, as one call each would', async () => {
    const keys = uniqueKeys();
    const rule = { scope: 'ip', limit: 3, windowMs: 5000 } as const;
    const batcher = new RateLimitBatcher({ redis: ctx.redis, keys, rule, maxBatch: 64 });
    assert.equal((await takeRateLimit(ctx.redis, keys, rule, '192.0.2.1')).kind, 'allowed'); // one spent before
    // EVAL or EVALSHA (the first call of a script is an EVAL).
    const scripts = async () => {
      const info = await ctx.redis.info('commandstats');
      return [...info.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const before = await scripts();
    const replies = await Promise.all([
      ...Array.from({ length: 4 }, () => batcher.take('192.0.2.1')),
      batcher.take('192.0.2.2'),
    ]);
    assert.equal((await scripts()) - before, 1, 'one script call for the batch');
    assert.deepEqual(
      replies.map((r) => r.kind),
      ['allowed', 'allowed', 'refused', 'refused', 'allowed'],
    );
    const refused = replies[2]!;
    assert.ok(refused.kind === 'refused' && refused.retryInMs > 0 && refused.retryInMs <= 5000);
    const pttl = await ctx.redis.pttl(keys.rateLimit('ip', '192.0.2.2'));
    assert.ok(pttl > 0 && pttl <= 5000, `the counter must expire with the window: pttl ${pttl}`);
  });
});
