import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { createOrdersQueue, decodeAcceptBatch, loadConfig, setProduct } from '../src/index.ts';
import { testAcceptor } from '@flashline/test-utils';
import { uniqueKeys, useRedis } from './helpers.ts';

/** Calls of each command the server ran so far (INFO commandstats). */
async function commandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}
/** Script calls between two readings (the commands a script runs are counted too, so only scripts are compared). */
const scriptCallsSince = (before: Record<string, number>, after: Record<string, number>) =>
  ['eval', 'evalsha'].reduce((sum, name) => sum + (after[name] ?? 0) - (before[name] ?? 0), 0);

/** The accept batch's one script call: keys, per-user counts and order records together. */
describe('the accept batch script (keys and per-user limit in the batch)', () => {
  const ctx = useRedis();

  function setup(settings: { perUser?: number; soldOutMemoryMs?: number } = {}) {
    const keys = uniqueKeys();
    const queue = createOrdersQueue(loadConfig({ KEY_PREFIX: keys.prefix }), ctx.redis);
    const acceptor = testAcceptor(
      { redis: ctx.redis, keys, queue },
      {
        rateLimit: { perUser: settings.perUser ?? 0, windowMs: 60_000 },
        soldOutMemoryMs: settings.soldOutMemoryMs ?? 0,
      },
    );
    return { keys, queue, acceptor };
  }

  it('accepts keyed, counted orders over several products with one script call and one job', async () => {
    const { keys, queue, acceptor } = setup({ perUser: 5 });
    for (const productId of ['a', 'b', 'c']) await setProduct(ctx.redis, keys, productId, { stock: 100 });
    await queue.waitUntilReady();
    const before = await commandCalls(ctx.redis);
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        acceptor.accept({ productId: 'abc'[i % 3]!, userId: `u${i}`, quantity: 1 }, `cart-${i}`),
      ),
    );
    const after = await commandCalls(ctx.redis);
    assert.ok(outcomes.every((o) => o.kind === 'accepted'));
    // One acceptBatch and one Queue.add (BullMQ's addJob script): no rate-limit script nor SET NX GET per request.
    assert.equal(scriptCallsSince(before, after), 2);
    assert.equal((after.set ?? 0) - (before.set ?? 0), 30, 'the keys were bound inside the script, once each');
    assert.equal(await ctx.redis.get(keys.rateLimit('user', 'u7')), '1');
    assert.equal((await ctx.redis.keys(`${keys.prefix}:idem:*`)).length, 30);
    await queue.close();
  });

  it('holds a buyer to the per-user limit inside one batch, and refusals spend nothing', async () => {
    const { keys, queue, acceptor } = setup({ perUser: 3 });
    await setProduct(ctx.redis, keys, 'p', { stock: 100 });
    const outcomes = await Promise.all([
      acceptor.accept({ productId: 'nope', userId: 'eve', quantity: 1 }),
      ...Array.from({ length: 5 }, () => acceptor.accept({ productId: 'p', userId: 'eve', quantity: 1 })),
    ]);
    assert.deepEqual(
      outcomes.map((o) => (o.kind === 'accepted' ? 'accepted' : o.error.code)),
      ['unknown_product', 'accepted', 'accepted', 'accepted', 'rate_limited', 'rate_limited'],
    );
    assert.equal(await ctx.redis.get(keys.rateLimit('user', 'eve')), '3');
    const limited = outcomes[5]!;
    assert.ok(limited.kind === 'refused' && limited.retryAfterS === 60);
    await queue.close();
  });

  it('records, binds and counts nothing twice when ioredis re-sends the same call', async () => {
    const keys = uniqueKeys();
    await setProduct(ctx.redis, keys, 'p', { stock: 1 });
    const counter = keys.rateLimit('user', 'amy');
    const key = keys.idempotency('k-amy');
    const call = [
      5,
      keys.product('p'),
      keys.pending('p'),
      keys.order('p', 'p.AAAAAAAAAAAAAAAA'),
      key,
      counter,
      Date.now(),
      'p.AAAAAAAAAAAAAAAA',
      3,
      60_000,
      60,
      1,
      'p',
      1,
      'p.AAAAAAAAAAAAAAAA',
      'amy',
      1,
      3,
      'fingerprint-1',
    ];
    const first = decodeAcceptBatch(await ctx.redis.acceptBatch(call), 1);
    const again = decodeAcceptBatch(await ctx.redis.acceptBatch(call), 1);
    assert.deepEqual(first, { kind: 'answered', orders: [{ kind: 'new' }] });
    assert.deepEqual(again, { kind: 'answered', orders: [{ kind: 'existing', status: 'queued' }] });
    assert.equal(await ctx.redis.get(counter), '1');
    assert.equal(await ctx.redis.get(key), 'p.AAAAAAAAAAAAAAAA fingerprint-1');
    assert.equal(await ctx.redis.hget(keys.product('p'), 'accepted'), '1');
    assert.equal(await ctx.redis.zcard(keys.pending('p')), 1);
  });

  it('reads the keys of a known sold-out product in one MGET per batch, no script, and finds an order recorded before', async () => {
    const { keys, queue, acceptor } = setup({ soldOutMemoryMs: 60_000 });
    await setProduct(ctx.redis, keys, 'last', { stock: 1 });
    const body = { productId: 'last', userId: 'a', quantity: 1 };
    const first = await acceptor.accept(body, 'k-a');
    await setProduct(ctx.redis, keys, 'last', { stock: 0 });
    assert.equal((await acceptor.accept({ ...body, userId: 'b' })).kind, 'refused'); // now remembered sold out
    await queue.waitUntilReady();
    const before = await commandCalls(ctx.redis);
    const storm = await Promise.all(
      Array.from({ length: 40 }, (_, i) => acceptor.accept({ ...body, userId: `s${i}` }, `k-${i}`)),
    );
    const after = await commandCalls(ctx.redis);
    assert.equal(scriptCallsSince(before, after), 0);
    assert.equal((after.mget ?? 0) - (before.mget ?? 0), 1, 'one read for the 40 keys');
    assert.ok(storm.every((o) => o.kind === 'refused' && o.error.code === 'sold_out'));
    assert.deepEqual(await acceptor.accept(body, 'k-a'), first);
    const reused = await acceptor.accept({ ...body, quantity: 2 }, 'k-a');
    assert.ok(reused.kind === 'refused' && reused.error.code === 'idempotency_key_reused');
    assert.equal((await ctx.redis.keys(`${keys.prefix}:idem:*`)).length, 1, 'a refused request bound its key');
    await queue.close();
  });
});
