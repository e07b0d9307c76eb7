import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LEASE_SHARE, MAX_WINDOWS, RateLimitBatcher, takeRateLimit, type RedisClient } from '../src/index.ts';
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

describe('rate limits counted ahead for a busy client', () => {
  const ctx = useRedis();
  const scripts = async () => {
    const info = await ctx.redis.info('commandstats');
    return [...info.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  };
  // Bursts of `size` requests, one after another, from one client to one batcher.
  const bursts = async (batcher: RateLimitBatcher, id: string, count: number, size: number) => {
    const kinds: string[] = [];
    for (let b = 0; b < count; b++) {
      const replies = await Promise.all(Array.from({ length: size }, async () => batcher.take(id)));
      kinds.push(...replies.map((r) => r.kind));
    }
    return kinds;
  };

  it('lets no more than the limit through in a window across two API processes, and a lone client counts exactly', async () => {
    const keys = uniqueKeys();
    const rule = { scope: 'ip', limit: 320, windowMs: 60_000 } as const;
    const [a, b] = [1, 2].map(() => new RateLimitBatcher({ redis: ctx.redis, keys, rule, maxBatch: 64 }));
    // Two processes, interleaved bursts, far past the limit: leases are counted before they are spent.
    const kinds = (await Promise.all([bursts(a!, '192.0.2.7', 40, 9), bursts(b!, '192.0.2.7', 40, 7)])).flat();
    const allowed = kinds.filter((k) => k === 'allowed').length;
    assert.ok(allowed <= rule.limit, `${allowed} allowed in one window of ${rule.limit}`);
    // Early refusals are bounded by the unspent leases: at most limit/LEASE_SHARE per process.
    assert.ok(allowed >= rule.limit - 2 * (rule.limit / LEASE_SHARE), `only ${allowed} allowed of ${rule.limit}`);
    assert.ok(Number(await ctx.redis.get(keys.rateLimit('ip', '192.0.2.7'))) <= kinds.length);

    // One request at a time, each in a window of its own: counted one by one, as without leases.
    const lone = new RateLimitBatcher({ redis: ctx.redis, keys, rule: { ...rule, limit: 3 }, maxBatch: 64 });
    assert.deepEqual(await bursts(lone, '192.0.2.8', 5, 1), ['allowed', 'allowed', 'allowed', 'refused', 'refused']);
    assert.equal(await ctx.redis.get(keys.rateLimit('ip', '192.0.2.8')), '3', 'a spent window is refused uncounted');
  });

  it('keeps the unspent lease when a count lands while the last one is unspent (refused early by at most limit/16)', async () => {
    const rule = { scope: 'ip', limit: 64, windowMs: 60_000 } as const;
    for (const [maxBatch, more] of [
      [64, 1],
      [64, 2],
      [1, 2],
    ] as const) {
      const batcher = new RateLimitBatcher({ redis: ctx.redis, keys: uniqueKeys(), rule, maxBatch });
      const kinds: string[] = [];
      const take = async () => kinds.push((await batcher.take('192.0.2.11')).kind);
      // A steady client: requests arrive while the one before is being counted, so a count's lease
      // comes back while the one before it is not spent yet. Replacing it would lose those units.
      for (let i = 0; i < 40; i++) {
        const first = take();
        await new Promise((resolve) => setImmediate(resolve));
        await Promise.all([first, ...Array.from({ length: more }, take)]);
      }
      while (kinds.at(-1) !== 'refused') await take();
      const allowed = kinds.filter((k) => k === 'allowed').length;
      assert.ok(allowed <= rule.limit, `maxBatch ${maxBatch}: ${allowed} allowed in one window of ${rule.limit}`);
      assert.ok(
        allowed >= rule.limit - rule.limit / LEASE_SHARE,
        `maxBatch ${maxBatch}: only ${allowed} of ${rule.limit} allowed, refused early by more than limit/16`,
      );
    }
  });

  it('holds no more than limit/16 unspent in one process, however many of its counts are on the wire', async () => {
    // Redis's replies held until the test lets them go, so several counts of one client are on the
    // wire at once (a full batch goes while another is being counted): each may ask for a lease.
    const counters = new Map<string, number>();
    const held: (() => void)[] = [];
    const redis = {
      isCluster: false,
      rateLimits: (args: (string | number)[]) =>
        new Promise((resolve) => {
          const n = Number(args[0]);
          const reply = args.slice(1, 1 + n).flatMap((key, i) => {
            const count = (counters.get(String(key)) ?? 0) + Number(args[3 + n + i]);
            counters.set(String(key), count);
            return [count, 60_000];
          });
          held.push(() => resolve(reply));
        }),
    } as unknown as RedisClient;
    const keys = uniqueKeys();
    const rule = { scope: 'ip', limit: 256, windowMs: 60_000 } as const;
    const batcher = new RateLimitBatcher({ redis, keys, rule, maxBatch: 1 });
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    let allowed = 0;
    const take = async () => {
      if ((await batcher.take('192.0.2.12')).kind === 'allowed') allowed += 1;
    };
    const unspent = () => counters.get(keys.rateLimit('ip', '192.0.2.12'))! - allowed;
    // One at a time, each count answered at once, until the lease is at its largest and just spent.
    for (let i = 0; i < 200 && (i < 40 || unspent() !== 0); i++) {
      const one = take();
      await turn();
      held.splice(0).forEach((release) => release());
      await one;
    }
    assert.equal(unspent(), 0, 'the lease was never spent to the last unit');
    // Then 8 at once: 8 counts on the wire (maxBatch 1) before any answer.
    const burst = Array.from({ length: 8 }, take);
    for (let i = 0; i < 10; i++) await turn();
    assert.equal(held.length, 8, 'the 8 counts are on the wire together');
    held.splice(0).forEach((release) => release());
    await Promise.all(burst);
    assert.ok(
      unspent() <= rule.limit / LEASE_SHARE,
      `${unspent()} units counted in Redis and unspent in one process: more than limit/16 (${rule.limit / LEASE_SHARE})`,
    );
  });

  it('spends a busy client’s lease and refuses a spent window without a Redis call, and remembers a bounded number of clients', async () => {
    const keys = uniqueKeys();
    const rule = { scope: 'ip', limit: 1600, windowMs: 60_000 } as const;
    const batcher = new RateLimitBatcher({ redis: ctx.redis, keys, rule, maxBatch: 64 });
    const before = await scripts();
    const kinds = await bursts(batcher, '192.0.2.9', 100, 10);
    const calls = (await scripts()) - before;
    assert.equal(kinds.filter((k) => k === 'allowed').length, 1000);
    // Without leases: 100 calls (one per burst). With them the lease doubles up to 100 units.
    assert.ok(calls <= 20, `${calls} script calls for 100 bursts`);

    // A flood past the limit: once the window is spent, refused here, with the time until it ends.
    const small = new RateLimitBatcher({ redis: ctx.redis, keys, rule: { ...rule, limit: 5 }, maxBatch: 64 });
    await bursts(small, '192.0.2.10', 2, 5);
    const spentAt = await scripts();
    const refused = await Promise.all(Array.from({ length: 50 }, async () => small.take('192.0.2.10')));
    assert.equal((await scripts()) - spentAt, 0, 'a spent window costs no Redis call');
    for (const r of refused) assert.ok(r.kind === 'refused' && r.retryInMs > 50_000 && r.retryInMs <= 60_000);

    // Many clients (a spoofed X-Forwarded-For behind a trusted proxy): the memory stops at MAX_WINDOWS.
    for (let i = 0; i < MAX_WINDOWS + 500; i += 500) {
      await Promise.all(Array.from({ length: 500 }, async (_, j) => small.take(`198.51.${i + j}`)));
    }
    assert.ok(small.remembered <= MAX_WINDOWS, `${small.remembered} clients remembered`);
  });
});
