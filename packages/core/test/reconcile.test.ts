import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'bullmq';
import {
  ORDERS_QUEUE,
  createOrdersQueue,
  getOrder,
  loadConfig,
  newOrderId,
  reconcileOnce,
  setProduct,
} from '../src/index.ts';
import { acceptOrThrow, testAcceptor } from '@flashline/test-utils';
import { recordOrder, uniqueKeys, useRedis } from './helpers.ts';

describe('reconciler', () => {
  const ctx = useRedis();

  function setup() {
    const keys = uniqueKeys();
    const config = loadConfig({ REDIS_URL: ctx.server.url, KEY_PREFIX: keys.prefix, JOB_ATTEMPTS: '1' });
    const queue = createOrdersQueue(config, ctx.redis);
    /** An order recorded as queued whose job was never added: the gap a crash leaves. */
    const recordOnly = async (productId: string, userId: string, quantity: number) => {
      const orderId = newOrderId(productId);
      await recordOrder(ctx.redis, keys, productId, orderId, userId, quantity);
      return orderId;
    };
    return { keys, config, queue, recordOnly };
  }

  it('enqueues again an overdue order whose job was lost, once', async () => {
    const { keys, queue, recordOnly } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 3 });
    const orderId = await recordOnly('p', 'u1', 2);
    assert.deepEqual(
      await reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 60_000, orderRetentionMs: 60_000 }),
      { checked: 0, redriven: 0, failed: 0 },
      'touched an order not yet overdue',
    );
    await sleep(5);
    assert.deepEqual(await reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 1, orderRetentionMs: 60_000 }), {
      checked: 1,
      redriven: 1,
      failed: 0,
    });
    const job = await queue.getJob(orderId);
    assert.deepEqual(job?.data, { orderId, productId: 'p', userId: 'u1', quantity: 2 });
    // Its job now waits: a second pass leaves it alone.
    assert.deepEqual(await reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 1, orderRetentionMs: 60_000 }), {
      checked: 1,
      redriven: 0,
      failed: 0,
    });
    await queue.close();
  });

  it('ends processing_failed an order whose job failed without deciding it', async () => {
    const { keys, config, queue, recordOnly } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 3 });
    const orderId = await recordOnly('p', 'u1', 1);
    await queue.add('order', { orderId, productId: 'p', userId: 'u1', quantity: 1 }, { jobId: orderId, attempts: 1 });
    // A worker that dies on the job without marking the order (no Flashline failure handler).
    const crashing = new Worker(ORDERS_QUEUE, () => Promise.reject(new Error('boom')), {
      connection: ctx.redis,
      prefix: config.queuePrefix,
    });
    while ((await (await queue.getJob(orderId))?.getState()) !== 'failed') await sleep(20);
    await crashing.close();
    assert.equal((await getOrder(ctx.redis, keys, orderId))?.status, 'queued');
    await sleep(5);
    assert.deepEqual(await reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 1, orderRetentionMs: 60_000 }), {
      checked: 1,
      redriven: 0,
      failed: 1,
    });
    const order = await getOrder(ctx.redis, keys, orderId);
    assert.deepEqual([order?.status, order?.reason], ['rejected', 'processing_failed']);
    assert.equal(await ctx.redis.zcard(keys.pending('p')), 0);
    await queue.close();
  });

  it('drops decided orders from the pending index and never re-drives them', async () => {
    const { keys, queue, recordOnly } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 3 });
    const orderId = await recordOnly('p', 'u1', 1);
    await ctx.redis.hset(keys.order('p', orderId), 'status', 'confirmed'); // decided, index entry left over
    await sleep(5);
    assert.deepEqual(await reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 1, orderRetentionMs: 60_000 }), {
      checked: 1,
      redriven: 0,
      failed: 0,
    });
    assert.equal(await queue.getJob(orderId), undefined);
    assert.equal(await ctx.redis.zcard(keys.pending('p')), 0);
    await queue.close();
  });

  it('watches the batch job an order travels in: alive, it waits; lost, the order is re-driven alone; failed, it ends processing_failed', async () => {
    const { keys, queue } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const deps = testAcceptor({ redis: ctx.redis, keys, queue });
    const accepted = await Promise.all(
      ['u1', 'u2', 'u3'].map((userId) => acceptOrThrow(deps, { productId: 'p', userId, quantity: 1 })),
    );
    const batchId = (await ctx.redis.hget(keys.order('p', accepted[0]!.orderId), 'job'))!;
    assert.match(batchId, /^batch~/);
    await sleep(5);
    const pass = () => reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 1, orderRetentionMs: 60_000 });
    assert.deepEqual(
      await pass(),
      { checked: 3, redriven: 0, failed: 0 },
      'touched orders whose batch job still waits',
    );

    await (await queue.getJob(batchId))!.remove();
    assert.deepEqual(await pass(), { checked: 3, redriven: 3, failed: 0 });
    for (const { orderId } of accepted) {
      assert.equal(
        (await queue.getJob(orderId))?.name,
        'order',
        'a lost batch order was not re-driven under its own id',
      );
      assert.equal(await ctx.redis.hget(keys.order('p', orderId), 'job'), null);
    }
    assert.deepEqual(await pass(), { checked: 3, redriven: 0, failed: 0 }, 're-drove twice');
    await queue.close();
  });

  it('ends processing_failed the orders of a failed batch job', async () => {
    const { keys, config, queue } = setup();
    await setProduct(ctx.redis, keys, 'p', { stock: 10 });
    const deps = testAcceptor({ redis: ctx.redis, keys, queue });
    const accepted = await Promise.all(
      ['u1', 'u2'].map((userId) => acceptOrThrow(deps, { productId: 'p', userId, quantity: 1 })),
    );
    const crashing = new Worker(ORDERS_QUEUE, () => Promise.reject(new Error('boom')), {
      connection: ctx.redis,
      prefix: config.queuePrefix,
    });
    const batchId = (await ctx.redis.hget(keys.order('p', accepted[0]!.orderId), 'job'))!;
    while ((await queue.getJobState(batchId)) !== 'failed') await sleep(20);
    await crashing.close();
    await sleep(5);
    assert.deepEqual(await reconcileOnce({ redis: ctx.redis, keys, queue, afterMs: 1, orderRetentionMs: 60_000 }), {
      checked: 2,
      redriven: 0,
      failed: 2,
    });
    for (const { orderId } of accepted)
      assert.equal((await getOrder(ctx.redis, keys, orderId))?.reason, 'processing_failed');
    await queue.close();
  });
});
