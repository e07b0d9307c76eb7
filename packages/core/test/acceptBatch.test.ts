import type { RedisClient } from '../src/index.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  commitSections,
  createOrdersQueue,
  decodeClaimBuyers,
  decodeRecordOrders,
  decodeReleaseBuyers,
  loadConfig,
  setProduct,
} from '../src/index.ts';
import { testAcceptor } from '@flashline/test-utils';
import { uniqueKeys, useRedis } from './helpers.ts';

/** Calls of each command the server ran so far (INFO commandstats). */
async function commandCalls(redis: RedisClient): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}
/** Script calls between two readings (the commands a script runs are counted too, so only scripts are compared). */
const scriptCallsSince = (before: Record<string, number>, after: Record<string, number>) =>
  ['eval', 'evalsha'].reduce((sum, name) => sum + (after[name] ?? 0) - (before[name] ?? 0), 0);

/** The accept batch's one script call: keys, per-user counts and order records together. */
// Both ways a batch is accepted: one acceptBatch call (a single Redis), and the cluster's steps.
for (const inSteps of [false, true])
  describe(`the accept batch ${inSteps ? "in the cluster's steps" : 'in one call'} (keys and per-user limit in the batch)`, () => {
    const ctx = useRedis();

    function setup(settings: { perUser?: number; soldOutMemoryMs?: number } = {}) {
      const keys = uniqueKeys();
      const queue = createOrdersQueue(loadConfig({ KEY_PREFIX: keys.prefix }), ctx.redis);
      const acceptor = testAcceptor(
        { redis: ctx.redis, keys, queue },
        {
          rateLimit: { perUser: settings.perUser ?? 0, windowMs: 60_000 },
          soldOutMemoryMs: settings.soldOutMemoryMs ?? 0,
          acceptInSteps: inSteps,
        },
      );
      return { keys, queue, acceptor };
    }

    it('accepts keyed, counted orders over several products with a few script calls per batch and one job', async () => {
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
      // acceptBatch, or readStock, claimBuyers and recordOrders, and one Queue.add (BullMQ's addJob script):
      // nothing per request.
      assert.equal(scriptCallsSince(before, after), inSteps ? 4 : 2);
      assert.equal((after.set ?? 0) - (before.set ?? 0), 30, 'the keys were bound inside the script, once each');
      assert.equal(await ctx.redis.get(keys.rateLimit('user', 'u7')), '1');
      assert.equal((await ctx.redis.keys(keys.everyIdempotencyKey())).length, 30);
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

      // A flood in the buyer's name for products that refuse (unknown, sold out; keyed or not), in the
      // same batches as the buyer's own orders: it never holds a unit of the buyer's budget.
      await setProduct(ctx.redis, keys, 'gone', { stock: 0 });
      const flood = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) =>
          acceptor.accept(
            { productId: i % 2 ? 'nope' : 'gone', userId: 'ann', quantity: 1 },
            i % 4 < 2 ? `f-${i}` : undefined,
          ),
        ),
        ...Array.from({ length: 3 }, () => acceptor.accept({ productId: 'p', userId: 'ann', quantity: 1 })),
      ]);
      assert.deepEqual(
        flood.slice(20).map((o) => o.kind),
        ['accepted', 'accepted', 'accepted'],
      );
      assert.equal(await ctx.redis.get(keys.rateLimit('user', 'ann')), '3');
      assert.equal((await ctx.redis.keys(keys.everyIdempotencyKey())).length, 0, 'a refused request bound its key');
      await queue.close();
    });

    it('records, binds and counts nothing twice when ioredis re-sends the same calls', async () => {
      const keys = uniqueKeys();
      await setProduct(ctx.redis, keys, 'p', { stock: 1 });
      const counter = keys.rateLimit('user', 'amy');
      const key = keys.idempotency('amy', 'k-amy');
      const orderId = 'p.AAAAAAAAAAAAAAAA';
      const claim = [2, key, counter, 3, 60_000, 60, orderId, 'fingerprint-1', 3];
      const record = [
        3,
        keys.product('p'),
        keys.pending('p'),
        keys.order('p', orderId),
        Date.now(),
        orderId,
        1,
        'p',
        1,
      ];
      record.push(orderId, 'amy', 1);
      assert.deepEqual(decodeClaimBuyers(await ctx.redis.claimBuyers(claim), 1), {
        kind: 'answered',
        items: [{ kind: 'claimed' }],
      });
      // The claim re-sent finds its own binding: the request's own order, nothing counted again.
      assert.deepEqual(decodeClaimBuyers(await ctx.redis.claimBuyers(claim), 1), {
        kind: 'answered',
        items: [{ kind: 'bound', orderId }],
      });
      const first = decodeRecordOrders(await ctx.redis.recordOrders(record), 1);
      const again = decodeRecordOrders(await ctx.redis.recordOrders(record), 1);
      assert.deepEqual(first, { kind: 'answered', items: [{ kind: 'new' }] });
      assert.deepEqual(again, { kind: 'answered', items: [{ kind: 'existing', status: 'queued' }] });
      assert.equal(await ctx.redis.get(counter), '1');
      assert.equal(await ctx.redis.get(key), `${orderId} fingerprint-1`);
      assert.equal(await ctx.redis.hget(keys.product('p'), 'accepted'), '1');
      assert.equal(await ctx.redis.zcard(keys.pending('p')), 1);
      // A give-back re-sent gives back once: the key is no longer the claim's after the first.
      const release = [2, key, counter, orderId, 'fingerprint-1', 3];
      assert.deepEqual(decodeReleaseBuyers(await ctx.redis.releaseBuyers(release)), { kind: 'released', count: 1 });
      assert.deepEqual(decodeReleaseBuyers(await ctx.redis.releaseBuyers(release)), { kind: 'released', count: 0 });
      assert.equal(await ctx.redis.get(counter), '0');
      assert.equal(await ctx.redis.get(key), null);
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
      assert.equal((await ctx.redis.keys(keys.everyIdempotencyKey())).length, 1, 'a refused request bound its key');
      await queue.close();
    });
    it("refuses orders outside the sale window by Redis's clock, writing nothing; an order accepted inside it is found after it closes", async () => {
      const { keys, queue, acceptor } = setup({ perUser: 5 });
      const now = Date.now();
      await setProduct(ctx.redis, keys, 'soon', { stock: 10, opensAt: now + 30_000 });
      await setProduct(ctx.redis, keys, 'open', { stock: 10, opensAt: now - 1000, closesAt: now + 60_000 });
      await setProduct(ctx.redis, keys, 'over', { stock: 10, closesAt: now - 1 });
      await queue.waitUntilReady();
      const before = await ctx.redis.keys(`${keys.prefix}:*`);
      const [soon, over] = await Promise.all([
        acceptor.accept({ productId: 'soon', userId: 'u1', quantity: 1 }, 'k-soon'),
        acceptor.accept({ productId: 'over', userId: 'u1', quantity: 1 }, 'k-over'),
      ]);
      assert.ok(soon.kind === 'refused' && soon.error.code === 'sale_not_open', JSON.stringify(soon));
      assert.ok(soon.retryAfterS! >= 29 && soon.retryAfterS! <= 30, `Retry-After ${soon.retryAfterS}`);
      assert.ok(over.kind === 'refused' && over.error.code === 'sale_closed', JSON.stringify(over));
      assert.deepEqual((await ctx.redis.keys(`${keys.prefix}:*`)).sort(), before.sort(), 'a refusal wrote a key');

      const inside = await acceptor.accept({ productId: 'open', userId: 'u2', quantity: 1 }, 'k-open');
      assert.equal(inside.kind, 'accepted');
      await setProduct(ctx.redis, keys, 'open', { stock: 10, closesAt: Date.now() - 1 });
      const retry = await acceptor.accept({ productId: 'open', userId: 'u2', quantity: 1 }, 'k-open');
      assert.deepEqual(retry, inside, 'the retry of an order accepted inside the window finds it');
      const late = await acceptor.accept({ productId: 'open', userId: 'u3', quantity: 1 }, 'k-late');
      assert.ok(late.kind === 'refused' && late.error.code === 'sale_closed');
      // Accepted inside the window, it is decided though the window has closed meanwhile.
      const orderId = (inside as { orderId: string }).orderId;
      const order = { orderId, productId: 'open', userId: 'u2', quantity: 1 };
      const rules = { maxQuantity: 10, orderRetentionMs: 60_000 };
      await commitSections(ctx.redis, keys, [{ productId: 'open', orders: [order], fence: 'claim' }], rules);
      assert.equal(await ctx.redis.hget(keys.order('open', orderId), 'status'), 'confirmed');
      await queue.close();
    });

    it('takes an order for units whose hold has expired though no timer ended it yet', async () => {
      const { keys, queue, acceptor } = setup();
      await setProduct(ctx.redis, keys, 'held', { stock: 2, holdSeconds: 1 });
      const rules = { maxQuantity: 10, orderRetentionMs: 60_000 };
      const decide = async (userId: string) => {
        const accepted = await acceptor.accept({ productId: 'held', userId, quantity: 2 });
        assert.equal(accepted.kind, 'accepted', `${userId}: ${JSON.stringify(accepted)}`);
        const order = { orderId: (accepted as { orderId: string }).orderId, productId: 'held', userId, quantity: 2 };
        await commitSections(ctx.redis, keys, [{ productId: 'held', orders: [order], fence: 'claim' }], rules);
        return order.orderId;
      };
      const first = await decide('ann');
      const early = await acceptor.accept({ productId: 'held', userId: 'bob', quantity: 2 });
      assert.ok(early.kind === 'refused' && early.error.code === 'sold_out', 'held units are not free');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // No timer ran: the hold is past its deadline, still reserved, and its units may be sold.
      assert.equal(await ctx.redis.hget(keys.order('held', first), 'status'), 'reserved');
      const second = await decide('cat');
      assert.equal(await ctx.redis.hget(keys.order('held', second), 'status'), 'reserved');
      assert.equal(await ctx.redis.hget(keys.order('held', first), 'status'), 'expired');
      await queue.close();
    });
  });
