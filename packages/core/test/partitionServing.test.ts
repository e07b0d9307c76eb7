import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  announcePartitions,
  createHoldsQueues,
  createOrdersQueues,
  loadConfig,
  queuesByPartition,
  reconcileOnce,
  servedPartitions,
  unservedPartitions,
} from '../src/index.ts';
import { uniqueKeys, useRedis } from './helpers.ts';

describe('served partitions (worker heartbeats)', () => {
  const ctx = useRedis();

  it('flags a partition with jobs and no live announcement; an announcement that stops expires', async () => {
    const keys = uniqueKeys();
    const config = loadConfig({ REDIS_URL: ctx.server.url, KEY_PREFIX: keys.prefix, QUEUE_PARTITIONS: '4' });
    const orders = createOrdersQueues(config, ctx.redis);
    const holds = createHoldsQueues(config, ctx.redis);
    const partitions = queuesByPartition(orders.all, holds.all);
    try {
      assert.deepEqual(await unservedPartitions(ctx.redis, keys, partitions), [], 'flagged a partition with no work');
      await orders.all[1]!.add('order', { orderId: 'o1', productId: 'p', userId: 'u', quantity: 1 });
      await holds.all[2]!.add('expire', { productId: 'p' }, { delay: 60_000 });
      await orders.all[3]!.add('order', { orderId: 'o3', productId: 'p', userId: 'u', quantity: 1 });
      assert.deepEqual(await unservedPartitions(ctx.redis, keys, partitions), [
        { partition: 1, waiting: 1 },
        { partition: 2, waiting: 1 },
        { partition: 3, waiting: 1 },
      ]);

      const stopA = announcePartitions(ctx.redis, keys, 'host:1', [0, 1], () => {});
      // Written once, then never again (an interval far off): it lives its TTL and is gone.
      const stopB = announcePartitions(ctx.redis, keys, 'host:2', [2], () => {}, { intervalMs: 60_000, ttlMs: 300 });
      await sleep(50);
      assert.deepEqual([...(await servedPartitions(ctx.redis, keys))].sort(), [0, 1, 2]);
      assert.deepEqual(await unservedPartitions(ctx.redis, keys, partitions), [{ partition: 3, waiting: 1 }]);
      const report = await reconcileOnce({
        redis: ctx.redis,
        keys,
        queues: orders,
        afterMs: 1000,
        orderRetentionMs: 60_000,
        partitions,
      });
      assert.deepEqual(report.unserved, [{ partition: 3, waiting: 1 }], 'the reconciler does not report it');

      await sleep(400); // host:2's announcement expired: a worker that died silently
      assert.deepEqual(await unservedPartitions(ctx.redis, keys, partitions), [
        { partition: 2, waiting: 1 },
        { partition: 3, waiting: 1 },
      ]);
      stopA(); // a worker that stops withdraws at once
      await sleep(50);
      assert.deepEqual(
        (await unservedPartitions(ctx.redis, keys, partitions)).map((p) => p.partition),
        [1, 2, 3],
      );
      stopB();
    } finally {
      await Promise.all([orders.close(), holds.close()]);
    }
  });
});
