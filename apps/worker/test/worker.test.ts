import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { newBatchId, newOrderId, getOrder, getProduct, setProduct, type Order } from '@flashline/core';
import { acceptOrThrow } from '@flashline/test-utils';
import { useOrderWorker } from './fixture.ts';

describe('order worker', () => {
  const ctx = useOrderWorker({ prefix: 'wk', attempts: 3 });
  const { keys, place } = ctx;

  async function decided(orderId: string, timeoutMs = 10_000): Promise<Order> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const order = await getOrder(ctx.redis, keys, orderId);
      if (order && order.status !== 'queued') return order;
      if (Date.now() > deadline) throw new Error(`order ${orderId} still ${order?.status}`);
      await sleep(20);
    }
  }

  /** The job once BullMQ has finished with it (its attempt count is final only then). */
  async function finishedJob(orderId: string) {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(20)) {
      const job = await ctx.queue.getJob(orderId);
      if (job?.finishedOn) return job;
    }
    throw new Error(`job ${orderId} never finished`);
  }

  it('confirms, then rejects sold_out as a final result (no retry)', async () => {
    await setProduct(ctx.redis, keys, 'one', { stock: 1 });
    const first = await place('one', 'a', 1);
    assert.equal((await decided(first.orderId)).status, 'confirmed');
    // The API accepted the second order while a unit was left; a correction sells out before the worker decides.
    await ctx.worker.pause(true);
    await setProduct(ctx.redis, keys, 'one', { stock: 1 });
    const second = await place('one', 'b', 1);
    await setProduct(ctx.redis, keys, 'one', { stock: 0 });
    await ctx.worker.resume();
    const order = await decided(second.orderId);
    assert.deepEqual([order.status, order.reason], ['rejected', 'sold_out']);
    assert.equal((await finishedJob(second.orderId)).attemptsMade, 1, 'a business rejection was retried');
  });

  it('rejects limit_exceeded without retrying', async () => {
    await setProduct(ctx.redis, keys, 'lim', { stock: 10, perUserLimit: 1 });
    const a = await place('lim', 'carol', 1);
    assert.equal((await decided(a.orderId)).status, 'confirmed');
    const b = await place('lim', 'carol', 1);
    const order = await decided(b.orderId);
    assert.deepEqual([order.status, order.reason], ['rejected', 'limit_exceeded']);
    assert.equal((await finishedJob(b.orderId)).attemptsMade, 1);
  });

  it('retries infrastructure errors, and ends an order that exhausts its attempts as processing_failed', async () => {
    await setProduct(ctx.redis, keys, 'blocked', { stock: 5 });
    await ctx.redis.set(keys.lock('blocked'), 'a-holder-that-never-lets-go');
    const { orderId } = await place('blocked', 'dave', 1);
    const order = await decided(orderId);
    assert.deepEqual([order.status, order.reason], ['rejected', 'processing_failed']);
    assert.equal((await finishedJob(orderId)).attemptsMade, 3, 'expected every attempt to be used');
    assert.equal((await getProduct(ctx.redis, keys, 'blocked'))?.stock, 5, 'a failed order changed stock');
  });

  it('decides a failed order when an operator retries its job, once however often it is retried', async () => {
    await setProduct(ctx.redis, keys, 'retried', { stock: 5 });
    await ctx.redis.set(keys.lock('retried'), 'a-holder-that-never-lets-go');
    const { orderId } = await place('retried', 'gina', 2);
    assert.equal((await decided(orderId)).reason, 'processing_failed');
    await finishedJob(orderId);
    await ctx.redis.del(keys.lock('retried'));
    // Bull Board's retry: the failed job goes back to wait with its attempts kept. Twice, racing.
    const job = (await ctx.queue.getJob(orderId))!;
    await job.retry('failed');
    await job.retry('failed').catch(() => {}); // the second finds the job no longer failed
    for (
      const deadline = Date.now() + 10_000;
      (await getOrder(ctx.redis, keys, orderId))?.status !== 'confirmed';
      await sleep(20)
    ) {
      assert.ok(Date.now() < deadline, 'the retried order was never confirmed');
    }
    // A later retry of the completed job changes nothing.
    await (await ctx.queue.getJob(orderId))!.retry('completed').catch(() => {});
    await sleep(300);
    assert.deepEqual(await getProduct(ctx.redis, keys, 'retried'), {
      productId: 'retried',
      stock: 3,
      sold: 2,
      perUserLimit: null,
      opensAt: null,
      closesAt: null,
      holdSeconds: null,
      reserved: 0,
    });
    assert.equal(await ctx.redis.hget(keys.product('retried'), 'rejected:processing_failed'), '0');
    assert.equal(await ctx.redis.hget(keys.product('retried'), 'confirmed'), '1');
  });

  it('decides an order whose job failed on an error no retry could help, once an operator mends it and retries the job', async () => {
    await setProduct(ctx.redis, keys, 'mended', { stock: 5 });
    await ctx.worker.pause(true);
    const { orderId } = await place('mended', 'hana', 1);
    await ctx.redis.del(keys.product('mended')); // its product deleted under it: UnrecoverableError
    await ctx.worker.resume();
    assert.equal((await decided(orderId)).reason, 'processing_failed');
    const failed = await finishedJob(orderId);
    assert.ok(failed.attemptsMade < 3, 'the job used every attempt: not the unrecoverable path');
    await setProduct(ctx.redis, keys, 'mended', { stock: 5 });
    await (await ctx.queue.getJob(orderId))!.retry('failed');
    for (
      const deadline = Date.now() + 10_000;
      (await getOrder(ctx.redis, keys, orderId))?.status !== 'confirmed';
      await sleep(20)
    ) {
      assert.ok(Date.now() < deadline, 'the order of the retried job was never decided');
    }
  });

  it('recovers when an infrastructure error clears before the attempts run out', async () => {
    await setProduct(ctx.redis, keys, 'flaky', { stock: 5 });
    await ctx.redis.set(keys.lock('flaky'), 'busy', 'PX', 80);
    const { orderId } = await place('flaky', 'erin', 2);
    assert.equal((await decided(orderId)).status, 'confirmed');
    assert.equal((await getProduct(ctx.redis, keys, 'flaky'))?.stock, 3);
  });

  it('decides a re-added job of a decided order without applying it again', async () => {
    await setProduct(ctx.redis, keys, 'again', { stock: 5 });
    const { orderId } = await place('again', 'frank', 2);
    await decided(orderId);
    const q = ctx.queue;
    const job = await q.getJob(orderId);
    await job?.remove();
    await q.add('order', { orderId, productId: 'again', userId: 'frank', quantity: 2 }, { jobId: orderId });
    const deadline = Date.now() + 5000;
    while ((await q.getJob(orderId).then((j) => j?.finishedOn)) === undefined && Date.now() < deadline) await sleep(20);
    assert.deepEqual(await getProduct(ctx.redis, keys, 'again'), {
      productId: 'again',
      stock: 3,
      sold: 2,
      perUserLimit: null,
      opensAt: null,
      closesAt: null,
      holdSeconds: null,
      reserved: 0,
    });
  });

  describe('a batch job (the orders an API process accepted together)', () => {
    const batchJob = async (orders: { productId: string; userId: string; quantity: number }[]) => {
      const deps = ctx.acceptor();
      const accepted = await Promise.all(orders.map((order) => acceptOrThrow(deps, order)));
      const jobId = (await ctx.producer.hget(keys.order(orders[0]!.productId, accepted[0]!.orderId), 'job'))!;
      assert.match(jobId, /^batch~/, 'the orders did not travel in one batch job');
      return { jobId, orderIds: accepted.map((a) => a.orderId) };
    };

    /** An order of one unit written as queued straight into Redis, with no job: the test adds the job itself. */
    const storedAsQueued = async (productId: string, userId: string) => {
      const order = { orderId: newOrderId(productId), productId, userId, quantity: 1 };
      await ctx.producer.hset(
        keys.order(productId, order.orderId),
        'productId',
        productId,
        'userId',
        userId,
        'quantity',
        '1',
        'status',
        'queued',
        'createdAt',
        String(Date.now()),
      );
      return order;
    };

    it('decides each order of several products once', async () => {
      await setProduct(ctx.redis, keys, 'bx', { stock: 2 });
      await setProduct(ctx.redis, keys, 'by', { stock: 5 });
      const { jobId, orderIds } = await batchJob([
        { productId: 'bx', userId: 'a', quantity: 1 },
        { productId: 'by', userId: 'b', quantity: 2 },
        { productId: 'bx', userId: 'c', quantity: 1 },
        { productId: 'bx', userId: 'd', quantity: 1 },
      ]);
      const decisions = await Promise.all(orderIds.map((orderId) => decided(orderId)));
      assert.deepEqual(decisions.map((o) => o.status).sort(), ['confirmed', 'confirmed', 'confirmed', 'rejected']);
      assert.deepEqual(await getProduct(ctx.redis, keys, 'bx'), {
        productId: 'bx',
        stock: 0,
        sold: 2,
        perUserLimit: null,
        opensAt: null,
        closesAt: null,
        holdSeconds: null,
        reserved: 0,
      });
      assert.equal((await getProduct(ctx.redis, keys, 'by'))?.stock, 3);
      const job = await finishedJob(jobId);
      assert.deepEqual(job.returnvalue, { confirmed: 3, sold_out: 1 });
    });

    it('ends processing_failed only the orders it could not decide, and decides them when an operator retries the job', async () => {
      await setProduct(ctx.redis, keys, 'bfree', { stock: 5 });
      await setProduct(ctx.redis, keys, 'bstuck', { stock: 5 });
      await ctx.redis.set(keys.lock('bstuck'), 'a-holder-that-never-lets-go');
      const { jobId, orderIds } = await batchJob([
        { productId: 'bfree', userId: 'a', quantity: 1 },
        { productId: 'bstuck', userId: 'b', quantity: 1 },
      ]);
      const [free, stuck] = await Promise.all(orderIds.map((orderId) => decided(orderId)));
      assert.equal(free!.status, 'confirmed');
      assert.equal(stuck!.reason, 'processing_failed');
      assert.equal(await (await finishedJob(jobId)).getState(), 'failed');
      await ctx.redis.del(keys.lock('bstuck'));
      await (await ctx.queue.getJob(jobId))!.retry('failed');
      for (
        const deadline = Date.now() + 10_000;
        (await getOrder(ctx.redis, keys, orderIds[1]!))?.status !== 'confirmed';
        await sleep(20)
      ) {
        assert.ok(Date.now() < deadline, 'the retried order was never confirmed');
      }
      assert.equal((await getProduct(ctx.redis, keys, 'bfree'))?.stock, 4, 'the retry applied the decided order again');
      assert.equal((await getProduct(ctx.redis, keys, 'bstuck'))?.stock, 4);
    });

    it('fails for every distinct reason its orders failed for, each named in the job failedReason', async () => {
      await setProduct(ctx.redis, keys, 'bheld1', { stock: 5 });
      await setProduct(ctx.redis, keys, 'bheld2', { stock: 5 });
      await setProduct(ctx.redis, keys, 'bfine', { stock: 5 });
      await ctx.redis.set(keys.lock('bheld1'), 'a-holder-that-never-lets-go');
      await ctx.redis.set(keys.lock('bheld2'), 'another-holder-that-never-lets-go');
      const { jobId } = await batchJob([
        { productId: 'bheld1', userId: 'a', quantity: 1 },
        { productId: 'bfine', userId: 'b', quantity: 1 },
        { productId: 'bheld2', userId: 'c', quantity: 1 },
      ]);
      const job = await finishedJob(jobId);
      await ctx.redis.del(keys.lock('bheld1'), keys.lock('bheld2'));
      assert.match(job.failedReason, /^2 of 3 orders failed: /);
      assert.match(job.failedReason, /lock on product bheld1 still held/);
      assert.match(job.failedReason, /lock on product bheld2 still held/);
    });

    it('fails alone an order no retry can help (its product is gone), and decides the rest', async () => {
      await setProduct(ctx.redis, keys, 'bkept', { stock: 5 });
      const lost = await storedAsQueued('bnever', 'z');
      const kept = await storedAsQueued('bkept', 'y');
      await ctx.queue.add('orders', { orders: [lost, kept] }, { jobId: newBatchId() });
      assert.equal((await decided(kept.orderId)).status, 'confirmed');
      assert.equal((await decided(lost.orderId)).reason, 'processing_failed');
    });
  });
});
