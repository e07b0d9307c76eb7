import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import {
  connectRedis,
  createKeys,
  createOrderAcceptor,
  createOrdersQueues,
  getOrder,
  getProductStats,
  listProducts,
  loadConfig,
  reconcileOnce,
  setProduct,
  waitUntilReady,
  type OrdersQueues,
  type RedisClient,
} from '@flashline/core';
import { useRedisCluster } from '@flashline/test-utils';
import { createOrderWorker, createWorkerParts } from '../src/orderWorker.ts';

const PRODUCTS = 20;
const STOCK = 15;
const BUYERS = 200;
const ORDERS = 1000;

/**
 * The accept path and the workers on a real Redis Cluster (3 masters, 3 replicas): every step of an
 * accept batch and every commit must stay in one slot (a CROSSSLOT error would fail the orders), the
 * jobs spread over the partitions, and the sale ends as on a single Redis.
 */
describe('a sale on a real Redis Cluster', () => {
  const clients: RedisClient[] = [];
  const closing: (() => Promise<unknown>)[] = [];
  const ctx = useRedisCluster({
    beforeStop: async () => {
      for (const close of closing) await close().catch(() => {});
      for (const client of clients) client.disconnect();
    },
  });

  it('accepts keyed and counted orders over 20 products and 200 buyers, decides each once, oversells nothing', async () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: ctx.cluster.seedNodes,
      KEY_PREFIX: 'clu',
      QUEUE_PARTITIONS: '4',
      WORKER_CONCURRENCY: '16',
      RATE_LIMIT_PER_USER: '3',
      RATE_LIMIT_WINDOW_MS: '60000',
      SOLD_OUT_MEMORY_MS: '0',
      LOCK_WAIT_MS: '200',
    });
    const producer = connectRedis(config, 'producer');
    const workerRedis = connectRedis(config, 'worker');
    clients.push(producer, workerRedis);
    await Promise.all([waitUntilReady(producer, 10_000), waitUntilReady(workerRedis, 10_000)]);
    assert.ok(producer.isCluster);
    const keys = createKeys(config.keyPrefix);
    const products = Array.from({ length: PRODUCTS }, (_, i) => `item-${i}`);
    for (const productId of products) await setProduct(workerRedis, keys, productId, { stock: STOCK });
    const queues: OrdersQueues = createOrdersQueues(config, producer);
    closing.push(() => queues.close());
    const acceptor = createOrderAcceptor({ redis: producer, keys, queues }, config);

    // Half the requests carry a key; each keyed one is sent twice at once (a client retrying).
    const requests = Array.from({ length: ORDERS }, (_, i) => ({
      body: { productId: products[(i * 7) % PRODUCTS]!, userId: `buyer-${i % BUYERS}`, quantity: 1 + (i % 2) },
      key: i % 2 === 0 ? `cart-${i}` : undefined,
    }));
    const answers = await Promise.all(
      requests.map(async ({ body, key }) => {
        const [first, again] = await Promise.all([
          acceptor.accept(body, key),
          key === undefined ? undefined : acceptor.accept(body, key),
        ]);
        if (again) assert.deepEqual(again, first, 'a retry with the same key gets the same answer');
        return first;
      }),
    );
    const accepted = answers.flatMap((a) => (a.kind === 'accepted' ? [a.orderId] : []));
    const refusals = answers.flatMap((a) => (a.kind === 'refused' ? [a.error.code] : []));
    assert.ok(accepted.length > 0);
    assert.ok(
      refusals.every((code) => code === 'rate_limited' || code === 'sold_out'),
      JSON.stringify([...new Set(refusals)]),
    );
    // 200 buyers at 3 a window: at most 600 accepted.
    assert.ok(accepted.length <= BUYERS * 3, `${accepted.length} accepted`);

    const parts = createWorkerParts(config, workerRedis);
    const workers: Worker[] = config.workerPartitions.map((partition) =>
      createOrderWorker(config, workerRedis, () => {}, undefined, parts, partition),
    );
    closing.unshift(...workers.map((worker) => () => worker.close()));
    for (const worker of workers) void worker.run();

    const deadline = Date.now() + 30_000;
    let undecided = accepted;
    while (undecided.length > 0 && Date.now() < deadline) {
      const orders = await Promise.all(undecided.map((id) => getOrder(workerRedis, keys, id)));
      undecided = undecided.filter((_, i) => orders[i]?.status === 'queued');
      if (undecided.length > 0) await sleep(100);
    }
    assert.equal(undecided.length, 0, 'every accepted order is decided');

    const orders = await Promise.all(accepted.map((id) => getOrder(workerRedis, keys, id)));
    for (const productId of products) {
      const confirmed = orders.filter((o) => o?.productId === productId && o.status === 'confirmed');
      const units = confirmed.reduce((sum, o) => sum + o!.quantity, 0);
      const [stock, sold] = (await workerRedis.hmget(keys.product(productId), 'stock', 'sold')).map(Number);
      assert.ok(stock! >= 0, `${productId} oversold: stock ${stock}`);
      assert.equal(STOCK - stock!, units, `${productId}: units taken ≠ units of its confirmed orders`);
      assert.equal(sold, units, `${productId}: sold ≠ units of its confirmed orders`);
    }
    // The readers that go over every product (the sale panel, the reconciler) read each slot's keys apart.
    assert.deepEqual((await listProducts(workerRedis, keys)).sort(), [...products].sort());
    const stats = await getProductStats(workerRedis, keys, products);
    assert.equal(stats.length, PRODUCTS);
    assert.equal(
      stats.reduce((sum, s) => sum + s.confirmed, 0),
      orders.filter((o) => o?.status === 'confirmed').length,
    );
    const pass = await reconcileOnce({ redis: workerRedis, keys, queues, afterMs: 1, orderRetentionMs: 60_000 });
    assert.equal(pass.redriven + pass.failed, 0, 'nothing left for the reconciler');
    const perPartition = await Promise.all(queues.all.map((queue) => queue.getJobCounts('completed')));
    const used = perPartition.filter((counts) => (counts.completed ?? 0) > 0).length;
    assert.ok(used >= 2, `the jobs went to ${used} of ${queues.all.length} partitions`);
  });
});
