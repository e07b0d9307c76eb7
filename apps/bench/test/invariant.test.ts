import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { commitSections, connectRedis, createKeys, expireHolds, setProduct } from '@flashline/core';
import { startRedis } from '@flashline/test-utils';
import { checkInvariant, holds } from '../src/flashline/invariant.ts';

describe("the bench's invariant check", () => {
  it('counts each order once though SCAN returns its key twice (as it may while the keyspace is rehashed)', async () => {
    const server = await startRedis();
    const redis = connectRedis({ redisUrl: server.url, redisTimeoutMs: 1000 }, 'worker');
    try {
      const keys = createKeys('inv');
      await setProduct(redis, keys, 'p', { stock: 5 });
      const orders = ['a', 'b'].map((userId, i) => ({
        orderId: `p.${String(i).padStart(16, '0')}`,
        productId: 'p',
        userId,
        quantity: 2,
      }));
      for (const o of orders)
        await redis.hset(keys.order('p', o.orderId), { ...o, status: 'queued', createdAt: Date.now() });
      await commitSections(redis, keys, [{ productId: 'p', orders, fence: 'claim' }], {
        maxQuantity: 10,
        orderRetentionMs: 60_000,
      });
      const scanTwice = async (pattern: string) => {
        const found = await redis.keys(pattern);
        return [...found, found[0]!];
      };
      const check = await checkInvariant(redis, 'inv', [{ productId: 'p', stock: 5 }], 2, scanTwice);
      assert.ok(holds(check), JSON.stringify(check));
      assert.equal(check.orders, 2);
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });

  it('never judges a sale that moves while it reads: a hold expiring between the orders and the product', async () => {
    const server = await startRedis();
    const redis = connectRedis({ redisUrl: server.url, redisTimeoutMs: 1000 }, 'worker');
    try {
      const keys = createKeys('moving');
      await setProduct(redis, keys, 'p', { stock: 5, holdSeconds: 1 });
      const orders = ['a', 'b'].map((userId, i) => ({
        orderId: `p.${String(i).padStart(16, '0')}`,
        productId: 'p',
        userId,
        quantity: 1,
      }));
      for (const o of orders)
        await redis.hset(keys.order('p', o.orderId), { ...o, status: 'queued', createdAt: Date.now() });
      await commitSections(redis, keys, [{ productId: 'p', orders, fence: 'claim' }], {
        maxQuantity: 10,
        orderRetentionMs: 60_000,
      });
      await sleep(1100); // both holds past their deadline, their timer not yet run
      // The timer runs just after the check read the orders (reserved) and before it reads the product.
      let moved = false;
      const moving = new Proxy(redis, {
        get(target, name, receiver) {
          if (name !== 'hmget') return Reflect.get(target, name, receiver) as unknown;
          return async (key: string, ...fields: string[]) => {
            if (!moved && key === keys.product('p')) {
              moved = true;
              await expireHolds(redis, keys, 'p', { orderRetentionMs: 60_000, events: false });
            }
            return redis.hmget(key, ...fields);
          };
        },
      });
      const check = await checkInvariant(moving, 'moving', [{ productId: 'p', stock: 5 }], 2);
      assert.ok(moved, 'the test did not move the sale');
      assert.ok(holds(check), JSON.stringify(check));
      assert.deepEqual(check.decided, { expired: 2 });
    } finally {
      redis.disconnect();
      await server.stop();
    }
  });
});
