import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { takeRateLimit, type Keys, type RateLimit } from '../src/index.ts';
import { uniqueKeys, useRedis } from './helpers.ts';

describe('rate limiter', () => {
  const ctx = useRedis();
  // The milliseconds to wait before the next request (0: this one passed).
  const waitOf = async (keys: Keys, rule: RateLimit, id: string) => {
    const reply = await takeRateLimit(ctx.redis, keys, rule, id);
    return reply.kind === 'allowed' ? 0 : reply.retryInMs;
  };

  it('lets `limit` requests pass per window, then answers the milliseconds left', async () => {
    const keys = uniqueKeys();
    const rule = { scope: 'user', limit: 3, windowMs: 5000 } as const;
    for (let i = 0; i < 3; i++) assert.equal(await waitOf(keys, rule, 'alice'), 0);
    const waitMs = await waitOf(keys, rule, 'alice');
    assert.ok(waitMs > 0 && waitMs <= 5000, `wait ${waitMs}`);
    assert.equal(await waitOf(keys, rule, 'bob'), 0, 'another id has its own counter');
    const pttl = await ctx.redis.pttl(keys.rateLimit('user', 'alice'));
    assert.ok(pttl > 0 && pttl <= 5000, `the counter must expire with the window: pttl ${pttl}`);
  });

  it('starts a new window once the last one has passed', async () => {
    const keys = uniqueKeys();
    const rule = { scope: 'ip', limit: 1, windowMs: 200 } as const;
    assert.equal(await waitOf(keys, rule, '192.0.2.1'), 0);
    assert.ok((await waitOf(keys, rule, '192.0.2.1')) > 0);
    await sleep(250);
    assert.equal(await waitOf(keys, rule, '192.0.2.1'), 0);
  });

  it('gives a counter found without a time to live one, so no key outlives its window', async () => {
    const keys = uniqueKeys();
    const key = keys.rateLimit('ip', '192.0.2.9');
    await ctx.redis.set(key, '100');
    assert.ok((await waitOf(keys, { scope: 'ip', limit: 5, windowMs: 1000 }, '192.0.2.9')) > 0);
    const pttl = await ctx.redis.pttl(key);
    assert.ok(pttl > 0 && pttl <= 1000, `pttl ${pttl}`);
  });

  it('never touches Redis when the limit is 0', async () => {
    const keys = uniqueKeys();
    for (let i = 0; i < 50; i++) assert.equal(await waitOf(keys, { scope: 'ip', limit: 0, windowMs: 1000 }, '::1'), 0);
    assert.deepEqual(await ctx.redis.keys(`${keys.prefix}:*`), []);
  });

  it('refuses a limit or window that is not a positive number', async () => {
    const key = uniqueKeys().rateLimit('ip', '::1');
    for (const [limit, windowMs] of [
      [0, 1000],
      [-1, 1000],
      ['x', 1000],
      [5, 0],
      [5, 'y'],
    ] as const) {
      await assert.rejects(ctx.redis.rateLimit([key, limit, windowMs]), /invalid rate limit/);
    }
    assert.equal(await ctx.redis.exists(key), 0);
  });

  it("builds keys without `{`, `}` or the address's `:`, whatever the id", () => {
    const keys = uniqueKeys();
    for (const id of ['2001:db8::1', '{p:tv}', 'a:b*c', '', 'x'.repeat(10_000)]) {
      const key = keys.rateLimit('ip', id);
      assert.match(key, new RegExp(`^${keys.prefix}:\\{ip:\\d+\\}:rl:ip:[A-Za-z0-9_-]{22}$`), key.slice(0, 80));
    }
    assert.notEqual(keys.rateLimit('ip', 'a'), keys.rateLimit('user', 'a'));
    assert.notEqual(keys.rateLimit('ip', '::1'), keys.rateLimit('ip', '::2'));
  });
});
