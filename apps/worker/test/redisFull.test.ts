import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'bullmq';
import {
  type RedisClient,
  connectRedis,
  createKeys,
  createOrdersQueue,
  getOrder,
  loadConfig,
  setProduct,
  type Order,
  type OrderBatcher,
  type OrderJob,
} from '@flashline/core';
import {
  acceptOrThrow,
  emptyRedisFiller,
  fillRedisPastMaxmemory,
  startRedis,
  testAcceptor,
  type TestRedis,
} from '@flashline/test-utils';
import { createOrderWorker, createWorkerParts } from '../src/orderWorker.ts';

const REFUSALS = 3;

describe('a worker whose commits Redis refuses (used memory past maxmemory)', () => {
  const keys = createKeys('wfull');
  let server: TestRedis;
  let redis: RedisClient;
  let producer: RedisClient;
  let queue: ReturnType<typeof createOrdersQueue>;
  let worker: Worker;
  /** How often each order's commit was tried. */
  const tries = new Map<string, number>();
  /** Products whose first commit finds Redis full, and for how long it stays full. */
  const fullForMs = new Map<string, number>();

  before(async () => {
    server = await startRedis({ maxmemory: '8mb' });
    // One attempt: an OOM that spent it would end the order processing_failed at once.
    const config = loadConfig({ REDIS_URL: server.url, KEY_PREFIX: 'wfull', JOB_ATTEMPTS: '1', JOB_BACKOFF_MS: '20' });
    redis = connectRedis(config, 'worker');
    producer = connectRedis(config, 'worker');
    queue = createOrdersQueue(config, producer);
    const parts = createWorkerParts(config, redis);
    const real = parts.batcher;
    const decide = async (order: OrderJob) => {
      const tried = (tries.get(order.orderId) ?? 0) + 1;
      tries.set(order.orderId, tried);
      const fullFor = fullForMs.get(order.productId);
      if (fullFor !== undefined && tried === 1) {
        // Full from the order's first commit on, for a while: the job's retries meet a full Redis too.
        await fillRedisPastMaxmemory(server.client);
        setTimeout(() => void emptyRedisFiller(server.client), fullFor);
        return real.decide(order);
      }
      if (fullFor !== undefined || tried > REFUSALS) return real.decide(order);
      // Full exactly while this commit runs, freed before BullMQ records the attempt (memory at the limit).
      await fillRedisPastMaxmemory(server.client);
      try {
        return await real.decide(order);
      } finally {
        await emptyRedisFiller(server.client);
      }
    };
    const batcher = Object.assign(Object.create(real) as OrderBatcher, { decide });
    worker = createOrderWorker(config, redis, () => {}, undefined, { ...parts, batcher });
    void worker.run();
    await worker.waitUntilReady();
  });
  after(async () => {
    await worker?.close();
    await queue?.close();
    redis?.disconnect();
    producer?.disconnect();
    await server?.stop();
  });

  async function decided(orderId: string): Promise<Order> {
    for (const deadline = Date.now() + 15_000; ; await sleep(20)) {
      const order = await getOrder(redis, keys, orderId);
      if (order && order.status !== 'queued') return order;
      if (Date.now() > deadline) throw new Error(`order ${orderId} still ${order?.status}`);
    }
  }

  it('retries the job without spending its attempts while Redis stays full, and decides the order once it takes writes', async () => {
    await setProduct(redis, keys, 'tv', { stock: 5 });
    fullForMs.set('tv', 1500);
    const { orderId } = await acceptOrThrow(testAcceptor({ redis: producer, keys, queue }), {
      productId: 'tv',
      userId: 'alice',
      quantity: 1,
    });
    const order = await decided(orderId);
    assert.equal(order.status, 'confirmed', `expected confirmed, got ${order.status} ${order.reason ?? ''}`);
    assert.ok((tries.get(orderId) ?? 0) >= 2, 'expected the job to be retried');
    const job = await queue.getJob(orderId);
    assert.equal(job?.attemptsMade, 1, 'expected only the attempt that decided to count');
  });

  it('does the same for a batch job, Redis full exactly while each commit runs', async () => {
    await setProduct(redis, keys, 'radio', { stock: 5 });
    const acceptor = testAcceptor({ redis: producer, keys, queue });
    await queue.pause();
    const placed = await Promise.all(
      ['bob', 'carol'].map((userId) => acceptOrThrow(acceptor, { productId: 'radio', userId, quantity: 1 })),
    );
    // The two orders went in one job (the acceptor batches what arrives together).
    assert.equal(acceptor.batcher.stats.jobs, 1);
    await queue.resume();
    for (const { orderId } of placed) {
      const order = await decided(orderId);
      assert.equal(order.status, 'confirmed', `expected confirmed, got ${order.status} ${order.reason ?? ''}`);
      assert.equal(tries.get(orderId), REFUSALS + 1);
    }
  });
});
