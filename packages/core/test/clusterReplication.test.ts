import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { useRedisCluster, scanKeys } from '@flashline/test-utils';
import {
  AppError,
  connectRedis,
  createKeys,
  createOrderAcceptor,
  createOrdersQueues,
  loadConfig,
  setProduct,
  waitUntilReady,
  type RedisClient,
} from '../src/index.ts';

/**
 * REDIS_WAIT_REPLICAS on a real cluster, where a buyer's Idempotency-Key and the order it names live
 * on different masters. The key's master loses the key in a failover to a replica that lagged (frozen
 * with SIGSTOP, and behind by more than its socket buffers hold); the order's master keeps everything.
 * Were the order recorded before the key was confirmed on a replica, the request's retry would find no
 * key and record a second order for one request.
 */
describe('REDIS_WAIT_REPLICAS on a cluster: an order never outlives the key that names it', () => {
  const clients: RedisClient[] = [];
  const closing: (() => Promise<unknown>)[] = [];
  const ctx = useRedisCluster({
    nodeTimeoutMs: 2000,
    beforeStop: async () => {
      for (const close of closing) await close().catch(() => {});
      for (const client of clients) client.disconnect();
    },
  });

  it('a retry after the key was lost with its master makes no second order', async () => {
    const { cluster } = ctx;
    const config = loadConfig({ REDIS_CLUSTER_NODES: cluster.seedNodes, KEY_PREFIX: 'crep', QUEUE_PARTITIONS: '4' });
    const redis = connectRedis(config, 'worker');
    clients.push(redis);
    await waitUntilReady(redis, 10_000);
    const keys = createKeys(config.keyPrefix);
    await setProduct(redis, keys, 'p', { stock: 10 });
    const productMaster = await cluster.nodeForSlot(cluster.slotOfKey(keys.product('p')));
    // A buyer whose keys are on another master than the product's.
    let userId = '';
    for (let i = 0; !userId; i++) {
      const master = await cluster.nodeForSlot(cluster.slotOfKey(keys.rateLimit('user', `u${i}`)));
      if (master.id !== productMaster.id) userId = `u${i}`;
    }
    const buyerKey = keys.rateLimit('user', userId);
    const buyerMaster = await cluster.nodeForSlot(cluster.slotOfKey(buyerKey));
    const queues = createOrdersQueues(config, redis);
    closing.push(() => queues.close());
    const acceptor = createOrderAcceptor(
      { redis, keys, queues },
      {
        idempotencyTtlS: 60,
        acceptBatch: 16,
        soldOutMemoryMs: 0,
        rateLimit: { perUser: 0, windowMs: 1000 },
        replication: { replicas: 1, timeoutMs: 300 },
      },
    );
    const request = { productId: 'p', userId, quantity: 1 };

    const [replica] = await cluster.replicasOf(buyerMaster);
    assert.ok(replica);
    cluster.pause(replica);
    // 32 MB in the buyer's slot first: more than the sockets buffer, so what follows stays on the master.
    await redis.set(`${buyerKey}:filler`, 'x'.repeat(32 * 1024 * 1024));
    await assert.rejects(
      acceptor.accept(request, 'cart-1'),
      (error: unknown) => error instanceof AppError && error.code === 'unavailable',
    );
    await cluster.kill(buyerMaster);
    cluster.resume(replica);
    await cluster.failover(replica, 'takeover');
    await cluster.restart(buyerMaster);
    await cluster.waitUntilHealthy();
    assert.equal(await redis.exists(`${buyerKey}:filler`), 0, 'the failover lost what the replica lagged behind');

    // The client retries its 503s with its key, as long as the restarted node is still catching up.
    let retried;
    for (let tries = 0; !retried && tries < 40; tries++)
      retried = await acceptor.accept(request, 'cart-1').catch(() => sleep(250));
    assert.equal(retried?.kind, 'accepted');
    const orders = await scanKeys(redis, `${keys.prefix}:*:p:p:order:*`);
    const mine = await Promise.all(orders.map((key) => redis.hget(key, 'userId')));
    assert.equal(mine.filter((id) => id === userId).length, 1, `one request, ${mine.length} orders`);
  });
});
