import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRegistry, createWorkerMetrics, getOrder, setProduct, type Order } from '@flashline/core';
import { sumOf } from '@flashline/test-utils';
import { useOrderWorker } from './fixture.ts';

describe('worker metrics', () => {
  const metrics = createWorkerMetrics(createRegistry({ worker: 'test:1' }));
  const ctx = useOrderWorker({ prefix: 'wm', attempts: 2, metrics });
  const { keys, place } = ctx;

  async function decided(orderId: string): Promise<Order> {
    for (const deadline = Date.now() + 10_000; ; await sleep(20)) {
      const order = await getOrder(ctx.redis, keys, orderId);
      if (order && order.status !== 'queued') return order;
      assert.ok(Date.now() < deadline, `order ${orderId} still ${order?.status}`);
    }
  }
  async function finished(orderId: string): Promise<void> {
    for (const deadline = Date.now() + 10_000; !(await ctx.queue.getJob(orderId))?.finishedOn; await sleep(20)) {
      assert.ok(Date.now() < deadline, `job ${orderId} never finished`);
    }
  }
  const scrape = () => metrics.registry.metrics();
  const decisions = (text: string, status: string, reason: string) =>
    sumOf(text, 'flashline_orders_decided_total', { status, reason });

  it('counts each decision once by status and reason, with its latency since acceptance', async () => {
    await setProduct(ctx.redis, keys, 'tv', { stock: 2 });
    await setProduct(ctx.redis, keys, 'lim', { stock: 9, perUserLimit: 1 });
    // The queue paused, so the orders wait a measurable while before they are decided.
    await ctx.queue.pause();
    const orders = [
      await place('tv', 'a'),
      await place('tv', 'b'),
      await place('tv', 'c'),
      await place('lim', 'd'),
      await place('lim', 'd'),
    ];
    await sleep(120);
    await ctx.queue.resume();
    const outcomes = await Promise.all(orders.map((o) => decided(o.orderId)));
    for (const o of orders) await finished(o.orderId);
    assert.deepEqual(outcomes.map((o) => o.reason ?? o.status).sort(), [
      'confirmed',
      'confirmed',
      'confirmed',
      'limit_exceeded',
      'sold_out',
    ]);

    let text = await scrape();
    assert.equal(decisions(text, 'confirmed', 'none'), 3);
    assert.equal(decisions(text, 'rejected', 'sold_out'), 1);
    assert.equal(decisions(text, 'rejected', 'limit_exceeded'), 1);
    assert.equal(sumOf(text, 'flashline_decision_latency_seconds_count'), 5);
    assert.equal(
      sumOf(text, 'flashline_decision_latency_seconds_bucket', { le: '0.1' }),
      0,
      'orders that waited 120 ms were measured under 100 ms',
    );
    assert.ok(sumOf(text, 'flashline_decision_latency_seconds_sum') >= 5 * 0.12);
    const batches = sumOf(text, 'flashline_commit_batches_total');
    const products = sumOf(text, 'flashline_commit_batch_products_total');
    assert.ok(batches >= 1 && batches <= products, `${batches} commits for ${products} product batches`);
    assert.ok(products >= 2, `two products need two product batches at least, got ${products}`);
    assert.equal(sumOf(text, 'flashline_commit_batch_orders_total'), 5);
    assert.equal(sumOf(text, 'flashline_lock_wait_seconds_count'), products, 'one lock acquisition per product batch');

    // A job run again for a decided order replays the stored decision: not a second decision.
    const replayed = orders[0]!.orderId;
    await (await ctx.queue.getJob(replayed))!.remove();
    await ctx.queue.add('order', { orderId: replayed, productId: 'tv', userId: 'a', quantity: 1 }, { jobId: replayed });
    await finished(replayed);
    text = await scrape();
    assert.equal(decisions(text, 'confirmed', 'none'), 3, 'a replayed decision was counted again');
    assert.equal(sumOf(text, 'flashline_decision_latency_seconds_count'), 5);
    assert.equal(sumOf(text, 'flashline_commit_batch_orders_total'), 6, 'the replay still went through a commit');
  });

  it('counts the contention on a held lock, timeouts, and an order that ran out of attempts', async () => {
    await setProduct(ctx.redis, keys, 'busy', { stock: 5 });
    const before = await scrape();
    await ctx.redis.set(keys.lock('busy'), 'another-worker', 'PX', 30);
    const contended = await place('busy', 'e');
    assert.equal((await decided(contended.orderId)).status, 'confirmed');
    let text = await scrape();
    assert.ok(
      sumOf(text, 'flashline_lock_retries_total') > sumOf(before, 'flashline_lock_retries_total'),
      'no retry counted behind a held lock',
    );

    await setProduct(ctx.redis, keys, 'stuck', { stock: 5 });
    await ctx.redis.set(keys.lock('stuck'), 'a-holder-that-never-lets-go');
    const failed = await place('stuck', 'f');
    assert.equal((await decided(failed.orderId)).reason, 'processing_failed');
    await finished(failed.orderId);
    for (
      const deadline = Date.now() + 5000;
      decisions(await scrape(), 'rejected', 'processing_failed') < 1;
      await sleep(20)
    ) {
      assert.ok(Date.now() < deadline, 'processing_failed was never counted');
    }
    text = await scrape();
    assert.equal(decisions(text, 'rejected', 'processing_failed'), 1);
    assert.equal(
      sumOf(text, 'flashline_lock_timeouts_total') - sumOf(before, 'flashline_lock_timeouts_total'),
      2,
      'one timeout per attempt',
    );
  });
});
