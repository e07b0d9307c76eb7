import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commitSections, connectRedis, createKeys, setProduct } from '@flashline/core';
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
});
